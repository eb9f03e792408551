#include "images/registry/pull.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/fd.h"
#include "common/util.h"
#include "images/registry/layout_files.h"
#include "images/registry/registry_client.h"

namespace boxd::images {

namespace {

using nlohmann::json;

std::string stripScheme(std::string s) {
  for (const char* p : {"https://", "http://"}) {
    if (startsWith(s, p)) s = s.substr(std::string_view(p).size());
  }
  while (endsWith(s, "/")) s.pop_back();
  return s;
}

struct Endpoint {
  EndpointConfig cfg;
  bool mirror = false;
};

std::vector<Endpoint> endpointsFor(const Reference& ref, const PullOptions& o) {
  std::vector<Endpoint> out;
  auto make = [&](const std::string& host, bool mirror) {
    Endpoint e;
    e.cfg.host = host;
    e.mirror = mirror;
    const auto& insecure = o.config.insecureRegistries;
    e.cfg.insecure =
        std::find(insecure.begin(), insecure.end(), host) != insecure.end() ||
        (!mirror && std::find(insecure.begin(), insecure.end(), ref.domain) != insecure.end());
    if (!o.config.certsDir.empty()) e.cfg.caDir = o.config.certsDir + "/" + host;
    e.cfg.resolve = o.resolve;
    e.cfg.credential = mirror ? o.keyring.lookupHost(host) : o.keyring.lookup(ref);
    return e;
  };
  if (auto it = o.config.mirrors.find(ref.domain); it != o.config.mirrors.end()) {
    for (const auto& m : it->second) out.push_back(make(stripScheme(m), true));
  }
  out.push_back(make(ref.apiHost(), false));
  return out;
}

bool callerCancelled(const PullOptions& o) { return o.cancel != nullptr && o.cancel->load(); }

Error cancelledError() {
  return pullError(PullReason::Cancelled,
                   "stopped by the caller; the transfers stopped and nothing is kept");
}

struct Resolved {
  std::unique_ptr<RegistryClient> client;
  FetchedManifest manifest;
  Manifest parsed;
  std::string repoDigest;
  Platform platform;
};

// Manifest by tag or digest, then the platform's manifest when it is an index.
Result<Resolved> resolveAt(const Endpoint& ep, const Reference& ref, const PullOptions& o,
                           const Limits& limits, CancelFlags cancel) {
  Resolved r;
  r.client = std::make_unique<RegistryClient>(ep.cfg, ref.path, limits, cancel);
  BOXD_TRY(r.client->ping());
  auto top = r.client->manifest(ref.manifestRef(), ref.digest, 0);
  if (!top.ok()) return top.error();
  std::string what = "manifest " + ref.str();
  auto parsed = parseManifest(top->body, top->contentType, what);
  if (!parsed.ok()) {
    bool schema1 = parsed.error().message.find("schema 1") != std::string::npos;
    return pullError(schema1 ? PullReason::Unsupported : PullReason::Failed,
                     parsed.error().message);
  }
  r.repoDigest = top->digest;
  r.platform = o.platform;
  if (parsed->kind == ManifestKind::Index) {
    auto chosen = selectPlatform(*parsed, o.platform, what);
    if (!chosen.ok()) return pullError(PullReason::NoMatchingPlatform, chosen.error().message);
    auto m = r.client->manifest(chosen->digest, chosen->digest, chosen->size);
    if (!m.ok()) return m.error();
    auto inner = parseManifest(m->body, m->contentType, what + " for " + chosen->platform.str());
    if (!inner.ok()) return pullError(PullReason::Failed, inner.error().message);
    if (inner->kind != ManifestKind::Image) {
      return pullError(PullReason::Unsupported, what + ": an index inside an index");
    }
    r.platform = chosen->platform;
    top = std::move(m);
    parsed = std::move(inner);
  }
  r.manifest = std::move(*top);
  r.parsed = std::move(*parsed);
  return r;
}

// Runs the blob downloads, maxParallel at a time; the first failure cancels the others.
class BlobFetcher {
 public:
  BlobFetcher(RegistryClient& client, LayoutFiles& files, const PullOptions& o,
              std::atomic<bool>& cancel)
      : client_(client), files_(files), o_(o), cancel_(cancel) {}

  Status run(const std::vector<Descriptor>& blobs) {
    size_t n = std::min<size_t>(static_cast<size_t>(std::max(1, o_.maxParallel)), blobs.size());
    std::vector<std::thread> workers;
    for (size_t i = 0; i < n; ++i) workers.emplace_back([&] { work(blobs); });
    for (auto& t : workers) t.join();
    if (!first_.ok()) return first_;
    return {};
  }

 private:
  void work(const std::vector<Descriptor>& blobs) {
    while (!cancel_.load() && !callerCancelled(o_)) {
      size_t i = next_++;
      if (i >= blobs.size()) return;
      Status st = fetch(blobs[i]);
      if (!st.ok()) {
        std::lock_guard lock(mu_);
        if (first_.ok() && reasonOf(st.error()) != PullReason::Cancelled) first_ = st;
        cancel_ = true;
        return;
      }
    }
  }

  void emit(PullEvent::Kind kind, const Descriptor& d, int64_t done) {
    if (!o_.progress) return;
    std::lock_guard lock(mu_);
    o_.progress({kind, d.digest, d.mediaType, d.size, done, client_.host()});
  }

