// Pod networking end to end: pods on this boxd's own bridge reach each other and are reached by
// the host, hostPorts are forwarded, addresses are unique and released, drift is repaired in
// place, and a failure or crash at any network step leaves nothing behind. Every address and
// port used here belongs to the bridge, subnet and nftables table the test's boxd created.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>

#include "common/fd.h"
#include "common/util.h"
#include "tests/integration/harness.h"
#include "tests/support/raw_frame.h"

namespace boxd::testing {
namespace {

constexpr const char* kLoop = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";

// A pod serving "hello from NAME" over HTTP on port 8080 (busybox httpd), optionally published
// on hostPort.
std::string webPod(const std::string& name, int hostPort = 0) {
  std::string ports = "    ports: [{containerPort: 8080" +
                      (hostPort ? ", hostPort: " + std::to_string(hostPort) : std::string()) +
                      "}]\n";
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n"
         "    image: busybox\n"
         "    command: [sh, -c, 'mkdir -p /www && echo hello from " +
         name + " > /www/index.html && exec httpd -f -p 8080 -h /www']\n" + ports;
}

std::string shellPod(const std::string& name, const std::string& extraSpec = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n" + extraSpec +
         "  containers:\n  - name: sh\n    image: busybox\n    command: [sh, -c, '" + kLoop +
         "']\n";
}

// A TCP port for hostPort tests: random in 20000..29999 (test runs in parallel pick their own).
int randomPort() { return 20000 + static_cast<int>(std::stoul(randomHex(2), nullptr, 16) % 10000); }

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  std::string podIp(const std::string& name) { return b_.pod(name).value("podIP", ""); }
  bool running(const std::string& name) {
    return b_.waitPhase(name, "Running", 15000) &&
           waitFor([&] { return b_.pod(name)["ready"] == "1/1"; }, 5000);
  }
  // HTTP GET from the host (the host's own network namespace), with a 3 s deadline; out holds
  // the response or why there is none. (Debian's static busybox wget crashes here, so the test
  // speaks HTTP itself.)
  static CmdResult hostGet(const std::string& host, int port) {
    CmdResult r;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return {-1, "bad address"};
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int64_t deadline = monotonicMs() + 3000;
    auto wait = [&](short events) {
      pollfd p{s.get(), events, 0};
      int left = static_cast<int>(deadline - monotonicMs());
      return left > 0 && ::poll(&p, 1, left) == 1;
    };
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS)
      return {-1, std::string("connect: ") + std::strerror(errno)};
    int err = 0;
    socklen_t len = sizeof err;
    if (!wait(POLLOUT) || ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
      return {-1, std::string("connect: ") + (err ? std::strerror(err) : "timed out")};
    std::string req = "GET / HTTP/1.0\r\n\r\n";
    if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      return {-1, "send failed"};
    char buf[4096];
    while (wait(POLLIN)) {
      ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      r.out.append(buf, static_cast<size_t>(n));
    }
    r.code = 0;
    return r;
  }
  // HTTP GET from inside a pod: busybox wget, bounded by busybox timeout (wget's own -T
  // crashes in Debian's static busybox).
  CmdResult podGet(const std::string& pod, const std::string& host, int port) {
    return exec(pod, {"timeout", "3", "wget", "-q", "-O", "-",
                      "http://" + host + ":" + std::to_string(port) + "/"});
  }
  CmdResult exec(const std::string& pod, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"exec", pod, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return b_.boxctl(args, 15000);
  }
  int addressRows() {
    auto r =
        run({"sqlite3", "-readonly", b_.stateDir() + "/boxd.db", "SELECT count(*) FROM addresses"});
    return r.code == 0 ? std::atoi(r.out.c_str()) : -1;
  }
  Boxd b_;
};

TEST_F(NetworkTest, PodsTalkOverTheBridgeAndTheHostReachesThem) {
  b_.writeSpec("srv.yaml", webPod("srv"));
  b_.writeSpec("cli.yaml", shellPod("cli"));
  ASSERT_TRUE(running("srv")) << b_.status().dump(2) << b_.log();
  ASSERT_TRUE(running("cli")) << b_.status().dump(2);
  std::string srv = podIp("srv"), cli = podIp("cli");
  std::string prefix = b_.subnet().substr(0, b_.subnet().rfind('.') + 1);
  EXPECT_TRUE(startsWith(srv, prefix)) << srv << " not in " << b_.subnet();
  EXPECT_TRUE(startsWith(cli, prefix)) << cli;
  EXPECT_NE(srv, cli);

  // pod → pod, by IP, over the bridge
  CmdResult r;
  ASSERT_TRUE(waitFor(
      [&] {
        r = podGet("cli", srv, 8080);
        return r.out.find("hello from srv") != std::string::npos;
      },
      10000))
      << r.out;
  // host → pod
  r = hostGet(srv, 8080);
  EXPECT_NE(r.out.find("hello from srv"), std::string::npos) << r.out;

  // What the containers see: eth0 with the address, a default route via the bridge, and the
  // files boxd wrote.
  r = exec("cli", {"ip", "-o", "-4", "addr", "show", "eth0"});
  EXPECT_NE(r.out.find(cli + "/"), std::string::npos) << r.out;
  r = exec("cli", {"ip", "route"});
  EXPECT_NE(r.out.find("default via " + b_.gateway()), std::string::npos) << r.out;
  r = exec("cli", {"cat", "/etc/hosts"});
  EXPECT_NE(r.out.find(cli + "\tcli"), std::string::npos) << r.out;
  r = exec("cli", {"hostname"});
  EXPECT_EQ(trim(r.out), "cli");
  r = exec("cli", {"cat", "/etc/resolv.conf"});
  EXPECT_NE(r.out.find("dnsPolicy ClusterFirst"), std::string::npos) << r.out;

  auto desc = b_.boxctl({"describe", "cli"}).out;
  EXPECT_NE(desc.find(cli), std::string::npos) << desc;
}

TEST_F(NetworkTest, HostPortIsForwardedFromTheHostAndRemovedWithThePod) {
  int port = randomPort();
  b_.writeSpec("pub.yaml", webPod("pub", port));
  ASSERT_TRUE(running("pub")) << b_.status().dump(2) << b_.log();
  CmdResult r;
  // Through the bridge address (a local address of the host) and through localhost.
  ASSERT_TRUE(waitFor(
      [&] {
        r = hostGet(b_.gateway(), port);
        return r.out.find("hello from pub") != std::string::npos;
      },
      10000))
      << r.out;
  r = hostGet("127.0.0.1", port);
  EXPECT_NE(r.out.find("hello from pub"), std::string::npos) << r.out;
  // The pod itself, through the host's address: hairpin on its bridge port, and the host must
  // forward (these tests set ipForward: false to leave the host's setting alone; the nftables
  // privileged test covers the hairpin path in its own namespaces).
  std::string hostIf = "bxd" + b_.pod("pub")["uid"].get<std::string>().substr(0, 12);
  auto hairpin = readFile("/sys/class/net/" + hostIf + "/brport/hairpin_mode");
  EXPECT_EQ(hairpin.ok() ? trim(*hairpin) : "", "1");
  auto forward = readFile("/proc/sys/net/ipv4/ip_forward");
  if (forward.ok() && trim(*forward) == "1") {
    r = podGet("pub", b_.gateway(), port);
    EXPECT_NE(r.out.find("hello from pub"), std::string::npos) << r.out;
  }
  auto table = run({"nft", "list", "table", "ip", b_.nftTable()});
  EXPECT_NE(table.out.find(std::to_string(port)), std::string::npos) << table.out;

  b_.removeSpec("pub.yaml");
  ASSERT_TRUE(b_.waitGone("pub", 15000));
  r = hostGet(b_.gateway(), port);
  EXPECT_EQ(r.out.find("hello from pub"), std::string::npos) << r.out;
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

// CVE-2020-8558's class end to end: a pod's raw frames addressed to the host's 127.0.0.1
// through its bridge never reach a host service bound there, for a pod with no hostPort too;
// the same frame to the bridge's address does arrive. The frames are put on the pod's eth0 by a
// thread of this test that joins the pod's network namespace (root, hence CAP_NET_RAW): what a
// container with NET_RAW could send, and the filter that stops it is on the host side.
TEST_F(NetworkTest, PodRawFramesNeverReachTheHostsLoopback) {
  b_.writeSpec("atk.yaml", shellPod("atk"));
  ASSERT_TRUE(running("atk")) << b_.status().dump(2) << b_.log();
  std::string ip = podIp("atk");
  std::string netns = b_.runDir() + "/netns/" + b_.pod("atk")["uid"].get<std::string>();
  int port = randomPort();
  auto udp = [&](const std::string& addr) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
    return s;
  };
  Fd loopback = udp("127.0.0.1"), control = udp(b_.gateway());
  ASSERT_TRUE(loopback.valid() && control.valid()) << "UDP port " << port << " taken";
  auto bridgeMac = linkMac(b_.bridge());
  ASSERT_TRUE(bridgeMac.ok()) << bridgeMac.error().message;
  Fd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ns.valid()) << netns;
  // In the pod's namespace: the attack first, then the control; once the control is in, the
  // attack had its chance.
  auto sendFromPod = [&]() -> Status {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) return sysError("setns", netns);
    auto podMac = linkMac("eth0");
    if (!podMac.ok()) return podMac.error();
    for (const std::string& dst : {std::string("127.0.0.1"), b_.gateway()}) {
      auto frame =
          udp4Frame(*podMac, *bridgeMac, ip, dst, 40000, static_cast<uint16_t>(port), "raw");
      if (!frame.ok()) return frame.error();
      BOXD_TRY(sendFrame("eth0", *frame));
    }
    return {};
  };
  Status sent;
  std::thread pod([&] { sent = sendFromPod(); });
  pod.join();
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  pollfd pc{control.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pc, 1, 3000), 1) << "the control frame to the bridge address did not arrive";
  pollfd pl{loopback.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pl, 1, 300), 0) << "a pod reached a service bound to the host's 127.0.0.1";
  auto table = run({"nft", "list", "table", "ip", b_.nftTable()});
  EXPECT_NE(table.out.find("chain localnet"), std::string::npos)
      << "no localnet guard without hostPorts: " << table.out;
}

