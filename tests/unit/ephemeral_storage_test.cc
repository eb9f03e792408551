// ephemeral-storage (issue 10, disk): the spec fields that used to be refused or ignored, the
// measured usage of a container's trees, and the eviction each usage calls for, with kubelet's
// messages. The end-to-end eviction is LimitsTest.*EphemeralStorage* (integration).
#include "agent/ephemeral_storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "common/util.h"
#include "reconcilers/quota/disk_usage.h"
#include "specs/parse.h"
#include "state/space_reserve.h"
#include "tests/support/pod_spec.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::parsePod;
using boxd::testing::TempDir;

constexpr const char* kPod = R"(  volumes:
  - {name: scratch, emptyDir: {sizeLimit: 4Mi}}
  - {name: cache, emptyDir: {}}
  - {name: shm, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
  containers:
  - name: a
    image: busybox
    resources: {limits: {ephemeral-storage: 10Mi}}
  - name: b
    image: busybox
    resources: {limits: {ephemeral-storage: 6Mi}, requests: {ephemeral-storage: 1Mi}}
)";

TEST(EphemeralStorageSpec, LimitsAndRequestsAreParsedAndKept) {
  specs::PodSpec p = parsePod(kPod);
  ASSERT_EQ(p.containers.size(), 2u);
  EXPECT_EQ(p.containers[0].resources.ephemeralLimitBytes, 10 << 20);
  EXPECT_EQ(p.containers[0].resources.ephemeralRequestBytes, 10 << 20) << "request = limit";
  EXPECT_EQ(p.containers[1].resources.ephemeralRequestBytes, 1 << 20);
  EXPECT_EQ(p.volumes[0].emptyDir->sizeLimitBytes, 4 << 20);
  auto back = specs::fromJson(specs::toJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
  EXPECT_NE(specs::specHash(p), specs::specHash(parsePod(R"(  containers:
  - {name: a, image: busybox}
)")));
}

TEST(EphemeralStorageSpec, AbsentLimitLeavesTheCanonicalJsonOfOlderPodsAlone) {
  specs::PodSpec p = parsePod("  containers:\n  - {name: a, image: busybox}\n");
  const std::string json = specs::toJson(p).dump();
  EXPECT_EQ(json.find("ephemeral"), std::string::npos) << json;
}

TEST(EphemeralStorageSpec, BadQuantitiesAreRefused) {
  specs::ParseResult r =
      specs::parseSpecFile("f.yaml",
                           "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                           "  - name: a\n    image: busybox\n    resources:\n"
                           "      limits: {ephemeral-storage: 1Mi}\n"
                           "      requests: {ephemeral-storage: 2Mi}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].str().find("ephemeral-storage request 2097152 bytes is greater than its "
                                   "limit 1048576 bytes"),
            std::string::npos)
      << r.errors[0].str();
}

TEST(EphemeralStorageJudge, KubeletsOrderAndMessages) {
  specs::PodSpec p = parsePod(kPod);
  StorageUsage u;
  u.containers = {{"a", 1 << 20}, {"b", 1 << 20}};
  u.emptyDirs = {{"scratch", 1 << 20}, {"cache", 1 << 20}};
  EXPECT_FALSE(judgeStorage(p, u, 0));

  u.emptyDirs["scratch"] = (4 << 20) + 1;
  auto e = judgeStorage(p, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"4Mi\".");

  u.emptyDirs["scratch"] = 0;
  u.emptyDirs["cache"] = 15 << 20;  // 1 + 1 + 15 > 16Mi
  e = judgeStorage(p, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "Pod ephemeral local storage usage exceeds the total limit of containers 16Mi.");

  u.emptyDirs["cache"] = 0;
  u.containers["b"] = 7 << 20;
  e = judgeStorage(p, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Container b exceeded its local ephemeral storage limit \"6Mi\".");
  EXPECT_EQ(e->container, "b");
}

TEST(EphemeralStorageJudge, TheConfigDefaultBoundsContainersWithoutALimit) {
  specs::PodSpec p = parsePod("  containers:\n  - {name: a, image: busybox}\n");
  EXPECT_FALSE(hasStorageLimits(p, 0)) << "no limit and no default: nothing to measure";
  ASSERT_TRUE(hasStorageLimits(p, 8 << 20));
  StorageUsage u;
  u.containers = {{"a", 9 << 20}};
  EXPECT_FALSE(judgeStorage(p, u, 0));
  auto e = judgeStorage(p, u, 8 << 20);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "Pod ephemeral local storage usage exceeds the total limit of containers 8Mi.");
}

TEST(EphemeralStorageJudge, QuantitiesPrintAsKubernetesWritesThem) {
  EXPECT_EQ(formatStorageQuantity(10 << 20), "10Mi");
  EXPECT_EQ(formatStorageQuantity(int64_t{10} << 30), "10Gi");
  EXPECT_EQ(formatStorageQuantity(1000000000), "1G");
  EXPECT_EQ(formatStorageQuantity(1500), "1500");
}

TEST(EphemeralStorageConfig, KeysParse) {
  TempDir d("eph");
  ASSERT_TRUE(writeFileAtomic(d / "boxd.yaml",
                              "defaultEphemeralStorageLimit: 1Gi\nstateReserveBytes: 0\n"
                              "ephemeralStorageMaxEntries: 5000\n")
                  .ok());
  Config cfg;
  EXPECT_EQ(cfg.defaultEphemeralStorageLimit, int64_t{10} << 30) << "bounded by default";
  ASSERT_TRUE(loadConfigFile(d / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.defaultEphemeralStorageLimit, int64_t{1} << 30);
  EXPECT_EQ(cfg.stateReserveBytes, 0);
  EXPECT_EQ(cfg.ephemeralStorageMaxEntries, 5000);
}

void writeBytes(const std::string& path, size_t n) {
  std::string data(n, 'x');
  ASSERT_TRUE(writeFileAtomic(path, data).ok());
}

TEST(DiskUsage, CountsAllocatedBlocksOnceWithoutFollowingLinks) {
  TempDir d("du");
  TempDir outside("du-out");
  ASSERT_EQ(::mkdir((d / "tree").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((d / "tree/sub").c_str(), 0755), 0);
  writeBytes(d / "tree/sub/f", 1 << 20);
  ASSERT_EQ(::link((d / "tree/sub/f").c_str(), (d / "tree/f2").c_str()), 0);
  writeBytes(outside / "big", 4 << 20);
  ASSERT_EQ(::symlink(outside.path().c_str(), (d / "tree/out").c_str()), 0);
  int fd = ::open((d / "tree/sparse").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, int64_t{1} << 30), 0);
  ::close(fd);

  auto u = reconcilers::treeUsage(d / "tree", 1000);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_TRUE(u->complete);
  EXPECT_GE(u->bytes, 1 << 20);
  EXPECT_LT(u->bytes, (1 << 20) + (256 << 10))
      << "the hard link counts once, the symlink's target and the sparse hole not at all";

  auto missing = reconcilers::treeUsage(d / "nope", 1000);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->bytes, 0);
}

TEST(DiskUsage, TheWalkIsBounded) {
  TempDir d("du");
  for (int i = 0; i < 50; ++i) writeBytes(d / ("f" + std::to_string(i)), 10);
  auto u = reconcilers::treeUsage(d.path(), 10);
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->complete);
  EXPECT_LE(u->entries, 11);
}

