# Payload tests: one line per run (scenarios/payloads/<name>.c, expected
# console output in scenarios/payloads/<name>.out). Exit statuses:
# docs/exit-status.md (1 = the payload exited with 0; 2 triple fault;
# 4 halted forever; 6 instruction limit; 10 unmodelled behaviour).
# Expected outputs describe correct behaviour per the Intel SDM: a test that
# fails because hvsim differs is kept failing until hvsim is fixed.
hvsim_payload_test(hello STATUS 1)

# boot protocol
hvsim_payload_test(boot_state STATUS 1 ARGS --cmdline "a b c")
hvsim_payload_test(boot_state NAME boot_state_nocmdline STATUS 1 OUTPUT ${PROJECT_SOURCE_DIR}/scenarios/payloads/boot_state_nocmdline.out)

# paging
hvsim_payload_test(paging_map STATUS 1)
hvsim_payload_test(paging_tlb STATUS 1)
hvsim_payload_test(pf_errors STATUS 1)
hvsim_payload_test(nx STATUS 1)

# exceptions
hvsim_payload_test(exc_basic STATUS 1)
hvsim_payload_test(exc_double STATUS 1)
hvsim_payload_test(triple_fault STATUS 2)

# privilege levels
hvsim_payload_test(syscall STATUS 1)
hvsim_payload_test(user_prot STATUS 1)
hvsim_payload_test(segments STATUS 1)
hvsim_payload_test(umip STATUS 1)

# CPUID, MSRs, time, randomness
hvsim_payload_test(cpuid STATUS 1 ARGS --lps 2)
hvsim_payload_test(cpuid NAME cpuid_amd STATUS 1 OUTPUT ${PROJECT_SOURCE_DIR}/scenarios/payloads/cpuid_amd.out ARGS --cpu amd --lps 2)
hvsim_payload_test(msr STATUS 1)
hvsim_payload_test(tsc STATUS 1)
hvsim_payload_test(rdrand NAME rdrand_seed1 STATUS 1 OUTPUT ${PROJECT_SOURCE_DIR}/scenarios/payloads/rdrand_seed1.out ARGS --seed 1)
hvsim_payload_test(rdrand NAME rdrand_seed2 STATUS 1 OUTPUT ${PROJECT_SOURCE_DIR}/scenarios/payloads/rdrand_seed2.out ARGS --seed 2)

# multiprocessor
hvsim_payload_test(smp STATUS 1 ARGS --lps 2)

# how runs end
hvsim_payload_test(hlt_forever STATUS 4)
hvsim_payload_test(unmodelled_io STATUS 10)
hvsim_payload_test(max_insns STATUS 6 ARGS --max-insns 100000)
hvsim_payload_test(pcid STATUS 1)
