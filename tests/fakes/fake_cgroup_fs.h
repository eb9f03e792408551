// A CgroupFs over a plain temp directory that emulates the cgroupfs behaviours the cgroup code
// relies on, so the v1 and v2 implementations run unprivileged against a temp root:
//  - makeDir creates cgroup.procs, cgroup.subtree_control and cgroup.controllers (= the
//    parent's subtree_control), like the kernel's interface files;
//  - write creates the file (the kernel's files exist already), merges "+ctrl"/"-ctrl" into
//    cgroup.subtree_control and appends a pid written to cgroup.procs;
//  - removeDir fails with EBUSY while child dirs or live listed processes remain, and otherwise
//    deletes the interface files, then the directory;
//  - writes are recorded as "path=value", and a write to a path can be made to fail.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/cgroup/cgroup_fs.h"

namespace boxd::testing {

class FakeCgroupFs : public reconcilers::CgroupFs {
 public:
  std::vector<std::string> writes;
  std::map<std::string, Error> writeErrors;  // full path -> error returned by write()

  Result<bool> isDir(const std::string& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return false;
    return S_ISDIR(st.st_mode);
  }

  bool fileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status makeDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0)
      return errno == EEXIST ? Status{} : Status{sysError("mkdir", path)};
    std::string parent = path.substr(0, path.rfind('/'));
    auto inherited = readFile(parent + "/cgroup.subtree_control");
    BOXD_TRY(create(path + "/cgroup.controllers", inherited.ok() ? *inherited : ""));
    BOXD_TRY(create(path + "/cgroup.subtree_control", ""));
    return create(path + "/cgroup.procs", "");
  }

  Status removeDir(const std::string& path) override {
    auto st = isDir(path);
    if (!*st) return {};
    auto entries = list(path);
    for (const auto& e : entries)
      if (*isDir(path + "/" + e)) return sysError("rmdir", path, EBUSY);
    auto procs = readFile(path + "/cgroup.procs");
    if (procs.ok())
      for (const auto& p : split(*procs, '\n'))
        if (!trim(p).empty() && processAlive(std::stoi(trim(p))))
          return sysError("rmdir", path, EBUSY);
    for (const auto& e : entries) ::unlink((path + "/" + e).c_str());
    if (::rmdir(path.c_str()) != 0) return sysError("rmdir", path);
    return {};
  }

  Result<std::vector<std::string>> childDirs(const std::string& path) override {
    if (!*isDir(path)) return sysError("open", path, ENOENT);
    std::vector<std::string> out;
    for (const auto& e : list(path))
      if (*isDir(path + "/" + e)) out.push_back(e);
    return out;
  }

  Result<std::string> read(const std::string& path) override { return readFile(path); }

  Status write(const std::string& path, const std::string& value) override {
    writes.push_back(path + "=" + value);
    if (auto it = writeErrors.find(path); it != writeErrors.end()) return it->second;
    if (endsWith(path, "/cgroup.subtree_control"))
      return create(path, mergeControllers(path, value));
    if (endsWith(path, "/cgroup.procs")) {
      auto cur = readFile(path);
      return create(path, (cur.ok() ? *cur : "") + value + "\n");
    }
    return create(path, value);
  }

 private:
  static Status create(const std::string& path, const std::string& content) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return sysError("open", path);
    if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
      return sysError("write", path);
    return {};
  }

  static std::string mergeControllers(const std::string& path, const std::string& change) {
    auto cur = readFile(path);
    std::vector<std::string> on;
    for (const auto& t : split(trim(cur.ok() ? *cur : ""), ' '))
      if (!t.empty()) on.push_back(t);
    for (const auto& t : split(trim(change), ' ')) {
      if (t.size() < 2) continue;
      std::string name = t.substr(1);
      auto it = std::find(on.begin(), on.end(), name);
      if (t[0] == '+' && it == on.end()) on.push_back(name);
      if (t[0] == '-' && it != on.end()) on.erase(it);
    }
    std::string out;
    for (const auto& c : on) out += (out.empty() ? "" : " ") + c;
    return out;
  }

  static std::vector<std::string> list(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
  }
};

}  // namespace boxd::testing
