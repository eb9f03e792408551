// OCI images end to end on the real kernel: a three-layer image built here (busybox, then a
// layer of files, then one that deletes a file and makes a directory opaque, with a config
// giving Entrypoint, Cmd, Env, WorkingDir and User), imported with boxctl as an OCI layout, run
// by pods with the Kubernetes command/args semantics; image ls/rm/prune, describe, and a
// re-tagged image that leaves the running pod on the image it started from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "common/util.h"
#include "tests/integration/harness.h"
#include "tests/support/oci_builder.h"

namespace boxd::testing {
namespace {

using nlohmann::json;

// The busybox rootfs as an uncompressed layer.
BuiltLayer busyboxLayer(const std::string& work) {
  const std::string tar = work + "/busybox.tar";
  auto r = run({"tar", "-C", busyboxRootfs(), "--numeric-owner", "-cf", tar, "."}, 120000);
  EXPECT_EQ(r.code, 0) << r.out;
  auto bytes = readFile(tar);
  BuiltLayer l;
  l.blob = bytes.ok() ? *bytes : "";
  l.diffId = sha256Of(l.blob);
  l.mediaType = "application/vnd.oci.image.layer.v1.tar";
  return l;
}

BuiltLayer filesLayer() {
  return buildLayer({{"a/", AE_IFDIR, 0755},
                     {"a/keep", AE_IFREG, 0644, "kept\n"},
                     {"a/gone", AE_IFREG, 0644, "deleted above\n"},
                     {"d/", AE_IFDIR, 0755},
                     {"d/old", AE_IFREG, 0644, "hidden by the opaque dir\n"}},
                    Compression::Gzip);
}

BuiltLayer upperLayer(const std::string& marker) {
  return buildLayer({{"a/", AE_IFDIR, 0755},
                     {"a/.wh.gone", AE_IFREG, 0644, ""},
                     {"d/", AE_IFDIR, 0755},
                     {"d/.wh..wh..opq", AE_IFREG, 0644, ""},
                     {"d/new", AE_IFREG, 0644, marker + "\n"},
                     {"app/", AE_IFDIR, 0777},
                     {"etc/", AE_IFDIR, 0755},
                     {"etc/passwd", AE_IFREG, 0644,
                      "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/app:/bin/sh\n"},
                     {"etc/group", AE_IFREG, 0644, "root:x:0:\napp:x:2345:\n"}},
                    Compression::Gzip);
}

const json kConfig = {{"Entrypoint", {"/bin/sh", "-c"}},
                      {"Cmd",
                       {"echo user=$(id -u):$(id -g) cwd=$(pwd) greeting=$GREETING; ls /a /d; "
                        "test -e /a/gone || echo gone-is-gone; cat /d/new; sleep 3600"}},
                      {"Env", {"GREETING=from-image", "PATH=/bin:/sbin"}},
                      {"WorkingDir", "/app"},
                      {"User", "app"}};

std::string podSpec(const std::string& name, const std::string& extra = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n"
         "    image: example.com/layered:1.0\n" +
         extra;
}

class ImagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_->start();
    ASSERT_TRUE(b_->running()) << b_->log();
  }

  // A layout of one image; returns its manifest digest.
  std::string writeLayout(const std::string& dir, const std::string& marker) {
    OciLayout layout(dir);
    return layout.addImage({busybox_, filesLayer(), upperLayer(marker)}, kConfig,
                           "example.com/layered:1.0");
  }

  std::string logs(const std::string& pod) { return b_->boxctl({"logs", pod, "-c", "c"}).out; }

  std::unique_ptr<Boxd> b_ = std::make_unique<Boxd>();
  TempDir work_{"images-it"};
  BuiltLayer busybox_ = busyboxLayer(work_.path());
};

