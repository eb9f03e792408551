// The networking fields of the Pod schema: container ports, hostNetwork, DNS and hostAliases.

#include <set>
#include <tuple>

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr size_t kMaxNameservers = 3;  // what the resolver reads; Kubernetes' limit too
constexpr size_t kMaxSearches = 32;

std::string portText(const ContainerPort& p) {
  std::string s = std::to_string(p.hostPort) + "/" + p.protocol;
  return p.hostIP.empty() ? s : p.hostIP + ":" + s;
}

}  // namespace

std::vector<ContainerPort> DocParser::parsePorts(const Entry& e, const std::string& path) {
  std::vector<ContainerPort> out;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    ContainerPort port;
    YAML::Mark hostPortAt = at;
    size_t errorsBefore = r_.count();
    auto number = [this](int64_t& dest, bool allowZero) {
      return [this, &dest, allowZero](const Entry& f, const std::string& fp) {
        std::optional<int64_t> v = integer(f, fp);
        if (!v) return;
        if (*v < (allowZero ? 0 : 1) || *v > 65535)
          return error(f.valueMark(), fp,
                       "must be a port number from 1 to 65535, got " + std::to_string(*v));
        dest = *v;
      };
    };
    walkObject(
        n, at, p,
        {{"name", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            if (!s) return;
            if (s->size() > 15 || checkDns1123Label(*s) != "")
              return error(
                  f.valueMark(), fp,
                  "must be at most 15 lowercase letters, digits and '-', got " + inQuotes(*s));
            port.name = *s;
          }},
         {"containerPort", true, number(port.containerPort, false)},
         {"hostPort", false,
          [&, hostPort = number(port.hostPort, true)](const Entry& f, const std::string& fp) {
            hostPortAt = f.valueMark();
            hostPort(f, fp);
          }},
         {"protocol", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            if (!s) return;
            if (*s == "SCTP")
              return error(f.valueMark(), fp, "SCTP is not supported by boxd; use TCP or UDP");
            if (*s != "TCP" && *s != "UDP")
              return error(f.valueMark(), fp, "must be \"TCP\" or \"UDP\", got " + inQuotes(*s));
            port.protocol = *s;
          }},
         {"hostIP", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            if (!s || s->empty()) return;
            if (std::string why = checkIpAddress(*s, false); !why.empty())
              return error(f.valueMark(), fp, why);
            port.hostIP = *s;
          }}},
        {});
    if (port.containerPort == 0 || r_.count() != errorsBefore) return;
    if (port.hostPort != 0) hostPorts_.push_back({port, hostPortAt, p + ".hostPort"});
    out.push_back(std::move(port));
  });
  return out;
}

void DocParser::parseDnsPolicy(const Entry& e, const std::string& path) {
  std::optional<std::string> s = string(e, path);
  if (!s) return;
  dnsPolicyMark_ = e.valueMark();
  for (std::string_view known : kDnsPolicies) {
    if (*s == known) {
      pod_.dnsPolicy = *s;
      return;
    }
  }
  error(
      e.valueMark(), path,
      "must be one of \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\", got " +
          inQuotes(*s));
}

void DocParser::parseDnsConfig(const Entry& e, const std::string& path) {
  DnsConfig dns;
  walkObject(
      e.value, e.valueMark(), path,
      {{"nameservers", false,
        [&](const Entry& f, const std::string& p) {
          dns.nameservers = stringList(f, p);
          for (const std::string& ns : dns.nameservers) {
            if (std::string why = checkIpAddress(ns, true); !why.empty())
              error(f.valueMark(), p, why);
          }
          if (dns.nameservers.size() > kMaxNameservers)
            error(f.valueMark(), p,
                  "at most 3 nameservers are used by the resolver, got " +
                      std::to_string(dns.nameservers.size()));
        }},
       {"searches", false,
        [&](const Entry& f, const std::string& p) {
          dns.searches = stringList(f, p);
          for (const std::string& d : dns.searches) {
            std::string_view name = d;
            if (!name.empty() && name.back() == '.') name.remove_suffix(1);
            if (std::string why = checkDns1123Subdomain(name); !why.empty())
              error(f.valueMark(), p, why);
          }
          if (dns.searches.size() > kMaxSearches)
            error(f.valueMark(), p,
                  "at most 32 search domains, got " + std::to_string(dns.searches.size()));
        }},
       {"options", false,
        [&](const Entry& f, const std::string& p) {
          forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& op) {
            DnsOption o;
            walkObject(n, at, op,
                       {{"name", true,
                         [&](const Entry& g, const std::string& gp) {
                           std::optional<std::string> s = string(g, gp);
                           if (s && (s->empty() || s->find_first_of(" \t:") != std::string::npos))
                             return error(g.valueMark(), gp,
                                          "must be a resolver option name such as \"ndots\", got " +
                                              inQuotes(*s));
                           if (s) o.name = *s;
                         }},
                        {"value", false,
                         [&](const Entry& g, const std::string& gp) {
                           std::optional<std::string> s =
                               g.value.IsScalar() ? std::optional(g.value.Scalar()) : string(g, gp);
                           if (s && s->find_first_of(" \t\n") != std::string::npos)
                             return error(g.valueMark(), gp,
                                          "must not contain spaces, got " + inQuotes(*s));
                           o.value = s;
                         }}},
                       {});
            if (!o.name.empty()) dns.options.push_back(std::move(o));
          });
        }}},
      {});
  pod_.dnsConfig = std::move(dns);
}

void DocParser::parseHostAliases(const Entry& e, const std::string& path) {
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    HostAlias a;
    walkObject(n, at, p,
               {{"ip", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (std::string why = checkIpAddress(*s, true); !why.empty())
                     return error(f.valueMark(), fp, why);
                   a.ip = *s;
                 }},
                {"hostnames", false,
                 [&](const Entry& f, const std::string& fp) {
                   a.hostnames = stringList(f, fp);
                   for (const std::string& h : a.hostnames) {
                     if (std::string why = checkDns1123Subdomain(h); !why.empty())
                       error(f.valueMark(), fp, why);
                   }
                 }}},
               {});
    if (!a.ip.empty()) pod_.hostAliases.push_back(std::move(a));
  });
}

void DocParser::checkNetwork() {
  std::map<std::tuple<int64_t, std::string, std::string>, std::string> seen;
  for (const PortRef& r : hostPorts_) {
    const ContainerPort& p = r.port;
    if (pod_.hostNetwork && p.hostPort != p.containerPort) {
      error(r.at, r.path,
            "with hostNetwork the container listens on the host itself: hostPort must equal "
            "containerPort (" +
                std::to_string(p.containerPort) + "), got " + std::to_string(p.hostPort));
      continue;
    }
    // An empty hostIP means every address, so it collides with any hostIP on the same port.
    for (const auto& [key, other] : seen) {
      const auto& [port, proto, ip] = key;
      if (port == p.hostPort && proto == p.protocol &&
          (ip.empty() || p.hostIP.empty() || ip == p.hostIP)) {
        error(r.at, r.path, "hostPort " + portText(p) + " is already published by " + other);
        break;
      }
    }
    seen.emplace(std::make_tuple(p.hostPort, p.protocol, p.hostIP), r.path);
  }
  if (pod_.dnsPolicy == "None" && (!pod_.dnsConfig || pod_.dnsConfig->nameservers.empty())) {
    error(dnsPolicyMark_, "spec.dnsPolicy",
          "dnsPolicy \"None\" takes every resolver setting from spec.dnsConfig, which must list at "
          "least one nameserver");
  }
}

}  // namespace boxd::specs::detail
