boxd_test(exec_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/exec_test.cc
  LIBS boxd_exec)
