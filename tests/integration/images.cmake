# OCI images end to end: layouts built by the test, imported with boxctl, run by pods (config
# semantics, whiteouts through overlayfs), image ls/rm/prune, re-tagging under running pods.
boxd_test(boxd_images_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/images_test.cc
  LIBS boxd_test_harness LibArchive::LibArchive OpenSSL::Crypto)
add_dependencies(boxd_images_test boxd boxctl boxd-shim)
