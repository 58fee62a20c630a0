# Bad input, table-driven (tests/bad_input.py): malformed configs, HDF5 files and command lines,
# each with its exit code, message, no crash, no hang, existing output intact. Run once in a
# single process and once under mpiexec with 2 ranks. Each case has its own 60 s timeout.
set(BAD_INPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/bad_input)

jetcnn_test(bad_input_serial 600
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/bad_input.py --jetcnn ${JETCNN_BIN} --workdir ${BAD_INPUT_DIR}/serial)

jetcnn_test(bad_input_mpi2 900
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/bad_input.py --jetcnn ${JETCNN_BIN} --workdir ${BAD_INPUT_DIR}/mpi2
  --np 2 --mpiexec ${MPIEXEC_EXECUTABLE})
