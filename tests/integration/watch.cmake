# boxctl status -w / events -w end to end: lines as pods change, Ctrl-C, boxd going away, and a
# watcher that never reads (bounded, dropped).
boxd_test(boxd_watch_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/watch_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_watch_test boxd boxctl boxd-shim)
