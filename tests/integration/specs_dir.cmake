# The specs dir against stray entries and hostile files, end to end: FIFOs, devices, directories,
# links out of the tree, oversized and deeply nested files; boxd's memory after them.
boxd_test(boxd_specs_dir_test LABEL integration TIMEOUT 600
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/specs_dir_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_specs_dir_test boxd boxctl boxd-shim)
