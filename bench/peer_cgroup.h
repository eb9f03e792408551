// Fair CPU standing for the raw peers. boxd puts the whole container path (the pod's processes
// and the block helper) in one cgroup subtree, which the CPU scheduler weighs as ONE entity
// against everything else on the host. A raw peer run from the bench's own cgroup (the root, on
// a development machine) would instead compete thread by thread, and on a loaded machine get
// several times the CPU share of the container path. So the bench runs its raw peers (rbd bench,
// the libiscsi loops) in a cgroup of their own next to boxd's, with the same default weight:
// both sides then get the same share of a busy machine.
//
//   cgroup v1: <cpu hierarchy>/boxd-bench-peer-<hex>     cgroup v2:
//   /sys/fs/cgroup/boxd-bench-peer-<hex> Scope: moves this process in (its children follow), and
//   back to where it was on exit.
#pragma once

#include <string>

namespace boxd::bench {

class PeerCgroup {
 public:
  PeerCgroup();   // creates the cgroup; throws BenchError if no cpu hierarchy is found
  ~PeerCgroup();  // removes it (empty by then)
  PeerCgroup(const PeerCgroup&) = delete;
  PeerCgroup& operator=(const PeerCgroup&) = delete;

  const std::string& dir() const { return dir_; }

  class Scope {
   public:
    explicit Scope(const PeerCgroup& g);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    std::string back_;  // the cgroup.procs file this process came from
  };

 private:
  std::string root_;  // the cpu hierarchy's mount
  std::string dir_;
};

}  // namespace boxd::bench
