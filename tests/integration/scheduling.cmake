# boxd as its node's scheduler: required nodeAffinity against the node's labels, required
# podAntiAffinity between the replicas of a Deployment (docs/scheduling.md).
boxd_test(boxd_scheduling_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduling_test.cc
  LIBS boxd_test_harness boxd_specs)
add_dependencies(boxd_scheduling_test boxd boxctl boxd-shim)
