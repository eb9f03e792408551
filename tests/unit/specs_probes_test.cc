// Probes and lifecycle hooks: defaults, named ports, Kubernetes' rules, and what boxd refuses.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

std::string containerWith(std::string_view fields) {
  return podWith(
             "  containers:\n  - name: web\n    image: busybox\n    ports: [{name: http, "
             "containerPort: 8080}]\n") +
         std::string(fields);
}

TEST(SpecsProbes, ParsesEveryKindWithKubernetesDefaults) {
  ParseResult r = parseSpecFile("f.yaml", containerWith(R"(    livenessProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
      terminationGracePeriodSeconds: 3
    readinessProbe:
      httpGet:
        path: healthz
        port: 8080
        httpHeaders: [{name: X-Probe, value: "yes"}]
      successThreshold: 2
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      failureThreshold: 30
    lifecycle:
      postStart: {exec: {command: [touch, /tmp/x]}}
      preStop: {sleep: {seconds: 2}}
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const ContainerProbes& p = r.pods[0].spec.containers[0].probes;
  ASSERT_TRUE(p.liveness && p.readiness && p.startup);
  EXPECT_EQ(p.liveness->handler.tcpSocket->port.number, 8080) << "the named port is resolved";
  EXPECT_EQ(p.liveness->handler.tcpSocket->port.name, "http");
  EXPECT_EQ(p.liveness->periodSeconds, 1);
  EXPECT_EQ(p.liveness->timeoutSeconds, 1);
  EXPECT_EQ(p.liveness->failureThreshold, 3);
  EXPECT_EQ(p.liveness->terminationGracePeriodSeconds, 3);
  EXPECT_EQ(p.readiness->handler.httpGet->path, "/healthz") << "kubelet adds the leading slash";
  EXPECT_EQ(p.readiness->handler.httpGet->headers[0].value, "yes");
  EXPECT_EQ(p.readiness->periodSeconds, 10);
  EXPECT_EQ(p.readiness->successThreshold, 2);
  EXPECT_EQ(p.startup->handler.exec->command[1], "/tmp/started");
  ASSERT_TRUE(p.lifecycle.postStart && p.lifecycle.preStop);
  EXPECT_EQ(p.lifecycle.preStop->sleep->seconds, 2);
  auto back = fromJson(toJson(r.pods[0].spec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, r.pods[0].spec);
}

TEST(SpecsProbes, ParsesGrpcProbes) {
  ParseResult r = parseSpecFile("f.yaml", containerWith(R"(    livenessProbe:
      grpc: {port: 9000}
    readinessProbe:
      grpc: {port: 9001, service: api.v1.Orders}
      timeoutSeconds: 2
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const ContainerProbes& p = r.pods[0].spec.containers[0].probes;
  ASSERT_TRUE(p.liveness && p.liveness->handler.grpc && p.readiness && p.readiness->handler.grpc);
  EXPECT_EQ(p.liveness->handler.grpc->port, 9000);
  EXPECT_EQ(p.liveness->handler.grpc->service, "") << "the server as a whole";
  EXPECT_EQ(p.readiness->handler.grpc->service, "api.v1.Orders");
  EXPECT_EQ(p.readiness->timeoutSeconds, 2);
  auto back = fromJson(toJson(r.pods[0].spec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, r.pods[0].spec);
}

TEST(SpecsProbes, NoProbesLeaveTheHashAsBefore) {
  ParseResult r = parseSpecFile("f.yaml", containerWith(""));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(toJson(r.pods[0].spec)["containers"][0].contains("probes"));
}

TEST(SpecsProbes, RefusesWhatKubernetesRefuses) {
  auto has = [](const std::vector<std::string>& errs, const std::string& needle) {
    for (const auto& e : errs) {
      if (e.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  auto e =
      errorsOf(containerWith("    livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}\n"));
  EXPECT_TRUE(has(e, "livenessProbe.successThreshold: must be 1")) << e[0];
  e = errorsOf(containerWith("    readinessProbe: {periodSeconds: 5}\n"));
  EXPECT_TRUE(has(e, "readinessProbe: must set one action")) << e[0];
  e = errorsOf(
      containerWith("    readinessProbe: {tcpSocket: {port: 80}, exec: {command: [x]}}\n"));
  EXPECT_TRUE(has(e, "must set exactly one action")) << e[0];
  e = errorsOf(containerWith("    readinessProbe: {tcpSocket: {port: metrics}}\n"));
  EXPECT_TRUE(has(e, "no TCP port named \"metrics\"")) << e[0];
  e = errorsOf(containerWith(
      "    readinessProbe: {tcpSocket: {port: 80}, terminationGracePeriodSeconds: 5}\n"));
  EXPECT_TRUE(has(e, "readiness probe has no grace period")) << e[0];
  e = errorsOf(containerWith("    readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 0}\n"));
  EXPECT_TRUE(has(e, "periodSeconds: must be from 1")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {grpc: {port: http}}\n"));
  EXPECT_TRUE(has(e, "grpc.port: must be a port number (grpc probes take no port names")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {grpc: {port: 70000}}\n"));
  EXPECT_TRUE(has(e, "grpc.port: must be a port number from 1 to 65535, got 70000")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {grpc: {service: x}}\n"));
  EXPECT_TRUE(has(e, "grpc.port")) << e[0];
  e = errorsOf(containerWith("    lifecycle: {postStart: {grpc: {port: 9000}}}\n"));
  EXPECT_TRUE(has(e, "grpc is not a lifecycle hook action")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {httpGet: {port: 80, scheme: HTTPS}}\n"));
  EXPECT_TRUE(has(e, "scheme HTTPS is not supported")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {httpGet: {port: 80, host: example.com}}\n"));
  EXPECT_TRUE(has(e, "must be an IPv4 address")) << e[0];
  e = errorsOf(containerWith("    livenessProbe: {sleep: {seconds: 1}}\n"));
  EXPECT_TRUE(has(e, "sleep is a lifecycle hook action")) << e[0];
  e = errorsOf(containerWith("    lifecycle: {preStop: {tcpSocket: {port: 80}}}\n"));
  EXPECT_TRUE(has(e, "tcpSocket is not a lifecycle hook action")) << e[0];
  e = errorsOf(podWith(R"(  initContainers:
  - {name: init, image: busybox, readinessProbe: {tcpSocket: {port: 80}}}
  containers: [{name: c, image: busybox}]
)"));
  EXPECT_TRUE(has(e, "init container runs to completion")) << e[0];
}

}  // namespace
}  // namespace boxd::specs
