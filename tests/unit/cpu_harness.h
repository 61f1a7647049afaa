/*
 * cpu_harness.h — a minimal machine for CPU unit tests: guest RAM from
 * sim/physmem, a logical processor from cpu_create(), the boot protocol's
 * entry state (sim/boot.c), an IDT whose every vector leads to its own
 * one-byte HLT handler, and a platform that records port I/O and events.
 *
 * Physical = linear below 4 GiB (the boot identity map, 2-MiB pages).
 *
 *   0x010000  boot structures (page tables, GDT, boot info, stack)
 *   0x100000  CODE_PA: the snippet under test
 *   0x180000  IDT_PA:  256 IA-32e gates (SDM 3A 6.14.1, figure 6-8)
 *   0x190000  HANDLERS: handler for vector v at HANDLERS + 16 v: HLT
 *   0x1A0000  TSS_PA:  a 64-bit TSS (for IST and ring transitions)
 *   0x1C0000  IST1_TOP / 0x1D0000 RSP0_TOP: stacks named by that TSS
 *
 * A test that stops on a HLT in the handler area knows which vector was
 * delivered (cpu RIP - 1), and the interrupt frame is at RSP.
 *
 * Everything is static inline so that each test includes what it uses.
 */
#ifndef HVSIM_TEST_CPU_HARNESS_H
#define HVSIM_TEST_CPU_HARNESS_H

#include <stdint.h>

#include "boot.h"
#include "cpu.h"
#include "harness.h"
#include "paging.h"
#include "physmem.h"

#define TM_MEM      (32ull << 20)
#define CODE_PA     0x100000ull
#define CODE_MAX    0x10000ull
#define IDT_PA      0x180000ull
#define HANDLERS    0x190000ull
#define TSS_PA      0x1A0000ull
#define IST1_TOP    0x1C0000ull
#define RSP0_TOP    0x1D0000ull
#define SCRATCH_PA  0x1E0000ull
#define GATE_INT    0xE
#define GATE_TRAP   0xF

#define TM_MAX_EV 256
#define TM_MAX_IO 64

struct tm_io { bool in; uint16_t port; unsigned size; uint32_t val; };

struct tm {
    physmem_t *m;
    cpu_t *cpu;
    struct boot_layout l;
    uint64_t entry_rsp;
    unsigned nev;
    struct cpu_event ev[TM_MAX_EV];
    char unmodelled_text[512];
    unsigned nio;
    struct tm_io io[TM_MAX_IO];
    uint16_t stop_port;          /* OUT here: CPU_IO_STOP (0xF4 by default) */
    /* IPI routing for multi-LP tests (tm_create_mp); NULL: the platform has
     * no ipi callback and only self-directed IPIs reach anyone. */
    void (*ipi)(void *ctx, cpu_t *from, const struct cpu_ipi *m);
    void *ipi_ctx;
};

static inline void tm_span(void *ctx, uint64_t pa, struct cpu_phys_span *out)
{
    struct tm *t = ctx;
    pmem_span(t->m, pa, out);
}

static inline enum cpu_io_result tm_in(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t *val)
{
    struct tm *t = ctx;
    (void)cpu;
    if (port != 0xE9)
        return CPU_IO_UNMODELLED;
    *val = 0xE9;
    if (t->nio < TM_MAX_IO)
        t->io[t->nio++] = (struct tm_io){ true, port, size, 0xE9 };
    return CPU_IO_OK;
}

static inline enum cpu_io_result tm_out(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t val)
{
    struct tm *t = ctx;
    (void)cpu;
    if (port != 0xE9 && port != t->stop_port)
        return CPU_IO_UNMODELLED;
    if (t->nio < TM_MAX_IO)
        t->io[t->nio++] = (struct tm_io){ false, port, size, val };
    return port == t->stop_port ? CPU_IO_STOP : CPU_IO_OK;
}

