// One check of a probe or hook action, asynchronous on the libuv loop; done is called exactly
// once, on the loop thread, unless the check is cancelled first (its owner destroyed it).
//
//   tcpSocket, httpGet   the socket is made inside the pod's network namespace (the loop thread
//                        enters it for the one socket() call and returns at once: sockets keep
//                        the namespace they were made in), then connect, request and response
//                        are non-blocking I/O on the loop; no process, no thread per probe.
//   grpc                 the same, with one grpc.health.v1 call over HTTP/2 (grpc_check.h).
//   exec                 boxd-exec (a small helper, next to boxd-shim) joins the container as
//                        `boxctl exec` does and kills the command's process group at its
//                        timeout; boxd reads its output (at most 10 KiB) and its result.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "specs/probe.h"

namespace boxd::agent {

struct CheckResult {
  bool success = false;
  bool warning = false;  // success, with something to say (a redirect to another host)
  std::string output;    // why it failed, or what a command printed (at most 10 KiB)
};
using CheckDone = std::function<void(CheckResult)>;

// Sockets for the network checks of one container run, made in its pod's network namespace
// ahead of need: one visit to the namespace (two setns() of the loop thread) makes two sockets,
// and the spare serves the run's next check (its other probe in the same tick, or a probe a
// period later). A spare is an unconnected socket and nothing more.
class NetnsSockets {
 public:
  explicit NetnsSockets(int netnsFd) : netnsFd_(netnsFd) {}
  Result<Fd> take();

 private:
  int netnsFd_;
  Fd spare_;
};

// Where and as what a check runs: the container run it belongs to.
struct CheckTarget {
  int netnsFd = -1;  // the pod's network namespace; -1 = boxd's own (hostNetwork)
  std::shared_ptr<NetnsSockets> sockets;  // made in netnsFd (null: one visit per check)
  std::string defaultIp;                  // the pod's IP, or 127.0.0.1
  std::string execHelper;                 // path of boxd-exec
  nlohmann::json execTarget;              // pid, cgroupProcs, security, label (exec checks)
};

class Check {
 public:
  virtual ~Check() = default;
};

// Starts a check of one action with a timeout. The returned object owns the check: destroying it
// cancels the check (done is then never called).
std::unique_ptr<Check> startCheck(uv_loop_t* loop, const specs::Action& action,
                                  const CheckTarget& target, int64_t timeoutMs, CheckDone done);

// Sockets (non-blocking, close-on-exec) made in the network namespace netnsFd (-1 = ours), all
// in one visit: socketsInNetns fills every Fd of out.
Status socketsInNetns(int netnsFd, int family, std::span<Fd> out);
Result<Fd> socketInNetns(int netnsFd, int family);

// The HTTP request line and headers kubelet sends, then the user's headers (which may replace
// Host, User-Agent and Accept).
std::string httpRequest(const specs::HttpGetAction& a, const std::string& host, int64_t port,
                        const std::string& path);
// Parses a response head: the status code, and the Location header of a redirect.
struct HttpHead {
  int status = 0;
  std::string location;
  size_t headerBytes = 0;  // where the body starts
};
// 0 = need more bytes; -1 = not HTTP.
int parseHttpHead(const std::string& buf, HttpHead& out);

}  // namespace boxd::agent
