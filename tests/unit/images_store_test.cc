// The layered image store without root-only features: OCI layouts (directory and tar) and
// docker save archives imported, layers shared and stored once, digests verified while
// unpacking (tampered blobs and wrong diff IDs refused, nothing kept), the whole-rootfs layout of
// older versions migrated, prune. Whiteouts need root (mknod, trusted xattrs): see
// tests/privileged/images_privileged_test.cc.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <set>

#include "common/util.h"
#include "reconcilers/images/content_hash.h"
#include "reconcilers/images/image_store.h"
#include "tests/support/oci_builder.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::BuiltLayer;
using boxd::testing::Compression;
using boxd::testing::OciLayout;
using boxd::testing::TempDir;
using nlohmann::json;

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::set<std::string> names(const std::string& dir) {
  std::set<std::string> out;
  auto list = ::opendir(dir.c_str());
  if (list == nullptr) return out;
  while (auto* e = ::readdir(list))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.insert(e->d_name);
  ::closedir(list);
  return out;
}

BuiltLayer base(Compression c = Compression::Gzip) {
  return boxd::testing::buildLayer({{"bin/", AE_IFDIR, 0755},
                                    {"bin/hello", AE_IFREG, 0755, "#!/bin/sh\necho base\n"},
                                    {"etc/", AE_IFDIR, 0755},
                                    {"etc/os-release", AE_IFREG, 0644, "ID=test\n"}},
                                   c);
}

BuiltLayer top(const std::string& content, Compression c) {
  return boxd::testing::buildLayer(
      {{"app/", AE_IFDIR, 0755}, {"app/data", AE_IFREG, 0600, content}}, c);
}

class ImageStoreLayersTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store.start().ok()); }

  std::set<std::string> layers() { return names(dir / "images/layers"); }
  std::set<std::string> leftovers() {
    auto all = names(dir / "images");
    all.erase("layers");
    all.erase("images");
    return all;
  }

  TempDir dir{"img-layers"};
  ImageStore store{dir / "images"};
};

TEST_F(ImageStoreLayersTest, ImportsAnOciLayoutSharingLayersStoredOnce) {
  OciLayout layout(dir / "layout");
  auto b = base();
  auto t1 = top("one", Compression::Zstd), t2 = top("two", Compression::None);
  const std::string m1 = layout.addImage({b, t1}, {{"Cmd", {"/bin/hello"}}}, "one");
  const std::string cfg1 = layout.configHex;
  layout.addImage({b, t2}, json::object(), "two");
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  ASSERT_EQ(imgs->size(), 2u);
  EXPECT_EQ(imgs->at(0).id, "sha256:" + cfg1);
  EXPECT_EQ(imgs->at(0).digest, "sha256:" + m1);
  EXPECT_EQ(imgs->at(0).refs, std::vector<std::string>{"one"});
  EXPECT_EQ(imgs->at(0).newLayers, 2);
  EXPECT_EQ(imgs->at(1).newLayers, 1);  // the base layer was shared
  EXPECT_EQ(layers(), (std::set<std::string>{"sha256-" + b.diffId, "sha256-" + t1.diffId,
                                             "sha256-" + t2.diffId}));
  auto lowers = store.lowerDirs(imgs->at(0).id);
  ASSERT_TRUE(lowers.ok()) << lowers.error().message;
  ASSERT_EQ(lowers->size(), 2u);  // top first
  EXPECT_EQ(*readFile(lowers->at(0) + "/app/data"), "one");
  EXPECT_EQ(*readFile(lowers->at(1) + "/bin/hello"), "#!/bin/sh\necho base\n");
  auto info = store.info(imgs->at(0).id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->config["config"]["Cmd"], json::array({"/bin/hello"}));
  EXPECT_EQ(info->layers[0].diffId, "sha256:" + b.diffId);
  EXPECT_EQ(info->sizeBytes(), 20 + 8 + 3);
  // Imported again: nothing new is unpacked.
  auto again = store.import(layout.dir());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->at(0).newLayers + again->at(1).newLayers, 0);
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreLayersTest, RefusesATamperedLayerBlobAndKeepsNothingOfIt) {
  OciLayout layout(dir / "layout");
  auto b = base();
  layout.addImage({b}, json::object(), "x");
  // Same name, other bytes: the blob no longer hashes to its digest.
  const std::string blob = layout.dir() + "/blobs/sha256/" + boxd::testing::sha256Of(b.blob);
  auto other = base(Compression::Zstd).blob;
  ASSERT_TRUE(writeFileAtomic(blob, other).ok());
  auto imgs = store.import(layout.dir());
  ASSERT_FALSE(imgs.ok());
  EXPECT_NE(imgs.error().message.find("layer blob digest mismatch"), std::string::npos)
      << imgs.error().message;
  EXPECT_EQ(imgs.error().code, EBADMSG);
  EXPECT_TRUE(layers().empty());
  EXPECT_TRUE(names(dir / "images/images").empty());
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreLayersTest, RefusesAConfigWhoseDiffIdIsWrong) {
  OciLayout layout(dir / "layout");
  auto b = base();
  b.diffId = std::string(64, '0');
  layout.addImage({b}, json::object(), "x");
  auto imgs = store.import(layout.dir());
  ASSERT_FALSE(imgs.ok());
  EXPECT_NE(imgs.error().message.find("diff ID (uncompressed tar) digest mismatch: expected "
                                      "sha256:0000"),
            std::string::npos)
      << imgs.error().message;
  EXPECT_TRUE(layers().empty());
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreLayersTest, RefusesAManifestThatDoesNotMatchItsDigest) {
  OciLayout layout(dir / "layout");
  const std::string m = layout.addImage({base()}, json::object(), "x");
  auto text = readFile(layout.dir() + "/blobs/sha256/" + m);
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(writeFileAtomic(layout.dir() + "/blobs/sha256/" + m, *text + " ").ok());
  auto imgs = store.import(layout.dir());
  ASSERT_FALSE(imgs.ok());
  EXPECT_NE(imgs.error().message.find("does not hash to sha256:" + m), std::string::npos)
      << imgs.error().message;
  EXPECT_TRUE(layers().empty());
}

