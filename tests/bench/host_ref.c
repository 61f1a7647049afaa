/* host_ref.c — runs the ALU or store workload (tests/bench/alu.S, store.S, assembled with
 * -DBENCH_HOST) natively and prints its checksum in the same form as the
 * payloads do, so that tests/tools/bench.sh can check every engine's result
 * against the host CPU. */
#include <stdint.h>
#include <stdio.h>

uint64_t bench_host_run(void);

int main(void)
{
    printf("BENCH %016llx\n", (unsigned long long)bench_host_run());
    return 0;
}
