# The start-up CPU check (include/jetcnn/cpu.h): the comparison, the cpuid table against
# libgcc's own decoding, and the message when a feature the build needs is pretended missing.
# The same check through the CLI, on all ranks and on one rank only: tests/bad_input.py
# (block "cluster-core").
jetcnn_unit_test(test_cpu_check)
jetcnn_test(cpu_check_unit 30 $<TARGET_FILE:test_cpu_check>)
