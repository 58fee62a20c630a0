# The sanitizer build (-DJETCNN_SANITIZE=ON): AddressSanitizer + UndefinedBehaviorSanitizer
# (fatal). `ctest -L sanitize` runs the C unit tests, a short training run and the
# single-process bad-input table under it (.ci/run does). Open MPI's own leaks are suppressed
# by library name in sanitize/lsan.supp; jetcnn's are not. Plugins stay loaded
# (disable_dlclose) and malloc stacks are unwound slowly so those library names are seen.
# use_tls=0: the leak checker does not scan thread-local storage as roots. GCC 12's LSan reads a
# garbage dynamic-TLS range of the main thread on this Debian (glibc 2.36) and its tracer dies
# with "Tracer caught signal 11" (even for `jetcnn --version`, depending on the machine); not
# scanning TLS can only add reports, never hide a leak.
jetcnn_test(sanitize_short_run 600
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/sanitize/short_run.py --jetcnn ${JETCNN_BIN}
  --config ${CMAKE_SOURCE_DIR}/configs/deeptop.cfg --workdir ${CMAKE_CURRENT_BINARY_DIR}/sanitize/short_run)

set(JETCNN_SANITIZE_TESTS core_plan core_fast_kernels gen_physics_unit gen_jetfile_np1 gen_produce_np1 reference_gradcheck roc_unit
    roc_baselines roc_atomic_file roc_sculpt_unit roc_scores_np1 sanitize_short_run bad_input_serial)
set(JETCNN_SANITIZE_ENV
  "ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_stack_use_after_return=1:abort_on_error=0"
  "LSAN_OPTIONS=use_tls=0:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/sanitize/lsan.supp:print_suppressions=0"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
  "OMPI_MCA_mca_base_component_disable_dlclose=1")
foreach(t ${JETCNN_SANITIZE_TESTS})
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY LABELS sanitize)
    if(JETCNN_SANITIZE)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT ${JETCNN_SANITIZE_ENV})
    endif()
  else()
    message(WARNING "sanitize.cmake: no test named ${t} (renamed?); the sanitizer CI stage misses it")
  endif()
endforeach()
