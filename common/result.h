// Errors without exceptions: every fallible call below the CLI/agent edge returns a
// [[nodiscard]] Result<T> (or Status = Result<void>) carrying errno and a message that names
// the operation and the object it touched. Callers add context with wrap().
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace boxd {

struct Error {
  int code = 0;         // errno when a syscall failed, 0 for logical errors
  std::string message;  // "mount overlay on /var/lib/boxd/pods/x/rootfs: Device or resource busy"

  // "context: message" — the outer layer names what it was doing.
  [[nodiscard]] Error wrap(std::string_view context) const;
};

// Builds "op path: strerror(err)".
[[nodiscard]] Error sysError(std::string_view op, std::string_view path, int err = errno);
[[nodiscard]] Error makeError(std::string message, int code = 0);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return {}; }

}  // namespace boxd

// Propagates an error from an expression returning Status/Result.
#define BOXD_TRY(expr)                                           \
  do {                                                           \
    auto boxd_try_result_ = (expr);                              \
    if (!boxd_try_result_.ok()) return boxd_try_result_.error(); \
  } while (0)
