// Block volumes in the agent: the host's data paths, the shared-resource registry seeded from
// the journal, stale helpers cleaned at start, credentials from Secret documents, and
// `boxctl volume ls`.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "common/hash.h"
#include "common/util.h"
#include "reconcilers/block/block_host.h"
#include "reconcilers/block/block_steps.h"
#include "reconcilers/block/filesystem.h"
#include "reconcilers/block/iscsi_kernel.h"
#include "reconcilers/block/rbd_control.h"
#include "reconcilers/block/rbd_kernel.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

// The host's initiator name (open-iscsi's file), else one generated once and kept in the store.
std::string hostInitiatorName() {
  auto text = readFile("/etc/iscsi/initiatorname.iscsi");
  if (!text.ok()) return "";
  for (const auto& line : split(*text, '\n')) {
    std::string l = trim(line);
    if (startsWith(l, "InitiatorName=")) return trim(l.substr(14));
  }
  return "";
}

// "[client.admin]\n\tkey = AQ..==" → the key of client.<user>.
Result<std::string> keyringKey(const std::string& path, const std::string& user) {
  auto text = readFile(path);
  if (!text.ok()) return text.error().wrap("read keyring for client." + user);
  bool inSection = false;
  for (const auto& raw : split(*text, '\n')) {
    std::string l = trim(raw);
    if (startsWith(l, "[")) {
      inSection = l == "[client." + user + "]";
      continue;
    }
    if (!inSection || !startsWith(l, "key")) continue;
    auto eq = l.find('=');
    if (eq != std::string::npos && trim(l.substr(0, eq)) == "key") return trim(l.substr(eq + 1));
  }
  return makeError("keyring " + path + " has no key for client." + user, ENOENT);
}

}  // namespace

// The data path of each kind, from the config and what this host's kernel offers.
Result<BlockPlan> Agent::chooseBlockBackends() {
  auto caps = reconcilers::detectBlockCapabilities("/sys");
  auto iscsi = reconcilers::chooseBackend("iscsi", caps, cfg_.block.iscsiBackend);
  if (!iscsi.ok()) return iscsi.error().wrap("block.iscsiBackend");
  auto rbd = reconcilers::chooseBackend("rbd", caps, cfg_.block.rbdBackend);
  if (!rbd.ok()) return rbd.error().wrap("block.rbdBackend");
  BlockPlan p;
  p.iscsiBackend = *iscsi;
  p.rbdBackend = *rbd;
  return p;
}

void Agent::addKernelBlockBackends() {
  if (blockPlan_.iscsiBackend == "iscsi-kernel") {
    reconcilers::KernelIscsiOptions o;
    o.warn = [](const std::string& w) { spdlog::warn("iSCSI: {}", w); };
    kernelBackends_.push_back(std::make_unique<reconcilers::KernelIscsiBackend>(*toolRunner_, o));
    blockCtx_->backends["iscsi-kernel"] = kernelBackends_.back().get();
  }
  if (blockPlan_.rbdBackend == "rbd-kernel") {
    int64_t timeout = cfg_.block.connectTimeoutMs;
    auto features = [timeout](const reconcilers::BlockVolume& v,
                              const reconcilers::BlockCredentials& c) -> Result<uint64_t> {
      auto info = reconcilers::RbdControl(timeout).inspect(v, c.cephKey);
      if (!info.ok()) return info.error();
      return info->features;
    };
    kernelBackends_.push_back(std::make_unique<reconcilers::KernelRbdBackend>(
        features, [this](const reconcilers::BlockVolume& v) { return blockCredentials(v); }));
    blockCtx_->backends["rbd-kernel"] = kernelBackends_.back().get();
  }
}

