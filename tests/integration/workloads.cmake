# Workload kinds (Deployment, StatefulSet) on a real boxd: replicas running, a template change
# rolling one pod at a time, a scale down, StatefulSet names.
boxd_test(boxd_workloads_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/workloads_test.cc
  LIBS boxd_test_harness boxd_specs)
add_dependencies(boxd_workloads_test boxd boxctl boxd-shim)
