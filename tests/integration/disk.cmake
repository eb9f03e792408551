# Disk bounds end to end: ephemeral-storage and emptyDir sizeLimit eviction, the config default,
# and a pod deleted (with its events kept) while the state dir's filesystem is full.
boxd_test(boxd_disk_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/disk_test.cc
  LIBS boxd_test_harness)
add_dependencies(boxd_disk_test boxd boxctl boxd-shim)
