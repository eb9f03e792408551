boxd_test(state_test LABEL unit
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/state_test.cc
  LIBS boxd_state boxd_hash SQLite::SQLite3)
