# fsGroup ownership walk (reconcilers/volumes/fs_group.h).
boxd_test(fs_group_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs_group_test.cc
  LIBS boxd_host)