static inline void tm_event(void *ctx, cpu_t *cpu, const struct cpu_event *ev)
{
    struct tm *t = ctx;
    (void)cpu;
    if (ev->kind == CPU_EV_UNMODELLED && ev->text)
        snprintf(t->unmodelled_text, sizeof(t->unmodelled_text), "%s", ev->text);
    if (t->nev < TM_MAX_EV) {
        t->ev[t->nev] = *ev;
        t->ev[t->nev].text = NULL;
        t->ev[t->nev].bytes = NULL;
        t->nev++;
    }
}

static inline void tm_ipi(void *ctx, cpu_t *from, const struct cpu_ipi *m)
{
    struct tm *t = ctx;
    t->ipi(t->ipi_ctx, from, m);
}

/* Write guest memory from the host (and tell the CPU, code may live there). */
static inline void tm_poke(struct tm *t, uint64_t pa, const void *p, size_t n)
{
    ck_assert_msg(pmem_write(t->m, pa, p, n), "tm_poke %#llx outside RAM", (unsigned long long)pa);
    if (t->cpu)
        cpu_notify_phys_write(t->cpu, pa, n);
}

static inline uint64_t tm_peek64(struct tm *t, uint64_t pa)
{
    uint64_t v = 0;
    ck_assert_msg(pmem_read(t->m, pa, &v, 8), "tm_peek64 %#llx outside RAM", (unsigned long long)pa);
    return v;
}

static inline void tm_poke64(struct tm *t, uint64_t pa, uint64_t v) { tm_poke(t, pa, &v, 8); }

/* IA-32e interrupt/trap gate (SDM 3A 6.14.1, figure 6-8). */
static inline void tm_gate(struct tm *t, unsigned vec, unsigned type, bool present, unsigned dpl, unsigned ist)
{
    uint64_t target = HANDLERS + 16ull * vec;
    uint64_t lo = (target & 0xFFFF) | ((uint64_t)BOOT_SEL_CODE64 << 16) | ((uint64_t)(ist & 7) << 32) |
                  ((uint64_t)(type & 0xF) << 40) | ((uint64_t)(dpl & 3) << 45) | ((uint64_t)present << 47) |
                  (((target >> 16) & 0xFFFF) << 48);
    uint64_t hi = target >> 32;
    tm_poke64(t, IDT_PA + 16ull * vec, lo);
    tm_poke64(t, IDT_PA + 16ull * vec + 8, hi);
}

static inline void tm_idt_limit(struct tm *t, uint16_t limit)
{
    struct cpu_dtr idtr = { IDT_PA, limit };
    cpu_set_dtr(t->cpu, true, &idtr);
    cpu_commit_state(t->cpu);
}

/* A 64-bit TSS (SDM 3A 8.7, figure 8-11) with RSP0 and IST1, loaded in TR
 * directly (the GDT of the boot protocol has no TSS descriptor). */
static inline void tm_tss(struct tm *t)
{
    uint8_t tss[0x68] = { 0 };
    uint64_t rsp0 = RSP0_TOP, ist1 = IST1_TOP;
    memcpy(tss + 4, &rsp0, 8);
    memcpy(tss + 0x24, &ist1, 8);
    tss[0x66] = 0x68;                           /* I/O map base beyond the limit: no bitmap */
    tm_poke(t, TSS_PA, tss, sizeof(tss));
    struct cpu_seg tr = { 0x18, TSS_PA, 0x67, 0xB | SEG_ATTR_P };
    cpu_set_seg(t->cpu, CPU_TR, &tr);
    cpu_commit_state(t->cpu);
}

static inline void tm_release_cpu(void *p) { cpu_destroy(p); }
static inline void tm_release_mem(void *p) { pmem_destroy(p); }

/* Create the machine, load `code` at CODE_PA, enter the boot state, and
 * install the IDT (all 256 vectors: present interrupt gates, DPL 0).
 * tm_create_mp: LP `lp` of a machine of `nlps` LPs (0: lp + 1, and CPUID reports one LP),
 * with its own RAM; `ipi` (may be NULL) routes the IPIs it sends, so that
 * several struct tm can form one machine for IPI tests. */
