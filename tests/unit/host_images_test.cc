// ImageStore: import from a directory and from tarballs made here with libarchive; content ids;
// refusal of entries that would escape the image.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "common/util.h"
#include "reconcilers/images/image_store.h"
#include "tests/unit/host_test_util.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::TempDir;

struct TarEntry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string content;  // file bytes
  std::string link;     // symlink target (AE_IFLNK) or hard link target (when hardlink)
  bool hardlink = false;
};

// Writes a gzip-compressed pax tarball; owners are uid/gid 0 like an image built by root.
void writeTarGz(const std::string& path, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    archive_entry_set_uid(en, ::getuid());
    archive_entry_set_gid(en, ::getgid());
    archive_entry_set_mtime(en, 1700000000, 0);
    if (e.hardlink) {
      archive_entry_set_filetype(en, AE_IFREG);
      archive_entry_set_hardlink(en, e.link.c_str());
    } else {
      archive_entry_set_filetype(en, e.type);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(en, e.link.c_str());
    }
    archive_entry_set_perm(en, e.perm);
    archive_entry_set_size(
        en, e.type == AE_IFREG && !e.hardlink ? static_cast<la_int64_t>(e.content.size()) : 0);
    ASSERT_EQ(archive_write_header(a, en), ARCHIVE_OK) << archive_error_string(a);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
      out.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string linkOf(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

mode_t permOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The same tree as sampleTar(): a directory source.
    ASSERT_TRUE(mkdirAll(dir / "src/bin").ok());
    ASSERT_TRUE(mkdirAll(dir / "src/etc").ok());
    ASSERT_TRUE(mkdirAll(dir / "src/empty").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "src/bin/tool", "#!/bin/sh\necho hi\n", 0755).ok());
    ASSERT_TRUE(writeFileAtomic(dir / "src/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644).ok());
    ASSERT_EQ(::symlink("/bin/tool", (dir / "src/bin/sh").c_str()), 0);
    for (const char* d : {"src", "src/bin", "src/etc", "src/empty"})
      ASSERT_EQ(::chmod((dir / d).c_str(), 0755), 0);
  }

  std::vector<TarEntry> sampleTar() const {
    return {
        {"bin/", AE_IFDIR, 0755},
        {"bin/tool", AE_IFREG, 0755, "#!/bin/sh\necho hi\n"},
        {"bin/sh", AE_IFLNK, 0777, "", "/bin/tool"},
        {"etc/", AE_IFDIR, 0755},
        {"etc/passwd", AE_IFREG, 0644, "root:x:0:0::/root:/bin/sh\n"},
        {"empty/", AE_IFDIR, 0755},
    };
  }

  // Entries in the store other than its two trees (leftover temporaries).
  std::vector<std::string> leftovers() const {
    std::vector<std::string> out;
    for (const auto& n : listDir(dir / "images"))
      if (n != "layers" && n != "images") out.push_back(n);
    return out;
  }

  struct Imported {
    std::string id;
    int64_t sizeBytes = 0;
    std::string rootfs;  // the single layer's tree
  };
  // A rootfs import: one image of one layer.
  Result<Imported> importOne(const std::string& src) {
    auto imgs = store.import(src);
    if (!imgs.ok()) return imgs.error();
    if (imgs->size() != 1) return makeError("expected one image");
    auto lowers = store.lowerDirs(imgs->at(0).id);
    if (!lowers.ok()) return lowers.error();
    if (lowers->size() != 1) return makeError("expected one layer");
    return Imported{imgs->at(0).id, imgs->at(0).sizeBytes, lowers->at(0)};
  }

  TempDir dir{"images"};
  ImageStore store{dir / "images"};
};

TEST_F(ImageStoreTest, ImportsADirectoryWithModesAndSymlinks) {
  auto img = importOne(dir / "src");
  ASSERT_TRUE(img.ok()) << img.error().message;
  EXPECT_TRUE(ImageStore::validId(img->id)) << img->id;
  EXPECT_EQ(img->rootfs, dir / "images/layers/tree-" + img->id + "/fs");
  EXPECT_EQ(img->sizeBytes, 18 + 26);
  EXPECT_EQ(*readFile(img->rootfs + "/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(permOf(img->rootfs + "/bin/tool"), 0755u);
  EXPECT_EQ(permOf(img->rootfs + "/etc/passwd"), 0644u);
  EXPECT_EQ(linkOf(img->rootfs + "/bin/sh"), "/bin/tool");
  EXPECT_TRUE(exists(img->rootfs + "/empty"));
  EXPECT_TRUE(*store.has(img->id));
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreTest, SameContentSameIdStoredOnceWhateverTheSourceOrTimes) {
  auto a = importOne(dir / "src");
  ASSERT_TRUE(a.ok()) << a.error().message;
  struct timeval times[2] = {{1000000, 0}, {1000000, 0}};
  ASSERT_EQ(::utimes((dir / "src/etc/passwd").c_str(), times), 0);  // mtimes are not content
  auto b = importOne(dir / "src/");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(a->id, b->id);

  writeTarGz(dir / "image.tar.gz", sampleTar());
  auto c = importOne(dir / "image.tar.gz");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->id, a->id);
  EXPECT_EQ(listDir(dir / "images/layers"),
            std::vector<std::string>{"tree-" + a->id});  // stored once
  EXPECT_TRUE(leftovers().empty());

  ASSERT_EQ(::chmod((dir / "src/etc/passwd").c_str(), 0600), 0);  // a mode is content
  auto d = importOne(dir / "src");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_NE(d->id, a->id);
  EXPECT_EQ(listDir(dir / "images/layers").size(), 2u);
  EXPECT_EQ(listDir(dir / "images/images").size(), 2u);
}

TEST_F(ImageStoreTest, ImportsHardLinksAsHardLinks) {
  auto entries = sampleTar();
  entries.push_back({"bin/tool2", AE_IFREG, 0755, "", "bin/tool", true});
  writeTarGz(dir / "image.tgz", entries);
  auto img = importOne(dir / "image.tgz");
  ASSERT_TRUE(img.ok()) << img.error().message;
  struct stat s1 {
  }, s2{};
  ASSERT_EQ(::stat((img->rootfs + "/bin/tool").c_str(), &s1), 0);
  ASSERT_EQ(::stat((img->rootfs + "/bin/tool2").c_str(), &s2), 0);
  EXPECT_EQ(s1.st_ino, s2.st_ino);
}

TEST_F(ImageStoreTest, RefusesEntriesThatEscapeAndWritesNothingOutside) {
  const std::string outside = dir / "outside";
  ASSERT_TRUE(mkdirAll(outside).ok());
  struct Case {
    const char* name;
    std::vector<TarEntry> entries;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"dotdot", {{"etc/", AE_IFDIR, 0755}, {"../../outside/dotdot", AE_IFREG, 0644, "x"}}, ".."},
      {"absolute", {{outside + "/absolute", AE_IFREG, 0644, "x"}}, "absolute"},
      {"through-symlink",
       {{"evil", AE_IFLNK, 0777, "", outside}, {"evil/pwned", AE_IFREG, 0644, "x"}},
       "evil"},
      {"hardlink-out", {{"h", AE_IFREG, 0644, "", "../../outside/target", true}}, ".."},
  };
  ASSERT_TRUE(writeFileAtomic(outside + "/target", "keep").ok());
  for (const auto& c : cases) {
    const std::string tar = dir / (std::string(c.name) + ".tar.gz");
    writeTarGz(tar, c.entries);
    auto img = importOne(tar);
    ASSERT_FALSE(img.ok()) << c.name;
    EXPECT_NE(img.error().message.find("import " + tar + ": "), std::string::npos)
        << img.error().message;
    EXPECT_NE(img.error().message.find(c.expect), std::string::npos) << img.error().message;
  }
  EXPECT_EQ(listDir(outside), std::vector<std::string>{"target"});
  EXPECT_EQ(*readFile(outside + "/target"), "keep");
  EXPECT_EQ(listDir(dir.path()).size(),
            1u + 1u + cases.size() + 1u);  // src, images, tarballs, outside
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreTest, ClearErrorsForWhatIsNotAnImage) {
  ASSERT_TRUE(writeFileAtomic(dir / "notes.txt", "just some text, not an archive\n").ok());
  auto text = importOne(dir / "notes.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("import " + dir / "notes.txt" +
                                      ": not a directory or a supported archive"),
            std::string::npos)
      << text.error().message;
  auto missing = importOne(dir / "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(dir / "missing"), std::string::npos);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreTest, HasRemoveAndIdValidation) {
  auto img = importOne(dir / "src");
  ASSERT_TRUE(img.ok()) << img.error().message;
  EXPECT_TRUE(*store.has(img->id));
  ASSERT_TRUE(store.remove(img->id).ok());
  EXPECT_FALSE(*store.has(img->id));
  EXPECT_FALSE(exists(dir / "images/images/tree-" + img->id));
  EXPECT_TRUE(exists(img->rootfs));  // layers go with removeUnusedLayers
  EXPECT_EQ(*store.removeUnusedLayers(), 1);
  EXPECT_FALSE(exists(img->rootfs));
  ASSERT_TRUE(store.remove(img->id).ok());
  EXPECT_EQ(store.remove("../src").error().code, EINVAL);
  EXPECT_FALSE(store.has("ABC").ok());
  EXPECT_TRUE(exists(dir / "src/etc/passwd"));
}

TEST_F(ImageStoreTest, StartCleansInterruptedImports) {
  ASSERT_TRUE(mkdirAll(dir / "images/.tmp-0123/fs/etc").ok());
  auto img = importOne(dir / "src");
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(store.start().ok());
  EXPECT_EQ(listDir(dir / "images"), (std::vector<std::string>{"images", "layers"}));
  EXPECT_TRUE(*store.has(img->id));
}

}  // namespace
}  // namespace boxd::reconcilers
