boxd_test(dispatcher_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dispatcher_test.cc
  LIBS boxd_agent)
