#include "reconcilers/network/hostport_step.h"

#include <algorithm>
#include <cerrno>

namespace boxd::reconcilers {

using net::HostPortElement;

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

// "8080/TCP" or "127.0.0.1:8080/TCP", as users wrote it in the pod spec.
std::string portName(const HostPortElement& e) {
  std::string p = std::to_string(e.hostPort) + "/" + upper(e.proto);
  return e.hostIp.empty() ? p : e.hostIp + ":" + p;
}

Result<HostPortElement> toElement(const HostPort& p, const std::string& podIp) {
  std::string name = std::to_string(p.hostPort) + "/" + p.protocol;
  HostPortElement e;
  if (p.protocol == "TCP" || p.protocol == "UDP") {
    e.proto = p.protocol == "TCP" ? "tcp" : "udp";
  } else if (p.protocol == "SCTP") {
    return makeError("hostPort " + name + ": SCTP hostPorts are not supported (TCP and UDP only)",
                     EINVAL);
  } else {
    return makeError("hostPort " + name + ": unknown protocol (TCP or UDP)", EINVAL);
  }
  if (p.hostPort < 1 || p.hostPort > 65535 || p.containerPort < 1 || p.containerPort > 65535)
    return makeError("hostPort " + name + " -> containerPort " + std::to_string(p.containerPort) +
                         ": ports must be 1-65535",
                     EINVAL);
  if (!p.hostIP.empty() && p.hostIP != "0.0.0.0") {
    auto ip = net::canonicalIpv4(p.hostIP);
    if (!ip.ok())
      return makeError("hostPort " + name + ": hostIP \"" + p.hostIP +
                           "\" is not an IPv4 address (boxd maps IPv4 hostPorts only)",
                       EINVAL);
    e.hostIp = *ip;
  }
  e.hostPort = p.hostPort;
  e.podIp = podIp;
  e.podPort = p.containerPort;
  return e;
}

// Both reach the same packets: same protocol and port, and one of them binds every address or
// both bind the same one.
bool overlaps(const HostPortElement& a, const HostPortElement& b) {
  return a.proto == b.proto && a.hostPort == b.hostPort &&
         (a.hostIp.empty() || b.hostIp.empty() || a.hostIp == b.hostIp);
}

Status checkConflicts(const std::vector<HostPortElement>& want,
                      const std::vector<HostPortElement>& existing) {
  for (const auto& w : want) {
    for (const auto& e : existing) {
      if (!overlaps(w, e) || (e.podIp == w.podIp && e.podPort == w.podPort)) continue;
      return makeError("hostPort " + portName(w) + " is already mapped to " + e.podIp + ":" +
                           std::to_string(e.podPort) +
                           (e.hostIp == w.hostIp ? "" : " (as " + portName(e) + ")"),
                       EADDRINUSE);
    }
  }
  return {};
}

std::string elementCommand(const std::string& verb, const std::string& table,
                           const HostPortElement& e) {
  std::string body = verb == "delete" ? e.key() : e.key() + " : " + e.value();
  return verb + " element ip " + table + " " + e.map() + " { " + body + " }\n";
}

Result<std::string> stringParam(const nlohmann::json& p, const char* key) {
  if (!p.contains(key) || !p[key].is_string())
    return makeError(
        std::string("hostport step: params need a string \"") + key + "\": " + p.dump(), EINVAL);
  return p[key].get<std::string>();
}

Result<std::vector<HostPort>> portsParam(const nlohmann::json& p) {
  if (!p.contains("ports") || !p["ports"].is_array())
    return makeError("hostport step: params need an array \"ports\": " + p.dump(), EINVAL);
  std::vector<HostPort> ports;
  for (const auto& j : p["ports"]) {
    if (!j.is_object() || !j.contains("hostPort") || !j["hostPort"].is_number_integer() ||
        !j.contains("containerPort") || !j["containerPort"].is_number_integer())
      return makeError(
          "hostport step: a port needs integer hostPort and containerPort: " + j.dump(), EINVAL);
    HostPort hp;
    hp.hostPort = j["hostPort"].get<int>();
    hp.containerPort = j["containerPort"].get<int>();
    hp.protocol = j.value("protocol", "TCP");
    hp.hostIP = j.value("hostIP", "");
    ports.push_back(std::move(hp));
  }
  return ports;
}

}  // namespace

HostPortStep::HostPortStep(net::NatConfig nat, std::string podIp, std::vector<HostPort> ports)
    : nat_(std::move(nat)), podIp_(std::move(podIp)), ports_(std::move(ports)) {}

Result<std::unique_ptr<HostPortStep>> HostPortStep::fromParams(const nlohmann::json& params,
                                                               Host&) {
  if (!params.is_object())
    return makeError("hostport step: params must be an object: " + params.dump(), EINVAL);
  net::NatConfig nat;
  nat.table = params.value("table", nat.table);
  nat.masquerade = params.value("masquerade", true);
  auto bridge = stringParam(params, "bridge");
  if (!bridge.ok()) return bridge.error();
  auto subnet = stringParam(params, "subnet");
  if (!subnet.ok()) return subnet.error();
  auto podIp = stringParam(params, "podIp");
  if (!podIp.ok()) return podIp.error();
  auto ports = portsParam(params);
  if (!ports.ok()) return ports.error();
  nat.bridge = *bridge;
  nat.subnet = *subnet;
  return std::make_unique<HostPortStep>(std::move(nat), *podIp, std::move(*ports));
}

