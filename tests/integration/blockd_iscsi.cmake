# The iSCSI backend of boxd-blockd against a real tgtd (tests/fixtures/tgt_target.h), through
# the Backend/Disk interface: CHAP, portals, discovery, LUNs, concurrent I/O, faults, throughput.
boxd_test(blockd_iscsi_test LABEL integration TIMEOUT 900
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blockd_iscsi_test.cc
  LIBS boxd_blockd_iscsi boxd_test_fixtures_iscsi)
