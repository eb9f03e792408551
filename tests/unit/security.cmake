# securityContext: the effective per-container settings and their wire form to the shim.
boxd_test(security_context_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/security_context_test.cc
  LIBS boxd_agent_core)
