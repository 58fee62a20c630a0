# ROC curves (src/roc.c, jetcnn roc) and the analysis/ plotting scripts.
jetcnn_unit_test(test_roc)
jetcnn_test(roc_unit 60 $<TARGET_FILE:test_roc>)

# jetcnn roc against scikit-learn / numpy, error exits, and a 2-rank run.
jetcnn_test(roc_sklearn 120 ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roc_sklearn.py
            --jetcnn ${JETCNN_BIN} --mpiexec ${MPIEXEC_EXECUTABLE} --np-flag=${MPIEXEC_NUMPROC_FLAG})

# Each analysis/ plotting script writes a non-empty PNG and PDF, has --help, fails on bad input.
foreach(plot roc training scores images)
  jetcnn_test(roc_plot_${plot} 60 ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roc_plots.py ${plot}
              --analysis ${CMAKE_SOURCE_DIR}/analysis --jetcnn ${JETCNN_BIN})
endforeach()

# The atomic writer of plain files and the output-is-an-input check (src/atomic_file.c).
jetcnn_unit_test(test_atomic_file)
jetcnn_test(roc_atomic_file 60 $<TARGET_FILE:test_atomic_file>)

# The scores file (src/scores.c): written by 1 and 2 ranks, read back, same-jets check.
jetcnn_unit_test(test_scores)
foreach(np 1 2)
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/roc_scores_np${np})
  jetcnn_mpi_test(roc_scores_np${np} ${np} 60 $<TARGET_FILE:test_scores> ${CMAKE_CURRENT_BINARY_DIR}/roc_scores_np${np})
endforeach()

# The physics baselines (src/baselines.c): cuts, and the likelihood against a known density.
jetcnn_unit_test(test_baselines)
jetcnn_test(roc_baselines 120 $<TARGET_FILE:test_baselines>)

# jetcnn roc --ensemble: mean and spread over trainings, the mean-score curve, same-jets refusals,
# on h5py-written files and on two trainings scored by jetcnn predict; the ensemble plot.
jetcnn_test(roc_ensemble 240 ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roc_ensemble.py
            --jetcnn ${JETCNN_BIN} --analysis ${CMAKE_SOURCE_DIR}/analysis)

# Background sculpting and binned efficiencies (src/sculpt.c) on hand-made cases.
jetcnn_unit_test(test_sculpt)
jetcnn_test(roc_sculpt_unit 60 $<TARGET_FILE:test_sculpt>)

# jetcnn roc --sculpting: 1/JSD of the QCD mass and binned efficiencies against numpy; the plots.
jetcnn_test(roc_sculpting 180 ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roc_sculpting.py
            --jetcnn ${JETCNN_BIN} --analysis ${CMAKE_SOURCE_DIR}/analysis)
