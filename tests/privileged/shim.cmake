# boxd-shim end to end (root: namespaces, mounts, cgroups); skipped without root.
if(TARGET boxd-shim AND TARGET boxd_sandbox)
  boxd_test(shim_privileged_test LABEL privileged
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/shim_test.cc
    LIBS boxd_sandbox boxd_common
    TIMEOUT 120)
  add_dependencies(shim_privileged_test boxd-shim)
  target_compile_definitions(shim_privileged_test PRIVATE BOXD_SHIM_BINARY="$<TARGET_FILE:boxd-shim>")
endif()
