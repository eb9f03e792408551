// Small helpers shared by every module: files, hashing, time, process identity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd {

// A random lowercase hex string of 2*bytes characters (from getrandom).
std::string randomHex(size_t bytes);

Result<std::string> readFile(const std::string& path);
// Writes via a temp file in the same directory + rename, so readers never see half a file.
// Durability::Sync also fsyncs before the rename (the file survives a power cut); runtime files
// that describe processes (pidfiles) do not need that.
enum class Durability { Sync, ProcessLifetime };
Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644,
                       Durability durability = Durability::Sync);
Status writeFile(const std::string& path, std::string_view content);  // O_WRONLY|O_TRUNC, no create
Status mkdirAll(const std::string& path, mode_t mode = 0755);
// rm -rf that never leaves the mount path is on (refuses to descend into a mount point, a bind
// mount of the same filesystem included) and never follows a symlink below path: safe on trees a
// container wrote (its upper dir, an emptyDir). path itself is the caller's and is trusted.
Status removeAll(const std::string& path);

// Milliseconds since the epoch (wall clock) and monotonic milliseconds.
int64_t nowMs();
int64_t monotonicMs();
int64_t monotonicUs();

// Process start time in clock ticks since boot (field 22 of /proc/PID/stat); together with the
// pid and the boot id it names one process unambiguously across pid reuse.
Result<uint64_t> processStartTime(pid_t pid);
// True if the process exists and is not a zombie (state Z/X in /proc/PID/stat).
bool processAlive(pid_t pid);
// /proc/sys/kernel/random/boot_id, trimmed.
std::string bootId();

std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);

// The value of `key` in a flat keyed file ("key value" per line, as cgroupfs' memory.events,
// memory.oom_control, pids.events); nullopt when the key is absent or its value not a number.
std::optional<int64_t> keyedValue(std::string_view content, std::string_view key);

}  // namespace boxd
