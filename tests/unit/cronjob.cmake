# CronJobs: the cron schedule and time zones, the CronJob schema, the controller on a fake clock
# and boxctl's view of them.
boxd_test(cronjob_test LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/cron_schedule_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_cronjob_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/cronjob_controller_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/cronjob_format_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/cronjob_desired_test.cc
  LIBS boxd_agent_core)
