# Seeing a slow node (issue 12): rank 1 slowed down (SIGSTOP duty cycle) must show up as the
# largest compute time in metrics.csv and in the --profile line, rank 0 as the longest wait.
jetcnn_test(steptime_slow_rank 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slow_rank.py --jetcnn ${JETCNN_BIN} --mpiexec ${MPIEXEC_EXECUTABLE}
  --workdir ${CMAKE_CURRENT_BINARY_DIR}/steptime)