TEST_F(ImagesTest, ALayeredImageRunsWithItsConfigAndWhiteoutsHonoured) {
  const std::string digest = writeLayout(work_ / "layout", "first");
  auto imp = b_->boxctl({"image", "import", work_ / "layout"}, 180000);
  ASSERT_EQ(imp.code, 0) << imp.out;
  EXPECT_NE(imp.out.find("imported example.com/layered:1.0"), std::string::npos) << imp.out;
  EXPECT_NE(imp.out.find("3 new layers"), std::string::npos) << imp.out;

  b_->writeSpec("img.yaml", podSpec("img", "    env: [{name: EXTRA, value: pod}]\n"));
  ASSERT_TRUE(b_->waitPhase("img", "Running", 20000)) << b_->status().dump(2) << b_->log();
  ASSERT_TRUE(waitFor([&] { return logs("img").find("first") != std::string::npos; }, 10000))
      << logs("img");
  const std::string out = logs("img");
  EXPECT_NE(out.find("user=1234:2345 cwd=/app greeting=from-image"), std::string::npos) << out;
  EXPECT_NE(out.find("gone-is-gone"), std::string::npos) << out;  // whiteout
  EXPECT_NE(out.find("keep"), std::string::npos) << out;
  EXPECT_EQ(out.find("old"), std::string::npos) << out;  // opaque dir hides the lower d/old
  EXPECT_EQ(out.find("deleted above"), std::string::npos) << out;

  auto desc = b_->boxctl({"describe", "img"});
  EXPECT_NE(desc.out.find("Digest:    sha256:" + digest), std::string::npos) << desc.out;
  EXPECT_NE(desc.out.find("Command:   /bin/sh -c echo user="), std::string::npos) << desc.out;
  EXPECT_NE(desc.out.find("User:      1234:2345"), std::string::npos) << desc.out;
  // exec runs as the container's (image) user, with its environment.
  auto ex = b_->boxctl({"exec", "img", "-c", "c", "--", "sh", "-c", "echo $(id -u) $GREETING"});
  EXPECT_NE(ex.out.find("1234 from-image"), std::string::npos) << ex.out;

  // The Kubernetes table: args only → Entrypoint + args; command → the image's ignored.
  b_->writeSpec("args.yaml", podSpec("args", "    args: [\"echo args-only; sleep 3600\"]\n"));
  b_->writeSpec("cmd.yaml",
                podSpec("cmd",
                        "    command: [/bin/sh, -c, \"echo cmd-$(id -u); sleep 3600\"]\n"
                        "    securityContext: {runAsUser: 4321}\n"));
  ASSERT_TRUE(b_->waitPhase("args", "Running", 20000)) << b_->status().dump(2);
  ASSERT_TRUE(b_->waitPhase("cmd", "Running", 20000)) << b_->status().dump(2);
  EXPECT_TRUE(waitFor([&] { return logs("args").find("args-only") != std::string::npos; }, 10000))
      << logs("args");
  EXPECT_TRUE(waitFor([&] { return logs("cmd").find("cmd-4321") != std::string::npos; }, 10000))
      << logs("cmd");
}

