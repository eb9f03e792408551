# Sidecar containers end to end: a Job-like pod with a log-shipping sidecar, a sidecar restarted
# after a kill, the next init container held by a sidecar's startup probe, the deletion order.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_sidecar_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sidecar_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_sidecar_test boxd boxctl boxd-shim boxd-exec)
