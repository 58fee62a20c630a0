# ROC curves (src/roc.c, jetcnn roc) and the analysis/ plotting scripts.
jetcnn_unit_test(test_roc)
jetcnn_test(roc_unit 60 $<TARGET_FILE:test_roc>)
