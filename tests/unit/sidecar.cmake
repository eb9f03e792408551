# Sidecar containers (initContainers[] with restartPolicy: Always): the field and its errors, and
# the sequencing, completion and stop-order rules (agent/sidecar_rules.h).
boxd_test(sidecar_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sidecar_spec_test.cc ${CMAKE_CURRENT_LIST_DIR}/sidecar_rules_test.cc
  LIBS boxd_agent_core)
