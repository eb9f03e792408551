// Pod networking over netlink with real kernel objects: pinned network namespaces, a bridge,
// veth pairs, addresses, routes, and real TCP connections between them. Skipped unless root.
//
// Every run uses its own names (bridge bxt<hex>, host ends bxv<hex>) and a /24 picked at random
// in 10.240.0.0/12 that no host route touches. The test process moves into a private mount
// namespace first, so its netns pins never reach the host's mount table even if it crashes; the
// links it makes live in the host's network namespace and are deleted (by name) at the end of
// each test, failed or not, along with the pins.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/network/netlink.h"
#include "reconcilers/network/netns_step.h"
#include "reconcilers/network/veth_step.h"
#include "reconcilers/step.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using net::Netlink;
using net::NetnsGuard;

constexpr int kDeadlineMs = 5000;

// Runs cleanups newest first when destroyed, so a failed assertion still removes everything.
class Cleanup {
 public:
  ~Cleanup() {
    for (auto it = fns_.rbegin(); it != fns_.rend(); ++it) (*it)();
  }
  void add(std::function<void()> fn) { fns_.push_back(std::move(fn)); }

 private:
  std::vector<std::function<void()>> fns_;
};

void deleteHostLink(const std::string& name) {
  auto nl = Netlink::open();
  if (nl.ok()) (void)nl->deleteLink(name);
}

void unpin(const std::string& path) {
  for (int i = 0; i < 8 && ::umount2(path.c_str(), MNT_DETACH) == 0; ++i) {
  }
  (void)::unlink(path.c_str());
}

ino_t inodeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

bool mountinfoMentions(const std::string& path) {
  auto info = readFile("/proc/self/mountinfo");
  return info.ok() && info->find(" " + path + " ") != std::string::npos;
}

// A /24 in 10.240.0.0/12 that overlaps no IPv4 route of the host's main table; "" if none.
std::string pickSubnet() {
  auto routes = readFile("/proc/net/route");
  if (!routes.ok()) return "";
  std::vector<std::pair<uint32_t, uint32_t>> used;  // (dest, mask), host byte order
  for (const auto& line : split(*routes, '\n')) {
    unsigned dest = 0, gw = 0, flags = 0, ref = 0, use = 0, metric = 0, mask = 0;
    char ifname[32];
    if (std::sscanf(line.c_str(), "%31s %x %x %x %u %u %u %x", ifname, &dest, &gw, &flags, &ref,
                    &use, &metric, &mask) == 8 &&
        mask != 0)
      used.emplace_back(ntohl(dest), ntohl(mask));
  }
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t r = static_cast<uint32_t>(std::stoul(randomHex(2), nullptr, 16)) & 0xfff;
    uint32_t base = (10u << 24) | ((240u + (r >> 8)) << 16) | ((r & 0xff) << 8);
    bool clash = std::any_of(used.begin(), used.end(), [&](auto dm) {
      uint32_t common = dm.second & 0xffffff00u;
      return ((dm.first ^ base) & common) == 0;
    });
    if (!clash)
      return "10." + std::to_string(base >> 16 & 0xff) + "." + std::to_string(base >> 8 & 0xff) +
             ".";
  }
  return "";
}

// Runs fn on a fresh thread inside the netns pinned at `netns` (the host's when empty): sockets
// it creates stay in that namespace for their whole life.
Fd socketIn(const std::string& netns, const std::function<Fd()>& fn) {
  Fd out;
  std::thread t([&] {
    if (netns.empty()) {
      out = fn();
      return;
    }
    auto guard = NetnsGuard::enter(netns);
    if (guard.ok()) out = fn();
  });
  t.join();
  return out;
}

// A TCP listener on ip:port 0 inside netns; *port gets the kernel's choice.
Fd listenIn(const std::string& netns, const std::string& ip, uint16_t* port) {
  return socketIn(netns, [&]() -> Fd {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (!s || ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return Fd();
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
    if (::listen(s.get(), 8) != 0) return Fd();
    socklen_t len = sizeof a;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) return Fd();
    *port = ntohs(a.sin_port);
    return s;
  });
}

bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeoutMs) == 1 && (p.revents & events) != 0;
}

