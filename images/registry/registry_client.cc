#include "images/registry/registry_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/hash.h"
#include "common/util.h"
#include "images/registry/manifest.h"
#include "images/registry/pull_error.h"
#include "images/registry/reference.h"

namespace boxd::images {

namespace {

using nlohmann::json;

constexpr int64_t kFirstBackoffMs = 250;
constexpr int64_t kPingStallMs = 10000;

// The registry's own error words ({"errors":[{"code":..,"message":..}]}), printable and short.
std::string registryErrorText(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("errors") || !doc["errors"].is_array()) return "";
  std::string out;
  for (const auto& e : doc["errors"]) {
    if (!e.is_object()) continue;
    std::string part = e.value("code", "");
    std::string msg = e.value("message", "");
    if (!msg.empty()) part += (part.empty() ? "" : " ") + ("(" + msg + ")");
    out += (out.empty() ? "" : "; ") + part;
  }
  std::string clean;
  for (char c : out.substr(0, 200)) clean += (c >= 32 && c < 127) ? c : '?';
  return clean;
}

std::string realmHost(const std::string& realm) {
  std::string rest =
      realm.substr(realm.find("://") == std::string::npos ? 0 : realm.find("://") + 3);
  return rest.substr(0, rest.find_first_of("/?"));
}

}  // namespace

RegistryClient::RegistryClient(EndpointConfig cfg, std::string repository, Limits limits,
                               CancelFlags cancel)
    : cfg_(std::move(cfg)), repo_(std::move(repository)), limits_(limits), cancel_(cancel) {}

std::string RegistryClient::who() const { return cfg_.host; }

HttpRequest RegistryClient::baseRequest(const std::string& url) const {
  HttpRequest r;
  r.url = url;
  r.tls.verify = verifyTls_;
  r.tls.caDir = cfg_.caDir;
  r.allowPlainRedirect = scheme_ == "http";
  r.deadlineMs = limits_.deadlineMs;
  r.connectTimeoutMs = limits_.connectTimeoutMs;
  r.stallTimeoutMs = limits_.stallTimeoutMs;
  r.maxBytesPerSecond = limits_.maxBytesPerSecond;
  r.cancel = cancel_;
  r.resolve = cfg_.resolve;
  return r;
}

Status RegistryClient::ping() {
  bool loopback = isLoopbackHost(cfg_.host);
  bool fallback = cfg_.insecure || loopback;
  verifyTls_ = !cfg_.insecure;
  scheme_ = "https";
  // A registry that takes a connection and says nothing to GET /v2/ is dead: no retry of a
  // timeout here, and a short stall timer.
  auto pingRequest = [&] {
    HttpRequest req = baseRequest(baseUrl() + "/v2/");
    req.stallTimeoutMs = std::min<int64_t>(req.stallTimeoutMs, kPingStallMs);
    return req;
  };
  HttpResponse r = send(pingRequest(), false);
  if (r.curlCode != 0 && fallback && isTlsHandshakeFailure(r.curlCode)) {
    scheme_ = "http";  // the server does not speak TLS
    r = send(pingRequest(), false);
  }
  if (r.curlCode != 0 && !fallback && isTlsHandshakeFailure(r.curlCode)) {
    return pullError(PullReason::Unreachable,
                     who() + " (GET /v2/): TLS handshake failed (" + r.curlError +
                         "); a registry that serves plain HTTP must be listed in "
                         "images.insecureRegistries");
  }
  if (r.curlCode != 0) return httpError(r, "GET /v2/");
  if (r.status == 200) return {};
  if (r.status == 401) return authenticate(r);
  return pullError(PullReason::Unreachable, who() + " does not answer as a registry (HTTP " +
                                                std::to_string(r.status) + " for " + baseUrl() +
                                                "/v2/)");
}

Status RegistryClient::authenticate(const HttpResponse& resp) {
  std::vector<Challenge> cs = parseChallenges(resp.headerValues("www-authenticate"));
  for (const auto& c : cs) {
    if (c.scheme == "Bearer") return fetchToken(c);
  }
  for (const auto& c : cs) {
    if (c.scheme != "Basic") continue;
    if (!cfg_.credential) {
      return pullError(PullReason::Unauthorized,
                       who() +
                           " requires authentication and no credentials match it "
                           "(imagePullSecrets or images.authFile)");
    }
    std::lock_guard lock(authMu_);
    authMode_ = "basic";
    return {};
  }
  return pullError(PullReason::Unauthorized,
                   who() + " answered 401 without a Bearer or Basic challenge");
}

