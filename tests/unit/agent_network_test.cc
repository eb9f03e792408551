// The agent's networking logic without a kernel: subnet arithmetic, the address allocator over a
// real state store, the pod's hosts and resolv.conf files, and the network part of the plan.
#include <gtest/gtest.h>

#include "agent/ipam.h"
#include "agent/pod_files.h"
#include "agent/pod_plan.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "state/store.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

uint32_t ip(const char* s) { return *parseIpv4(s); }

TEST(Ipv4Net, ParseAndFormat) {
  auto n = Ipv4Net::parse("10.88.0.0/16");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->str(), "10.88.0.0/16");
  EXPECT_EQ(formatIpv4(n->gateway()), "10.88.0.1");
  EXPECT_EQ(n->cidrOf(ip("10.88.3.4")), "10.88.3.4/16");
  EXPECT_EQ(formatIpv4(n->broadcast()), "10.88.255.255");
  EXPECT_TRUE(n->contains(ip("10.88.200.1")));
  EXPECT_FALSE(n->contains(ip("10.89.0.1")));
  EXPECT_TRUE(n->overlaps(*Ipv4Net::parse("10.0.0.0/8")));
  EXPECT_FALSE(n->overlaps(*Ipv4Net::parse("10.89.0.0/16")));
  EXPECT_EQ(Ipv4Net::parse("10.88.0.1/16").error().message,
            "subnet \"10.88.0.1/16\" has host bits set; did you mean 10.88.0.0/16?");
  EXPECT_FALSE(Ipv4Net::parse("10.88.0.0").ok());
  EXPECT_FALSE(Ipv4Net::parse("10.88.0.0/31").ok());
  EXPECT_FALSE(Ipv4Net::parse("10.88.0.0/x").ok());
  EXPECT_FALSE(Ipv4Net::parse("banana/16").ok());
}

TEST(Ipv4Net, NextFreeSkipsNetworkGatewayBroadcastAndUsedAndWraps) {
  auto n = *Ipv4Net::parse("192.168.5.0/29");  // .0 net, .1 gateway, .2-.6 hosts, .7 broadcast
  std::set<uint32_t> used;
  EXPECT_EQ(formatIpv4(*nextFreeAddress(n, used, 0)), "192.168.5.2");
  used = {ip("192.168.5.2"), ip("192.168.5.3")};
  EXPECT_EQ(formatIpv4(*nextFreeAddress(n, used, 0)), "192.168.5.4");
  EXPECT_EQ(formatIpv4(*nextFreeAddress(n, used, ip("192.168.5.5"))), "192.168.5.6");
  EXPECT_EQ(formatIpv4(*nextFreeAddress(n, used, ip("192.168.5.6"))), "192.168.5.4")
      << "wraps around after the last host address";
  used = {ip("192.168.5.2"), ip("192.168.5.3"), ip("192.168.5.4"), ip("192.168.5.5"),
          ip("192.168.5.6")};
  EXPECT_FALSE(nextFreeAddress(n, used, 0)) << "full";
}

TEST(Ipv4Net, PickFreeSubnetAvoidsTheHostsRoutes) {
  const std::string header =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
  // default via eth0, 10.88.0.0/16 on cni-podman0, 10.89.4.0/24 on a VPN, boxd0's own route
  std::string routes = header +
                       "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                       "cni-podman0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
                       "tun0\t0004590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                       "boxd0\t00005A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
  auto n = pickFreeSubnet(routes, "boxd0");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->str(), "10.90.0.0/16") << "boxd's own bridge does not count";
  EXPECT_EQ(pickFreeSubnet(header, "boxd0")->str(), "10.88.0.0/16");
  std::string all = header + "eth1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
  EXPECT_FALSE(pickFreeSubnet(all, "boxd0").ok()) << "10.0.0.0/8 covers every candidate";
}

