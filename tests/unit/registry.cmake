boxd_test(registry_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_reference_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/registry_credentials_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/registry_manifest_test.cc
  LIBS boxd_registry)

boxd_test(registry_config_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_config_test.cc
  LIBS boxd_agent_core)
