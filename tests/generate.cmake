# Tests of the jet generator, the image preprocessing and the jet file (issue 5).
set(GEN_OUT ${CMAKE_CURRENT_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${GEN_OUT})
set(GEN_CHECKS ${CMAKE_CURRENT_SOURCE_DIR}/gen_checks.py)

jetcnn_unit_test(test_gen_physics)
jetcnn_test(gen_physics_unit 60 $<TARGET_FILE:test_gen_physics>)

# The jet file writer: rows per rank, and files written with a small HDF5 metadata cache (the
# chunk-index flushes that broke `generate --jets 1000000`, issue 13) read back exactly.
jetcnn_unit_test(test_jetfile)
file(MAKE_DIRECTORY ${GEN_OUT}/jetfile)
jetcnn_mpi_test(gen_jetfile_np1 1 120 $<TARGET_FILE:test_jetfile> ${GEN_OUT}/jetfile)
jetcnn_mpi_test(gen_jetfile_np2 2 120 $<TARGET_FILE:test_jetfile> ${GEN_OUT}/jetfile)
jetcnn_mpi_test(gen_jetfile_np3 3 180 $<TARGET_FILE:test_jetfile> ${GEN_OUT}/jetfile)

# The write loop of generate and images (produce.h): its events and counts, the .tmp hook, images
# of generated constituents equal to the generated images, a stop flag on one rank stopping all.
jetcnn_unit_test(test_produce)
file(MAKE_DIRECTORY ${GEN_OUT}/produce)
jetcnn_mpi_test(gen_produce_np1 1 120 $<TARGET_FILE:test_produce> ${GEN_OUT}/produce)
jetcnn_mpi_test(gen_produce_np2 2 120 $<TARGET_FILE:test_produce> ${GEN_OUT}/produce)

# Same seed => same datasets on 1 and 2 ranks (and 3, with an uneven split of chunks).
jetcnn_mpi_test(gen_write_np1 1 120 ${JETCNN_BIN} generate --jets 1500 --seed 5 --out ${GEN_OUT}/np1.h5)
jetcnn_mpi_test(gen_write_np2 2 120 ${JETCNN_BIN} generate --jets 1500 --seed 5 --out ${GEN_OUT}/np2.h5)
jetcnn_mpi_test(gen_write_np3 3 120 ${JETCNN_BIN} generate --jets 1500 --seed 5 --out ${GEN_OUT}/np3.h5)
set_tests_properties(gen_write_np1 gen_write_np2 gen_write_np3 PROPERTIES FIXTURES_SETUP gen_files)
jetcnn_test(gen_same_file_np1_np2 60 ${JETCNN_PYTHON} ${GEN_CHECKS} compare ${GEN_OUT}/np1.h5 ${GEN_OUT}/np2.h5)
jetcnn_test(gen_same_file_np1_np3 60 ${JETCNN_PYTHON} ${GEN_CHECKS} compare ${GEN_OUT}/np1.h5 ${GEN_OUT}/np3.h5)
set_tests_properties(gen_same_file_np1_np2 gen_same_file_np1_np3 PROPERTIES FIXTURES_REQUIRED gen_files)

# The acceptance numbers of docs/physics.md on 8000 jets.
jetcnn_mpi_test(gen_physics_file 2 300 ${JETCNN_BIN} generate --jets 8000 --seed 2 --out ${GEN_OUT}/physics.h5)
set_tests_properties(gen_physics_file PROPERTIES FIXTURES_SETUP gen_physics_data)
jetcnn_test(gen_physics_acceptance 120 ${JETCNN_PYTHON} ${GEN_CHECKS} physics ${GEN_OUT}/physics.h5)
set_tests_properties(gen_physics_acceptance PROPERTIES FIXTURES_REQUIRED gen_physics_data)

# jetcnn images: bad inputs rejected with exit code 3; the reference layout via the converter.
jetcnn_test(gen_images_bad_inputs 120 ${JETCNN_PYTHON} ${GEN_CHECKS} bad-inputs ${JETCNN_BIN} ${GEN_OUT}/bad)
jetcnn_test(gen_images_convert 120 ${JETCNN_PYTHON} ${GEN_CHECKS} convert ${JETCNN_BIN} ${GEN_OUT}/convert)

# Each rank writes only its own chunks: with 2 ranks no process writes much more than half
# the file (traced with strace, which .ci/install-deps.sh installs; without it, or without
# ptrace, the test fails saying so).
find_program(JETCNN_STRACE strace)
if(NOT JETCNN_STRACE)
  set(JETCNN_STRACE strace-not-found)
endif()
jetcnn_test(gen_write_share 180 ${JETCNN_PYTHON} ${GEN_CHECKS} write-share ${JETCNN_STRACE} ${MPIEXEC_EXECUTABLE}
            ${JETCNN_BIN} ${GEN_OUT}/share)

# Ranks that are given different arguments or see different files stop together with one
# message; SIGINT/SIGTERM (to the process, to one rank, to mpiexec) stop generate and images
# and leave no .tmp (issue 13).
jetcnn_test(gen_lockstep 180 ${JETCNN_PYTHON} ${GEN_CHECKS} lockstep ${MPIEXEC_EXECUTABLE} ${JETCNN_BIN} ${GEN_OUT}/lockstep)
jetcnn_test(gen_interrupt 300 ${JETCNN_PYTHON} ${GEN_CHECKS} interrupt ${MPIEXEC_EXECUTABLE} ${JETCNN_BIN} ${GEN_OUT}/interrupt)
