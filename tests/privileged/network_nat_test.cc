// hostPort DNAT and masquerade through boxd's nftables table, with real traffic. Everything
// happens in network namespaces the test creates and holds only by fd, so the host's own
// links, routes and rules are never touched and nothing outlives the test:
//
//   client ns (192.168.77.2) --veth-- host ns: up0 192.168.77.1, bridge br0 10.88.0.1/16
//                                                |-- veth -- pod A ns: eth0 10.88.0.5
//                                                |-- veth -- pod B ns: eth0 10.88.0.6
//                                                '-- veth -- pod C ns: eth0 10.88.0.7
//                                                    (made by the veth step, localnet tests)
//
// The test thread itself moves into the host ns for each test (and back after), so the steps
// and their nftables socket work there as boxd would on the real host.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/network/hostport_step.h"
#include "reconcilers/network/localnet_guard.h"
#include "reconcilers/network/nat.h"
#include "reconcilers/network/sysctl.h"
#include "reconcilers/step.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/support/raw_frame.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

constexpr int kDeadlineMs = 3000;
const char* kBridge = "br0";
const char* kSubnet = "10.88.0.0/16";
const char* kBridgeIp = "10.88.0.1";
const char* kPodA = "10.88.0.5";
const char* kPodB = "10.88.0.6";
const char* kPodC = "10.88.0.7";
const char* kUplinkIp = "192.168.77.1";
const char* kClientIp = "192.168.77.2";

// Runs fn on a thread that has joined the namespace behind nsFd (-1 = stay where we are), so
// sockets fn creates belong to that namespace.
template <typename T>
T inNetns(int nsFd, std::function<T()> fn, T onSetnsError) {
  T out = onSetnsError;
  std::thread t([&] {
    if (nsFd < 0 || ::setns(nsFd, CLONE_NEWNET) == 0) out = fn();
  });
  t.join();
  return out;
}

// A network namespace held by one fd: it disappears with the fd, and with it every link,
// address, route and nftables table inside.
class Netns {
 public:
  Netns() {
    fd_ = Fd(inNetns<int>(
        -1,
        [] {
          if (::unshare(CLONE_NEWNET) != 0) return -1;
          return ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        },
        -1));
  }
  bool ok() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  // A path other processes (nsenter, ip ... netns) can open while the fd lives.
  std::string path() const {
    return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_.get());
  }
  // Runs a shell command inside; true on exit status 0.
  bool sh(const std::string& cmd) const {
    std::string full = "nsenter --net=" + path() + " sh -c '" + cmd + "' >/dev/null 2>&1";
    return std::system(full.c_str()) == 0;
  }

 private:
  Fd fd_;
};

sockaddr_in ipv4(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

std::string addrText(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

bool waitFor(int fd, short events, int ms = kDeadlineMs) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, ms) == 1 && (p.revents & events) != 0;
}

// A non-blocking socket of the given type created inside ns (nullptr = the current one).
Fd socketIn(const Netns* ns, int type) {
  return Fd(inNetns<int>(
      ns ? ns->fd() : -1,
      [type] { return ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }, -1));
}

Fd boundSocket(const Netns& ns, int type, const std::string& ip, int port) {
  Fd s = socketIn(&ns, type);
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = ipv4(ip, port);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  if (type == SOCK_STREAM && ::listen(s.get(), 8) != 0) return Fd();
  return s;
}

Result<std::string> readWithin(int fd) {
  if (!waitFor(fd, POLLIN)) return makeError("no data within the deadline", ETIMEDOUT);
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return sysError("read", "");
  return std::string(buf, static_cast<size_t>(n));
}

struct Exchange {
  std::string reply;     // what the client read back
  std::string peerSeen;  // the client's address as the server saw it
};

