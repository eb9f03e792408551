#include "blockd/iscsi_scsi.h"

// clang-format off
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
// clang-format on

#include <cerrno>
#include <cstdio>

namespace boxd::blockd::iscsi {
namespace {

uint64_t be64(std::span<const uint8_t> d, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | d[at + i];
  return v;
}

uint32_t be32(std::span<const uint8_t> d, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | d[at + i];
  return v;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

Outcome classify(const Completion& c) {
  switch (c.status) {
    case SCSI_STATUS_GOOD:
    case SCSI_STATUS_CONDITION_MET:
      return Outcome::Done;
    case SCSI_STATUS_BUSY:
    case SCSI_STATUS_TASK_SET_FULL:
      return Outcome::Retry;
    case SCSI_STATUS_CANCELLED:
    case SCSI_STATUS_TIMEOUT:
    case SCSI_STATUS_ERROR:
      return Outcome::Reconnect;
    case SCSI_STATUS_CHECK_CONDITION:
      if (c.senseKey == kSenseUnitAttention) return Outcome::Retry;
      // LOGICAL UNIT IS IN PROCESS OF BECOMING READY (and its siblings 04xx).
      if (c.senseKey == kSenseNotReady && (c.ascq >> 8) == 0x04) return Outcome::Retry;
      return Outcome::Fail;
    default:
      return Outcome::Fail;
  }
}

int errnoOf(const Completion& c) {
  if (c.status != SCSI_STATUS_CHECK_CONDITION) return -EIO;
  if (c.senseKey == kSenseDataProtect) return -EROFS;
  if (c.senseKey == kSenseIllegalRequest && c.ascq == kAscqLunNotSupported) return -ENOENT;
  if (c.senseKey == kSenseIllegalRequest) return -EINVAL;
  return -EIO;
}

std::string describe(const Completion& c) {
  switch (c.status) {
    case SCSI_STATUS_GOOD:
      return "GOOD";
    case SCSI_STATUS_BUSY:
      return "BUSY";
    case SCSI_STATUS_TASK_SET_FULL:
      return "TASK SET FULL";
    case SCSI_STATUS_RESERVATION_CONFLICT:
      return "RESERVATION CONFLICT";
    case SCSI_STATUS_CANCELLED:
      return "cancelled (connection lost)";
    case SCSI_STATUS_TIMEOUT:
      return "timed out";
    case SCSI_STATUS_ERROR:
      return "transport error";
    case SCSI_STATUS_CHECK_CONDITION: {
      char buf[96];
      std::snprintf(buf, sizeof buf, "CHECK CONDITION (sense key 0x%x, ascq 0x%04x)", c.senseKey,
                    c.ascq);
      return buf;
    }
    default: {
      char buf[48];
      std::snprintf(buf, sizeof buf, "SCSI status 0x%x", c.status);
      return buf;
    }
  }
}

std::optional<Capacity> parseReadCapacity16(std::span<const uint8_t> data) {
  if (data.size() < 12) return std::nullopt;
  Capacity c{be64(data, 0) + 1, be32(data, 8)};
  if (c.blockSize == 0) return std::nullopt;
  return c;
}

std::optional<Capacity> parseReadCapacity10(std::span<const uint8_t> data) {
  if (data.size() < 8) return std::nullopt;
  Capacity c{uint64_t{be32(data, 0)} + 1, be32(data, 4)};
  if (c.blockSize == 0) return std::nullopt;
  return c;
}

std::optional<InquiryInfo> parseInquiry(std::span<const uint8_t> data) {
  if (data.empty()) return std::nullopt;
  return InquiryInfo{data[0] >> 5, data[0] & 0x1f};
}

std::string deviceTypeName(int type) {
  switch (type) {
    case 0x00:
      return "direct-access block device";
    case 0x01:
      return "sequential-access (tape) device";
    case 0x05:
      return "CD/DVD device";
    case 0x07:
      return "optical memory device";
    case 0x08:
      return "medium changer";
    case 0x0c:
      return "storage array controller";
    case 0x0d:
      return "enclosure services device";
    case 0x11:
      return "object-based storage device";
    case 0x1f:
      return "unknown or no device";
    default: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "device type 0x%02x", type);
      return buf;
    }
  }
}

uint32_t parseMaxTransferBlocks(std::span<const uint8_t> data) {
  // Page code at byte 1; MAXIMUM TRANSFER LENGTH at bytes 8..11.
  if (data.size() < 12 || data[1] != 0xb0) return 0;
  return be32(data, 8);
}

bool parseWriteProtect(std::span<const uint8_t> data) {
  return data.size() >= 3 && (data[2] & 0x80) != 0;
}

std::string connectReason(const std::string& e) {
  if (contains(e, "Connection refused") || contains(e, "Can not reconnect right now")) {
    return "connection refused";
  }
  if (contains(e, "Invalid CHAP_R") || contains(e, "did not return CHAP_R") ||
      contains(e, "Wrong CHAP targetname")) {
    return "mutual CHAP failed: the target did not prove the configured target credentials";
  }
  // "Failed to log in to target. Status: Authentication failure(513)" -> the status text.
  auto s = e.find("Status: ");
  if (s != std::string::npos) {
    std::string r = e.substr(s + 8);
    auto paren = r.rfind('(');
    if (paren != std::string::npos && paren > 0) r.resize(paren);
    return r;
  }
  if (contains(e, "timed out")) return "timed out";
  if (contains(e, "socket error")) {
    // "iscsi_service: socket error No route to host(113) while connecting."
    auto p = e.find("socket error ");
    std::string r = e.substr(p + 13);
    auto paren = r.find('(');
    if (paren != std::string::npos) r.resize(paren);
    return r;
  }
  if (contains(e, "POLLHUP")) return "connection closed by the target";
  if (e.empty()) return "failed";
  return e;
}

std::optional<int> parseLunFile(const std::string& name) {
  if (name.size() < 4 || name.size() > 8 || name.compare(0, 3, "lun") != 0) return std::nullopt;
  std::string digits = name.substr(3);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int v = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  // Single-level LUN addressing (SAM): 0..16383.
  if (v > 16383) return std::nullopt;
  return v;
}

std::string stripPortalGroup(const std::string& portal) {
  auto comma = portal.rfind(',');
  return comma == std::string::npos ? portal : portal.substr(0, comma);
}

}  // namespace boxd::blockd::iscsi