TEST_F(NetworkTest, SecondPodOnTheSameHostPortFailsClearlyAndTheFirstKeepsIt) {
  int port = randomPort();
  b_.writeSpec("one.yaml", webPod("one", port));
  ASSERT_TRUE(running("one")) << b_.status().dump(2);
  b_.writeSpec("two.yaml", webPod("two", port));
  ASSERT_TRUE(waitFor([&] { return b_.pod("two")["reason"] == "CreateFailed"; }, 15000))
      << b_.status().dump(2);
  EXPECT_NE(b_.pod("two")["message"].get<std::string>().find("hostPort " + std::to_string(port) +
                                                             "/TCP is already mapped"),
            std::string::npos)
      << b_.pod("two").dump(2);
  auto r = hostGet(b_.gateway(), port);
  EXPECT_NE(r.out.find("hello from one"), std::string::npos) << r.out;
  EXPECT_EQ(addressRows(), 1) << "the failed pod's address went back to the pool";
}

TEST_F(NetworkTest, AddressesAreUniqueAndReleased) {
  for (const char* n : {"a", "b", "c"}) b_.writeSpec(std::string(n) + ".yaml", shellPod(n));
  std::set<std::string> ips;
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(running(n)) << b_.status().dump(2);
    ips.insert(podIp(n));
  }
  EXPECT_EQ(ips.size(), 3u);
  EXPECT_EQ(addressRows(), 3);
  std::string ipA = podIp("a"), ipB = podIp("b"), ipC = podIp("c");
  b_.removeSpec("b.yaml");
  ASSERT_TRUE(b_.waitGone("b"));
  EXPECT_EQ(addressRows(), 2);

  // Across a restart of boxd, addresses held stay held and new ones never collide; a released
  // address is not handed out again at once.
  b_.stop();
  b_.start();
  b_.writeSpec("d.yaml", shellPod("d"));
  ASSERT_TRUE(running("d")) << b_.status().dump(2);
  EXPECT_EQ(podIp("a"), ipA);
  EXPECT_EQ(podIp("c"), ipC);
  std::string ipD = podIp("d");
  EXPECT_TRUE(ipD != ipA && ipD != ipB && ipD != ipC) << ipD;
  EXPECT_EQ(addressRows(), 3);
}

