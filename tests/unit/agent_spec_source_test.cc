// The specs dir as a careless operator or a stray tool leaves it: every entry that is not a
// regular file within the limit, or that leads outside the snapshot, is that entry's error alone;
// it is never opened for reading, and every other file is read.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/desired.h"
#include "agent/spec_source.h"
#include "common/fd.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

std::string podYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
}

void write(const std::string& path, const std::string& content) {
  ASSERT_TRUE(writeFileAtomic(path, content).ok()) << path;
}

const SpecFile* find(const SpecSnapshot& snap, const std::string& name) {
  for (const SpecFile& f : snap.files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// Counts IN_OPEN events on a path: the proof that boxd never opened it for reading.
class OpenWatch {
 public:
  explicit OpenWatch(const std::string& path) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_GE(inotify_add_watch(fd_.get(), path.c_str(), IN_OPEN | IN_DONT_FOLLOW), 0) << path;
  }
  int opens() {
    alignas(inotify_event) char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n <= 0) return count_;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        count_ += (ev->mask & IN_OPEN) != 0 ? 1 : 0;
        p += sizeof(inotify_event) + ev->len;
      }
    }
  }

 private:
  Fd fd_;
  int count_ = 0;
};

TEST(SpecSourceEntries, AFifoIsReportedAloneAndNeverOpened) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  ASSERT_EQ(::mkfifo((t / "pipe.yaml").c_str(), 0600), 0);
  write(t / "z.yaml", podYaml("z"));
  OpenWatch watch(t / "pipe.yaml");
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->files.size(), 3u);
  EXPECT_EQ(find(*snap, "a.yaml")->content, podYaml("a"));
  EXPECT_EQ(find(*snap, "z.yaml")->content, podYaml("z"));
  const SpecFile* pipe = find(*snap, "pipe.yaml");
  EXPECT_EQ(pipe->error, "not a regular file (a FIFO); not read");
  EXPECT_TRUE(pipe->content.empty());
  EXPECT_EQ(watch.opens(), 0) << "the FIFO was opened";
}

TEST(SpecSourceEntries, ADirectoryNamedYamlIsReportedAlone) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  ASSERT_TRUE(mkdirAll(t / "old.yaml").ok());
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->files.size(), 2u);
  EXPECT_TRUE(find(*snap, "a.yaml")->error.empty());
  EXPECT_EQ(find(*snap, "old.yaml")->error, "not a regular file (a directory); not read");
}

