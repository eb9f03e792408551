# Namespaces (same-named pods side by side, boxctl -n / -A, namespaced ConfigMaps), nodeSelector
# against the node's labels, and enableServiceLinks accepted.
boxd_test(boxd_namespaces_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/namespaces_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_namespaces_test boxd boxctl boxd-shim)
