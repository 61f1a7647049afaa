/*
 * machine.h — a simulated PC: RAM, logical processors interleaved in fixed
 * instruction quanta on virtual time, the debug console (port 0xE9), the
 * transmit side of COM1 (16550 at 0x3F8), the exit device (port 0xF4,
 * QEMU isa-debug-exit semantics) and the legacy ports of sim/platform.h
 * (8259A PICs, fw_cfg, the Bochs shutdown port). Payloads boot by the native
 * protocol (docs/boot-protocol.md) or Multiboot v1 (docs/multiboot.md).
 * End-of-run statuses: docs/exit-status.md.
 */
#ifndef HVSIM_SIM_MACHINE_H
#define HVSIM_SIM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu.h"
#include "multiboot.h"
#include "trace.h"

typedef struct machine machine_t;

struct machine_config {
    unsigned nlps;                     /* 1..MACHINE_MAX_LPS */
    uint64_t mem_size;                 /* bytes */
    const struct cpu_profile *profile;
    uint64_t seed;
    uint64_t max_insns;                /* 0: no limit */
    uint64_t max_cycles;               /* 0: no limit */
    uint64_t quantum;                  /* instructions per LP turn */
    uint64_t sched_seed;               /* 0: fixed quanta; else quanta vary in [q/2, 3q/2) per this seed */
    bool trace_insns;
    const char *trace_path;            /* NULL: no trace */
    const char *cmdline;
    FILE *console;                     /* payload console output (stdout) */
    FILE *progress;                    /* progress lines (stderr when a terminal), or NULL */
    /* VMX capability MSR overrides (--vmx-cap, scenario <vmx-cap>), applied
     * in order to the profile's (vmx_caps_override) */
    unsigned nvmx_caps;
    struct machine_vmx_cap { uint32_t msr; bool present; uint64_t value; } vmx_caps[32];
    /* AMD-V capability overrides (--svm-cap, scenario <svm-cap>), applied
     * in order to the profile's (svm_caps_override); name is "revision",
     * "asids" or "features" */
    unsigned nsvm_caps;
    struct machine_svm_cap { char name[16]; uint64_t value; } svm_caps[32];
    FILE *notes;                       /* model notes, e.g. the VM-entry check that failed (hvsim run:
                                          stderr), or NULL */
    bool tlb_flush_always;             /* translation-cache policy "flush-always" (docs/ept.md) */
};

#define MACHINE_MAX_LPS 64
#define MACHINE_DEFAULT_MEM (256ull << 20)
#define MACHINE_DEFAULT_QUANTUM 10000

/* How a run ended; the exit status of `hvsim run` (docs/exit-status.md). */
enum machine_end {
    MEND_EXIT_DEVICE = 0,   /* status (v << 1) | 1, v written to port 0xF4 */
    MEND_TRIPLE_FAULT,      /* status 2 */
    MEND_HALTED,            /* status 4: every LP halted with nothing to wake it */
    MEND_INSN_LIMIT,        /* status 6 */
    MEND_CYCLE_LIMIT,       /* status 8 */
    MEND_UNMODELLED,        /* status 10 */
    MEND_INTERNAL,          /* status 12 */
};

#define EXIT_STATUS_TRIPLE_FAULT 2
#define EXIT_STATUS_HALTED       4
#define EXIT_STATUS_INSN_LIMIT   6
#define EXIT_STATUS_CYCLE_LIMIT  8
#define EXIT_STATUS_UNMODELLED   10
#define EXIT_STATUS_INTERNAL     12
#define EXIT_STATUS_USAGE        64   /* bad command line or input file */

struct machine_result {
    enum machine_end end;
    int status;                        /* process exit status */
    char reason[600];                  /* one line for stderr */
    uint64_t insns, cycles;            /* totals over all LPs / maximum LP clock */
    unsigned lp;                       /* LP that ended the run */
    uint64_t unmodelled_msrs;          /* RDMSR/WRMSR of MSRs hvsim does not model (each raised #GP) */
};

/* Errors name the file or setting at fault in msg. */
bool machine_create(const struct machine_config *cfg, machine_t **out, char *msg, size_t msglen);
bool machine_load_elf(machine_t *m, const char *path, char *msg, size_t msglen);
bool machine_load_multiboot(machine_t *m, const struct mb_options *o, char *msg, size_t msglen)
    __attribute__((warn_unused_result));
/* After machine_load_multiboot: where things went and the recorded entry
 * states (sim/multiboot.h); NULL otherwise. */
const struct mb_layout *machine_multiboot_layout(const machine_t *m);
void machine_run(machine_t *m, struct machine_result *res);
/* The trace END reason (enum trace_end_reason) for an end of the run. */
unsigned machine_end_trace_reason(enum machine_end e);
void machine_destroy(machine_t *m);
cpu_t *machine_cpu(machine_t *m, unsigned lp);
struct physmem *machine_physmem(machine_t *m);
/* Port I/O as LP `lp` would perform it with IN/OUT (1-, 2- or 4-byte), through
 * the same device dispatch; for tests and tools. An access that ends the run
 * (CPU_IO_STOP) is recorded as it would be, but only machine_run ends it. */
enum cpu_io_result machine_port_in(machine_t *m, unsigned lp, uint16_t port, unsigned size, uint32_t *val);
enum cpu_io_result machine_port_out(machine_t *m, unsigned lp, uint16_t port, unsigned size, uint32_t val);

#endif
