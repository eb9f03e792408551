boxd_test(host_unit_tests LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/host_mounter_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/host_steps_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/host_cgroups_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/host_cgroup_usage_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/host_images_test.cc
  LIBS boxd_host LibArchive::LibArchive)
