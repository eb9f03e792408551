#include "reconcilers/network/nat.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>

#include <cerrno>
#include <map>
#include <mutex>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers::net {

namespace {

// libnftables shares an interface cache between contexts without a lock, and nft_ctx_new()
// has an unguarded one-time init: every call into the library holds this.
std::mutex& nftMutex() {
  static std::mutex m;
  return m;
}

std::string nftErrorText(const char* buf) {
  std::string s = trim(buf ? buf : "");
  return s.empty() ? "failed (nft printed no error)" : s;
}

}  // namespace

// ---- Nft ------------------------------------------------------------------------------------

void Nft::Free::operator()(nft_ctx* ctx) const {
  std::lock_guard lock(nftMutex());
  nft_ctx_free(ctx);
}

Nft::~Nft() = default;

Result<Nft> Nft::open() {
  // nft_ctx_new() exit()s the whole process when it cannot open its netfilter socket; open one
  // first so that failure comes back as an error instead.
  Fd probe(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!probe) return sysError("open netfilter netlink socket", "");
  nft_ctx* ctx = nullptr;
  bool buffered = false;
  {
    std::lock_guard lock(nftMutex());
    ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx == nullptr) return makeError("create nftables context: failed", ENOMEM);
    buffered = nft_ctx_buffer_output(ctx) == 0 && nft_ctx_buffer_error(ctx) == 0;
  }
  Nft nft(ctx);  // frees ctx on every path from here
  if (!buffered) return makeError("create nftables context: cannot buffer its output", ENOMEM);
  return nft;
}

Status Nft::run(const std::string& script) {
  std::lock_guard lock(nftMutex());
  nft_ctx_output_set_flags(ctx_.get(), 0);
  int rc = nft_run_cmd_from_buffer(ctx_.get(), script.c_str());
  std::string err = nftErrorText(nft_ctx_get_error_buffer(ctx_.get()));
  (void)nft_ctx_get_output_buffer(ctx_.get());  // rewinds it
  if (rc != 0) return makeError("nft: " + err);
  return {};
}

Result<nlohmann::json> Nft::listJson(const std::string& command) {
  std::string out, err;
  int rc = 0;
  {
    std::lock_guard lock(nftMutex());
    nft_ctx_output_set_flags(ctx_.get(), NFT_CTX_OUTPUT_JSON);
    rc = nft_run_cmd_from_buffer(ctx_.get(), command.c_str());
    out = nft_ctx_get_output_buffer(ctx_.get());
    err = nftErrorText(nft_ctx_get_error_buffer(ctx_.get()));
  }
  if (rc != 0) return makeError("nft " + command + ": " + err);
  auto json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.contains("nftables") || !json["nftables"].is_array())
    return makeError("nft " + command + ": unexpected JSON output: " + out.substr(0, 200));
  return json;
}

// ---- config ---------------------------------------------------------------------------------

Result<std::string> canonicalIpv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1)
    return makeError("\"" + s + "\" is not an IPv4 address", EINVAL);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return std::string(buf);
}

bool plainNftName(const std::string& s, size_t maxLen) {
  if (s.empty() || s.size() > maxLen) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
}

namespace {

// "10.88.0.0/16" with host bits clear; anything else is refused.
Status validateSubnet(const std::string& cidr) {
  auto slash = cidr.find('/');
  auto bad = [&](const std::string& why) {
    return makeError("nat subnet \"" + cidr + "\": " + why, EINVAL);
  };
  if (slash == std::string::npos) return bad("needs a prefix length (a.b.c.d/n)");
  in_addr a{};
  if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1)
    return bad("not an IPv4 network");
  std::string len = cidr.substr(slash + 1);
  if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(len) > 32)
    return bad("prefix length must be 0-32");
  int n = std::stoi(len);
  uint32_t mask = n == 0 ? 0 : ~uint32_t{0} << (32 - n);
  if ((ntohl(a.s_addr) & ~mask) != 0) return bad("host bits are set");
  return {};
}