TEST(SpecSourceEntries, ADeviceIsNeverOpenedThroughALinkOrDirectly) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  // A link to a host device leaves the tree: refused before anything is opened.
  ASSERT_EQ(::symlink("/dev/zero", (t / "zero.yaml").c_str()), 0);
  // A FIFO reached through a link inside the tree: followed, then refused by its type.
  ASSERT_EQ(::mkfifo((t / ".pipe").c_str(), 0600), 0);
  ASSERT_EQ(::symlink(".pipe", (t / "pipe.yaml").c_str()), 0);
  bool root = ::geteuid() == 0;
  if (root) {  // a device node in the tree itself (only root can make one)
    ASSERT_EQ(::mknod((t / "null.yaml").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  }
  OpenWatch pipeWatch(t / ".pipe");
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(find(*snap, "a.yaml")->content, podYaml("a"));
  EXPECT_EQ(find(*snap, "zero.yaml")->error,
            "a symlink that leads outside the specs directory; refused, not read");
  EXPECT_EQ(find(*snap, "pipe.yaml")->error, "not a regular file (a FIFO); not read");
  EXPECT_EQ(pipeWatch.opens(), 0);
  if (root) {
    EXPECT_EQ(find(*snap, "null.yaml")->error, "not a regular file (a character device); not read");
  }
}

TEST(SpecSourceEntries, AFileOverTheLimitIsNotRead) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  {
    Fd big(::open((t / "big.yaml").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(big);
    ASSERT_EQ(::ftruncate(big.get(), 50 << 20), 0);  // 50 MB, sparse
  }
  OpenWatch watch(t / "big.yaml");
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(find(*snap, "big.yaml")->error, "larger than 4 MiB (specMaxBytes); not read");
  EXPECT_TRUE(find(*snap, "big.yaml")->content.empty());
  EXPECT_EQ(watch.opens(), 0);
  EXPECT_EQ(find(*snap, "a.yaml")->content, podYaml("a"));
  // The limit is the caller's (the config's specMaxBytes).
  write(t / "small.yaml", std::string(5000, '#'));
  snap = readSpecSnapshot(t.path(), 4096);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(find(*snap, "small.yaml")->error, "larger than 4 KiB (specMaxBytes); not read");
  EXPECT_TRUE(find(*snap, "a.yaml")->error.empty());
}

TEST(SpecSourceEntries, SymlinksLeavingTheTreeAreRefusedWithoutReading) {
  TempDir outside("host");
  write(outside / "shadow", "root:$6$secret-hash:19000:0:99999:7:::\n");
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  ASSERT_EQ(::symlink((outside / "shadow").c_str(), (t / "abs.yaml").c_str()), 0);
  std::string rel = "../" + outside.path().substr(outside.path().rfind('/') + 1) + "/shadow";
  ASSERT_EQ(::symlink(rel.c_str(), (t / "rel.yaml").c_str()), 0);
  // Inside the tree, through a subdirectory and back up: followed.
  ASSERT_TRUE(mkdirAll(t / "pods").ok());
  write(t / "pods/web.yaml", podYaml("web"));
  ASSERT_EQ(::symlink("pods/web.yaml", (t / "web.yaml").c_str()), 0);
  ASSERT_EQ(::symlink("pods/../pods/web.yaml", (t / "web2.yml").c_str()), 0);
  ASSERT_EQ(::symlink("pods/missing.yaml", (t / "gone.yaml").c_str()), 0);
  OpenWatch watch(outside / "shadow");
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  for (const char* name : {"abs.yaml", "rel.yaml"}) {
    const SpecFile* f = find(*snap, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->error, "a symlink that leads outside the specs directory; refused, not read");
    EXPECT_TRUE(f->content.empty());
  }
  EXPECT_EQ(watch.opens(), 0) << "the host file was opened";
  EXPECT_EQ(find(*snap, "web.yaml")->content, podYaml("web"));
  EXPECT_EQ(find(*snap, "web2.yml")->content, podYaml("web"));
  EXPECT_EQ(find(*snap, "gone.yaml")->error, "a symlink to a missing file; not read");
  EXPECT_EQ(find(*snap, "a.yaml")->content, podYaml("a"));
}

TEST(SpecSourceEntries, ALinkOutOfTheSyncedRevisionIsRefused) {
  // git-sync: specs -> .worktrees/rev2; a file in rev2 may not reach into rev1 (or anywhere
  // else outside rev2), while the link that selects the revision is followed as before.
  TempDir t("specs");
  ASSERT_TRUE(mkdirAll(t / ".worktrees/rev1").ok());
  ASSERT_TRUE(mkdirAll(t / ".worktrees/rev2").ok());
  write(t / ".worktrees/rev1/old.yaml", podYaml("old"));
  write(t / ".worktrees/rev2/new.yaml", podYaml("new"));
  ASSERT_EQ(::symlink("../rev1/old.yaml", (t / ".worktrees/rev2/old.yaml").c_str()), 0);
  ASSERT_EQ(::symlink(".worktrees/rev2", (t / "link").c_str()), 0);
  auto snap = readSpecSnapshot(t / "link");
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(snap->revision, "rev2");
  EXPECT_EQ(find(*snap, "new.yaml")->content, podYaml("new"));
  EXPECT_EQ(find(*snap, "old.yaml")->error,
            "a symlink that leads outside the specs directory; refused, not read");
}

TEST(SpecSourceEntries, ConfigMapLayoutStillWorks) {
  // kubelet's atomic writer: files in ..<timestamp>, ..data -> ..<timestamp>, and top-level
  // links key -> ..data/key. The timestamped dir is read; nothing in it is refused.
  TempDir t("specs");
  const std::string ts = "..2026_11_21_10_00_00.123456789";
  ASSERT_TRUE(mkdirAll(t / ts).ok());
  write(t / (ts + "/a.yaml"), podYaml("a"));
  write(t / (ts + "/b.yaml"), podYaml("b"));
  ASSERT_EQ(::symlink(ts.c_str(), (t / "..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/a.yaml", (t / "a.yaml").c_str()), 0);
  ASSERT_EQ(::symlink("..data/b.yaml", (t / "b.yaml").c_str()), 0);
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(snap->revision, ts);
  ASSERT_EQ(snap->files.size(), 2u);
  for (const SpecFile& f : snap->files) EXPECT_TRUE(f.error.empty()) << f.name << ": " << f.error;
  EXPECT_EQ(find(*snap, "b.yaml")->content, podYaml("b"));
}

TEST(SpecSourceEntries, AnUnreadableEntryKeepsItsLastGoodPods) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  write(t / "b.yaml", podYaml("b"));
  LastGood lg;
  auto results = [&](const SpecSnapshot& snap) {
    std::vector<FileResult> out;
    for (const SpecFile& f : snap.files) {
      out.push_back(
          {f.name, f.error.empty() ? specs::parseSpecFile(f.name, f.content) : unreadableFile(f)});
    }
    return out;
  };
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok());
  Desired d = resolveDesired(results(*snap), lg, {});
  ASSERT_EQ(d.pods.size(), 2u);
  // b.yaml is replaced by a FIFO: it is that file's error, and its pod stays.
  ASSERT_EQ(::unlink((t / "b.yaml").c_str()), 0);
  ASSERT_EQ(::mkfifo((t / "b.yaml").c_str(), 0600), 0);
  snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok());
  d = resolveDesired(results(*snap), lg, {});
  EXPECT_EQ(d.pods.size(), 2u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].errors.at(0).str(), "b.yaml: not a regular file (a FIFO); not read");
}

