# The block bench's parsing and its pods: what it reads from adjtimex and rbd bench, its
# per-round ratios, and that its pods and Secrets are specs boxd accepts.
boxd_test(bench_block_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_block_test.cc ${CMAKE_SOURCE_DIR}/bench/block_parse.cc
    ${CMAKE_SOURCE_DIR}/bench/block_report.cc ${CMAKE_SOURCE_DIR}/bench/proc.cc
  LIBS boxd_specs boxd_common nlohmann_json::nlohmann_json)
