// The /etc/hosts, /etc/resolv.conf and /etc/hostname a pod's containers see. Pure: the host's
// own files come in as text, so every rule is unit-tested.
#pragma once

#include <string>

#include "specs/pod.h"

namespace boxd::agent {

// podIp empty = the pod shares the host's network: the host's hosts file is the base, as for
// kubelet's hostNetwork pods. hostAliases are appended in both cases.
std::string renderHostsFile(const specs::PodSpec& pod, const std::string& hostname,
                            const std::string& podIp, const std::string& hostHosts);

struct ResolvConf {
  std::string content;
  std::string warning;  // something the operator should know (an event), or empty
};

// dnsPolicy Default / ClusterFirst / ClusterFirstWithHostNet: the host's resolvers (boxd runs no
// cluster DNS); None: nothing. dnsConfig is merged on top (nameservers and search domains
// appended without duplicates, options replaced by name). A pod in its own network namespace
// cannot reach the host's loopback, so loopback nameservers (a local stub resolver) are dropped
// there, with a warning when none is left.
// True when a resolv.conf names nameservers and every one is a loopback address: a local stub
// resolver (systemd-resolved's 127.0.0.53, dnsmasq) that a pod's own network cannot reach.
bool onlyLoopbackNameservers(const std::string& resolvConf);
// Where systemd-resolved writes the upstream servers behind its stub.
inline constexpr const char* kResolvedUpstream = "/run/systemd/resolve/resolv.conf";

ResolvConf renderResolvConf(const specs::PodSpec& pod, const std::string& hostResolv,
                            bool ownNetwork);

}  // namespace boxd::agent
