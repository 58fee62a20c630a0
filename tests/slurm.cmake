# jobs/train.sbatch on a real single-node SLURM cluster started and stopped by the test itself
# (munged, slurmctld, slurmd under a temporary directory; tests/slurm/cluster.py): a plain
# 2-task job, and a job signalled mid-training that checkpoints, requeues itself and resumes
# to weights byte-identical with an uninterrupted run. Needs root (SlurmUser=root) and
# Debian's slurm-wlm and munge (.ci/install-deps.sh); without them the tests fail.
set(SLURM_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/slurm)
file(MAKE_DIRECTORY ${SLURM_TEST_DIR})
foreach(case submit preempt)
  jetcnn_test(slurm_${case} 150
    ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.py ${case} --jetcnn ${JETCNN_BIN}
    --mpiexec ${MPIEXEC_EXECUTABLE} --source ${CMAKE_SOURCE_DIR} --workdir ${SLURM_TEST_DIR})
  # One cluster at a time on the machine: they would share its cores.
  set_tests_properties(slurm_${case} PROPERTIES RESOURCE_LOCK slurm_cluster)
endforeach()
