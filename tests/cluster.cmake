# The shipped job scripts on a real three-node SLURM cluster on this machine (label `cluster`;
# tests/cluster/, docs/cluster.md "The test cluster"). cluster_up starts it (a bridge, three
# network namespaces, munged, slurmctld, three slurmd), the cases use it one at a time
# (RUN_SERIAL: they time node loss and count bytes on the links), cluster_down removes it, also
# after failures; a cluster left by a killed ctest is removed by the next cluster_up. Needs root,
# iproute2, slurm-wlm and munge (.ci/install-deps.sh); without them the tests fail.
set(CLUSTER_STATE ${CMAKE_CURRENT_BINARY_DIR}/cluster/state)
set(CLUSTER_WORK ${CMAKE_CURRENT_BINARY_DIR}/cluster/work)
file(MAKE_DIRECTORY ${CLUSTER_WORK})

add_test(NAME cluster_up COMMAND ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/vcluster.py start
         --state ${CLUSTER_STATE})
add_test(NAME cluster_down COMMAND ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/vcluster.py stop
         --state ${CLUSTER_STATE})
set_tests_properties(cluster_up PROPERTIES FIXTURES_SETUP cluster TIMEOUT 90)
set_tests_properties(cluster_down PROPERTIES FIXTURES_CLEANUP cluster TIMEOUT 90)

# name, case, launcher, timeout (s); the times measured on 2 cores are in docs/cluster.md. Node loss
# runs once per mode, each under another launcher (the other two pairings: by hand, --launcher).
set(CLUSTER_CASES multinode multinode srun 240  kill kill srun 240  link link mpirun 240
                  policy policy srun 180  array array srun 240  slow slow srun 240)
while(CLUSTER_CASES)
  list(POP_FRONT CLUSTER_CASES name case launcher timeout)
  jetcnn_test(cluster_${name} ${timeout}
    ${JETCNN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_cluster.py ${case} --launcher ${launcher}
    --jetcnn ${JETCNN_BIN} --source ${CMAKE_SOURCE_DIR} --state ${CLUSTER_STATE} --workdir ${CLUSTER_WORK})
  set_tests_properties(cluster_${name} PROPERTIES FIXTURES_REQUIRED cluster)
endwhile()

# the requeue policy's functions, without SLURM
add_test(NAME cluster_policy_table COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_policy.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(cluster_policy_table PROPERTIES TIMEOUT 30)

get_property(_cluster_tests DIRECTORY PROPERTY TESTS)
list(FILTER _cluster_tests INCLUDE REGEX "^cluster_")
set_tests_properties(${_cluster_tests} PROPERTIES LABELS cluster RUN_SERIAL TRUE RESOURCE_LOCK slurm_cluster)
