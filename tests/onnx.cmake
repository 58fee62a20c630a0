# ONNX export (issue 15, part 1): `jetcnn export` on a briefly trained checkpoint of each
# shipped config and of the models with every layer kind, checked with onnx.checker and
# run in ONNX Runtime (Node, onnxruntime-node pinned in tests/onnx/package-lock.json;
# .ci/run installs it with `npm ci --ignore-scripts --prefix tests/onnx`) against the
# probabilities of `jetcnn predict`: max |ORT - predict| <= 1e-5. Each also shows that a
# model with its output bias off by 0.01 fails that comparison. Label: export.
set(ONNX_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/onnx)
file(MAKE_DIRECTORY ${ONNX_TEST_DIR})
set(ONNX_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/onnx/check_export.py)

# name | config | input H x W x C | classes | training epochs (enough for outputs that depend on the input)
set(ONNX_MODELS
    "every_layer|${CMAKE_CURRENT_SOURCE_DIR}/tools/every_layer.cfg|20x20x2|3|4"
    "every_layer_sigmoid|${CMAKE_CURRENT_SOURCE_DIR}/onnx/every_layer_sigmoid.cfg|17x17x3|2|4"
    "deeptop|${CMAKE_SOURCE_DIR}/configs/deeptop.cfg|40x40x1|2|2"
    "lecture|${CMAKE_SOURCE_DIR}/configs/lecture.cfg|32x32x3|10|3")
foreach(model ${ONNX_MODELS})
  string(REPLACE "|" ";" f "${model}")
  list(GET f 0 name)
  list(GET f 1 config)
  list(GET f 2 shape)
  list(GET f 3 classes)
  list(GET f 4 epochs)
  jetcnn_test(export_onnx_${name} 180
    ${JETCNN_PYTHON} ${ONNX_CHECK} --jetcnn ${JETCNN_BIN} --config ${config} --shape ${shape}
    --classes ${classes} --epochs ${epochs} --workdir ${ONNX_TEST_DIR}/${name} --perturb)
  set_property(TEST export_onnx_${name} APPEND PROPERTY LABELS export)
endforeach()

# Bad arguments and output paths: exit codes, messages, the checkpoint never touched.
jetcnn_test(export_onnx_errors 120
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/onnx/export_errors.py --jetcnn ${JETCNN_BIN}
  --workdir ${ONNX_TEST_DIR}/errors)
set_property(TEST export_onnx_errors APPEND PROPERTY LABELS export)
