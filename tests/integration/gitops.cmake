# examples/gitops end to end: pre-receive hook with boxctl validate, sync.sh's symlink swap.
boxd_test(boxd_gitops_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gitops_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_gitops_test boxd boxctl boxd-shim)
