// securityContext end to end: what a container's processes are (ids, groups, capability sets,
// no_new_privs, seccomp, a read-only root) as `boxctl logs` and `boxctl exec` show them, and a
// runAsNonRoot violation in status and events; fsGroup on an emptyDir and a configMap volume.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

constexpr const char* kLoop = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";
constexpr const char* kShow =
    "id -u; id -g; id -G; grep -E \"^(Cap(Eff|Bnd)|NoNewPrivs|Seccomp):\" /proc/self/status; ";

// "Key:\tvalue" → value ("" if absent).
std::string field(const std::string& text, const std::string& key) {
  for (const auto& line : split(text, '\n')) {
    if (startsWith(line, key + ":")) return trim(line.substr(key.size() + 1));
  }
  return "";
}

std::string hex(uint64_t mask) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(mask));
  return buf;
}

// What a privileged container's sets hold: every capability boxd itself may have (the bounding
// set it inherits, the same as this test's; this host's root lacks SYS_RESOURCE).
uint64_t hostCapabilities() {
  return std::stoull(field(readFile("/proc/self/status").value(), "CapBnd"), nullptr, 16);
}

constexpr uint64_t kDefault = 0x800405fbULL;  // boxd's 11 default capabilities
constexpr uint64_t kNetAdmin = uint64_t{1} << 12;

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  std::string logs(const std::string& c) { return b_.boxctl({"logs", "sec", "-c", c}).out; }
  // Output of the container's first lines (kShow), once they are all there.
  std::string shown(const std::string& c) {
    std::string out;
    waitFor(
        [&] {
          out = logs(c);
          return out.find("Seccomp:") != std::string::npos;
        },
        10000);
    return out;
  }
  CmdResult exec(const std::string& c, const std::string& script) {
    return b_.boxctl({"exec", "sec", "-c", c, "--", "sh", "-c", script});
  }
  Boxd b_;
};

std::string container(const std::string& name, const std::string& context,
                      const std::string& extra = "") {
  return "  - name: " + name + "\n    image: busybox\n    command: [sh, -c, '" + kShow + extra +
         kLoop + "']\n    securityContext: " + context + "\n";
}

