#include "blockd/mountinfo.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <charconv>

#include "common/util.h"

namespace boxd::blockd {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo (octal).
std::string unescape(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

template <typename T>
bool number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::optional<MountEntry> parseLine(std::string_view line) {
  std::vector<std::string> f = split(line, ' ');
  // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
  size_t dash = 0;
  for (size_t i = 6; i < f.size() && dash == 0; ++i) {
    if (f[i] == "-") dash = i;
  }
  if (dash == 0 || f.size() < dash + 3) return std::nullopt;
  MountEntry m;
  std::string_view dev = f[2];
  size_t colon = dev.find(':');
  if (colon == std::string_view::npos || !number(f[0], m.mountId) ||
      !number(dev.substr(0, colon), m.major) || !number(dev.substr(colon + 1), m.minor)) {
    return std::nullopt;
  }
  m.mountPoint = unescape(f[4]);
  m.fsType = f[dash + 1];
  m.source = unescape(f[dash + 2]);
  return m;
}

}  // namespace

std::vector<MountEntry> parseMountInfo(std::string_view text) {
  std::vector<MountEntry> out;
  for (const std::string& line : split(text, '\n')) {
    if (auto m = parseLine(line)) out.push_back(std::move(*m));
  }
  return out;
}

Result<std::vector<MountEntry>> readMountInfo(const std::string& path) {
  auto text = readFile(path);
  if (!text) return text.error();
  return parseMountInfo(*text);
}

std::optional<MountEntry> mountAt(const std::vector<MountEntry>& mounts, const std::string& path) {
  std::optional<MountEntry> top;
  for (const MountEntry& m : mounts) {  // later lines are mounted on top of earlier ones
    if (m.mountPoint == path) top = m;
  }
  return top;
}

Status abortFuseConnection(unsigned minor) {
  const std::string dir = "/sys/fs/fuse/connections";
  const std::string conn = dir + "/" + std::to_string(minor);
  struct stat st;
  if (::stat(conn.c_str(), &st) != 0) {
    if (::mount("fusectl", dir.c_str(), "fusectl", 0, nullptr) != 0 && errno != EBUSY) {
      return sysError("mount fusectl on", dir);
    }
  }
  return writeFile(conn + "/abort", "1");
}

}  // namespace boxd::blockd
