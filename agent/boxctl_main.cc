// boxctl: the operator's view of boxd. Talks to boxd over its unix socket; writes spec files
// atomically into the specs dir for apply/delete.
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/boxctl_commands.h"
#include "agent/boxctl_format.h"
#include "agent/boxctl_logs.h"
#include "agent/boxctl_namespace.h"
#include "agent/boxctl_pull.h"
#include "agent/boxctl_wait.h"
#include "agent/boxctl_watch.h"
#include "agent/exec.h"
#include "common/fd.h"
#include "common/line_client.h"
#include "common/util.h"
#include "specs/parse.h"

using namespace boxd;
using nlohmann::json;

namespace {

constexpr const char* kUsage = R"(Usage: boxctl [--run-dir DIR | --socket PATH] COMMAND [ARGS]

Commands:
  status [-o json]                 pods at a glance (NAME READY STATUS RESTARTS AGE) and spec errors;
                                   the namespace's pods only, every namespace's with -A
  status -w [-o json]              watch: the pods, then a row per change (Ctrl-C ends it)
  describe POD [-o json]           spec source, IP, containers, host resources, recent events
  describe job/NAME [-o json]      a Job: counts, condition, its pods, its events
  describe cronjob/NAME [-o json]  a CronJob: schedule, last and next run, its Jobs, events
  logs POD [-c CONTAINER] [-f|-p]  a container's output, rotated files included; -f follows it,
                                   -p (--previous) shows the run before its last restart
  exec POD [-c CONTAINER] [-i] [-t] [-e KEY=VALUE]... -- CMD [ARGS...]
                                   run CMD in a running container (its namespaces, root, cgroup
                                   and environment); exits with CMD's code, 126 when it could
                                   not run, 127 when it is not found; -i passes stdin, -t a pty
  wait POD --for=condition=Ready|--for=phase=Running [--timeout=30s]
                                   wait until the pod meets the condition (exit 0) or the
                                   timeout passes (exit 1)
  events [POD] [-w [-o json]]      recent events; -w then prints each new one as it happens
  apply -f FILE                    validate FILE, then write it atomically into the specs dir
  delete POD [--force]             remove the spec file that declares POD
  image import [NAME[:TAG]] PATH   import a rootfs directory or tarball (.tar, .tar.gz) as a
                                   one-layer image, or an OCI image layout (directory or tar)
                                   or a `docker save` archive (NAME: else the names they hold)
  image pull REF                   boxd pulls REF from its registry into its image store
  image pull REF --layout DIR      pull REF from its registry into an OCI image layout DIR
                                   (no boxd needed; registries from --config FILE's images:)
  image ls                         list images: digest, size (shared with other images / unique)
  image rm NAME[:TAG]              remove an image (refused while a pod uses it)
  image prune                      remove images no tag names and no pod uses, and unused layers
  volume ls [-o json]              block volumes attached on this host: LUN or image, data path,
                                   device, filesystem and mount, and the pods using each
  validate [-o json] PATH...       check spec files and dirs as boxd would, and across files
                                   (no boxd needed); exit 1 with each problem as
                                   file:line:column: field: message
  plan [DIR] [-o json]             what boxd would change if DIR (default: the specs dir) were
                                   the desired state; exit 0 no change, 2 changes, 1 error
  top [--containers] [--interval SECONDS] [-o json]
                                   CPU, memory working set and pids of each pod or container
  metrics                          boxd's metrics in the Prometheus text format

Options:
  -n, --namespace NS     the namespace of the pods named (default "default"); POD may also be
                         written NS/NAME
  -A, --all-namespaces   status: the pods of every namespace, with a NAMESPACE column
  --run-dir DIR    boxd's runtime dir (default /run/boxd); the socket is DIR/boxd.sock
  --socket PATH    boxd's socket
  -h, --help       show this help
)";

struct Exit {
  int code;
};

[[noreturn]] void die(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "boxctl: %s\n", msg.c_str());
  std::exit(code);
}

std::string g_socket = "/run/boxd/boxd.sock";
agent::NamespaceScope g_scope;
// The key boxd knows the pod named on the command line by.
std::string podKey(const std::string& pod) { return agent::podKey(g_scope, pod); }

