# boxd-blockd (RBD backend) against a real one-node Ceph cluster (tests/fixtures/ceph_cluster.h).
boxd_test(blockd_rbd_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blockd_rbd_test.cc
  LIBS boxd_test_fixtures)
add_dependencies(blockd_rbd_test boxd-blockd)
