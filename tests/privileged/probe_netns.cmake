# Sockets of network probes made inside a pod's network namespace, in a namespace the test
# creates (root: unshare); skipped without root.
boxd_test(probe_netns_privileged_test LABEL privileged
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/probe_netns_test.cc
  LIBS boxd_agent
  TIMEOUT 60)