Status RegistryClient::fetchToken(const Challenge& c) {
  std::string realm = c.param("realm");
  if (!startsWith(realm, "https://") && !startsWith(realm, "http://")) {
    return pullError(PullReason::Unauthorized,
                     who() + ": bearer challenge without an http(s) realm");
  }
  bool plainOk = isLoopbackHost(realmHost(realm)) || cfg_.insecure || scheme_ == "http";
  if (cfg_.credential && startsWith(realm, "http://") && !plainOk) {
    return pullError(PullReason::Unauthorized, who() +
                                                   ": refusing to send credentials to the "
                                                   "plain-HTTP token service " +
                                                   realmHost(realm));
  }
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (!c.param("service").empty()) url += "service=" + urlEscape(c.param("service")) + "&";
  url += "scope=" + urlEscape("repository:" + repo_ + ":pull");
  HttpRequest req = baseRequest(url);
  req.allowPlainRedirect = plainOk;
  if (cfg_.credential) {
    req.basicUser = cfg_.credential->username;
    req.basicPassword = cfg_.credential->password;
  }
  req.maxBodyBytes = 1 << 20;
  HttpResponse r;
  for (int attempt = 1;; ++attempt) {
    r = httpGet(req);
    bool retry = (r.curlCode != 0 && isRetryableTransportError(r.curlCode)) || r.status >= 500;
    if (!retry || attempt >= limits_.maxAttempts || monotonicMs() >= limits_.deadlineMs) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(kFirstBackoffMs << (attempt - 1)));
  }
  std::string service = "token service " + realmHost(realm);
  if (r.curlCode != 0) {
    return pullError(PullReason::Unreachable, service + " of " + who() + ": " + r.curlError);
  }
  if (r.status == 401 || r.status == 403) {
    return pullError(PullReason::Unauthorized,
                     cfg_.credential
                         ? service + " refused the credentials from " + cfg_.credential->source
                         : service + " refused an anonymous token for " + repo_ +
                               " (no credentials match " + who() + ")");
  }
  if (r.status != 200) {
    return pullError(PullReason::Unreachable,
                     service + " answered HTTP " + std::to_string(r.status));
  }
  json doc = json::parse(r.body, nullptr, false);
  std::string token;
  if (doc.is_object()) {
    token = doc.value("token", "");
    if (token.empty()) token = doc.value("access_token", "");
  }
  if (token.empty()) return pullError(PullReason::Unauthorized, service + " returned no token");
  std::lock_guard lock(authMu_);
  authMode_ = "bearer";
  token_ = std::move(token);
  challenge_ = c;
  return {};
}

