// One way to connect to a Ceph cluster, for boxd's RBD control path and boxd-blockd's data path:
// client.<user> with mon_host and the key only (no ceph.conf, no keyring file, no admin socket),
// cephx required, and timeouts that turn a dead cluster into errors instead of hangs.
#pragma once

#include <rados/librados.h>

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::blockd {

struct CephClientOptions {
  std::string monHost;               // librados mon_host
  std::string user;                  // without "client."
  std::string key;                   // the cephx key: never in an error
  int64_t connectTimeoutMs = 10000;  // client_mount_timeout, rados_mon_op_timeout
  int64_t ioTimeoutMs = 30000;       // rados_osd_op_timeout
};

// A connected cluster handle (rados_shutdown on destruction).
class CephClient {
 public:
  CephClient() = default;
  ~CephClient();
  CephClient(const CephClient&) = delete;
  CephClient& operator=(const CephClient&) = delete;

  // Creates, configures and connects. Errors name the monitors and the user and say what the
  // cluster answered: a refused key, no answer within the timeout.
  Status connect(const CephClientOptions& o);
  rados_t get() const { return cluster_; }

 private:
  rados_t cluster_ = nullptr;
};

// "15" for 15000 ms (at least 1): librados takes timeouts in whole seconds.
std::string cephSeconds(int64_t ms);

}  // namespace boxd::blockd
