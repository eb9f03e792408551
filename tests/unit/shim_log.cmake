# The shim's log writer (pipe → file, rotation, the previous run's file) on temp dirs and pipes.
boxd_test(shim_log_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shim_log_test.cc
  LIBS boxd_shim_log)
