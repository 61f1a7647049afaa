/*
 * unicorn_quirks.c — re-measures, on the installed Unicorn, every engine
 * behaviour cpu/ relies on (docs/cpu-mmu.md, "Evidence"). Each check prints
 * one line and the program exits non-zero if any assumption no longer holds,
 * so a new Unicorn package that changes behaviour is caught by `make check`
 * (CTest label "probe"). `--figures` also prints timings (for the docs; the
 * pass/fail result never depends on time).
 *
 * Self-contained on purpose: it talks to Unicorn directly, not through cpu/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#define POOL 0x000000FF00000000ull      /* engine-physical page-table pool (< 2^40) */

static int failures;

static void check(bool ok, const char *what)
{
    printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

struct eng {
    uc_engine *uc;
    uint64_t *pool;
    int next;
    int intr_vec;
    uint64_t intr_rip, intr_cr2, intr_flags;
};

static void on_intr(uc_engine *uc, uint32_t n, void *ud)
{
    struct eng *e = ud;
    e->intr_vec = (int)n;
    uc_reg_read(uc, UC_X86_REG_RIP, &e->intr_rip);
    uc_reg_read(uc, UC_X86_REG_CR2, &e->intr_cr2);
    uc_reg_read(uc, UC_X86_REG_EFLAGS, &e->intr_flags);
    uc_emu_stop(uc);
}

/* Identity-free shadow entry: map linear page la with flags, frame 0. */
static void shadow_map(struct eng *e, uint64_t la, uint64_t flags)
{
    int cur = 0;
    for (int l = 3; l >= 1; l--) {
        unsigned i = (la >> (12 + 9 * l)) & 511;
        uint64_t *t = e->pool + 512 * cur;
        if (!(t[i] & 1)) {
            int n = ++e->next;
            t[i] = (POOL + 4096ull * n) | 7;
        }
        cur = (int)(((t[i] & ~0xFFFull) - POOL) / 4096);
    }
    e->pool[512 * cur + ((la >> 12) & 511)] = flags;
}

static void eng_open(struct eng *e, bool paging)
{
    memset(e, 0, sizeof(*e));
    uc_open(UC_ARCH_X86, UC_MODE_64, &e->uc);
    e->pool = aligned_alloc(4096, 64 * 4096);
    memset(e->pool, 0, 64 * 4096);
    uc_mem_map_ptr(e->uc, POOL, 64 * 4096, UC_PROT_READ | UC_PROT_WRITE, e->pool);
    uc_hook h;
    uc_hook_add(e->uc, &h, UC_HOOK_INTR, (void *)on_intr, e, 1, 0);
    e->intr_vec = -1;
    if (paging) {
        uint64_t cr4 = 0x20, cr3 = POOL, cr0 = 0x80010031;
        uc_reg_write(e->uc, UC_X86_REG_CR4, &cr4);
        uc_reg_write(e->uc, UC_X86_REG_CR3, &cr3);
        uc_reg_write(e->uc, UC_X86_REG_CR0, &cr0);
    }
}

static void eng_close(struct eng *e)
{
    uc_close(e->uc);
    free(e->pool);
}

static uint64_t reg(struct eng *e, int r)
{
    uint64_t v = 0;
    uc_reg_read(e->uc, r, &v);
    return v;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    bool figures = argc > 1 && !strcmp(argv[1], "--figures");
    struct eng e;

    /* 1. With the engine's paging on, data comes from the engine region at
     *    the LINEAR address; the frame in the page-table entry is ignored
     *    (Unicorn issue #1953). hvsim's shadow entries only carry rights. */
    eng_open(&e, true);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    uc_mem_map(e.uc, 0x40000000, 0x1000, UC_PROT_ALL);
    uc_mem_map(e.uc, 0x600000, 0x1000, UC_PROT_ALL);
    uint64_t a = 0xAAAA, b = 0xBBBB;
    uc_mem_write(e.uc, 0x600000, &a, 8);
    uc_mem_write(e.uc, 0x40000000, &b, 8);
    shadow_map(&e, 0x100000, 0x100000 | 0x63);
    shadow_map(&e, 0x40000000, 0x600000 | 0x63);         /* frame says 0x600000 */
    static const uint8_t ld[] = { 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xf4 };
    uc_mem_write(e.uc, 0x100000, ld, sizeof(ld));
    uc_emu_start(e.uc, 0x100000, 0x100000 + sizeof(ld) - 1, 0, 0);
    check(reg(&e, UC_X86_REG_RAX) == 0xBBBB, "paging on: data comes from the region at the linear address");

    /* 2. A missing shadow entry raises #PF through the INTR hook with exact
     *    RIP and RFLAGS (the unmapped-memory hook does not: see 3). */
    static const uint8_t pf[] = { 0x48, 0xc7, 0xc3, 0x05, 0, 0, 0, 0x48, 0x83, 0xeb, 0x07,
                                  0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xf4 };
    uc_mem_write(e.uc, 0x100100, pf, sizeof(pf));
    uint64_t fl = 2;
    uc_reg_write(e.uc, UC_X86_REG_EFLAGS, &fl);
    uc_emu_start(e.uc, 0x100100, 0x100100 + sizeof(pf) - 1, 0, 0);
    check(e.intr_vec == 14 && e.intr_rip == 0x10010b && e.intr_cr2 == 0x600000 && (e.intr_flags & 0xFF) == 0x93,
          "paging on: #PF reaches the INTR hook with exact RIP, CR2 and flags");

    /* 3. The engine's #DF tracker is never reset when the INTR hook handles
     *    an exception: the next #PF comes out as vector 8. */
    e.intr_vec = -1;
    uc_emu_start(e.uc, 0x100100, 0x100100 + sizeof(pf) - 1, 0, 0);
    check(e.intr_vec == 8, "the second #PF is reported as #DF (tracker not reset)");
    eng_close(&e);

    /* 4. Without paging, a fault in the unmapped hook leaves RIP at the block
     *    start and stale flags: unusable for precise faults. */
    eng_open(&e, false);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    uc_mem_write(e.uc, 0x100100, pf, sizeof(pf));
    fl = 2;
    uc_reg_write(e.uc, UC_X86_REG_EFLAGS, &fl);
    uc_emu_start(e.uc, 0x100100, 0x100100 + sizeof(pf) - 1, 0, 0);
    check(reg(&e, UC_X86_REG_RIP) != 0x10010b || (reg(&e, UC_X86_REG_EFLAGS) & 0xFF) != 0x93,
          "paging off: an unmapped-access stop has an inexact RIP or stale flags");
    eng_close(&e);

    /* 5. At the end of every run the engine translates `until - 1`; with
     *    paging on and that page absent, a #PF is raised behind the hooks
     *    (visible as CR2 = until - 1). */
    eng_open(&e, true);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    shadow_map(&e, 0x100000, 0x63);
    static const uint8_t nop_hlt[] = { 0x90, 0xf4 };
    uc_mem_write(e.uc, 0x100000, nop_hlt, sizeof(nop_hlt));
    uc_emu_start(e.uc, 0x100000, 0x7000000, 0, 0);
    check(reg(&e, UC_X86_REG_CR2) == 0x7000000 - 1, "each run translates until-1 (CR2 = until - 1 afterwards)");
    eng_close(&e);

    /* 6. In 64-bit mode a segment-register write changes only the selector. */
    eng_open(&e, false);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    uint64_t sel = 0x2b;
    uc_err ue = uc_reg_write(e.uc, UC_X86_REG_DS, &sel);
    sel = 0x33;
    uc_err ue2 = uc_reg_write(e.uc, UC_X86_REG_CS, &sel);
    static const uint8_t movcs[] = { 0x66, 0x8c, 0xd8, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xf4 };
    uc_mem_write(e.uc, 0x100000, movcs, sizeof(movcs));
    uc_emu_start(e.uc, 0x100000, 0x100000 + sizeof(movcs) - 1, 0, 0);
    check(ue == UC_ERR_OK && ue2 == UC_ERR_OK && reg(&e, UC_X86_REG_RAX) == 0x0807060504030201ull,
          "64-bit mode: selector writes succeed without descriptor loads and code stays 64-bit");
    eng_close(&e);

    /* 7. With paging on, a register write of CR3 does not flush the
     *    engine's TLB; flipping a region between read-only and read-write
     *    does (cpu/view.c engine_tlb_flush). */
    eng_open(&e, true);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    uc_mem_map(e.uc, 0x200000, 0x1000, UC_PROT_ALL);
    uc_mem_map(e.uc, 0x300000, 0x1000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_protect(e.uc, 0x300000, 0x1000, UC_PROT_READ);
    shadow_map(&e, 0x100000, 0x63);
    shadow_map(&e, 0x200000, 0x63);
    static const uint8_t rd[] = { 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4 };
    uc_mem_write(e.uc, 0x100000, rd, sizeof(rd));
    uc_emu_start(e.uc, 0x100000, 0x100000 + sizeof(rd) - 1, 0, 0);
    shadow_map(&e, 0x200000, 0);                         /* remove the translation */
    uint64_t cr3 = POOL;
    uc_reg_write(e.uc, UC_X86_REG_CR3, &cr3);
    e.intr_vec = -1;
    uc_emu_start(e.uc, 0x100000, 0x100000 + sizeof(rd) - 1, 0, 0);
    check(e.intr_vec == -1, "a register write of CR3 leaves the engine's TLB in place");
    uc_mem_protect(e.uc, 0x300000, 0x1000, UC_PROT_READ | UC_PROT_WRITE);
    e.intr_vec = -1;
    uc_emu_start(e.uc, 0x100000, 0x100000 + sizeof(rd) - 1, 0, 0);
    check(e.intr_vec == 14, "making a region writable flushes the engine's TLB");
    eng_close(&e);

    /* 8. A register write of CR0.TS does not make x87 instructions raise
     *    #NM; a MOV CR0 executed in the engine does (mode flags). */
    eng_open(&e, false);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    uint64_t cr0 = 0x11 | 0x8 | 0x20;
    uc_reg_write(e.uc, UC_X86_REG_CR0, &cr0);
    static const uint8_t fld1[] = { 0xd9, 0xe8, 0xf4 };
    uc_mem_write(e.uc, 0x100000, fld1, sizeof(fld1));
    uc_emu_start(e.uc, 0x100000, 0x100002, 0, 0);
    bool reg_nm = e.intr_vec == 7;
    static const uint8_t movcr0[] = { 0x0f, 0x22, 0xc0, 0xd9, 0xe8, 0xf4 };
    uc_mem_write(e.uc, 0x100100, movcr0, sizeof(movcr0));
    uc_reg_write(e.uc, UC_X86_REG_RAX, &cr0);
    e.intr_vec = -1;
    uc_emu_start(e.uc, 0x100100, 0x100105, 0, 0);
    check(!reg_nm && e.intr_vec == 7, "CR0.TS: no #NM after a register write, #NM after MOV CR0 in the engine");
    eng_close(&e);

    /* 9. `until` inside a block that is already translated still stops the
     *    engine there: the block holding until - 1 is dropped and translated
     *    again, ending at `until` (at the cost of a retranslation). */
    eng_open(&e, false);
    uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
    static const uint8_t incs[] = { 0x48, 0xff, 0xc1, 0x48, 0xff, 0xc1, 0x48, 0xff, 0xc1, 0xf4 };
    uc_mem_write(e.uc, 0x100000, incs, sizeof(incs));
    uc_emu_start(e.uc, 0x100000, 0x100009, 0, 0);          /* translates the whole block */
    uint64_t zero = 0;
    uc_reg_write(e.uc, UC_X86_REG_RCX, &zero);
    uc_emu_start(e.uc, 0x100000, 0x100003, 0, 0);
    check(reg(&e, UC_X86_REG_RCX) == 1, "until = a mid-block address stops there even when the block exists");
    eng_close(&e);

    /* 10. RDRAND, POPCNT, XSAVE and AVX raise #UD in the engine; LZCNT, BMI2,
     *    SSE4.2, AES-NI and RDTSCP execute (the CPU profiles rely on this). */
    static const struct { const char *name; uint8_t b[8]; unsigned n; bool works; } isa[] = {
        { "rdrand", { 0x48, 0x0f, 0xc7, 0xf0 }, 4, false }, { "popcnt", { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 }, 5, false },
        { "xsave", { 0x0f, 0xae, 0x20 }, 3, false }, { "vaddps", { 0xc5, 0xf4, 0x58, 0xc2 }, 4, false },
        { "lzcnt", { 0xf3, 0x48, 0x0f, 0xbd, 0xc1 }, 5, true }, { "pdep", { 0xc4, 0xe2, 0xf3, 0xf5, 0xc2 }, 5, true },
        { "pcmpestri", { 0x66, 0x0f, 0x3a, 0x61, 0xc1, 0x00 }, 6, true }, { "aesenc", { 0x66, 0x0f, 0x38, 0xdc, 0xc1 }, 5, true },
    };
    for (unsigned i = 0; i < sizeof(isa) / sizeof(isa[0]); i++) {
        eng_open(&e, false);
        uc_mem_map(e.uc, 0x100000, 0x2000, UC_PROT_ALL);
        uint64_t cr4 = 0x600, rax = 0x101000;
        uc_reg_write(e.uc, UC_X86_REG_CR4, &cr4);
        uc_reg_write(e.uc, UC_X86_REG_RAX, &rax);
        uint8_t code[16] = { 0 };
        memcpy(code, isa[i].b, isa[i].n);
        code[isa[i].n] = 0xf4;
        uc_mem_write(e.uc, 0x100000, code, sizeof(code));
        uc_err r = uc_emu_start(e.uc, 0x100000, 0x100000 + isa[i].n, 0, 0);
        bool works = r == UC_ERR_OK && e.intr_vec < 0;
        char what[80];
        snprintf(what, sizeof(what), "engine %s %s", isa[i].works ? "executes" : "rejects", isa[i].name);
        check(works == isa[i].works, what);
        eng_close(&e);
    }

    /* 11. Figures: cost of a store (Unicorn 2.0.1 takes a slow path for every
     *    store) against a load, in a 10M-iteration loop. */
    if (figures) {
        static const struct { const char *name; uint8_t body[8]; unsigned n; } loops[] = {
            { "nop", { 0x90 }, 1 },
            { "load", { 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00 }, 8 },
            { "store", { 0x48, 0x89, 0x1c, 0x25, 0x08, 0x00, 0x20, 0x00 }, 8 },
        };
        for (unsigned i = 0; i < 3; i++) {
            eng_open(&e, false);
            uc_mem_map(e.uc, 0x100000, 0x1000, UC_PROT_ALL);
            uc_mem_map(e.uc, 0x200000, 0x1000, UC_PROT_ALL);
            uint8_t code[64];
            unsigned k = 0;
            static const uint8_t pre[] = { 0x48, 0xc7, 0xc1, 0x80, 0x96, 0x98, 0x00 };
            memcpy(code, pre, 7);
            k = 7;
            memcpy(code + k, loops[i].body, loops[i].n);
            k += loops[i].n;
            code[k++] = 0x48; code[k++] = 0xff; code[k++] = 0xc9;
            code[k++] = 0x75; code[k] = (uint8_t)(7 - (k + 1)); k++;
            code[k++] = 0xf4;
            uc_mem_write(e.uc, 0x100000, code, k);
            double t0 = now();
            uc_emu_start(e.uc, 0x100000, 0x100000 + k - 1, 0, 0);
            printf("figure: loop with one %-5s per iteration: %.1f ns/iteration\n", loops[i].name,
                   (now() - t0) / 10e6 * 1e9);
            eng_close(&e);
        }
    }
    printf("%d assumption(s) failed\n", failures);
    return failures ? 1 : 0;
}