TEST(DiskUsage, ADeepTreeNeitherTakesBoxdsFdsNorPassesUncounted) {
  TempDir d("du");
  int fd = ::open(d.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (size_t i = 0; i < reconcilers::kMaxTreeDepth + 20; ++i) {
    ASSERT_EQ(::mkdirat(fd, "d", 0755), 0);
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::close(fd);
    ASSERT_GE(next, 0);
    fd = next;
  }
  ::close(fd);
  auto u = reconcilers::treeUsage(d.path(), 1000000);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_FALSE(u->complete) << "deeper than the walk goes";
  EXPECT_LE(u->entries, static_cast<int64_t>(reconcilers::kMaxTreeDepth) + 1);

  specs::PodSpec p = parsePod("  containers:\n  - {name: a, image: busybox}\n");
  StorageUsage usage;
  usage.containers = {{"a", 4096}};
  usage.incomplete = "container a";
  auto e = judgeStorage(p, usage, 8 << 20, 1000000);
  ASSERT_TRUE(e) << "what cannot be measured is not let off";
  EXPECT_EQ(e->message,
            "Pod ephemeral local storage usage cannot be measured: container a holds more than "
            "1000000 files or directories, or nests them deeper than 512 levels.");
  EXPECT_FALSE(judgeStorage(p, usage, 0, 1000000)) << "no limit: nothing to enforce";
}

TEST(DiskUsage, LogFilesOfOneContainer) {
  TempDir d("du");
  writeBytes(d / "app.log", 64 << 10);
  writeBytes(d / "app.log.1", 64 << 10);
  writeBytes(d / "app2.log", 1 << 20);
  auto u = reconcilers::filesUsage(d.path(), "app.log");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->entries, 2);
  EXPECT_GE(u->bytes, 128 << 10);
  EXPECT_LT(u->bytes, 1 << 20);
}

TEST(SpaceReserve, HoldsItsBytesAndGivesThemBack) {
  TempDir d("reserve");
  state::SpaceReserve r(d / "reserve", 1 << 20);
  ASSERT_TRUE(r.ensure().ok());
  EXPECT_TRUE(r.held());
  struct stat st {};
  ASSERT_EQ(::stat((d / "reserve").c_str(), &st), 0);
  EXPECT_GE(st.st_blocks * 512, 1 << 20) << "allocated, not sparse";
  EXPECT_TRUE(r.release());
  EXPECT_FALSE(r.held());
  EXPECT_NE(::access((d / "reserve").c_str(), F_OK), 0);
  EXPECT_FALSE(r.release()) << "nothing left to give";
}

}  // namespace
}  // namespace boxd::agent
