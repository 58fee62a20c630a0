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