// Connects from `from` (a pinned netns, or "" for the host) to ip:port, where `listener` must
// accept it and receive one byte. Returns "" on success, else what went wrong.
std::string tcpReach(const std::string& from, int listener, const std::string& ip, uint16_t port,
                     int timeoutMs = kDeadlineMs) {
  Fd c = socketIn(
      from, [] { return Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)); });
  if (!c) return "socket in " + (from.empty() ? "host" : from) + " failed";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    return "connect: " + std::string(strerror(errno));
  if (!waitFor(c.get(), POLLOUT, timeoutMs)) return "connect to " + ip + ": timed out";
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return "connect to " + ip + ": " + strerror(err);
  if (!waitFor(listener, POLLIN, kDeadlineMs)) return "accept on " + ip + ": timed out";
  Fd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!conn) return "accept: " + std::string(strerror(errno));
  if (::write(c.get(), "x", 1) != 1) return "write: " + std::string(strerror(errno));
  char b = 0;
  if (!waitFor(conn.get(), POLLIN, kDeadlineMs) || ::read(conn.get(), &b, 1) != 1 || b != 'x')
    return "no byte received on " + ip;
  return "";
}

struct Pod {
  std::string netns, hostIf, ip;
  std::unique_ptr<NetnsStep> netnsStep;
  std::unique_ptr<VethStep> veth;

  Status apply() {
    BOXD_TRY(netnsStep->apply());
    return veth->apply();
  }
};

class NetworkNetlinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    if (::unshare(CLONE_NEWNS) == 0)
      (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    subnet_ = pickSubnet();
    ASSERT_FALSE(subnet_.empty()) << "no free /24 in 10.240.0.0/12";
    bridge_ = "bxt" + randomHex(4);
    cleanup_.add([b = bridge_] { deleteHostLink(b); });
  }

  std::string gatewayIp() const { return subnet_ + "1"; }

  Pod makePod(int hostByte) {
    Pod p;
    p.netns = dir_ / ("ns-" + std::to_string(hostByte));
    p.hostIf = "bxv" + randomHex(6);
    p.ip = subnet_ + std::to_string(hostByte);
    cleanup_.add([p = p.netns, h = p.hostIf] {
      deleteHostLink(h);
      unpin(p);
    });
    p.netnsStep = std::make_unique<NetnsStep>(p.netns);
    VethSpec s;
    s.netns = p.netns;
    s.bridge = bridge_;
    s.gatewayCidr = gatewayIp() + "/24";
    s.hostIf = p.hostIf;
    s.address = p.ip + "/24";
    s.gateway = gatewayIp();
    p.veth = std::make_unique<VethStep>(s);
    return p;
  }

  std::optional<net::LinkInfo> hostLink(const std::string& name) {
    auto nl = Netlink::open();
    if (!nl.ok()) return std::nullopt;
    auto l = nl->link(name);
    return l.ok() ? *l : std::nullopt;
  }

  std::optional<net::LinkInfo> podLink(const Pod& p, const std::string& name = "eth0") {
    auto nl = Netlink::openIn(p.netns);
    if (!nl.ok()) return std::nullopt;
    auto l = nl->link(name);
    return l.ok() ? *l : std::nullopt;
  }

  // Fails the test unless `from` reaches a fresh listener of `to` (a pod, or the host when null).
  void expectReach(const std::string& from, const Pod* to) {
    uint16_t port = 0;
    std::string ip = to != nullptr ? to->ip : gatewayIp();
    Fd l = listenIn(to != nullptr ? to->netns : "", ip, &port);
    ASSERT_TRUE(l) << "listen on " << ip;
    EXPECT_EQ(tcpReach(from, l.get(), ip, port), "")
        << (from.empty() ? "host" : from) << " -> " << ip;
  }

  boxd::testing::TempDir dir_{"netlink"};
  Cleanup cleanup_;  // after dir_: runs first
  std::string subnet_, bridge_;
};

bool observed(Step& s) {
  auto r = s.observe();
  EXPECT_TRUE(r.ok()) << s.kind() << " observe: " << r.error().message;
  return r.ok() && *r;
}

TEST_F(NetworkNetlinkTest, NetnsPinObserveUndoAreIdempotent) {
  Pod p = makePod(2);
  NetnsStep& s = *p.netnsStep;
  const ino_t threadNs = inodeOf("/proc/thread-self/ns/net");
  EXPECT_FALSE(observed(s));

  Status st = s.apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(inodeOf("/proc/thread-self/ns/net"), threadNs) << "thread left in the pod's netns";
  EXPECT_TRUE(observed(s));
  const ino_t pinned = inodeOf(p.netns);
  EXPECT_NE(pinned, threadNs) << "the pin must be a new namespace";
  EXPECT_TRUE(mountinfoMentions(p.netns));
  auto lo = podLink(p, "lo");
  ASSERT_TRUE(lo.has_value());
  EXPECT_TRUE(lo->up);

  st = s.apply();  // already pinned: same namespace, not a new one
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(inodeOf(p.netns), pinned);

  ASSERT_TRUE(s.undo().ok());
  EXPECT_FALSE(observed(s));
  EXPECT_FALSE(mountinfoMentions(p.netns));
  EXPECT_NE(::access(p.netns.c_str(), F_OK), 0) << "netns file left behind";
  st = s.undo();
  EXPECT_TRUE(st.ok()) << st.error().message;
}

