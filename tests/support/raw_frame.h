// Raw Ethernet frames for network tests: what a pod with CAP_NET_RAW can put on its link,
// addressed to any MAC and any IP it likes. Everything acts in the calling thread's network
// namespace (the socket and the ioctls belong to it), so a test sends "from a pod" by calling
// these on a thread that has joined the pod's namespace.
#pragma once

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::testing {

using Mac = std::array<uint8_t, 6>;

// The hardware address of a link in the calling thread's namespace.
inline Result<Mac> linkMac(const std::string& ifname) {
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return sysError("socket", ifname);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) return sysError("SIOCGIFHWADDR", ifname);
  Mac mac{};
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

namespace rawframe_detail {

inline void put16(std::string& b, uint16_t v) {
  b.push_back(static_cast<char>(v >> 8));
  b.push_back(static_cast<char>(v & 0xff));
}

// The Internet checksum (RFC 1071) of the concatenation of the given parts.
inline uint16_t checksum(std::initializer_list<std::string_view> parts) {
  uint32_t sum = 0;
  bool odd = false;
  uint8_t pending = 0;
  for (auto p : parts) {
    for (char ch : p) {
      uint8_t c = static_cast<uint8_t>(ch);
      if (odd) {
        sum += static_cast<uint32_t>(pending << 8 | c);
      } else {
        pending = c;
      }
      odd = !odd;
    }
  }
  if (odd) sum += static_cast<uint32_t>(pending << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

inline std::string ethernet(const Mac& src, const Mac& dst, uint16_t type) {
  std::string b(reinterpret_cast<const char*>(dst.data()), dst.size());
  b.append(reinterpret_cast<const char*>(src.data()), src.size());
  put16(b, type);
  return b;
}

inline std::string udpHeader(uint16_t sport, uint16_t dport, size_t payloadLen) {
  std::string u;
  put16(u, sport);
  put16(u, dport);
  put16(u, static_cast<uint16_t>(8 + payloadLen));
  put16(u, 0);  // checksum, filled in by the caller
  return u;
}

inline void setUdpChecksum(std::string& udp, uint16_t sum) {
  if (sum == 0) sum = 0xffff;  // 0 means "no checksum" in UDP
  udp[6] = static_cast<char>(sum >> 8);
  udp[7] = static_cast<char>(sum & 0xff);
}

}  // namespace rawframe_detail

// Ethernet + IPv4 + UDP, checksums right. Addresses are dotted quads.
inline Result<std::string> udp4Frame(const Mac& srcMac, const Mac& dstMac, const std::string& srcIp,
                                     const std::string& dstIp, uint16_t sport, uint16_t dport,
                                     const std::string& payload) {
  using namespace rawframe_detail;
  in_addr src{}, dst{};
  if (::inet_pton(AF_INET, srcIp.c_str(), &src) != 1 ||
      ::inet_pton(AF_INET, dstIp.c_str(), &dst) != 1)
    return makeError("udp4Frame: bad address " + srcIp + " or " + dstIp, EINVAL);
  std::string s4(reinterpret_cast<const char*>(&src), 4);
  std::string d4(reinterpret_cast<const char*>(&dst), 4);
  std::string udp = udpHeader(sport, dport, payload.size());
  std::string pseudo = s4 + d4;
  pseudo.push_back(0);
  pseudo.push_back(static_cast<char>(IPPROTO_UDP));
  put16(pseudo, static_cast<uint16_t>(udp.size() + payload.size()));
  setUdpChecksum(udp, checksum({pseudo, udp, payload}));

  std::string ip;
  ip.push_back(0x45);  // version 4, 20-byte header
  ip.push_back(0);
  put16(ip, static_cast<uint16_t>(20 + udp.size() + payload.size()));
  put16(ip, 0x1234);  // identification
  put16(ip, 0x4000);  // don't fragment
  ip.push_back(64);   // ttl
  ip.push_back(static_cast<char>(IPPROTO_UDP));
  put16(ip, 0);  // header checksum
  ip += s4 + d4;
  uint16_t hsum = checksum({ip});
  ip[10] = static_cast<char>(hsum >> 8);
  ip[11] = static_cast<char>(hsum & 0xff);
  return ethernet(srcMac, dstMac, ETHERTYPE_IP) + ip + udp + payload;
}

// Ethernet + IPv6 + UDP, checksum right.
inline Result<std::string> udp6Frame(const Mac& srcMac, const Mac& dstMac, const std::string& srcIp,
                                     const std::string& dstIp, uint16_t sport, uint16_t dport,
                                     const std::string& payload) {
  using namespace rawframe_detail;
  in6_addr src{}, dst{};
  if (::inet_pton(AF_INET6, srcIp.c_str(), &src) != 1 ||
      ::inet_pton(AF_INET6, dstIp.c_str(), &dst) != 1)
    return makeError("udp6Frame: bad address " + srcIp + " or " + dstIp, EINVAL);
  std::string s6(reinterpret_cast<const char*>(&src), 16);
  std::string d6(reinterpret_cast<const char*>(&dst), 16);
  std::string udp = udpHeader(sport, dport, payload.size());
  uint32_t len = static_cast<uint32_t>(udp.size() + payload.size());
  std::string pseudo = s6 + d6;
  put16(pseudo, static_cast<uint16_t>(len >> 16));
  put16(pseudo, static_cast<uint16_t>(len & 0xffff));
  pseudo += std::string(3, '\0');
  pseudo.push_back(static_cast<char>(IPPROTO_UDP));
  setUdpChecksum(udp, checksum({pseudo, udp, payload}));

  std::string ip;
  ip.push_back(0x60);  // version 6
  ip += std::string(3, '\0');
  put16(ip, static_cast<uint16_t>(len));
  ip.push_back(static_cast<char>(IPPROTO_UDP));
  ip.push_back(64);  // hop limit
  ip += s6 + d6;
  return ethernet(srcMac, dstMac, ETHERTYPE_IPV6) + ip + udp + payload;
}

// Puts one frame on ifname as it is (AF_PACKET, SOCK_RAW): no routing, no checks.
inline Status sendFrame(const std::string& ifname, const std::string& frame) {
  Fd s(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));  // protocol 0: send only
  if (!s) return sysError("socket AF_PACKET", ifname);
  unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) return sysError("if_nametoindex", ifname);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(index);
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  ssize_t n =
      ::sendto(s.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (n != static_cast<ssize_t>(frame.size())) return sysError("send raw frame on", ifname);
  return {};
}

}  // namespace boxd::testing
