# Resource bounds end to end: pod pids limit, OOMKilled, Killing events, boxctl socket bounds.
boxd_test(boxd_limits_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/limits_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_limits_test boxd boxctl boxd-shim)
