# Fuzzing the spec parser (tests/fuzz/specs_fuzz.cc).
#
# specs_fuzz_replay: the harness plus a plain main() that feeds it every file of the seed corpus;
# built with the normal compiler and run as a unit test, so the corpus guards against regressions
# on every build.
add_executable(specs_fuzz_replay
  ${CMAKE_CURRENT_LIST_DIR}/specs_fuzz.cc
  ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay_main.cc)
target_include_directories(specs_fuzz_replay PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(specs_fuzz_replay PRIVATE boxd_specs)
add_test(NAME specs_fuzz_replay
  COMMAND specs_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/specs)
set_tests_properties(specs_fuzz_replay PROPERTIES LABELS unit TIMEOUT 120)

# specs_fuzz: the libFuzzer build (clang only, not part of `all`). It compiles the harness with
# the specs and common sources in one clang++ invocation, instrumented for coverage, ASan and
# UBSan. Build and run:
#   cmake --build <dir> --target specs_fuzz
#   mkdir -p /tmp/specs-corpus
#   <dir>/tests/fuzz/specs_fuzz -max_total_time=60 -timeout=10 /tmp/specs-corpus <src>/tests/fuzz/corpus/specs
find_program(BOXD_CLANGXX NAMES clang++ clang++-16 clang++-15 clang++-14)
if(BOXD_CLANGXX)
  set(specs_fuzz_sources ${CMAKE_CURRENT_LIST_DIR}/specs_fuzz.cc)
  foreach(lib boxd_specs boxd_hash boxd_common)
    get_target_property(lib_dir ${lib} SOURCE_DIR)
    get_target_property(lib_sources ${lib} SOURCES)
    foreach(s IN LISTS lib_sources)
      list(APPEND specs_fuzz_sources ${lib_dir}/${s})
    endforeach()
  endforeach()
  file(GLOB specs_fuzz_headers ${CMAKE_SOURCE_DIR}/specs/*.h ${CMAKE_SOURCE_DIR}/common/*.h)
  set(specs_fuzz_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz/specs_fuzz)
  add_custom_command(OUTPUT ${specs_fuzz_bin}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/fuzz
    COMMAND ${BOXD_CLANGXX} -std=c++20 -g -O1 -fno-omit-frame-pointer
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${CMAKE_SOURCE_DIR} ${specs_fuzz_sources} -lyaml-cpp -lcrypto -o ${specs_fuzz_bin}
    DEPENDS ${specs_fuzz_sources} ${specs_fuzz_headers}
    COMMENT "Building the libFuzzer target specs_fuzz with ${BOXD_CLANGXX}"
    VERBATIM)
  add_custom_target(specs_fuzz DEPENDS ${specs_fuzz_bin})
endif()
