boxd_test(agent_core_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_core_test.cc
  LIBS boxd_agent_core)