json call(const json& req, int timeoutMs = 30000) {
  auto line = requestLine(g_socket, req.dump(), timeoutMs);
  if (!line.ok()) {
    const Error& e = line.error();
    if (e.code == ENOENT || e.code == ECONNREFUSED)
      die("cannot reach boxd at " + g_socket + ": " + std::strerror(e.code) +
          " (is boxd running?)");
    if (e.code == ETIMEDOUT)
      die("boxd did not answer within " + std::to_string(timeoutMs / 1000) + "s");
    die(e.message);
  }
  auto reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded()) die("malformed answer from boxd");
  if (!reply.value("ok", false)) die(reply.value("error", "request failed"));
  return reply;
}

std::string specsDir() { return call({{"op", "config"}})["specsDir"]; }

// A specs dir that is (or contains) a swapped symlink belongs to a sync tool, not to boxctl.
void refuseManagedSpecsDir(const std::string& dir) {
  struct stat st {};
  if ((::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) ||
      ::lstat((dir + "/..data").c_str(), &st) == 0) {
    die("specs dir " + dir +
        " is managed by a symlink swap (git-sync or a ConfigMap); change its source instead");
  }
}

int cmdStatus(const std::vector<std::string>& args) {
  bool asJson = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) {
      if (args[++i] != "json") die("unknown output format " + args[i] + " (json)");
      asJson = true;
    } else if (args[i] == "-ojson" || args[i] == "-o=json") {
      asJson = true;
    } else {
      die("status: unexpected argument " + args[i]);
    }
  }
  json s = agent::podsInScope(call({{"op", "status"}}), g_scope);
  if (asJson) {
    s.erase("ok");
    std::printf("%s\n", s.dump(2).c_str());
  } else {
    std::fputs(agent::formatStatus(s, g_scope.all).c_str(), stdout);
  }
  return s["specErrors"].empty() ? 0 : 0;
}

int cmdDescribe(const std::vector<std::string>& args) {
  bool asJson = args.size() == 3 && args[1] == "-o" && args[2] == "json";
  if (args.size() != 1 && !asJson) die("usage: boxctl describe POD [-o json]");
  json d = call({{"op", "describe"}, {"name", podKey(args[0])}});
  std::fputs(asJson ? (d.dump(2) + "\n").c_str() : agent::formatDescribe(d).c_str(), stdout);
  return 0;
}

int cmdEvents(const std::vector<std::string>& args) {
  json req = {{"op", "events"}, {"limit", 100}};
  if (!args.empty()) req["name"] = podKey(args[0]);
  std::fputs(agent::formatEvents(call(req)["events"]).c_str(), stdout);
  return 0;
}

int cmdLogs(const std::vector<std::string>& args) {
  std::string pod, container;
  bool follow = false, previous = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-f" || args[i] == "--follow")
      follow = true;
    else if (args[i] == "-p" || args[i] == "--previous")
      previous = true;
    else if ((args[i] == "-c" || args[i] == "--container") && i + 1 < args.size())
      container = args[++i];
    else if (pod.empty() && args[i][0] != '-')
      pod = args[i];
    else
      die("logs: unexpected argument " + args[i]);
  }
  if (pod.empty()) die("usage: boxctl logs POD [-c CONTAINER] [-f|-p]");
  if (follow && previous) die("logs: -f and --previous cannot be combined: a previous run is over");
  json d = call({{"op", "logs"}, {"name", podKey(pod)}});
  std::string path, names;
  // Init containers' logs too; without -c, the pod's only container (as kubectl).
  for (const char* list : {"initContainers", "containers"}) {
    if (!d.contains(list)) continue;
    bool mains = std::string(list) == "containers";
    for (const auto& c : d[list]) {
      names += (names.empty() ? "" : ", ") + c["name"].get<std::string>();
      if (c["name"] == container || (container.empty() && mains && d[list].size() == 1)) {
        path = c.value("log", "");
        container = c["name"];
      }
    }
  }
  if (path.empty()) {
    if (container.empty())
      die("pod " + pod + " has several containers; choose one with -c (" + names + ")");
    die("pod " + pod + " has no container \"" + container + "\" (" + names + ")");
  }
  Status st = previous ? agent::printPreviousLog(path, container, stdout)
                       : agent::printLogs(path, follow, stdout);
  std::fflush(stdout);
  if (!st.ok()) die(st.error().message);
  return 0;
}

