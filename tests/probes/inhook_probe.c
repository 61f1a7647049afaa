/*
 * inhook_probe.c — can an instruction hvsim emulates be emulated inside the
 * engine's code hook, without stopping the engine (Unicorn 2.0.1)?
 *
 * hvsim stops the engine at every sensitive instruction (a site), emulates it
 * in cpu_run and starts the engine again; a VM-exit round trip of
 * scenarios/payloads/vmx_bench.c (its `flags` exit path, the only one until
 * 2026-11-27) makes 8 engine entries for 16 emulated
 * instructions (docs/cpu-mmu.md, "Where a VM-exit round trip went"). The
 * alternative is to emulate from the UC_HOOK_CODE callback itself: read and
 * write the registers and memory there and set RIP past the instruction,
 * so that the engine goes on in the same uc_emu_start. This probe checks
 * that Unicorn 2.0.1 keeps the guest's state right when that is done for
 * PUSHF and POPF (the flags the hook reads are the lazily computed ones,
 * the flags it writes are the ones the next instruction uses, and writing
 * RIP continues there), and measures what it costs.
 *
 * The guest loop (nasm syntax):
 *   L: add rcx, rbx            ; flags vary
 *      pushfq                  ; (emulated in the hook: modes 1 and 2)
 *      pop rdx
 *      add r8, rdx             ; a checksum of every RFLAGS value pushed
 *      push rdx
 *      xor qword [rsp], 1      ; CF inverted
 *      popfq                   ; (emulated in the hook: mode 2)
 *      adc r9, 0               ; counts the CFs POPF loaded
 *      dec rsi
 *      jnz L
 * Mode 0 runs it without a hook. Every mode must end with the same R8 and
 * R9, and the hook must have run once per emulated instruction.
 *
 * Build by hand:
 *   cc -O2 -Wall -o /tmp/inhook_probe tests/probes/inhook_probe.c \
 *      $(pkg-config --cflags --libs unicorn)
 *   /tmp/inhook_probe            checks only (exit status 1 if any fails)
 *   /tmp/inhook_probe --figures  also timings (pass/fail never depends on time)
 *   /tmp/inhook_probe --figures N H   N iterations, with H idle code hooks at
 *                                other addresses (hvsim's other sites)
 *
 * Figures (docs/cpu-mmu.md, "Emulating inside the code hook"): callgrind,
 * host instructions per loop iteration, 300,000 minus 100,000 iterations,
 * one mode per process, measured with XOR in place of the checksum's ADD
 * (the same instructions otherwise): mode 0 5,953; mode 1 5,322 (the
 * hook's PUSHF store, made with uc_mem_write, avoids the engine's store
 * slow path, which without hvsim's page-collection locks allocates a tree
 * per store); mode 2 6,691. With 86 idle hooks beside the probe's (as many
 * as hvsim has sites at the end of vmx_bench), each instruction emulated in
 * the hook costs about 3,700 host instructions more: Unicorn 2.0.1 walks the
 * whole hook list unless a hook stops the engine (18,414 -> 29,611 per
 * iteration, all three modes together).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#define CODE 0x1000ull
#define STACK 0x100000ull
#define RF_ARITH 0xCD5ull                /* CF PF AF ZF SF DF OF */

static const uint8_t loop_code[] = {
    0x48, 0x01, 0xD9,             /*  0: add rcx, rbx */
    0x9C,                         /*  3: pushfq */
    0x5A,                         /*  4: pop rdx */
    0x49, 0x01, 0xD0,             /*  5: add r8, rdx */
    0x52,                         /*  8: push rdx */
    0x48, 0x83, 0x34, 0x24, 0x01, /*  9: xor qword [rsp], 1 */
    0x9D,                         /* 14: popfq */
    0x49, 0x83, 0xD1, 0x00,       /* 15: adc r9, 0 */
    0x48, 0xFF, 0xCE,             /* 19: dec rsi */
    0x75, 0xE8,                   /* 22: jnz 0 */
    0xF4,                         /* 24: hlt (never run: the run ends at `until`) */
};
#define PUSHF_AT (CODE + 3)
#define POPF_AT (CODE + 14)
#define END_AT (CODE + 24)

struct run {
    int mode;
    uint64_t hits;
};

static void set_rip(uc_engine *uc, uint64_t rip)
{
    uc_reg_write(uc, UC_X86_REG_RIP, &rip);
}