std::string HostPortStep::resource() const {
  std::string r = "nft ip " + nat_.table + " hostPorts of " + podIp_ + ":";
  for (const auto& p : ports_) {
    r += " " + (p.hostIP.empty() ? "" : p.hostIP + ":") + std::to_string(p.hostPort) + "/" +
         p.protocol + "->" + std::to_string(p.containerPort);
  }
  return r;
}

nlohmann::json HostPortStep::params() const {
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : ports_) {
    nlohmann::json j = {
        {"hostPort", p.hostPort}, {"containerPort", p.containerPort}, {"protocol", p.protocol}};
    if (!p.hostIP.empty()) j["hostIP"] = p.hostIP;
    ports.push_back(std::move(j));
  }
  return {{"table", nat_.table},           {"bridge", nat_.bridge}, {"subnet", nat_.subnet},
          {"masquerade", nat_.masquerade}, {"podIp", podIp_},       {"ports", std::move(ports)}};
}

// This pod's elements, validated; the pod's own list must not contradict itself either.
Result<std::vector<HostPortElement>> HostPortStep::elements() const {
  BOXD_TRY(net::validateNatConfig(nat_));
  auto ip = net::canonicalIpv4(podIp_);
  if (!ip.ok()) return ip.error().wrap("hostport step: pod ip");
  std::vector<HostPortElement> out;
  for (const auto& p : ports_) {
    auto e = toElement(p, *ip);
    if (!e.ok()) return e.error();
    if (std::find(out.begin(), out.end(), *e) != out.end()) continue;
    if (!checkConflicts({*e}, out).ok())
      return makeError(
          "hostPort " + portName(*e) + " is listed twice with different containerPorts", EINVAL);
    out.push_back(*e);
  }
  return out;
}

Result<bool> HostPortStep::observe() {
  auto want = elements();
  if (!want.ok()) return want.error();
  auto nft = net::Nft::open();
  if (!nft.ok()) return nft.error();
  auto listing = net::listNatTable(*nft, nat_.table);
  if (!listing.ok()) return listing.error().wrap("observe hostPorts of " + podIp_);
  if (!*listing || !net::natTableCurrent(**listing, nat_)) return false;
  auto have = net::hostPortElements(**listing);
  return std::all_of(want->begin(), want->end(), [&](const HostPortElement& e) {
    return std::find(have.begin(), have.end(), e) != have.end();
  });
}

Status HostPortStep::applyOnce(net::Nft& nft, const std::vector<HostPortElement>& want) {
  auto listing = net::listNatTable(nft, nat_.table);
  if (!listing.ok()) return listing.error();
  std::vector<HostPortElement> have;
  if (*listing) have = net::hostPortElements(**listing);
  BOXD_TRY(checkConflicts(want, have));
  std::string script;
  if (!*listing || !net::natTableCurrent(**listing, nat_)) script = net::natTableScript(nat_);
  for (const auto& e : want) {
    // "create" fails if the key appeared since the listing (another pod raced us for it).
    if (std::find(have.begin(), have.end(), e) == have.end())
      script += elementCommand("create", nat_.table, e);
  }
  if (script.empty()) return {};
  return nft.run(script);
}

Status HostPortStep::apply() {
  auto want = elements();
  if (!want.ok()) return want.error();
  auto nft = net::Nft::open();
  if (!nft.ok()) return nft.error();
  Status st = applyOnce(*nft, *want);
  // A failed transaction changed nothing; a second look names a port taken meanwhile.
  if (!st.ok() && st.error().code != EADDRINUSE) st = applyOnce(*nft, *want);
  if (!st.ok()) return st.error().wrap("map hostPorts of " + podIp_);
  return {};
}

Status HostPortStep::undoOnce(net::Nft& nft) {
  auto listing = net::listNatTable(nft, nat_.table);
  if (!listing.ok()) return listing.error();
  if (!*listing) return {};
  auto ip = net::canonicalIpv4(podIp_);
  if (!ip.ok()) return {};  // never applied: apply refuses a bad pod ip
  std::string script;
  for (const auto& e : net::hostPortElements(**listing)) {
    bool ours = e.podIp == *ip && std::any_of(ports_.begin(), ports_.end(), [&](const HostPort& p) {
                  auto w = toElement(p, *ip);
                  return w.ok() && w->map() == e.map() && w->key() == e.key();
                });
    if (ours) script += elementCommand("delete", nat_.table, e);
  }
  if (script.empty()) return {};
  return nft.run(script);
}

Status HostPortStep::undo() {
  if (!net::validateNatConfig(nat_).ok()) return {};  // never applied: apply refuses it
  auto nft = net::Nft::open();
  if (!nft.ok()) return nft.error();
  Status st = undoOnce(*nft);
  if (!st.ok()) st = undoOnce(*nft);  // an element deleted meanwhile fails the whole batch
  if (!st.ok()) return st.error().wrap("unmap hostPorts of " + podIp_);
  return {};
}

}  // namespace boxd::reconcilers
