# batch/v1 CronJobs on a real boxd (docs/workloads.md#cronjobs): a `* * * * *` CronJob makes its
# Job at the next minute (waits up to ~75 s), a restart of boxd neither runs it again nor loses
# it, and removing the CronJob removes its Jobs and their pods; a Job of the specs named as a run's
# Job, in both orders (the one there first keeps the name). The schedule, the controller's
# policies and DST are unit-tested on a fake clock (tests/unit/cronjob.cmake).
boxd_test(boxd_cronjobs_test LABEL integration TIMEOUT 480
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cronjobs_test.cc
  LIBS boxd_test_harness boxd_specs)
add_dependencies(boxd_cronjobs_test boxd boxctl boxd-shim)
