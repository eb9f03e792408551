# specs: parser, validation, canonical JSON and hashing, quantities, image references, block
# volumes and Secrets.
boxd_test(specs_test LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/specs_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_errors_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_pod_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_values_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_init_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_volumes_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_block_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_secret_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_network_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_security_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_limits_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_config_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_workload_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_job_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_probes_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/specs_tolerations_test.cc
  LIBS boxd_specs)
