// Images for a pod's start, pulled when its pull policy says so (agent/image_pull_policy.h),
// with kubelet's status and events:
//
//   podImages: each container's image ─ local, as the policy allows ─► use it
//                                      ─ pull ─► joinPull(reference + the pod's secrets, those
//                                                of the pod's own namespace only)
//                                      ─ Never and absent ─► ErrImageNeverPull
//   joinPull: one pull per (reference, credentials) on a worker thread, however many pods or
//             `boxctl image pull` wait; its tag recorded when it ends, then every waiter told
//   podPullDone: Pulled ─► the pod is reconciled again and starts from the pulled image id
//                failed ─► ErrImagePull (the registry's reason), then ImagePullBackOff; pulled
//                          again after 10 s, doubling to 5 min (cfg restartBackoff/maxBackoff)
//   progress:   the pull's layer updates (agent/pull_progress.h) posted to the loop, kept per
//               pull, and pushed to each `boxctl image pull` waiting (a joiner gets the latest
//               of each layer first); bounded per watcher by the API server's stream queue
//   cancel:     after each specs pass and when a boxctl disconnects, waiters nobody needs any
//               more are dropped (a pod no longer in the specs or no longer using the image, a
//               boxctl gone); a pull left with none is cancelled ("pull of X cancelled: no pod
//               needs it", an agent event), its transfers stop and its temporaries go
//
// Pulls never run on the loop. A boxd stopped mid-pull leaves temporaries that the store
// removes at start; the pod is not created yet, so it simply pulls again. Credentials go from
// the Secrets to the worker in memory; messages name a Secret, never its content.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/image_pull_policy.h"
#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

std::string seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string dq(const std::string& s) { return "\"" + s + "\""; }

std::string offlineRefusal(const std::string& ref) {
  return "image pull " + ref +
         ": boxd pulls nothing (images.offline is set in its config); use `boxctl image pull REF "
         "--layout DIR` on a host that can reach the registry and `boxctl image import DIR` here";
}

bool usesImage(const specs::PodSpec& spec, const std::string& image) {
  for (const auto* c : allContainers(spec))
    if (c->image == image) return true;
  return false;
}

}  // namespace

bool Agent::podImages(PodState& pod, std::vector<ContainerImage>& out) {
  out.clear();
  std::string reason, message;  // the first image that cannot be had
  std::vector<std::string> present;
  std::string pulling;
  const auto containers = allContainers(pod.spec);
  for (const auto* c : containers) {
    auto st = pod.imagePulls.find(c->image);
    if (st != pod.imagePulls.end() && st->second.state == PodImagePull::State::Pulled) {
      auto lowers = images_.lowerDirs(st->second.id);
      if (lowers.ok()) {
        out.push_back({st->second.id, *lowers});
        continue;
      }
      pod.imagePulls.erase(st);  // removed meanwhile (image rm): decide again
      st = pod.imagePulls.end();
    }
    std::optional<ContainerImage> local;
    bool asWritten = false;
    const auto names = imageLookupNames(c->image);
    for (size_t i = 0; i < names.size() && !local; ++i) {
      local = resolveImage(names[i]);
      asWritten = local.has_value() && i == 0;
    }
    PullDecision d = decidePull(*c, local.has_value(), asWritten);
    if (d == PullDecision::Pull && cfg_.images.offline && local) d = PullDecision::UseLocal;
    if (d == PullDecision::UseLocal) {
      out.push_back(*local);
      present.push_back(c->image);
      continue;
    }
    if (d == PullDecision::NeverPullMissing || cfg_.images.offline) {
      if (!reason.empty()) continue;
      if (d == PullDecision::NeverPullMissing) {
        reason = "ErrImageNeverPull";
        message = "Container image " + dq(c->image) + " is not present with pull policy of Never";
      } else {
        reason = "ImageNotFound";
        message = "image " + names[0] +
                  " not found (boxd pulls nothing: images.offline is set; import it with "
                  "`boxctl image import " +
                  names[0] + " PATH`)";
      }
      continue;
    }
    auto ref = images::parseReference(c->image);
    if (!ref.ok()) {
      if (reason.empty()) {
        reason = "InvalidImageName";
        message = "image " + dq(c->image) + ": " + ref.error().message;
      }
      continue;
    }
    if (st == pod.imagePulls.end() || st->second.state == PodImagePull::State::Failed)
      pullForPod(pod, *c, *ref);
    if (pulling.empty()) pulling = c->image;
  }
  if (out.size() == containers.size()) {
    for (const auto& image : present)
      event(pod.rec.name, "Normal", "Pulled",
            "Container image " + dq(image) + " already present on machine");
    return true;
  }
  if (reason.empty()) {
    // Pulling. A retry after a failure keeps showing that failure until it ends, as kubelet.
    if (pod.rec.reason == "ErrImagePull" || pod.rec.reason == "ImagePullBackOff") return false;
    reason = "ContainerCreating";
    message = "pulling image " + dq(pulling);
  } else if (pod.rec.reason != reason) {
    event(pod.rec.name, "Warning", reason == "ImageNotFound" ? "ImageNotFound" : "Failed", message);
  }
  for (auto& [cname, c] : pod.containers) {
    if (c.rec.state != "Waiting") continue;
    c.rec.reason = reason;
    c.rec.message = reason == "ContainerCreating" ? "" : message;
    saveContainer(pod, c);
  }
  setPhase(pod, "Pending", reason, message);
  return false;
}

