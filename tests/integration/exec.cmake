# boxctl exec end to end: a private boxd, a real pod, commands run inside its containers.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_exec_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/exec_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_exec_test boxd boxctl boxd-shim)
