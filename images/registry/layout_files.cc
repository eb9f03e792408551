#include "images/registry/layout_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "images/registry/pull_error.h"

namespace boxd::images {

namespace {

std::string hexOf(const std::string& digest) { return digest.substr(7); }

std::string toHex(const unsigned char* p, unsigned len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

}  // namespace

BlobFile::BlobFile(Fd fd, std::string tmpPath, std::string finalPath, std::string digest,
                   int64_t size)
    : fd_(std::move(fd)),
      tmp_(std::move(tmpPath)),
      final_(std::move(finalPath)),
      digest_(std::move(digest)),
      expected_(size),
      md_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
}

BlobFile::~BlobFile() {
  discard();
  EVP_MD_CTX_free(md_);
}

bool BlobFile::write(const char* data, size_t len) {
  if (written_ + static_cast<int64_t>(len) > expected_) {
    tooLarge_ = true;
    return false;
  }
  EVP_DigestUpdate(md_, data, len);
  written_ += static_cast<int64_t>(len);
  while (len > 0) {
    ssize_t n = ::write(fd_.get(), data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      writeErrno_ = errno;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

void BlobFile::restart() {
  if (!fd_) return;
  (void)::ftruncate(fd_.get(), 0);
  (void)::lseek(fd_.get(), 0, SEEK_SET);
  EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
  written_ = 0;
  tooLarge_ = false;
}

Status BlobFile::commit(const std::string& from) {
  std::string what = "blob " + digest_ + " from " + from;
  if (writeErrno_ != 0) return sysError("write", tmp_, writeErrno_);
  if (tooLarge_) {
    return pullError(PullReason::DigestMismatch, what + " is larger than the manifest's " +
                                                     std::to_string(expected_) + " bytes");
  }
  if (written_ != expected_) {
    return pullError(PullReason::DigestMismatch, what + " has " + std::to_string(written_) +
                                                     " bytes, the manifest says " +
                                                     std::to_string(expected_));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md_, md, &len);
  std::string got = "sha256:" + toHex(md, len);
  if (got != digest_) return pullError(PullReason::DigestMismatch, what + " has digest " + got);
  if (::rename(tmp_.c_str(), final_.c_str()) != 0) return sysError("rename", tmp_);
  tmp_.clear();
  fd_.reset();
  return {};
}

void BlobFile::discard() {
  fd_.reset();
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

Result<LayoutFiles> LayoutFiles::create(const std::string& dir) {
  LayoutFiles f;
  f.dir_ = dir;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return sysError("stat", dir);
    BOXD_TRY(mkdirAll(dir));
    f.created_ = true;
  } else {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return sysError("open layout dir", dir);
    bool empty = true;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") empty = false;
    }
    ::closedir(d);
    if (!empty) return makeError("layout dir " + dir + " is not empty");
  }
  Status st2 = mkdirAll(dir + "/blobs/sha256");
  if (!st2.ok()) {
    f.removeAll();
    return st2.error();
  }
  return f;
}

Result<std::unique_ptr<BlobFile>> LayoutFiles::openBlob(const std::string& digest, int64_t size) {
  std::string tmp = dir_ + "/blobs/sha256/.tmp-" + randomHex(8);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return sysError("create", tmp);
  return std::make_unique<BlobFile>(std::move(fd), tmp, dir_ + "/blobs/sha256/" + hexOf(digest),
                                    digest, size);
}

Status LayoutFiles::writeBlob(const std::string& digest, std::string_view content) {
  return writeFileAtomic(dir_ + "/blobs/sha256/" + hexOf(digest), content, 0644,
                         Durability::ProcessLifetime);
}

Status LayoutFiles::writeIndex(const std::string& indexJson) {
  BOXD_TRY(writeFileAtomic(dir_ + "/index.json", indexJson, 0644, Durability::ProcessLifetime));
  return writeFileAtomic(dir_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}\n", 0644,
                         Durability::ProcessLifetime);
}

void LayoutFiles::removeAll() {
  if (dir_.empty()) return;
  if (created_) {
    (void)boxd::removeAll(dir_);
    return;
  }
  (void)boxd::removeAll(dir_ + "/blobs");
  ::unlink((dir_ + "/index.json").c_str());
  ::unlink((dir_ + "/oci-layout").c_str());
}

}  // namespace boxd::images
