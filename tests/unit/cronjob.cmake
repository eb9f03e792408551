# CronJobs: the cron schedule and time zones, the CronJob schema, the controller on a fake clock
# and boxctl's view of them.
boxd_test(cronjob_test LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/cron_schedule_test.cc
  LIBS boxd_agent_core)
