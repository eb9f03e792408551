boxd_test(host_privileged_tests LABEL privileged
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/host_privileged_test.cc
  LIBS boxd_host boxd_reconcilers)