TEST(Ipam, AddressesAreUniqueStableAndReleased) {
  boxd::testing::TempDir t("ipam");
  auto store = state::Store::open(t / "boxd.db");
  ASSERT_TRUE(store.ok()) << store.error().message;
  Ipam ipam(**store, *Ipv4Net::parse("10.9.0.0/29"));
  auto addressOf = [&](const std::string& uid) -> std::optional<std::string> {
    auto rows = (*store)->listAddresses();  // kept alive: the loop reads into it
    if (!rows.ok()) return std::nullopt;
    for (const auto& r : *rows) {
      if (r.podUid == uid) return r.address;
    }
    return std::nullopt;
  };
  auto a = ipam.acquire("a", "uid-a");
  auto b = ipam.acquire("b", "uid-b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(formatIpv4(*a), "10.9.0.2");
  EXPECT_EQ(formatIpv4(*b), "10.9.0.3");
  EXPECT_EQ(*ipam.acquire("a", "uid-a"), *a) << "the same incarnation keeps its address";
  EXPECT_EQ(*addressOf("uid-b"), "10.9.0.3");
  ASSERT_TRUE(ipam.release("uid-a").ok());
  EXPECT_FALSE(addressOf("uid-a"));
  // Round robin: the released .2 is not reused while others are free, also after a reopen.
  store->reset();
  store = state::Store::open(t / "boxd.db");
  Ipam again(**store, *Ipv4Net::parse("10.9.0.0/29"));
  EXPECT_EQ(formatIpv4(*again.acquire("c", "uid-c")), "10.9.0.4");
  EXPECT_EQ(formatIpv4(*again.acquire("d", "uid-d")), "10.9.0.5");
  EXPECT_EQ(formatIpv4(*again.acquire("e", "uid-e")), "10.9.0.6");
  EXPECT_EQ(formatIpv4(*again.acquire("f", "uid-f")), "10.9.0.2");
  auto full = again.acquire("g", "uid-g");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().message, "no free address left in the pod subnet 10.9.0.0/29 (5 in use)");
}

specs::PodSpec pod(const std::string& name) {
  specs::PodSpec p;
  p.name = name;
  specs::Container c;
  c.name = "c";
  c.image = "busybox";
  p.containers.push_back(c);
  return p;
}

TEST(PodFiles, ResolvConfFromTheHostWithDnsConfigMerged) {
  specs::PodSpec p = pod("web");
  std::string host =
      "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch a.example b.example\n"
      "options edns0 ndots:1\n";
  auto rc = renderResolvConf(p, host, true);
  EXPECT_EQ(rc.content,
            "# resolv.conf of pod web (dnsPolicy ClusterFirst), written by boxd\n"
            "nameserver 10.0.0.2\nsearch a.example b.example\noptions edns0 ndots:1\n");
  EXPECT_EQ(rc.warning, "");
  EXPECT_NE(renderResolvConf(p, host, false).content.find("nameserver 127.0.0.53"),
            std::string::npos)
      << "a hostNetwork pod can reach the host's loopback resolver";
  p.dnsConfig = specs::DnsConfig{{"10.0.0.2", "10.0.0.3"}, {"c.example"}, {{"ndots", "5"}}};
  EXPECT_EQ(renderResolvConf(p, host, true).content,
            "# resolv.conf of pod web (dnsPolicy ClusterFirst), written by boxd\n"
            "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch a.example b.example c.example\n"
            "options edns0 ndots:5\n");
  auto onlyLoopback = renderResolvConf(pod("x"), "nameserver 127.0.0.53\n", true);
  EXPECT_NE(onlyLoopback.warning.find("only loopback nameservers"), std::string::npos);
  specs::PodSpec none = pod("n");
  none.dnsPolicy = "None";
  none.dnsConfig = specs::DnsConfig{{"192.0.2.1"}, {}, {}};
  EXPECT_EQ(renderResolvConf(none, host, true).content,
            "# resolv.conf of pod n (dnsPolicy None), written by boxd\nnameserver 192.0.2.1\n");
}

TEST(PodFiles, LoopbackOnlyResolvers) {
  EXPECT_TRUE(onlyLoopbackNameservers("nameserver 127.0.0.53\noptions edns0\n"));
  EXPECT_TRUE(onlyLoopbackNameservers("nameserver ::1\nnameserver 127.0.0.1\n"));
  EXPECT_FALSE(onlyLoopbackNameservers("nameserver 127.0.0.53\nnameserver 10.0.0.2\n"));
  EXPECT_FALSE(onlyLoopbackNameservers("search example.com\n")) << "no nameserver at all";
}

