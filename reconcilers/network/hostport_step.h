// hostport: a pod's hostPorts as elements of boxd's nftables maps (layout in nat.h).
//
//   apply   one transaction: (re)create the table when it is missing or out of date, then
//           create this pod's elements that are not there yet. A hostPort already mapped to
//           another destination is refused, naming the port and the current mapping.
//   observe the table is current and every element of this pod is present.
//   undo    one transaction deleting this pod's elements that still point at its ip; another
//           pod's mapping of the same port is never touched. No table = nothing to undo.
//
// params: {"table": "boxd", "bridge": "boxd0", "subnet": "10.88.0.0/16", "masquerade": true,
//          "podIp": "10.88.0.5",
//          "ports": [{"hostPort": 8080, "containerPort": 80, "protocol": "TCP",
//                     "hostIP": "127.0.0.1"}]}      // protocol TCP|UDP, hostIP optional
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/network/nat.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

struct HostPort {
  int hostPort = 0;
  int containerPort = 0;
  std::string protocol = "TCP";  // as in the pod spec: TCP, UDP (SCTP is refused)
  std::string hostIP;            // empty or 0.0.0.0 = every local address; IPv4 only
};

class HostPortStep : public Step {
 public:
  HostPortStep(net::NatConfig nat, std::string podIp, std::vector<HostPort> ports);
  static Result<std::unique_ptr<HostPortStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "hostport"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;
  bool repairableInPlace() const override { return true; }  // map elements, no pod restart

 private:
  Result<std::vector<net::HostPortElement>> elements() const;
  Status applyOnce(net::Nft& nft, const std::vector<net::HostPortElement>& want);
  Status undoOnce(net::Nft& nft);

  net::NatConfig nat_;
  std::string podIp_;
  std::vector<HostPort> ports_;
};

}  // namespace boxd::reconcilers
