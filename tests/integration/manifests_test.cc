// Real manifests run unchanged: every file of tests/data/manifests (equivalents of the Kubernetes
// documentation's examples, see its README) dropped into one specs dir of one boxd. The table
// below says, file by file, what each document is for: a pod runs and shows it (its output, a
// file in its volume, its probe, its cgroup, its user and capabilities, Completed for a pod that
// runs once), or the document is reported skipped or refused with its file:line. Every file of
// the directory has a row, every pod boxd runs is expected by one, and every skipped document
// and error is listed: nothing is silently dropped. Then a ConfigMap is changed (the volume
// follows in place, the pod is not recreated), and a pod waits for a ConfigMap that appears later.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

using nlohmann::json;

const std::string kDir = std::string(BOXD_TEST_SOURCE_DIR) + "/tests/data/manifests";
constexpr int kWaitMs = 40000;       // each check; the pods start together, so most pass at once
constexpr int kCronWaitMs = 100000;  // a CronJob's first Job comes at the next minute

// BOXD_MANIFESTS=a.yaml,b.yaml runs those files only (to look at one while fixing it).
bool selected(const std::string& file) {
  const char* only = std::getenv("BOXD_MANIFESTS");
  if (only == nullptr || *only == '\0') return true;
  return ("," + std::string(only) + ",").find("," + file + ",") != std::string::npos;
}

class ManifestsTest;
// A check of one pod: "" when it holds, else what was seen.
using PodCheck = std::function<std::string(ManifestsTest&, const std::string& pod)>;

// What one pod of a file must show. `pod` is "NAME" or "NS/NAME"; `owner` ("Deployment/front")
// with `replicas` stands for the pods of a workload, whose names carry a hash. An owner ending in
// "*" (the Jobs of a CronJob, "Job/minutely-greeting-*") matches by prefix, and `replicas` is then
// the least number of pods: more come as the schedule goes on; the first one is checked.
struct PodWant {
  std::string pod;
  std::string phase = "Running";
  std::vector<PodCheck> checks;
  std::string owner;
  int replicas = 0;
};

