// Runs a real boxd (and boxctl) in private temp dirs with a unique cgroup parent, and checks
// that nothing is left on the host afterwards: no mount under its dirs, no cgroup, no shim.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace boxd::testing {

struct CmdResult {
  int code = -1;
  std::string out;  // stdout and stderr
};

// Runs argv with a deadline; kills it (by pid) when the deadline passes.
CmdResult run(const std::vector<std::string>& argv, int timeoutMs = 30000,
              const std::map<std::string, std::string>& env = {});

bool waitFor(const std::function<bool()>& cond, int timeoutMs);

// A busybox rootfs built once per test binary.
const std::string& busyboxRootfs();

class Boxd {
 public:
  Boxd();
  ~Boxd();  // tears every pod down, stops boxd, checks and removes leftovers

  std::string specs() const { return dir_ / "specs"; }
  std::string stateDir() const { return dir_ / "state"; }
  std::string runDir() const { return dir_ / "run"; }
  std::string cgroupParent() const { return cgroupParent_; }
  // This boxd's pod network, unique per instance: its own bridge, nftables table and a free /24
  // of 10.240.0.0/12, all removed by the destructor.
  std::string bridge() const { return bridge_; }
  std::string subnet() const { return subnet_; }    // "10.241.7.0/24"
  std::string gateway() const { return gateway_; }  // the bridge's address, "10.241.7.1"
  std::string nftTable() const { return nftTable_; }
  std::string bin(const std::string& name) const;

  // Adds lines to boxd's config file (read at start), e.g. "logMaxBytes: 65536\n".
  void addConfig(const std::string& yaml);
  // Starts boxd (extra env, e.g. fault injection). Waits until its socket answers.
  void start(const std::map<std::string, std::string>& env = {});
  void stop();   // SIGTERM, wait
  void kill9();  // SIGKILL, wait
  bool running() const;
  pid_t pid() const { return pid_; }
  std::string log() const;

  CmdResult boxctl(const std::vector<std::string>& args, int timeoutMs = 30000);
  nlohmann::json status();  // boxctl status -o json
  // Sends one raw line to boxd's socket and returns the reply line ("" on failure).
  std::string rawRequest(const std::string& line);
  // From status (every namespace); name is "NAME" or "NAMESPACE/NAME". Null if absent.
  nlohmann::json pod(const std::string& name);
  void importBusybox(const std::string& name = "busybox");
  void writeSpec(const std::string& file, const std::string& content);
  void removeSpec(const std::string& file);
  bool waitPhase(const std::string& name, const std::string& phase, int timeoutMs = 10000);
  // Phase Running is also a pod whose containers are still starting (as in Kubernetes): this
  // waits until every container runs and has its pid, for tests that act on that pid.
  bool waitContainersRunning(const std::string& name, int timeoutMs = 10000);
  bool waitGone(const std::string& name, int timeoutMs = 10000);
  // The steps (1-based number, kind) of a pod's plan whose kind starts with prefix, read from
  // `describe -o json`: tests follow the plan as it grows.
  std::vector<std::pair<int, std::string>> planSteps(const std::string& pod,
                                                     const std::string& prefix);

  // What this boxd left on the host (empty = nothing): mounts under its dirs, cgroup dirs
  // under its parent, processes whose command line names its run dir, links on its bridge,
  // hostPort mappings in its nftables table, addresses still allocated in its state store.
  std::vector<std::string> leftovers();
  // Removes leftovers by force (used after a failure so the machine stays clean).
  void forceCleanup();

 private:
  TempDir dir_{"it"};
  std::string cgroupParent_;
  std::string bridge_, subnet_, gateway_, nftTable_;
  pid_t pid_ = -1;
  std::string configPath_;
};

std::string twoContainerPod(const std::string& name, int grace = 2);
std::vector<std::string> loopsUnder(const std::string& dir);

// A test with one boxd of its own and the busybox image imported; skipped without root.
class BoxdBusyboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  Boxd b_;
};

}  // namespace boxd::testing
