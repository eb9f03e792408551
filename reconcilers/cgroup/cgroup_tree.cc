#include "reconcilers/cgroup/cgroup_tree.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/util.h"

namespace boxd::reconcilers::cgroup_tree {

namespace {

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

Result<std::vector<pid_t>> parsePids(const std::string& content, const std::string& path) {
  std::vector<pid_t> out;
  for (const auto& line : split(content, '\n')) {
    std::string t = trim(line);
    if (t.empty()) continue;
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (*end != '\0' || v <= 0) return makeError("parse " + path + ": bad pid '" + t + "'", EINVAL);
    out.push_back(static_cast<pid_t>(v));
  }
  return out;
}

Status collectPids(CgroupFs& fs, const std::string& dir, std::vector<pid_t>& out) {
  auto isDir = fs.isDir(dir);
  if (!isDir.ok()) return isDir.error();
  if (!*isDir) return {};
  const std::string procs = dir + "/cgroup.procs";
  if (fs.fileExists(procs)) {
    auto content = fs.read(procs);
    if (!content.ok()) {
      if (content.error().code == ENOENT || content.error().code == ENODEV)
        return {};  // removed meanwhile
      return content.error();
    }
    auto pids = parsePids(*content, procs);
    if (!pids.ok()) return pids.error();
    out.insert(out.end(), pids->begin(), pids->end());
  }
  auto children = fs.childDirs(dir);
  if (!children.ok()) return children.error().code == ENOENT ? Status{} : Status{children.error()};
  for (const auto& c : *children) BOXD_TRY(collectPids(fs, dir + "/" + c, out));
  return {};
}

bool anyAlive(const std::vector<pid_t>& pids) {
  return std::any_of(pids.begin(), pids.end(), [](pid_t p) { return processAlive(p); });
}

Status removeOne(CgroupFs& fs, const std::string& dir) {
  for (int attempt = 0;; ++attempt) {
    Status st = fs.removeDir(dir);
    if (st.ok() || st.error().code != EBUSY || attempt >= 50) return st;
    auto pids = treePids(fs, dir);
    if (!pids.ok() || anyAlive(*pids)) return st;
    sleepMs(20);
  }
}

}  // namespace

Status checkRel(const std::string& rel) {
  if (rel.empty() || rel[0] == '/')
    return makeError("cgroup path must be relative and non-empty: '" + rel + "'", EINVAL);
  for (const auto& part : split(rel, '/')) {
    if (part.empty() || part == "." || part == "..")
      return makeError("cgroup path has an empty, '.' or '..' component: '" + rel + "'", EINVAL);
  }
  return {};
}

Status makeTree(CgroupFs& fs, const std::string& root, const std::string& rel,
                const std::function<Status(const std::string& dir)>& beforeChild) {
  std::string dir = root;
  for (const auto& part : split(rel, '/')) {
    if (beforeChild) BOXD_TRY(beforeChild(dir));
    dir += "/" + part;
    BOXD_TRY(fs.makeDir(dir));
  }
  return {};
}

Status removeTree(CgroupFs& fs, const std::string& dir) {
  auto isDir = fs.isDir(dir);
  if (!isDir.ok()) return isDir.error();
  if (!*isDir) return {};
  auto children = fs.childDirs(dir);
  if (!children.ok()) return children.error().code == ENOENT ? Status{} : Status{children.error()};
  for (const auto& c : *children) BOXD_TRY(removeTree(fs, dir + "/" + c));
  return removeOne(fs, dir);
}

Result<std::vector<pid_t>> treePids(CgroupFs& fs, const std::string& dir) {
  std::vector<pid_t> out;
  BOXD_TRY(collectPids(fs, dir, out));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status killUntilEmpty(const std::function<Result<std::vector<pid_t>>()>& listPids, int timeoutMs,
                      const std::string& what) {
  const int64_t deadline = monotonicMs() + std::max(timeoutMs, 0);
  const pid_t self = ::getpid();
  for (;;) {
    auto pids = listPids();
    if (!pids.ok()) return pids.error().wrap("kill processes in cgroup " + what);
    std::vector<pid_t> live;
    for (pid_t p : *pids) {
      if (p == self)
        return makeError("refusing to kill processes in cgroup " + what +
                             ": it contains this process (pid " + std::to_string(self) + ")",
                         EPERM);
      if (processAlive(p)) live.push_back(p);
    }
    if (live.empty()) return {};
    for (pid_t p : live) ::kill(p, SIGKILL);  // ESRCH: it exited meanwhile
    if (monotonicMs() >= deadline) {
      std::string list;
      for (pid_t p : live) list += (list.empty() ? "" : " ") + std::to_string(p);
      return makeError("kill processes in cgroup " + what + ": still alive after " +
                           std::to_string(timeoutMs) + " ms: " + list,
                       ETIMEDOUT);
    }
    sleepMs(10);
  }
}

Result<std::optional<int64_t>> readPidsEvents(CgroupFs& fs, const std::string& path) {
  if (!fs.fileExists(path)) return std::optional<int64_t>();
  auto content = fs.read(path);
  if (!content.ok()) return content.error().wrap("read forks refused at the pids limit");
  auto hits = keyedValue(*content, "max");
  if (!hits) return makeError("read " + path + ": no \"max\" count in it", EINVAL);
  return hits;
}

std::optional<int64_t> readInt(CgroupFs& fs, const std::string& path) {
  auto content = fs.read(path);
  if (!content.ok()) return std::nullopt;
  std::string t = trim(*content);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<int64_t> workingSet(CgroupFs& fs, const std::string& usagePath,
                                  const std::string& statPath, const std::string& inactiveKey) {
  auto usage = readInt(fs, usagePath);
  auto stat = fs.read(statPath);
  if (!usage || !stat.ok()) return std::nullopt;
  int64_t inactive = keyedValue(*stat, inactiveKey).value_or(0);
  return std::max<int64_t>(0, *usage - inactive);
}

Result<std::optional<int64_t>> sumPidsEvents(CgroupFs& fs, const std::string& dir) {
  auto own = readPidsEvents(fs, dir + "/pids.events");
  if (!own.ok() || !*own) return own;
  auto children = fs.childDirs(dir);
  if (!children.ok()) return children.error().wrap("read forks refused at the pids limit");
  int64_t total = **own;
  for (const auto& child : *children) {
    auto sub = sumPidsEvents(fs, dir + "/" + child);
    if (!sub.ok()) return sub.error();
    total += sub->value_or(0);
  }
  return std::optional<int64_t>(total);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace boxd::reconcilers::cgroup_tree
