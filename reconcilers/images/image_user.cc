#include "reconcilers/images/image_user.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "common/fd.h"
#include "common/safe_path.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

constexpr size_t kMaxFile = 4 << 20;

std::optional<uint32_t> number(const std::string& s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xffffffffULL) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// The file's text; absent = empty (an image without /etc/group is fine for numeric ids).
Result<std::string> readInRoot(int rootFd, const std::string& rel, const std::string& shown) {
  int fd = openat2(rootFd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY,
                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return sysError("open", shown);
  }
  Fd f(fd);
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return sysError("stat", shown);
  if (!S_ISREG(st.st_mode)) return makeError(shown + " is not a regular file", EINVAL);
  if (static_cast<size_t>(st.st_size) > kMaxFile)
    return makeError(shown + " is larger than 4 MiB", EFBIG);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", shown);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFile) return makeError(shown + " is larger than 4 MiB", EFBIG);
  }
  return out;
}

// name:x:uid:gid:... or name:x:gid:member,member
std::vector<std::vector<std::string>> records(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (const auto& line : split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(split(line, ':'));
  }
  return out;
}

}  // namespace

Result<ResolvedUser> resolveImageUser(const std::string& rootfs, const std::string& user) {
  const std::string what = "image user '" + user + "'";
  Fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysError("open", rootfs).wrap(what);
  const size_t colon = user.find(':');
  const std::string uname = user.substr(0, colon);
  const std::string gname = colon == std::string::npos ? "" : user.substr(colon + 1);
  if (uname.empty()) return makeError(what + ": no user before ':'", EINVAL);
  auto passwd = readInRoot(root.get(), "etc/passwd", "the image's /etc/passwd");
  if (!passwd.ok()) return passwd.error().wrap(what);
  ResolvedUser out;
  std::string loginName;
  bool found = false;
  const auto uid = number(uname);
  for (const auto& r : records(*passwd)) {
    if (r.size() < 4) continue;
    const auto ruid = number(r[2]), rgid = number(r[3]);
    if (!ruid || !rgid) continue;
    if (uid ? *ruid == *uid : r[0] == uname) {
      out.uid = *ruid;
      out.gid = *rgid;
      loginName = r[0];
      found = true;
      break;
    }
  }
  if (!found && !uid) return makeError(what + ": no such user in the image's /etc/passwd", ENOENT);
  if (!found) out.uid = *uid;  // a uid the image does not list runs with gid 0
  auto group = readInRoot(root.get(), "etc/group", "the image's /etc/group");
  if (!group.ok()) return group.error().wrap(what);
  if (!gname.empty()) {
    if (auto gid = number(gname)) {
      out.gid = *gid;
    } else {
      bool gfound = false;
      for (const auto& r : records(*group)) {
        if (r.size() >= 3 && r[0] == gname && number(r[2])) {
          out.gid = *number(r[2]);
          gfound = true;
          break;
        }
      }
      if (!gfound) return makeError(what + ": no such group in the image's /etc/group", ENOENT);
    }
  }
  if (!loginName.empty()) {
    for (const auto& r : records(*group)) {
      if (r.size() < 4 || !number(r[2])) continue;
      for (const auto& m : split(r[3], ','))
        if (m == loginName && *number(r[2]) != out.gid) out.groups.push_back(*number(r[2]));
    }
  }
  return out;
}

}  // namespace boxd::reconcilers
