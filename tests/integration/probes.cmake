# Probes and lifecycle hooks end to end: readiness and `boxctl wait`, liveness restarts, exec
# probes killed at their timeout, startup probes, postStart and preStop hooks.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_probes_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/probes_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_probes_test boxd boxctl boxd-shim boxd-exec)