int cmdExec(const std::vector<std::string>& args) {
  auto opts = agent::parseExecArgs(args);
  if (!opts.ok()) die(opts.error().message);
  if (opts->tty && ::isatty(0) == 0) die("exec -t needs a terminal (stdin is not a tty)");
  json d = call({{"op", "describe"}, {"name", podKey(opts->pod)}});
  auto target = agent::pickExecTarget(d, *opts);
  if (!target.ok()) die(target.error().message);
  agent::ExecOutcome out = agent::runExec(*opts, *target);
  if (!out.error.empty()) die("exec " + target->label + ": " + out.error, out.exitCode);
  return out.exitCode;
}

int cmdWait(const std::vector<std::string>& args) {
  auto opts = agent::parseWaitArgs(args);
  if (!opts.ok()) die(opts.error().message);
  int64_t deadline = monotonicMs() + opts->timeoutMs;
  for (;;) {
    json pod, status = call({{"op", "status"}});
    for (const auto& p : status["pods"]) {
      if (p.value("name", "") == opts->pod) pod = p;
    }
    if (agent::waitMet(pod, *opts)) {
      std::printf("pod/%s condition met\n", opts->pod.c_str());
      return 0;
    }
    int64_t left = deadline - monotonicMs();
    if (left <= 0) die("timed out waiting for the condition on pods/" + opts->pod);
    ::usleep(static_cast<useconds_t>(std::min<int64_t>(left, 200) * 1000));
  }
}

int cmdApply(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "-f") die("usage: boxctl apply -f FILE");
  auto content = readFile(args[1]);
  if (!content.ok()) die(content.error().message);
  std::string base = args[1].substr(args[1].find_last_of('/') + 1);
  auto parsed = specs::parseSpecFile(base, *content);
  if (!parsed.ok()) {
    for (const auto& d : parsed.errors) std::fprintf(stderr, "%s\n", d.str().c_str());
    die(args[1] + ": " + std::to_string(parsed.errors.size()) + " error(s); nothing applied");
  }
  if (parsed.pods.empty() && parsed.secrets.empty() && parsed.configMaps.empty())
    die(args[1] + ": no pod, secret or configmap in the file; nothing applied");
  if (!endsWith(base, ".yaml") && !endsWith(base, ".yml") && !endsWith(base, ".json"))
    base += ".yaml";
  if (base[0] == '.') base = base.substr(1);
  std::string dir = specsDir();
  refuseManagedSpecsDir(dir);
  // boxd refuses a world-readable file that holds a Secret.
  Status st = writeFileAtomic(dir + "/" + base, *content, parsed.holdsSecret ? 0600 : 0644);
  if (!st.ok()) die(st.error().message);
  for (const auto& p : parsed.pods)
    std::printf("pod/%s configured (%s/%s)\n", p.spec.name.c_str(), dir.c_str(), base.c_str());
  for (const auto& s : parsed.secrets)
    std::printf("secret/%s configured (%s/%s)\n", s.secret.name.c_str(), dir.c_str(), base.c_str());
  for (const auto& c : parsed.configMaps)
    std::printf("configmap/%s configured (%s/%s)\n", c.configMap.name.c_str(), dir.c_str(),
                base.c_str());
  for (const auto& d : parsed.skipped) std::printf("%s\n", d.str().c_str());
  return 0;
}

int cmdDelete(const std::vector<std::string>& args) {
  std::string pod;
  bool force = false;
  for (const auto& a : args) {
    if (a == "--force")
      force = true;
    else if (pod.empty())
      pod = a;
    else
      die("delete: unexpected argument " + a);
  }
  if (pod.empty()) die("usage: boxctl delete POD [--force]");
  json d = call({{"op", "describe"}, {"name", podKey(pod)}});
  std::string dir = specsDir();
  refuseManagedSpecsDir(dir);
  std::string file = d["sourceFile"];
  std::string path = dir + "/" + file;
  auto content = readFile(path);
  if (!content.ok()) die("pod " + pod + " came from " + path + ", which is gone already");
  auto parsed = specs::parseSpecFile(file, *content);
  std::string others;
  for (const auto& p : parsed.pods) {
    if (p.spec.key() != podKey(pod)) others += (others.empty() ? "" : ", ") + p.spec.key();
  }
  for (const auto& s : parsed.secrets)
    others += (others.empty() ? "secret " : ", secret ") + s.secret.name;
  if (!others.empty() && !force) {
    die(path + " also declares " + others + "; deleting it removes them too (use --force)");
  }
  if (::unlink(path.c_str()) != 0) die("remove " + path + ": " + std::strerror(errno));
  std::printf("pod/%s deleted (removed %s)\n", pod.c_str(), path.c_str());
  if (!others.empty()) std::printf("also removed: %s\n", others.c_str());
  return 0;
}