struct FileWant {
  std::string file;
  std::vector<PodWant> pods;
  std::vector<std::string> skipped;  // "file:line:col: ..." as boxctl status shows them
  std::vector<std::string> refused;  // spec errors, "file:line:col: field: message"
};

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  void start() {
    // node-selector.yaml asks for a node labelled disktype=ssd: label this one so.
    b_.addConfig("nodeLabels:\n  disktype: ssd\n");
    b_.start();
    b_.importBusybox();
  }
  // As a user would: a file holding a Secret is chmod 600.
  void copyAll() {
    for (const std::string& name : yamlFiles()) {
      auto text = readFile(kDir + "/" + name);
      ASSERT_TRUE(text.ok()) << name;
      bool secret = text->find("kind: Secret") != std::string::npos;
      ASSERT_TRUE(writeFileAtomic(b_.specs() + "/" + name, *text, secret ? 0600 : 0644).ok());
    }
  }

 public:
  static std::vector<std::string> yamlFiles() {
    std::vector<std::string> out;
    DIR* d = ::opendir(kDir.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (endsWith(name, ".yaml") && selected(name)) out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string logs(const std::string& pod) { return b_.boxctl({"logs", pod}).out; }
  std::string exec(const std::string& pod, const std::string& cmd, const std::string& c = "") {
    std::vector<std::string> argv = {"exec", pod};
    if (!c.empty()) argv.insert(argv.end(), {"-c", c});
    argv.insert(argv.end(), {"--", "sh", "-c", cmd});
    return b_.boxctl(argv).out;
  }
  json container(const std::string& pod, const std::string& name, bool init = false) {
    json p = b_.pod(pod);
    if (!p.is_object()) return nullptr;
    for (const auto& c : p.value(init ? "initContainers" : "containers", json::array())) {
      if (c["name"] == name) return c;
    }
    return nullptr;
  }
  // A file of the container's cgroup in one v1 hierarchy ("memory", "cpu"), found from the
  // cgroup.procs files describe lists for exec.
  std::string cgroupFile(const std::string& pod, const std::string& c, const std::string& hierarchy,
                         const std::string& file) {
    auto r = b_.boxctl({"describe", pod, "-o", "json"});
    json d = json::parse(r.out, nullptr, false);
    if (!d.is_object()) return "<describe: " + r.out + ">";
    for (const auto& cj : d.value("containers", json::array())) {
      if (cj["name"] != c) continue;
      for (const auto& procs : cj.value("cgroupProcs", json::array())) {
        std::string path = procs.get<std::string>();
        bool match = path.find("/" + hierarchy + "/") != std::string::npos ||
                     path.find("/" + hierarchy + ",") != std::string::npos;
        if (!match) continue;
        auto text = readFile(path.substr(0, path.rfind('/')) + "/" + file);
        return text.ok() ? trim(*text) : "<" + text.error().message + ">";
      }
    }
    return "<no " + hierarchy + " cgroup for " + pod + "/" + c + ">";
  }
  Boxd b_;
};

// --- the kinds of checks the table uses ---------------------------------------------------------

// The container's output (its only container) is exactly `want`.
PodCheck logsAre(std::string want) {
  return [want](ManifestsTest& t, const std::string& pod) {
    std::string got;
    if (waitFor([&] { return (got = t.logs(pod)) == want; }, kWaitMs)) return std::string();
    return "logs " + got + " want " + want;
  };
}

// `sh -c cmd` run in the pod (its first container, or `c`) prints exactly `want`.
PodCheck execIs(std::string cmd, std::string want, std::string c = "") {
  return [cmd, want, c](ManifestsTest& t, const std::string& pod) {
    std::string got;
    if (waitFor([&] { return (got = t.exec(pod, cmd, c)) == want; }, kWaitMs)) return std::string();
    return "exec `" + cmd + "` gave " + got + " want " + want;
  };
}

PodCheck cgroupIs(std::string c, std::string hierarchy, std::string file, std::string want) {
  return [=](ManifestsTest& t, const std::string& pod) {
    std::string got = t.cgroupFile(pod, c, hierarchy, file);
    return got == want ? std::string() : hierarchy + "/" + file + " = " + got + " want " + want;
  };
}

// No memory limit: cgroup v1's "unlimited" is the largest page-aligned value.
PodCheck noMemoryLimit(std::string c) {
  return [c](ManifestsTest& t, const std::string& pod) {
    std::string got = t.cgroupFile(pod, c, "memory", "memory.limit_in_bytes");
    bool unlimited = !got.empty() && std::isdigit(static_cast<unsigned char>(got[0])) &&
                     std::stoull(got) > (1ULL << 62);
    return unlimited ? std::string() : "memory.limit_in_bytes = " + got + ", want unlimited";
  };
}

// A container field of the status (reason, exitCode...) or of its last state reaches `want`.
PodCheck containerHas(std::string c, std::function<bool(const json&)> pred, std::string what,
                      bool init = false) {
  return [=](ManifestsTest& t, const std::string& pod) {
    json got;
    if (waitFor([&] { return pred(got = t.container(pod, c, init)); }, kWaitMs))
      return std::string();
    return "container " + c + ": want " + what + ", got " + got.dump();
  };
}

// The liveness probe kept the container while its health file was there (`healthyMs`), then
// failed and had it restarted: the run before the restart lasted at least that long.
PodCheck restartedAfter(std::string c, int64_t healthyMs) {
  return containerHas(
      c,
      [healthyMs](const json& j) {
        if (!j.is_object() || j.value("restarts", 0) < 1 || !j.contains("lastState")) return false;
        const json& l = j["lastState"];
        return l.value("finishedAtMs", int64_t{0}) - l.value("startedAtMs", int64_t{0}) >=
               healthyMs;
      },
      "restarted by its liveness probe after at least " + std::to_string(healthyMs) + " ms");
}

PodCheck initCompleted(std::string c) {
  return containerHas(
      c,
      [](const json& j) {
        return j.is_object() && j["state"] == "Terminated" && j["exitCode"] == 0 &&
               j["reason"] == "Completed";
      },
      "Terminated, Completed, exit code 0", true);
}

// Both containers ready: the app and its sidecar (sidecars count in READY).
PodCheck ready2() {
  return [](ManifestsTest& t, const std::string& pod) {
    json p;
    if (waitFor([&] { return (p = t.b_.pod(pod)).is_object() && p["ready"] == "2/2"; }, kWaitMs))
      return std::string();
    return "not 2/2 ready: " + p.dump();
  };
}

PodCheck ready() {
  return [](ManifestsTest& t, const std::string& pod) {
    json p;
    bool ok = waitFor(
        [&] {
          p = t.b_.pod(pod);
          if (!p.is_object() || p["ready"] != "1/1") return false;
          for (const auto& c : p["conditions"])
            if (c["type"] == "Ready") return c["status"] == "True";
          return false;
        },
        kWaitMs);
    return ok ? std::string() : "not Ready: " + p.dump();
  };
}

// /proc/1/status lines of the container's first process, e.g. "Uid|Gid|Groups".
std::string statusLines(const std::string& keys) {
  return "grep -E '^(" + keys + "):' /proc/1/status | tr -s '\\t ' ' '";
}

// --- the table
// ------------------------------------------------------------------------------------

std::vector<FileWant> table() {
  auto host = [](const std::string& path) {
    auto r = readFile(path);
    return r.ok() ? *r : std::string("<unreadable>");
  };
  char hostname[256] = {};
  (void)::gethostname(hostname, sizeof hostname - 1);
  const std::string kSkip = " is not run by boxd; skipped";
  return {
      {"apparmor-annotation.yaml",
       {},
       {},
       {"apparmor-annotation.yaml:7:9: metadata.annotations.container.apparmor.security.beta."
        "kubernetes.io/app: boxd does not apply AppArmor profiles, so it cannot run this "
        "container confined by \"localhost/deny-all-writes\"; remove the annotation (or set it "
        "to \"unconfined\")"}},
      {"commands.yaml", {{"cmd-args", "Succeeded", {logsAre("good morning from cmd-args\n")}}}},
      {"configmap-env-multiple.yaml",
       {{"cm-env-two", "Succeeded", {logsAre("LOG_VERBOSITY=DEBUG\nTUNE_MODE=aggressive\n")}}}},
      {"configmap-env-valuefrom.yaml",
       {{"cm-in-command", "Succeeded", {logsAre("today: cloudy and gusty\n")}}}},
      {"configmap-server-config.yaml",
       {{"kv-server",
         "Running",
         {logsAre("primary=yes\nmax-entries 500\neviction oldest\n"),
          execIs("cat /data/state", "started\n"),
          cgroupIs("kv", "cpu", "cpu.cfs_quota_us", "10000")}}}},
      {"configmap-volume-keys.yaml",
       {{"cm-all-keys", "Succeeded", {logsAre("PRIMARY\nSECONDARY\n")}},
        {"cm-one-key", "Succeeded", {logsAre("red")}}}},
      {"configmap-volume.yaml",
       {{"cm-volume",
         "Running",
         {logsAre("3\ndifficulty=hard\nenemies=bats,ghosts\n"),
          execIs("touch /etc/game/x 2>&1 | grep -c Read-only", "1\n")}}}},
      {"cpu-limit.yaml",
       {{"cpu-demo/cpu-bounded",
         "Running",
         {logsAre("spun\n"), cgroupIs("spin", "cpu", "cpu.cfs_quota_us", "100000"),
          cgroupIs("spin", "cpu", "cpu.shares", "512")}}}},
      // A Job every minute: the first one's pod (at the next minute) greets.
      {"cronjob.yaml",
       {{"",
         "Succeeded",
         {[](ManifestsTest& t, const std::string& pod) {
           std::string logs = t.b_.boxctl({"logs", pod}).out;
           return logs.find("greetings from boxd\n") != std::string::npos ? "" : logs;
         }},
         "Job/minutely-greeting-*",
         1}}},
      {"daemonset.yaml",
       {{"",
         "Running",
         {execIs("cat /var/log/machine-id.log", host("/etc/machine-id"), "idle")},
         "DaemonSet/node-id",
         1}}},
      {"dapi-envars-fieldref.yaml",
       {{"env-fields", "Succeeded", {[hostname](ManifestsTest& t, const std::string& pod) {
           std::string ip = t.b_.pod(pod).value("podIP", "?");
           return logsAre("node=" + std::string(hostname) +
                          "\npod=env-fields ns=default\nip=" + ip + "\nsa=[]\n")(t, pod);
         }}}}},
      {"dapi-envars-resources.yaml",
       {{"env-resources", "Succeeded", {logsAre("cpu=1/1 mem=16777216/50331648\n")}}}},
      {"dependent-envars.yaml",
       {{"dependent-env",
         "Running",
         {logsAre("early=$(SCHEME)://10.9.8.7:8443\nurl=https://10.9.8.7:8443\n"
                  "escaped=$(SCHEME)://10.9.8.7\n")}}}},
      {"deployment-service.yaml",
       {{"",
         "Running",
         {[](ManifestsTest& t, const std::string& pod) {
           std::string name = pod.substr(pod.find('/') + 1);
           return execIs("wget -qO- http://127.0.0.1:80/", name + "\n")(t, pod);
         }},
         "Deployment/front",
         3}},
       {"deployment-service.yaml:4:1: kind Service (v1) \"front-svc\"" + kSkip}},
      {"downward-api.yaml",
       {{"downward",
         "Running",
         {logsAre("tier=\"web\"\nzone=\"north\"\nowner=\"team-a\"\n32\n"
                  "name=downward ns=default cpu=250\n")}}}},
      {"envars.yaml",
       {{"plain-env",
         "Running",
         {execIs("echo \"$WELCOME_LINE\"; echo \"$PARTING_LINE\"",
                 "Welcome, traveller\nUntil next time\n")}}}},
      {"envfrom.yaml",
       {{"envfrom",
         "Running",
         {logsAre("summary=production/4/$(UNDEFINED)/$(APP_MODE)\narg=production\n")}}}},
      {"extended-resource.yaml",
       {},
       {},
       {"extended-resource.yaml:14:9: spec.containers[0].resources.requests[\"example.org/"
        "widget\"]: resource \"example.org/widget\" is not supported by boxd (only cpu, memory "
        "and ephemeral-storage)",
        "extended-resource.yaml:16:9: spec.containers[0].resources.limits[\"example.org/"
        "widget\"]: resource \"example.org/widget\" is not supported by boxd (only cpu, memory "
        "and ephemeral-storage)"}},
      {"init-containers.yaml",
       {{"init-web",
         "Running",
         {initCompleted("fetch-page"),
          execIs("wget -qO- http://127.0.0.1:80/", "<h1>page made at init</h1>\n")}}}},
      // The Job's one pod runs to completion.
      {"job.yaml", {{"", "Succeeded", {logsAre("sum=5050\n")}, "Job/series-sum", 1}}},
      {"lifecycle-hooks.yaml",
       {{"hooks", "Running", {execIs("cat /usr/share/hook-note", "written by postStart\n")}}}},
      {"memory-limit.yaml",
       {{"mem-demo/mem-within",
         "Running",
         {logsAre("allocated\n"),
          cgroupIs("alloc", "memory", "memory.limit_in_bytes", "67108864")}},
        {"mem-demo/mem-over",
         "Running",
         {containerHas(
             "alloc",
             [](const json& j) {
               return j.is_object() && (j.value("reason", "") == "OOMKilled" ||
                                        (j.contains("lastState") &&
                                         j["lastState"].value("reason", "") == "OOMKilled"));
             },
             "OOMKilled (now or as its last state)")}}}},
      {"namespace-limitrange.yaml",
       {{"team-dev/no-limits-given", "Running", {noMemoryLimit("app")}}},
       {"namespace-limitrange.yaml:6:1: kind Namespace (v1) \"team-dev\"" + kSkip,
        "namespace-limitrange.yaml:13:1: kind LimitRange (v1) \"mem-defaults\"" + kSkip}},
      // The node has no region label: Pending, as the scheduler would leave it.
      {"node-affinity.yaml",
       {{"picky", "Pending", {[](ManifestsTest& t, const std::string& pod) {
           json p;
           if (waitFor(
                   [&] {
                     p = t.b_.pod(pod);
                     return p.is_object() && p.value("reason", "") == "Unschedulable" &&
                            p.value("message", "")
                                    .find("didn't match Pod's node affinity/selector") !=
                                std::string::npos;
                   },
                   kWaitMs))
             return std::string();
           return "not Unschedulable by node affinity: " + p.dump();
         }}}}},
      {"node-selector.yaml", {{"on-ssd", "Running", {ready()}}}},
      {"private-registry.yaml", {{"private-image", "Running", {logsAre("private image ran\n")}}}},
      {"probe-exec-liveness.yaml", {{"live-exec", "Running", {restartedAfter("app", 3000)}}}},
      {"probe-grpc.yaml",
       {{"live-grpc",
         "Running",
         {containerHas(
             "server",
             [](const json& j) {
               return j.is_object() && j.contains("lastState") &&
                      j["lastState"]
                              .value("message", "")
                              .find("Liveness probe failed: timeout: failed to connect service") !=
                          std::string::npos;
             },
             "restarted by its failing gRPC liveness probe")}}}},
      {"probe-http-liveness.yaml", {{"live-http", "Running", {restartedAfter("app", 3000)}}}},
      {"probe-tcp.yaml", {{"tcp-ready", "Running", {ready()}}}},
      {"projected-sa-token.yaml",
       {},
       {},
       {"projected-sa-token.yaml:22:9: spec.volumes[0].projected.sources[0].serviceAccountToken: "
        "service account tokens are not supported by boxd (there is no API server to issue "
        "them)"}},
      {"projected-secret-modes.yaml",
       {{"projected-modes",
         "Running",
         {execIs("cat /projected/group/user; echo; stat -L -c %a /projected/group/user "
                 "/projected/group/pass",
                 "operator\n644\n777\n")}}}},
      {"projected.yaml",
       {{"projected",
         "Running",
         {logsAre("blue\nprojected\napi-key\n"),
          execIs("stat -L -c %a /all/creds/api-key", "644\n")}}}},
      {"pv-claim-pod.yaml",
       {},
       {"pv-claim-pod.yaml:4:1: kind PersistentVolume (v1) \"local-pv\"" + kSkip,
        "pv-claim-pod.yaml:19:1: kind PersistentVolumeClaim (v1) \"local-claim\"" + kSkip},
       {"pv-claim-pod.yaml:47:5: spec.volumes[0].persistentVolumeClaim: volume type "
        "persistentVolumeClaim is not supported by boxd; boxd has no PersistentVolumeClaims: use "
        "an iscsi or rbd volume (or hostPath) in the pod itself"}},
      {"qos-burstable.yaml",
       {{"qos-demo/qos-mixed", "Running", {noMemoryLimit("first"), noMemoryLimit("second")}}}},
      {"qos-guaranteed.yaml",
       {{"qos-demo/qos-equal",
         "Running",
         {cgroupIs("app", "memory", "memory.limit_in_bytes", "100663296"),
          cgroupIs("app", "cpu", "cpu.cfs_quota_us", "60000"),
          cgroupIs("app", "cpu", "cpu.shares", "614")}}}},
      {"replicaset.yaml",
       {{"", "Running", {logsAre("front up\n")}, "ReplicaSet/shop-front", 2}},
       {"replicaset.yaml:27:1: kind ReplicationController (v1) \"legacy-rc\"" + kSkip}},
      {"seccomp-default.yaml",
       {{"seccomp-rt",
         "Running",
         {execIs(statusLines("Seccomp|NoNewPrivs"), "NoNewPrivs: 1\nSeccomp: 2\n")}}}},
      {"secret-env-multiple.yaml",
       {{"secret-env-two", "Succeeded", {logsAre("cache=8 queue=13\n")}}}},
      {"secret-env.yaml",
       {{"secret-env",
         "Running",
         {logsAre("user=shop\npass-length=12\n"),
          execIs("stat -L -c %a /creds/password; cat /creds/username", "600\nshop"),
          execIs("grep ' /creds ' /proc/mounts | cut -d' ' -f3", "tmpfs\n")}}}},
      {"secret-envfrom.yaml",
       {{"secret-envfrom", "Running", {logsAre("user=robot token-length=9\n")}}}},
      {"secret-volume.yaml",
       {{"secret-files",
         "Running",
         {logsAre("passphrase\nuser\n"), execIs("cat /var/run/login/user", "alice")}}}},
      {"security-context-capabilities.yaml",
       {{"caps-default", "Running", {execIs(statusLines("CapEff"), "CapEff: 00000000800405fb\n")}},
        {"caps-added", "Running", {execIs(statusLines("CapEff"), "CapEff: 00000000820415fb\n")}}}},
      // fsGroup: a supplementary group of the container, the group of the volume's files
      // (the directory is setgid).
      {"security-context-fsgroup.yaml",
       {{"sec-fsgroup",
         "Running",
         {execIs("id -u; id -G", "1200\n0 2200\n"),
          execIs("stat -c '%u %g' /data/scratch/mine; stat -c '%g %a' /data/scratch",
                 "1200 2200\n2200 2777\n")}}}},
      {"security-context-groups.yaml",
       {{"sec-groups",
         "Running",
         {execIs("id -u; id -g; id -G", "1400\n3400\n3400 4400\n"),
          execIs(statusLines("NoNewPrivs"), "NoNewPrivs: 1\n")}}}},
      {"security-context-override.yaml",
       {{"sec-override",
         "Running",
         {execIs(statusLines("Uid|NoNewPrivs"), "Uid: 2300 2300 2300 2300\nNoNewPrivs: 1\n")}}}},
      {"shared-volume.yaml",
       {{"shared-page",
         "Running",
         {initCompleted("writer"),
          execIs("wget -qO- http://127.0.0.1:8083/index.html", "greetings from the writer\n"),
          execIs("touch /srv/pages/x 2>&1 | grep -c Read-only", "1\n")}}}},
      // The sidecar runs beside the app (both ready) and ships what the app writes.
      {"sidecar-deployment.yaml",
       {{"",
         "Running",
         {ready2(),
          [](ManifestsTest& t, const std::string& pod) {
            std::string got;
            if (waitFor(
                    [&] {
                      got = t.b_.boxctl({"logs", pod, "-c", "shipper"}).out;
                      return got.find("line\n") != std::string::npos;
                    },
                    kWaitMs))
              return std::string();
            return "the sidecar's log has no line of the app: " + got;
          }},
         "Deployment/with-shipper",
         1}}},
      {"statefulset-claims.yaml",
       {},
       {"statefulset-claims.yaml:4:1: kind Service (v1) \"catalog\"" + kSkip},
       {"statefulset-claims.yaml:42:3: spec.volumeClaimTemplates: field is not supported by boxd "
        "yet"}},
      {"tolerations.yaml", {{"tolerant", "Running", {logsAre("tolerated\n")}}}},
      {"with-service.yaml",
       {{"web-single", "Running", {logsAre("serving\n")}},
        {"", "Running", {}, "Deployment/web", 2}},
       {"with-service.yaml:17:1: kind Service (v1) \"web\"" + kSkip}},
  };
}

std::string podKey(const json& p) {
  return p.value("namespace", "default") == "default"
             ? p.value("name", "")
             : p.value("namespace", "") + "/" + p.value("name", "");
}

bool growing(const PodWant& w) { return !w.owner.empty() && w.owner.back() == '*'; }

bool ownerMatches(const PodWant& w, const std::string& owner) {
  if (!growing(w)) return owner == w.owner;
  return owner.rfind(w.owner.substr(0, w.owner.size() - 1), 0) == 0;
}

// Each row's pods: their keys now (a workload's are looked up by owner), sorted.
std::vector<std::string> podsOf(const PodWant& w, const json& status) {
  if (w.owner.empty()) return {w.pod};
  std::vector<std::string> out;
  for (const auto& p : status["pods"])
    if (ownerMatches(w, p.value("owner", ""))) out.push_back(podKey(p));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

TEST_F(ManifestsTest, EveryDocumentRunsOrIsReported) {
  std::vector<FileWant> want = table();
  std::erase_if(want, [](const FileWant& f) { return !selected(f.file); });
  // Every file of the directory has a row (and every row a file).
  std::vector<std::string> rows;
  for (const auto& f : want) rows.push_back(f.file);
  ASSERT_EQ(joined(sorted(rows)), joined(yamlFiles()));

  start();
  copyAll();

  // Every pod boxd runs is one the table expects, and each workload has its replicas.
  std::vector<std::string> wantPods, wantSkipped, wantRefused;
  std::vector<PodWant> growingRows;
  size_t workloadPods = 0;
  for (const auto& f : want) {
    for (const auto& w : f.pods) (w.owner.empty() ? wantPods.push_back(w.pod) : void());
    for (const auto& w : f.pods) (growing(w) ? growingRows.push_back(w) : void());
    for (const auto& w : f.pods) workloadPods += growing(w) ? 0 : w.replicas;
    wantSkipped.insert(wantSkipped.end(), f.skipped.begin(), f.skipped.end());
    wantRefused.insert(wantRefused.end(), f.refused.begin(), f.refused.end());
  }
  json st;
  (void)waitFor(  // a missing or extra pod shows in the comparison below
      [&] {
        st = b_.status();
        size_t fixed = st["pods"].size();
        for (const PodWant& w : growingRows) {
          size_t n = podsOf(w, st).size();
          if (n < static_cast<size_t>(w.replicas)) return false;
          fixed -= n;
        }
        return fixed == wantPods.size() + workloadPods;
      },
      growingRows.empty() ? kWaitMs : kCronWaitMs);
  std::vector<std::string> gotPods;
  for (const auto& p : st["pods"])
    if (p.value("owner", "").empty()) gotPods.push_back(podKey(p));
  EXPECT_EQ(joined(sorted(gotPods)), joined(sorted(wantPods)));

  std::vector<std::string> skipped, errors;
  for (const auto& d : st["skipped"]) skipped.push_back(d["text"]);
  for (const auto& f : st["specErrors"])
    for (const auto& d : f["errors"]) errors.push_back(d["text"]);
  EXPECT_EQ(joined(sorted(skipped)), joined(sorted(wantSkipped)));
  EXPECT_EQ(joined(sorted(errors)), joined(sorted(wantRefused)));

  // Each pod reaches its phase and shows what its manifest is for.
  for (const auto& f : want) {
    for (const auto& w : f.pods) {
      std::vector<std::string> keys = podsOf(w, st);
      if (growing(w)) {
        EXPECT_GE(keys.size(), static_cast<size_t>(w.replicas)) << w.owner;
        keys.resize(std::min(keys.size(), static_cast<size_t>(w.replicas)));
      } else if (!w.owner.empty()) {
        EXPECT_EQ(keys.size(), static_cast<size_t>(w.replicas)) << w.owner;
      }
      for (const std::string& key : keys) {
        EXPECT_TRUE(b_.waitPhase(key, w.phase, kWaitMs))
            << f.file << ": " << key << " not " << w.phase << "\n"
            << b_.pod(key).dump(2);
        for (const PodCheck& check : w.checks) {
          std::string problem = check(*this, key);
          EXPECT_EQ(problem, "") << f.file << ": " << key << "\n"
                                 << b_.boxctl({"describe", key}).out;
        }
      }
    }
  }
  // No value of a Secret in boxd's log or in describe.
  for (const char* value : {"s3cr3t-value", "t0k3n-zz9", "pull-pw-77", "qu3ue-pw-long"})
    EXPECT_EQ(b_.log().find(value), std::string::npos) << value;
  EXPECT_EQ(b_.boxctl({"describe", "secret-env"}).out.find("s3cr3t"), std::string::npos);
}

TEST_F(ManifestsTest, ConfigMapChangesReachTheVolumeInPlace) {
  start();
  auto text = readFile(kDir + "/configmap-volume.yaml");
  ASSERT_TRUE(text.ok());
  b_.writeSpec("cm.yaml", *text);
  ASSERT_TRUE(b_.waitContainersRunning("cm-volume", 30000)) << b_.status().dump(2);
  std::string uid = b_.pod("cm-volume")["uid"];
  EXPECT_EQ(exec("cm-volume", "cat /etc/game/lives"), "3");
  std::string changed = *text;
  changed.replace(changed.find("lives: \"3\""), 10, "lives: \"9\"");
  b_.writeSpec("cm.yaml", changed);
  EXPECT_TRUE(waitFor([&] { return exec("cm-volume", "cat /etc/game/lives") == "9"; }, 30000))
      << exec("cm-volume", "ls -la /etc/game; cat /etc/game/lives");
  EXPECT_EQ(b_.pod("cm-volume")["uid"], uid) << "the pod is not recreated";
  EXPECT_EQ(b_.pod("cm-volume")["restarts"], 0);
}

TEST_F(ManifestsTest, AMissingConfigMapIsWaitedFor) {
  start();
  b_.writeSpec("late.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo got=$(COLOR); exec sleep 1000']
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: colors, key: main}}
)");
  ASSERT_TRUE(waitFor(
      [&] { return b_.pod("late").value("reason", "") == "CreateContainerConfigError"; }, 20000))
      << b_.status().dump(2);
  EXPECT_EQ(b_.pod("late")["message"], "configmap \"colors\" not found (env COLOR)");
  b_.writeSpec("colors.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: colors}\ndata: {main: teal}\n");
  EXPECT_TRUE(b_.waitPhase("late", "Running", 30000)) << b_.status().dump(2);
  EXPECT_TRUE(waitFor([&] { return logs("late") == "got=teal\n"; }, 20000)) << logs("late");

  // The last pod gone, boxd's cgroup parent goes too (in every hierarchy, v1 or v2).
  b_.removeSpec("late.yaml");
  ASSERT_TRUE(b_.waitGone("late", 20000));
  for (const std::string root :
       {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/pids"}) {
    std::string dir = root + "/" + b_.cgroupParent();
    EXPECT_TRUE(waitFor([&] { return ::access(dir.c_str(), F_OK) != 0; }, 5000)) << dir;
  }
}

}  // namespace
}  // namespace boxd::testing
