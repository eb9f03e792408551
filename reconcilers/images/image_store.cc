#include "reconcilers/images/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/util.h"
#include "reconcilers/images/content_hash.h"

namespace boxd::reconcilers {

namespace {

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadPtr = std::unique_ptr<archive, ReadFree>;
using WritePtr = std::unique_ptr<archive, WriteFree>;
using EntryPtr = std::unique_ptr<archive_entry, EntryFree>;

constexpr int kExtractFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_SECURE_SYMLINKS;

std::string archiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

// "a/./b//c/" -> "a/b/c"; "." or "./" -> "". Refuses absolute names and ".." components.
Result<std::string> safeRelative(const char* name) {
  if (name == nullptr) return makeError("archive entry without a name", EINVAL);
  std::string n(name);
  if (!n.empty() && n[0] == '/')
    return makeError("archive entry has an absolute path: " + n, EPERM);
  std::string out;
  for (const auto& part : split(n, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return makeError("archive entry escapes the image with '..': " + n, EPERM);
    out += (out.empty() ? "" : "/") + part;
  }
  return out;
}

// Where the tree walked from `src` (for directories) lands: strips the src prefix.
const char* stripSource(const char* name, const std::string& src) {
  if (src.empty() || name == nullptr) return name;
  std::string_view n(name);
  if (n == src) return ".";
  if (startsWith(n, src) && (src.back() == '/' || (n.size() > src.size() && n[src.size()] == '/')))
    return name + src.size() + (src.back() == '/' ? 0 : 1);
  return name;
}

class Extractor {
 public:
  explicit Extractor(std::string dest) : dest_(std::move(dest)), out_(archive_write_disk_new()) {}

  Status init() {
    if (!out_) return makeError("libarchive: cannot allocate a disk writer", ENOMEM);
    if (archive_write_disk_set_options(out_.get(), kExtractFlags) != ARCHIVE_OK)
      return makeError("libarchive: set extract options: " + archiveError(out_.get()));
    return {};
  }

  // Renames the entry into dest_ (after the safety check) and writes it with its data.
  Status copy(archive* in, archive_entry* entry, const std::string& stripPrefix) {
    auto rel = safeRelative(stripSource(archive_entry_pathname(entry), stripPrefix));
    if (!rel.ok()) return rel.error();
    archive_entry_set_pathname(entry, under(*rel).c_str());
    if (const char* link = archive_entry_hardlink(entry)) {
      auto linkRel = safeRelative(stripSource(link, stripPrefix));
      if (!linkRel.ok()) return linkRel.error();
      archive_entry_set_hardlink(entry, under(*linkRel).c_str());
    }
    const std::string shown = rel->empty() ? "." : *rel;
    int r = archive_write_header(out_.get(), entry);
    if (r < ARCHIVE_WARN)
      return makeError("extract " + shown + ": " + archiveError(out_.get()), EPERM);
    if (r == ARCHIVE_OK && archive_entry_size(entry) > 0) BOXD_TRY(copyData(in, shown));
    if (archive_write_finish_entry(out_.get()) < ARCHIVE_WARN)
      return makeError("extract " + shown + ": " + archiveError(out_.get()), EIO);
    return {};
  }

  Status finish() {
    if (archive_write_close(out_.get()) != ARCHIVE_OK)
      return makeError("extract: finishing directories: " + archiveError(out_.get()), EIO);
    return {};
  }

 private:
  std::string under(const std::string& rel) const {
    return rel.empty() ? dest_ : dest_ + "/" + rel;
  }

  Status copyData(archive* in, const std::string& shown) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return {};
      if (r < ARCHIVE_WARN) return makeError("read " + shown + ": " + archiveError(in), EIO);
      if (archive_write_data_block(out_.get(), buf, size, offset) < ARCHIVE_WARN)
        return makeError("extract " + shown + ": " + archiveError(out_.get()), EIO);
    }
  }

