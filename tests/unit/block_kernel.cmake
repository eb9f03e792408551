boxd_test(block_kernel_unit_tests LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/block_command_runner_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/block_iscsi_kernel_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/block_rbd_kernel_test.cc
  LIBS boxd_block_kernel)
