// Step "files": small files boxd writes for a pod (its /etc/hosts, /etc/resolv.conf and
// /etc/hostname), later bound into each container.
//   params  {"dir": "<poddir>/etc", "files": {"hosts": "<content>", ...}}
//   apply   mkdir -p dir; each file written atomically (0644) unless it already holds the content
//   undo    removes the files and dir (absent is fine)
//   observe every file exists with its content (an edited or deleted file is drift that apply
//           rewrites in place: containers see the new content through their bind mount only
//           for an in-place write, so apply rewrites the same inode)
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/step.h"

namespace boxd::reconcilers {

class FilesStep : public Step {
 public:
  FilesStep(std::string dir, std::map<std::string, std::string> files);
  static Result<std::unique_ptr<FilesStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "files"; }
  std::string resource() const override { return dir_; }
  nlohmann::json params() const override { return {{"dir", dir_}, {"files", files_}}; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;
  bool repairableInPlace() const override { return true; }

 private:
  std::string dir_;
  std::map<std::string, std::string> files_;  // name in dir -> content
};

}  // namespace boxd::reconcilers
