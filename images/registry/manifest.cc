#include "images/registry/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "images/registry/reference.h"

namespace boxd::images {

namespace {

using nlohmann::json;

bool isSchema1(std::string_view type) {
  return type.find("application/vnd.docker.distribution.manifest.v1") == 0;
}

Result<Descriptor> parseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return makeError(what + ": a descriptor is not an object");
  Descriptor d;
  d.mediaType = j.value("mediaType", "");
  d.digest = j.value("digest", "");
  if (!validDigest(d.digest)) {
    return makeError(what + ": descriptor digest \"" + d.digest.substr(0, 80) +
                     "\" is not sha256:<64 hex> (other algorithms are not supported)");
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return makeError(what + ": descriptor " + d.digest + " has no valid size");
  }
  d.size = size->get<int64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    d.hasPlatform = true;
    d.platform.os = p->value("os", "");
    d.platform.architecture = p->value("architecture", "");
    d.platform.variant = p->value("variant", "");
  }
  if (auto u = j.find("urls"); u != j.end() && u->is_array()) {
    for (const auto& url : *u) {
      if (url.is_string()) d.urls.push_back(url.get<std::string>());
    }
  }
  return d;
}

// The media type to go by: the Content-Type when it is a manifest type, else the document's.
std::string effectiveType(const json& doc, std::string_view contentType) {
  std::string ct(contentType.substr(0, contentType.find(';')));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  for (const char* t : {kOciIndex, kOciManifest, kDockerList, kDockerManifest}) {
    if (ct == t) return ct;
  }
  if (isSchema1(ct)) return ct;
  std::string inDoc = doc.value("mediaType", "");
  if (!inDoc.empty()) return inDoc;
  if (doc.value("schemaVersion", 0) == 1)
    return "application/vnd.docker.distribution.manifest.v1+json";
  if (doc.contains("manifests")) return kOciIndex;  // an OCI index may omit mediaType
  return kOciManifest;
}

}  // namespace

std::string manifestAccept() {
  return std::string(kOciIndex) + ", " + kOciManifest + ", " + kDockerList + ", " + kDockerManifest;
}

Result<Manifest> parseManifest(std::string_view body, std::string_view contentType,
                               const std::string& what) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return makeError(what + ": not a JSON object");
  Manifest m;
  m.mediaType = effectiveType(doc, contentType);
  if (isSchema1(m.mediaType)) {
    return makeError(what +
                     ": Docker schema 1 manifests are not supported (deprecated since "
                     "2017); push the image again with a current client");
  }
  if (m.mediaType == kOciIndex || m.mediaType == kDockerList) {
    m.kind = ManifestKind::Index;
    auto list = doc.find("manifests");
    if (list == doc.end() || !list->is_array())
      return makeError(what + ": index without manifests");
    for (const auto& e : *list) {
      auto d = parseDescriptor(e, what);
      if (!d.ok()) return d.error();
      m.manifests.push_back(std::move(*d));
    }
    return m;
  }
  if (m.mediaType != kOciManifest && m.mediaType != kDockerManifest) {
    return makeError(what + ": unsupported manifest media type \"" + m.mediaType.substr(0, 100) +
                     "\"");
  }
  auto config = doc.find("config");
  auto layers = doc.find("layers");
  if (config == doc.end() || layers == doc.end() || !layers->is_array()) {
    return makeError(what + ": image manifest without config or layers");
  }
  auto c = parseDescriptor(*config, what);
  if (!c.ok()) return c.error();
  m.config = std::move(*c);
  for (const auto& l : *layers) {
    auto d = parseDescriptor(l, what);
    if (!d.ok()) return d.error();
    m.layers.push_back(std::move(*d));
  }
  return m;
}

Platform hostPlatform() {
  utsname u{};
  ::uname(&u);
  std::string machine = u.machine;
  Platform p{"linux", machine, ""};
  if (machine == "x86_64")
    p.architecture = "amd64";
  else if (machine == "aarch64" || machine == "arm64")
    p = {"linux", "arm64", "v8"};
  else if (machine == "armv7l")
    p = {"linux", "arm", "v7"};
  else if (machine == "armv6l")
    p = {"linux", "arm", "v6"};
  else if (machine == "i386" || machine == "i686")
    p.architecture = "386";
  else if (machine == "ppc64le")
    p.architecture = "ppc64le";
  else if (machine == "s390x")
    p.architecture = "s390x";
  else if (machine == "riscv64")
    p.architecture = "riscv64";
  return p;
}

namespace {

// The variants a host with `want` runs, best first ("" is an entry without a variant).
std::vector<std::string> acceptedVariants(const Platform& want) {
  if (want.architecture == "arm64") return {want.variant.empty() ? "v8" : want.variant, "", "v8"};
  if (want.architecture == "arm") {
    std::vector<std::string> out;
    int v = want.variant.size() == 2 && want.variant[0] == 'v' ? want.variant[1] - '0' : 7;
    for (int k = v; k >= 5; --k) out.push_back("v" + std::to_string(k));
    out.push_back("");
    return out;
  }
  if (want.architecture == "amd64") {
    if (want.variant.empty() || want.variant == "v1") return {"", "v1"};
    return {want.variant, "", "v1"};
  }
  return {want.variant, ""};
}

}  // namespace

Result<Descriptor> selectPlatform(const Manifest& index, const Platform& want,
                                  const std::string& what) {
  for (const std::string& variant : acceptedVariants(want)) {
    for (const auto& d : index.manifests) {
      if (d.hasPlatform && d.platform.os == want.os &&
          d.platform.architecture == want.architecture && d.platform.variant == variant) {
        return d;
      }
    }
  }
  std::string have;
  for (const auto& d : index.manifests) {
    if (!d.hasPlatform || d.platform.os == "unknown") continue;  // attestations
    have += (have.empty() ? "" : ", ") + d.platform.str();
  }
  return makeError(what + ": no match for platform " + want.str() + " (the index has " +
                   (have.empty() ? "no platforms" : have) + ")");
}

}  // namespace boxd::images
