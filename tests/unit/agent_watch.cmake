# boxctl's watch output (agent/boxctl_watch.h): rows of the first state as one table, later rows
# in its columns.
boxd_test(agent_watch_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_watch_test.cc
  LIBS boxd_agent_core)