static inline void tm_create_mp(struct tm *t, const void *code, size_t n, const struct cpu_profile *prof,
                                unsigned lp, unsigned nlps,
                                void (*ipi)(void *ctx, cpu_t *from, const struct cpu_ipi *m), void *ipi_ctx)
{
    memset(t, 0, sizeof(*t));
    t->stop_port = 0xF4;
    t->ipi = ipi;
    t->ipi_ctx = ipi_ctx;
    ck_assert_int_eq(pmem_create(TM_MEM, &t->m), PMEM_OK);
    harness_own(tm_release_mem, t->m);
    struct cpu_platform plat = { t, tm_span, tm_in, tm_out, tm_event, ipi ? tm_ipi : NULL };
    struct cpu_config cc = { .profile = prof, .lp_index = lp, .lp_count = nlps, .seed = 1 };
    ck_assert_int_eq(cpu_create(&cc, &plat, &t->cpu), CPU_OK);
    harness_own(tm_release_cpu, t->cpu);
    ck_assert(n <= CODE_MAX);
    struct elf_image img = { .entry = CODE_PA, .nseg = 1 };
    img.seg[0] = (struct elf_segment){ CODE_PA, CODE_PA, 0, n, CODE_MAX, 5 };
    unsigned boot_nlps = nlps ? nlps : lp + 1;
    struct boot_params bp = { boot_nlps, NULL, 2000000000ull };
    char msg[256] = "";
    ck_assert_msg(boot_prepare(t->m, &img, code, n, &bp, &t->l, msg, sizeof(msg)), "boot_prepare: %s", msg);
    boot_cpu_state(t->cpu, &t->l, lp, boot_nlps);
    t->entry_rsp = cpu_get(t->cpu, CPU_RSP);
    uint8_t hlt[256 * 16];
    memset(hlt, 0xCC, sizeof(hlt));
    for (unsigned v = 0; v < 256; v++)
        hlt[16 * v] = 0xF4;
    tm_poke(t, HANDLERS, hlt, sizeof(hlt));
    for (unsigned v = 0; v < 256; v++)
        tm_gate(t, v, GATE_INT, true, 0, 0);
    tm_idt_limit(t, 256 * 16 - 1);
}

static inline void tm_create_with(struct tm *t, const void *code, size_t n, const struct cpu_profile *prof,
                                  unsigned lp)
{
    tm_create_mp(t, code, n, prof, lp, 0, NULL, NULL);
}

static inline void tm_create(struct tm *t, const void *code, size_t n) { tm_create_with(t, code, n, NULL, 0); }

static inline void tm_destroy(struct tm *t)
{
    harness_release(t->cpu);
    harness_release(t->m);
    t->cpu = NULL;
    t->m = NULL;
}

/* Vector whose handler HLT stopped the CPU, or -1. */
static inline int tm_vector(struct tm *t)
{
    uint64_t rip = cpu_get(t->cpu, CPU_RIP);
    if (rip < HANDLERS + 1 || rip > HANDLERS + 256 * 16 || (rip - HANDLERS - 1) % 16)
        return -1;
    return (int)((rip - HANDLERS - 1) / 16);
}

/* The n-th qword of the stack (0 = at RSP). */
static inline uint64_t tm_stack(struct tm *t, unsigned n)
{
    return tm_peek64(t, cpu_get(t->cpu, CPU_RSP) + 8ull * n);
}

/* Number of recorded events of a kind, and the last one. */
static inline unsigned tm_count(const struct tm *t, enum cpu_event_kind k, const struct cpu_event **last)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->nev; i++)
        if (t->ev[i].kind == k) {
            n++;
            if (last)
                *last = &t->ev[i];
        }
    return n;
}

/* Paging-structure entry for a linear address below 512 GiB in the boot
 * identity map: level 4 (PML4E), 3 (PDPTE) or 2 (the 2-MiB leaf PDE). */
