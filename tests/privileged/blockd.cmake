# boxd-blockd's FUSE server on a real FUSE mount and loop device, over an in-memory backend.
boxd_test(blockd_fuse_test LABEL privileged TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blockd_fuse_test.cc
  LIBS boxd_blockd_core boxd_test_fixtures)
