// The block bench's pods and Secrets: one busybox container idling until SIGTERM, with an
// `iscsi` or `rbd` volume (ext4) mounted at /data, as a Kubernetes manifest writes it.
#pragma once

#include <cstdint>
#include <string>

namespace boxd::bench {

constexpr const char* kChapSecretName = "bench-chap";
constexpr const char* kCephSecretName = "bench-ceph";

inline std::string benchPodHead(const std::string& name) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n"
         "    image: busybox\n"
         "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait; "
         "done\"]\n"
         "    volumeMounts: [{name: data, mountPath: /data}]\n  volumes:\n  - name: data\n";
}

inline std::string iscsiBenchPod(const std::string& name, const std::string& portal,
                                 const std::string& iqn, int lun) {
  return benchPodHead(name) + "    iscsi:\n      targetPortal: " + portal + "\n      iqn: " + iqn +
         "\n      lun: " + std::to_string(lun) +
         "\n      fsType: ext4\n      chapAuthSession: true\n      secretRef: {name: " +
         kChapSecretName + "}\n";
}

inline std::string rbdBenchPod(const std::string& name, const std::string& monitor,
                               const std::string& image, const std::string& user) {
  return benchPodHead(name) + "    rbd:\n      monitors: [\"" + monitor +
         "\"]\n      pool: rbd\n      image: " + image + "\n      user: " + user +
         "\n      fsType: ext4\n      secretRef: {name: " + kCephSecretName + "}\n";
}

// stringData: plain values (the file is written 0600: it holds Secrets).
inline std::string benchSecrets(const std::string& chapUser, const std::string& chapPassword,
                                const std::string& cephKey) {
  std::string out;
  if (!chapUser.empty()) {
    out += std::string("apiVersion: v1\nkind: Secret\nmetadata: {name: ") + kChapSecretName +
           "}\ntype: kubernetes.io/iscsi-chap\nstringData:\n  node.session.auth.username: " +
           chapUser + "\n  node.session.auth.password: " + chapPassword + "\n";
  }
  if (!cephKey.empty()) {
    out += std::string(out.empty() ? "" : "---\n") +
           "apiVersion: v1\nkind: Secret\nmetadata: {name: " + kCephSecretName +
           "}\ntype: kubernetes.io/rbd\nstringData:\n  key: " + cephKey + "\n";
  }
  return out;
}

}  // namespace boxd::bench
