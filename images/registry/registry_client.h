// A client of one registry endpoint (the registry itself or one of its mirrors) for one
// repository: the scheme is chosen, then the auth challenge of GET /v2/ answered (a bearer
// token from the realm for scope repository:<path>:pull, fetched with the credential or
// anonymously; or basic auth), then manifests and blobs fetched with retries.
//
//   scheme: https, verified against the system CAs + certsDir/<host[:port]>/*.crt;
//           registries named insecure: https without verification, then plain http if the
//           server does not speak TLS; loopback registries (127.0.0.0/8, localhost, ::1):
//           verified https, then plain http if the server does not speak TLS.
//   retry:  connection failures, resets, stalls, 5xx and 429, with backoff (250 ms doubling),
//           at most maxAttempts and never past the deadline. 401 once more after a new token.
//           GET /v2/ has a 10 s stall timer and no retry after a timeout: a registry that
//           accepts connections and never answers is unreachable within seconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "images/registry/credentials.h"
#include "images/registry/transport.h"

namespace boxd::images {

struct Limits {
  int maxAttempts = 4;
  int64_t deadlineMs = 0;  // absolute, monotonicMs()
  int64_t connectTimeoutMs = 10000;
  int64_t stallTimeoutMs = 30000;
  int64_t maxBytesPerSecond = 0;
};

struct EndpointConfig {
  std::string host;       // host[:port] of the API
  bool insecure = false;  // named in images.insecureRegistries
  std::string caDir;      // certsDir/<host[:port]>
  std::optional<Credential> credential;
  std::vector<std::string> resolve;  // PullOptions::resolve
};

struct FetchedManifest {
  std::string body;
  std::string contentType;
  std::string digest;  // sha256:<hex> of body, checked against Docker-Content-Digest
};

class RegistryClient {
 public:
  RegistryClient(EndpointConfig cfg, std::string repository, Limits limits, CancelFlags cancel);

  // GET /v2/: chooses the scheme and reads the auth challenge. Errors carry a PullReason.
  Status ping();
  // GET /v2/<repo>/manifests/<ref>; `expected` (a digest) is verified when set.
  Result<FetchedManifest> manifest(const std::string& ref, const std::string& expected,
                                   int64_t expectedSize);
  // GET /v2/<repo>/blobs/<digest> into `sink`; `restart` is called before each retry so the
  // sink starts over. The caller verifies the content.
  Status blob(const std::string& digest, const std::function<bool(const char*, size_t)>& sink,
              const std::function<void()>& restart, const std::function<void(int64_t)>& onBytes);

  const std::string& host() const { return cfg_.host; }
  std::string baseUrl() const { return scheme_ + "://" + cfg_.host; }
  // Attempts retried so far (tests and progress).
  int retries() const { return retries_.load(); }

 private:
  HttpRequest baseRequest(const std::string& url) const;
  // Sends with auth and retries; a 401 gets one new token.
  HttpResponse send(HttpRequest req, bool retryTimeouts = true);
  Status authenticate(const HttpResponse& challengeResp);
  Status fetchToken(const Challenge& c);
  Error httpError(const HttpResponse& r, const std::string& what) const;
  std::string who() const;

  EndpointConfig cfg_;
  std::string repo_;
  Limits limits_;
  CancelFlags cancel_;
  std::string scheme_ = "https";
  bool verifyTls_ = true;
  mutable std::mutex authMu_;
  std::string authMode_;  // "", "basic", "bearer"
  std::string token_;
  std::optional<Challenge> challenge_;
  std::atomic<int> retries_{0};
};

}  // namespace boxd::images
