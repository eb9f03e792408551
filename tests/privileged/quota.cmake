# Project quotas on real xfs / ext4 images on loop devices: project IDs through the ioctls, and
# detection reporting no quotas where the kernel has none (the quota path itself: quota_unit_test).
boxd_test(quota_privileged_test LABEL privileged TIMEOUT 180
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/quota_test.cc
  LIBS boxd_reconcilers boxd_test_fixtures)
