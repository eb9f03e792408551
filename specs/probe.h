// Probes and lifecycle hooks of a container (Kubernetes' livenessProbe, readinessProbe,
// startupProbe and lifecycle), as typed data. Parsed in pod_schema_probes.cc; run by the agent
// (agent/probes.h, docs/probes.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace boxd::specs {

struct HttpHeader {
  std::string name;
  std::string value;
  bool operator==(const HttpHeader&) const = default;
};

// A port as written: a number, or the name of one of the container's ports (resolved at parse
// time into port, so the agent never looks names up).
struct ProbePort {
  int64_t number = 0;  // 1..65535, resolved
  std::string name;    // "" when written as a number
  bool operator==(const ProbePort&) const = default;
};

struct ExecAction {
  std::vector<std::string> command;  // run in the container, not in a shell
  bool operator==(const ExecAction&) const = default;
};

struct HttpGetAction {
  std::string host;  // an IP address; "" = the pod's IP (or 127.0.0.1 in the pod's namespace)
  std::string path = "/";
  ProbePort port;
  std::vector<HttpHeader> headers;
  bool operator==(const HttpGetAction&) const = default;
};

struct TcpSocketAction {
  std::string host;
  ProbePort port;
  bool operator==(const TcpSocketAction&) const = default;
};

// A gRPC health check (grpc.health.v1.Health/Check) on the pod's IP. Kubernetes takes a port
// number only here (no port names, no host).
struct GrpcAction {
  int64_t port = 0;     // 1..65535
  std::string service;  // the service asked about; "" = the server as a whole
  bool operator==(const GrpcAction&) const = default;
};

struct SleepAction {
  int64_t seconds = 0;
  bool operator==(const SleepAction&) const = default;
};

// What a probe or hook does: exactly one of these is set (sleep only in hooks, grpc only in
// probes).
struct Action {
  std::optional<ExecAction> exec;
  std::optional<HttpGetAction> httpGet;
  std::optional<TcpSocketAction> tcpSocket;
  std::optional<GrpcAction> grpc;
  std::optional<SleepAction> sleep;
  bool operator==(const Action&) const = default;
};

struct Probe {
  Action handler;
  int64_t initialDelaySeconds = 0;
  int64_t periodSeconds = 10;
  int64_t timeoutSeconds = 1;
  int64_t successThreshold = 1;
  int64_t failureThreshold = 3;
  // liveness and startup only: the grace period of the kill a failure causes (else the pod's)
  std::optional<int64_t> terminationGracePeriodSeconds;
  bool operator==(const Probe&) const = default;
};

struct Lifecycle {
  std::optional<Action> postStart;
  std::optional<Action> preStop;
  bool operator==(const Lifecycle&) const = default;
};

// A container's probes and hooks together (Container::probes).
struct ContainerProbes {
  std::optional<Probe> liveness, readiness, startup;
  Lifecycle lifecycle;
  bool empty() const {
    return !liveness && !readiness && !startup && !lifecycle.postStart && !lifecycle.preStop;
  }
  bool operator==(const ContainerProbes&) const = default;
};

}  // namespace boxd::specs
