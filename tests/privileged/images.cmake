# The image store's whiteouts and overlay of layers on the real kernel (root).
boxd_test(images_privileged_tests LABEL privileged
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/images_privileged_test.cc
  LIBS boxd_host boxd_reconcilers LibArchive::LibArchive OpenSSL::Crypto)