static void hook(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    struct run *r = ud;
    uint64_t rsp, fl, v;
    (void)size;
    uc_reg_read(uc, UC_X86_REG_RSP, &rsp);
    if (addr == PUSHF_AT) {
        uc_reg_read(uc, UC_X86_REG_RFLAGS, &fl);
        v = fl & ~0x30000ull;                   /* RF and VM are pushed clear */
        rsp -= 8;
        uc_mem_write(uc, rsp, &v, 8);
        uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
        set_rip(uc, addr + 1);
        r->hits++;
    } else if (addr == POPF_AT && r->mode == 2) {
        uc_mem_read(uc, rsp, &v, 8);
        rsp += 8;
        uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
        uc_reg_read(uc, UC_X86_REG_RFLAGS, &fl);
        fl = (fl & ~RF_ARITH) | (v & RF_ARITH);
        uc_reg_write(uc, UC_X86_REG_RFLAGS, &fl);
        set_rip(uc, addr + 1);
        r->hits++;
    }
}

/* One run of n iterations; returns 0 on an engine error. */
static void idle_hook(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    (void)uc; (void)addr; (void)size; (void)ud;
}

static int run_loop(int mode, uint64_t n, unsigned extra, uint64_t *r8, uint64_t *r9, uint64_t *hits, double *ns)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
        return 0;
    uc_mem_map(uc, 0, 2u << 20, UC_PROT_ALL);
    uc_mem_write(uc, CODE, loop_code, sizeof(loop_code));
    /* RSP, the addend, the first sum, the count, the two checksums */
    const struct { int reg; uint64_t v; } init[] = {
        { UC_X86_REG_RSP, STACK }, { UC_X86_REG_RBX, 0x9E3779B97F4A7C15ull }, { UC_X86_REG_RCX, 1 },
        { UC_X86_REG_RSI, n },     { UC_X86_REG_R8, 0 },                       { UC_X86_REG_R9, 0 },
    };
    for (unsigned i = 0; i < sizeof(init) / sizeof(init[0]); i++)
        uc_reg_write(uc, init[i].reg, &init[i].v);
    struct run r = { mode, 0 };
    uc_hook h;
    /* code hooks elsewhere (hvsim's other sites): Unicorn 2.0.1 walks the
     * whole list at every hooked instruction unless a hook stops the engine */
    for (unsigned i = 0; i < extra; i++) {
        uc_hook x;
        if (uc_hook_add(uc, &x, UC_HOOK_CODE, idle_hook, NULL, 0x180000 + 16 * i, 0x180000 + 16 * i) != UC_ERR_OK) {
            uc_close(uc);
            return 0;
        }
    }
    if (mode && uc_hook_add(uc, &h, UC_HOOK_CODE, hook, &r, PUSHF_AT, mode == 2 ? POPF_AT : PUSHF_AT) != UC_ERR_OK) {
        uc_close(uc);
        return 0;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uc_err e = uc_emu_start(uc, CODE, END_AT, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t rip = 0;
    uc_reg_read(uc, UC_X86_REG_R8, r8);
    uc_reg_read(uc, UC_X86_REG_R9, r9);
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    uc_close(uc);
    *hits = r.hits;
    *ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
    return e == UC_ERR_OK && rip == END_AT;
}

int main(int argc, char **argv)
{
    int figures = argc > 1 && !strcmp(argv[1], "--figures");
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 0) : 200000;
    unsigned extra = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0;
    if ((argc > 1 && !figures) || extra > 4096) {
        fprintf(stderr, "usage: inhook_probe [--figures [ITERATIONS [OTHER_HOOKS (at most 4096)]]]\n");
        return 2;
    }
    int failed = 0;
    uint64_t r8[3], r9[3], hits[3];
    double ns[3];
    for (int m = 0; m < 3; m++) {
        if (!run_loop(m, n, extra, &r8[m], &r9[m], &hits[m], &ns[m])) {
            printf("FAIL mode %d: the run did not end at the loop's end\n", m);
            failed = 1;
            continue;
        }
        uint64_t want_hits = m == 0 ? 0 : m == 1 ? n : 2 * n;
        int ok = hits[m] == want_hits && (m == 0 || (r8[m] == r8[0] && r9[m] == r9[0]));
        printf("%s mode %d (%s): R8 %#llx R9 %llu, hook ran %llu times (want %llu)", ok ? "ok  " : "FAIL", m,
               m == 0 ? "no hook" : m == 1 ? "PUSHF in the hook" : "PUSHF and POPF in the hook",
               (unsigned long long)r8[m], (unsigned long long)r9[m], (unsigned long long)hits[m],
               (unsigned long long)want_hits);
        if (figures)
            printf(", %.1f ns per iteration", ns[m]);
        printf("\n");
        failed |= !ok;
    }
    /* the checksum must have seen CF both ways, or the check proves little */
    if (!failed && (r9[0] == 0 || r9[0] == n)) {
        printf("FAIL the loop's POPF loaded CF = %s every time: the check does not discriminate\n",
               r9[0] ? "1" : "0");
        failed = 1;
    }
    return failed;
}
