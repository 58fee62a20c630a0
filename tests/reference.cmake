# Correctness of the core trainer against independent references (issue 3, Tests):
# the lecture's worked examples, finite-difference gradient checks, and PyTorch.
set(REFERENCE_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/reference)
file(MAKE_DIRECTORY ${REFERENCE_TEST_DIR})

# Central finite differences of every layer kind and both losses (C, float32 forward,
# double accumulation); each check also proves it fails on a perturbed gradient.
jetcnn_unit_test(test_gradcheck)
jetcnn_test(reference_gradcheck 60 $<TARGET_FILE:test_gradcheck>)

# Driver that runs jetcnn's layers on cases written by the Python scripts.
jetcnn_unit_test(jc_reference)

# The lecture's 6x6 edge-filter convolutions and 4x4 pooling example through jetcnn's
# layers, expected values computed with numpy/torch in the test.
jetcnn_test(reference_lecture_examples 60
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference_torch.py lecture
  --driver $<TARGET_FILE:jc_reference> --workdir ${REFERENCE_TEST_DIR}/lecture)

# Layer grid vs PyTorch: forward, input gradient, weight gradients, losses.
jetcnn_test(reference_torch_layers 120
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference_torch.py layers
  --driver $<TARGET_FILE:jc_reference> --workdir ${REFERENCE_TEST_DIR}/layers)

# 5 training steps of the lecture and DeepTop models (momentum, Adam) vs PyTorch.
jetcnn_test(reference_torch_train 180
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference_torch.py train
  --jetcnn ${JETCNN_BIN} --configs ${CMAKE_SOURCE_DIR}/configs --workdir ${REFERENCE_TEST_DIR}/train)
