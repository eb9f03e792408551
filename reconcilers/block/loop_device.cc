#include "reconcilers/block/loop_device.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

// "/dev/loop3" -> "loop3"
std::string baseName(const std::string& device) {
  return device.substr(device.find_last_of('/') + 1);
}

std::optional<std::string> backingFile(const std::string& sysRoot, const std::string& loop) {
  auto r = readFile(sysRoot + "/block/" + loop + "/loop/backing_file");
  if (!r.ok()) return std::nullopt;
  return trim(*r);
}

Status configure(int loopFd, int fileFd, const std::string& file, const LoopOptions& opts,
                 bool directIo) {
  loop_config cfg{};
  cfg.fd = static_cast<uint32_t>(fileFd);
  cfg.info.lo_flags =
      (opts.readOnly ? LO_FLAGS_READ_ONLY : 0) | (directIo ? LO_FLAGS_DIRECT_IO : 0);
  std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
  if (::ioctl(loopFd, LOOP_CONFIGURE, &cfg) != 0) return sysError("LOOP_CONFIGURE", file);
  return {};
}

// Caps the requests the loop device sends to its file at kb KiB, within what its queue allows.
// Best effort: a tuning, and a kernel that refuses it keeps its default.
void limitRequests(const std::string& device, unsigned kb) {
  std::string queue = "/sys/block/" + baseName(device) + "/queue/";
  auto hw = readFile(queue + "max_hw_sectors_kb");
  if (!hw.ok()) return;
  unsigned long hwKb = std::strtoul(trim(*hw).c_str(), nullptr, 10);
  if (hwKb > 0 && kb > hwKb) kb = static_cast<unsigned>(hwKb);
  (void)writeFile(queue + "max_sectors_kb", std::to_string(kb));
}

}  // namespace

Result<std::string> attachLoop(const std::string& file, const LoopOptions& opts) {
  Fd backing(::open(file.c_str(), (opts.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!backing) return sysError("open loop backing file", file);
  Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control) return sysError("open", "/dev/loop-control");
  for (int attempt = 0; attempt < 20; ++attempt) {
    int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return sysError("LOOP_CTL_GET_FREE", "/dev/loop-control");
    std::string device = "/dev/loop" + std::to_string(n);
    Fd loop(::open(device.c_str(), (opts.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!loop) {
      if (errno == ENOENT || errno == ENXIO) continue;  // taken and removed meanwhile
      return sysError("open", device);
    }
    Status st = configure(loop.get(), backing.get(), file, opts, opts.directIo);
    if (!st.ok() && st.error().code == EINVAL && opts.directIo)
      st = configure(loop.get(), backing.get(), file, opts, false);  // no O_DIRECT on the file
    if (st.ok()) {
      if (opts.maxRequestKb > 0) limitRequests(device, opts.maxRequestKb);
      return device;
    }
    if (st.error().code != EBUSY) return st.error();
  }
  return makeError("no free loop device for " + file + " after 20 attempts", EBUSY);
}

std::vector<std::string> loopsBackedBy(const std::string& file, const std::string& sysRoot) {
  std::vector<std::string> out;
  DIR* d = ::opendir((sysRoot + "/block").c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!startsWith(name, "loop")) continue;
    auto b = backingFile(sysRoot, name);
    if (b && *b == file) out.push_back("/dev/" + name);
  }
  ::closedir(d);
  return out;
}

Status detachLoop(const std::string& device, const std::string& file, int timeoutMs) {
  std::string name = baseName(device);
  auto b = backingFile("/sys", name);
  if (!b || *b != file) return {};
  Fd loop(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!loop) return errno == ENOENT || errno == ENXIO ? Status{} : sysError("open", device);
  if (::ioctl(loop.get(), LOOP_CLR_FD) != 0 && errno != ENXIO)
    return sysError("detach loop device", device);
  loop.reset();
  int64_t deadline = monotonicMs() + timeoutMs;
  while (monotonicMs() < deadline) {
    auto now = backingFile("/sys", name);
    if (!now || *now != file) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return makeError("loop device " + device + " is still busy " + std::to_string(timeoutMs) +
                       " ms after its detach (something holds it open); it goes when released",
                   EBUSY);
}

}  // namespace boxd::reconcilers
