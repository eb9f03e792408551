# Container logs end to end: boxctl logs with rotation, --previous after restarts, boxd restarts.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_logs_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/logs_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_logs_test boxd boxctl boxd-shim)