Status Agent::setUpBlock() {
  const BlockConfig& b = cfg_.block;
  std::string blockDir = cfg_.paths.runDir + "/block";
  BOXD_TRY(mkdirAll(blockDir + "/mounts", 0700));
  auto chosen = chooseBlockBackends();
  if (!chosen.ok()) return chosen.error();
  blockPlan_ = *chosen;
  blockPlan_.initiatorName = b.initiatorName.empty() ? hostInitiatorName() : b.initiatorName;
  if (blockPlan_.initiatorName.empty()) {
    auto recorded = store_->getMeta("iscsi_initiator_name");
    if (recorded.ok() && *recorded) {
      blockPlan_.initiatorName = **recorded;
    } else {
      blockPlan_.initiatorName = "iqn.2026-12.io.boxd:" + randomHex(6);
      logStoreError(store_->setMeta("iscsi_initiator_name", blockPlan_.initiatorName),
                    "record the iSCSI initiator name");
    }
  }
  if (!toolRunner_) toolRunner_ = std::make_unique<reconcilers::RealCommandRunner>();
  reconcilers::UserspaceSettings us;
  us.blockDir = blockDir;
  us.helperBinary = b.helperBinary;
  us.cgroupParent = cfg_.paths.cgroupParent;
  us.connectTimeoutMs = b.connectTimeoutMs;
  us.ioTimeoutMs = b.ioTimeoutMs;
  userspace_ = std::make_unique<reconcilers::UserspaceBackend>(us, *cgroups_);
  blockCtx_ = std::make_unique<reconcilers::BlockContext>(reconcilers::BlockContext{
      blockRegistry_, {}, userspace_.get(), *toolRunner_, {}, {}, blockDir + "/mounts"});
  blockCtx_->backends["iscsi-user"] = userspace_.get();
  blockCtx_->backends["rbd-user"] = userspace_.get();
  addKernelBlockBackends();
  blockCtx_->credentials = [this](const reconcilers::BlockVolume& v) {
    return blockCredentials(v);
  };
  blockCtx_->prepareRbdImage = [timeout = b.connectTimeoutMs](
                                   const reconcilers::BlockVolume& v,
                                   const reconcilers::BlockCredentials& c) {
    return reconcilers::RbdControl(timeout).prepare(v, c.cephKey);
  };
  blockCtx_->unmountAbortMs = b.ioTimeoutMs + 15000;
  spdlog::info("block volumes: iSCSI via {}, RBD via {}, initiator {}", blockPlan_.iscsiBackend,
               blockPlan_.rbdBackend, blockPlan_.initiatorName);
  return {};
}

// After a crash the users of each session, device and mount are the journal rows that name them.
void Agent::seedBlockRegistry() {
  auto rows = store_->journalAll();
  if (!rows.ok()) return;
  for (const auto& r : *rows) {
    auto entry = reconcilers::blockRegistryEntry(r.kind, r.params);
    if (entry) blockRegistry_.add(entry->first, entry->second);
  }
}

// Helpers whose session no journal row names (boxd died between the last user's undo and the
// helper's stop, or a journal row was lost) are stopped; the others are adopted as they run.
void Agent::cleanStaleBlockSessions() {
  if (!userspace_) return;
  for (const auto& name : userspace_->sessionDirs()) {
    auto text = readFile(cfg_.paths.runDir + "/block/" + name + "/helper.json");
    auto ident = json::parse(text.ok() ? *text : "", nullptr, false);
    std::string key = ident.is_object() ? ident.value("sessionKey", "") : "";
    if (!key.empty() && !blockRegistry_.users("session " + key).empty()) continue;
    auto* us = userspace_.get();
    auto* reg = &blockRegistry_;
    dispatcher_.runBlocking(
        [us, reg, name, key] {
          Status st = reg->release("session " + key, "", [&] { return us->stopSession(name); });
          if (!st.ok())
            spdlog::warn("stale block session {}: {}", name, st.error().message);
          else
            spdlog::info("stopped stale block session {}", name);
        },
        [] {});
  }
}