TEST_F(SecurityTest, ContainersRunWithTheirUsersAndCapabilities) {
  b_.writeSpec("sec.yaml",
               std::string("apiVersion: v1\nkind: Pod\nmetadata: {name: sec}\nspec:\n"
                           "  terminationGracePeriodSeconds: 1\n"
                           "  securityContext: {supplementalGroups: [4000]}\n"
                           "  volumes: [{name: scratch, emptyDir: {}}]\n"
                           "  containers:\n") +
                   container("plain", "{}") +
                   container("user", "{runAsUser: 1000, runAsGroup: 3000, runAsNonRoot: true}") +
                   container("netadmin", "{capabilities: {add: [NET_ADMIN]}}") +
                   container("dropall", "{capabilities: {drop: [ALL]}}") +
                   container("priv", "{privileged: true}") +
                   container("ro", "{readOnlyRootFilesystem: true}",
                             "touch /x; echo root=$?; touch /data/x; echo data=$?; ") +
                   "    volumeMounts: [{name: scratch, mountPath: /data}]\n");
  ASSERT_TRUE(waitFor([&] { return b_.pod("sec")["ready"] == "6/6"; }, 15000))
      << b_.status().dump(2) << b_.log();

  std::string plain = shown("plain");
  EXPECT_EQ(split(plain, '\n')[0], "0") << plain;
  EXPECT_EQ(field(plain, "CapEff"), hex(kDefault)) << plain;
  EXPECT_EQ(field(plain, "CapBnd"), hex(kDefault)) << plain;
  EXPECT_EQ(field(plain, "NoNewPrivs"), "1") << plain;
  EXPECT_EQ(field(plain, "Seccomp"), "2") << plain;

  std::string user = shown("user");
  auto lines = split(user, '\n');
  ASSERT_GE(lines.size(), 3u) << user;
  EXPECT_EQ(lines[0], "1000");
  EXPECT_EQ(lines[1], "3000");
  EXPECT_EQ(lines[2], "3000 4000");
  EXPECT_EQ(field(user, "CapEff"), hex(0)) << "a non-root user has no effective capabilities";
  EXPECT_EQ(field(user, "CapBnd"), hex(kDefault)) << user;

  EXPECT_EQ(field(shown("netadmin"), "CapEff"), hex(kDefault | kNetAdmin));
  std::string dropall = shown("dropall");
  EXPECT_EQ(field(dropall, "CapEff"), hex(0)) << dropall;
  EXPECT_EQ(field(dropall, "CapBnd"), hex(0)) << dropall;

  std::string priv = shown("priv");
  EXPECT_EQ(field(priv, "CapEff"), hex(hostCapabilities())) << priv;
  EXPECT_EQ(field(priv, "NoNewPrivs"), "0") << priv;
  EXPECT_EQ(field(priv, "Seccomp"), "0") << priv;

  std::string ro = shown("ro");
  EXPECT_NE(ro.find("Read-only file system"), std::string::npos) << ro;
  EXPECT_NE(ro.find("root=1\ndata=0\n"), std::string::npos) << "the emptyDir stays writable\n"
                                                            << ro;

  // exec: the same user, groups, capabilities, no_new_privs and filter as the container.
  CmdResult u = exec("user", kShow);
  ASSERT_EQ(u.code, 0) << u.out;
  EXPECT_EQ(u.out, user.substr(0, u.out.size())) << u.out << "\nvs the container's\n" << user;
  EXPECT_EQ(field(exec("netadmin", kShow).out, "CapEff"), hex(kDefault | kNetAdmin));
  EXPECT_EQ(field(exec("dropall", kShow).out, "CapBnd"), hex(0));
  std::string p = exec("priv", kShow).out;
  EXPECT_EQ(field(p, "CapEff"), hex(hostCapabilities())) << p;
  EXPECT_EQ(field(p, "Seccomp"), "0") << p;
  std::string pl = exec("plain", kShow + std::string("unshare -U true; echo userns=$?")).out;
  EXPECT_EQ(field(pl, "Seccomp"), "2") << pl;
  EXPECT_EQ(field(pl, "NoNewPrivs"), "1") << pl;
  EXPECT_NE(pl.find("userns=1"), std::string::npos) << pl;
  CmdResult w = exec("ro", "touch /y");
  EXPECT_NE(w.code, 0) << w.out;

  b_.removeSpec("sec.yaml");
  ASSERT_TRUE(b_.waitGone("sec"));
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

// kubelet's fsGroup: a supplementary group of the container (and of exec), the group of the
// emptyDirs (setgid: what the container creates gets it too) and of the config files, which
// gain group read (defaultMode 0600 → 0640, readable by uid 1000 through the group).
TEST_F(SecurityTest, FsGroupOwnsTheVolumesAndIsAGroupOfTheContainer) {
  b_.writeSpec("fsg.yaml", std::string(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: fsg-cfg}
data: {app.conf: hello-group}
---
apiVersion: v1
kind: Pod
metadata: {name: sec}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, fsGroup: 2000}
  volumes:
  - {name: data, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: cfg, configMap: {name: fsg-cfg, defaultMode: 0600}}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'id -u; id -G; touch /data/made /mem/made; mkdir /data/dir;
      touch /data/dir/f; stat -c "%g %a %n" /data /data/made /data/dir /data/dir/f /mem
      /mem/made /cfg/..data/. /cfg/..data/app.conf; cat /cfg/app.conf; echo; echo END; )") +
                               kLoop + R"(']
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
    - {name: cfg, mountPath: /cfg}
)");
  ASSERT_TRUE(waitFor([&] { return b_.pod("sec")["ready"] == "1/1"; }, 15000))
      << b_.status().dump(2) << b_.log();
  std::string out;
  waitFor(
      [&] {
        out = logs("app");
        return out.find("END") != std::string::npos;
      },
      10000);
  EXPECT_EQ(out,
            "1000\n"
            "0 2000\n"
            "2000 2777 /data\n"
            "2000 644 /data/made\n"
            "2000 2755 /data/dir\n"
            "2000 644 /data/dir/f\n"
            "2000 2777 /mem\n"
            "2000 644 /mem/made\n"
            "2000 2755 /cfg/..data/.\n"
            "2000 640 /cfg/..data/app.conf\n"
            "hello-group\n"
            "END\n");
  CmdResult ids = exec("app", "id -G; echo x > /data/by-exec; stat -c %g /data/by-exec");
  EXPECT_EQ(ids.out, "0 2000\n2000\n") << "exec runs with the container's groups";

  // On the host: the emptyDir itself, and describe says the walk ran (Always).
  std::string uid = b_.pod("sec")["uid"];
  struct stat st {};
  ASSERT_EQ(::stat((b_.stateDir() + "/pods/" + uid + "/volumes/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 2000u);
  EXPECT_EQ(st.st_mode & 07777, 02777u);
  std::string desc = b_.boxctl({"describe", "sec"}).out;
  EXPECT_NE(desc.find("group 2000: 1 entry walked"), std::string::npos) << desc;

  b_.removeSpec("fsg.yaml");
  ASSERT_TRUE(b_.waitGone("sec"));
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

TEST_F(SecurityTest, RunAsNonRootWithRootDoesNotStartAndSaysWhy) {
  b_.writeSpec("nr.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: nr}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true}
  containers:
  - name: c
    image: busybox
    command: [sleep, "100"]
)");
  ASSERT_TRUE(
      waitFor([&] { return b_.pod("nr")["reason"] == "CreateContainerConfigError"; }, 10000))
      << b_.status().dump(2);
  nlohmann::json pod = b_.pod("nr");
  EXPECT_EQ(pod["phase"], "Pending");
  std::string why =
      "runAsNonRoot is set but the image runs as root (it sets no non-root user: set "
      "runAsUser) (pod nr, container c)";
  EXPECT_EQ(pod["message"], why);
  EXPECT_EQ(pod["containers"][0]["state"], "Waiting");
  EXPECT_EQ(pod["containers"][0]["reason"], "CreateContainerConfigError");
  EXPECT_EQ(pod["containers"][0]["pid"], 0);
  std::string events = b_.boxctl({"events", "nr"}).out;
  EXPECT_NE(events.find("Error: " + why), std::string::npos) << events;
  b_.removeSpec("nr.yaml");
  ASSERT_TRUE(b_.waitGone("nr"));
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

}  // namespace
}  // namespace boxd::testing
