#include "agent/image_pull_policy.h"

#include <algorithm>

#include "specs/object_key.h"

namespace boxd::agent {

const char* toString(PullPolicy p) {
  switch (p) {
    case PullPolicy::Always:
      return "Always";
    case PullPolicy::IfNotPresent:
      return "IfNotPresent";
    case PullPolicy::Never:
      return "Never";
  }
  return "?";
}

PullPolicy effectivePullPolicy(const specs::Container& c) {
  if (c.imagePullPolicy == "Always") return PullPolicy::Always;
  if (c.imagePullPolicy == "IfNotPresent") return PullPolicy::IfNotPresent;
  if (c.imagePullPolicy == "Never") return PullPolicy::Never;
  // specs::parseImageRef gives "latest" when neither a tag nor a digest is written.
  auto ref = specs::parseImageRef(c.image);
  return ref.tag == "latest" ? PullPolicy::Always : PullPolicy::IfNotPresent;
}

std::vector<std::string> imageLookupNames(const std::string& image) {
  std::vector<std::string> out{specs::parseImageRef(image).str()};
  auto ref = images::parseReference(image);
  if (!ref.ok()) return out;
  // Keep a tag written next to a digest, as the written form does (the digest decides).
  auto written = specs::parseImageRef(image);
  std::string normal = ref->name();
  if (!written.tag.empty()) normal += ":" + written.tag;
  if (!ref->digest.empty()) normal += "@" + ref->digest;
  if (normal != out[0]) out.push_back(normal);
  return out;
}

bool isNormalisedName(const std::string& image) {
  auto ref = images::parseReference(image);
  return ref.ok() && ref->name() == specs::parseImageRef(image).name;
}

PullDecision decidePull(const specs::Container& c, bool found, bool foundAsWritten) {
  switch (effectivePullPolicy(c)) {
    case PullPolicy::Never:
      return found ? PullDecision::UseLocal : PullDecision::NeverPullMissing;
    case PullPolicy::IfNotPresent:
      return found ? PullDecision::UseLocal : PullDecision::Pull;
    case PullPolicy::Always:
      // A locally imported short name, with the policy left to its default: not pulled.
      if (c.imagePullPolicy.empty() && foundAsWritten && !isNormalisedName(c.image))
        return PullDecision::UseLocal;
      return PullDecision::Pull;
  }
  return PullDecision::Pull;
}

PodKeyring podKeyring(const std::string& podNamespace, const std::vector<std::string>& secretNames,
                      const std::map<std::string, specs::Secret>& secrets) {
  PodKeyring out;
  const std::string ns = podNamespace.empty() ? specs::kDefaultNamespace : podNamespace;
  for (const auto& name : secretNames) {
    // The pod's own namespace only: a Secret never serves a pod of another namespace.
    auto it = secrets.find(specs::objectKey(ns, name));
    if (it == secrets.end()) {
      out.problems.push_back("secret \"" + name + "\" of namespace \"" + ns +
                             "\" is not in the specs directory");
      continue;
    }
    auto kr = images::keyringFromSecret(name, it->second.type, it->second.data);
    if (!kr.ok()) {
      out.problems.push_back(kr.error().message);
      continue;
    }
    out.keyring.merge(*kr);
  }
  return out;
}

int64_t nextPullBackoffMs(int64_t previousMs, int64_t initialMs, int64_t maxMs) {
  if (previousMs <= 0) return initialMs;
  return std::min(previousMs * 2, maxMs);
}

}  // namespace boxd::agent