void Agent::pullForPod(PodState& pod, const specs::Container& c, const images::Reference& ref) {
  std::map<std::string, specs::Secret> secrets;
  for (const auto& [n, d] : desired_.secrets) secrets.emplace(n, d.secret);
  auto kr = podKeyring(pod.spec.namespaceName, pod.spec.imagePullSecrets, secrets);
  for (const auto& p : kr.problems)
    event(pod.rec.name, "Warning", "FailedToRetrieveImagePullSecret",
          "Unable to retrieve some image pull secrets (" + p +
              "); attempting to pull the image may not succeed.");
  pod.imagePulls[c.image] = {PodImagePull::State::Pulling, "", ""};
  event(pod.rec.name, "Normal", "Pulling", "Pulling image " + dq(c.image));
  // Keyed by the Secrets' namespaced keys: pods of two namespaces naming a "regcred" each use
  // different credentials, so they never join one pull.
  std::string key = ref.str() + "|";
  for (const auto& s : pod.spec.imagePullSecrets)
    key += specs::objectKey(pod.spec.namespaceName, s) + ",";
  const std::string name = pod.rec.name, image = c.image;
  joinPull(key, ref, kr.keyring, {name, image, nullptr, [this, name, image](Result<StorePull> r) {
                                    podPullDone(name, image, r);
                                  }});
}

bool Agent::joinPull(const std::string& key, const images::Reference& ref,
                     const images::Keyring& keyring, PullWaiter waiter) {
  auto it = pulls_.find(key);
  if (it != pulls_.end()) {
    it->second.waiters.push_back(std::move(waiter));
    return false;
  }
  PullInFlight& p = pulls_[key];
  p.id = ++nextPullId_;
  p.ref = ref.str();
  p.waiters.push_back(std::move(waiter));
  p.cancel = std::make_shared<std::atomic<bool>>(false);
  images::PullOptions opts;
  opts.config = cfg_.images;
  opts.keyring = keyring;
  opts.cancel = p.cancel.get();
  ++imageImportsInFlight_;  // prune and rm wait: skipped layers must stay until imported
  auto result = std::make_shared<Result<StorePull>>(makeError("not pulled"));
  auto* store = &images_;
  const std::string dir = cfg_.paths.imagesDir();
  auto cancel = p.cancel;
  const uint64_t id = p.id;
  // Layer progress crosses to the loop (the pull's threads never touch agent state).
  auto onUpdate = [this, key, id](const LayerUpdate& u) {
    dispatcher_.post([this, key, id, u] { pullProgress(key, id, u); });
  };
  spdlog::info("pulling image {}", ref.str());
  dispatcher_.runBlocking(
      [store, dir, ref, opts, result, cancel, onUpdate] {
        *result = pullIntoStore(*store, dir, ref, opts, onUpdate);
      },
      [this, key, id, ref, result] {
        --imageImportsInFlight_;
        auto mine = pulls_.find(key);
        const bool wanted = mine != pulls_.end() && mine->second.id == id;  // not cancelled
        if (!wanted && !result->ok()) {
          spdlog::info("pull of {} stopped after its cancel; nothing of it kept", ref.str());
          return;
        }
        if (result->ok()) {
          const StorePull& r = **result;
          if (!ref.tag.empty())
            logStoreError(store_->upsertImage({ref.name(), ref.tag, r.id, r.sizeBytes, nowMs()}),
                          "record pulled image");
          spdlog::info("pulled image {} ({}, {} layers, {} present, {} bytes downloaded, {})",
                       ref.str(), r.id, r.layers, r.skippedLayers, r.fetchedBytes,
                       seconds(r.elapsedMs));
        } else {
          spdlog::warn("{}", result->error().message);
        }
        if (wanted) {
          auto node = pulls_.extract(mine);
          for (auto& w : node.mapped().waiters) w.done(*result);
        }
        if (result->ok()) imagesChanged();
      });
  return true;
}

