#include "reconcilers/images/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/safe_path.h"
#include "common/util.h"
#include "reconcilers/images/sha256_stream.h"

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
constexpr const char* kWhiteoutPrefix = ".wh.";
constexpr const char* kOpaqueMarker = ".wh..wh..opq";

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

bool overlayXattr(const char* name) {
  return startsWith(name, "trusted.overlay.") || startsWith(name, "user.overlay.");
}

// Drops the xattrs overlayfs would read as its own metadata.
void dropOverlayXattrs(archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return;
  std::vector<std::pair<std::string, std::string>> keep;
  bool dropped = false;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (overlayXattr(name)) {
      dropped = true;
      continue;
    }
    keep.emplace_back(name, std::string(static_cast<const char*>(value), size));
  }
  if (!dropped) return;
  archive_entry_xattr_clear(e);
  for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
}

class Extractor {
 public:
  Extractor(std::string dest, bool whiteouts)
      : dest_(std::move(dest)), whiteouts_(whiteouts), out_(archive_write_disk_new()) {}

  Status init() {
    if (!out_) return makeError("libarchive: cannot allocate a disk writer", ENOMEM);
    if (archive_write_disk_set_options(out_.get(), kExtractFlags) != ARCHIVE_OK)
      return makeError("libarchive: set extract options: " + archiveError(out_.get()));
    destFd_ = Fd(::open(dest_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!destFd_) return sysError("open", dest_);
    return {};
  }

  // Renames the entry into dest_ (after the safety check) and writes it with its data.
  Status copy(archive* in, archive_entry* entry, const std::string& stripPrefix) {
    auto rel = safeRelative(stripSource(archive_entry_pathname(entry), stripPrefix));
    if (!rel.ok()) return rel.error();
    if (whiteouts_) {
      auto handled = whiteout(*rel);
      if (!handled.ok()) return handled.error();
      if (*handled) return {};
    }
    archive_entry_set_pathname(entry, under(*rel).c_str());
    if (const char* link = archive_entry_hardlink(entry)) {
      auto linkRel = safeRelative(stripSource(link, stripPrefix));
      if (!linkRel.ok()) return linkRel.error();
      archive_entry_set_hardlink(entry, under(*linkRel).c_str());
    }
    dropOverlayXattrs(entry);
    const std::string shown = rel->empty() ? "." : *rel;
    int r = archive_write_header(out_.get(), entry);
    if (r < ARCHIVE_WARN)
      return makeError("extract " + shown + ": " + archiveError(out_.get()), EPERM);
    if (r == ARCHIVE_OK && archive_entry_size(entry) > 0) BOXD_TRY(copyData(in, shown));
    if (archive_write_finish_entry(out_.get()) < ARCHIVE_WARN)
      return makeError("extract " + shown + ": " + archiveError(out_.get()), EIO);
    if (archive_entry_filetype(entry) == AE_IFREG && archive_entry_hardlink(entry) == nullptr)
      fileBytes_ += archive_entry_size(entry);
    return {};
  }

  // Directory permissions and times (libarchive fixes them up last), then opaque markers.
  Status finish() {
    if (archive_write_close(out_.get()) != ARCHIVE_OK)
      return makeError("extract: finishing directories: " + archiveError(out_.get()), EIO);
    for (const auto& dir : opaque_) BOXD_TRY(markOpaque(dir));
    return {};
  }

  int64_t fileBytes() const { return fileBytes_; }

 private:
  std::string under(const std::string& rel) const {
    return rel.empty() ? dest_ : dest_ + "/" + rel;
  }

  // true: rel was a whiteout (made here, or remembered for finish), not an entry to write.
  Result<bool> whiteout(const std::string& rel) {
    const size_t slash = rel.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    const std::string base = slash == std::string::npos ? rel : rel.substr(slash + 1);
    if (!startsWith(base, kWhiteoutPrefix)) return false;
    if (base == kOpaqueMarker) {
      opaque_.push_back(parent);
      return true;
    }
    const std::string name = base.substr(4);
    if (name.empty() || name == "." || name == ".." || startsWith(name, kWhiteoutPrefix))
      return makeError("layer whiteout " + rel + " names no file", EPERM);
    BeneathOptions opts{RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, true, false};
    auto dir = openBeneath(destFd_.get(), parent, opts, "layer directory /" + parent);
    if (!dir.ok()) return dir.error().wrap("whiteout " + rel);
    if (::mknodat(dir->get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
      return sysError("mknod whiteout", (parent.empty() ? "" : parent + "/") + name);
    return true;
  }

  Status markOpaque(const std::string& dir) {
    BeneathOptions opts{RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, true, false};
    const std::string shown = "layer directory /" + dir;
    auto path = openBeneath(destFd_.get(), dir, opts, shown);
    if (!path.ok()) return path.error().wrap("opaque directory");
    Fd fd(::openat(path->get(), ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return sysError("open", shown);
    if (::fsetxattr(fd.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
      return sysError("set trusted.overlay.opaque on", shown);
    return {};
  }

  Status copyData(archive* in, const std::string& shown) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return {};
      if (r < ARCHIVE_WARN) return makeError("read " + shown + ": " + archiveError(in), EIO);
      // The disk writer reports a failed write(2) (ENOSPC, EIO) as a mere warning: any
      // non-OK here means the file on disk is not what the archive holds.
      if (archive_write_data_block(out_.get(), buf, size, offset) != ARCHIVE_OK)
        return makeError("extract " + shown + ": " + archiveError(out_.get()),
                         archive_errno(out_.get()) != 0 ? archive_errno(out_.get()) : EIO);
    }
  }

  std::string dest_;
  bool whiteouts_;
  WritePtr out_;
  Fd destFd_;
  std::vector<std::string> opaque_;
  int64_t fileBytes_ = 0;
};

Status extractDirectory(const std::string& src, const std::string& dest) {
  ReadPtr in(archive_read_disk_new());
  EntryPtr entry(archive_entry_new());
  if (!in || !entry) return makeError("libarchive: out of memory", ENOMEM);
  archive_read_disk_set_symlink_physical(in.get());
  archive_read_disk_set_behavior(in.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
  if (archive_read_disk_open(in.get(), src.c_str()) != ARCHIVE_OK)
    return makeError("read directory: " + archiveError(in.get()), EIO);
  Extractor ex(dest, false);
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

// Only in-process decompressors: never one that runs an external program.
void supportFilters(archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_bzip2(a);
}

Status extractArchive(const std::string& src, const std::string& dest) {
  ReadPtr in(archive_read_new());
  if (!in) return makeError("libarchive: out of memory", ENOMEM);
  supportFilters(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), src.c_str(), 1 << 16) != ARCHIVE_OK)
    return makeError("not a directory or a supported archive: " + archiveError(in.get()), EINVAL);
  Extractor ex(dest, false);
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

// The blob as stored, hashed as libarchive reads it.
struct BlobSource {
  int fd = -1;
  Sha256Stream hash;
  char buf[1 << 16];
};

la_ssize_t readBlob(archive* a, void* client, const void** out) {
  auto* s = static_cast<BlobSource*>(client);
  for (;;) {
    ssize_t n = ::read(s->fd, s->buf, sizeof s->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "read layer blob");
      return -1;
    }
    s->hash.add(s->buf, static_cast<size_t>(n));
    *out = s->buf;
    return n;
  }
}

// The uncompressed tar, pulled from the decompressing reader and hashed on its way to the tar
// reader: the diff ID is known when the last entry is written, with no second pass.
struct TarSource {
  archive* decompressed = nullptr;
  Sha256Stream hash;
  char buf[1 << 16];
};

la_ssize_t readTar(archive* a, void* client, const void** out) {
  auto* s = static_cast<TarSource*>(client);
  la_ssize_t n = archive_read_data(s->decompressed, s->buf, sizeof s->buf);
  if (n < 0) {
    archive_set_error(a, EIO, "%s", archiveError(s->decompressed).c_str());
    return -1;
  }
  s->hash.add(s->buf, static_cast<size_t>(n));
  *out = s->buf;
  return n;
}

// Everything after the tar's end-of-archive blocks still belongs to both digests.
Status drain(BlobSource& blob, TarSource& tar) {
  for (;;) {
    la_ssize_t n = archive_read_data(tar.decompressed, tar.buf, sizeof tar.buf);
    if (n < 0) return makeError("decompress layer: " + archiveError(tar.decompressed), EIO);
    if (n == 0) break;
    tar.hash.add(tar.buf, static_cast<size_t>(n));
  }
  for (;;) {
    ssize_t n = ::read(blob.fd, blob.buf, sizeof blob.buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", "layer blob");
    if (n == 0) return {};
    blob.hash.add(blob.buf, static_cast<size_t>(n));
  }
}

Status unpackTar(archive* tarIn, Extractor& ex) {
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(tarIn, &entry);
    if (r == ARCHIVE_EOF) return ex.finish();
    if (r < ARCHIVE_WARN) return makeError("read layer tar: " + archiveError(tarIn), EINVAL);
    BOXD_TRY(ex.copy(tarIn, entry, ""));
  }
}

Status checkDigest(const char* what, const std::string& want, const std::string& got) {
  if (got.empty()) return makeError(std::string("SHA-256 of the ") + what + " failed", EIO);
  if (!want.empty() && want != got)
    return makeError(
        std::string(what) + " digest mismatch: expected sha256:" + want + ", got sha256:" + got,
        EBADMSG);
  return {};
}

}  // namespace

Status extractTree(const std::string& src, const std::string& dest) {
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

Result<LayerDigests> unpackLayer(const std::string& blobPath, const std::string& dest,
                                 const LayerExpect& expect) {
  Fd fd(::open(blobPath.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open", blobPath);
  auto blob = std::make_unique<BlobSource>();
  auto tar = std::make_unique<TarSource>();
  blob->fd = fd.get();
  ReadPtr raw(archive_read_new());
  ReadPtr tarIn(archive_read_new());
  if (!raw || !tarIn) return makeError("libarchive: out of memory", ENOMEM);
  supportFilters(raw.get());
  archive_read_support_format_raw(raw.get());
  archive_read_support_format_empty(raw.get());
  if (archive_read_open(raw.get(), blob.get(), nullptr, readBlob, nullptr) != ARCHIVE_OK)
    return makeError("layer " + blobPath + ": " + archiveError(raw.get()), EINVAL);
  archive_entry* rawEntry = nullptr;
  int r = archive_read_next_header(raw.get(), &rawEntry);
  if (r < ARCHIVE_WARN)
    return makeError("layer " + blobPath + ": " + archiveError(raw.get()), EINVAL);
  Extractor ex(dest, true);
  BOXD_TRY(ex.init());
  if (r != ARCHIVE_EOF) {  // an empty blob is an empty layer
    tar->decompressed = raw.get();
    archive_read_support_format_tar(tarIn.get());
    archive_read_support_format_empty(tarIn.get());
    if (archive_read_open(tarIn.get(), tar.get(), nullptr, readTar, nullptr) != ARCHIVE_OK)
      return makeError("layer " + blobPath + ": not a tar: " + archiveError(tarIn.get()), EINVAL);
    Status st = unpackTar(tarIn.get(), ex);
    if (!st.ok()) return st.error().wrap("layer " + blobPath);
    BOXD_TRY(drain(*blob, *tar));
  } else {
    BOXD_TRY(ex.finish());
  }
  LayerDigests out{blob->hash.hex(), tar->hash.hex(), ex.fileBytes()};
  if (r == ARCHIVE_EOF) out.diffId = Sha256Stream().hex();
  Status st = checkDigest("layer blob", expect.blob, out.blob);
  if (st.ok()) st = checkDigest("layer diff ID (uncompressed tar)", expect.diffId, out.diffId);
  if (!st.ok()) return st.error().wrap("layer " + blobPath);
  return out;
}

}  // namespace boxd::reconcilers
