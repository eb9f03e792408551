// A real OCI registry for tests: Debian's docker-registry (distribution) started on 127.0.0.1
// with a free port and a config of its own, plain HTTP or TLS (a CA and server certificate the
// fixture makes with openssl) with htpasswd (bcrypt) auth. Images are built in memory (gzipped
// tar layers, an OCI config with diff IDs) and pushed over the registry API with libcurl.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::testing {

// Every regular file under dir, relative ("blobs/sha256/<hex>", "index.json", ...); none if dir
// does not exist.
std::set<std::string> filesUnder(const std::string& dir);

struct Blob {
  std::string mediaType;
  std::string bytes;
  std::string digest() const;
};

struct TestImage {
  std::vector<Blob> layers;
  Blob config;
  Blob manifest;  // OCI image manifest naming config and layers
};

// A layer: a gzipped tar with the given regular files (path -> content).
Blob makeLayer(const std::map<std::string, std::string>& files);
// Random, incompressible bytes (large layers for slow pulls).
std::string randomBytes(size_t n);
TestImage makeImage(std::vector<Blob> layers, const std::string& arch = "amd64");
// An OCI index naming the images' manifests, each with its architecture.
Blob makeIndex(const std::vector<std::pair<std::string, const TestImage*>>& byArch);

class RegistryPeer {
 public:
  struct Options {
    bool tls = false;
    std::string user;  // htpasswd auth when set (needs tls)
    std::string password;
    // The storage root; "" = <dir>/data. Another peer's: both serve the same images (tests
    // push to a plain peer and pull from one with token auth).
    std::string dataDir;
    // auth: token: (the Docker token flow) when realm is set.
    struct Token {
      std::string realm, service, issuer, rootCertBundle;
    } token;
  };
  // Starts the registry in dir (created); an Error if docker-registry is missing or
  // did not come up within 10 s.
  static Result<RegistryPeer*> start(const std::string& dir, const Options& o);
  ~RegistryPeer();

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& caFile() const { return ca_; }
  pid_t pid() const { return pid_; }
  void kill();  // SIGKILL now, reaped

  Status pushBlob(const std::string& repo, const Blob& b);
  Status pushManifest(const std::string& repo, const std::string& ref, const Blob& m);
  Status pushImage(const std::string& repo, const std::string& tag, const TestImage& img);
  // The file the registry serves a blob from (to tamper with it).
  std::string blobDataPath(const std::string& digest) const;

 private:
  RegistryPeer() = default;
  std::string url(const std::string& path) const;
  std::string dir_, ca_, data_;
  Options o_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A port on 127.0.0.1 nothing listens on at the time of the call.
int freePort();

}  // namespace boxd::testing