  std::string dest_;
  WritePtr out_;
};

Status extractDirectory(const std::string& src, const std::string& dest) {
  ReadPtr in(archive_read_disk_new());
  EntryPtr entry(archive_entry_new());
  if (!in || !entry) return makeError("libarchive: out of memory", ENOMEM);
  archive_read_disk_set_symlink_physical(in.get());
  archive_read_disk_set_behavior(in.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
  if (archive_read_disk_open(in.get(), src.c_str()) != ARCHIVE_OK)
    return makeError("read directory: " + archiveError(in.get()), EIO);
  Extractor ex(dest);
  BOXD_TRY(ex.init());
  for (;;) {
    int r = archive_read_next_header2(in.get(), entry.get());
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return makeError("read directory: " + archiveError(in.get()), EIO);
    archive_read_disk_descend(in.get());
    if (archive_entry_filetype(entry.get()) == AE_IFSOCK) continue;  // sockets cannot be stored
    BOXD_TRY(ex.copy(in.get(), entry.get(), src));
  }
  return ex.finish();
}

Status extractArchive(const std::string& src, const std::string& dest) {
  ReadPtr in(archive_read_new());
  if (!in) return makeError("libarchive: out of memory", ENOMEM);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), src.c_str(), 1 << 16) != ARCHIVE_OK)
    return makeError("not a directory or a supported archive: " + archiveError(in.get()), EINVAL);
  Extractor ex(dest);
  BOXD_TRY(ex.init());
  int entries = 0;
  for (bool first = true;; first = false) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return makeError((first ? "not a directory or a supported archive: " : "read archive: ") +
                           archiveError(in.get()),
                       EINVAL);
    BOXD_TRY(ex.copy(in.get(), entry, ""));
    ++entries;
  }
  if (entries == 0)
    return makeError("not a directory or a supported archive: it has no entries", EINVAL);
  return ex.finish();
}

Status extract(const std::string& src, const std::string& dest) {
  struct stat st {};
  if (::stat(src.c_str(), &st) != 0) return sysError("stat", src);
  if (S_ISDIR(st.st_mode)) {
    std::string s = src;
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return extractDirectory(s, dest);
  }
  if (!S_ISREG(st.st_mode))
    return makeError("not a directory or a supported archive: not a regular file", EINVAL);
  return extractArchive(src, dest);
}

Result<std::string> canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return sysError("realpath", path);
  return std::string(buf);
}

}  // namespace

ImageStore::ImageStore(std::string imagesDir) : dir_(std::move(imagesDir)) {}

bool ImageStore::validId(const std::string& id) {
  if (id.size() != 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ImageStore::rootfsOf(const std::string& id) const {
  return dir_ + "/" + id + "/rootfs";
}

Result<ImportedImage> ImageStore::import(const std::string& src) {
  const std::string what = "import " + src;
  Status st = mkdirAll(dir_, 0700);
  if (!st.ok()) return st.error().wrap(what);
  auto dir = canonical(dir_);
  if (!dir.ok()) return dir.error().wrap(what);
  const std::string tmp = *dir + "/.tmp-" + randomHex(8);
  const std::string rootfs = tmp + "/rootfs";
  if (::mkdir(tmp.c_str(), 0700) != 0) return sysError("mkdir", tmp).wrap(what);
  if (::mkdir(rootfs.c_str(), 0755) != 0 || ::chmod(rootfs.c_str(), 0755) != 0)
    st = sysError("mkdir", rootfs);
  if (st.ok()) st = extract(src, rootfs);
  Result<TreeDigest> digest = st.ok() ? hashTree(rootfs) : Result<TreeDigest>(st.error());
  if (digest.ok() && ::rename(tmp.c_str(), (*dir + "/" + digest->sha256).c_str()) == 0)
    return ImportedImage{digest->sha256, digest->fileBytes, rootfsOf(digest->sha256)};
  int err = errno;
  Status cleanup = removeAll(tmp);
  if (!digest.ok()) return digest.error().wrap(what);
  if (err != EEXIST && err != ENOTEMPTY)
    return sysError("rename", tmp + " to " + *dir + "/" + digest->sha256, err).wrap(what);
  if (!cleanup.ok()) return cleanup.error().wrap(what + ": discarding the duplicate copy");
  return ImportedImage{digest->sha256, digest->fileBytes, rootfsOf(digest->sha256)};
}

Status ImageStore::remove(const std::string& id) {
  if (!validId(id)) return makeError("remove image: not an image id: '" + id + "'", EINVAL);
  Status st = removeAll(dir_ + "/" + id);
  if (!st.ok()) return st.error().wrap("remove image " + id);
  return {};
}

Result<bool> ImageStore::has(const std::string& id) {
  if (!validId(id)) return makeError("image lookup: not an image id: '" + id + "'", EINVAL);
  struct stat st {};
  const std::string path = rootfsOf(id);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return sysError("stat", path);
  }
  return S_ISDIR(st.st_mode);
}

Status ImageStore::removeTemporaries() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return errno == ENOENT ? Status{} : Status{sysError("opendir", dir_)};
  std::vector<std::string> tmps;
  while (struct dirent* e = ::readdir(d))
    if (startsWith(e->d_name, ".tmp-")) tmps.emplace_back(e->d_name);
  ::closedir(d);
  Status first;
  for (const auto& t : tmps) {
    Status st = removeAll(dir_ + "/" + t);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace boxd::reconcilers
