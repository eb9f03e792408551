// The layered store's root-only parts on the real kernel: whiteouts unpacked as overlayfs
// whiteouts (character device 0/0) and opaque directories (trusted.overlay.opaque=y), honoured
// by an overlay of the image's layers; overlayfs xattrs carried by a layer are dropped. The test
// process moves into a private mount namespace first; every mount is detached at scope exit.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>

#include "reconcilers/host/real_mounter.h"
#include "reconcilers/images/image_store.h"
#include "reconcilers/rootfs/overlay_step.h"
#include "tests/support/oci_builder.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::buildLayer;
using boxd::testing::Compression;
using boxd::testing::OciLayout;
using boxd::testing::TempDir;

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string xattr(const std::string& path, const char* name) {
  char buf[64];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  ~MountGuard() {
    for (int i = 0; i < 8 && ::umount2(target_.c_str(), MNT_DETACH) == 0; ++i) {
    }
  }

 private:
  std::string target_;
};

class ImagesPrivilegedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    if (::unshare(CLONE_NEWNS) == 0)
      (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_TRUE(store.start().ok());
  }
  TempDir dir{"img-priv"};
  ImageStore store{dir / "images"};
};

TEST_F(ImagesPrivilegedTest, WhiteoutsAndOpaqueDirsAreHonouredByTheOverlay) {
  OciLayout layout(dir / "layout");
  auto base = buildLayer({{"a/", AE_IFDIR, 0755},
                          {"a/keep", AE_IFREG, 0644, "k"},
                          {"a/gone", AE_IFREG, 0644, "g"},
                          {"d/", AE_IFDIR, 0755},
                          {"d/old", AE_IFREG, 0644, "o"},
                          {"d/sub/", AE_IFDIR, 0755}},
                         Compression::Gzip);
  auto upper = buildLayer({{"a/.wh.gone", AE_IFREG, 0644, ""},
                           {"d/.wh..wh..opq", AE_IFREG, 0644, ""},
                           {"d/new", AE_IFREG, 0644, "n"},
                           {"later/.wh.x", AE_IFREG, 0644, ""}},  // parent made on the way
                          Compression::Gzip);
  layout.addImage({base, upper}, nlohmann::json::object(), "x");
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  auto lowers = store.lowerDirs(imgs->at(0).id);
  ASSERT_TRUE(lowers.ok());
  const std::string top = lowers->at(0);
  struct stat st {};
  ASSERT_EQ(::lstat((top + "/a/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(exists(top + "/a/.wh.gone"));
  EXPECT_EQ(xattr(top + "/d", "trusted.overlay.opaque"), "y");
  EXPECT_FALSE(exists(top + "/d/.wh..wh..opq"));
  EXPECT_TRUE(exists(top + "/later/x"));

  OverlayPaths p{*lowers, dir / "c/upper", dir / "c/work", dir / "c/rootfs"};
  MountGuard guard(p.target);
  RealMounter mounter;
  OverlayStep step(mounter, p);
  ASSERT_TRUE(step.apply().ok());
  EXPECT_TRUE(exists(p.target + "/a/keep"));
  EXPECT_FALSE(exists(p.target + "/a/gone"));
  EXPECT_FALSE(exists(p.target + "/d/old"));
  EXPECT_FALSE(exists(p.target + "/d/sub"));
  EXPECT_EQ(*readFile(p.target + "/d/new"), "n");
  ASSERT_TRUE(step.undo().ok());
}

TEST_F(ImagesPrivilegedTest, AnImageOfManyLayersMountsPastThePageOfOptions) {
  OciLayout layout(dir / "layout");
  std::vector<boxd::testing::BuiltLayer> layers;
  for (int i = 0; i < 60; ++i) {
    const std::string n = std::to_string(i);
    layers.push_back(buildLayer(
        {{"l/", AE_IFDIR, 0755}, {"l/" + n, AE_IFREG, 0644, n}, {"top", AE_IFREG, 0644, n}},
        Compression::Gzip));
  }
  layout.addImage(layers, nlohmann::json::object(), "x");
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  auto lowers = store.lowerDirs(imgs->at(0).id);
  ASSERT_TRUE(lowers.ok());
  OverlayPaths p{*lowers, dir / "c/upper", dir / "c/work", dir / "c/rootfs"};
  ASSERT_GT(overlayOptions(p)->size(), 4095u);  // more than mount(2) takes
  MountGuard guard(p.target);
  RealMounter mounter;
  OverlayStep step(mounter, p);
  Status st = step.apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*readFile(p.target + "/l/0"), "0");
  EXPECT_EQ(*readFile(p.target + "/l/59"), "59");
  EXPECT_EQ(*readFile(p.target + "/top"), "59");  // the top layer wins
  ASSERT_TRUE(step.undo().ok());
}

TEST_F(ImagesPrivilegedTest, OverlayXattrsCarriedByALayerAreDropped) {
  OciLayout layout(dir / "layout");
  boxd::testing::LayerEntry evil{"d/", AE_IFDIR, 0755};
  evil.xattrs = {{"trusted.overlay.opaque", "y"}, {"user.note", "kept"}};
  boxd::testing::LayerEntry redirect{"f", AE_IFREG, 0644, "x"};
  redirect.xattrs = {{"trusted.overlay.redirect", "/etc"}};
  layout.addImage({buildLayer({evil, redirect}, Compression::None)}, nlohmann::json::object(), "x");
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  const std::string fs = store.lowerDirs(imgs->at(0).id)->at(0);
  EXPECT_EQ(xattr(fs + "/d", "trusted.overlay.opaque"), "");
  EXPECT_EQ(xattr(fs + "/d", "user.note"), "kept");
  EXPECT_EQ(xattr(fs + "/f", "trusted.overlay.redirect"), "");
}

TEST_F(ImagesPrivilegedTest, DiskFullDuringUnpackFailsAndLeavesNothing) {
  // A 2 MiB tmpfs as the store: a 4 MiB layer cannot fit.
  const std::string small = dir / "small";
  ASSERT_TRUE(mkdirAll(small).ok());
  MountGuard guard(small);
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=2m"), 0);
  ImageStore tiny(small + "/images");
  ASSERT_TRUE(tiny.start().ok());
  OciLayout layout(dir / "layout");
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  layout.addImage({buildLayer({{"big", AE_IFREG, 0644, big}}, Compression::Gzip)},
                  nlohmann::json::object(), "x");
  auto imgs = tiny.import(layout.dir());
  ASSERT_FALSE(imgs.ok());
  EXPECT_NE(imgs.error().message.find("extract big: "), std::string::npos) << imgs.error().message;
  EXPECT_EQ(imgs.error().code, ENOSPC) << imgs.error().message;
  auto list = ::opendir((small + "/images").c_str());
  ASSERT_NE(list, nullptr);
  std::vector<std::string> left;
  while (auto* e = ::readdir(list)) left.emplace_back(e->d_name);
  ::closedir(list);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{".", "..", "images", "layers"}));
  EXPECT_TRUE(tiny.list()->empty());
}

}  // namespace
}  // namespace boxd::reconcilers
