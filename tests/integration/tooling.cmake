# Operator tooling end to end: boxctl plan and top against a real boxd, and the metrics scraped
# by a real Prometheus (Debian's prometheus package) and checked with promtool.
boxd_test(boxd_tooling_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tooling_test.cc
  LIBS boxd_test_harness boxd_test_fixtures)
add_dependencies(boxd_tooling_test boxd boxctl boxd-shim)