  Status fetch(const Descriptor& d) {
    auto out = files_.openBlob(d.digest, d.size);
    if (!out.ok()) return out.error();
    emit(PullEvent::Kind::BlobStart, d, 0);
    Status st = client_.blob(
        d.digest, [&](const char* p, size_t len) { return (*out)->write(p, len); },
        [&] {
          (*out)->restart();
          emit(PullEvent::Kind::BlobRetry, d, 0);
        },
        [&](int64_t bytes) {
          if (bytes > 0) emit(PullEvent::Kind::BlobProgress, d, bytes);
        });
    if (st.ok()) st = (*out)->commit(client_.host());
    if (!st.ok()) {
      (*out)->discard();
      return st;
    }
    emit(PullEvent::Kind::BlobDone, d, d.size);
    return {};
  }

  RegistryClient& client_;
  LayoutFiles& files_;
  const PullOptions& o_;
  std::atomic<bool>& cancel_;
  std::atomic<size_t> next_{0};
  std::mutex mu_;
  Status first_;
};

json indexJson(const Reference& ref, const Resolved& r, const std::vector<std::string>& absent) {
  json annotations = {{"io.containerd.image.name", ref.str()},
                      {"io.boxd.image.repo-digest", ref.name() + "@" + r.repoDigest}};
  if (!ref.tag.empty()) annotations["org.opencontainers.image.ref.name"] = ref.tag;
  if (!absent.empty()) {
    std::string list;
    for (const auto& d : absent) list += (list.empty() ? "" : ",") + d;
    annotations["io.boxd.image.absent-blobs"] = list;
  }
  json desc = {{"mediaType", r.parsed.mediaType},
               {"digest", r.manifest.digest},
               {"size", r.manifest.body.size()},
               {"annotations", annotations}};
  desc["platform"] = {{"os", r.platform.os}, {"architecture", r.platform.architecture}};
  if (!r.platform.variant.empty()) desc["platform"]["variant"] = r.platform.variant;
  return {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", json::array({desc})}};
}

Result<PulledImage> pullInto(const Reference& ref, LayoutFiles& files, const PullOptions& o) {
  std::atomic<bool> cancel{false};
  Limits limits{o.maxAttempts, monotonicMs() + o.timeoutMs, o.connectTimeoutMs, o.stallTimeoutMs,
                o.maxBytesPerSecond};
  std::vector<Endpoint> eps = endpointsFor(ref, o);
  Result<Resolved> resolved = makeError("no endpoint");
  std::string mirrorErrors;
  for (const auto& ep : eps) {
    resolved = resolveAt(ep, ref, o, limits, CancelFlags{&cancel, o.cancel});
    if (callerCancelled(o)) return cancelledError();
    if (resolved.ok()) break;
    if (ep.mirror) mirrorErrors += "; mirror " + ep.cfg.host + ": " + resolved.error().message;
  }
  if (!resolved.ok()) {
    Error e = resolved.error();
    e.message += mirrorErrors;
    return e;
  }
  Resolved& r = *resolved;
  if (o.progress) {
    o.progress({PullEvent::Kind::Resolved, r.manifest.digest, r.parsed.mediaType,
                static_cast<int64_t>(r.manifest.body.size()), 0, r.client->host()});
  }
  std::vector<Descriptor> blobs{r.parsed.config};
  std::set<std::string> seen{r.parsed.config.digest};
  std::vector<std::string> skipped;
  int64_t skippedBytes = 0;
  for (const auto& l : r.parsed.layers) {
    if (!seen.insert(l.digest).second) continue;
    if (o.haveBlob && o.haveBlob(l.digest)) {
      skipped.push_back(l.digest);
      skippedBytes += l.size;
      if (o.progress) {
        o.progress(
            {PullEvent::Kind::BlobSkipped, l.digest, l.mediaType, l.size, 0, r.client->host()});
      }
      continue;
    }
    blobs.push_back(l);
  }
  if (o.progress) {
    for (size_t i = 1; i < blobs.size(); ++i) {
      const Descriptor& l = blobs[i];
      o.progress({PullEvent::Kind::BlobQueued, l.digest, l.mediaType, l.size, 0, r.client->host()});
    }
  }
  BlobFetcher fetcher(*r.client, files, o, cancel);
  Status fetched = fetcher.run(blobs);
  if (callerCancelled(o)) return cancelledError();
  BOXD_TRY(fetched);
  BOXD_TRY(files.writeBlob(r.manifest.digest, r.manifest.body));
  BOXD_TRY(files.writeIndex(indexJson(ref, r, skipped).dump(2) + "\n"));
  PulledImage img;
  img.ref = ref;
  img.endpoint = r.client->host();
  img.manifestDigest = r.manifest.digest;
  img.manifestMediaType = r.parsed.mediaType;
  img.repoDigest = r.repoDigest;
  img.platform = r.platform;
  img.config = r.parsed.config;
  img.layers = r.parsed.layers;
  img.skippedLayers = std::move(skipped);
  img.fetchedBytes = static_cast<int64_t>(r.manifest.body.size());
  for (const auto& b : blobs) img.fetchedBytes += b.size;
  img.sizeBytes = img.fetchedBytes + skippedBytes;
  return img;
}

}  // namespace

Result<PulledImage> pullImage(const Reference& ref, const std::string& layoutDir,
                              const PullOptions& options) {
  auto files = LayoutFiles::create(layoutDir);
  if (!files.ok()) return files.error().wrap("pull " + ref.str());
  auto img = pullInto(ref, *files, options);
  if (!img.ok()) {
    files->removeAll();
    return img.error().wrap("pull " + ref.str());
  }
  return img;
}

}  // namespace boxd::images
