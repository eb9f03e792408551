// One HTTP GET on libcurl (HTTP/1.1 and 2, TLS, proxies from the environment's *_proxy,
// redirects), bounded in time: a connect timeout, a stall timeout (no byte for that long) and
// an absolute deadline. Credentials go through curl's own auth options, which do not follow a
// redirect to another host (blob downloads are often redirected to a storage service).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace boxd::images {

struct TlsConfig {
  bool verify = true;  // false only for registries the config names insecure
  std::string caDir;   // extra CA certificates: every *.crt in it (system CAs stay trusted)
};

// What stops a transfer soon: the pull's own flag (another transfer of it failed) and the
// caller's (boxctl on SIGINT, boxd on shutdown). Either may be null.
struct CancelFlags {
  const std::atomic<bool>* pull = nullptr;
  const std::atomic<bool>* caller = nullptr;
  bool set() const {
    return (pull != nullptr && pull->load()) || (caller != nullptr && caller->load());
  }
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;      // "Accept: ..."; never an Authorization header
  std::string basicUser, basicPassword;  // basic auth when basicUser is set
  std::string bearer;                    // bearer token when set
  TlsConfig tls;
  bool allowPlainRedirect = false;  // https -> http redirects only for plain-HTTP registries
  int64_t deadlineMs = 0;           // absolute, monotonicMs(); the request fails at it
  int64_t connectTimeoutMs = 10000;
  int64_t stallTimeoutMs = 30000;
  int64_t maxBytesPerSecond = 0;   // 0: unlimited
  int64_t maxBodyBytes = 4 << 20;  // the body kept in memory when no sink is set
  // Receives the body of a 2xx response; false stops the transfer.
  std::function<bool(const char* data, size_t len)> sink;
  // Called as bytes arrive (total so far); may be empty.
  std::function<void(int64_t)> onBytes;
  CancelFlags cancel;                // set: the transfer stops soon
  std::vector<std::string> resolve;  // "host:port:address" (curl's CURLOPT_RESOLVE); tests
};

struct HttpResponse {
  long status = 0;   // 0 when no response came
  int curlCode = 0;  // CURLcode, 0 = transfer completed
  std::string curlError;
  bool sinkRefused = false;  // the sink returned false
  bool bodyTooLarge = false;
  std::string body;                            // non-2xx bodies, and 2xx bodies without a sink
  std::map<std::string, std::string> headers;  // lower-case names, of the final response
  std::string headerValues(const std::string& name) const;
};

HttpResponse httpGet(const HttpRequest& req);

// curl's codes, for the callers' retry and fallback decisions.
bool isTlsHandshakeFailure(int curlCode);  // e.g. the server speaks plain HTTP
bool isTlsVerifyFailure(int curlCode);
bool isTimeout(int curlCode);
bool isRetryableTransportError(int curlCode);
// "%XX" escaping for a query parameter.
std::string urlEscape(const std::string& s);

}  // namespace boxd::images
