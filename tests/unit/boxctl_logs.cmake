# boxctl logs: log files printed in order, --previous, -f across rotations (temp dirs only).
boxd_test(boxctl_logs_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boxctl_logs_test.cc
  LIBS boxd_agent_core)
