// Reading the kernel's tables under a sysfs root (a parameter, so unit tests use a fake tree in a
// temp dir) and the two seams the kernel backends take for their side effects on it: writing a
// sysfs attribute and sleeping between polls.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

// Writes `data` to an existing sysfs attribute (no create, one write); default writeSysfsAttr.
using SysfsWriteFn = std::function<Status(const std::string& path, std::string_view data)>;
// Sleeps `ms` milliseconds between two polls; default sleepMs.
using SleepFn = std::function<void(int64_t ms)>;

Status writeSysfsAttr(const std::string& path, std::string_view data);
void sleepMs(int64_t ms);

namespace sysfs {

// Names in a directory, sorted, without "." and ".."; an absent directory has none.
std::vector<std::string> list(const std::string& dir);
// An attribute's content without surrounding whitespace.
Result<std::string> read(const std::string& path);
// The attribute, or `fallback` when it cannot be read.
std::string readOr(const std::string& path, const std::string& fallback = "");
// stat() follows symlinks: a dangling link does not exist.
bool exists(const std::string& path);
std::optional<std::string> realPath(const std::string& path);
std::string baseName(const std::string& path);

}  // namespace sysfs

}  // namespace boxd::reconcilers