// Connects from `from` to ip:port, expects the connection on `listener`, sends a line each way.
Result<Exchange> tcpExchange(const Netns* from, const std::string& ip, int port, int listener) {
  Fd c = socketIn(from, SOCK_STREAM);
  sockaddr_in a = ipv4(ip, port);
  if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    return sysError("connect", ip);
  if (!waitFor(c.get(), POLLOUT)) return makeError("connect " + ip + ": timed out", ETIMEDOUT);
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return sysError("connect", ip, err);
  if (!waitFor(listener, POLLIN)) return makeError("the pod listener got no connection", ETIMEDOUT);
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  Fd s(::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC));
  if (!s) return sysError("accept", "");
  std::string ping = "ping-" + randomHex(4);
  if (::write(c.get(), ping.data(), ping.size()) != static_cast<ssize_t>(ping.size()))
    return sysError("write", "client");
  auto got = readWithin(s.get());
  if (!got.ok()) return got.error().wrap("pod side");
  if (*got != ping) return makeError("pod read \"" + *got + "\", want \"" + ping + "\"");
  std::string pong = "pong:" + *got;
  if (::write(s.get(), pong.data(), pong.size()) != static_cast<ssize_t>(pong.size()))
    return sysError("write", "pod");
  auto reply = readWithin(c.get());
  if (!reply.ok()) return reply.error().wrap("client side");
  if (*reply != pong) return makeError("client read \"" + *reply + "\", want \"" + pong + "\"");
  return Exchange{*reply, addrText(peer)};
}

// One datagram each way between the current namespace and a bound pod socket.
Result<std::string> udpExchange(const std::string& ip, int port, int podSock) {
  Fd c = socketIn(nullptr, SOCK_DGRAM);
  sockaddr_in a = ipv4(ip, port);
  if (::sendto(c.get(), "ping", 4, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) != 4)
    return sysError("sendto", ip);
  if (!waitFor(podSock, POLLIN)) return makeError("the pod got no datagram", ETIMEDOUT);
  char buf[64];
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  ssize_t n = ::recvfrom(podSock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
  if (n != 4) return makeError("pod read a wrong datagram");
  ::sendto(podSock, "pong", 4, 0, reinterpret_cast<sockaddr*>(&peer), plen);
  return readWithin(c.get());
}

class NatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (network namespaces, nftables)";
    }
    ASSERT_TRUE(host_.ok() && podA_.ok() && podB_.ok() && client_.ok()) << "unshare(CLONE_NEWNET)";
    origNs_ = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(origNs_.valid());
    ASSERT_EQ(::setns(host_.fd(), CLONE_NEWNET), 0);
    moved_ = true;
    ASSERT_TRUE(host_.sh(std::string("ip link set lo up && ip link add ") + kBridge +
                         " type bridge && ip addr add " + kBridgeIp + "/16 dev " + kBridge +
                         " && ip link set " + kBridge + " up"));
    ASSERT_TRUE(host_.sh("ip link add up0 type veth peer name eth0 netns " + client_.path() +
                         " && ip addr add " + kUplinkIp + "/24 dev up0 && ip link set up0 up"));
    ASSERT_TRUE(client_.sh(std::string("ip link set lo up && ip addr add ") + kClientIp +
                           "/24 dev eth0 && ip link set eth0 up"));
    ASSERT_NO_FATAL_FAILURE(addPod(podA_, "vetha", kPodA));
    ASSERT_NO_FATAL_FAILURE(addPod(podB_, "vethb", kPodB));
    // What the netlink side sets up on the real host.
    ASSERT_TRUE(net::writeSysctl(net::sysctlPath({"net", "ipv4", "ip_forward"}), "1").ok());
    ASSERT_TRUE(
        net::writeSysctl(net::sysctlPath({"net", "ipv4", "conf", kBridge, "route_localnet"}), "1")
            .ok());
  }

  void TearDown() override {
    if (moved_) {
      EXPECT_EQ(::setns(origNs_.get(), CLONE_NEWNET), 0);
    }
  }

  void addPod(const Netns& pod, const std::string& veth, const std::string& ip) {
    // hairpin: with br_netfilter loaded, a pod reaching its own hostPort goes back out the
    // port it came in on.
    ASSERT_TRUE(host_.sh("ip link add " + veth + " type veth peer name eth0 netns " + pod.path() +
                         " && ip link set " + veth + " master " + kBridge + " && ip link set " +
                         veth + " type bridge_slave hairpin on && ip link set " + veth + " up"));
    ASSERT_TRUE(pod.sh("ip link set lo up && ip addr add " + ip +
                       "/16 dev eth0 && ip link set eth0 up && ip route add default via " +
                       kBridgeIp));
  }

  net::NatConfig nat() const { return {table_, kBridge, kSubnet, true}; }

  HostPortStep step(const std::string& podIp, std::vector<HostPort> ports) const {
    return HostPortStep(nat(), podIp, std::move(ports));
  }

  std::optional<nlohmann::json> listing() {
    auto nft = net::Nft::open();
    if (!nft.ok()) return std::nullopt;
    auto l = net::listNatTable(*nft, table_);
    return l.ok() ? *l : std::nullopt;
  }

  Status nftRun(const std::string& script) {
    auto nft = net::Nft::open();
    if (!nft.ok()) return nft.error();
    return nft->run(script);
  }

  Netns host_, podA_, podB_, client_;
  Fd origNs_;
  bool moved_ = false;
  std::string table_ = "boxdt_" + randomHex(4);
};

