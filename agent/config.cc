#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "agent/metrics.h"
#include "agent/node_labels.h"
#include "specs/quantity.h"

namespace boxd::agent {

namespace {

constexpr const char* kUsage = R"(Usage: boxd [OPTIONS]

Converges this host to the pods declared in the specs directory.

Options:
  --specs DIR          specs directory (default /etc/boxd/specs)
  --state-dir DIR      state store, images and pod files (default /var/lib/boxd)
  --run-dir DIR        runtime files: boxd.sock, shims (default /run/boxd)
  --cgroup-parent NAME cgroup under which pods are created (default boxd)
  --config FILE        configuration file (default /etc/boxd/boxd.yaml, if present)
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  --version            print boxd's version
  -h, --help           show this help
)";

Status applyNetworkKey(NetworkConfig& n, const std::string& key, const YAML::Node& v) {
  if (key == "enabled")
    n.enabled = v.as<bool>();
  else if (key == "bridge") {
    n.bridge = v.as<std::string>();
    if (n.bridge.empty() || n.bridge.size() > 15 || n.bridge.find('/') != std::string::npos)
      return makeError("network.bridge must be an interface name of 1 to 15 characters");
  } else if (key == "subnet")
    n.subnet = v.as<std::string>();
  else if (key == "mtu")
    n.mtu = v.as<int>();
  else if (key == "hostPorts")
    n.hostPorts = v.as<bool>();
  else if (key == "masquerade")
    n.masquerade = v.as<bool>();
  else if (key == "ipForward")
    n.ipForward = v.as<bool>();
  else if (key == "nftTable")
    n.nftTable = v.as<std::string>();
  else if (key == "resolvConf")
    n.resolvConf = v.as<std::string>();
  else if (key == "hostsFile")
    n.hostsFile = v.as<std::string>();
  else
    return makeError("unknown key \"network." + key + "\"");
  return {};
}

Status applyBlockKey(BlockConfig& b, const std::string& key, const YAML::Node& v) {
  auto backend = [&](std::string& out) -> Status {
    out = v.as<std::string>();
    if (out != "auto" && out != "kernel" && out != "user")
      return makeError("block." + key + " must be auto, kernel or user");
    return {};
  };
  auto seconds = [&](int64_t& out) -> Status {
    double s = v.as<double>();
    if (s <= 0 || s > 3600) return makeError("block." + key + " must be from 0 to 3600 seconds");
    out = static_cast<int64_t>(s * 1000);
    return {};
  };
  if (key == "iscsiBackend") return backend(b.iscsiBackend);
  if (key == "rbdBackend") return backend(b.rbdBackend);
  if (key == "connectTimeoutSeconds") return seconds(b.connectTimeoutMs);
  if (key == "ioTimeoutSeconds") return seconds(b.ioTimeoutMs);
  if (key == "helperBinary")
    b.helperBinary = v.as<std::string>();
  else if (key == "initiatorName")
    b.initiatorName = v.as<std::string>();
  else
    return makeError("unknown key \"block." + key + "\"");
  return {};
}

// images: the registries' settings (docs/images.md).
Status applyImagesKey(images::RegistryConfig& c, const std::string& key, const YAML::Node& v) {
  auto hosts = [&](const YAML::Node& list,
                   const std::string& what) -> Result<std::vector<std::string>> {
    if (!list.IsSequence()) return makeError(what + " must be a list of host[:port]");
    std::vector<std::string> out;
    for (const auto& h : list) {
      // host[:port], or a URL of one ("https://mirror.example.com/"): the scheme is chosen
      // by boxd (docs/images.md), so it and a trailing slash are dropped.
      auto host = h.as<std::string>();
      for (const char* scheme : {"https://", "http://"}) {
        if (host.rfind(scheme, 0) == 0) host = host.substr(std::string_view(scheme).size());
      }
      while (!host.empty() && host.back() == '/') host.pop_back();
      if (host.empty() || host.find_first_of(" \t/@") != std::string::npos)
        return makeError(what + ": \"" + h.as<std::string>() + "\" is not host[:port]");
      out.push_back(host);
    }
    return out;
  };
  if (key == "authFile") {
    c.authFile = v.as<std::string>();
  } else if (key == "offline") {
    c.offline = v.as<bool>();
  } else if (key == "certsDir") {
    c.certsDir = v.as<std::string>();
  } else if (key == "insecureRegistries") {
    auto list = hosts(v, "images.insecureRegistries");
    if (!list.ok()) return list.error();
    c.insecureRegistries = *list;
  } else if (key == "mirrors") {
    if (!v.IsMap()) return makeError("images.mirrors must map a registry to a list of mirrors");
    for (const auto& m : v) {
      auto registry = m.first.as<std::string>();
      auto list = hosts(m.second, "images.mirrors." + registry);
      if (!list.ok()) return list.error();
      c.mirrors[registry] = *list;
    }
  } else {
    return makeError("unknown key \"images." + key + "\"");
  }
  return {};
}

Error positioned(const std::string& path, const YAML::Mark& at, const std::string& message) {
  return makeError(path + ":" + std::to_string(at.line + 1) + ":" + std::to_string(at.column + 1) +
                   ": " + message);
}

constexpr int64_t kMinLogBytes = 4096;  // smaller would rotate on nearly every write
constexpr int kMaxLogFiles = 100;
constexpr int64_t kMinSpecBytes = 4096;
constexpr int64_t kMaxSpecBytes = 8 << 20;  // the parser refuses larger files anyway

// specMaxBytes: bytes, or a quantity such as 4Mi.
Status applySpecMaxBytes(Config& cfg, const YAML::Node& v) {
  auto bytes = specs::parseMemoryBytes(v.as<std::string>());
  if (!bytes.ok()) return makeError("specMaxBytes: " + bytes.error().message);
  if (*bytes < kMinSpecBytes || *bytes > kMaxSpecBytes)
    return makeError("specMaxBytes must be from 4096 to 8Mi");
  cfg.specMaxBytes = static_cast<size_t>(*bytes);
  return {};
}

Status applyMetricsAddress(Config& cfg, const YAML::Node& v) {
  auto ep = parseMetricsAddress(v.as<std::string>());
  if (!ep.ok()) return ep.error();
  cfg.metricsAddress = v.as<std::string>();
  return {};
}

// logMaxBytes: bytes, or a quantity such as 10Mi.
Status applyLogKey(Config& cfg, const std::string& key, const YAML::Node& v) {
  if (key == "logMaxBytes") {
    auto bytes = specs::parseMemoryBytes(v.as<std::string>());
    if (!bytes.ok()) return makeError("logMaxBytes: " + bytes.error().message);
    if (*bytes < kMinLogBytes) return makeError("logMaxBytes must be at least 4096");
    cfg.logMaxBytes = *bytes;
    return {};
  }
  int files = v.as<int>();
  if (files < 1 || files > kMaxLogFiles) return makeError("logMaxFiles must be from 1 to 100");
  cfg.logMaxFiles = files;
  return {};
}

// Resource bounds of boxd itself and of pods (docs/security.md).
Status applyBoundKey(Config& cfg, const std::string& key, const YAML::Node& v) {
  auto within = [&](int64_t min, int64_t max) -> Result<int64_t> {
    auto n = v.as<int64_t>();
    if (n < min || n > max)
      return makeError(key + " must be from " + std::to_string(min) + " to " + std::to_string(max));
    return n;
  };
  auto seconds = [&](double max) -> Result<int64_t> {
    double s = v.as<double>();
    if (!(s > 0 && s <= max))
      return makeError(key + " must be more than 0 and at most " +
                       std::to_string(static_cast<int64_t>(max)));
    return static_cast<int64_t>(s * 1000);
  };
  Result<int64_t> n = makeError("unknown key \"" + key + "\"");
  if (key == "podPidsLimit") {
    n = within(-1, 4194304);  // the kernel's pid_max ceiling
    if (n.ok()) cfg.podPidsLimit = std::max<int64_t>(*n, 0);
  } else if (key == "apiMaxConnections") {
    n = within(1, 4096);
    if (n.ok()) cfg.apiMaxConnections = static_cast<int>(*n);
  } else if (key == "apiIdleTimeoutSeconds") {
    n = seconds(3600);
    if (n.ok()) cfg.apiIdleTimeoutMs = static_cast<int>(*n);
  } else if (key == "apiWatchQueueBytes") {
    n = within(4096, 64 << 20);
    if (n.ok()) cfg.apiWatchQueueBytes = *n;
  } else if (key == "eventsPerPod") {
    n = within(1, 100000);
    if (n.ok()) cfg.eventsPerPod = static_cast<int>(*n);
  } else if (key == "deletedPodEventsSeconds") {
    n = seconds(365.0 * 24 * 3600);
    if (n.ok()) cfg.deletedPodEventsMs = *n;
  } else if (key == "eventsMaxRows") {
    n = within(100, 10000000);
    if (n.ok()) cfg.eventsMaxRows = static_cast<int>(*n);
  }
  if (!n.ok()) return n.error();
  return {};
}

bool isBoundKey(const std::string& key) {
  for (const char* k :
       {"podPidsLimit", "apiMaxConnections", "apiIdleTimeoutSeconds", "apiWatchQueueBytes",
        "eventsPerPod", "deletedPodEventsSeconds", "eventsMaxRows"}) {
    if (key == k) return true;
  }
  return false;
}

Status applyKey(Config& cfg, const std::string& key, const YAML::Node& v) {
  if (key == "specs")
    cfg.specsDir = v.as<std::string>();
  else if (key == "stateDir")
    cfg.paths.stateDir = v.as<std::string>();
  else if (key == "runDir")
    cfg.paths.runDir = v.as<std::string>();
  else if (key == "cgroupParent")
    cfg.paths.cgroupParent = v.as<std::string>();
  else if (key == "resyncSeconds")
    cfg.resyncSeconds = v.as<int>();
  else if (key == "rescanSeconds")
    cfg.rescanSeconds = v.as<int>();
  else if (key == "restartBackoffSeconds")
    cfg.restartBackoffMs = static_cast<int>(v.as<double>() * 1000);
  else if (key == "jobBackoffSeconds")
    cfg.jobBackoffMs = static_cast<int64_t>(v.as<double>() * 1000);
  else if (key == "jobMaxBackoffSeconds")
    cfg.jobMaxBackoffMs = static_cast<int64_t>(v.as<double>() * 1000);
  else if (key == "logLevel")
    cfg.logLevel = v.as<std::string>();
  else if (key == "logMaxBytes" || key == "logMaxFiles")
    return applyLogKey(cfg, key, v);
  else if (isBoundKey(key))
    return applyBoundKey(cfg, key, v);
  else if (key == "specMaxBytes")
    return applySpecMaxBytes(cfg, v);
  else if (key == "metricsAddress")
    return applyMetricsAddress(cfg, v);
  else if (isStorageKey(key))
    return applyStorageKey(cfg, key, v);
  else if (key == "nodeLabels")
    return parseNodeLabels(v, cfg.nodeLabels);
  else
    return makeError("unknown key \"" + key + "\"");
  return {};
}

}  // namespace