TEST(SpecSourceConfig, SpecMaxBytes) {
  TempDir t;
  Config cfg;
  EXPECT_EQ(cfg.specMaxBytes, kDefaultSpecMaxBytes);
  write(t / "boxd.yaml", "specMaxBytes: 1Mi\n");
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.specMaxBytes, 1u << 20);
  for (const char* bad : {"specMaxBytes: 100\n", "specMaxBytes: 9Mi\n", "specMaxBytes: x\n"}) {
    write(t / "boxd.yaml", bad);
    Status st = loadConfigFile(t / "boxd.yaml", cfg);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find("specMaxBytes"), std::string::npos) << st.error().message;
  }
}

TEST(SpecSourcePass, ParsesOnlyNewHashesAndKeepsNoText) {
  TempDir t("specs");
  write(t / "a.yaml", podYaml("a"));
  write(t / "b.yaml", podYaml("b"));
  ASSERT_EQ(::mkfifo((t / "c.yaml").c_str(), 0600), 0);
  auto first = readAndParseSpecs(t.path(), kDefaultSpecMaxBytes, {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->parsed.size(), 2u) << "the FIFO is not parsed";
  for (const SpecFile& f : first->snap.files) EXPECT_TRUE(f.content.empty()) << f.name;
  std::map<std::string, std::string> known;
  for (const SpecFile& f : first->snap.files) known[f.name] = f.hash;
  write(t / "b.yaml", podYaml("b2"));
  auto second = readAndParseSpecs(t.path(), kDefaultSpecMaxBytes, known);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->parsed.size(), 1u);
  EXPECT_EQ(second->parsed.at("b.yaml").pods.at(0).spec.name, "b2");
}

}  // namespace
}  // namespace boxd::agent