TEST_F(NetworkTest, DeletedVethAddressAndMappingAreRepairedInPlace) {
  int port = randomPort();
  b_.writeSpec("p.yaml", webPod("p", port));
  ASSERT_TRUE(running("p")) << b_.status().dump(2);
  auto before = b_.pod("p");
  std::string uid = before["uid"], ip = before["podIP"];
  int pid = before["containers"][0]["pid"];
  std::string hostIf = "bxd" + uid.substr(0, 12);
  std::string netns = b_.runDir() + "/netns/" + uid;

  auto reachable = [&] { return hostGet(ip, 8080).out.find("hello from p") != std::string::npos; };
  ASSERT_TRUE(waitFor(reachable, 10000));

  // 1. the host end of the veth (its peer, eth0, goes with it)
  ASSERT_EQ(run({"ip", "link", "delete", hostIf}).code, 0);
  EXPECT_TRUE(waitFor(reachable, 10000)) << b_.boxctl({"events", "p"}).out;
  // 2. the address inside the pod
  ASSERT_EQ(run({"nsenter", "--net=" + netns, "ip", "addr", "flush", "dev", "eth0"}).code, 0);
  EXPECT_TRUE(waitFor(reachable, 10000)) << b_.boxctl({"events", "p"}).out;
  // 3. the hostPort mapping
  auto flushed = run({"nft", "flush", "map", "ip", b_.nftTable(), "hostports"});
  ASSERT_EQ(flushed.code, 0) << flushed.out;
  EXPECT_TRUE(waitFor(
      [&] { return hostGet(b_.gateway(), port).out.find("hello from p") != std::string::npos; },
      10000))
      << b_.boxctl({"events", "p"}).out;

  auto events = b_.boxctl({"events", "p"}).out;
  EXPECT_NE(events.find("DriftRepaired"), std::string::npos) << events;
  EXPECT_EQ(events.find("DriftDetected"), std::string::npos) << events;
  auto after = b_.pod("p");
  EXPECT_EQ(after["uid"], uid) << "the pod was not recreated";
  EXPECT_EQ(after["containers"][0]["pid"], pid) << "its container kept running";
  EXPECT_EQ(after["podIP"], ip);
}