struct Rule {
  const char* chain;
  std::string text;
  std::string comment;  // also the signature natTableCurrent() compares
};

constexpr const char* kChains[] = {"hostports", "prerouting", "output", "postrouting"};

std::vector<Rule> natRules(const NatConfig& c) {
  std::string br = "\"" + c.bridge + "\"";
  std::vector<Rule> rules = {
      {"hostports",
       "meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @hostip_ports",
       "hostPort bound to a hostIP"},
      {"hostports", "meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @hostports",
       "hostPort"},
      {"prerouting", "fib daddr type local jump hostports", "hostPorts from outside and pods"},
      {"output", "fib daddr type local jump hostports", "hostPorts from this host"},
      {"postrouting", "ip saddr 127.0.0.0/8 oifname " + br + " masquerade",
       "localhost to pods on " + c.bridge},
      {"postrouting", "oifname " + br + " ip saddr " + c.subnet + " ct status dnat masquerade",
       "hairpin on " + c.bridge},
  };
  if (c.masquerade) {
    rules.push_back({"postrouting",
                     "ip saddr " + c.subnet + " ip daddr != " + c.subnet + " masquerade",
                     "pods of " + c.subnet + " to outside"});
  }
  return rules;
}

}  // namespace

Status validateNatConfig(const NatConfig& cfg) {
  if (!plainNftName(cfg.table, 64))
    return makeError(
        "nat table name \"" + cfg.table + "\": use letters, digits, _ - . (start with a letter)",
        EINVAL);
  if (!plainNftName(cfg.bridge, 15))
    return makeError("nat bridge name \"" + cfg.bridge + "\": not a plain interface name", EINVAL);
  return validateSubnet(cfg.subnet);
}

std::string natTableScript(const NatConfig& cfg) {
  const std::string t = "ip " + cfg.table;
  std::string s = "add table " + t + "\n";
  s += "add map " + t +
       " hostports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n";
  s += "add map " + t +
       " hostip_ports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n";
  s += "add chain " + t + " hostports\n";
  s += "add chain " + t +
       " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n";
  // 1.0.6 refuses the name "dstnat" for an ip output hook; -100 is its value.
  s += "add chain " + t + " output { type nat hook output priority -100; policy accept; }\n";
  s += "add chain " + t +
       " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
  for (const char* chain : kChains) s += "flush chain " + t + " " + chain + "\n";
  for (const auto& r : natRules(cfg))
    s += "add rule " + t + " " + r.chain + " " + r.text + " comment \"" + r.comment + "\"\n";
  return s;
}

Result<std::optional<nlohmann::json>> listNatTable(Nft& nft, const std::string& table) {
  // "list table" of an absent table fails with nft's generic ENOENT text; ask for the names
  // first so absence is an answer, not an error to parse.
  auto tables = nft.listJson("list tables ip");
  if (!tables.ok()) return tables.error();
  bool found = false;
  for (const auto& o : (*tables)["nftables"]) {
    if (o.contains("table") && o["table"].value("name", "") == table) found = true;
  }
  if (!found) return std::optional<nlohmann::json>{};
  auto listing = nft.listJson("list table ip " + table);
  if (!listing.ok()) return listing.error();
  return std::optional<nlohmann::json>(std::move(*listing));
}

bool natTableCurrent(const nlohmann::json& listing, const NatConfig& cfg) {
  std::map<std::string, std::vector<std::string>> have;  // chain -> rule comments
  int maps = 0;
  for (const auto& o : listing["nftables"]) {
    if (o.contains("map")) {
      std::string name = o["map"].value("name", "");
      maps += name == "hostports" || name == "hostip_ports";
    } else if (o.contains("chain")) {
      have[o["chain"].value("name", "")];
    } else if (o.contains("rule")) {
      const auto& r = o["rule"];
      have[r.value("chain", "")].push_back(r.value("comment", ""));
    }
  }
  std::map<std::string, std::vector<std::string>> want;
  for (const char* chain : kChains) want[chain];
  for (const auto& r : natRules(cfg)) want[r.chain].push_back(r.comment);
  for (const auto& [chain, comments] : want) {
    auto it = have.find(chain);
    if (it == have.end() || it->second != comments) return false;
  }
  return maps == 2;
}

