# ephemeral-storage by project quota: detection, allocation, plan steps, golden call sequences
# of apply/undo on a recording fake, usage read from the quota (no kernel quotas needed).
boxd_test(quota_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/quota_test.cc
  LIBS boxd_agent_core boxd_reconcilers boxd_state)
