# Block volumes end to end against real peers started per test: tgtd (iSCSI) and a one-node
# Ceph cluster (RBD). boxd attaches through boxd-blockd here (no kernel initiator or krbd).
boxd_test(boxd_block_iscsi_test LABEL integration TIMEOUT 900
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/block_iscsi_test.cc
  LIBS boxd_test_harness boxd_test_fixtures_iscsi)
add_dependencies(boxd_block_iscsi_test boxd boxctl boxd-shim boxd-blockd)

boxd_test(boxd_block_rbd_test LABEL integration TIMEOUT 900
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/block_rbd_test.cc
  LIBS boxd_test_harness boxd_test_fixtures)
add_dependencies(boxd_block_rbd_test boxd boxctl boxd-shim boxd-blockd)