TEST_F(ImageStoreLayersTest, RefusesLayerEntriesThatEscape) {
  for (const auto& entries : std::vector<std::vector<boxd::testing::LayerEntry>>{
           {{"../escape", AE_IFREG, 0644, "x"}},
           {{"evil", AE_IFLNK, 0777, "", "/tmp"}, {"evil/pwned", AE_IFREG, 0644, "x"}},
           {{"h", AE_IFREG, 0644, "", "../../etc/passwd", true}},
           {{"a/.wh...", AE_IFREG, 0644, ""}}}) {
    TempDir d{"img-escape"};
    OciLayout layout(d / "layout");
    layout.addImage({boxd::testing::buildLayer(entries, Compression::Gzip)}, json::object(), "x");
    auto imgs = store.import(layout.dir());
    EXPECT_FALSE(imgs.ok());
  }
  EXPECT_FALSE(exists("/tmp/pwned"));
  EXPECT_TRUE(layers().empty());
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreLayersTest, ImportsALayoutTarAndADockerSaveArchive) {
  OciLayout layout(dir / "layout");
  auto b = base();
  layout.addImage({b}, {{"Entrypoint", {"/bin/hello"}}}, "example.com/app:1.0");
  ASSERT_EQ(std::system(boxd::testing::tarDirectoryCommand(layout.dir(), dir / "oci.tar").c_str()),
            0);
  auto fromTar = store.import(dir / "oci.tar");
  ASSERT_TRUE(fromTar.ok()) << fromTar.error().message;
  ASSERT_EQ(fromTar->size(), 1u);
  EXPECT_EQ(fromTar->at(0).refs, std::vector<std::string>{"example.com/app:1.0"});
  EXPECT_EQ(fromTar->at(0).id, "sha256:" + layout.configHex);

  // docker save: manifest.json, the config as <hex>.json, uncompressed layer tars.
  const std::string save = dir / "save";
  auto layer = boxd::testing::buildLayer({{"srv/", AE_IFDIR, 0755}, {"srv/x", AE_IFREG, 0644, "x"}},
                                         Compression::None);
  json cfg = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config", {{"Cmd", {"/srv/x"}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + layer.diffId}}}}};
  const std::string cfgText = cfg.dump();
  const std::string cfgHex = boxd::testing::sha256Of(cfgText);
  ASSERT_TRUE(mkdirAll(save + "/" + layer.diffId).ok());
  ASSERT_TRUE(writeFileAtomic(save + "/" + layer.diffId + "/layer.tar", layer.blob).ok());
  ASSERT_TRUE(writeFileAtomic(save + "/" + cfgHex + ".json", cfgText).ok());
  json manifest = json::array({{{"Config", cfgHex + ".json"},
                                {"RepoTags", {"busybox:saved"}},
                                {"Layers", {layer.diffId + "/layer.tar"}}}});
  ASSERT_TRUE(writeFileAtomic(save + "/manifest.json", manifest.dump()).ok());
  ASSERT_EQ(std::system(boxd::testing::tarDirectoryCommand(save, dir / "save.tar").c_str()), 0);
  auto saved = store.import(dir / "save.tar");
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  ASSERT_EQ(saved->size(), 1u);
  EXPECT_EQ(saved->at(0).id, "sha256:" + cfgHex);
  EXPECT_EQ(saved->at(0).digest, "");
  EXPECT_EQ(saved->at(0).refs, std::vector<std::string>{"busybox:saved"});
  auto lowers = store.lowerDirs(saved->at(0).id);
  ASSERT_TRUE(lowers.ok());
  EXPECT_EQ(*readFile(lowers->at(0) + "/srv/x"), "x");
  // A docker save whose layer does not match the config's diff ID is refused (by a store that
  // does not hold that layer yet: a stored layer is shared, not unpacked again).
  ASSERT_TRUE(
      writeFileAtomic(save + "/" + layer.diffId + "/layer.tar", base(Compression::None).blob).ok());
  TempDir other{"img-other"};
  ImageStore fresh(other / "images");
  auto bad = fresh.import(save);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("digest mismatch"), std::string::npos);
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(ImageStoreLayersTest, AMultiPlatformIndexGivesThisHostsImage) {
  OciLayout layout(dir / "layout");
  auto mine = top("mine", Compression::Gzip), theirs = top("theirs", Compression::Gzip);
  const std::string mHex = layout.addImage({mine}, json::object());
  const std::string mineCfg = layout.configHex;
  const std::string tHex = layout.addImage({theirs}, json::object());
  auto desc = [](const std::string& hex, const std::string& arch) {
    return json{{"mediaType", kOciManifest},
                {"digest", "sha256:" + hex},
                {"size", 1},
                {"platform", {{"os", "linux"}, {"architecture", arch}}}};
  };
  json index = {{"schemaVersion", 2},
                {"mediaType", kOciIndex},
                {"manifests", {desc(tHex, "no-such-arch"), desc(mHex, hostArchitecture())}}};
  const std::string iHex = layout.putBlob(index.dump());
  json top = {{"schemaVersion", 2},
              {"manifests",
               {{{"mediaType", kOciIndex},
                 {"digest", "sha256:" + iHex},
                 {"size", 1},
                 {"annotations", {{kRefNameAnnotation, "multi"}}}}}}};
  ASSERT_TRUE(writeFileAtomic(layout.dir() + "/index.json", top.dump()).ok());
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  ASSERT_EQ(imgs->size(), 1u);
  EXPECT_EQ(imgs->at(0).id, "sha256:" + mineCfg);
  EXPECT_EQ(imgs->at(0).digest, "sha256:" + mHex);
  EXPECT_EQ(layers(), std::set<std::string>{"sha256-" + mine.diffId});
  // The index it was chosen from is recorded: `repo@<index digest>` finds the image.
  auto info = store.info(imgs->at(0).id);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->indexDigests, std::vector<std::string>{"sha256:" + iHex});
  // An index without this platform says so.
  index["manifests"] = {desc(tHex, "no-such-arch")};
  const std::string onlyTheirs = layout.putBlob(index.dump());
  top["manifests"][0]["digest"] = "sha256:" + onlyTheirs;
  ASSERT_TRUE(writeFileAtomic(layout.dir() + "/index.json", top.dump()).ok());
  auto none = store.import(layout.dir());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("has no image for linux/" + hostArchitecture()),
            std::string::npos)
      << none.error().message;
}

