// Which image a container runs and whether boxd pulls it first, with Kubernetes' rules:
//
//   imagePullPolicy    image present            image absent
//   Always             pull (layers present     pull
//                      are not downloaded)
//   IfNotPresent       use it                   pull
//   Never              use it                   ErrImageNeverPull
//
// Unset, the policy is Always for a reference with tag `latest` or with neither tag nor digest,
// else IfNotPresent (a digest alone: IfNotPresent).
//
// Names. The store records tags as given: a pull records the normalised reference
// ("docker.io/library/busybox:latest"), `boxctl image import busybox` records "busybox:latest".
// A spec's image is looked up as written first, then normalised (images/registry/reference.h),
// so both find what they name. An image found under a short name as written ("busybox", which
// normalises to something else) is a locally imported image: an unset policy does not pull it
// (boxd would otherwise go to Docker Hub for a name it was given by hand, and a host without
// network could not run the images it imported). `imagePullPolicy: Always` still pulls it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "images/registry/credentials.h"
#include "images/registry/reference.h"
#include "specs/pod.h"
#include "specs/secret.h"

namespace boxd::agent {

enum class PullPolicy { Always, IfNotPresent, Never };
const char* toString(PullPolicy p);

// The container's policy, or Kubernetes' default for its image reference.
PullPolicy effectivePullPolicy(const specs::Container& c);

// The names to look the image up by, in order: as written, then normalised (when that differs
// and the reference parses). Each is "name:tag", "name@digest" or "name:tag@digest".
std::vector<std::string> imageLookupNames(const std::string& image);

// Whether `image` as written is its own normalised name (e.g. "127.0.0.1:5000/app:v1"), as
// opposed to a short one ("busybox", "team/app").
bool isNormalisedName(const std::string& image);

// What a pod's pull must do for one image.
enum class PullDecision { UseLocal, Pull, NeverPullMissing };
// found: the image was found in the store; foundAsWritten: under the name as written.
PullDecision decidePull(const specs::Container& c, bool found, bool foundAsWritten);

// The credentials of a pod's imagePullSecrets, in the order the pod names them, looked up in the
// pod's namespace (`secrets` is keyed by specs::objectKey, as the desired state). Secrets not
// declared there, of another type, or malformed are listed in `problems` (names and keys only,
// never a value); the pull goes on without them, as kubelet's does.
struct PodKeyring {
  images::Keyring keyring;
  std::vector<std::string> problems;
};
PodKeyring podKeyring(const std::string& podNamespace, const std::vector<std::string>& secretNames,
                      const std::map<std::string, specs::Secret>& secrets);

// Kubelet's image pull backoff: 10 s, doubling, at most 300 s.
int64_t nextPullBackoffMs(int64_t previousMs, int64_t initialMs = 10000, int64_t maxMs = 300000);

}  // namespace boxd::agent
