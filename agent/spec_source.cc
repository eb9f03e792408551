#include "agent/spec_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common/fd.h"
#include "common/hash.h"
#include "common/util.h"

namespace boxd::agent {

namespace {

constexpr size_t kMaxSpecBytes = 4 << 20;  // a spec larger than this is an operator mistake

struct FileRead {
  std::string content;
  unsigned mode = 0;
};

Result<FileRead> readAt(int dirfd, const std::string& name, const std::string& display) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return sysError("open", display);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sysError("stat", display);
  if (!S_ISREG(st.st_mode)) return makeError(display + ": not a regular file");
  if (static_cast<size_t>(st.st_size) > kMaxSpecBytes)
    return makeError(display + ": larger than 4 MiB");
  FileRead file{{}, static_cast<unsigned>(st.st_mode & 07777)};
  std::string& out = file.content;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("read", display);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxSpecBytes) return makeError(display + ": larger than 4 MiB");
  }
  return file;
}

std::string baseName(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

bool isSpecFileName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (const char* bad : {"~", ".swp", ".swo", ".bak", ".rpmnew", ".rpmsave", ".orig", ".tmp"}) {
    if (endsWith(name, bad)) return false;
  }
  if (name.find(".dpkg-") != std::string::npos) return false;
  return endsWith(name, ".yaml") || endsWith(name, ".yml") || endsWith(name, ".json");
}

Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir) {
  SpecSnapshot snap;
  char resolved[PATH_MAX];
  if (::realpath(specsDir.c_str(), resolved) == nullptr)
    return sysError("resolve specs dir", specsDir);
  snap.dir = resolved;
  struct stat lst {};
  if (::lstat(specsDir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
    snap.revision = baseName(snap.dir);

  Fd root(::open(snap.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysError("open specs dir", snap.dir);
  // ConfigMap layout: ..data -> ..<timestamp>; read the timestamped dir, resolved once.
  char target[PATH_MAX];
  ssize_t n = ::readlinkat(root.get(), "..data", target, sizeof target - 1);
  Fd dir;
  if (n > 0) {
    target[n] = '\0';
    std::string t(target);
    if (t.find('/') != std::string::npos || t == "." || t == "..") {
      return makeError(snap.dir + "/..data points outside the specs dir: " + t);
    }
    dir.reset(::openat(root.get(), target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!dir) return sysError("open", snap.dir + "/" + t);
    snap.dir += "/" + t;
    snap.revision = t;
  } else {
    dir = std::move(root);
  }

  int dupfd = ::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return sysError("dup", snap.dir);
  DIR* d = ::fdopendir(dupfd);
  if (d == nullptr) {
    ::close(dupfd);
    return sysError("opendir", snap.dir);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (isSpecFileName(e->d_name)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());

  std::string all;
  for (const auto& name : names) {
    auto content = readAt(dir.get(), name, name);
    if (!content.ok()) {
      if (content.error().code == ENOENT) continue;  // removed while we listed: not part of it
      return content.error();
    }
    SpecFile f{name, std::move(content->content), {}, content->mode};
    f.hash = sha256Hex(f.content);
    all += f.name + '\0' + f.hash + '\n';
    snap.files.push_back(std::move(f));
  }
  if (snap.revision.empty()) snap.revision = "sha256:" + sha256Hex(all).substr(0, 12);
  return snap;
}

void refuseExposedSecrets(const SpecFile& f, specs::ParseResult& parsed) {
  if (!parsed.holdsSecret || (f.mode & S_IROTH) == 0) return;
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", f.mode & 07777u);
  specs::ParseResult refused;
  refused.holdsSecret = true;
  refused.errors.push_back(
      {f.name, 0, 0, "",
       std::string("holds a Secret but is world-readable (mode ") + mode + "); chmod 600 it"});
  parsed = std::move(refused);
}

}  // namespace boxd::agent
