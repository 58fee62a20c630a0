# libFuzzer targets (tests/fuzz), built only with -DJETCNN_FUZZ=ON and clang; run them with
# tests/fuzz/run.sh SECONDS. The ctest entries replay the seed corpus once (no fuzzing).
if(JETCNN_FUZZ)
  foreach(target fuzz_config fuzz_h5input)
    add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${target}.c)
    target_compile_options(${target} PRIVATE ${JETCNN_WARN})
    target_link_libraries(${target} PRIVATE jetcnn_core)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  endforeach()
endif()
