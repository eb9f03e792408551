// Pod volumes as steps:
//   emptydir  a directory under the pod dir (or a tmpfs of a given size for medium: Memory) that
//             lives exactly as long as its pod; undo unmounts and removes it.
//   hostpath  checks (and for *OrCreate types creates) a host path; undo leaves host data alone.
//   binds     several binds as one step (a container's /etc/hosts, resolv.conf and hostname):
//             applied in order, undone in reverse; one journal row instead of three.
//   bind      binds a volume (or a subPath of it) into a container's rootfs, in boxd's mount
//             namespace, before the container starts: each container start copies it. Both
//             paths are resolved with openat2(RESOLVE_BENEATH): a symlink in the image or in
//             the volume that leads outside (absolute, or through "..") is refused, never
//             followed.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/host/mounter.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

class EmptyDirStep : public Step {
 public:
  EmptyDirStep(Mounter& mounter, std::string path, bool memory, int64_t sizeBytes);
  static Result<std::unique_ptr<EmptyDirStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "emptydir"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  Mounter& mounter_;
  std::string path_;
  bool memory_;
  int64_t sizeBytes_;
};

class HostPathStep : public Step {
 public:
  HostPathStep(std::string path, std::string type);
  static Result<std::unique_ptr<HostPathStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "hostpath"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override { return {{"path", path_}, {"type", type_}}; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override { return {}; }  // host data is never removed

 private:
  std::string path_, type_;
};

struct BindSpec {
  std::string source;     // the volume's directory or file on the host
  std::string subPath;    // relative, inside source; may be empty
  std::string rootfs;     // the container's root
  std::string mountPath;  // absolute, inside the container
  bool readOnly = false;
  bool createSubPath = false;  // emptyDir: a missing subPath is created as a directory
};

class BindStep : public Step {
 public:
  BindStep(Mounter& mounter, BindSpec spec, std::string hostTarget = "");
  static Result<std::unique_ptr<BindStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "bind"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  Mounter& mounter_;
  BindSpec spec_;
  std::string hostTarget_;  // where it was mounted on the host, known after apply
};

// params {"binds": [<bind params>, ...]}
class BindsStep : public Step {
 public:
  explicit BindsStep(std::vector<std::unique_ptr<BindStep>> binds) : binds_(std::move(binds)) {}
  static Result<std::unique_ptr<BindsStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "binds"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  std::vector<std::unique_ptr<BindStep>> binds_;
};

}  // namespace boxd::reconcilers