TEST_F(ImagesTest, LsRmPruneAndARetaggedImageLeavesRunningPodsAlone) {
  writeLayout(work_ / "v1", "first");
  ASSERT_EQ(b_->boxctl({"image", "import", work_ / "v1"}, 180000).code, 0);
  b_->writeSpec("img.yaml", podSpec("img"));
  ASSERT_TRUE(b_->waitPhase("img", "Running", 20000)) << b_->status().dump(2) << b_->log();
  auto d1 = b_->boxctl({"describe", "img"}).out;

  // v2 under the same tag: only its top layer is new.
  writeLayout(work_ / "v2", "second");
  auto imp = b_->boxctl({"image", "import", work_ / "v2"}, 180000);
  ASSERT_EQ(imp.code, 0) << imp.out;
  EXPECT_NE(imp.out.find("1 new layers"), std::string::npos) << imp.out;
  auto ls = b_->boxctl({"image", "ls"});
  EXPECT_NE(ls.out.find("example.com/layered"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("<none>"), std::string::npos) << ls.out;  // v1, kept for the pod
  EXPECT_NE(ls.out.find("SHARED"), std::string::npos) << ls.out;

  // The running pod stays on v1, through a boxd restart too.
  b_->stop();
  b_->start();
  ASSERT_TRUE(b_->waitPhase("img", "Running", 20000)) << b_->log();
  auto prune = b_->boxctl({"image", "prune"});
  EXPECT_EQ(prune.code, 0) << prune.out;
  EXPECT_NE(prune.out.find("removed 0 images"), std::string::npos) << prune.out;
  auto d2 = b_->boxctl({"describe", "img"}).out;
  auto idLine = [](const std::string& d) {
    auto at = d.find("Image ID:");
    return at == std::string::npos ? std::string() : d.substr(at, d.find('\n', at) - at);
  };
  EXPECT_FALSE(idLine(d1).empty()) << d1;
  EXPECT_EQ(idLine(d1), idLine(d2));
  EXPECT_TRUE(waitFor([&] { return logs("img").find("first") != std::string::npos; }, 10000));
  auto ex = b_->boxctl({"exec", "img", "-c", "c", "--", "id", "-u"});  // after the restart too
  EXPECT_EQ(trim(ex.out), "1234") << ex.out;

  auto rm = b_->boxctl({"image", "rm", "example.com/layered:1.0"});
  EXPECT_NE(rm.code, 0);
  EXPECT_NE(rm.out.find("is used by pod img"), std::string::npos) << rm.out;

  // Once the pod is gone, prune removes v1 and its unique top layer; v2 stays.
  b_->removeSpec("img.yaml");
  ASSERT_TRUE(b_->waitGone("img", 20000)) << b_->log();
  prune = b_->boxctl({"image", "prune"});
  EXPECT_NE(prune.out.find("removed 1 images, 1 layers"), std::string::npos) << prune.out;
  rm = b_->boxctl({"image", "rm", "example.com/layered:1.0"});
  EXPECT_EQ(rm.code, 0) << rm.out;
  EXPECT_EQ(b_->boxctl({"image", "ls"}).out.find("layered"), std::string::npos);
}

// The hex SHA-256 of a file, streamed.
std::string fileSha256(const std::string& path) {
  reconcilers::Sha256Stream h;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::vector<char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.add(buf.data(), n);
  std::fclose(f);
  return h.hex();
}

std::vector<std::string> temporaries(const std::string& images) {
  std::vector<std::string> out;
  for (const auto& n : split(run({"ls", "-A", images}).out, '\n'))
    if (startsWith(n, ".tmp-")) out.push_back(n);
  return out;
}

TEST_F(ImagesTest, KillNineMidImportLeavesOnlyTemporariesThatStartRemoves) {
  // A layer of 1.5 GB of zeros: small as a gzip blob, seconds to unpack.
  const std::string src = work_ / "big", tar = work_ / "big.tar";
  ASSERT_TRUE(mkdirAll(src).ok());
  ASSERT_EQ(run({"truncate", "-s", "1500M", src + "/zeros"}).code, 0);
  ASSERT_EQ(run({"tar", "-C", src, "--numeric-owner", "-cf", tar, "."}, 120000).code, 0);
  const std::string diffId = fileSha256(tar);
  ASSERT_EQ(run({"gzip", "-1", tar}, 120000).code, 0);
  auto blob = readFile(tar + ".gz");
  ASSERT_TRUE(blob.ok());
  (void)removeAll(src);
  OciLayout layout(work_ / "layout");
  layout.addImage(
      {busybox_, BuiltLayer{*blob, diffId, "application/vnd.oci.image.layer.v1.tar+gzip"}}, kConfig,
      "example.com/big:1");
  const std::string images = b_->stateDir() + "/images";
  std::thread importer([&] { b_->boxctl({"image", "import", work_ / "layout"}, 120000); });
  const bool midway = waitFor(
      [&] {
        for (const auto& t : temporaries(images))
          if (::access((images + "/" + t + "/fs/zeros").c_str(), F_OK) == 0) return true;
        return false;
      },
      60000);
  b_->kill9();
  importer.join();
  ASSERT_TRUE(midway) << "the import never reached the big layer";
  EXPECT_FALSE(temporaries(images).empty());  // what the crash left

  b_->start();
  ASSERT_TRUE(b_->running()) << b_->log();
  EXPECT_TRUE(temporaries(images).empty());
  EXPECT_EQ(run({"ls", images + "/layers"}).out.find("sha256-" + diffId), std::string::npos);
  EXPECT_EQ(b_->boxctl({"image", "ls"}).out.find("big"), std::string::npos);
}

TEST_F(ImagesTest, AHostUpgradedFromTheWholeRootfsStoreKeepsItsImages) {
  b_->importBusybox();
  b_->stop();
  // Put the store back in the layout of earlier versions: images/<tree hash>/rootfs.
  const std::string images = b_->stateDir() + "/images";
  std::string hex;
  auto list = run({"ls", images + "/layers"});
  for (const auto& n : split(list.out, '\n'))
    if (startsWith(n, "tree-")) hex = n.substr(5);
  ASSERT_EQ(hex.size(), 64u) << list.out;
  ASSERT_TRUE(mkdirAll(images + "/" + hex).ok());
  ASSERT_EQ(::rename((images + "/layers/tree-" + hex + "/fs").c_str(),
                     (images + "/" + hex + "/rootfs").c_str()),
            0);
  ASSERT_TRUE(removeAll(images + "/layers").ok());
  ASSERT_TRUE(removeAll(images + "/images").ok());

  b_->start();
  ASSERT_TRUE(b_->running()) << b_->log();
  b_->writeSpec("old.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: old}\nspec:\n"
                "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n"
                "    image: busybox\n    command: [sh, -c, \"echo upgraded; sleep 3600\"]\n");
  ASSERT_TRUE(b_->waitPhase("old", "Running", 20000)) << b_->status().dump(2) << b_->log();
  EXPECT_TRUE(waitFor([&] { return logs("old").find("upgraded") != std::string::npos; }, 10000))
      << logs("old");
  EXPECT_FALSE(::access((images + "/" + hex).c_str(), F_OK) == 0);
  EXPECT_NE(b_->boxctl({"image", "ls"}).out.find(hex.substr(0, 12)), std::string::npos);
}

}  // namespace
}  // namespace boxd::testing
