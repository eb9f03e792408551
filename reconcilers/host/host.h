// Everything a reconciler may touch on the host, behind narrow interfaces, passed in by the
// agent (real implementations) or by tests (recording fakes, temp roots).
#pragma once

#include <string>

namespace boxd::reconcilers {

class Mounter;
class Cgroups;
struct BlockContext;
class ProjectQuotaSys;

// Where boxd keeps its files. All overridable so tests are hermetic.
struct Paths {
  std::string stateDir = "/var/lib/boxd";
  std::string runDir = "/run/boxd";
  std::string cgroupParent = "boxd";  // relative to each controller's root
  std::string shimBinary;             // path of boxd-shim; empty = next to the running binary

  std::string podsDir() const { return stateDir + "/pods"; }
  std::string imagesDir() const { return stateDir + "/images"; }
  std::string shimsDir() const { return runDir + "/shims"; }
  std::string podDir(const std::string& uid) const { return podsDir() + "/" + uid; }
};

struct Host {
  Paths paths;
  Mounter& mounter;
  Cgroups& cgroups;
  BlockContext* block = nullptr;            // block volumes (iSCSI, RBD); null = none on this host
  ProjectQuotaSys* projectQuota = nullptr;  // project quotas of the pods' filesystem
};

}  // namespace boxd::reconcilers
