// Content hashing (OpenSSL's libcrypto), kept out of boxd_common so the per-pod shim, which
// never hashes, does not load libcrypto.
#pragma once

#include <string>
#include <string_view>

namespace boxd {

// Lowercase hex SHA-256 of the bytes.
std::string sha256Hex(std::string_view data);

}  // namespace boxd
