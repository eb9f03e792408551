# examples/gitops end to end: a push to the bare specs repo, sync.sh publishing it with the
# symlink swap, boxd converging, boxctl status showing the commit; the pre-receive hook refusing
# invalid specs (when this boxctl has `validate`).
boxd_test(boxd_gitops_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gitops_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_gitops_test boxd boxctl boxd-shim)
