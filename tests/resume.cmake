# Checkpoint and resume (issue 7): exact resumption for any rank count, signals -> exit 75,
# kill -9 of one rank, non-finite loss, changed config. Each case runs an uninterrupted
# reference and compares final weights byte for byte (tests/test_resume.py).
set(RESUME_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/resume)
file(MAKE_DIRECTORY ${RESUME_TEST_DIR})
foreach(case exact signal kill9 nan config)
  jetcnn_test(resume_${case} 300
    ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_resume.py ${case} --jetcnn ${JETCNN_BIN}
    --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_CURRENT_SOURCE_DIR}/resume.cfg --workdir ${RESUME_TEST_DIR})
endforeach()
# Exact resumption of a residual model with batch norm: weights, running statistics and
# optimizer state byte-identical to the uninterrupted run for P = 1, 2, 3.
jetcnn_test(resume_exact_residual 300
  ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_resume.py exact --jetcnn ${JETCNN_BIN}
  --mpiexec ${MPIEXEC_EXECUTABLE} --config ${CMAKE_CURRENT_SOURCE_DIR}/residual.cfg --workdir ${RESUME_TEST_DIR}/residual)