TEST_F(NetworkNetlinkTest, VethApplyTwiceIsANoop) {
  Pod p = makePod(2);
  Status st = p.apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(observed(*p.veth));

  auto bridge = hostLink(bridge_);
  auto host = hostLink(p.hostIf);
  auto pod = podLink(p);
  ASSERT_TRUE(bridge && host && pod);
  EXPECT_EQ(bridge->type, "bridge");
  EXPECT_TRUE(bridge->up);
  EXPECT_EQ(host->type, "veth");
  EXPECT_EQ(host->master, bridge->index);
  EXPECT_EQ(pod->peer, host->index);
  EXPECT_EQ(host->mtu, bridge->mtu);
  auto localnet = readFile("/proc/sys/net/ipv4/conf/" + bridge_ + "/route_localnet");
  ASSERT_TRUE(localnet.ok());
  EXPECT_EQ(trim(*localnet), "1");
  // IPv4 only: the host takes no IPv6 from its pods (no link-local address on the bridge).
  auto v6 = readFile("/proc/sys/net/ipv6/conf/" + bridge_ + "/disable_ipv6");
  if (v6.ok()) {
    EXPECT_EQ(trim(*v6), "1");
  }

  st = p.apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(hostLink(p.hostIf)->index, host->index) << "second apply re-created the host end";
  EXPECT_EQ(podLink(p)->index, pod->index) << "second apply re-created the pod end";
  EXPECT_TRUE(observed(*p.veth));
}

