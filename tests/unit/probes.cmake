# Probes: kubelet's threshold counting, the HTTP request and response head, `boxctl wait`.
boxd_test(agent_probes_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_probes_test.cc
  LIBS boxd_agent)

# ShimWatch outliving a connection its shim closed (a pod torn down: boxd aborted in uv_close).
boxd_test(agent_shim_watch_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shim_watch_test.cc
  LIBS boxd_agent)

# grpc probes: the hand-made health messages, kubelet's messages, and the check on a real loop
# against a gRPC health server on 127.0.0.1 (tests/fixtures/grpc_health_server).
boxd_test(agent_grpc_probe_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_grpc_probe_test.cc
  LIBS boxd_agent boxd_test_grpc_server)
# One tcpSocket check on the loop against 127.0.0.1 (the handshake done inside connect()), a
# refused port, cancelling; an HTTP response later than the first look (waited for, or the
# deadline); HTTP heads without headers or with lookalike names.
boxd_test(agent_probe_check_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/probe_check_test.cc
  LIBS boxd_agent)
# The probes' coalesced ticks: a fake clock (nothing early, nothing a slot late, phases kept,
# missed ticks skipped) and ProbeTicker on a real loop (ticks that stop themselves or others).
boxd_test(agent_tick_schedule_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tick_schedule_test.cc
  LIBS boxd_agent)
