#include "reconcilers/volumes/fs_group_step.h"

#include <fcntl.h>

#include "common/fd.h"

namespace boxd::reconcilers {

FsGroupStep::FsGroupStep(std::string path, std::string volume, gid_t gid, bool readOnly,
                         bool onRootMismatch, size_t maxEntries)
    : path_(std::move(path)),
      volume_(std::move(volume)),
      gid_(gid),
      readOnly_(readOnly),
      onRootMismatch_(onRootMismatch),
      maxEntries_(maxEntries) {}

Result<std::unique_ptr<FsGroupStep>> FsGroupStep::fromParams(const nlohmann::json& p, Host&) {
  if (!p.is_object() || !p.contains("path") || !p["path"].is_string() || !p.contains("gid") ||
      !p["gid"].is_number_integer() || p["gid"].get<int64_t>() < 0 ||
      p["gid"].get<int64_t>() > 2147483647)
    return makeError(
        "fsgroup step: params need a string \"path\" and a number \"gid\": " + p.dump(), EINVAL);
  auto step = std::make_unique<FsGroupStep>(p["path"].get<std::string>(), p.value("volume", ""),
                                            static_cast<gid_t>(p["gid"].get<int64_t>()),
                                            p.value("readOnly", false),
                                            p.value("policy", "Always") == "OnRootMismatch",
                                            p.value("maxEntries", FsGroupOptions{}.maxEntries));
  step->result_ = p.value("result", "");
  return step;
}

nlohmann::json FsGroupStep::params() const {
  nlohmann::json j = {{"path", path_},
                      {"volume", volume_},
                      {"gid", gid_},
                      {"readOnly", readOnly_},
                      {"policy", onRootMismatch_ ? "OnRootMismatch" : "Always"}};
  if (maxEntries_ != FsGroupOptions{}.maxEntries) j["maxEntries"] = maxEntries_;
  if (!result_.empty()) j["result"] = result_;
  return j;
}

Status FsGroupStep::apply() {
  const std::string what = "fsGroup " + std::to_string(gid_) + " on volume " + volume_;
  Fd root(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return sysError("open volume for " + what, path_);
  FsGroupOptions o;
  o.gid = gid_;
  o.readOnly = readOnly_;
  o.onRootMismatch = onRootMismatch_;
  o.maxEntries = maxEntries_;
  auto r = applyFsGroup(root.get(), o, path_);
  if (!r.ok()) return r.error().wrap(what);
  result_ = r->skipped ? "group " + std::to_string(gid_) +
                             ": root already fits, walk skipped (OnRootMismatch)"
                       : "group " + std::to_string(gid_) + ": " + std::to_string(r->entries) +
                             (r->entries == 1 ? " entry" : " entries") + " walked";
  return {};
}

}  // namespace boxd::reconcilers
