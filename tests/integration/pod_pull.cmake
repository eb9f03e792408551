# Pods whose images boxd pulls from a real registry (docker-registry started by the test):
# policy, secrets, backoff, a registry stopped and boxd killed mid-pull, one pull per image.
boxd_test(pod_pull_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pod_pull_test.cc
  LIBS boxd_test_harness boxd_test_registry_peer boxd_registry LibArchive::LibArchive
       OpenSSL::Crypto)
add_dependencies(pod_pull_test boxd boxctl boxd-shim)