Status ensureNatTable(const NatConfig& cfg) {
  BOXD_TRY(validateNatConfig(cfg));
  auto nft = Nft::open();
  if (!nft.ok()) return nft.error();
  auto listing = listNatTable(*nft, cfg.table);
  if (!listing.ok()) return listing.error().wrap("ensure nat table " + cfg.table);
  if (*listing && natTableCurrent(**listing, cfg)) return {};
  Status st = nft->run(natTableScript(cfg));
  if (!st.ok()) return st.error().wrap("ensure nat table " + cfg.table);
  return {};
}

Status removeNatTable(const std::string& table) {
  if (!plainNftName(table, 64))
    return makeError("nat table name \"" + table + "\": invalid", EINVAL);
  auto nft = Nft::open();
  if (!nft.ok()) return nft.error();
  auto listing = listNatTable(*nft, table);
  if (!listing.ok()) return listing.error().wrap("remove nat table " + table);
  if (!*listing) return {};
  Status st = nft->run("delete table ip " + table);
  if (!st.ok()) return st.error().wrap("remove nat table " + table);
  return {};
}

// ---- elements -------------------------------------------------------------------------------

std::string HostPortElement::key() const {
  std::string k = proto + " . " + std::to_string(hostPort);
  return hostIp.empty() ? k : hostIp + " . " + k;
}

std::string HostPortElement::value() const { return podIp + " . " + std::to_string(podPort); }

namespace {

std::optional<std::string> protoName(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) {
    int n = j.get<int>();
    if (n == IPPROTO_TCP) return "tcp";
    if (n == IPPROTO_UDP) return "udp";
  }
  return std::nullopt;
}

// The parts of a concatenation, whether printed bare or wrapped as {"elem": {"val": ...}}
// (elements with a comment or timeout).
std::optional<nlohmann::json> concatParts(const nlohmann::json& j) {
  const nlohmann::json* v = &j;
  if (v->is_object() && v->contains("elem")) v = &(*v)["elem"]["val"];
  if (!v->is_object() || !v->contains("concat") || !(*v)["concat"].is_array()) return std::nullopt;
  return (*v)["concat"];
}

std::optional<HostPortElement> parseElement(bool withHostIp, const nlohmann::json& pair) {
  if (!pair.is_array() || pair.size() != 2) return std::nullopt;
  auto key = concatParts(pair[0]);
  auto val = concatParts(pair[1]);
  size_t keyLen = withHostIp ? 3 : 2;
  if (!key || !val || key->size() != keyLen || val->size() != 2) return std::nullopt;
  HostPortElement e;
  size_t i = 0;
  if (withHostIp) {
    if (!(*key)[i].is_string()) return std::nullopt;
    e.hostIp = (*key)[i++].get<std::string>();
  }
  auto proto = protoName((*key)[i++]);
  if (!proto || !(*key)[i].is_number_integer() || !(*val)[0].is_string() ||
      !(*val)[1].is_number_integer())
    return std::nullopt;
  e.proto = *proto;
  e.hostPort = (*key)[i].get<int>();
  e.podIp = (*val)[0].get<std::string>();
  e.podPort = (*val)[1].get<int>();
  return e;
}

}  // namespace

std::vector<HostPortElement> hostPortElements(const nlohmann::json& listing) {
  std::vector<HostPortElement> out;
  if (!listing.contains("nftables")) return out;
  for (const auto& o : listing["nftables"]) {
    if (!o.contains("map")) continue;
    const auto& m = o["map"];
    std::string name = m.value("name", "");
    if ((name != "hostports" && name != "hostip_ports") || !m.contains("elem")) continue;
    for (const auto& pair : m["elem"]) {
      if (auto e = parseElement(name == "hostip_ports", pair)) out.push_back(*e);
    }
  }
  return out;
}

}  // namespace boxd::reconcilers::net
