#include "reconcilers/network/localnet_guard.h"

#include <cerrno>
#include <map>
#include <vector>

#include "reconcilers/network/nat.h"

namespace boxd::reconcilers::net {

namespace {

struct GuardRule {
  const char* chain;
  const char* text;
  const char* comment;  // the signature localnetGuardCurrent() compares
};

// Order matters: DNAT'd hostPort connections return before the drops.
constexpr GuardRule kGuardRules[] = {
    {"localnet", "ct status dnat return", "hostPort connections"},
    {"localnet", "ip daddr 127.0.0.0/8 drop", "pod to host loopback"},
    {"localnet", "ip saddr 127.0.0.0/8 drop", "loopback source from a pod"},
    {"input", "iifname @bridges jump localnet", "localnet guard"},
    {"forward", "iifname @bridges jump localnet", "localnet guard"},
};
constexpr const char* kGuardChains[] = {"localnet", "input", "forward"};

Status validateNames(const std::string& table, const std::string& bridge) {
  if (!plainNftName(table, 64))
    return makeError("localnet guard: nft table name \"" + table + "\" is not a plain name",
                     EINVAL);
  if (!plainNftName(bridge, 15))
    return makeError("localnet guard: bridge name \"" + bridge + "\" is not a plain name", EINVAL);
  return {};
}

// A set element as nft prints it: a bare string, or wrapped when it carries a comment.
bool elementIs(const nlohmann::json& e, const std::string& name) {
  if (e.is_string()) return e.get<std::string>() == name;
  if (e.is_object() && e.contains("elem") && e["elem"].is_object()) {
    const auto& v = e["elem"].value("val", nlohmann::json());
    return v.is_string() && v.get<std::string>() == name;
  }
  return false;
}

}  // namespace

std::string localnetGuardScript(const std::string& table, const std::string& bridge) {
  const std::string t = "ip " + table;
  std::string s = "add table " + t + "\n";
  s += "add set " + t + " bridges { type ifname; }\n";
  s += "add chain " + t + " localnet\n";
  s += "add chain " + t + " input { type filter hook input priority filter; policy accept; }\n";
  s += "add chain " + t + " forward { type filter hook forward priority filter; policy accept; }\n";
  for (const char* chain : kGuardChains) s += "flush chain " + t + " " + chain + "\n";
  for (const auto& r : kGuardRules) {
    s += "add rule " + t + " " + r.chain + " " + r.text + " comment \"" + r.comment + "\"\n";
  }
  s += "add element " + t + " bridges { \"" + bridge + "\" }\n";
  return s;
}

bool localnetGuardCurrent(const nlohmann::json& listing, const std::string& bridge) {
  if (!listing.contains("nftables") || !listing["nftables"].is_array()) return false;
  std::map<std::string, std::vector<std::string>> have;  // chain -> rule comments
  bool member = false;
  for (const auto& o : listing["nftables"]) {
    if (o.contains("set") && o["set"].value("name", "") == "bridges") {
      for (const auto& e : o["set"].value("elem", nlohmann::json::array()))
        member = member || elementIs(e, bridge);
    } else if (o.contains("chain")) {
      have[o["chain"].value("name", "")];
    } else if (o.contains("rule")) {
      const auto& r = o["rule"];
      have[r.value("chain", "")].push_back(r.value("comment", ""));
    }
  }
  std::map<std::string, std::vector<std::string>> want;
  for (const auto& r : kGuardRules) want[r.chain].push_back(r.comment);
  for (const auto& [chain, comments] : want) {
    auto it = have.find(chain);
    if (it == have.end() || it->second != comments) return false;
  }
  return member;
}

Status ensureLocalnetGuard(const std::string& table, const std::string& bridge) {
  BOXD_TRY(validateNames(table, bridge));
  const std::string what = "ensure localnet guard for " + bridge + " in table ip " + table;
  auto nft = Nft::open();
  if (!nft.ok()) return nft.error().wrap(what);
  auto listing = listNatTable(*nft, table);
  if (!listing.ok()) return listing.error().wrap(what);
  if (*listing && localnetGuardCurrent(**listing, bridge)) return {};
  Status st = nft->run(localnetGuardScript(table, bridge));
  if (!st.ok()) return st.error().wrap(what);
  return {};
}

Result<bool> localnetGuardPresent(const std::string& table, const std::string& bridge) {
  BOXD_TRY(validateNames(table, bridge));
  auto nft = Nft::open();
  if (!nft.ok()) return nft.error();
  auto listing = listNatTable(*nft, table);
  if (!listing.ok()) return listing.error().wrap("observe localnet guard in table ip " + table);
  return *listing && localnetGuardCurrent(**listing, bridge);
}

}  // namespace boxd::reconcilers::net
