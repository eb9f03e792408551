# hostPort DNAT and masquerade with real traffic, and the localnet guard against raw frames from
# a pod, inside network namespaces the test creates
# (root: unshare, nftables); skipped without root.
boxd_test(network_nat_privileged_test LABEL privileged
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/network_nat_test.cc
  LIBS boxd_reconcilers boxd_network boxd_common
  TIMEOUT 120)
