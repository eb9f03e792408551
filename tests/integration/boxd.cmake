add_library(boxd_test_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/harness.cc)
target_include_directories(boxd_test_harness PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(boxd_test_harness PUBLIC boxd_common boxd_agent_core nlohmann_json::nlohmann_json)
target_compile_definitions(boxd_test_harness PRIVATE BOXD_TEST_BUILD_DIR="${CMAKE_BINARY_DIR}"
                                                     BOXD_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

boxd_test(boxd_integration_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boxd_test.cc ${CMAKE_CURRENT_LIST_DIR}/recovery_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/init_test.cc ${CMAKE_CURRENT_LIST_DIR}/volume_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/mount_escape_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_integration_test boxd boxctl boxd-shim)

# Pod networking end to end: bridge, veth, IPAM, hostPort, drift, faults at each network step.
boxd_test(boxd_network_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/network_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_network_test boxd boxctl boxd-shim)
