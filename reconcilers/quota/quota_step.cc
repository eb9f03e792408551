#include "reconcilers/quota/quota_step.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/safe_path.h"
#include "common/util.h"
#include "reconcilers/host/host.h"

namespace boxd::reconcilers {

namespace {

constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

Status checkRelative(const std::string& rel) {
  if (rel.empty() || rel[0] == '/')
    return makeError("projquota dir must be relative to the pod dir: '" + rel + "'", EINVAL);
  for (const auto& part : split(rel, '/'))
    if (part == "..") return makeError("projquota dir must not hold '..': '" + rel + "'", EINVAL);
  return {};
}

Result<Fd> openPodDir(const std::string& podDir) {
  if (podDir.empty() || podDir[0] != '/' || podDir == "/")
    return makeError("projquota podDir must be an absolute path below /: '" + podDir + "'", EINVAL);
  Fd fd(::open(podDir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open", podDir);
  return fd;
}

// dir beneath the pod dir as an fd the ioctls take (not O_PATH); ENOENT when absent.
Result<Fd> openDir(int podFd, const std::string& podDir, const std::string& rel) {
  Fd fd(openat2(podFd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, kBeneath));
  if (!fd) return sysError("open", podDir + "/" + rel);
  return fd;
}

// Makes dir (and missing parents, 0755) beneath the pod dir, then opens it.
Result<Fd> makeDir(int podFd, const std::string& podDir, const QuotaDir& d) {
  const std::string shown = podDir + "/" + d.path;
  const auto slash = d.path.rfind('/');
  const std::string parentRel = slash == std::string::npos ? "." : d.path.substr(0, slash);
  const std::string leaf = slash == std::string::npos ? d.path : d.path.substr(slash + 1);
  BeneathOptions o;
  o.resolve = kBeneath;
  o.create = true;
  auto parent = openBeneath(podFd, parentRel, o, shown);
  if (!parent.ok()) return parent.error();
  if (::mkdirat(parent->get(), leaf.c_str(), 0700) != 0 && errno != EEXIST)
    return sysError("mkdir", shown);
  auto fd = openDir(podFd, podDir, d.path);
  if (!fd.ok()) return fd.error();
  if (::fchmod(fd->get(), static_cast<mode_t>(d.mode)) != 0) return sysError("chmod", shown);
  return fd;
}

// Quotas turned off (or gone) since apply: there is no limit left to clear.
bool quotasGone(const Error& e) {
  return e.code == ESRCH || e.code == ENOSYS || e.code == EINVAL || e.code == EOPNOTSUPP ||
         e.code == ENOTTY || e.code == ENOENT;
}

}  // namespace

nlohmann::json projectQuotaParamsToJson(const ProjectQuotaParams& p) {
  nlohmann::json dirs = nlohmann::json::array();
  for (const auto& d : p.dirs) dirs.push_back({{"path", d.path}, {"mode", d.mode}});
  return {{"podDir", p.podDir},
          {"projectId", p.projectId},
          {"limitBytes", p.limitBytes},
          {"owner", p.owner},
          {"dirs", dirs}};
}

Result<ProjectQuotaParams> projectQuotaParamsFromJson(const nlohmann::json& j) {
  auto bad = [&](const char* what) {
    return makeError(std::string("projquota step: params need ") + what + ": " + j.dump(), EINVAL);
  };
  if (!j.is_object()) return bad("an object");
  ProjectQuotaParams p;
  if (!j.contains("podDir") || !j["podDir"].is_string()) return bad("a string \"podDir\"");
  if (!j.contains("projectId") || !j["projectId"].is_number_integer() ||
      j["projectId"].get<int64_t>() <= 0 || j["projectId"].get<int64_t>() > int64_t{UINT32_MAX})
    return bad("a \"projectId\" from 1 to 4294967295");
  if (!j.contains("limitBytes") || !j["limitBytes"].is_number_integer())
    return bad("an integer \"limitBytes\"");
  if (!j.contains("dirs") || !j["dirs"].is_array()) return bad("a list \"dirs\"");
  p.podDir = j["podDir"].get<std::string>();
  p.projectId = static_cast<uint32_t>(j["projectId"].get<int64_t>());
  p.limitBytes = j["limitBytes"].get<int64_t>();
  p.owner = j.value("owner", "");
  for (const auto& d : j["dirs"]) {
    if (!d.is_object() || !d.contains("path") || !d["path"].is_string())
      return bad("dirs of {\"path\": string}");
    p.dirs.push_back({d["path"].get<std::string>(), d.value("mode", 0755)});
  }
  return p;
}

ProjectQuotaStep::ProjectQuotaStep(ProjectQuotaSys& sys, ProjectQuotaParams params)
    : sys_(sys), p_(std::move(params)) {}

Result<std::unique_ptr<ProjectQuotaStep>> ProjectQuotaStep::fromParams(const nlohmann::json& params,
                                                                       Host& host) {
  if (host.projectQuota == nullptr)
    return makeError("projquota step: this boxd has no project quota interface", ENOTSUP);
  auto p = projectQuotaParamsFromJson(params);
  if (!p.ok()) return p.error();
  return std::make_unique<ProjectQuotaStep>(*host.projectQuota, std::move(*p));
}

std::string ProjectQuotaStep::resource() const {
  return "project " + std::to_string(p_.projectId) + " (" + p_.owner + ")";
}

Result<bool> ProjectQuotaStep::observe() {
  auto pod = openPodDir(p_.podDir);
  if (!pod.ok()) return pod.error().code == ENOENT ? Result<bool>(false) : pod.error();
  for (const auto& d : p_.dirs) {
    auto fd = openDir(pod->get(), p_.podDir, d.path);
    if (!fd.ok()) return fd.error().code == ENOENT ? Result<bool>(false) : fd.error();
    auto attr = sys_.getProject(fd->get());
    if (!attr.ok()) return attr.error();
    if (attr->projectId != p_.projectId || !attr->inherit) return false;
  }
  return true;
}

Status ProjectQuotaStep::apply() {
  const std::string what = "project quota " + std::to_string(p_.projectId) + " of " + p_.owner;
  auto pod = openPodDir(p_.podDir);
  if (!pod.ok()) return pod.error().wrap(what);
  for (const auto& d : p_.dirs) {
    Status rel = checkRelative(d.path);
    if (!rel.ok()) return rel.error().wrap(what);
    auto fd = openDir(pod->get(), p_.podDir, d.path);
    if (!fd.ok() && fd.error().code == ENOENT) fd = makeDir(pod->get(), p_.podDir, d);
    if (!fd.ok()) return fd.error().wrap(what);
    auto attr = sys_.getProject(fd->get());
    if (!attr.ok()) return attr.error().wrap(what);
    if (attr->projectId == p_.projectId && attr->inherit) continue;
    Status set = sys_.setProject(fd->get(), {p_.projectId, true});
    if (!set.ok()) return set.error().wrap(what + " on " + p_.podDir + "/" + d.path);
  }
  Status limit = sys_.setLimit(p_.projectId, p_.limitBytes);
  if (!limit.ok()) return limit.error().wrap(what);
  return {};
}

Status ProjectQuotaStep::undo() {
  const std::string what =
      "clear project quota " + std::to_string(p_.projectId) + " of " + p_.owner;
  Status limit = sys_.setLimit(p_.projectId, 0);
  if (!limit.ok() && !quotasGone(limit.error())) return limit.error().wrap(what);
  for (const auto& d : p_.dirs) {
    BOXD_TRY(checkRelative(d.path));
    Status st = removeAll(p_.podDir + "/" + d.path);
    if (!st.ok()) return st.error().wrap(what);
  }
  return {};
}

}  // namespace boxd::reconcilers