static inline uint64_t tm_entry_pa(struct tm *t, uint64_t la, unsigned level)
{
    uint64_t pml4e_pa = t->l.pml4 + 8 * ((la >> 39) & 511);
    if (level == 4)
        return pml4e_pa;
    uint64_t pdpte_pa = (tm_peek64(t, pml4e_pa) & 0xFFFFFFFFFF000ull) + 8 * ((la >> 30) & 511);
    if (level == 3)
        return pdpte_pa;
    return (tm_peek64(t, pdpte_pa) & 0xFFFFFFFFFF000ull) + 8 * ((la >> 21) & 511);
}

/* Change the 2-MiB leaf for la: clear `clr` then set `set` (and flush). */
static inline void tm_pde_modify(struct tm *t, uint64_t la, uint64_t clr, uint64_t set)
{
    uint64_t pa = tm_entry_pa(t, la, 2);
    tm_poke64(t, pa, (tm_peek64(t, pa) & ~clr) | set);
    cpu_commit_state(t->cpu);
}

/* Drop to CPL 3 at the current RIP: the first 4 MiB (code, IDT, handlers,
 * TSS, stacks) become user-accessible (U/S in the PML4E, PDPTE and the two
 * PDEs), CS/SS become DPL-3 flat selectors 0x2B/0x33 (as a SYSRET would load),
 * RSP = user_rsp, and a TSS supplies RSP0 for the way back to CPL 0. */
#define USER_CS 0x2B
#define USER_SS 0x33
static inline void tm_enter_user(struct tm *t, uint64_t user_rsp)
{
    tm_tss(t);
    uint64_t e4 = tm_entry_pa(t, CODE_PA, 4), e3 = tm_entry_pa(t, CODE_PA, 3);
    tm_poke64(t, e4, tm_peek64(t, e4) | PTE_US);
    tm_poke64(t, e3, tm_peek64(t, e3) | PTE_US);
    tm_pde_modify(t, 0, 0, PTE_US);
    tm_pde_modify(t, 0x200000, 0, PTE_US);
    struct cpu_seg cs = { USER_CS, 0, 0xFFFFFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G | (3u << 5) };
    struct cpu_seg ss = { USER_SS, 0, 0xFFFFFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G | (3u << 5) };
    cpu_set_seg(t->cpu, CPU_CS, &cs);
    cpu_set_seg(t->cpu, CPU_SS, &ss);
    cpu_set(t->cpu, CPU_RSP, user_rsp);
    cpu_commit_state(t->cpu);
}

/* Little assembler helpers: append bytes to a buffer. */
struct code { uint8_t b[512]; size_t n; };
static inline void c_bytes(struct code *c, const void *p, size_t n)
{
    ck_assert(c->n + n <= sizeof(c->b));
    memcpy(c->b + c->n, p, n);
    c->n += n;
}
#define C(c, ...) do { static const uint8_t _b[] = { __VA_ARGS__ }; c_bytes((c), _b, sizeof(_b)); } while (0)
static inline void c_imm(struct code *c, uint64_t v, unsigned w)
{
    for (unsigned i = 0; i < w; i++) {
        uint8_t x = (uint8_t)(v >> (8 * i));
        c_bytes(c, &x, 1);
    }
}
/* mov r64, imm64 (REX.W B8+r io); r: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi */
static inline void c_mov_imm64(struct code *c, unsigned r, uint64_t v)
{
    uint8_t op[2] = { 0x48, (uint8_t)(0xB8 + r) };
    c_bytes(c, op, 2);
    c_imm(c, v, 8);
}
/* mov r32, imm32 (B8+r id): zero-extends */
static inline void c_mov_imm32(struct code *c, unsigned r, uint32_t v)
{
    uint8_t op = (uint8_t)(0xB8 + r);
    c_bytes(c, &op, 1);
    c_imm(c, v, 4);
}

#endif
