# Project quotas on real filesystems: xfs and ext4 made on loop devices by the test.
boxd_test(quota_privileged_test LABEL privileged TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/quota_test.cc
  LIBS boxd_host boxd_test_fixtures)
