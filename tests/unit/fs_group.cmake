# fsGroup: the ownership walk and its step (reconcilers/volumes/fs_group.h), where the planner
# puts it and how config volumes get the group (agent/pod_plan.cc, agent/config_volumes.h).
boxd_test(fs_group_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs_group_test.cc ${CMAKE_CURRENT_LIST_DIR}/fs_group_plan_test.cc
  LIBS boxd_agent_core)
