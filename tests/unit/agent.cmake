boxd_test(agent_core_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_core_test.cc ${CMAKE_CURRENT_LIST_DIR}/agent_network_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/agent_secrets_test.cc ${CMAKE_CURRENT_LIST_DIR}/agent_spec_source_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/agent_config_test.cc ${CMAKE_CURRENT_LIST_DIR}/agent_rollout_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/agent_job_test.cc ${CMAKE_CURRENT_LIST_DIR}/agent_namespace_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/agent_scheduling_test.cc
  LIBS boxd_agent_core boxd_state)
# ephemeral-storage: spec fields, measured usage, eviction verdicts; the state dir's reserve.
boxd_test(ephemeral_storage_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ephemeral_storage_test.cc
  LIBS boxd_agent_core boxd_state)
