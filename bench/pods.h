// The benchmark's pod: two busybox containers that idle until SIGTERM, a 32Mi memory limit on
// one, a 2 s grace period, restartPolicy OnFailure (podman 4.3.1 mishandles Always, see
// shared/notes/podman-peer.md; the containers never exit, so the policy does not matter).
// hostPort > 0 publishes container a's port 8080 there, on 127.0.0.1 only.
#pragma once

#include <string>
#include <vector>

namespace boxd::bench {

inline std::string podYaml(const std::string& name, const std::string& image, int hostPort = 0) {
  const std::string cmd =
      "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait; "
      "done\"]\n";
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  restartPolicy: OnFailure\n  terminationGracePeriodSeconds: 2\n  containers:\n"
         "  - name: a\n    image: " +
         image + "\n" + cmd +
         (hostPort > 0 ? "    ports:\n    - {containerPort: 8080, hostPort: " +
                             std::to_string(hostPort) + ", hostIP: 127.0.0.1}\n"
                       : std::string()) +
         "    resources:\n      limits: {memory: 32Mi}\n"
         "  - name: b\n    image: " +
         image + "\n" + cmd;
}

// Several pods in one multi-document file (podman kube play takes one file).
inline std::string podsYaml(const std::vector<std::string>& names, const std::string& image) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : "---\n") + podYaml(n, image);
  return out;
}

}  // namespace boxd::bench