TEST_F(NatTest, TcpHostPortReachesThePodFromEveryPath) {
  Fd listener = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  ASSERT_TRUE(listener.valid());
  auto s = step(kPodA, {{8080, 80, "TCP", ""}});
  ASSERT_TRUE(s.apply().ok());

  // The host to its bridge address and to localhost (output chain), an outside client to the
  // uplink address (prerouting), and the pod to its own hostPort (hairpin).
  auto viaBridge = tcpExchange(nullptr, kBridgeIp, 8080, listener.get());
  ASSERT_TRUE(viaBridge.ok()) << viaBridge.error().message;
  auto viaLocalhost = tcpExchange(nullptr, "127.0.0.1", 8080, listener.get());
  ASSERT_TRUE(viaLocalhost.ok()) << viaLocalhost.error().message;
  EXPECT_EQ(viaLocalhost->peerSeen, kBridgeIp);  // 127.0.0.1 masqueraded on the bridge
  auto fromOutside = tcpExchange(&client_, kUplinkIp, 8080, listener.get());
  ASSERT_TRUE(fromOutside.ok()) << fromOutside.error().message;
  EXPECT_EQ(fromOutside->peerSeen, kClientIp);  // no masquerade needed on the way in
  auto hairpin = tcpExchange(&podA_, kBridgeIp, 8080, listener.get());
  ASSERT_TRUE(hairpin.ok()) << hairpin.error().message;
  EXPECT_EQ(hairpin->peerSeen, kBridgeIp);

  ASSERT_TRUE(s.undo().ok());
  int64_t start = monotonicMs();
  auto after = tcpExchange(nullptr, kBridgeIp, 8080, listener.get());
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ECONNREFUSED) << after.error().message;
  EXPECT_LT(monotonicMs() - start, 1000);
  EXPECT_FALSE(tcpExchange(&client_, kUplinkIp, 8080, listener.get()).ok());
  auto observed = s.observe();
  ASSERT_TRUE(observed.ok());
  EXPECT_FALSE(*observed);
}

TEST_F(NatTest, PodsReachOutsideMasqueraded) {
  Fd outside = boundSocket(client_, SOCK_STREAM, kClientIp, 9000);
  ASSERT_TRUE(outside.valid());
  ASSERT_TRUE(step(kPodA, {{8080, 80, "TCP", ""}}).apply().ok());
  auto r = tcpExchange(&podA_, kClientIp, 9000, outside.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->peerSeen, kUplinkIp);
}

TEST_F(NatTest, UdpMappingIsListedAndCarriesDatagrams) {
  Fd pod = boundSocket(podA_, SOCK_DGRAM, "0.0.0.0", 53);
  ASSERT_TRUE(pod.valid());
  auto s = step(kPodA, {{5353, 53, "UDP", ""}, {8080, 80, "TCP", ""}});
  ASSERT_TRUE(s.apply().ok());
  auto l = listing();
  ASSERT_TRUE(l.has_value());
  auto elems = net::hostPortElements(*l);
  EXPECT_NE(std::find(elems.begin(), elems.end(), net::HostPortElement{"", "udp", 5353, kPodA, 53}),
            elems.end());
  EXPECT_EQ(elems.size(), 2u);
  auto reply = udpExchange(kBridgeIp, 5353, pod.get());
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(*reply, "pong");
}

