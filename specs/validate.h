// Value checks shared by the parser (and its tests). Each returns an empty string when the value
// is fine, or a message saying what is wrong, phrased to follow the field path in a diagnostic.
#pragma once

#include <string>
#include <string_view>

namespace boxd::specs {

// Pod and container names, hostname. (isDns1123Label itself is in parse.h.)
std::string checkDns1123Label(std::string_view s);
// Label and annotation keys: [prefix/]name, prefix a DNS-1123 subdomain, name ≤ 63 of
// [A-Za-z0-9] with '-', '_', '.' inside.
std::string checkQualifiedName(std::string_view s);
// Label values: empty, or ≤ 63 of [A-Za-z0-9] with '-', '_', '.' inside.
std::string checkLabelValue(std::string_view s);
// Container images: [host[:port]/]path[:tag][@algo:hex], lowercase path components.
std::string checkImageRef(std::string_view s);
// Environment variable names: non-empty, no '='.
std::string checkEnvName(std::string_view s);
// Host names in hostAliases and DNS search domains: a DNS-1123 subdomain (a trailing dot is
// allowed in a search domain, so callers strip it first).
std::string checkDns1123Subdomain(std::string_view s);
// An IPv4 address in dotted-quad form, or with allowV6 an IPv6 address too.
std::string checkIpAddress(std::string_view s, bool allowV6);
// Every string boxd stores: valid UTF-8, no NUL (it could not reach execve or a label).
std::string checkText(std::string_view s);
// Offset of the first NUL or invalid UTF-8 byte, or npos.
size_t badTextOffset(std::string_view s);

// ---- block volumes (validate_block.cc) ----
// An iSCSI portal: "host", "host:port", "[v6]" or "[v6]:port", where host is an IPv4 address or
// a DNS name. On success, normalized is "host:port", the port defaulting to 3260.
std::string checkIscsiPortal(std::string_view s, std::string& normalized);
// An iSCSI name (RFC 3720, 3980): iqn.YYYY-MM.reverse.domain[:identifier], eui. and 16 hex
// digits, or naa. and 16 or 32 hex digits; at most 223 bytes.
std::string checkIscsiName(std::string_view s);
// An iscsiadm interface name (a file name under /etc/iscsi/ifaces).
std::string checkIscsiInterface(std::string_view s);
// A Ceph monitor address as Kubernetes writes them: "ip:port", "host:port", "[v6]:port", a bare
// host or IP, each optionally prefixed "v1:" or "v2:". Not normalized: librados reads them.
std::string checkCephMonitor(std::string_view s);
// A cephx user id ("admin", "boxd", without the "client." prefix).
std::string checkCephUser(std::string_view s);
// An RBD pool or image name: non-empty, no '/', '@', whitespace or control characters.
std::string checkRbdName(std::string_view s);
// A Secret data key (Kubernetes' rule for Secret and ConfigMap keys): [-._a-zA-Z0-9]+, at most
// 253 characters, not "." and not starting with "..".
std::string checkSecretKey(std::string_view s);

}  // namespace boxd::specs
