#include <gtest/gtest.h>
#include <iscsi/iscsi.h>

#include <vector>

#include "blockd/iscsi_scsi.h"

namespace boxd::blockd::iscsi {
namespace {

TEST(IscsiScsi, ReadCapacity16GivesBlocksAndBlockSize) {
  // Last LBA 0x1ffff (128 Ki blocks), block length 4096.
  std::vector<uint8_t> d(32, 0);
  d[5] = 0x01;
  d[6] = 0xff;
  d[7] = 0xff;
  d[10] = 0x10;
  auto c = parseReadCapacity16(d);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->blocks, 0x20000u);
  EXPECT_EQ(c->blockSize, 4096u);
  EXPECT_FALSE(parseReadCapacity16(std::vector<uint8_t>(8, 0)));   // short
  EXPECT_FALSE(parseReadCapacity16(std::vector<uint8_t>(32, 0)));  // block size 0
}

TEST(IscsiScsi, ReadCapacity10) {
  std::vector<uint8_t> d = {0x00, 0x07, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00};
  auto c = parseReadCapacity10(d);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->blocks, 0x80000u);
  EXPECT_EQ(c->blockSize, 512u);
}

TEST(IscsiScsi, InquiryTypeAndQualifier) {
  auto disk = parseInquiry(std::vector<uint8_t>{0x00, 0, 5});
  ASSERT_TRUE(disk);
  EXPECT_EQ(disk->qualifier, 0);
  EXPECT_EQ(disk->deviceType, 0);
  auto absent = parseInquiry(std::vector<uint8_t>{0x7f});
  ASSERT_TRUE(absent);
  EXPECT_EQ(absent->qualifier, 3);
  auto controller = parseInquiry(std::vector<uint8_t>{0x0c});
  EXPECT_EQ(deviceTypeName(controller->deviceType), "storage array controller");
  EXPECT_FALSE(parseInquiry(std::vector<uint8_t>{}));
}

TEST(IscsiScsi, BlockLimitsAndWriteProtect) {
  std::vector<uint8_t> b0(64, 0);
  b0[1] = 0xb0;
  b0[10] = 0x08;  // 0x800 blocks
  EXPECT_EQ(parseMaxTransferBlocks(b0), 0x800u);
  b0[1] = 0x83;  // another page: ignored
  EXPECT_EQ(parseMaxTransferBlocks(b0), 0u);
  EXPECT_TRUE(parseWriteProtect(std::vector<uint8_t>{0x0b, 0, 0x80, 0}));
  EXPECT_FALSE(parseWriteProtect(std::vector<uint8_t>{0x0b, 0, 0x00, 0}));
}

TEST(IscsiScsi, OutcomesFollowTheSdDriver) {
  EXPECT_EQ(classify({SCSI_STATUS_GOOD}), Outcome::Done);
  EXPECT_EQ(classify({SCSI_STATUS_CHECK_CONDITION, kSenseUnitAttention, 0x2900}), Outcome::Retry);
  EXPECT_EQ(classify({SCSI_STATUS_CHECK_CONDITION, kSenseNotReady, 0x0401}), Outcome::Retry);
  EXPECT_EQ(classify({SCSI_STATUS_CHECK_CONDITION, kSenseNotReady, 0x3a00}), Outcome::Fail);
  EXPECT_EQ(classify({SCSI_STATUS_BUSY}), Outcome::Retry);
  EXPECT_EQ(classify({SCSI_STATUS_CANCELLED}), Outcome::Reconnect);
  EXPECT_EQ(classify({SCSI_STATUS_TIMEOUT}), Outcome::Reconnect);
  EXPECT_EQ(classify({SCSI_STATUS_RESERVATION_CONFLICT}), Outcome::Fail);
  EXPECT_EQ(errnoOf({SCSI_STATUS_RESERVATION_CONFLICT}), -EIO);
  EXPECT_EQ(errnoOf({SCSI_STATUS_CHECK_CONDITION, kSenseDataProtect, 0x2700}), -EROFS);
  EXPECT_EQ(errnoOf({SCSI_STATUS_CHECK_CONDITION, kSenseIllegalRequest, kAscqLunNotSupported}),
            -ENOENT);
  EXPECT_EQ(errnoOf({SCSI_STATUS_CHECK_CONDITION, kSenseIllegalRequest, kAscqInvalidOpcode}),
            -EINVAL);
  EXPECT_EQ(errnoOf({SCSI_STATUS_CHECK_CONDITION, kSenseMediumError, 0x1100}), -EIO);
}

TEST(IscsiScsi, ConnectReasonsAreWhatAUserShouldRead) {
  EXPECT_EQ(connectReason("iscsi_service_reconnect_if_loggedin. Can not reconnect right now.\n"),
            "connection refused");
  EXPECT_EQ(connectReason("iscsi_service: socket error Connection refused(111) while connecting."),
            "connection refused");
  EXPECT_EQ(connectReason("Failed to log in to target. Status: Authentication failure(513)"),
            "Authentication failure");
  EXPECT_EQ(connectReason("Failed to log in to target. Status: Target not found(515)"),
            "Target not found");
  EXPECT_NE(connectReason("Authentication failed. Invalid CHAP_R response from the target")
                .find("mutual CHAP"),
            std::string::npos);
  EXPECT_EQ(connectReason("iscsi_service: socket error No route to host(113) while connecting."),
            "No route to host");
  EXPECT_EQ(connectReason("timed out"), "timed out");
}

TEST(IscsiScsi, LunFileNames) {
  EXPECT_EQ(parseLunFile("lun0"), 0);
  EXPECT_EQ(parseLunFile("lun1"), 1);
  EXPECT_EQ(parseLunFile("lun16383"), 16383);
  EXPECT_FALSE(parseLunFile("lun16384"));
  EXPECT_FALSE(parseLunFile("lun"));
  EXPECT_FALSE(parseLunFile("lun01"));
  EXPECT_FALSE(parseLunFile("lun-1"));
  EXPECT_FALSE(parseLunFile("lun1x"));
  EXPECT_FALSE(parseLunFile("image"));
  EXPECT_EQ(stripPortalGroup("127.0.0.1:3260,1"), "127.0.0.1:3260");
  EXPECT_EQ(stripPortalGroup("127.0.0.1:3260"), "127.0.0.1:3260");
}

}  // namespace
}  // namespace boxd::blockd::iscsi