TEST_F(NatTest, HostIpBindsOneAddressOnly) {
  Fd listener = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  auto s = step(kPodA, {{8080, 80, "TCP", "127.0.0.1"}});
  ASSERT_TRUE(s.apply().ok());
  auto r = tcpExchange(nullptr, "127.0.0.1", 8080, listener.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto other = tcpExchange(nullptr, kBridgeIp, 8080, listener.get());
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ECONNREFUSED) << other.error().message;
  // A wildcard mapping of the same port for another pod would steal 127.0.0.1's traffic.
  Status st = step(kPodB, {{8080, 80, "TCP", ""}}).apply();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("hostPort 8080/TCP is already mapped to 10.88.0.5:80"),
            std::string::npos)
      << st.error().message;
  auto observed = s.observe();
  ASSERT_TRUE(observed.ok());
  EXPECT_TRUE(*observed);
}

TEST_F(NatTest, ConflictingHostPortIsRefusedAndTheFirstMappingKept) {
  Fd listener = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  auto a = step(kPodA, {{8080, 80, "TCP", ""}});
  ASSERT_TRUE(a.apply().ok());
  auto b = step(kPodB, {{8081, 81, "TCP", ""}, {8080, 80, "TCP", ""}});
  Status st = b.apply();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("hostPort 8080/TCP is already mapped to 10.88.0.5:80"),
            std::string::npos)
      << st.error().message;
  // All or nothing: b's free port was not mapped either; and undoing the failed step (as the
  // agent does) leaves a's mapping alone.
  auto elems = net::hostPortElements(*listing());
  EXPECT_EQ(elems, (std::vector<net::HostPortElement>{{"", "tcp", 8080, kPodA, 80}}));
  ASSERT_TRUE(b.undo().ok());
  auto r = tcpExchange(nullptr, kBridgeIp, 8080, listener.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST_F(NatTest, ApplyTwiceChangesNothing) {
  auto s = step(kPodA, {{8080, 80, "TCP", ""}, {5353, 53, "UDP", ""}});
  ASSERT_TRUE(s.apply().ok());
  auto before = listing();
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE(ensureNatTable(nat()).ok());
  auto after = listing();
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->dump(), after->dump());  // same rule handles: nothing was rewritten
}

TEST_F(NatTest, UndoingOnePodKeepsTheOther) {
  Fd la = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  Fd lb = boundSocket(podB_, SOCK_STREAM, "0.0.0.0", 80);
  auto a = step(kPodA, {{8080, 80, "TCP", ""}});
  auto b = step(kPodB, {{8081, 80, "TCP", ""}});
  ASSERT_TRUE(a.apply().ok());
  ASSERT_TRUE(b.apply().ok());
  ASSERT_TRUE(tcpExchange(nullptr, kBridgeIp, 8080, la.get()).ok());
  ASSERT_TRUE(a.undo().ok());
  ASSERT_TRUE(a.undo().ok());  // undo is idempotent
  auto rb = tcpExchange(nullptr, kBridgeIp, 8081, lb.get());
  ASSERT_TRUE(rb.ok()) << rb.error().message;
  EXPECT_FALSE(tcpExchange(nullptr, kBridgeIp, 8080, la.get()).ok());
  auto ob = b.observe();
  ASSERT_TRUE(ob.ok());
  EXPECT_TRUE(*ob);
}

TEST_F(NatTest, ObserveSeesDriftAndApplyRepairsIt) {
  Fd listener = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  auto s = step(kPodA, {{8080, 80, "TCP", ""}});
  ASSERT_TRUE(s.apply().ok());
  auto expectObserved = [&](bool want) {
    auto o = s.observe();
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(*o, want);
  };
  expectObserved(true);

  ASSERT_TRUE(nftRun("delete element ip " + table_ + " hostports { tcp . 8080 }").ok());
  expectObserved(false);
  ASSERT_TRUE(s.apply().ok());
  expectObserved(true);

  ASSERT_TRUE(nftRun("flush chain ip " + table_ + " postrouting").ok());
  expectObserved(false);
  ASSERT_TRUE(s.apply().ok());
  expectObserved(true);
  ASSERT_TRUE(tcpExchange(nullptr, "127.0.0.1", 8080, listener.get()).ok());

  ASSERT_TRUE(net::removeNatTable(table_).ok());
  expectObserved(false);
  ASSERT_TRUE(s.apply().ok());
  expectObserved(true);
  auto r = tcpExchange(nullptr, kBridgeIp, 8080, listener.get());
  ASSERT_TRUE(r.ok()) << r.error().message;

  ASSERT_TRUE(net::removeNatTable(table_).ok());
  ASSERT_TRUE(net::removeNatTable(table_).ok());  // absent is fine
  EXPECT_TRUE(s.undo().ok());                     // nothing left to undo
}

