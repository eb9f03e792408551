#include "tests/integration/registry_peer.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fd.h"
#include "common/hash.h"
#include "common/util.h"
#include "tests/fixtures/process.h"

namespace boxd::testing {

using nlohmann::json;

std::string Blob::digest() const { return "sha256:" + sha256Hex(bytes); }

namespace {

std::string tarOf(const std::map<std::string, std::string>& files, bool gzip) {
  std::string out;
  archive* a = archive_write_new();
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* u, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(u)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [path, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

json descriptor(const Blob& b) {
  return {{"mediaType", b.mediaType}, {"digest", b.digest()}, {"size", b.bytes.size()}};
}

struct Curl {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h{curl_easy_init(), curl_easy_cleanup};
  std::string body, location;
  long status = 0;
};

size_t collect(char* d, size_t s, size_t n, void* u) {
  static_cast<Curl*>(u)->body.append(d, s * n);
  return s * n;
}
size_t header(char* d, size_t s, size_t n, void* u) {
  std::string line(d, s * n);
  if (line.size() > 9 &&
      (line.compare(0, 9, "Location:") == 0 || line.compare(0, 9, "location:") == 0))
    static_cast<Curl*>(u)->location = trim(line.substr(9));
  return s * n;
}

}  // namespace

Blob makeLayer(const std::map<std::string, std::string>& files) {
  return {"application/vnd.oci.image.layer.v1.tar+gzip", tarOf(files, true)};
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  for (size_t off = 0; off < n;) {
    ssize_t got = ::getrandom(out.data() + off, n - off, 0);
    if (got > 0) off += static_cast<size_t>(got);
  }
  return out;
}

TestImage makeImage(std::vector<Blob> layers, const std::string& arch) {
  TestImage img;
  json diffIds = json::array();
  for (const auto& l : layers) {
    // The diff ID is the digest of the uncompressed tar; tests only need it well-formed.
    diffIds.push_back("sha256:" + sha256Hex(l.bytes + "uncompressed"));
  }
  json config = {{"architecture", arch},
                 {"os", "linux"},
                 {"config", {{"Cmd", {"/bin/sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diffIds}}}};
  img.config = {"application/vnd.oci.image.config.v1+json", config.dump()};
  json ls = json::array();
  for (const auto& l : layers) ls.push_back(descriptor(l));
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config", descriptor(img.config)},
                   {"layers", ls}};
  img.manifest = {"application/vnd.oci.image.manifest.v1+json", manifest.dump()};
  img.layers = std::move(layers);
  return img;
}

Blob makeIndex(const std::vector<std::pair<std::string, const TestImage*>>& byArch) {
  json ms = json::array();
  for (const auto& [arch, img] : byArch) {
    json d = descriptor(img->manifest);
    d["platform"] = {{"os", "linux"}, {"architecture", arch}};
    if (arch == "arm64") d["platform"]["variant"] = "v8";
    ms.push_back(d);
  }
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", ms}};
  return {"application/vnd.oci.image.index.v1+json", index.dump()};
}

int freePort() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

namespace {

Status makeCerts(const std::string& dir) {
  auto run = [&](const std::vector<std::string>& argv) -> Status {
    auto r = runCommand(argv, 30000);
    if (!r.ok()) return r.error();
    if (!r->ok()) return makeError(argv[0] + " " + argv[1] + ": " + r->output);
    return {};
  };
  BOXD_TRY(writeFileAtomic(dir + "/ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"));
  BOXD_TRY(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/ca.key", "-out",
                dir + "/ca.crt", "-days", "2", "-subj", "/CN=boxd test CA"}));
  BOXD_TRY(
      run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", dir + "/server.key", "-out", dir + "/server.csr", "-subj", "/CN=127.0.0.1"}));
  return run({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.crt",
              "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", dir + "/server.crt", "-days",
              "2", "-extfile", dir + "/ext.cnf"});
}

bool portOpen(int port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

}  // namespace

Result<RegistryPeer*> RegistryPeer::start(const std::string& dir, const Options& o) {
  if (::access("/usr/bin/docker-registry", X_OK) != 0) {
    return makeError("docker-registry is not installed (packaging/install-deps.sh)");
  }
  BOXD_TRY(mkdirAll(dir));
  std::unique_ptr<RegistryPeer> p(new RegistryPeer());
  p->dir_ = dir;
  p->o_ = o;
  p->port_ = freePort();
  std::string http = "http: {addr: " + p->host();
  if (o.tls) {
    BOXD_TRY(makeCerts(dir));
    p->ca_ = dir + "/ca.crt";
    http += ", tls: {certificate: " + dir + "/server.crt, key: " + dir + "/server.key}";
  }
  http += "}\n";
  std::string auth;
  if (!o.user.empty()) {
    // The password goes on stdin, never in argv.
    auto r = runCommand({"htpasswd", "-iBc", dir + "/htpasswd", o.user}, 30000, o.password);
    if (!r.ok()) return r.error();
    if (!r->ok()) return makeError("htpasswd: " + r->output);
    auth = "auth: {htpasswd: {realm: boxd-test, path: " + dir + "/htpasswd}}\n";
  }
  if (!o.token.realm.empty()) {
    auth = "auth: {token: {realm: \"" + o.token.realm + "\", service: " + o.token.service +
           ", issuer: " + o.token.issuer + ", rootcertbundle: " + o.token.rootCertBundle + "}}\n";
  }
  p->data_ = o.dataDir.empty() ? dir + "/data" : o.dataDir;
  std::string cfg = "version: 0.1\nstorage: {filesystem: {rootdirectory: " + p->data_ +
                    "}, delete: {enabled: true}}\n" + http + auth + "log: {level: error}\n";
  BOXD_TRY(writeFileAtomic(dir + "/registry.yml", cfg));
  auto pid =
      spawnDaemon({"docker-registry", "serve", dir + "/registry.yml"}, dir + "/registry.log");
  if (!pid.ok()) return pid.error();
  p->pid_ = *pid;
  for (int64_t end = monotonicMs() + 10000; monotonicMs() < end;) {
    if (portOpen(p->port_)) return p.release();
    if (childExited(p->pid_)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto log = readFile(dir + "/registry.log");
  return makeError("docker-registry did not come up: " + (log.ok() ? *log : ""));
}

RegistryPeer::~RegistryPeer() { kill(); }

void RegistryPeer::kill() {
  if (pid_ > 0) stopChild(pid_, 0);
  pid_ = -1;
}

std::string RegistryPeer::url(const std::string& path) const {
  return (o_.tls ? "https://" : "http://") + host() + path;
}

namespace {

Status perform(Curl& c, const RegistryPeer& peer, const std::string& url, const char* method,
               const std::string* body, const std::string& contentType, const std::string& ca,
               const std::string& user, const std::string& password) {
  (void)peer;
  CURL* h = c.h.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
  if (!ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
  if (!user.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str());
  }
  curl_slist* hdrs = curl_slist_append(nullptr, ("Content-Type: " + contentType).c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  if (body != nullptr) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(hdrs);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c.status);
  if (rc != CURLE_OK)
    return makeError(std::string(method) + " " + url + ": " + curl_easy_strerror(rc));
  return {};
}

}  // namespace

Status RegistryPeer::pushBlob(const std::string& repo, const Blob& b) {
  Curl post;
  BOXD_TRY(perform(post, *this, url("/v2/" + repo + "/blobs/uploads/"), "POST", nullptr,
                   "application/octet-stream", ca_, o_.user, o_.password));
  if (post.status != 202) return makeError("upload start: HTTP " + std::to_string(post.status));
  std::string loc = post.location;
  if (startsWith(loc, "/")) loc = url(loc);
  loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + b.digest();
  Curl put;
  BOXD_TRY(perform(put, *this, loc, "PUT", &b.bytes, "application/octet-stream", ca_, o_.user,
                   o_.password));
  if (put.status != 201)
    return makeError("upload: HTTP " + std::to_string(put.status) + " " + put.body);
  return {};
}

Status RegistryPeer::pushManifest(const std::string& repo, const std::string& ref, const Blob& m) {
  Curl put;
  BOXD_TRY(perform(put, *this, url("/v2/" + repo + "/manifests/" + ref), "PUT", &m.bytes,
                   m.mediaType, ca_, o_.user, o_.password));
  if (put.status != 201)
    return makeError("manifest: HTTP " + std::to_string(put.status) + " " + put.body);
  return {};
}

Status RegistryPeer::pushImage(const std::string& repo, const std::string& tag,
                               const TestImage& img) {
  for (const auto& l : img.layers) BOXD_TRY(pushBlob(repo, l));
  BOXD_TRY(pushBlob(repo, img.config));
  return pushManifest(repo, tag, img.manifest);
}

std::string RegistryPeer::blobDataPath(const std::string& digest) const {
  std::string hex = digest.substr(7);
  return data_ + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

std::set<std::string> filesUnder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

}  // namespace boxd::testing