TEST(PodFiles, HostsFile) {
  specs::PodSpec p = pod("web");
  p.hostAliases = {{"10.1.2.3", {"db", "db.example"}}};
  std::string h = renderHostsFile(p, "web", "10.88.0.5", "");
  EXPECT_NE(h.find("127.0.0.1\tlocalhost\n"), std::string::npos) << h;
  EXPECT_NE(h.find("10.88.0.5\tweb\n"), std::string::npos) << h;
  EXPECT_NE(h.find("10.1.2.3\tdb\tdb.example\n"), std::string::npos) << h;
  std::string hostNet = renderHostsFile(p, "node1", "", "127.0.0.1 localhost\n192.168.1.5 node1");
  EXPECT_NE(hostNet.find("192.168.1.5 node1\n"), std::string::npos) << hostNet;
  EXPECT_EQ(hostNet.find("10.88.0.5"), std::string::npos);
}

std::vector<std::string> kinds(const std::vector<PlannedStep>& plan) {
  std::vector<std::string> out;
  for (const auto& s : plan) out.push_back(s.kind);
  return out;
}

// "source[/subPath] -> mountPath (ro)", one per mount, in order.
std::vector<std::string> mountList(const std::vector<reconcilers::ContainerMount>& mounts) {
  std::vector<std::string> out;
  for (const auto& m : mounts) {
    out.push_back(m.source + (m.subPath.empty() ? "" : "[" + m.subPath + "]") + " -> " +
                  m.mountPath + (m.readOnly ? " (ro)" : "") + (m.createSubPath ? " +create" : ""));
  }
  return out;
}

PodNetwork bridged() {
  PodNetwork n;
  n.enabled = true;
  n.bridge = "boxd0";
  n.subnet = "10.88.0.0/16";
  n.gatewayCidr = "10.88.0.1/16";
  n.gateway = "10.88.0.1";
  n.address = "10.88.0.5/16";
  n.hostPorts = true;
  n.nftTable = "boxd";
  n.hosts = "h";
  n.resolvConf = "r";
  n.hostname = "web\n";
  return n;
}

TEST(PodPlanNetwork, BridgedPodWithHostPort) {
  reconcilers::Paths paths;
  auto cgroups = reconcilers::makeCgroupsV1("/nonexistent");
  specs::PodSpec p = pod("web");
  p.containers[0].ports = {{"http", 80, 8080, "TCP", ""}, {"metrics", 9090, 0, "TCP", ""}};
  std::string uid = "0123456789abcdef0123456789abcdef";
  auto plan = planPod(paths, *cgroups, p, uid, {"/lower"}, bridged());
  EXPECT_EQ(kinds(plan), (std::vector<std::string>{"poddir", "cgroup", "netns", "veth", "hostport",
                                                   "files", "cgroup", "rootfs", "shim"}))
      << "nothing is bound on the host: the shim mounts the pod files in the container";
  EXPECT_EQ(plan[3].params["hostIf"], "bxd0123456789ab");
  EXPECT_EQ(plan[3].params["address"], "10.88.0.5/16");
  EXPECT_EQ(plan[3].params["netns"], "/run/boxd/netns/" + uid);
  // The localnet guard comes with every bridged pod's veth; route_localnet only with hostPorts.
  EXPECT_EQ(plan[3].params["nftTable"], "boxd");
  EXPECT_EQ(plan[3].params["routeLocalnet"], true);
  ASSERT_EQ(plan[4].params["ports"].size(), 1u) << "only published ports";
  EXPECT_EQ(plan[4].params["podIp"], "10.88.0.5");
  EXPECT_EQ(plan.back().params["netns"], "/run/boxd/netns/" + uid);
}

