// The pure parts of probes: counting results to thresholds, HTTP heads, and `boxctl wait`.
#include <gtest/gtest.h>

#include "agent/boxctl_format.h"
#include "agent/boxctl_wait.h"
#include "agent/probes.h"

namespace boxd::agent {
namespace {

TEST(Probes, ThresholdsCountResultsInARow) {
  ProbeWorker w;
  w.spec.failureThreshold = 3;
  w.spec.successThreshold = 2;
  EXPECT_FALSE(countResult(w, false).has_value());
  EXPECT_FALSE(countResult(w, false).has_value());
  EXPECT_FALSE(countResult(w, true).has_value()) << "a success breaks the run of failures";
  EXPECT_FALSE(countResult(w, false).has_value());
  EXPECT_FALSE(countResult(w, false).has_value());
  EXPECT_EQ(countResult(w, false), false) << "the third failure in a row";
  EXPECT_EQ(countResult(w, false), false);
  EXPECT_FALSE(countResult(w, true).has_value());
  EXPECT_EQ(countResult(w, true), true) << "the second success in a row";
}

TEST(Probes, HttpRequestCarriesKubeletsHeadersUnlessOverridden) {
  specs::HttpGetAction a;
  a.headers = {{"Host", "example.test"}, {"X-Check", "1"}};
  std::string r = httpRequest(a, "10.0.0.5", 8080, "/healthz");
  EXPECT_EQ(r.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << r;
  EXPECT_EQ(r.find("Host: 10.0.0.5"), std::string::npos) << "the user's Host replaces ours";
  EXPECT_NE(r.find("Host: example.test\r\n"), std::string::npos);
  EXPECT_NE(r.find("User-Agent: kube-probe/"), std::string::npos);
  EXPECT_NE(r.find("X-Check: 1\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
}

TEST(Probes, HttpHeadParsing) {
  HttpHead h;
  EXPECT_EQ(parseHttpHead("HTTP/1.1 200 OK\r\nContent-Len", h), 0) << "incomplete";
  EXPECT_EQ(parseHttpHead("SSH-2.0-OpenSSH\r\n\r\n", h), -1);
  ASSERT_EQ(parseHttpHead("HTTP/1.0 302 Found\r\nlocation:  /next \r\n\r\nbody", h), 1);
  EXPECT_EQ(h.status, 302);
  EXPECT_EQ(h.location, "/next");
  EXPECT_EQ(
      std::string("HTTP/1.0 302 Found\r\nlocation:  /next \r\n\r\nbody").substr(h.headerBytes),
      "body");
}

TEST(Probes, WaitArguments) {
  auto o = parseWaitArgs({"pod/web", "--for=condition=Ready", "--timeout=2m"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->pod, "web");
  EXPECT_EQ(o->condition, "Ready");
  EXPECT_EQ(o->status, "True");
  EXPECT_EQ(o->timeoutMs, 120000);
  o = parseWaitArgs({"web", "--for", "condition=Ready=false"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->status, "False");
  EXPECT_EQ(o->timeoutMs, 30000) << "kubectl's default";
  EXPECT_FALSE(parseWaitArgs({"web"}).ok()) << "--for is required";
  EXPECT_FALSE(parseWaitArgs({"web", "--for=delete"}).ok());
  EXPECT_FALSE(parseWaitArgs({"web", "--for=phase=Running", "--timeout=5x"}).ok());

  nlohmann::json pod = {{"phase", "Running"},
                        {"conditions", {{{"type", "Ready"}, {"status", "False"}}}}};
  EXPECT_FALSE(waitMet(pod, *parseWaitArgs({"w", "--for=condition=Ready"})));
  EXPECT_TRUE(waitMet(pod, *parseWaitArgs({"w", "--for=condition=Ready=false"})));
  EXPECT_TRUE(waitMet(pod, *parseWaitArgs({"w", "--for=phase=Running"})));
  EXPECT_FALSE(waitMet(nullptr, *parseWaitArgs({"w", "--for=phase=Running"})))
      << "a pod boxd does not know yet";
}

TEST(Probes, DescribeShowsTheLastState) {
  nlohmann::json c = {
      {"name", "web"},
      {"image", "busybox"},
      {"state", "Running"},
      {"startedAtMs", 1700000100000},
      {"restarts", 1},
      {"ready", false},
      {"lastState",
       {{"state", "Terminated"},
        {"reason", "Error"},
        {"exitCode", 143},
        {"message", "Liveness probe failed: dial tcp 10.0.0.5:80: connection refused"},
        {"startedAtMs", 1700000000000},
        {"finishedAtMs", 1700000090000}}}};
  nlohmann::json pod = {{"name", "p"},
                        {"containers", {c}},
                        {"resources", nlohmann::json::array()},
                        {"events", nlohmann::json::array()}};
  std::string out = formatDescribe(pod);
  EXPECT_NE(out.find("Last State: Terminated (Error)\n      Exit code: 143\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("      Message:   Liveness probe failed: dial tcp"), std::string::npos) << out;
  EXPECT_NE(out.find("      Finished:  "), std::string::npos) << out;
  EXPECT_NE(out.find("    Started:   "), std::string::npos) << out;
  EXPECT_NE(out.find("    Ready:     False"), std::string::npos) << out;
}

}  // namespace
}  // namespace boxd::agent
