#include "reconcilers/cgroup/cgroup_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

class KernelCgroupFs : public CgroupFs {
 public:
  Result<bool> isDir(const std::string& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      return sysError("stat", path);
    }
    return S_ISDIR(st.st_mode);
  }

  bool fileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status makeDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return sysError("mkdir", path);
    return {};
  }

  Status removeDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return sysError("rmdir", path);
    return {};
  }

  Result<std::vector<std::string>> childDirs(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sysError("open", path);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return sysError("opendir", path);
    }
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      bool dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        dir =
            ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (dir) out.emplace_back(e->d_name);
    }
    ::closedir(d);
    return out;
  }

  Result<std::string> read(const std::string& path) override { return readFile(path); }

  Status write(const std::string& path, const std::string& value) override {
    return writeFile(path, value);
  }
};

}  // namespace

std::shared_ptr<CgroupFs> kernelCgroupFs() { return std::make_shared<KernelCgroupFs>(); }

}  // namespace boxd::reconcilers
