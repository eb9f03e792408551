#include "common/result.h"

#include <cstring>

namespace boxd {

Error Error::wrap(std::string_view context) const {
  Error e = *this;
  e.message = std::string(context) + ": " + message;
  return e;
}

Error sysError(std::string_view op, std::string_view path, int err) {
  std::string msg(op);
  if (!path.empty()) {
    msg += ' ';
    msg += path;
  }
  msg += ": ";
  msg += std::strerror(err);
  return Error{err, std::move(msg)};
}

Error makeError(std::string message, int code) { return Error{code, std::move(message)}; }

}  // namespace boxd
