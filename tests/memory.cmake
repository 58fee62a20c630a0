# Memory per rank must not grow with the training file (issue 12: with P > 1 ranks the chunk
# cache of /images once kept every chunk a rank had touched). The small version of
# bench/rss_per_rank.py: 2 ranks, files of 4,096 and 24,576 jets from `jetcnn generate`, both
# larger than the shuffle window (1,024 jets): peak RSS per rank may grow by at most 10 MB and
# must stay within weights + optimizer + activations + shuffle window + 60 MB.
jetcnn_test(memory_flat_per_rank 120
  ${JETCNN_PYTHON} ${CMAKE_SOURCE_DIR}/bench/rss_per_rank.py --jetcnn ${JETCNN_BIN} --mpiexec ${MPIEXEC_EXECUTABLE}
  --workdir ${CMAKE_CURRENT_BINARY_DIR}/memory --sizes 4096 24576 --ranks 2 --set shuffle_window=1024 --check)