int cmdImage(const std::vector<std::string>& args) {
  if (args.empty()) die("usage: boxctl image import|pull|ls|rm|prune ...");
  if (args[0] == "pull") return agent::imagePullCommand({args.begin() + 1, args.end()}, g_socket);
  if (args[0] == "import") {
    if (args.size() != 2 && args.size() != 3) die("usage: boxctl image import [NAME[:TAG]] PATH");
    const std::string& path = args.back();
    char abs[PATH_MAX];
    if (::realpath(path.c_str(), abs) == nullptr) die(path + ": " + std::strerror(errno));
    json req = {{"op", "image-import"}, {"path", abs}};
    if (args.size() == 3) req["name"] = args[1];
    json r = call(req, 600000);
    for (const auto& i : r.value("images", json::array())) {
      std::printf("imported %s (id %s, %s, %d new layers)\n", i["image"].get<std::string>().c_str(),
                  agent::shortImageId(i["id"]).c_str(),
                  agent::formatBytes(i["sizeBytes"].get<int64_t>()).c_str(),
                  i.value("newLayers", 0));
    }
    return 0;
  }
  if (args[0] == "prune") {
    json r = call({{"op", "image-prune"}}, 600000);
    std::printf("removed %zu images, %d layers\n", r["images"].size(), r.value("layers", 0));
    return 0;
  }
  if (args[0] == "ls") {
    std::fputs(agent::formatImages(call({{"op", "image-ls"}})["images"]).c_str(), stdout);
    return 0;
  }
  if (args[0] == "rm") {
    if (args.size() != 2) die("usage: boxctl image rm NAME[:TAG]");
    json r = call({{"op", "image-rm"}, {"name", args[1]}});
    std::printf("removed %s\n", r["removed"].get<std::string>().c_str());
    return 0;
  }
  die("unknown image command " + args[0]);
}

int cmdVolume(const std::vector<std::string>& args) {
  bool asJson = args.size() == 3 && args[1] == "-o" && args[2] == "json";
  if (args.empty() || args[0] != "ls" || (args.size() != 1 && !asJson))
    die("usage: boxctl volume ls [-o json]");
  json r = call({{"op", "volume-ls"}});
  if (asJson) {
    std::printf("%s\n", r["volumes"].dump(2).c_str());
    return 0;
  }
  std::fputs(agent::formatVolumes(r["volumes"]).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto scope = agent::takeNamespaceOptions(args);
  if (!scope.ok()) die(scope.error().message, 2);
  g_scope = *scope;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (args[i] == "--run-dir" && i + 1 < args.size())
      g_socket = args[++i] + "/boxd.sock";
    else if (args[i] == "--socket" && i + 1 < args.size())
      g_socket = args[++i];
    else
      break;
  }
  if (i >= args.size()) die("missing command (see boxctl --help)", 2);
  std::string cmd = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if ((cmd == "status" || cmd == "get" || cmd == "events") && agent::wantsWatch(rest))
    return agent::runWatch(g_socket, cmd, rest);
  if (cmd == "status" || cmd == "get") return cmdStatus(rest);
  if (cmd == "describe") return cmdDescribe(rest);
  if (cmd == "logs") return cmdLogs(rest);
  if (cmd == "exec") return cmdExec(rest);
  if (cmd == "events") return cmdEvents(rest);
  if (cmd == "wait") return cmdWait(rest);
  if (cmd == "apply") return cmdApply(rest);
  if (cmd == "delete") return cmdDelete(rest);
  if (cmd == "image") return cmdImage(rest);
  if (cmd == "volume") return cmdVolume(rest);
  if (cmd == "validate") return agent::cmdValidate(rest);
  if (cmd == "plan") return agent::cmdPlan(g_socket, rest);
  if (cmd == "top") return agent::cmdTop(g_socket, rest);
  if (cmd == "metrics") return agent::cmdMetrics(g_socket, rest);
  die("unknown command " + cmd + " (see boxctl --help)", 2);
}
