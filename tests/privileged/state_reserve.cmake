# The state store on a full filesystem: a real SQLite database on a small tmpfs the test fills.
boxd_test(state_reserve_privileged_test LABEL privileged TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/state_reserve_test.cc
  LIBS boxd_state)