// Failure and crash at each network step: the steps are found by kind in the pod's journal, so
// the test follows the plan.
TEST_F(NetworkTest, FailureOrCrashAtEachNetworkStepLeavesNothing) {
  int port = randomPort();
  b_.writeSpec("p.yaml", webPod("p", port));
  ASSERT_TRUE(running("p")) << b_.status().dump(2);
  auto desc = b_.boxctl({"describe", "p", "-o", "json"});
  auto j = nlohmann::json::parse(desc.out, nullptr, false);
  std::vector<int> networkSteps;
  int seq = 0;
  for (const auto& r : j.value("resources", nlohmann::json::array())) {
    ++seq;
    std::string kind = r.value("kind", "");
    if (kind == "netns" || kind == "veth" || kind == "hostport" || kind == "files")
      networkSteps.push_back(seq);
  }
  ASSERT_EQ(networkSteps.size(), 4u) << desc.out;
  b_.removeSpec("p.yaml");
  ASSERT_TRUE(b_.waitGone("p", 15000));
  b_.stop();

  for (int n : networkSteps) {
    SCOPED_TRACE("step " + std::to_string(n));
    b_.start({{"BOXD_FAULT_FAIL_STEP", std::to_string(n)}});
    b_.writeSpec("p.yaml", webPod("p", port));
    ASSERT_TRUE(waitFor([&] { return b_.pod("p")["reason"] == "CreateFailed"; }, 10000))
        << b_.status().dump(2);
    EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
    b_.removeSpec("p.yaml");
    ASSERT_TRUE(b_.waitGone("p", 15000));
    b_.stop();
    for (const char* when : {"", ":after"}) {
      SCOPED_TRACE(std::string("crash") + when);
      b_.start({{"BOXD_FAULT_CRASH_STEP", std::to_string(n) + when}});
      b_.writeSpec("p.yaml", webPod("p", port));
      ASSERT_TRUE(waitFor([&] { return !b_.running(); }, 10000)) << "boxd did not crash";
      b_.removeSpec("p.yaml");
      b_.start();
      ASSERT_TRUE(b_.waitGone("p", 15000)) << b_.status().dump(2);
      EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
      b_.stop();
    }
  }
}

TEST_F(NetworkTest, HostNetworkPodSharesTheHostsNetworkAndName) {
  int port = randomPort();
  b_.writeSpec("h.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata: {name: h}\nspec:\n"
               "  hostNetwork: true\n  terminationGracePeriodSeconds: 1\n"
               "  containers:\n  - name: web\n    image: busybox\n"
               "    command: [sh, -c, 'mkdir -p /www && echo hello from h > "
               "/www/index.html && exec httpd -f -p 127.0.0.1:" +
                   std::to_string(port) + " -h /www']\n");
  ASSERT_TRUE(running("h")) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(podIp("h"), "") << "no bridge address for a hostNetwork pod";
  EXPECT_EQ(b_.pod("h").value("hostNetwork", false), true);
  CmdResult r;
  EXPECT_TRUE(waitFor(
      [&] {
        r = hostGet("127.0.0.1", port);
        return r.out.find("hello from h") != std::string::npos;
      },
      10000))
      << r.out;
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  r = exec("h", {"hostname"});
  EXPECT_EQ(trim(r.out), name);
  EXPECT_EQ(addressRows(), 0);
}

TEST_F(NetworkTest, DnsPolicyNoneTakesDnsConfig) {
  b_.writeSpec("d.yaml", shellPod("d",
                                  "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.53]\n"
                                  "    searches: [corp.example]\n"
                                  "    options: [{name: ndots, value: \"2\"}]\n"
                                  "  hostAliases: [{ip: 192.0.2.10, hostnames: [db]}]\n"));
  ASSERT_TRUE(running("d")) << b_.status().dump(2);
  auto r = exec("d", {"cat", "/etc/resolv.conf"});
  EXPECT_NE(r.out.find("nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("nameserver 10."), std::string::npos) << "no host resolver with None";
  r = exec("d", {"cat", "/etc/hosts"});
  EXPECT_NE(r.out.find("192.0.2.10\tdb"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace boxd::testing
