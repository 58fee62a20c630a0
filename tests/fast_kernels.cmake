# The fast conv and pooling paths (issue 8) against naive loop nests: odd shapes, every
# register tile, ties and NaNs in max pooling.
jetcnn_unit_test(test_fast_kernels)
jetcnn_test(core_fast_kernels 60 $<TARGET_FILE:test_fast_kernels>)
