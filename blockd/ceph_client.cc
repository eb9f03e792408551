#include "blockd/ceph_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace boxd::blockd {

std::string cephSeconds(int64_t ms) {
  return std::to_string(std::max<int64_t>(1, (ms + 999) / 1000));
}

CephClient::~CephClient() {
  if (cluster_ != nullptr) rados_shutdown(cluster_);
}

Status CephClient::connect(const CephClientOptions& o) {
  std::string who = "ceph monitors " + o.monHost + " as client." + o.user;
  std::string name = "client." + o.user;
  int rc = rados_create2(&cluster_, "ceph", name.c_str(), 0);
  if (rc < 0) return makeError("create ceph client " + name + ": " + std::strerror(-rc), -rc);
  // The key before the (empty) keyring: otherwise librados, finding neither, disables cephx.
  if (rados_conf_set(cluster_, "key", o.key.c_str()) < 0)
    return makeError("the cephx key for client." + o.user + " is not a valid key", EINVAL);
  const std::pair<const char*, std::string> options[] = {
      {"mon_host", o.monHost},
      {"keyring", ""},
      {"auth_client_required", "cephx"},  // never fall back to no authentication
      {"admin_socket", ""},
      {"log_file", ""},
      {"log_to_stderr", "false"},
      {"err_to_stderr", "false"},
      {"client_mount_timeout", cephSeconds(o.connectTimeoutMs)},
      {"rados_mon_op_timeout", cephSeconds(o.connectTimeoutMs)},
      {"rados_osd_op_timeout", cephSeconds(o.ioTimeoutMs)},
      {"rbd_cache", "false"},  // an acknowledged write is on the OSDs
      // boxd-blockd's writes are sent from its own buffers, held until librbd's completion
      // (which librbd delays until the messenger let go of them): no copy at submission.
      {"rbd_disable_zero_copy_writes", "false"},
  };
  for (const auto& [option, value] : options) {
    rc = rados_conf_set(cluster_, option, value.c_str());
    if (rc < 0)
      return makeError(std::string("ceph option ") + option + ": " + std::strerror(-rc), -rc);
  }
  rc = rados_connect(cluster_);
  if (rc == -ETIMEDOUT)
    return makeError(
        "connect to " + who + ": no answer within " + cephSeconds(o.connectTimeoutMs) + " s",
        ETIMEDOUT);
  if (rc == -EACCES || rc == -EPERM)
    return makeError("connect to " + who + ": the key was refused (wrong key or user)", EACCES);
  if (rc < 0) return makeError("connect to " + who + ": " + std::strerror(-rc), -rc);
  return {};
}

}  // namespace boxd::blockd
