# boxctl validate: per-file and cross-file checks on temp dirs, and the command's exit codes.
boxd_test(validate_tree_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/validate_tree_test.cc
  LIBS boxd_agent_core boxd_test_harness)
add_dependencies(validate_tree_test boxctl)

# plan, top and metrics: the pure parts (decision, diff, top table, exposition text, address).
boxd_test(tooling_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tooling_test.cc
  LIBS boxd_agent_core)