Status loadConfigFile(const std::string& path, Config& cfg) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsNull()) return {};
    if (!root.IsMap()) return makeError(path + ": expected a mapping of settings");
    for (const auto& kv : root) {
      auto key = kv.first.as<std::string>();
      if (key == "network" || key == "block" || key == "images") {
        if (!kv.second.IsMap())
          return positioned(path, kv.first.Mark(), key + ": expected a mapping of settings");
        for (const auto& nkv : kv.second) {
          auto sub = nkv.first.as<std::string>();
          Status st = key == "network" ? applyNetworkKey(cfg.network, sub, nkv.second)
                      : key == "block" ? applyBlockKey(cfg.block, sub, nkv.second)
                                       : applyImagesKey(cfg.images, sub, nkv.second);
          if (!st.ok()) return positioned(path, nkv.first.Mark(), st.error().message);
        }
        continue;
      }
      Status st = applyKey(cfg, key, kv.second);
      if (!st.ok()) return positioned(path, kv.first.Mark(), st.error().message);
    }
  } catch (const YAML::BadFile&) {
    return makeError("cannot read config file " + path);
  } catch (const YAML::Exception& e) {
    return makeError(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return {};
}

CliOutcome parseBoxdArgs(int argc, char** argv, Config& cfg) {
  std::string configPath = "/etc/boxd/boxd.yaml";
  bool configExplicit = false;
  // First pass: find --config so flags override the file.
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      configPath = argv[i + 1];
      configExplicit = true;
    }
  }
  if (configExplicit || std::filesystem::exists(configPath)) {
    Status st = loadConfigFile(configPath, cfg);
    if (!st.ok()) return {true, 2, "boxd: " + st.error().message};
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") return {true, 0, kUsage};
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    std::string ignored;
    if (a == "--specs")
      ok = value(cfg.specsDir);
    else if (a == "--state-dir")
      ok = value(cfg.paths.stateDir);
    else if (a == "--run-dir")
      ok = value(cfg.paths.runDir);
    else if (a == "--cgroup-parent")
      ok = value(cfg.paths.cgroupParent);
    else if (a == "--log-level")
      ok = value(cfg.logLevel);
    else if (a == "--config")
      ok = value(ignored);
    else
      return {true, 2, "boxd: unknown option " + a + " (see boxd --help)"};
    if (!ok) return {true, 2, "boxd: option " + a + " needs a value"};
  }
  // Steps are journaled with their paths and undone after a restart from any working directory.
  for (std::string* path : {&cfg.specsDir, &cfg.paths.stateDir, &cfg.paths.runDir}) {
    if (!path->empty() && (*path)[0] != '/')
      *path = std::filesystem::absolute(*path).lexically_normal().string();
  }
  return {};
}

}  // namespace boxd::agent