TEST(PodPlanNetwork, WithoutHostPortsTheVethStillCarriesTheLocalnetGuard) {
  reconcilers::Paths paths;
  auto cgroups = reconcilers::makeCgroupsV1("/nonexistent");
  specs::PodSpec p = pod("web");
  p.containers[0].ports = {{"http", 80, 8080, "TCP", ""}};
  PodNetwork n = bridged();
  n.hostPorts = false;
  auto plan = planPod(paths, *cgroups, p, "0123456789abcdef0123456789abcdef", {"/lower"}, n);
  EXPECT_EQ(kinds(plan), (std::vector<std::string>{"poddir", "cgroup", "netns", "veth", "files",
                                                   "cgroup", "rootfs", "shim"}));
  EXPECT_EQ(plan[3].params["nftTable"], "boxd");
  EXPECT_EQ(plan[3].params["routeLocalnet"], false);
}

TEST(PodPlanNetwork, HostNetworkAndOwnEtcMounts) {
  reconcilers::Paths paths;
  auto cgroups = reconcilers::makeCgroupsV1("/nonexistent");
  specs::PodSpec p = pod("h");
  p.hostNetwork = true;
  p.volumes = {{"etc", specs::EmptyDirVolume{}, std::nullopt}};
  p.containers[0].volumeMounts = {{"etc", "/etc", false, ""}};
  PodNetwork n;
  n.enabled = true;
  n.hostNetwork = true;
  auto plan = planPod(paths, *cgroups, p, "0123456789abcdef0123456789abcdef", {"/lower"}, n);
  EXPECT_EQ(kinds(plan), (std::vector<std::string>{"poddir", "cgroup", "files", "emptydir",
                                                   "cgroup", "rootfs", "shim"}))
      << "no netns or veth";
  EXPECT_EQ(plan.back().params["netns"], "host");
  auto off = planPod(paths, *cgroups, pod("x"), "0123456789abcdef0123456789abcdef", {"/l"});
  EXPECT_EQ(kinds(off), (std::vector<std::string>{"poddir", "cgroup", "cgroup", "rootfs", "shim"}));
  EXPECT_FALSE(off.back().params.contains("netns")) << "networking off: loopback only";
}

TEST(ContainerMounts, VolumesThenPodFilesUnlessMountedOverParentsFirst) {
  reconcilers::Paths paths;
  paths.stateDir = "/var/lib/boxd";
  PodPaths pp = podPaths(paths, "web", "0123456789abcdef0123456789abcdef");
  const std::string dir = "/var/lib/boxd/pods/0123456789abcdef0123456789abcdef";
  specs::PodSpec p = pod("web");
  p.volumes = {{"scratch", specs::EmptyDirVolume{}, std::nullopt},
               {"conf", std::nullopt, specs::HostPathVolume{"/srv/conf", "Directory"}}};
  p.containers[0].volumeMounts = {{"scratch", "/data/run", false, "sub/dir"},
                                  {"conf", "/data", true, ""},
                                  {"conf", "/etc/resolv.conf", true, "resolv.conf"}};
  EXPECT_EQ(mountList(containerMounts(pp, p, p.containers[0], true)),
            (std::vector<std::string>{
                "/srv/conf -> /data (ro)", dir + "/volumes/scratch[sub/dir] -> /data/run +create",
                "/srv/conf[resolv.conf] -> /etc/resolv.conf (ro)", dir + "/etc/hosts -> /etc/hosts",
                dir + "/etc/hostname -> /etc/hostname"}))
      << "a volume on a pod file's path wins; a parent is mounted before what lies beneath it";
  EXPECT_EQ(mountList(containerMounts(pp, p, p.containers[0], false)),
            (std::vector<std::string>{"/srv/conf -> /data (ro)",
                                      dir + "/volumes/scratch[sub/dir] -> /data/run +create",
                                      "/srv/conf[resolv.conf] -> /etc/resolv.conf (ro)"}))
      << "no pod files without them in the plan";
  p.containers[0].volumeMounts = {{"scratch", "/etc", false, ""}};
  EXPECT_EQ(mountList(containerMounts(pp, p, p.containers[0], true)),
            (std::vector<std::string>{dir + "/volumes/scratch -> /etc +create"}))
      << "a volume on /etc takes precedence over boxd's files";
}

}  // namespace
}  // namespace boxd::agent