void Agent::pullProgress(const std::string& key, uint64_t id, const LayerUpdate& u) {
  auto it = pulls_.find(key);
  if (it == pulls_.end() || it->second.id != id) return;
  it->second.progress.apply(u);
  const json line = PullProgress::line(u);
  for (const auto& w : it->second.waiters)
    if (w.client) w.client->push(line);  // a closed one is dropped by the next check
}

// A pod still needs a pull while its spec (as desired, paced or not) uses the image; boxctl
// while it is connected. A waiter with neither is needed until the pull ends.
bool Agent::pullWaiterNeeded(const PullWaiter& w) const {
  if (w.client) return w.client->open();
  if (w.pod.empty()) return true;
  for (const auto* pods : {&desired_.pods, &specPods_}) {
    auto it = pods->find(w.pod);
    if (it != pods->end() && usesImage(it->second.spec, w.image)) return true;
  }
  return false;
}

void Agent::schedulePullCheck() {
  if (pulls_.empty()) return;
  if (!pullCheckTimer_) pullCheckTimer_ = std::make_unique<Timer>(loop_);
  if (!pullCheckTimer_->active()) pullCheckTimer_->start(0, [this] { dropUnneededPulls(); });
}

// The last waiter gone (its pod removed or given another image, its boxctl disconnected):
// the transfers stop, the pull removes its temporaries, and a pod asking for the image later
// starts a pull of its own.
void Agent::dropUnneededPulls() {
  for (auto it = pulls_.begin(); it != pulls_.end();) {
    PullInFlight& p = it->second;
    std::erase_if(p.waiters, [&](const PullWaiter& w) { return !pullWaiterNeeded(w); });
    if (!p.waiters.empty() || p.cancel->load()) {
      ++it;
      continue;
    }
    p.cancel->store(true);
    const std::string msg = "pull of " + p.ref + " cancelled: no pod needs it";
    spdlog::info("{}", msg);
    const int64_t now = nowMs();
    storeEvent({0, now, "", "Normal", "PullCancelled", msg});
    notifyEventWatchers(now, "", "Normal", "PullCancelled", msg);
    it = pulls_.erase(it);
  }
}

void Agent::podPullDone(const std::string& name, const std::string& image,
                        const Result<StorePull>& r) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  auto st = pod.imagePulls.find(image);
  if (st == pod.imagePulls.end() || st->second.state != PodImagePull::State::Pulling) return;
  if (pod.created || pod.busy || !usesImage(pod.spec, image)) {
    pod.imagePulls.erase(st);
    return;
  }
  if (r.ok()) {
    st->second = {PodImagePull::State::Pulled, r->id, ""};
    event(name, "Normal", "Pulled",
          "Successfully pulled image " + dq(image) + " in " + seconds(r->elapsedMs) + " (" +
              (r->digest.empty() ? r->id : r->digest) + ", " + std::to_string(r->layers) +
              " layers, " + std::to_string(r->layers - r->skippedLayers) + " downloaded, " +
              std::to_string(r->fetchedBytes) + " bytes)");
    markDirty(name);
    return;
  }
  const std::string msg = r.error().message;
  st->second = {PodImagePull::State::Failed, "", msg};
  pod.pullBackoffMs =
      nextPullBackoffMs(pod.pullBackoffMs, cfg_.restartBackoffMs, cfg_.maxBackoffMs);
  event(name, "Warning", "Failed", "Failed to pull image " + dq(image) + ": " + msg);
  event(name, "Warning", "Failed", "Error: ErrImagePull");
  for (auto& [cname, c] : pod.containers) {
    if (c.rec.state != "Waiting") continue;
    c.rec.reason = "ErrImagePull";
    c.rec.message = msg;
    saveContainer(pod, c);
  }
  setPhase(pod, "Pending", "ErrImagePull", msg);
  if (!pod.retryTimer) pod.retryTimer = std::make_unique<Timer>(loop_);
  pod.retryTimer->start(static_cast<uint64_t>(pod.pullBackoffMs),
                        [this, name] { reconcile(name); });
  if (!pod.pullNoticeTimer) pod.pullNoticeTimer = std::make_unique<Timer>(loop_);
  pod.pullNoticeTimer->start(static_cast<uint64_t>(std::min<int64_t>(pod.pullBackoffMs / 2, 5000)),
                             [this, name] { showPullBackOff(name); });
}

