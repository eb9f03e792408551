# The registry client against a real registry (docker-registry) started by the tests.
add_library(boxd_test_registry_peer STATIC ${CMAKE_CURRENT_LIST_DIR}/registry_peer.cc
                                           ${CMAKE_CURRENT_LIST_DIR}/throttle_proxy.cc)
target_include_directories(boxd_test_registry_peer PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(boxd_test_registry_peer PUBLIC boxd_common boxd_hash boxd_test_fixtures
                      LibArchive::LibArchive CURL::libcurl nlohmann_json::nlohmann_json)

boxd_test(registry_pull_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_pull_test.cc
  LIBS boxd_registry boxd_test_registry_peer boxd_hash)
add_dependencies(registry_pull_test boxctl)

# Token auth (tests/integration/token_server.py, python3-jwt), insecureRegistries, haveBlob.
boxd_test(registry_options_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_options_test.cc
  LIBS boxd_registry boxd_test_registry_peer boxd_hash)

# boxctl image pull through a throttling proxy: SIGINT/SIGTERM mid-pull, progress on a pty.
boxd_test(boxctl_pull_test LABEL integration TIMEOUT 180
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boxctl_pull_test.cc
  LIBS boxd_test_registry_peer)
add_dependencies(boxctl_pull_test boxctl)