TEST_F(NetworkNetlinkTest, PodsOnOneBridgeAndTheHostReachEachOther) {
  Pod a = makePod(2), b = makePod(3);
  // Both applied at once on worker threads, as boxd does: the shared bridge is created by
  // whichever gets there first.
  Status sa, sb;
  std::thread ta([&] { sa = a.apply(); }), tb([&] { sb = b.apply(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.error().message;
  ASSERT_TRUE(sb.ok()) << sb.error().message;

  expectReach(b.netns, &a);
  expectReach(a.netns, &b);
  expectReach("", &a);            // host -> pod, through the bridge address
  expectReach(a.netns, nullptr);  // pod -> host's bridge address
}

TEST_F(NetworkNetlinkTest, DriftIsObservedAndRepaired) {
  Pod a = makePod(2), b = makePod(3);
  ASSERT_TRUE(a.apply().ok());
  ASSERT_TRUE(b.apply().ok());

  deleteHostLink(a.hostIf);  // the pod end goes with it
  EXPECT_FALSE(observed(*a.veth));
  {
    uint16_t port = 0;
    Fd l = listenIn(b.netns, b.ip, &port);
    ASSERT_TRUE(l);
    EXPECT_NE(tcpReach(a.netns, l.get(), b.ip, port, 300), "")
        << "a pod without its veth connected";
  }
  Status st = a.veth->apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(observed(*a.veth));
  expectReach(b.netns, &a);

  {
    auto nl = Netlink::openIn(a.netns);
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->deleteAddress("eth0", a.ip + "/24").ok());
    auto has = nl->hasAddress("eth0", a.ip + "/24");
    ASSERT_TRUE(has.ok());
    ASSERT_FALSE(*has);
  }
  EXPECT_FALSE(observed(*a.veth));
  st = a.veth->apply();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(observed(*a.veth));
  expectReach(b.netns, &a);
  expectReach(a.netns, nullptr);  // the default route is back too
}

TEST_F(NetworkNetlinkTest, UndoWorksAfterTheNetnsIsGoneAndTwice) {
  Pod p = makePod(2);
  ASSERT_TRUE(p.apply().ok());
  // As after a reboot: the pin is gone (the kernel tears the namespace down in the background).
  ASSERT_TRUE(p.netnsStep->undo().ok());
  EXPECT_FALSE(observed(*p.veth));
  Status st = p.veth->undo();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_FALSE(hostLink(p.hostIf).has_value());
  st = p.veth->undo();
  EXPECT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(hostLink(bridge_).has_value()) << "the shared bridge must stay";
}

TEST_F(NetworkNetlinkTest, UndoWhileNetnsStillPinnedRemovesBothEnds) {
  Pod p = makePod(2);
  ASSERT_TRUE(p.apply().ok());
  Status st = p.veth->undo();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_FALSE(hostLink(p.hostIf).has_value());
  EXPECT_FALSE(podLink(p).has_value());
  EXPECT_TRUE(observed(*p.netnsStep));
  EXPECT_TRUE(p.veth->undo().ok());
  ASSERT_TRUE(p.netnsStep->undo().ok());
}

TEST_F(NetworkNetlinkTest, ApplyWithoutAPinnedNetnsFails) {
  Pod p = makePod(2);
  Status st = p.veth->apply();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("not pinned"), std::string::npos) << st.error().message;
  EXPECT_FALSE(hostLink(p.hostIf).has_value());
}

TEST_F(NetworkNetlinkTest, StepsRebuiltFromTheJournalObserveAndUndo) {
  Pod p = makePod(2);
  ASSERT_TRUE(p.apply().ok());
  boxd::testing::FakeMounter mounter;
  auto cgroups = makeCgroupsV2(dir_ / "cg", std::make_shared<boxd::testing::FakeCgroupFs>());
  Host host{Paths{}, mounter, *cgroups};
  auto ns = stepFromJournal("netns", p.netnsStep->params(), host);
  auto veth = stepFromJournal("veth", p.veth->params(), host);
  ASSERT_TRUE(ns.ok()) << ns.error().message;
  ASSERT_TRUE(veth.ok()) << veth.error().message;
  EXPECT_EQ((*veth)->params(), p.veth->params());
  EXPECT_EQ((*veth)->kind(), "veth");
  EXPECT_TRUE(observed(**ns));
  EXPECT_TRUE(observed(**veth));
  ASSERT_TRUE((*veth)->undo().ok());
  ASSERT_TRUE((*ns)->undo().ok());
  EXPECT_FALSE(observed(*p.veth));
  EXPECT_FALSE(observed(*p.netnsStep));
  EXPECT_FALSE(hostLink(p.hostIf).has_value());
}

TEST_F(NetworkNetlinkTest, BadParamsAreRefused) {
  boxd::testing::FakeMounter mounter;
  auto cgroups = makeCgroupsV2(dir_ / "cg", std::make_shared<boxd::testing::FakeCgroupFs>());
  Host host{Paths{}, mounter, *cgroups};
  const nlohmann::json good = {{"netns", "/run/boxd/netns/x"},  {"bridge", "boxd0"},
                               {"gatewayCidr", "10.88.0.1/16"}, {"hostIf", "bxd0123456789ab"},
                               {"address", "10.88.0.5/16"},     {"gateway", "10.88.0.1"}};
  ASSERT_TRUE(stepFromJournal("veth", good, host).ok());
  auto with = [&](const char* key, nlohmann::json v) {
    auto p = good;
    if (v.is_null())
      p.erase(key);
    else
      p[key] = v;
    return stepFromJournal("veth", p, host);
  };
  EXPECT_FALSE(with("hostIf", "bxd0123456789abc").ok());  // 16 chars
  EXPECT_FALSE(with("podIf", "eth/0").ok());
  EXPECT_FALSE(with("address", "10.88.0.5").ok());  // no prefix
  EXPECT_FALSE(with("gateway", "10.88.0.1/16").ok());
  EXPECT_FALSE(with("mtu", -1).ok());
  EXPECT_FALSE(with("gateway", nullptr).ok());
  EXPECT_FALSE(stepFromJournal("netns", nlohmann::json::object(), host).ok());
}

// How long a pod's network takes to set up (the bridge exists after the first run); prints the
// medians of 20 runs.
TEST_F(NetworkNetlinkTest, ApplyTiming) {
  std::vector<int64_t> netnsUs, vethUs, totalUs;
  for (int i = 0; i < 20; ++i) {
    Pod p = makePod(10 + i);
    int64_t t0 = monotonicUs();
    Status st = p.netnsStep->apply();
    int64_t t1 = monotonicUs();
    ASSERT_TRUE(st.ok()) << st.error().message;
    st = p.veth->apply();
    int64_t t2 = monotonicUs();
    ASSERT_TRUE(st.ok()) << st.error().message;
    netnsUs.push_back(t1 - t0);
    vethUs.push_back(t2 - t1);
    totalUs.push_back(t2 - t0);
    ASSERT_TRUE(p.veth->undo().ok());
    ASSERT_TRUE(p.netnsStep->undo().ok());
  }
  auto median = [](std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::cout << "apply medians over 20 runs: netns " << median(netnsUs) << " us, veth "
            << median(vethUs) << " us, both " << median(totalUs) << " us\n";
  RecordProperty("median_us", static_cast<int>(median(totalUs)));
  EXPECT_LT(median(totalUs), 1000000) << "a pod's network should take well under a second";
}

}  // namespace
}  // namespace boxd::reconcilers