TEST_F(NatTest, RebuiltFromTheJournalItUndoes) {
  Fd listener = boundSocket(podA_, SOCK_STREAM, "0.0.0.0", 80);
  auto s = step(kPodA, {{8080, 80, "TCP", ""}, {5353, 53, "UDP", "127.0.0.1"}});
  ASSERT_TRUE(s.apply().ok());
  testing::TempDir dir("nat");
  testing::FakeMounter mounter;
  auto cgroups = makeCgroupsV2(dir.path(), std::make_shared<testing::FakeCgroupFs>());
  Host host{Paths{}, mounter, *cgroups};
  auto rebuilt = stepFromJournal("hostport", s.params(), host);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ((*rebuilt)->kind(), "hostport");
  EXPECT_EQ((*rebuilt)->params(), s.params());
  auto o = (*rebuilt)->observe();
  ASSERT_TRUE(o.ok() && *o);
  ASSERT_TRUE((*rebuilt)->undo().ok());
  EXPECT_TRUE(net::hostPortElements(*listing()).empty());
  EXPECT_FALSE(tcpExchange(nullptr, kBridgeIp, 8080, listener.get()).ok());
}

TEST_F(NatTest, RefusesWhatItCannotMap) {
  struct Case {
    HostPort port;
    std::string want;
  } cases[] = {
      {{9000, 90, "SCTP", ""}, "hostPort 9000/SCTP: SCTP hostPorts are not supported"},
      {{9000, 90, "TCP", "::1"}, "is not an IPv4 address"},
      {{0, 90, "TCP", ""}, "ports must be 1-65535"},
  };
  for (const auto& c : cases) {
    auto s = step(kPodA, {c.port});
    Status st = s.apply();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find(c.want), std::string::npos) << st.error().message;
    EXPECT_TRUE(s.undo().ok());
  }
  auto s = step(kPodA, {{9000, 90, "TCP", ""}, {9000, 91, "TCP", ""}});
  EXPECT_FALSE(s.apply().ok());
  EXPECT_FALSE(listing().has_value());  // nothing was created
}

// Not a pass/fail check beyond a sanity bound: prints the medians for the record.
TEST_F(NatTest, ApplyTiming) {
  auto median = [](std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::vector<int64_t> firstUse, present, noop;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(net::removeNatTable(table_).ok());
    auto s = step(kPodA, {{8080, 80, "TCP", ""}});
    int64_t t0 = monotonicUs();
    ASSERT_TRUE(s.apply().ok());
    firstUse.push_back(monotonicUs() - t0);
  }
  for (int i = 0; i < 20; ++i) {
    auto s = step("10.88.1." + std::to_string(i + 1), {{10000 + i, 80, "TCP", ""}});
    int64_t t0 = monotonicUs();
    ASSERT_TRUE(s.apply().ok());
    present.push_back(monotonicUs() - t0);
    t0 = monotonicUs();
    ASSERT_TRUE(s.apply().ok());
    noop.push_back(monotonicUs() - t0);
  }
  std::printf(
      "HostPortStep::apply median: first use %lld us, table present %lld us, "
      "already applied %lld us\n",
      static_cast<long long>(median(firstUse)), static_cast<long long>(median(present)),
      static_cast<long long>(median(noop)));
  EXPECT_LT(median(present), 1'000'000);
}

// ---- the localnet guard: CVE-2020-8558's class ------------------------------------------------
//
// Pod C is set up by the veth step itself (bridge sysctls, guard), as boxd does it. Its
// attacks are raw frames put on its eth0, addressed to the bridge's MAC: what a container with
// CAP_NET_RAW can send. Each check sends a control frame last, to a service bound to the
// bridge's address, which must arrive: the frames went through, the guard dropped the rest.

Fd boundUdp6(const Netns& ns, const std::string& ip, int port) {
  Fd s(inNetns<int>(
      ns.fd(), [] { return ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); },
      -1));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr);
  if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return s;
}