// ErrImagePull turns into ImagePullBackOff while the pod waits to pull again.
void Agent::showPullBackOff(const std::string& name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  if (pod.created || pod.busy || pod.rec.reason != "ErrImagePull") return;
  for (const auto& [image, st] : pod.imagePulls) {
    if (st.state != PodImagePull::State::Failed) continue;
    const std::string msg = "Back-off pulling image " + dq(image) + ": " + st.message;
    event(name, "Normal", "BackOff", "Back-off pulling image " + dq(image));
    event(name, "Warning", "Failed", "Error: ImagePullBackOff");
    for (auto& [cname, c] : pod.containers) {
      if (c.rec.state != "Waiting") continue;
      c.rec.reason = "ImagePullBackOff";
      c.rec.message = msg;
      saveContainer(pod, c);
    }
    setPhase(pod, "Pending", "ImagePullBackOff", msg);
    return;
  }
}

// New images (an import, a pull): pods waiting for one look again, at once.
void Agent::imagesChanged() {
  for (const auto& [pname, pod] : pods_) {
    const std::string& r = pod->rec.reason;
    if (pod->created || pod->busy) continue;
    if (r == "ImageNotFound" || r == "ErrImageNeverPull" || r == "ErrImagePull" ||
        r == "ImagePullBackOff") {
      if (r != "ImageNotFound" && r != "ErrImageNeverPull" && pod->retryTimer)
        pod->retryTimer->stop();
      markDirty(pname);
    }
  }
}

static json pullResultJson(const std::string& image, const StorePull& r) {
  return {{"image", image},
          {"id", r.id},
          {"digest", r.digest},
          {"repoDigest", r.repoDigest},
          {"sizeBytes", r.sizeBytes},
          {"registryBytes", r.registryBytes},
          {"fetchedBytes", r.fetchedBytes},
          {"layers", r.layers},
          {"skippedLayers", r.skippedLayers},
          {"newLayers", r.newLayers},
          {"elapsedMs", r.elapsedMs}};
}

// An image pull request of an older boxctl: one reply when the pull ends.
void Agent::handleImagePull(const json& req, std::function<void(json)> reply) {
  auto ref = images::parseReference(req.value("ref", ""));
  if (!ref.ok()) return reply({{"ok", false}, {"error", "image pull: " + ref.error().message}});
  const std::string shown = ref->str();
  if (cfg_.images.offline) return reply({{"ok", false}, {"error", offlineRefusal(shown)}});
  joinPull(shown + "|", *ref, images::Keyring{},
           {"", "", nullptr, [shown, reply](Result<StorePull> r) {
              if (!r.ok()) return reply({{"ok", false}, {"error", r.error().message}});
              json j = pullResultJson(shown, *r);
              j["ok"] = true;
              reply(j);
            }});
}

// boxctl image pull REF: into the store, tagged; joins a pull under way (a pod's too) and
// streams its progress: PULL, each layer's latest state, LAYER lines as they change, then
// PULLED (or ERROR), and the stream ends. boxctl going away cancels the pull only when no pod
// needs it either.
Status Agent::handleImagePullWatch(const json& req, std::shared_ptr<ApiStream> stream) {
  auto ref = images::parseReference(req.value("ref", ""));
  if (!ref.ok()) return ref.error().wrap("image pull");
  const std::string shown = ref->str();
  if (cfg_.images.offline) return makeError(offlineRefusal(shown));
  const std::string key = shown + "|";
  const bool joined = pulls_.count(key) > 0;
  if (!stream->push({{"type", "PULL"}, {"ref", shown}, {"joined", joined}})) return {};
  if (joined) {
    for (const auto& line : pulls_[key].progress.lines())
      if (!stream->push(line)) return {};
  }
  std::weak_ptr<ApiStream> weak = stream;
  stream->onClose([this] { schedulePullCheck(); });
  joinPull(key, *ref, images::Keyring{},
           {"", "", stream, [shown, weak](Result<StorePull> r) {
              auto s = weak.lock();
              if (!s) return;
              if (!r.ok()) {
                s->push({{"type", "ERROR"}, {"error", r.error().message}});
              } else {
                json j = pullResultJson(shown, *r);
                j["type"] = "PULLED";
                s->push(j);
              }
              s->end();
            }});
  return {};
}

void Agent::cancelPulls() {
  for (auto& [key, p] : pulls_) p.cancel->store(true);
}

}  // namespace boxd::agent
