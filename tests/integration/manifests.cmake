# Real manifests (tests/data/manifests, equivalents of Kubernetes documentation tasks) run
# unchanged: ConfigMaps, Secrets, config volumes and env, other kinds skipped with file:line.
boxd_test(boxd_manifests_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manifests_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_manifests_test boxd boxctl boxd-shim boxd-exec)