TEST_F(ImageStoreLayersTest, ImportLayoutConsumesTheTemporaryItWasGiven) {
  auto tmp = store.makeTemporary();
  ASSERT_TRUE(tmp.ok()) << tmp.error().message;
  EXPECT_EQ(tmp->rfind(dir.path(), 0), 0u) << *tmp;  // inside the store's tree
  const BuiltLayer layer = base();
  OciLayout layout(*tmp);
  layout.addImage({layer}, json::object(), "latest");
  std::vector<std::string> told;
  const std::string index = "sha256:" + std::string(64, 'a');
  auto imgs = store.importLayout(
      *tmp,
      [&](const std::string& digest, bool done) {
        told.push_back(digest + (done ? " done" : " unpacking"));
      },
      index);
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  EXPECT_EQ(imgs->at(0).refs, std::vector<std::string>{"latest"});
  EXPECT_FALSE(exists(*tmp));
  EXPECT_TRUE(leftovers().empty());
  const std::string blob = "sha256:" + boxd::testing::sha256Of(layer.blob);
  EXPECT_EQ(told, (std::vector<std::string>{blob + " unpacking", blob + " done"}));
  // The index a pull resolved is recorded, and kept when the same image is imported again
  // without one.
  auto info = store.info(imgs->at(0).id);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->indexDigests, std::vector<std::string>{index});
  auto again = store.makeTemporary();
  ASSERT_TRUE(again.ok());
  OciLayout(*again).addImage({layer}, json::object(), "latest");
  ASSERT_TRUE(store.importLayout(*again).ok());
  info = store.info(imgs->at(0).id);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->indexDigests, std::vector<std::string>{index});
}

