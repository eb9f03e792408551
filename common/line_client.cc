#include "common/line_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/util.h"

namespace boxd {

Result<std::string> requestLine(const std::string& path, const std::string& line, int timeoutMs) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sysError("socket", "");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return makeError("socket path too long: " + path, ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return sysError("connect", path);
  std::string req = line + "\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return sysError("send to", path);
  std::string in;
  char buf[65536];
  int64_t deadline = monotonicMs() + timeoutMs;
  while (in.find('\n') == std::string::npos) {
    pollfd p{fd.get(), POLLIN, 0};
    int64_t left = deadline - monotonicMs();
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 0) {
      return makeError("no answer from " + path + " within " + std::to_string(timeoutMs) + " ms",
                       ETIMEDOUT);
    }
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return makeError(path + " closed the connection without an answer", ECONNRESET);
    in.append(buf, static_cast<size_t>(n));
  }
  return in.substr(0, in.find('\n'));
}

}  // namespace boxd
