boxd_test(network_netlink_tests LABEL privileged
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/network_netlink_test.cc
  LIBS boxd_reconcilers boxd_network boxd_host)
