# grpc probes end to end: a private boxd runs busybox pods whose grpc probes reach a gRPC health
# server the test runs on a thread of its own, listening inside the pod's network namespace.
# (Included after boxd.cmake, which defines boxd_test_harness: the files are included sorted.)
boxd_test(boxd_probes_grpc_test LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/probes_grpc_test.cc
  LIBS boxd_test_harness boxd_test_grpc_server)
add_dependencies(boxd_probes_grpc_test boxd boxctl boxd-shim boxd-exec)
