#include "bench/peer_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bench/proc.h"
#include "common/util.h"

namespace boxd::bench {

namespace {

// The mount of the hierarchy holding the cpu controller: a v1 "cpu" (or "cpu,cpuacct")
// directory, or the v2 root.
std::string cpuHierarchy() {
  for (const char* d : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    if (::access((std::string(d) + "/cpu.shares").c_str(), F_OK) == 0) return d;
  }
  if (::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) return "/sys/fs/cgroup";
  throw BenchError("no cgroup hierarchy with the cpu controller under /sys/fs/cgroup");
}

// This process's cgroup in `root`'s hierarchy, from /proc/self/cgroup.
std::string ownCgroup(const std::string& root) {
  auto text = readFile("/proc/self/cgroup");
  if (!text.ok()) throw BenchError("read /proc/self/cgroup: " + text.error().message);
  bool v2 = root == "/sys/fs/cgroup";
  for (const auto& line : split(*text, '\n')) {
    auto parts = split(line, ':');
    if (parts.size() < 3) continue;
    bool match = v2 ? parts[0] == "0" && parts[1].empty()
                    : ("," + parts[1] + ",").find(",cpu,") != std::string::npos;
    if (!match) continue;
    std::string rel = line.substr(parts[0].size() + parts[1].size() + 2);
    return root + (rel == "/" ? "" : rel);
  }
  throw BenchError("this process has no cgroup in " + root);
}

void moveSelf(const std::string& dir) {
  Status st = writeFile(dir + "/cgroup.procs", std::to_string(::getpid()));
  if (!st.ok()) throw BenchError("move the bench into " + dir + ": " + st.error().message);
}

}  // namespace

PeerCgroup::PeerCgroup() : root_(cpuHierarchy()) {
  dir_ = root_ + "/boxd-bench-peer-" + randomHex(4);
  if (::mkdir(dir_.c_str(), 0755) != 0)
    throw BenchError("mkdir " + dir_ + ": " + std::strerror(errno));
}

PeerCgroup::~PeerCgroup() { ::rmdir(dir_.c_str()); }

PeerCgroup::Scope::Scope(const PeerCgroup& g) : back_(ownCgroup(g.root_)) { moveSelf(g.dir_); }

PeerCgroup::Scope::~Scope() {
  try {
    moveSelf(back_);
  } catch (const BenchError& e) {
    std::fprintf(stderr, "boxd-bench-block: %s\n", e.what());
  }
}

}  // namespace boxd::bench
