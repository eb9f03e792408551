boxd_test(blockd_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blockd_protocol_test.cc ${CMAKE_CURRENT_LIST_DIR}/blockd_util_test.cc
  LIBS boxd_blockd_protocol boxd_blockd_util)
