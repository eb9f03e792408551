#include "images/registry/transport.h"

#include <curl/curl.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "common/util.h"

namespace boxd::images {

namespace {

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
};

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (startsWith(line, "HTTP/")) {
    // A new response (after a redirect or a 100): onBody needs its status before the body.
    t->resp->headers.clear();
    size_t sp = line.find(' ');
    t->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = trim(line.substr(colon + 1));
  auto& slot = t->resp->headers[name];
  slot = slot.empty() ? value : slot + ", " + value;
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  bool success = t->resp->status >= 200 && t->resp->status < 300;
  if (success && t->req->sink) {
    if (!t->req->sink(data, len)) {
      t->resp->sinkRefused = true;
      return 0;
    }
    return len;
  }
  if (static_cast<int64_t>(t->resp->body.size() + len) > t->req->maxBodyBytes) {
    t->resp->bodyTooLarge = true;
    return 0;
  }
  t->resp->body.append(data, len);
  return len;
}

int onProgress(void* user, curl_off_t, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->req->cancel.set()) return 1;
  if (t->req->onBytes && now > 0) t->req->onBytes(static_cast<int64_t>(now));
  return 0;
}

// Adds every *.crt of the registry's CA dir to the trust store curl built from the system CAs.
CURLcode addCaDir(CURL*, void* sslctx, void* user) {
  const auto* dir = static_cast<const std::string*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(sslctx));
  DIR* d = ::opendir(dir->c_str());
  if (d == nullptr) return CURLE_OK;  // no such dir: the system CAs alone
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!endsWith(name, ".crt")) continue;
    std::string path = *dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);  // a duplicate is harmless
      X509_free(cert);
    }
    ERR_clear_error();
    std::fclose(f);
  }
  ::closedir(d);
  return CURLE_OK;
}

void setTimeouts(CURL* c, const HttpRequest& req) {
  int64_t left = std::max<int64_t>(1, req.deadlineMs - monotonicMs());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(left, req.connectTimeoutMs)));
  // Less than one byte per second for the stall time: the transfer is dead.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(req.stallTimeoutMs / 1000)));
  if (req.maxBytesPerSecond > 0) {
    curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE,
                     static_cast<curl_off_t>(req.maxBytesPerSecond));
  }
}

void setAuth(CURL* c, const HttpRequest& req) {
  if (!req.bearer.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req.bearer.c_str());
  } else if (!req.basicUser.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, req.basicUser.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, req.basicPassword.c_str());
  }
}

}  // namespace

std::string HttpResponse::headerValues(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse httpGet(const HttpRequest& req) {
  globalInit();
  HttpResponse resp;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) {
    resp.curlCode = CURLE_FAILED_INIT;
    resp.curlError = "curl_easy_init failed";
    return resp;
  }
  Transfer t{&req, &resp};
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, req.allowPlainRedirect ? "http,https" : "https");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "boxd/0.1");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "identity");
  setTimeouts(h, req);
  setAuth(h, req);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req.tls.verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req.tls.verify ? 2L : 0L);
  if (!req.tls.caDir.empty()) {
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, addCaDir);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &req.tls.caDir);
  }
  curl_slist* resolve = nullptr;
  for (const auto& r : req.resolve) resolve = curl_slist_append(resolve, r.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> holdResolve(resolve,
                                                                          curl_slist_free_all);
  if (resolve != nullptr) curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
  curl_slist* headers = nullptr;
  for (const auto& hdr : req.headers) headers = curl_slist_append(headers, hdr.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hold(headers, curl_slist_free_all);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  CURLcode rc = curl_easy_perform(h);
  resp.curlCode = rc;
  if (rc != CURLE_OK) resp.curlError = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) resp.status = status;
  return resp;
}

bool isTlsHandshakeFailure(int code) { return code == CURLE_SSL_CONNECT_ERROR; }
bool isTlsVerifyFailure(int code) {
  return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE;
}
bool isTimeout(int code) { return code == CURLE_OPERATION_TIMEDOUT; }

bool isRetryableTransportError(int code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

std::string urlEscape(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace boxd::images
