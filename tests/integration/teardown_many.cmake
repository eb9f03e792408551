# Many pods deleted at once while `boxctl status` must keep answering.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_teardown_many_test LABEL integration TIMEOUT 900
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/teardown_many_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_teardown_many_test boxd boxctl boxd-shim)
