// Pure helpers of the iSCSI backend: SCSI data parsing, the mapping of SCSI outcomes to errno,
// libiscsi's error texts turned into what a user should read, LUN file names. No I/O here, so
// all of it is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace boxd::blockd::iscsi {

// Sense keys and additional sense codes the backend acts on (SPC-4).
inline constexpr int kSenseNotReady = 0x2;
inline constexpr int kSenseMediumError = 0x3;
inline constexpr int kSenseIllegalRequest = 0x5;
inline constexpr int kSenseUnitAttention = 0x6;
inline constexpr int kSenseDataProtect = 0x7;
inline constexpr int kAscqLunNotSupported = 0x2500;  // LOGICAL UNIT NOT SUPPORTED
inline constexpr int kAscqInvalidOpcode = 0x2000;    // INVALID COMMAND OPERATION CODE
inline constexpr int kAscqInvalidFieldInCdb = 0x2400;

// What a finished SCSI command means for the caller.
enum class Outcome {
  Done,       // GOOD
  Retry,      // UNIT ATTENTION, NOT READY (becoming ready), BUSY, TASK SET FULL: send again
  Reconnect,  // the connection is gone or sick (cancelled, timed out, transport error)
  Fail,       // a final answer: see errnoOf
};

struct Completion {
  int status = 0;    // libiscsi's status (SCSI status or SCSI_STATUS_CANCELLED/ERROR/TIMEOUT)
  int senseKey = 0;  // for CHECK CONDITION
  int ascq = 0;      // (ASC << 8) | ASCQ
};

Outcome classify(const Completion& c);
// -errno for a Fail outcome: DATA PROTECT -EROFS, LUN not supported -ENOENT, ILLEGAL REQUEST
// -EINVAL, RESERVATION CONFLICT and everything else -EIO.
int errnoOf(const Completion& c);
// "CHECK CONDITION (ILLEGAL REQUEST, ascq 0x2500)", "RESERVATION CONFLICT", "cancelled", ...
std::string describe(const Completion& c);

struct Capacity {
  uint64_t blocks = 0;  // number of logical blocks (last LBA + 1)
  uint32_t blockSize = 0;
};
std::optional<Capacity> parseReadCapacity16(std::span<const uint8_t> data);
std::optional<Capacity> parseReadCapacity10(std::span<const uint8_t> data);

struct InquiryInfo {
  int qualifier = 0;   // 0 connected, 3 no LUN here
  int deviceType = 0;  // 0 direct-access block device
};
std::optional<InquiryInfo> parseInquiry(std::span<const uint8_t> data);
std::string deviceTypeName(int type);  // "direct-access", "storage array controller", ...

// Block Limits VPD page (0xB0): MAXIMUM TRANSFER LENGTH in blocks, 0 when not reported.
uint32_t parseMaxTransferBlocks(std::span<const uint8_t> data);
// MODE SENSE(6) header: the WP (write protect) bit of the device-specific parameter.
bool parseWriteProtect(std::span<const uint8_t> data);

// The reason of a failed connect or login, from libiscsi's error text, for a user to read:
// "connection refused" (libiscsi says "Can not reconnect right now"), "Authentication failure",
// "Target not found", "mutual CHAP: the target's response did not match", ...
std::string connectReason(const std::string& libiscsiError);

// "lun3" -> 3; anything else (no digits, leading zeros, sign, too large) -> nullopt.
std::optional<int> parseLunFile(const std::string& name);

// "127.0.0.1:3260,1" (a SendTargets portal with its group tag) -> "127.0.0.1:3260".
std::string stripPortalGroup(const std::string& portal);

}  // namespace boxd::blockd::iscsi