TEST_F(ImageStoreLayersTest, MigratesTheWholeRootfsLayoutAsSingleLayerImages) {
  // What an older boxd left: imagesDir/<tree hash>/rootfs.
  TempDir old{"img-old"};
  ASSERT_TRUE(mkdirAll(old / "images").ok());
  const std::string rootfs = old / "images/staging/rootfs";
  ASSERT_TRUE(mkdirAll(rootfs + "/etc").ok());
  ASSERT_TRUE(writeFileAtomic(rootfs + "/etc/motd", "hello\n").ok());
  auto tree = hashTree(rootfs);
  ASSERT_TRUE(tree.ok());
  const std::string hex = tree->sha256;
  ASSERT_EQ(::rename((old / "images/staging").c_str(), (old / "images/" + hex).c_str()), 0);
  // and one whose migration was interrupted after its tree moved
  ASSERT_TRUE(mkdirAll(old / "images/" + std::string(64, 'b')).ok());
  ASSERT_TRUE(mkdirAll(old / "images/layers/tree-" + std::string(64, 'b') + "/fs/bin").ok());
  ImageStore upgraded(old / "images");
  ASSERT_TRUE(upgraded.start().ok());
  EXPECT_FALSE(exists(old / "images/" + hex));
  EXPECT_TRUE(*upgraded.has(hex));
  EXPECT_TRUE(*upgraded.has(std::string(64, 'b')));
  auto lowers = upgraded.lowerDirs(hex);
  ASSERT_TRUE(lowers.ok()) << lowers.error().message;
  EXPECT_EQ(*lowers, std::vector<std::string>{old / "images/layers/tree-" + hex + "/fs"});
  EXPECT_EQ(*readFile(lowers->at(0) + "/etc/motd"), "hello\n");
  EXPECT_EQ(upgraded.info(hex)->sizeBytes(), 6);
  ASSERT_TRUE(upgraded.start().ok());  // idempotent
  EXPECT_TRUE(*upgraded.has(hex));
  // The same content imported again is the same image: ids did not change.
  auto again = upgraded.import(rootfs.substr(0, 0) + lowers->at(0));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->at(0).id, hex);
}

TEST_F(ImageStoreLayersTest, PruneKeepsWhatIsKeptAndRemovesUnusedLayers) {
  OciLayout layout(dir / "layout");
  auto b = base();
  auto t1 = top("one", Compression::Gzip), t2 = top("two", Compression::Gzip);
  layout.addImage({b, t1}, json::object(), "one");
  layout.addImage({b, t2}, json::object(), "two");
  auto imgs = store.import(layout.dir());
  ASSERT_TRUE(imgs.ok()) << imgs.error().message;
  const std::string one = imgs->at(0).id, two = imgs->at(1).id;
  // Created after the prune began: kept, whatever the keep list says.
  auto none = store.prune({}, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->images.empty());
  auto pruned = store.prune({one}, nowMs() + 1);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(pruned->images, std::vector<std::string>{two});
  EXPECT_EQ(pruned->layers, 1);  // t2; the base is still one's
  EXPECT_EQ(layers(), (std::set<std::string>{"sha256-" + b.diffId, "sha256-" + t1.diffId}));
  EXPECT_TRUE(*store.has(one));
  EXPECT_FALSE(*store.has(two));
}

}  // namespace
}  // namespace boxd::reconcilers
