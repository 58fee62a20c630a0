# Core trainer tests: summary tables, rank-count invariance, train/predict end to end.
set(CORE_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/core)
file(MAKE_DIRECTORY ${CORE_TEST_DIR})

# The lecture's Keras model: shapes and parameter counts computed independently.
jetcnn_test(core_summary_lecture 60
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_summary.py ${JETCNN_BIN} ${CMAKE_SOURCE_DIR}/configs)

# Same global batch on P = 1, 2, 3, 4 ranks: checkpoint weights identical byte for byte.
jetcnn_test(core_rank_invariance 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_rank_invariance.py --jetcnn ${JETCNN_BIN}
  --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_SOURCE_DIR}/configs/deeptop.cfg --workdir ${CORE_TEST_DIR}/ranks)
# The same with a model whose convolutions take the Winograd path (DeepTop's do not).
jetcnn_test(core_rank_invariance_winograd 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_rank_invariance.py --jetcnn ${JETCNN_BIN}
  --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_CURRENT_SOURCE_DIR}/winograd.cfg --workdir ${CORE_TEST_DIR}/ranks_winograd)

# The same with a residual model with batch norm (running statistics included), on 993 jets:
# the last micro-batch of each epoch holds one jet.
jetcnn_test(core_rank_invariance_residual 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_rank_invariance.py --jetcnn ${JETCNN_BIN}
  --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_CURRENT_SOURCE_DIR}/residual.cfg --jets 993 --state
  --workdir ${CORE_TEST_DIR}/ranks_residual)

# Checkpoints written before batch norm and shortcuts (tests/fixtures) still predict, resume
# and start runs.
jetcnn_test(core_old_checkpoint 120
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_old_checkpoint.py --jetcnn ${JETCNN_BIN}
  --workdir ${CORE_TEST_DIR}/old_checkpoint)

# Train, predict, metrics log and scores file on toy data, with mpiexec -np 2.
jetcnn_test(core_train_predict 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_predict.py --jetcnn ${JETCNN_BIN}
  --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_SOURCE_DIR}/configs/deeptop.cfg --workdir ${CORE_TEST_DIR}/e2e)

# The sample plan: every jet once per epoch for any P, order from (seed, epoch) only.
jetcnn_unit_test(test_plan)
jetcnn_test(core_plan 60 $<TARGET_FILE:test_plan>)

# dist_sum_exact and dist_agree on sub-communicators of 4 ranks (odd/even, rank 0 alone).
jetcnn_unit_test(test_dist)
jetcnn_mpi_test(core_dist_np4 4 60 $<TARGET_FILE:test_dist>)
