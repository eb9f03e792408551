# securityContext end to end: a private boxd, busybox containers with users, capabilities,
# privileged and read-only roots; boxctl exec inside them. (After boxd.cmake: files are sorted.)
boxd_test(boxd_security_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/security_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_security_test boxd boxctl boxd-shim)