HttpResponse RegistryClient::send(HttpRequest req, bool retryTimeouts) {
  bool renewed = false;
  HttpResponse r;
  for (int attempt = 1;; ++attempt) {
    {
      std::lock_guard lock(authMu_);
      if (authMode_ == "bearer") req.bearer = token_;
      if (authMode_ == "basic" && cfg_.credential) {
        req.basicUser = cfg_.credential->username;
        req.basicPassword = cfg_.credential->password;
      }
    }
    r = httpGet(req);
    if (cancel_.set()) return r;
    bool authenticated = false;
    {
      std::lock_guard lock(authMu_);
      authenticated = !authMode_.empty();
    }
    if (r.curlCode == 0 && r.status == 401 && !renewed && authenticated) {
      renewed = true;  // an expired token: one more with a new one
      if (!authenticate(r).ok()) return r;
      --attempt;
      continue;
    }
    bool retry =
        (r.curlCode != 0 && !r.sinkRefused && !r.bodyTooLarge &&
         isRetryableTransportError(r.curlCode) && (retryTimeouts || !isTimeout(r.curlCode))) ||
        (r.curlCode == 0 && (r.status >= 500 || r.status == 429));
    int64_t backoff = kFirstBackoffMs << (attempt - 1);
    if (!retry || attempt >= limits_.maxAttempts || monotonicMs() + backoff >= limits_.deadlineMs) {
      return r;
    }
    retries_++;
    for (int64_t end = monotonicMs() + backoff; monotonicMs() < end;) {
      if (cancel_.set()) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (req.onBytes) req.onBytes(0);
  }
}

Error RegistryClient::httpError(const HttpResponse& r, const std::string& what) const {
  std::string at = who() + " (" + what + ")";
  if (r.curlCode != 0) {
    if (isTlsVerifyFailure(r.curlCode)) {
      return pullError(PullReason::Unreachable,
                       "TLS certificate of " + who() + " is not trusted (" + r.curlError +
                           "); put its CA in the certsDir as " + who() + "/ca.crt");
    }
    if (isTimeout(r.curlCode) && monotonicMs() >= limits_.deadlineMs) {
      return pullError(PullReason::Unreachable, at + ": the pull's deadline passed");
    }
    if (isTimeout(r.curlCode)) {
      return pullError(PullReason::Unreachable, at + ": no answer (" + r.curlError + ")");
    }
    return pullError(PullReason::Unreachable, at + ": " + r.curlError);
  }
  std::string detail = registryErrorText(r.body);
  std::string suffix =
      " (HTTP " + std::to_string(r.status) + (detail.empty() ? "" : ", " + detail) + ")";
  if (r.status == 401 || r.status == 403) {
    if (!cfg_.credential) {
      return pullError(PullReason::Unauthorized,
                       at +
                           ": authentication required and no credentials match it "
                           "(imagePullSecrets or images.authFile)" +
                           suffix);
    }
    return pullError(PullReason::Unauthorized, at + ": the registry refused the credentials from " +
                                                   cfg_.credential->source + suffix);
  }
  if (r.status == 404) {
    return pullError(what.find("manifest") != std::string::npos ? PullReason::ManifestUnknown
                                                                : PullReason::Failed,
                     at + ": not found" + suffix);
  }
  if (r.status >= 500 || r.status == 429) {
    return pullError(PullReason::Unreachable, at + ": server error" + suffix);
  }
  return pullError(PullReason::Failed, at + ": unexpected answer" + suffix);
}

Result<FetchedManifest> RegistryClient::manifest(const std::string& ref,
                                                 const std::string& expected,
                                                 int64_t expectedSize) {
  std::string what = "manifest " + repo_ + (validDigest(ref) ? "@" : ":") + ref;
  HttpRequest req = baseRequest(baseUrl() + "/v2/" + repo_ + "/manifests/" + ref);
  req.headers.push_back("Accept: " + manifestAccept());
  req.maxBodyBytes = kMaxManifestBytes;
  HttpResponse r = send(req);
  if (r.bodyTooLarge) {
    return pullError(PullReason::Failed, who() + ": " + what + " is larger than 4 MiB");
  }
  if (r.curlCode != 0 || r.status != 200) return httpError(r, what);
  FetchedManifest m;
  m.body = std::move(r.body);
  m.contentType = r.headerValues("content-type");
  m.digest = "sha256:" + sha256Hex(m.body);
  if (!expected.empty() && m.digest != expected) {
    return pullError(PullReason::DigestMismatch, who() + ": " + what + " has digest " + m.digest);
  }
  if (expectedSize > 0 && static_cast<int64_t>(m.body.size()) != expectedSize) {
    return pullError(PullReason::DigestMismatch,
                     who() + ": " + what + " is " + std::to_string(m.body.size()) +
                         " bytes, the index says " + std::to_string(expectedSize));
  }
  std::string served = r.headerValues("docker-content-digest");
  if (startsWith(served, "sha256:") && served != m.digest) {
    return pullError(PullReason::DigestMismatch, who() + ": " + what + " has digest " + m.digest +
                                                     " but the registry calls it " + served);
  }
  return m;
}

Status RegistryClient::blob(const std::string& digest,
                            const std::function<bool(const char*, size_t)>& sink,
                            const std::function<void()>& restart,
                            const std::function<void(int64_t)>& onBytes) {
  std::string what = "blob " + digest;
  HttpRequest req = baseRequest(baseUrl() + "/v2/" + repo_ + "/blobs/" + digest);
  req.sink = sink;
  // Bytes reported as 0 mark a retry: the sink starts over.
  req.onBytes = [&](int64_t n) {
    if (n == 0) restart();
    if (onBytes) onBytes(n);
  };
  HttpResponse r = send(req);
  if (r.sinkRefused) return {};  // the caller knows why (size or cancel)
  if (cancel_.set()) {
    return pullError(PullReason::Cancelled, what + ": stopped");
  }
  if (r.curlCode != 0 || r.status != 200) return httpError(r, what);
  return {};
}

}  // namespace boxd::images
