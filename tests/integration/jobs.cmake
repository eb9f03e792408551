# batch/v1 Jobs on a real boxd (docs/workloads.md#jobs): completions with parallelism, the
# backoff limit (Never and OnFailure), activeDeadlineSeconds, a restart of boxd in mid-Job, a
# changed Job run again.
boxd_test(boxd_jobs_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/jobs_test.cc
  LIBS boxd_test_harness boxd_specs)
add_dependencies(boxd_jobs_test boxd boxctl boxd-shim)
