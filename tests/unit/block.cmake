# Block volumes without a kernel: the shared-resource registry, the plan of an iscsi or rbd
# volume, the attach description's JSON, and the probe → mkfs/fsck decisions on plain files.
boxd_test(block_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/block_test.cc
  LIBS boxd_block boxd_agent_core)
