boxd_test(step_runner_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/step_runner_test.cc
  LIBS boxd_agent)