// Runs on a worker thread: reads the secrets snapshot, never the desired state itself.
Result<reconcilers::BlockCredentials> Agent::blockCredentials(const reconcilers::BlockVolume& v) {
  reconcilers::BlockCredentials c;
  bool rbd = startsWith(v.backend, "rbd");
  if (v.secretRef.empty()) {
    if (!rbd) return c;
    auto key = keyringKey(v.keyring, v.user);
    if (!key.ok()) return key.error();
    c.cephKey = *key;
    return c;
  }
  std::shared_ptr<const SecretMap> secrets;
  {
    std::lock_guard g(secretsMu_);
    secrets = secrets_;
  }
  auto it = secrets ? secrets->find(v.secretRef) : SecretMap::const_iterator();
  if (!secrets || it == secrets->end())
    return makeError(
        "secret \"" + v.secretRef +
            "\" (the volume's secretRef) is not in the specs directory, or is declared "
            "in more than one file (see boxctl status)",
        ENOENT);
  const specs::Secret& s = it->second;
  if (rbd) {
    auto key = specs::cephKey(s);
    if (!key.ok()) return key.error();
    c.cephKey = *key;
    return c;
  }
  auto chap = specs::chapCredentials(s, {v.chapDiscovery, v.chapSession});
  if (!chap.ok()) return chap.error();
  if (v.chapSession)
    c.chap = blockd::Chap{chap->sessionUser, chap->sessionPassword, chap->sessionUserIn,
                          chap->sessionPasswordIn};
  if (v.chapDiscovery)
    c.discoveryChap = blockd::Chap{chap->discoveryUser, chap->discoveryPassword,
                                   chap->discoveryUserIn, chap->discoveryPasswordIn};
  return c;
}

void Agent::updateSecrets() {
  auto next = std::make_shared<SecretMap>();
  for (const auto& [name, s] : desired_.secrets) next->emplace(name, s.secret);
  std::lock_guard g(secretsMu_);
  secrets_ = std::move(next);
}

// `boxctl volume ls`: every block volume attached on this host, from the journal (the same rows
// that count its users), with its chain and users.
json Agent::volumesJson() {
  auto rows = store_->journalAll();
  if (!rows.ok()) return {{"ok", false}, {"error", rows.error().message}};
  std::map<std::string, json> byDevice;
  std::map<std::string, std::string> podOfUid;
  for (const auto& [name, pod] : pods_) podOfUid[pod->rec.uid] = name;
  for (const auto& r : *rows) {
    if (!reconcilers::isBlockStepKind(r.kind)) continue;
    auto v = reconcilers::blockVolumeFromJson(r.params.value("volume", json()));
    if (!v.ok()) continue;
    json& e = byDevice[v->deviceKey];
    if (e.is_null()) {
      e = {{"volume", reconcilers::describeBlockVolume(*v)},
           {"backend", v->backend},
           {"users", json::array()}};
    }
    std::string user = r.params.value("user", "");
    std::string uid = user.substr(0, user.find('/'));
    if (r.kind == "blocksession")
      e["session"] =
          userspace_ && endsWith(v->backend, "-user") ? userspace_->sessionDir(*v) : v->sessionKey;
    if (r.kind == "blockdevice") {
      auto podIt = podOfUid.find(uid);
      e["users"].push_back({{"pod", podIt == podOfUid.end() ? uid : podIt->second},
                            {"volume", user.substr(user.find('/') + 1)},
                            {"readOnly", v->readOnly}});
    }
    if (r.params.contains("device")) e["device"] = r.params["device"];
    if (r.kind == "blockfs") {
      e["fsType"] = r.params.value("fsType", "");
      e["mountPath"] = r.params.value("mountPath", "");
      if (r.state != state::StepState::Done) e["state"] = "mounting";
    }
  }
  json list = json::array();
  for (auto& [key, e] : byDevice) list.push_back(std::move(e));
  return {{"ok", true}, {"volumes", list}};
}

}  // namespace boxd::agent