class LocalnetTest : public NatTest {
 protected:
  // The veth step writes the bridge port's /sys/class/net/.../brport/hairpin_mode, and sysfs
  // shows the links of the namespace that mounted it: each test mounts one for its host ns, in
  // a mount namespace private to this process (gone with it, whatever happens).
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    if (::unshare(CLONE_NEWNS) == 0)
      privateMounts_ = ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
  }

  void SetUp() override {
    NatTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(podC_.ok());
    ASSERT_TRUE(privateMounts_) << "no private mount namespace for the test's sysfs";
    ASSERT_EQ(::mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), 0)
        << strerror(errno);
    sysMounted_ = true;
    // Reverse-path filtering off (the machine default, and what many nodes run): the guard, not
    // rp_filter, must stop spoofed loopback sources.
    for (const char* dev : {"all", kBridge}) {
      ASSERT_TRUE(
          net::writeSysctl(net::sysctlPath({"net", "ipv4", "conf", dev, "rp_filter"}), "0").ok());
    }
  }

  // Pod C's veth step, rebuilt from its params the way boxd rebuilds journaled steps.
  std::unique_ptr<Step> vethStep(bool routeLocalnet) {
    nlohmann::json params = {
        {"netns", podC_.path()}, {"bridge", kBridge},  {"gatewayCidr", "10.88.0.1/16"},
        {"hostIf", "vethc"},     {"podIf", "eth0"},    {"address", std::string(kPodC) + "/16"},
        {"gateway", kBridgeIp},  {"nftTable", table_}, {"routeLocalnet", routeLocalnet}};
    testing::TempDir dir("nat");
    testing::FakeMounter mounter;
    auto cgroups = makeCgroupsV2(dir.path(), std::make_shared<testing::FakeCgroupFs>());
    Host host{Paths{}, mounter, *cgroups};
    auto step = stepFromJournal("veth", params, host);
    EXPECT_TRUE(step.ok()) << step.error().message;
    return step.ok() ? std::move(*step) : nullptr;
  }

  // One UDP datagram from pod C's eth0, to the bridge's MAC, with any addresses.
  Status sendFromPod(const std::string& src, const std::string& dst, int port, bool v6 = false) {
    // Read each time: a bridge without a MAC of its own takes its ports' lowest one.
    auto bridgeMac = testing::linkMac(kBridge);
    if (!bridgeMac.ok()) return bridgeMac.error();
    return inNetns<Status>(
        podC_.fd(),
        [&]() -> Status {
          auto podMac = testing::linkMac("eth0");
          if (!podMac.ok()) return podMac.error();
          auto frame = v6 ? testing::udp6Frame(*podMac, *bridgeMac, src, dst, 40000,
                                               static_cast<uint16_t>(port), "raw")
                          : testing::udp4Frame(*podMac, *bridgeMac, src, dst, 40000,
                                               static_cast<uint16_t>(port), "raw");
          if (!frame.ok()) return frame.error();
          return testing::sendFrame("eth0", *frame);
        },
        makeError("setns into pod C"));
  }

  // Sends the control frame and fails unless it arrives.
  void expectControlDelivered() {
    Fd control = boundSocket(host_, SOCK_DGRAM, kBridgeIp, 5399);
    ASSERT_TRUE(control.valid());
    ASSERT_TRUE(sendFromPod(kPodC, kBridgeIp, 5399).ok());
    ASSERT_TRUE(waitFor(control.get(), POLLIN))
        << "a raw frame to the bridge's own address was not delivered: the test proves nothing";
  }

  // Pod C's attacks on the host's loopback, each against a service of the host namespace.
  void expectLoopbackUnreachable() {
    Fd loopback = boundSocket(host_, SOCK_DGRAM, "127.0.0.1", 5300);
    Fd anyAddr = boundSocket(host_, SOCK_DGRAM, "0.0.0.0", 5301);
    Fd loopback6 = boundUdp6(host_, "::1", 5302);
    ASSERT_TRUE(loopback.valid() && anyAddr.valid() && loopback6.valid());
    ASSERT_TRUE(sendFromPod(kPodC, "127.0.0.1", 5300).ok());
    // A spoofed loopback source. The kernel itself refuses one of the host's own addresses as
    // a source (127.0.0.1), not the rest of 127.0.0.0/8 (with rp_filter off, as here).
    ASSERT_TRUE(sendFromPod("127.0.0.2", kBridgeIp, 5301).ok());
    ASSERT_TRUE(sendFromPod("fe80::1", "::1", 5302, true).ok());
    ASSERT_NO_FATAL_FAILURE(expectControlDelivered());
    EXPECT_FALSE(waitFor(loopback.get(), POLLIN, 300))
        << "a pod reached a service bound to the host's 127.0.0.1";
    EXPECT_FALSE(waitFor(anyAddr.get(), POLLIN, 100))
        << "a pod's datagram with source 127.0.0.2 reached a host service";
    EXPECT_FALSE(waitFor(loopback6.get(), POLLIN, 100))
        << "a pod reached a service bound to the host's ::1";
  }

  std::string sysctl(const std::string& family, const std::string& key) {
    auto v = net::readSysctl(net::sysctlPath({"net", family, "conf", kBridge, key}));
    return v.ok() ? *v : "(" + v.error().message + ")";
  }

  void TearDown() override {
    if (sysMounted_) {
      EXPECT_EQ(::umount2("/sys", MNT_DETACH), 0) << strerror(errno);
    }
    NatTest::TearDown();
  }

  static inline bool privateMounts_ = false;
  bool sysMounted_ = false;
  Netns podC_;
};

