# ROC curves (src/roc.c, jetcnn roc) and the analysis/ plotting scripts.
jetcnn_unit_test(test_roc)
jetcnn_test(roc_unit 60 $<TARGET_FILE:test_roc>)

# jetcnn roc against scikit-learn / numpy, error exits, and a 2-rank run.
jetcnn_test(roc_sklearn 120 ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roc_sklearn.py
            --jetcnn ${JETCNN_BIN} --mpiexec ${MPIEXEC_EXECUTABLE} --np-flag=${MPIEXEC_NUMPROC_FLAG})
