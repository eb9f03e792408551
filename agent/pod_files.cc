#include "agent/pod_files.h"

#include <algorithm>
#include <vector>

#include "common/util.h"

namespace boxd::agent {

namespace {

constexpr size_t kMaxNameservers = 3;  // the resolver ignores the rest

template <typename T>
void appendUnique(std::vector<T>& to, const T& v) {
  if (std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
}

bool isLoopback(const std::string& addr) { return startsWith(addr, "127.") || addr == "::1"; }

struct Resolver {
  std::vector<std::string> nameservers, searches;
  std::vector<specs::DnsOption> options;
};

Resolver parseResolv(const std::string& text) {
  Resolver r;
  for (const std::string& raw : split(text, '\n')) {
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    std::vector<std::string> words;
    for (const std::string& w : split(line, ' ')) {
      for (const std::string& x : split(w, '\t')) {
        if (!x.empty()) words.push_back(x);
      }
    }
    if (words.size() < 2) continue;
    if (words[0] == "nameserver") {
      appendUnique(r.nameservers, words[1]);
    } else if (words[0] == "search" || words[0] == "domain") {
      r.searches.clear();  // the last search/domain line wins, as in the resolver
      for (size_t i = 1; i < words.size(); ++i) appendUnique(r.searches, words[i]);
    } else if (words[0] == "options") {
      for (size_t i = 1; i < words.size(); ++i) {
        size_t colon = words[i].find(':');
        specs::DnsOption o{words[i].substr(0, colon), std::nullopt};
        if (colon != std::string::npos) o.value = words[i].substr(colon + 1);
        r.options.push_back(o);
      }
    }
  }
  return r;
}

void setOption(std::vector<specs::DnsOption>& opts, const specs::DnsOption& o) {
  for (auto& have : opts) {
    if (have.name == o.name) {
      have = o;
      return;
    }
  }
  opts.push_back(o);
}

}  // namespace

bool onlyLoopbackNameservers(const std::string& resolvConf) {
  Resolver r = parseResolv(resolvConf);
  return !r.nameservers.empty() &&
         std::all_of(r.nameservers.begin(), r.nameservers.end(), isLoopback);
}

std::string renderHostsFile(const specs::PodSpec& pod, const std::string& hostname,
                            const std::string& podIp, const std::string& hostHosts) {
  std::string out = "# hosts file of pod " + pod.name + ", written by boxd\n";
  if (podIp.empty()) {
    out += hostHosts;
    if (!hostHosts.empty() && hostHosts.back() != '\n') out += "\n";
  } else {
    out +=
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
    out += podIp + "\t" + hostname + "\n";
  }
  if (!pod.hostAliases.empty()) {
    out += "\n# from spec.hostAliases\n";
    for (const auto& a : pod.hostAliases) {
      out += a.ip;
      for (const auto& h : a.hostnames) out += "\t" + h;
      out += "\n";
    }
  }
  return out;
}

ResolvConf renderResolvConf(const specs::PodSpec& pod, const std::string& hostResolv,
                            bool ownNetwork) {
  Resolver r;
  ResolvConf out;
  if (pod.dnsPolicy != "None") {
    r = parseResolv(hostResolv);
    if (ownNetwork) {
      size_t before = r.nameservers.size();
      std::erase_if(r.nameservers, isLoopback);
      if (before > 0 && r.nameservers.empty() &&
          (!pod.dnsConfig || pod.dnsConfig->nameservers.empty()))
        out.warning =
            "the host's resolv.conf lists only loopback nameservers, which the pod's network "
            "cannot reach; set spec.dnsConfig.nameservers (or point boxd's network.resolvConf at "
            "the upstream resolv.conf)";
    }
  }
  if (pod.dnsConfig) {
    for (const auto& ns : pod.dnsConfig->nameservers) appendUnique(r.nameservers, ns);
    for (const auto& s : pod.dnsConfig->searches) appendUnique(r.searches, s);
    for (const auto& o : pod.dnsConfig->options) setOption(r.options, o);
  }
  if (r.nameservers.size() > kMaxNameservers) {
    out.warning = "more than 3 nameservers; the resolver uses the first 3 only";
    r.nameservers.resize(kMaxNameservers);
  }
  std::string& c = out.content;
  c = "# resolv.conf of pod " + pod.name + " (dnsPolicy " + pod.dnsPolicy + "), written by boxd\n";
  for (const auto& ns : r.nameservers) c += "nameserver " + ns + "\n";
  if (!r.searches.empty()) {
    c += "search";
    for (const auto& s : r.searches) c += " " + s;
    c += "\n";
  }
  if (!r.options.empty()) {
    c += "options";
    for (const auto& o : r.options) c += " " + o.name + (o.value ? ":" + *o.value : "");
    c += "\n";
  }
  return out;
}

}  // namespace boxd::agent