TEST_F(LocalnetTest, PodRawFramesNeverReachTheHostsLoopback) {
  auto veth = vethStep(true);
  ASSERT_TRUE(veth);
  Status st = veth->apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(sysctl("ipv4", "route_localnet"), "1");
  EXPECT_EQ(sysctl("ipv6", "disable_ipv6"), "1");
  ASSERT_NO_FATAL_FAILURE(expectLoopbackUnreachable());

  // What route_localnet is for still works: the host's 127.0.0.1:hostPort reaches the pod, and
  // the replies, which arrive from the bridge addressed to 127.0.0.1, get back.
  Fd listener = boundSocket(podC_, SOCK_STREAM, "0.0.0.0", 80);
  Fd udpPod = boundSocket(podC_, SOCK_DGRAM, "0.0.0.0", 53);
  ASSERT_TRUE(listener.valid() && udpPod.valid());
  auto hp = step(kPodC, {{8080, 80, "TCP", "127.0.0.1"}, {5353, 53, "UDP", ""}});
  st = hp.apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto r = tcpExchange(nullptr, "127.0.0.1", 8080, listener.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto u = udpExchange("127.0.0.1", 5353, udpPod.get());
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(*u, "pong");
  ASSERT_NO_FATAL_FAILURE(expectLoopbackUnreachable());
  auto o = veth->observe();
  ASSERT_TRUE(o.ok() && *o);
}

TEST_F(LocalnetTest, WithoutHostPortsTheBridgeDoesNotRouteLoopbackAndIsGuarded) {
  auto veth = vethStep(false);
  ASSERT_TRUE(veth);
  Status st = veth->apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(sysctl("ipv4", "route_localnet"), "0");
  auto l = listing();
  ASSERT_TRUE(l.has_value()) << "no table although the bridge is up";
  EXPECT_TRUE(net::localnetGuardCurrent(*l, kBridge)) << l->dump();
  ASSERT_NO_FATAL_FAILURE(expectLoopbackUnreachable());
}

TEST_F(LocalnetTest, DeletedGuardIsObservedAndRepaired) {
  auto veth = vethStep(true);
  ASSERT_TRUE(veth);
  ASSERT_TRUE(veth->apply().ok());
  auto expectObserved = [&](bool want) {
    auto o = veth->observe();
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(*o, want);
  };
  expectObserved(true);
  const std::string t = "ip " + table_;
  for (const std::string& tamper :
       {"flush chain " + t + " localnet", "flush chain " + t + " input",
        "delete element " + t + " bridges { \"" + std::string(kBridge) + "\" }",
        "delete table " + t}) {
    SCOPED_TRACE(tamper);
    ASSERT_TRUE(nftRun(tamper).ok());
    expectObserved(false);
    Status st = veth->apply();
    ASSERT_TRUE(st.ok()) << st.error().message;
    expectObserved(true);
  }
  ASSERT_NO_FATAL_FAILURE(expectLoopbackUnreachable());
  // The guard is shared: a pod's undo leaves it, as it leaves the bridge.
  ASSERT_TRUE(veth->undo().ok());
  auto l = listing();
  ASSERT_TRUE(l.has_value());
  EXPECT_TRUE(net::localnetGuardCurrent(*l, kBridge));
}

}  // namespace
}  // namespace boxd::reconcilers
