/*
 * cpu.c — a logical processor: engine set-up, the Unicorn hooks, the run
 * loop, register access and the public API of cpu.h.
 *
 * Hooks (all run inside uc_emu_start and leave only through uc_emu_stop with
 * a recorded cpu->pend; none longjmps):
 *  - block hook: accounts time for the previous translation block, scans
 *    new blocks for sensitive instructions and fetch permission, enforces the
 *    instruction budget (docs/cpu-mmu.md "Interception");
 *  - site hooks: one UC_HOOK_CODE per sensitive instruction address;
 *  - INTR hook: exceptions the engine raised (translation-cache misses are
 *    filled in place and the instruction retried);
 *  - unmapped hook: creates linear-view windows on demand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_priv.h"

const char *cpu_strerror(cpu_err e)
{
    switch (e) {
    case CPU_OK: return "success";
    case CPU_ERR_NOMEM: return "out of host memory";
    case CPU_ERR_UNICORN: return "the Unicorn engine refused an operation";
    case CPU_ERR_QUIRK: return "the Unicorn engine does not behave as hvsim requires";
    case CPU_ERR_ARG: return "invalid argument";
    }
    return "unknown error";
}

const char *cpu_stop_name(enum cpu_stop s)
{
    switch (s) {
    case CPU_STOP_BUDGET: return "budget";
    case CPU_STOP_HALTED: return "halted";
    case CPU_STOP_SHUTDOWN: return "shutdown";
    case CPU_STOP_PLATFORM: return "platform";
    case CPU_STOP_UNMODELLED: return "unmodelled";
    case CPU_STOP_INTERNAL: return "internal";
    }
    return "?";
}

/* ---- engine registers ---- */

/* The 64-bit general registers in encoding order, which is also the order
 * of the engine's regs[] (gpr_uc, and eng_env_slot below, are made from
 * this one list). */
#define ENG_GPRS(X) X(RAX) X(RCX) X(RDX) X(RBX) X(RSP) X(RBP) X(RSI) X(RDI) \
                    X(R8) X(R9) X(R10) X(R11) X(R12) X(R13) X(R14) X(R15)

static const int gpr_uc[16] = {
#define GPR_UC(r) UC_X86_REG_##r,
    ENG_GPRS(GPR_UC)
#undef GPR_UC
};

/* Engine registers read between engine runs are kept (a VM exit reads RIP,
 * RFLAGS and the operands dozens of times, each uc_reg_read a large switch
 * in the engine). The cache holds values the engine returned, and values
 * written to the general registers and RIP (RIP reaches the engine only at
 * the next drop or context save: eng_flush_rip); a write of RFLAGS forgets the
 * flags (the engine may normalize them); a write of any other register
 * (it may alias others), an engine run or a context restore drops it all.
 * Inside hooks (cpu->in_engine) it is not used. */
_Static_assert(UC_X86_REG_ENDING <= 64 * sizeof(((cpu_t *)0)->regc_valid) / sizeof(uint64_t) &&
                   sizeof(((cpu_t *)0)->regc_plain) == sizeof(((cpu_t *)0)->regc_valid) &&
                   UC_X86_REG_ENDING <= sizeof(((cpu_t *)0)->regc_val) / sizeof(uint64_t),
               "the register cache covers every engine register id");

/* RIP written through eng_set is kept in the cache and written to the
 * engine here: before the cache is dropped (every engine run, context save
 * or restore goes through a drop or calls this). An emulated instruction
 * and the ones chained to it set RIP several times between two runs. */
void eng_flush_rip(cpu_t *cpu)
{
    if (!cpu->rip_dirty)
        return;
    cpu->rip_dirty = false;
    uc_reg_write(cpu->uc, UC_X86_REG_RIP, &cpu->regc_val[UC_X86_REG_RIP]);
}

void eng_cache_drop(cpu_t *cpu)
{
    eng_flush_rip(cpu);
    memset(cpu->regc_valid, 0, sizeof(cpu->regc_valid));
}

/* Where the engine keeps the 64-bit general registers and RIP in its CPU
 * state (QEMU's regs[16], then eip), plus one; 0: elsewhere. With the state
 * found and checked (eng_layout_find, eng_env_check) these registers are
 * read and written there: Unicorn 2.0.1's uc_reg_read and uc_reg_write do
 * the same load or store after a dispatch of about 100 host instructions,
 * and a VM-exit round trip made about 60 such calls. The one thing the API
 * adds is for RIP: a write stops a running engine (x86_reg_write sets
 * quit_request and calls uc_emu_stop), so RIP written inside hooks still
 * goes through it; outside, uc_emu_start writes the start address anyway. */
enum eng_gpr_pos {
#define GPR_POS(r) GPR_POS_##r,
    ENG_GPRS(GPR_POS)
#undef GPR_POS
    GPR_POS_RIP                                 /* eip follows regs[] */
};
const uint8_t eng_env_slot[UC_X86_REG_ENDING] = {
#define GPR_SLOT(r) [UC_X86_REG_##r] = GPR_POS_##r + 1,
    ENG_GPRS(GPR_SLOT)
#undef GPR_SLOT
    [UC_X86_REG_RIP] = GPR_POS_RIP + 1,
};

/* RFLAGS in the same state (QEMU 5.0's CPUX86State: eflags, cc_dst,
 * cc_src, cc_src2, cc_op, df after eip): the arithmetic flags are kept
 * lazily (cc_op says how to compute them from cc_dst/cc_src/cc_src2) and DF
 * as +1/-1. A read computes what the API's read computes (Unicorn 2.0.1's
 * cpu_compute_eflags: eflags without the arithmetic flags and DF, which
 * come from the lazy state, with the engine's own helper_cc_compute_all:
 * measured, eflags's own copies of them are ignored); a write
 * stores what the API's write stores (cpu_load_eflags: the flags in eflags
 * and, for the arithmetic ones, in cc_src with cc_op = CC_OP_EFLAGS). Both
 * only between runs: inside a hook the translated code may still hold the
 * lazy state. eng_env_check compares both ways with the API. */
enum { ENV_EFLAGS = 0x88, ENV_CC_DST = 0x90, ENV_CC_SRC = 0x98, ENV_CC_SRC2 = 0xA0, ENV_CC_OP = 0xA8,
       ENV_DF = 0xAC, CC_OP_EFLAGS = 1 };
#define RF_ARITH 0x8D5ull                      /* CF PF AF ZF SF OF */

static uint64_t env_rflags(const cpu_t *cpu)
{
    const uint8_t *e = cpu->eng_env;
    uint64_t fl, dst, src, src2;
    uint32_t op;
    int32_t df;
    memcpy(&fl, e + ENV_EFLAGS, 8);
    memcpy(&dst, e + ENV_CC_DST, 8);
    memcpy(&src, e + ENV_CC_SRC, 8);
    memcpy(&src2, e + ENV_CC_SRC2, 8);
    memcpy(&op, e + ENV_CC_OP, 4);
    memcpy(&df, e + ENV_DF, 4);
    uint64_t cc = op == CC_OP_EFLAGS ? src : engine_cc_compute_all(dst, src, src2, (int)op);
    return (fl & ~(RF_ARITH | RF_DF)) | cc | ((uint64_t)(int64_t)df & RF_DF);
}

static void env_set_rflags(cpu_t *cpu, uint64_t v)
{
    uint8_t *e = cpu->eng_env;
    uint64_t fl = (uint64_t)(int64_t)(int32_t)v | 2, src = v & RF_ARITH;
    uint32_t op = CC_OP_EFLAGS;
    int32_t df = (v & RF_DF) ? -1 : 1;
    memcpy(e + ENV_EFLAGS, &fl, 8);
    memcpy(e + ENV_CC_SRC, &src, 8);
    memcpy(e + ENV_CC_OP, &op, 4);
    memcpy(e + ENV_DF, &df, 4);
}

static bool env_rflags_check(cpu_t *cpu)
{
    uc_engine *uc = cpu->uc;
    static const uint64_t vals[] = { 0x2, 0x202 | RF_ARITH, 0x246 | RF_DF, 0x3F7FD7, 0x40893 };
    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t by_api[0x30], direct[0x30];
        uint64_t got = 0;
        if (uc_reg_write(uc, UC_X86_REG_RFLAGS, &vals[i]) != UC_ERR_OK || env_rflags(cpu) != vals[i] ||
            cpu_rflags_no_arith(cpu) != (vals[i] & ~RF_ARITH))
            return false;
        memcpy(by_api, cpu->eng_env + ENV_EFLAGS, sizeof(by_api));
        env_set_rflags(cpu, vals[i] ^ RF_ARITH);
        env_set_rflags(cpu, vals[i]);
        memcpy(direct, cpu->eng_env + ENV_EFLAGS, sizeof(direct));
        if (memcmp(by_api, direct, sizeof(direct)) ||
            uc_reg_read(uc, UC_X86_REG_RFLAGS, &got) != UC_ERR_OK || got != vals[i])
            return false;
    }
    /* lazy flags: a result of SUBQ, ADCQ (carry in) and LOGICQ (QEMU 5.0's
     * CC_OP_SUBQ 17, ADCQ 13, LOGICQ 25) read both ways, with eflags holding
     * other arithmetic flags and DF than the lazy state */
    static const struct { uint64_t dst, src, src2; uint32_t op; } lazy[] = {
        { 0x8000000000000000ull, 1, 0, 17 }, { 5, 3, 1, 13 }, { 0, 0, 0, 25 }, { 0x80, 0xFFFFFFFFFFFFFFFFull, 0, 17 },
    };
    uint64_t stale = 0x202 | RF_ARITH | RF_DF;
    int32_t df_up = 1;
    memcpy(cpu->eng_env + ENV_EFLAGS, &stale, 8);
    memcpy(cpu->eng_env + ENV_DF, &df_up, 4);
    for (unsigned i = 0; i < sizeof(lazy) / sizeof(lazy[0]); i++) {
        uint64_t got = 0;
        memcpy(cpu->eng_env + ENV_CC_DST, &lazy[i].dst, 8);
        memcpy(cpu->eng_env + ENV_CC_SRC, &lazy[i].src, 8);
        memcpy(cpu->eng_env + ENV_CC_SRC2, &lazy[i].src2, 8);
        memcpy(cpu->eng_env + ENV_CC_OP, &lazy[i].op, 4);
        if (uc_reg_read(uc, UC_X86_REG_RFLAGS, &got) != UC_ERR_OK || got != env_rflags(cpu))
            return false;
    }
    return true;
}

/* Every register of env_slot, both ways: a value written through the API
 * is found in env, and one stored in env is what the API reads (at
 * creation, once the state was matched to a context image; the caller
 * restores the registers). */
bool eng_env_check(cpu_t *cpu, uint8_t *env)
{
    uint8_t *keep = cpu->eng_env;
    cpu->eng_env = env;
    bool ok = true;
    for (unsigned r = 0; r < UC_X86_REG_ENDING && ok; r++) {
        if (!eng_env_slot[r])
            continue;
        uint64_t a = 0x6A5C3E0000000011ull ^ ((uint64_t)r << 20), b = ~a, got = 0;
        ok = uc_reg_write(cpu->uc, (int)r, &a) == UC_ERR_OK && eng_env_rd(cpu, eng_env_slot[r] - 1u) == a;
        eng_env_wr(cpu, eng_env_slot[r] - 1u, b);
        ok = ok && uc_reg_read(cpu->uc, (int)r, &got) == UC_ERR_OK && got == b;
    }
    ok = ok && env_rflags_check(cpu);
    cpu->eng_env = keep;
    return ok;
}

uint64_t eng_get_slow(cpu_t *cpu, int ucreg)
{
    unsigned r = (unsigned)ucreg;
    if (cpu->eng_env && ucreg == UC_X86_REG_RFLAGS && !cpu->in_engine)
        return env_rflags(cpu);
    if (cpu->eng_segbase_direct && (ucreg == UC_X86_REG_FS_BASE || ucreg == UC_X86_REG_GS_BASE)) {
        uint64_t v;
        memcpy(&v, cpu->eng_env + (ucreg == UC_X86_REG_FS_BASE ? cpu->eng_fs_base_at : cpu->eng_gs_base_at), 8);
        return v;
    }
    if (!cpu->in_engine && r < UC_X86_REG_ENDING && (cpu->regc_valid[r / 64] >> (r % 64) & 1))
        return cpu->regc_val[r];
    uint64_t v = 0;
    uc_reg_read(cpu->uc, ucreg, &v);
    if (!cpu->in_engine && r < UC_X86_REG_ENDING) {
        cpu->regc_val[r] = v;
        cpu->regc_valid[r / 64] |= 1ull << (r % 64);
    }
    return v;
}

/* Registers that read back exactly as written and alias no other register
 * hvsim reads: the 64-bit general registers (gpr_uc) and RIP, as a bit set
 * made once (cpu_create). */
static void eng_plain_init(cpu_t *cpu)
{
    memset(cpu->regc_plain, 0, sizeof(cpu->regc_plain));
    for (unsigned i = 0; i <= 16; i++) {
        unsigned r = (unsigned)(i < 16 ? gpr_uc[i] : UC_X86_REG_RIP);
        cpu->regc_plain[r / 64] |= 1ull << (r % 64);
    }
}

static void regc_forget(cpu_t *cpu, int ucreg)
{
    unsigned r = (unsigned)ucreg;
    cpu->regc_valid[r / 64] &= ~(1ull << (r % 64));
}

void eng_set_slow(cpu_t *cpu, int ucreg, uint64_t v)
{
    unsigned r = (unsigned)ucreg;
    if (cpu->eng_env && ucreg == UC_X86_REG_RFLAGS && !cpu->in_engine) {
        env_set_rflags(cpu, v);
        regc_forget(cpu, UC_X86_REG_EFLAGS);       /* (its aliases) */
        regc_forget(cpu, UC_X86_REG_FLAGS);
        return;
    }
    if (ucreg == UC_X86_REG_RIP && !cpu->in_engine) {
        cpu->regc_val[r] = v;
        cpu->regc_valid[r / 64] |= 1ull << (r % 64);
        cpu->rip_dirty = true;
        return;
    }
    bool direct = cpu->eng_segbase_direct && (ucreg == UC_X86_REG_FS_BASE || ucreg == UC_X86_REG_GS_BASE);
    if (direct)      /* the same store the API makes, and only it (eng_layout_find): no other register changes */
        memcpy(cpu->eng_env + (ucreg == UC_X86_REG_FS_BASE ? cpu->eng_fs_base_at : cpu->eng_gs_base_at), &v, 8);
    else
        uc_reg_write(cpu->uc, ucreg, &v);
    switch (ucreg) {
    case UC_X86_REG_FS_BASE:
    case UC_X86_REG_GS_BASE:
        /* the base eng_load_mode wrote, written again: the image holds */
        if (cpu->eng_bits == 64 && v == cpu->eng_img.base[ucreg == UC_X86_REG_FS_BASE ? CPU_FS : CPU_GS])
            break;
        cpu->eng_img.valid = false;
        break;
    case UC_X86_REG_ES: case UC_X86_REG_CS: case UC_X86_REG_SS: case UC_X86_REG_DS: case UC_X86_REG_FS:
    case UC_X86_REG_GS: case UC_X86_REG_CR0: case UC_X86_REG_CR4:
        cpu->eng_img.valid = false;            /* eng_load_mode must write its image again */
        break;
    default:
        break;
    }
    if (direct)
        return;
    if (!cpu->in_engine && ucreg == UC_X86_REG_RFLAGS) {
        /* RFLAGS reads back as written (Unicorn 2.0.1 keeps every bit of
         * the value and bit 1, which cpu_set_rflags always sets; checked
         * by reading back after every write in all scenarios), so the
         * value is cached, saving the engine's flags computation at the
         * next read (an emulated PUSHF after a VMREAD). EFLAGS and FLAGS
         * alias it and are read back when needed. */
        regc_forget(cpu, UC_X86_REG_EFLAGS);
        regc_forget(cpu, UC_X86_REG_FLAGS);
        cpu->regc_val[r] = v;
        cpu->regc_valid[r / 64] |= 1ull << (r % 64);
        return;
    }
    if (cpu->in_engine || r >= UC_X86_REG_ENDING || !(cpu->regc_plain[r / 64] >> (r % 64) & 1)) {
        eng_cache_drop(cpu);
        return;
    }
    cpu->regc_val[r] = v;
    cpu->regc_valid[r / 64] |= 1ull << (r % 64);
}

/* Every engine run goes through here (the register cache is dropped). */
/* Run the engine from begin until a hook stops it or, when until is not 0,
 * until it reaches until. The engine is in Unicorn's "exits" mode with an
 * empty exit list (cpu_create): at the end of every run Unicorn 2.0.1 drops
 * the code it translated at each exit - 1 (a translation of the address,
 * tb_invalidate_phys_range and a GTree allocated and freed, about 4,500
 * host instructions), and with no exit there is nothing to drop. Runs end
 * by hooks anyway; only one-instruction runs need an exit address
 * (docs/cpu-mmu.md, "Runs without an exit address"). */
uc_err eng_run(cpu_t *cpu, uint64_t begin, uint64_t until)
{
    eng_cache_drop(cpu);
    cpu->tramp_run = view_is_reserved(begin);  /* only hvsim starts runs there (cpu_run refuses a guest RIP there) */
    if (until) {
        uc_err x = uc_ctl_set_exits(cpu->uc, &until, 1);
        if (x != UC_ERR_OK)
            return x;
    }
    cpu->in_engine = true;
    /* a run that fills the engine's TLB past eng_tlb_regrow's mark stops at
     * its next block (irq_insns zeroed: the block hook's PEND_IRQ stop,
     * which takes nothing when nothing is pending) */
    uint64_t fills0 = engine_tlb_fills(), mark = 2 * (uint64_t)cpu->eng_tlb_guess;
    engine_tlb_fill_alarm(fills0 + (cpu->eng_fills < mark ? mark - cpu->eng_fills : 0) + 1, &cpu->irq_insns);
    engine_view = cpu->view;
    view_pool_span(cpu->view, &engine_pool, &engine_pool_pa, &engine_pool_len);
    uint64_t pool0 = engine_pool_hits;
    uc_err e = uc_emu_start(cpu->uc, begin, 0, 0, 0);
    cpu->stats.engine_walk_reads += engine_pool_hits - pool0;
    engine_pool = NULL;
    engine_view = NULL;
    engine_tlb_fill_alarm(0, NULL);
    uint64_t nfills = engine_tlb_fills() - fills0;
    cpu->eng_fills += nfills;
    cpu->stats.engine_tlb_fills += nfills;
    cpu->in_engine = false;
    if (until) {
        uc_err x = uc_ctl_set_exits(cpu->uc, &until, 0);
        if (e == UC_ERR_OK)
            e = x;
    }
    eng_cache_drop(cpu);
    return e;
}

uint64_t cpu_gpr_slow(cpu_t *cpu, unsigned idx) { return eng_get_slow(cpu, gpr_uc[idx & 15]); }
void cpu_set_gpr_slow(cpu_t *cpu, unsigned idx, uint64_t v) { eng_set_slow(cpu, gpr_uc[idx & 15], v); }
uint64_t cpu_rflags(cpu_t *cpu) { return eng_get(cpu, UC_X86_REG_RFLAGS) & 0x3FFFFF; }
/* The system flags (IF, TF, IOPL, NT, RF, VM, AC, VIF, VIP, ID): RFLAGS with
 * CF, PF, AF, ZF, SF, OF and DF zero. The engine keeps these in its eflags
 * word as they are, also while it runs (only the arithmetic flags and DF are
 * kept lazily; its helpers for STI, CLI, POPF and the like write the word),
 * and its RFLAGS read takes them from there unchanged (env_rflags), so
 * they are read there, in hooks too, without computing the others. */
uint64_t cpu_rflags_sys(cpu_t *cpu)
{
    if (!cpu->eng_env)
        return cpu_rflags(cpu) & ~(RF_ARITH | RF_DF);
    uint64_t fl;
    memcpy(&fl, cpu->eng_env + ENV_EFLAGS, 8);
    return fl & 0x3FFFFF & ~(RF_ARITH | RF_DF);
}
/* RFLAGS with CF, PF, AF, ZF, SF and OF zero: the system flags and DF, as
 * the API's read makes them (DF from the engine's df word, +1 or -1: its
 * DF bit), none computed from the lazy state. For an instruction that sets
 * all six (the VMX instructions) and for tests of the system flags. */
uint64_t cpu_rflags_no_arith(cpu_t *cpu)
{
    if (!cpu->eng_env || cpu->in_engine)
        return cpu_rflags(cpu) & ~RF_ARITH;
    uint32_t df;
    memcpy(&df, cpu->eng_env + ENV_DF, 4);
    return cpu_rflags_sys(cpu) | (df & RF_DF);
}
void cpu_set_rflags(cpu_t *cpu, uint64_t v) { eng_set(cpu, UC_X86_REG_RFLAGS, (v & 0x3FFFFF) | RF_FIXED); }
static uint64_t ip_mask(const cpu_t *cpu)
{
    unsigned b = cpu_code_bits(cpu);
    return b == 64 ? ~0ull : b == 32 ? 0xFFFFFFFFull : 0xFFFFull;
}
uint64_t cpu_ip(cpu_t *cpu) { return eng_get(cpu, UC_X86_REG_RIP); }
void cpu_set_ip(cpu_t *cpu, uint64_t ip) { eng_set(cpu, UC_X86_REG_RIP, ip & ip_mask(cpu)); }
uint64_t cpu_rip(cpu_t *cpu)
{
    uint64_t b = cpu_cs_base(cpu);
    return b ? (b + eng_get(cpu, UC_X86_REG_RIP)) & 0xFFFFFFFFull : eng_get(cpu, UC_X86_REG_RIP);
}
void cpu_set_rip(cpu_t *cpu, uint64_t v) { cpu_set_ip(cpu, v - cpu_cs_base(cpu)); }
void cpu_set_rip_linear(cpu_t *cpu, uint64_t la) { cpu_set_rip(cpu, la); }

void cpu_raise_debug_trap(cpu_t *cpu, uint64_t dr6_bits)
{
    uint64_t rip = cpu_rip(cpu);
    cpu->db_bits = dr6_bits;
    cpu_deliver(cpu, VEC_DB, EV_HW_EXCEPTION, false, 0, rip, rip);
}

/* ---- events, failures, time ---- */

void cpu_emit(cpu_t *cpu, enum cpu_event_kind k, uint64_t rip, uint64_t a, uint64_t b,
              uint64_t c, uint64_t d)
{
    if (!cpu->plat.event)
        return;
    struct cpu_event ev = { .kind = k, .cycle = cpu->cycles, .rip = rip, .a = a, .b = b, .c = c, .d = d };
    cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

void cpu_emit_virt(cpu_t *cpu, uint64_t rip, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e,
                   uint64_t f)
{
    if (!cpu->plat.event)
        return;
    struct cpu_event ev = { .kind = CPU_EV_VIRT, .cycle = cpu->cycles, .rip = rip, .a = a, .b = b, .c = c, .d = d,
                            .e = e, .f = f };
    cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

void cpu_unmodelled(cpu_t *cpu, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cpu->msg, sizeof(cpu->msg), fmt, ap);
    va_end(ap);
    cpu->pend.kind = PEND_UNMODELLED;
    if (cpu->plat.event) {
        struct cpu_event ev = { .kind = CPU_EV_UNMODELLED, .cycle = cpu->cycles, .rip = cpu_rip(cpu),
                                .text = cpu->msg };
        cpu->plat.event(cpu->plat.ctx, cpu, &ev);
    }
}

void cpu_internal(cpu_t *cpu, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cpu->msg, sizeof(cpu->msg), fmt, ap);
    va_end(ap);
    cpu->pend.kind = PEND_INTERNAL;
}

void cpu_charge(cpu_t *cpu, unsigned cycles) { cpu->cycles += cycles; }

/* Account for the part of the current translation block executed before la
 * (la outside the block: the whole block ran). */
static void account_tb(cpu_t *cpu, uint64_t la)
{
    const struct tb_info *tb = cpu->cur_tb;
    if (!tb)
        return;
    uint64_t c, n;
    if (la - tb->la < tb->size) {
        tb_prefix(tb, la, &c, &n);
    } else {
        c = tb->cycles;
        n = tb->ninsn;
    }
    cpu->cycles += c;
    cpu->insns += n;
    cpu->cur_tb = NULL;
}

/* ---- the engine's double-fault tracker ----
 * QEMU counts every exception it raises towards #DF; with the INTR hook
 * the counter is never reset, so the second contributory fault would come
 * out as vector 8. cpu_create() finds the counter in a uc_context image by
 * experiment and resets it after every exception (docs/cpu-mmu.md). */
static void reset_engine_df(cpu_t *cpu)
{
    int32_t none = -1;
    if (cpu->eng_env) {
        memcpy(cpu->eng_env + (cpu->oe_off - cpu->eng_env_hdr), &none, 4);
        return;
    }
    eng_flush_rip(cpu);
    uc_context_save(cpu->uc, cpu->ctx_scratch);
    memcpy((char *)cpu->ctx_scratch + cpu->oe_off, &none, 4);
    uc_context_restore(cpu->uc, cpu->ctx_scratch);
    eng_cache_drop(cpu);
}

static void probe_intr(uc_engine *uc, uint32_t intno, void *ud)
{
    uint32_t *out = ud;
    *out = intno;
    uc_emu_stop(uc);
}

/* Find and verify the offset of QEMU's old_exception field in a uc_context. */
static bool find_df_tracker(cpu_t *cpu)
{
    uc_engine *uc = cpu->uc;
    const uint64_t at = 0x10000;
    static const uint8_t div0[] = { 0x48, 0x31, 0xc9, 0x48, 0xf7, 0xf1, 0xf4 };  /* xor rcx,rcx; div rcx */
    uint32_t vec = ~0u;
    uc_hook h;
    uc_context *a = NULL, *b = NULL;
    bool ok = false;
    if (uc_mem_map(uc, at, 0x1000, UC_PROT_ALL) != UC_ERR_OK)
        return false;
    uc_mem_write(uc, at, div0, sizeof(div0));
    uc_hook_add(uc, &h, UC_HOOK_INTR, (void *)probe_intr, &vec, 1, 0);
    if (uc_context_alloc(uc, &a) || uc_context_alloc(uc, &b))
        goto out;
    uc_context_save(uc, a);
    uc_emu_start(uc, at, at + sizeof(div0) - 1, 0, 0);
    if (vec != 0)
        goto out;
    uc_context_save(uc, b);
    size_t n = uc_context_size(uc), found = 0, off = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        int32_t x, y;
        memcpy(&x, (char *)a + i, 4);
        memcpy(&y, (char *)b + i, 4);
        if (x == -1 && y == 0) {
            off = i;
            found++;
        }
    }
    if (found != 1)
        goto out;
    cpu->oe_off = off;
    /* Verify: after a reset, a second #DE must still be vector 0, not 8. */
    reset_engine_df(cpu);
    vec = ~0u;
    uc_emu_start(uc, at, at + sizeof(div0) - 1, 0, 0);
    ok = vec == 0;
    reset_engine_df(cpu);
out:
    uc_hook_del(uc, h);
    uc_mem_unmap(uc, at, 0x1000);
    if (a) uc_context_free(a);
    if (b) uc_context_free(b);
    /* Drop the probe's translated code (paging is still off here, so the
     * address translates; a full TB flush would cost ~1 GiB of RSS). */
    uc_ctl_remove_cache(uc, at, at + sizeof(div0));
    return ok;
}

/* ---- hooks ---- */

static void stop_with(cpu_t *cpu, enum pend_kind k, uint64_t rip)
{
    cpu->pend.kind = k;
    cpu->pend.rip = rip;
    uc_emu_stop(cpu->uc);
}

#define SITE_HASH_SLOTS (sizeof(((cpu_t *)0)->site_hash) / sizeof(((cpu_t *)0)->site_hash[0]))

static unsigned site_slot(uint64_t la)
{
    return (unsigned)((la * 0x9E3779B97F4A7C15ull) >> 40) % SITE_HASH_SLOTS;
}

static struct cpu_site *site_find(cpu_t *cpu, uint64_t la)
{
    for (unsigned h = site_slot(la);; h = (h + 1) % SITE_HASH_SLOTS) {
        unsigned i = cpu->site_hash[h];
        if (!i)
            return NULL;
        if (cpu->sites[i - 1].la == la)
            return &cpu->sites[i - 1];
    }
}

static bool site_hooked(cpu_t *cpu, uint64_t la)
{
    if (site_find(cpu, la))
        return true;
    for (unsigned i = 0; i < cpu->nnew_sites; i++)
        if (cpu->new_sites[i] == la)
            return true;
    return false;
}

/* Scan the block at la (size bytes as the engine translated it). Returns
 * the record, or NULL after stopping the engine (fetch fault, internal). */
static const struct tb_info *scan_block(cpu_t *cpu, uint64_t la, uint32_t size)
{
    uint8_t *bytes = malloc(size + 16);
    size_t cap = size + 1;
    uint16_t *off = malloc(sizeof(uint16_t) * cap);
    uint32_t *cum = malloc(sizeof(uint32_t) * cap);
    uint8_t *cls = malloc(cap);
    if (!bytes || !off || !cum || !cls) {
        free(bytes); free(off); free(cum); free(cls);
        cpu_internal(cpu, "out of memory scanning a translation block");
        uc_emu_stop(cpu->uc);
        return NULL;
    }
    size_t got = mem_peek_code(cpu, la, bytes, size + 15);
    struct pg_ctx pc;
    cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
    uint32_t pos = 0, n = 0, cycles = 0;
    uint64_t fetch_fault_at = 0, fault_la = 0;
    bool fetch_fault = false;
    uint64_t checked_page = ~0ull;
    while (pos < size) {
        struct dec_insn d;
        if (pos >= got || !dec_bytes(cpu, bytes + pos, got - pos, la + pos, &d)) {
            /* Undecodable: the site handler reports it when it is reached. */
            d.la = la + pos;
            d.len = 1;
            d.cls = IC_UNDECODABLE;
            d.cost = 1;
        }
        /* Fetch permission for every page the instruction's bytes touch
         * (the engine cannot express no-execute, docs/cpu-mmu.md). */
        for (uint64_t p = (la + pos) & ~0xFFFull; p <= ((la + pos + d.len - 1) & ~0xFFFull); p += 4096) {
            if (p == checked_page)
                continue;
            checked_page = p;
            struct pg_result r;
            uint64_t probe = p < la + pos ? la + pos : p;
            enum pg_status st = cpu_walk_slat(cpu, &pc, probe, PG_ACC_FETCH, false, &r, NULL);
            if (st != PG_OK && !fetch_fault) {
                fetch_fault = true;
                fetch_fault_at = la + pos;
                fault_la = probe;
            }
        }
        off[n] = (uint16_t)pos;
        cum[n] = cycles;
        cls[n] = (uint8_t)d.cls;
        if (d.cls != IC_NONE && !fetch_fault && !site_hooked(cpu, d.la)) {
            if (cpu->nnew_sites < sizeof(cpu->new_sites) / sizeof(cpu->new_sites[0]))
                cpu->new_sites[cpu->nnew_sites++] = d.la;
        }
        cycles += d.cost;
        pos += d.len;
        n++;
        if (fetch_fault)
            break;
    }
    off[n] = (uint16_t)pos;
    cum[n] = cycles;
    bool limited = false;
    if (fetch_fault && cpu->fetch_stop == fetch_fault_at && fetch_fault_at != la) {
        /* Second pass: the instructions before the one that may not be
         * fetched run; a site hook stops the engine in front of it. The
         * record is not reusable (its fetch check was waived). */
        limited = true;
    } else if (fetch_fault) {
        free(bytes); free(off); free(cum); free(cls);
        cpu->pend.kind = PEND_FETCH_FAULT;
        cpu->pend.rip = la;
        cpu->pend.la = fault_la;
        cpu->pend.vector = VEC_PF;
        cpu->pend.ec = (uint32_t)(fetch_fault_at - la);      /* offset of the faulting instruction */
        uc_emu_stop(cpu->uc);
        return NULL;
    }
    struct tb_info t = { .la = la, .bits = (uint8_t)cpu_code_bits(cpu), .size = size, .ninsn = n, .cycles = cycles,
                         .user = cpu->cpl == 3,
                         .gen = limited ? ~0ull : view_generation(cpu->view),
                         .bytes = bytes, .off = off, .cum = cum, .cls = cls };
    cpu->stats.tb_scans++;
    for (uint64_t p = la & ~0xFFFull; p < la + size; p += 4096)
        view_note_code(cpu->view, p);
    uint64_t evicted;
    const struct tb_info *ti = tbc_insert(cpu->tbc, &t, &evicted);
    if (evicted != ~0ull) {
        /* no record to compare its code with any more: the engine's code
         * there goes before the engine runs again (cb_block stops the run
         * at this block, or it could run the evicted block again unchecked) */
        view_drop_page_code(cpu->view, evicted);
        cpu->evicted_in_run = true;
    }
    if (!ti) {
        free(bytes); free(off); free(cum); free(cls);
        cpu_internal(cpu, "out of memory recording a translation block");
        uc_emu_stop(cpu->uc);
    }
    return ti;
}

/* A record scanned in an earlier view generation (before a TLB flush: MOV
 * CR3, VM entry or exit, INVLPG...) is still right if the code bytes are the
 * same (its decode, classes and costs depend only on them and on the code
 * mode, which the caller compared) and every page the block touches may
 * still be fetched at this privilege level (what scan_block checked). Pages
 * found fetchable are remembered for the rest of the generation. */
__attribute__((noinline)) static bool tb_revalidate(cpu_t *cpu, const struct tb_info *tb, bool bytes_compared)
{
    uint64_t gen = view_generation(cpu->view);
    if (tb->gen == ~0ull)
        return false;                          /* scanned with the fetch check waived */
    if (!bytes_compared) {                     /* (the block hook compared a block within one page already) */
        const uint8_t *now = view_code_ptr(cpu->view, tb->la, tb->size);
        if (!now || memcmp(now, tb->bytes, tb->size) != 0)
            return false;
    }
    if (cpu->fetch_ok_gen != gen + 1) {              /* 0: never filled */
        cpu->fetch_ok_gen = gen + 1;
        memset(cpu->fetch_ok, 0xFF, sizeof(cpu->fetch_ok));
    }
    struct pg_ctx pc;
    bool have_pc = false;
    uint64_t user = cpu->cpl == 3;
    for (uint64_t p = tb->la & ~0xFFFull; p <= ((tb->la + tb->size - 1) & ~0xFFFull); p += 4096) {
        uint64_t key = p | user;
        unsigned slot = (unsigned)(p >> 12) % (sizeof(cpu->fetch_ok) / sizeof(cpu->fetch_ok[0]));
        if (cpu->fetch_ok[slot] == key)
            continue;
        if (!have_pc) {
            cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
            have_pc = true;
        }
        struct pg_result r;
        bool cached;
        if (cpu_translate(cpu, &pc, p < tb->la ? tb->la : p, PG_ACC_FETCH, false, &r, NULL, &cached) != PG_OK)
            return false;
        cpu->fetch_ok[slot] = key;
    }
    tbc_set_gen(cpu->tbc, tb, gen);
    cpu->tb_revalidations++;
    return true;
}

/* tb_revalidate's answer without the call, for the common case: a block
 * within one page (its bytes compared by the block hook) whose page was
 * already found fetchable in this generation at this privilege level. */
static inline bool tb_fetchable_now(cpu_t *cpu, const struct tb_info *tb, uint64_t gen)
{
    uint64_t p = tb->la & ~0xFFFull;
    if (cpu->fetch_ok_gen != gen + 1 || tb->gen == ~0ull || ((tb->la + tb->size - 1) & ~0xFFFull) != p)
        return false;
    unsigned slot = (unsigned)(p >> 12) % (sizeof(cpu->fetch_ok) / sizeof(cpu->fetch_ok[0]));
    if (cpu->fetch_ok[slot] != (p | (cpu->cpl == 3)))
        return false;
    tbc_set_gen(cpu->tbc, tb, gen);
    cpu->tb_revalidations++;
    return true;
}

static bool fault_outcome(cpu_t *cpu, int r, uint64_t la, uint64_t rip, const struct xcpt *x);

static void cb_block(uc_engine *uc, uint64_t la, uint32_t size, void *ud)
{
    cpu_t *cpu = ud;
    (void)uc;
    account_tb(cpu, ~0ull);
    if (view_is_reserved(la)) {
        if (!cpu->tramp_run) {
            /* the guest's own jump or call into the range (its trampoline
             * page is mapped in every root): never run hvsim's code for it */
            view_refuse_reserved(cpu->view, la, true);
            uc_emu_stop(uc);
            return;
        }
        /* hvsim's own trampolines: not guest code. The block after the
         * trampoline's MOV CR ends the run (a stop from the block hook is
         * exact and, unlike reaching `until`, translates nothing). */
        if (la == cpu->tramp_stop_la || la == view_until_address(cpu->view))
            uc_emu_stop(uc);
        return;
    }
    cpu->tramp_run = false;                     /* guest code: the trampoline is behind */
    if (cpu->track_accessed)
        view_note_exec(cpu->view, la, size);
    if (cpu->track_accessed && view_code_unchecked(cpu->view) && cpu->pend.kind == PEND_NONE) {
        /* a page of the block whose translation was dropped while the
         * engine kept its code: its fetch, as the engine's fault would */
        struct xcpt x;
        uint64_t fla = la;
        int r = view_check_code(cpu->view, la, size, &x, &fla);
        if (r != 1 && !fault_outcome(cpu, r, fla, la, &x)) {
            cpu->pend.vector = VEC_PF;
            stop_with(cpu, PEND_EXCEPTION, la);
            return;
        }
        if (cpu->pend.kind != PEND_NONE)
            return;
    }
    if (cpu->pend.kind != PEND_NONE) {
        uc_emu_stop(cpu->uc);
        return;
    }
    const struct tb_info *tb = tbc_lookup(cpu->tbc, la);
    if (tb) {
        /* Rewritten code keeps the address: compare the record's bytes
         * (the part in the block's first page, through the engine's own
         * alias of the page, which is live while it runs) with memory.
         * When they changed, the engine may be about to run a translation
         * of the old bytes: it drops its code for a store through the
         * alias it runs the code from, but not for a store through another
         * linear alias of the frame. Its code for the block's pages is
         * dropped (with their records) and the run restarts here, so the
         * engine translates what memory holds now (docs/cpu-mmu.md, "Code
         * written through another alias"). */
        uint32_t n = tb->size, in_page = 4096 - (uint32_t)(la & 0xFFF);
        if (n > in_page)
            n = in_page;
        const uint8_t *now = view_code_ptr(cpu->view, la, n);
        if (now && memcmp(now, tb->bytes, n) != 0) {
            view_drop_code(cpu->view, la, size > tb->size ? size : tb->size);
            cpu->stats.code_changed_stops++;
            stop_with(cpu, PEND_INVALIDATE, la);
            return;
        }
        uint64_t gen;
        if (!now || tb->size != size || tb->user != (cpu->cpl == 3) || tb->bits != cpu->eng_bits ||
            (tb->gen != (gen = view_generation(cpu->view)) && !tb_fetchable_now(cpu, tb, gen) &&
             !tb_revalidate(cpu, tb, n == tb->size)))
            tb = NULL;
    }
    if (!tb) {
        cpu->nnew_sites = 0;
        tb = scan_block(cpu, la, size);
        if (!tb)
            return;
        bool evicted = cpu->evicted_in_run;
        cpu->evicted_in_run = false;
        if (evicted)
            cpu->stats.eviction_stops++;
        if (cpu->nnew_sites) {
            stop_with(cpu, PEND_NEW_SITES, la);     /* (the next run drops the evicted code too) */
            return;
        }
        if (evicted) {
            /* nothing of this block ran: restart here once the engine's
             * code for the evicted record's page is gone */
            stop_with(cpu, PEND_INVALIDATE, la);
            return;
        }
    }
    if (cpu->insns >= cpu->budget_end) {
        stop_with(cpu, PEND_BUDGET, la);
        return;
    }
    if (cpu->cycles >= cpu->irq_cycle || cpu->insns >= cpu->irq_insns) {
        stop_with(cpu, PEND_IRQ, la);
        return;
    }
    cpu->cur_tb = tb;
}

static void cb_site(uc_engine *uc, uint64_t la, uint32_t size, void *ud)
{
    struct cpu_site *site = ud;
    cpu_t *cpu = site->cpu;
    (void)uc; (void)size;
    if (cpu->fetch_stop && la == cpu->fetch_stop) {
        account_tb(cpu, la);
        stop_with(cpu, PEND_FETCH_STOP, la);
        return;
    }
    const struct tb_info *tb = cpu->cur_tb;
    if (!tb || la < tb->la || la >= tb->la + tb->size)
        return;
    uint64_t off = la - tb->la;
    for (uint32_t k = 0; k < tb->ninsn; k++) {
        if (tb->off[k] == off) {
            if (tb->cls[k] == IC_NONE)
                return;                        /* the site holds other code now */
            cpu->site_tb = tb;
            site->hits++;
            account_tb(cpu, la);
            stop_with(cpu, PEND_SITE, la);
            return;
        }
    }
}

static void trace_insn(cpu_t *cpu, uint64_t la, uint32_t size);

/* With --trace-insns this hook sees every instruction, so the sites have no
 * hooks of their own (add_new_sites): Unicorn 2.0.1 walks the whole list of
 * code hooks at every hooked instruction unless one stops the engine, and
 * with a hypervisor's hundred sites that walk cost about 3,000 host
 * instructions per traced instruction (docs/cpu-mmu.md, "Instruction
 * tracing"). The record first, then the site, as the hooks' order was. */
static void cb_trace(uc_engine *uc, uint64_t la, uint32_t size, void *ud)
{
    cpu_t *cpu = ud;
    trace_insn(cpu, la, size);
    struct cpu_site *site = site_find(cpu, la);
    if (site)
        cb_site(uc, la, size, site);
}

static void trace_insn(cpu_t *cpu, uint64_t la, uint32_t size)
{
    const struct tb_info *tb = cpu->cur_tb;
    if (!cpu->plat.event || !tb || la < tb->la || la >= tb->la + tb->size)
        return;
    /* tb_prefix, resumed from the instruction traced last in the block
     * (the hook sees them in order): the offsets increase, so every one
     * before index k is below off when off[k] <= off */
    uint64_t off = la - tb->la;
    unsigned k = cpu->trace_k;
    if (tb != cpu->trace_tb || k >= tb->ninsn || tb->off[k] > off)
        k = 0;
    while (k < tb->ninsn && tb->off[k] < off)
        k++;
    cpu->trace_tb = tb;
    cpu->trace_k = k;
    uint64_t c = tb->cum[k], n = k;
    struct cpu_event ev = { .kind = CPU_EV_INSN, .cycle = cpu->cycles + c, .rip = la,
                            .a = cpu->insns + n, .bytes = tb->bytes + (la - tb->la),
                            .nbytes = size > 15 ? 15 : size };
    cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

/* What view_handle_fault decided about a #PF at la (RIP rip), from a hook:
 * true when it is handled (retry, stop), false for a fault of the guest's
 * own (#PF with x's error code: the caller raises it). */
static bool fault_outcome(cpu_t *cpu, int r, uint64_t la, uint64_t rip, const struct xcpt *x)
{
    if (r == 2) {
        cpu->pend.la = la;
        stop_with(cpu, PEND_MMIO, rip);
        return true;
    }
    if (r > 0) {
        /* Translation installed: retry in place, unless code translated
         * from the page's previous contents must be dropped first. */
        if (view_inval_pending(cpu->view))
            stop_with(cpu, PEND_INVALIDATE, rip);
        return true;
    }
    if (r < 0) {
        uc_emu_stop(cpu->uc);
        return true;
    }
    cpu->pend.la = la;
    cpu->pend.ec = x->ec;
    if (x->vector == VEC_SLAT || x->vector == VEC_NORAM || x->vector == VEC_APIC_ACCESS) {
        /* EPT refused the access (or it reached no RAM): the
         * instruction decides its kind */
        cpu->pend.vector = x->vector;
        stop_with(cpu, PEND_EXCEPTION, rip);
        return true;
    }
    return false;
}

static void cb_intr(uc_engine *uc, uint32_t intno, void *ud)
{
    cpu_t *cpu = ud;
    uint64_t rip = cpu_rip(cpu);
    reset_engine_df(cpu);
    account_tb(cpu, rip);
    if (intno == VEC_PF) {
        uint64_t la = eng_get(cpu, UC_X86_REG_CR2);
        struct xcpt x;
        int r = view_handle_fault(cpu->view, la, rip, &x);
        if (fault_outcome(cpu, r, la, rip, &x))
            return;
    } else if (intno == VEC_DF) {
        cpu_internal(cpu, "the engine raised #DF at RIP %#llx: an exception escaped hvsim's tracking",
                     (unsigned long long)rip);
        uc_emu_stop(uc);
        return;
    }
    cpu->pend.vector = intno;
    stop_with(cpu, PEND_EXCEPTION, rip);
}

static bool cb_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud)
{
    cpu_t *cpu = ud;
    (void)uc; (void)type; (void)size; (void)value;
    if (view_cover(cpu->view, addr))
        return true;                            /* the engine's walker decides now */
    if (cpu->pend.kind == PEND_NONE) {
        if (view_is_reserved(addr))
            view_refuse_reserved(cpu->view, addr, false);
        else
            cpu_internal(cpu, "no linear-view window for %#llx", (unsigned long long)addr);
    }
    return false;
}

static bool cb_insn_invalid(uc_engine *uc, void *ud)
{
    cpu_t *cpu = ud;
    (void)uc;
    uint64_t rip = cpu_rip(cpu);
    account_tb(cpu, rip);
    cpu->pend.kind = PEND_EXCEPTION;
    cpu->pend.vector = VEC_UD;
    cpu->pend.rip = rip;
    return false;
}

/* ---- creation ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

cpu_err cpu_create(const struct cpu_config *cfg, const struct cpu_platform *plat, cpu_t **out)
{
    *out = NULL;
    if (!cfg || !plat || !plat->phys_span || !plat->io_in || !plat->io_out)
        return CPU_ERR_ARG;
    cpu_t *cpu = calloc(1, sizeof(*cpu));
    if (!cpu)
        return CPU_ERR_NOMEM;
    eng_plain_init(cpu);
    cpu->eng_tlb_guess = ENG_TLB_GUESS_START;
    cpu->cfg = *cfg;
    cpu->prof = cfg->profile ? cfg->profile : cpu_profile_default();
    cpu->plat = *plat;
    cpu->guest_deadline = ~0ull;
    cpu->sti_shadow_rip = ~0ull;
    uint64_t s = cfg->seed ^ (0xA5A5A5A5ull * (cfg->lp_index + 1));
    for (int i = 0; i < 4; i++)
        cpu->prng[i] = splitmix(&s);

    cpu_err err = CPU_ERR_UNICORN;
    uc_err ue = uc_open(UC_ARCH_X86, UC_MODE_64, &cpu->uc);
    if (ue != UC_ERR_OK) {
        snprintf(cpu->msg, sizeof(cpu->msg), "uc_open: %s", uc_strerror(ue));
        goto fail;
    }
    if (uc_context_alloc(cpu->uc, &cpu->ctx_scratch) != UC_ERR_OK)
        goto fail;
    if (!find_df_tracker(cpu)) {
        err = CPU_ERR_QUIRK;
        snprintf(cpu->msg, sizeof(cpu->msg), "could not locate the engine's double-fault tracker "
                 "(this hvsim build expects Unicorn 2.0.1)");
        goto fail;
    }
    /* the probe run's code was dropped through page_collection_lock */
    cpu->stats.engine_locks_replaced = engine_locks_calls() > 0;
    /* runs end by hooks, not at an address (eng_run) */
    ue = uc_ctl_exits_enable(cpu->uc);
    if (ue != UC_ERR_OK) {
        snprintf(cpu->msg, sizeof(cpu->msg), "uc_ctl_exits_enable: %s", uc_strerror(ue));
        goto fail;
    }
    err = CPU_ERR_NOMEM;
    if (!dec_init(cpu) || !(cpu->tbc = tbc_create()) || !(cpu->tlb = tlb_create()))
        goto fail;
    cpu->view = view_create(cpu, cfg->view_max_pages);
    if (!cpu->view) {
        err = CPU_ERR_UNICORN;
        goto fail;
    }
    /* The engine's own paging: on, with hvsim's shadow tables; GDT/IDT empty
     * so that a segment load that escaped interception cannot succeed. */
    eng_set(cpu, UC_X86_REG_CR4, CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
    view_set_context(cpu->view);
    eng_set(cpu, UC_X86_REG_CR0, CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
    uc_x86_mmr empty = { 0, 0, 0, 0 };
    uc_reg_write(cpu->uc, UC_X86_REG_GDTR, &empty);
    uc_reg_write(cpu->uc, UC_X86_REG_IDTR, &empty);
    eng_cache_drop(cpu);
    if (!eng_layout_find(cpu)) {
        err = CPU_ERR_QUIRK;
        snprintf(cpu->msg, sizeof(cpu->msg), "could not locate the engine's segment caches and mode flags in its "
                 "context image (this hvsim build expects Unicorn 2.0.1; docs/cpu-mmu.md)");
        goto fail;
    }
    cpu->eng_bits = 64;

    err = CPU_ERR_UNICORN;
    if (uc_hook_add(cpu->uc, &cpu->h_block, UC_HOOK_BLOCK, (void *)cb_block, cpu, 1, 0) ||
        uc_hook_add(cpu->uc, &cpu->h_intr, UC_HOOK_INTR, (void *)cb_intr, cpu, 1, 0) ||
        uc_hook_add(cpu->uc, &cpu->h_unmapped, UC_HOOK_MEM_UNMAPPED, (void *)cb_unmapped, cpu, 1, 0) ||
        uc_hook_add(cpu->uc, &cpu->h_insn_invalid, UC_HOOK_INSN_INVALID, (void *)cb_insn_invalid, cpu, 1, 0))
        goto fail;
    if (cfg->trace_insns &&
        uc_hook_add(cpu->uc, &cpu->h_trace, UC_HOOK_CODE, (void *)cb_trace, cpu, 1, 0))
        goto fail;

    /* Architectural reset state (SDM 3A 9.1.1), then the boot code sets more. */
    cpu->cr0 = CR0_ET | CR0_CD | CR0_NW;
    cpu->dr[6] = 0xFFFF0FF0u;
    cpu->dr[7] = 0x400;
    msr_reset(cpu);
    apic_reset(cpu);
    cpu->irq_insns = ~0ull;
    *out = cpu;
    return CPU_OK;
fail:
    if (cpu->msg[0] == 0)
        snprintf(cpu->msg, sizeof(cpu->msg), "engine set-up failed");
    fprintf(stderr, "hvsim: cpu %u: %s\n", cfg->lp_index, cpu->msg);
    cpu_destroy(cpu);
    return err;
}

void cpu_destroy(cpu_t *cpu)
{
    if (!cpu)
        return;
    view_destroy(cpu->view);
    tlb_destroy(cpu->tlb);
    tbc_destroy(cpu->tbc);
    dec_fini(cpu);
    if (cpu->ctx_scratch)
        uc_context_free(cpu->ctx_scratch);
    if (cpu->uc)
        uc_close(cpu->uc);
    free(cpu);
}

void cpu_set_virt_ops(cpu_t *cpu, const struct cpu_virt_ops *ops)
{
    if (ops) {
        cpu->virt = *ops;
        cpu->has_virt = true;
    } else {
        cpu->has_virt = false;
    }
}

/* ---- the run loop ---- */

/* The fetch of the instruction at rip from linear la was refused when its
 * block was scanned: translate it again as a fetch and deliver the #PF or
 * the EPT violation (false: the run stops). */
static bool fetch_fault_raise(cpu_t *cpu, uint64_t la, uint64_t rip)
{
    struct mem_acc a = mem_acc_cur(cpu);
    struct xcpt x;
    uint64_t pa;
    enum mem_res mr = mem_translate(cpu, &a, la, PG_ACC_FETCH, &pa, &x);
    if (mr == MEM_UNMODELLED)
        return false;
    if (mr == MEM_OK)
        return true;                            /* permission appeared meanwhile */
    cpu_raise(cpu, &x, rip);
    return true;
}

static void add_new_sites(cpu_t *cpu)
{
    for (unsigned i = 0; i < cpu->nnew_sites; i++) {
        uint64_t la = cpu->new_sites[i];
        if (cpu->nsites >= CPU_MAX_SITES) {
            cpu_internal(cpu, "more than %u sensitive-instruction sites", CPU_MAX_SITES);
            return;
        }
        struct cpu_site *site = &cpu->sites[cpu->nsites];
        *site = (struct cpu_site){ .cpu = cpu, .la = la };
        /* (tracing instructions: cb_trace calls cb_site, the site needs no hook) */
        if (!cpu->cfg.trace_insns &&
            uc_hook_add(cpu->uc, &site->h, UC_HOOK_CODE, (void *)cb_site, site, la, la) != UC_ERR_OK) {
            cpu_internal(cpu, "uc_hook_add(site %#llx) failed", (unsigned long long)la);
            return;
        }
        unsigned h = site_slot(la);
        while (cpu->site_hash[h])
            h = (h + 1) % SITE_HASH_SLOTS;
        cpu->site_hash[h] = (uint16_t)(cpu->nsites + 1);
        cpu->site_order[cpu->nsites] = (uint16_t)cpu->nsites;
        cpu->nsites++;
        /* Code translated before the hook existed does not call it. (With
         * instruction tracing all code calls cb_trace; the code is dropped
         * all the same: a single step relies on it, the engine ending a
         * block at `until` only in code translated with that exit.) */
        uc_ctl_remove_cache(cpu->uc, la, la + 1);
        cpu->stats.sites++;
    }
    cpu->nnew_sites = 0;
}

/* Unicorn 2.0.1 calls a hooked instruction's code hooks by walking the
 * whole list of code hooks in the order they were added, stopping after the
 * one that stops the engine; with a hundred sites from start-up code ahead
 * of a hypervisor's hot VMREAD/VMRESUME sites the walk cost more than the
 * stop itself (perf: 7 % of a VM-exit round trip). Every SITE_REORDER_EVERY
 * site stops, if the most-hit sites are not at the front, all site hooks
 * are deleted and added again, most-hit first (the translated code does
 * not change: its helper finds the new hook for the same address). Hits are
 * halved each time so the order follows what runs now. Engine-side only:
 * nothing simulated depends on the order. */
#define SITE_REORDER_EVERY 4096u
#define SITE_FRONT 8u

static int site_hits_cmp(const void *a, const void *b, void *ctx)
{
    const cpu_t *cpu = ctx;
    uint32_t ha = cpu->sites[*(const uint16_t *)a].hits, hb = cpu->sites[*(const uint16_t *)b].hits;
    if (ha != hb)
        return ha > hb ? -1 : 1;
    return *(const uint16_t *)a < *(const uint16_t *)b ? -1 : 1;
}

static void reorder_sites(cpu_t *cpu)
{
    cpu->site_stops = 0;
    unsigned n = cpu->nsites;
    if (n <= SITE_FRONT || cpu->cfg.trace_insns)       /* (tracing: the sites have no hooks) */
        return;
    uint16_t want[CPU_MAX_SITES];
    for (unsigned i = 0; i < n; i++)
        want[i] = (uint16_t)i;
    qsort_r(want, n, sizeof(want[0]), site_hits_cmp, cpu);
    /* in order already when every one of the top SITE_FRONT (with hits) is
     * among the first SITE_FRONT hooks */
    bool ordered = true;
    for (unsigned k = 0; k < SITE_FRONT && ordered; k++) {
        if (!cpu->sites[want[k]].hits)
            break;
        bool found = false;
        for (unsigned j = 0; j < SITE_FRONT && !found; j++)
            found = cpu->site_order[j] == want[k];
        ordered = found;
    }
    if (!ordered) {
        view_hooks_removal_begin(cpu->view);
        for (unsigned i = 0; i < n; i++)
            uc_hook_del(cpu->uc, cpu->sites[i].h);
        view_hooks_removal_end(cpu->view);
        for (unsigned k = 0; k < n; k++) {
            struct cpu_site *site = &cpu->sites[want[k]];
            if (uc_hook_add(cpu->uc, &site->h, UC_HOOK_CODE, (void *)cb_site, site, site->la, site->la) !=
                UC_ERR_OK) {
                cpu_internal(cpu, "uc_hook_add(site %#llx) failed", (unsigned long long)site->la);
                return;
            }
            cpu->site_order[k] = want[k];
        }
        cpu->stats.site_reorders++;
    }
    for (unsigned i = 0; i < n; i++)
        cpu->sites[i].hits >>= 1;
}

/* Which access of the instruction at rip touched la? (For the #PF error
 * code; the engine does not say.) */
static enum pg_access classify_access(cpu_t *cpu, uint64_t rip, uint64_t la, uint64_t *fetch_insn)
{
    struct dec_insn d;
    *fetch_insn = 0;
    if (dec_at(cpu, rip, &d)) {
        /* The instruction's own bytes first: a fetch faults before any
         * data access of the instruction could. */
        if (la - rip < d.len) {
            *fetch_insn = rip;
            return PG_ACC_FETCH;
        }
        dec_memops(cpu, &d);
        for (unsigned i = 0; i < d.nmem; i++) {
            const struct dec_memop *m = &d.mem[i];
            if (la - m->ea < m->size || (la & ~0xFFFull) == ((m->ea + m->size - 1) & ~0xFFFull))
                return m->write ? PG_ACC_WRITE : PG_ACC_READ;
        }
    } else if ((la & ~0xFFFull) == (rip & ~0xFFFull) || la - rip < 16) {
        *fetch_insn = rip;                      /* bytes not readable: the fetch faulted */
        return PG_ACC_FETCH;
    }
    /* Not a data access of the first instruction: a later instruction of
     * the block whose bytes reach the faulting page. */
    uint64_t p = rip;
    for (int i = 0; i < 64; i++) {
        uint8_t buf[16];
        size_t n = mem_peek_code(cpu, p, buf, sizeof(buf));
        struct dec_insn e;
        if (!n || !dec_bytes(cpu, buf, n, p, &e) || la - p < e.len) {
            *fetch_insn = p;
            return PG_ACC_FETCH;
        }
        p += e.len;
    }
    *fetch_insn = rip;
    return PG_ACC_FETCH;
}

/* Execute from the current RIP up to (not including) the instruction at
 * `until` (a block that crosses into a page that cannot be fetched). */
static bool run_until(cpu_t *cpu, uint64_t until)
{
    uint64_t rip = cpu_rip(cpu);
    if (rip == until)
        return true;
    cpu->pend.kind = PEND_NONE;
    if (view_is_reserved(cpu_ip(cpu))) {
        view_refuse_reserved(cpu->view, cpu_ip(cpu), true);  /* (eng_run would take it for a trampoline) */
        return false;
    }
    view_sync_engine(cpu->view);
    if (cpu->eng_mode_dirty)
        eng_load_mode(cpu);
    uc_err e = eng_run(cpu, cpu_ip(cpu), until);
    cpu->stats.engine_entries++;
    account_tb(cpu, cpu_rip(cpu));
    if (e != UC_ERR_OK || cpu->pend.kind != PEND_NONE || cpu_rip(cpu) != until)
        return false;
    return true;
}

static void handle_exception(cpu_t *cpu)
{
    unsigned v = cpu->pend.vector;
    uint64_t rip = cpu->pend.rip;
    struct xcpt x = { v, 0, false, 0 };
    switch (v) {
    case VEC_PF: {
        uint64_t la = cpu->pend.la, finsn;
        enum pg_access acc = classify_access(cpu, rip, la, &finsn);
        struct pg_ctx pc;
        struct pg_result r;
        cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
        uint32_t ec = cpu->pend.ec;
        if (cpu_walk(cpu, &pc, la, acc, false, &r) == PG_FAULT)
            ec = r.error_code;
        if (acc == PG_ACC_FETCH && finsn != rip) {
            if (!run_until(cpu, finsn)) {
                if (cpu->pend.kind == PEND_NONE)
                    cpu_internal(cpu, "could not stop before the instruction at %#llx",
                                 (unsigned long long)finsn);
                return;
            }
            rip = finsn;
        }
        x = (struct xcpt){ VEC_PF, ec, true, la };
        break;
    }
    case VEC_SLAT:
    case VEC_NORAM:
    case VEC_APIC_ACCESS: {
        /* The engine's access failed second-level translation (the view
         * asked as a read or write). Redo the access as the instruction
         * makes it: the guest's own #PF comes first, then the EPT fault
         * with the exact qualification (SDM 3C 28.2.1). */
        uint64_t la = cpu->pend.la, finsn;
        enum pg_access acc = classify_access(cpu, rip, la, &finsn);
        if (acc == PG_ACC_FETCH && finsn != rip) {
            if (!run_until(cpu, finsn)) {
                if (cpu->pend.kind == PEND_NONE)
                    cpu_internal(cpu, "could not stop before the instruction at %#llx", (unsigned long long)finsn);
                return;
            }
            rip = finsn;
        }
        if (v == VEC_APIC_ACCESS && acc != PG_ACC_FETCH) {
            apic_access_insn(cpu, la, acc, rip);   /* virtualized, or an APIC-access VM exit (SDM 3C 30.4) */
            return;
        }
        struct mem_acc a = mem_acc_cur(cpu);
        uint64_t pa;
        enum mem_res mr = mem_translate(cpu, &a, la, acc, &pa, &x);
        if (mr == MEM_UNMODELLED)
            return;
        if (mr == MEM_OK && v == VEC_NORAM) {
            cpu_unmodelled(cpu, "guest access to physical %#llx (linear %#llx): no RAM there and no device model",
                           (unsigned long long)pa, (unsigned long long)la);
            return;
        }
        if (mr == MEM_OK) {
            if (acc == PG_ACC_FETCH)
                cpu_unmodelled(cpu, "guest code at %#llx runs from an execute-only EPT page (guest-physical page "
                               "readable = 0, executable = 1): the engine cannot fetch from a page it may not "
                               "read (docs/ept.md)", (unsigned long long)la);
            else
                cpu_internal(cpu, "the second-level fault at linear %#llx did not recur", (unsigned long long)la);
            return;
        }
        cpu_raise(cpu, &x, rip);
        return;
    }
    case VEC_GP: {
        /* The engine raises #GP for non-canonical addresses (stack accesses
         * get #SS, SDM 3A 6.15) and for SSE alignment. */
        struct dec_insn d;
        x = xcpt_gp(0);
        if (dec_at(cpu, rip, &d)) {
            dec_memops(cpu, &d);
            for (unsigned i = 0; i < d.nmem; i++)
                if (!pg_canonical(d.mem[i].ea, cpu->prof->linear_bits) ||
                    !pg_canonical(d.mem[i].ea + d.mem[i].size - 1, cpu->prof->linear_bits)) {
                    if (d.mem[i].stack)
                        x.vector = VEC_SS;
                    break;
                }
        }
        break;
    }
    case VEC_DB:
        /* Single-step trap (RFLAGS.TF): RIP is already past the instruction. */
        cpu->db_bits = 1ull << 14;             /* BS, written to DR6 when delivered */
        cpu->insns++;
        cpu_deliver(cpu, VEC_DB, EV_HW_EXCEPTION, false, 0, rip, rip);
        return;
    case VEC_AC:
        x = (struct xcpt){ VEC_AC, 0, true, 0 };
        break;
    case VEC_DE: case VEC_UD: case VEC_NM: case VEC_MF: case VEC_XM: case VEC_BR: case VEC_BP: case VEC_OF:
        break;
    default:
        cpu_internal(cpu, "the engine raised vector %u at RIP %#llx, which hvsim does not expect",
                     v, (unsigned long long)rip);
        return;
    }
    cpu_raise(cpu, &x, rip);
}

static enum cpu_stop stop_for_pending(cpu_t *cpu)
{
    switch (cpu->pend.kind) {
    case PEND_HALT: return CPU_STOP_HALTED;
    case PEND_PLATFORM: return CPU_STOP_PLATFORM;
    case PEND_UNMODELLED: return CPU_STOP_UNMODELLED;
    default: return CPU_STOP_INTERNAL;
    }
}

/* The interrupt shadow of STI / MOV SS covers the instruction at RIP. */
static bool shadow_active(cpu_t *cpu)
{
    return cpu->sti_shadow_insns == cpu->insns && cpu->sti_shadow_rip == cpu_rip(cpu);
}

/* Are maskable interrupts unmasked (SDM 3A 6.8.1)? RFLAGS.IF, except in
 * guest mode with external-interrupt exiting (nothing masks them, SDM 3C
 * 26.2) or with AMD-V V_INTR_MASKING (the host's IF at VMRUN masks them,
 * APM 2 15.21.1). */
static bool intr_unmasked(cpu_t *cpu)
{
    if (cpu->guest_mode && cpu->guest_vif)
        return cpu->guest_host_if;
    return (cpu_rflags_sys(cpu) & RF_IF) || (cpu->guest_mode && cpu->guest_intr_exiting);
}

/* At an instruction boundary: take the highest pending maskable interrupt
 * if it can be taken (SDM 3A 6.8.1 masking by RFLAGS.IF, 6.8.3 the STI and
 * MOV SS shadow, 10.8.3.1 priority against the PPR). Returns true if one
 * was delivered; *held says one is due but held by the shadow for one
 * instruction. */
static bool take_interrupt(cpu_t *cpu, bool *held)
{
    *held = false;
    apic_poll(cpu);
    if (cpu->wait_sipi)
        return false;                            /* only INIT and start-up IPIs reach it */
    int v = apic_pending_vector(cpu);
    if (v >= 0 && cpu->irq_held)
        return false;                            /* GIF = 0: pending until released */
    if (v < 0 || !intr_unmasked(cpu))
        return false;
    if (shadow_active(cpu)) {
        *held = true;
        return false;
    }
    uint64_t rip = cpu_rip(cpu);
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_event) {
        /* VMX non-root: external-interrupt exiting decides before the
         * interrupt is acknowledged (SDM 3C "External Interrupts") */
        struct cpu_guest_event ge = { .vector = (unsigned)v, .type = 0, .fault_rip = rip, .next_rip = rip };
        enum cpu_guest_action a = cpu->virt.guest_event(cpu->virt.ctx, cpu, &ge);
        if (a != CPU_GUEST_EXECUTE)
            return true;
    }
    apic_ack(cpu, (unsigned)v);
    cpu->halted = false;                         /* HLT resumes after the HLT */
    cpu->injecting = true;                       /* already offered to guest_event */
    cpu_deliver(cpu, (unsigned)v, EV_EXT_INT, false, 0, rip, rip);
    cpu->injecting = false;
    return true;
}

/* Blocking of NMIs at this boundary (SDM 3A 6.7.1: by NMI until the next
 * IRET; 6.8.3: by MOV SS / POP SS for one instruction; STI: the NMI
 * "may be" inhibited for one instruction, and hvsim models the processors
 * that inhibit it, as the VM-entry check GUEST_INTR_NMI_STI assumes; the
 * wait-for-SIPI state). */
static bool nmi_blocked_now(cpu_t *cpu)
{
    return cpu->nmi_blocked || shadow_active(cpu) || cpu->wait_sipi || cpu->irq_held;
}

/* At an instruction boundary, after the guest_boundary hook and before
 * maskable interrupts (SDM 3A table 6-2 "Priority Among Concurrent
 * Events"): deliver a pending NMI through IDT vector 2, or, in guest mode,
 * offer it to guest_event first ("NMI exiting", SDM 3C 26.2). Delivery
 * blocks further NMIs until the next IRET (cpu_deliver). *held: one is
 * pending but held by the STI / MOV SS shadow for one instruction. */
static bool take_nmi(cpu_t *cpu, bool *held)
{
    *held = false;
    apic_poll(cpu);                              /* an NMI IPI whose time has come */
    if (!cpu->nmi_pending || cpu->nmi_blocked || cpu->wait_sipi || cpu->irq_held)
        return false;                            /* (GIF = 0 holds NMIs too, APM 2 15.17) */
    if (shadow_active(cpu)) {
        *held = true;
        return false;
    }
    uint64_t rip = cpu_rip(cpu);
    cpu->nmi_pending = false;
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_event) {
        struct cpu_guest_event ge = { .vector = VEC_NMI, .type = 2, .fault_rip = rip, .next_rip = rip };
        enum cpu_guest_action a = cpu->virt.guest_event(cpu->virt.ctx, cpu, &ge);
        if (a != CPU_GUEST_EXECUTE)
            return true;
    }
    cpu->halted = false;                         /* HLT resumes after the HLT */
    cpu->injecting = true;                       /* already offered to guest_event */
    cpu_deliver(cpu, VEC_NMI, EV_NMI, false, 0, rip, rip);
    cpu->injecting = false;
    return true;
}

/* A REP-prefixed MOVS, STOS, LODS, CMPS or SCAS: the engine runs one
 * iteration per translation block and leaves RIP on the instruction until
 * an iteration finds the count at 0. *count_mask: rCX of its address size. */
static bool rep_string(const struct dec_insn *d, uint64_t *count_mask)
{
    if (d->cls != IC_NONE || !d->ci || !d->ci->detail)
        return false;
    const cs_x86 *x = &d->ci->detail->x86;
    if (x->prefix[0] != X86_PREFIX_REP && x->prefix[0] != X86_PREFIX_REPNE)
        return false;
    switch (d->ci->id) {
    case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSD: case X86_INS_MOVSQ:
    case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD: case X86_INS_STOSQ:
    case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD: case X86_INS_LODSQ:
    case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSD: case X86_INS_CMPSQ:
    case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASD: case X86_INS_SCASQ:
        break;
    default:
        return false;
    }
    for (unsigned i = 0; i < x->op_count; i++)           /* not SSE MOVSD/CMPSD (F2/F3 opcodes) */
        if (x->operands[i].type == X86_OP_REG && x->operands[i].reg >= X86_REG_XMM0 &&
            x->operands[i].reg <= X86_REG_XMM31)
            return false;
    *count_mask = x->addr_size == 8 ? ~0ull : x->addr_size == 4 ? 0xFFFFFFFFull : 0xFFFFull;
    return true;
}

/* Does the instruction end its translation block (a control transfer)? */
static bool ends_block(const struct dec_insn *d)
{
    const cs_detail *det = d->ci->detail;
    for (unsigned i = 0; i < det->groups_count; i++) {
        unsigned g = det->groups[i];
        if (g == CS_GRP_JUMP || g == CS_GRP_CALL || g == CS_GRP_RET || g == CS_GRP_IRET || g == CS_GRP_INT ||
            g == CS_GRP_BRANCH_RELATIVE)
            return true;
    }
    return false;
}

uint64_t cpu_next_wake(cpu_t *cpu)
{
    if (!cpu->halted)
        return cpu->cycles;
    uint64_t t = cpu->apic.init_time;              /* INIT ends HLT and wait-for-SIPI alike */
    if (cpu->wait_sipi)
        return cpu->apic.sipi_time < t ? cpu->apic.sipi_time : t;
    if (cpu->guest_mode && cpu->guest_deadline < t)
        t = cpu->guest_deadline;                   /* the VMX-preemption timer ends HLT with a VM exit */
    /* an NMI wakes HLT whatever RFLAGS.IF says, unless NMIs are blocked;
     * so does an NMI-window VM exit (SDM 3C 26.2) */
    if (cpu->guest_mode && cpu->guest_nmi_window && !cpu->vnmi_blocked)
        return cpu->cycles;
    if (cpu->irq_held)
        return t;                                  /* GIF = 0 holds NMIs and interrupts (APM 2 15.17) */
    if (cpu->apic.smi_time < t)
        t = cpu->apic.smi_time;                    /* an SMI ends HLT whatever RFLAGS.IF says (apic.c) */
    if (!cpu->nmi_blocked) {
        if (cpu->nmi_pending)
            return cpu->cycles;
        if (cpu->apic.nmi_time < t)
            t = cpu->apic.nmi_time;
    }
    if (!intr_unmasked(cpu))
        return t;                                  /* HLT with IF = 0: INIT, an NMI (SMI: not modelled) */
    if (apic_pending_vector(cpu) >= 0)
        return cpu->cycles;
    uint64_t w = apic_next_wake(cpu);
    return w < t ? w : t;
}

/* ---- INIT and start-up (SDM 3A 9.1.1 table 9-1, 9.4.4) ---- */

static void init_state(cpu_t *cpu)
{
    uint32_t sig[4];
    cpuid_query(cpu, 1, 0, sig);
    for (int r = CPU_RAX; r <= CPU_R15; r++)
        cpu_set_gpr(cpu, (unsigned)r, 0);
    cpu_set_gpr(cpu, 2, sig[0]);                   /* EDX: processor signature */
    cpu->cr0 = CR0_CD | CR0_NW | CR0_ET;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = 0;
    cpu->efer = 0;
    memset(cpu->pdpte, 0, sizeof(cpu->pdpte));
    cpu->dr[6] = 0xFFFF0FF0u;
    cpu->dr[7] = 0x400;
    struct cpu_seg cs = { 0xF000, 0xFFFF0000ull, 0xFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P };
    struct cpu_seg ds = { 0, 0, 0xFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P };
    cpu->seg[CPU_CS] = cs;
    for (int s = CPU_ES; s <= CPU_GS; s++)
        if (s != CPU_CS)
            cpu->seg[s] = ds;
    cpu->seg[CPU_LDTR] = (struct cpu_seg){ 0, 0, 0xFFFF, 0x2 | SEG_ATTR_P };
    cpu->seg[CPU_TR] = (struct cpu_seg){ 0, 0, 0xFFFF, 0xB | SEG_ATTR_P };
    cpu->gdtr = (struct cpu_dtr){ 0, 0xFFFF };
    cpu->idtr = (struct cpu_dtr){ 0, 0xFFFF };
    cpu_set_rflags(cpu, RF_FIXED);
    eng_set(cpu, UC_X86_REG_RIP, 0xFFF0);
    cpu->sti_shadow_rip = ~0ull;
    cpu->shutdown = false;
    apic_init_reset(cpu);
    cpu_commit_state(cpu);
}

void cpu_init_wait_for_sipi(cpu_t *cpu)
{
    init_state(cpu);
    cpu->wait_sipi = true;
    cpu->halted = true;
}

bool cpu_waiting_for_sipi(const cpu_t *cpu) { return cpu->wait_sipi; }

void cpu_apic_init_received(cpu_t *cpu)
{
    if (cpu->has_virt && cpu->virt.init_signal) {
        int r = cpu->virt.init_signal(cpu->virt.ctx, cpu);
        if (r == CPU_INIT_CONSUMED)
            return;
        if (r == CPU_INIT_BLOCKED) {
            cpu->init_blocked = true;
            return;
        }
    }
    cpu->nmi_pending = cpu->nmi_blocked = cpu->vnmi_blocked = false;   /* INIT clears them (SDM 3A table 9-1) */
    if (cpu->msr.val[MSR_APIC_BASE] & 0x100) {
        /* The bootstrap processor would restart at the reset vector, where
         * no firmware is modelled. */
        cpu_unmodelled(cpu, "INIT of the bootstrap processor (LP %u): it would restart at the reset vector "
                       "0xFFFFFFF0, where hvsim has no firmware", cpu->cfg.lp_index);
        return;
    }
    cpu_emit(cpu, CPU_EV_APIC, cpu_rip(cpu), CPU_APIC_INIT, 0, 0, 0);
    cpu_init_wait_for_sipi(cpu);
}

void cpu_apic_sipi_received(cpu_t *cpu, uint8_t vector)
{
    /* VMX non-root operation: a VM exit instead (SDM 3C 26.2) */
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_sipi && cpu->virt.guest_sipi(cpu->virt.ctx, cpu, vector))
        return;
    /* Real mode at vector:0000, i.e. CS = vector << 8, base vector << 12. */
    struct cpu_seg cs = { (uint16_t)(vector << 8), (uint64_t)vector << 12, 0xFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P };
    cpu->seg[CPU_CS] = cs;
    eng_set(cpu, UC_X86_REG_RIP, 0);
    cpu->wait_sipi = false;
    cpu->halted = false;
    cpu->eng_mode_dirty = true;
    cpu_emit(cpu, CPU_EV_APIC, cpu_rip(cpu), CPU_APIC_SIPI, vector, (uint64_t)vector << 12, 0);
}

/* Decode the sensitive instruction at la inside block record tb from the
 * engine's live alias of the code, the bytes the engine itself executes
 * (the block hook and tb_revalidate read them the same way): no page walk
 * (mem_peek_code) is needed. The instruction starts within the block. */
static bool dec_in_tb(cpu_t *cpu, const struct tb_info *tb, uint64_t la, struct dec_insn *d)
{
    if (!tb || la - tb->la >= tb->size)
        return dec_at(cpu, la, d);
    /* up to 15 bytes, within la's page (the engine's reported block size
     * may end inside an instruction it cannot decode itself) */
    uint32_t n = 4096 - (uint32_t)(la & 4095);
    if (n > 15)
        n = 15;
    const uint8_t *now = view_code_ptr(cpu->view, la, n);
    if (!now || !dec_bytes(cpu, now, n, la, d))
        return dec_at(cpu, la, d);             /* (also an instruction that continues on the next page) */
    return true;
}

/* The instruction at RIP is a sensitive one whose block starts there, right
 * after another was emulated (e.g. POPF; VMREAD): an engine run would only
 * enter the block and stop at its site hook. When nothing that run could do
 * matters (no instruction tracing, no pending fetch stop or timer stop, no
 * written code, a block record valid in this view generation, the instruction's
 * bytes translated by the translation cache so the engine's fetch needs no
 * walk), decode it here instead: the same accounting, the same emulation,
 * one engine entry less (docs/cpu-mmu.md, "Chained sensitive instructions"). */
static bool chain_site(cpu_t *cpu, struct dec_insn *d)
{
    if (cpu->cfg.trace_insns || cpu->fetch_stop || cpu->eng_mode_dirty || cpu->cycles >= cpu->irq_cycle ||
        !view_code_settled(cpu->view))
        return false;
    uint64_t rip = cpu_rip(cpu);
    if (view_is_reserved(rip) || !site_hooked(cpu, rip))
        return false;
    const struct tb_info *tb = tbc_lookup(cpu->tbc, rip);
    if (!tb || tb->la != rip || !tb->ninsn || tb->cls[0] == IC_NONE || tb->user != (cpu->cpl == 3) ||
        tb->bits != cpu->eng_bits || (tb->gen != view_generation(cpu->view) && !tb_revalidate(cpu, tb, false)))
        return false;                           /* (the block hook would revalidate the record the same way) */
    if (!dec_in_tb(cpu, tb, rip, d) || d->cls == IC_NONE || d->len == 0)
        return false;
    return mem_code_cached(cpu, rip) && mem_code_cached(cpu, rip + d->len - 1);
}

/* The engine's TLB (QEMU 5.0's softmmu TLB in Unicorn 2.0.1) is direct-mapped
 * and starts with 256 entries per MMU index; QEMU resizes it only when it
 * flushes it, doubling it when more than 70 % of it was in use. A guest whose
 * working set outgrows it without ever making the engine flush (a loop over
 * 8192 pages: tests/bench/pagewalk.S) misses on every access, each miss a
 * walk of the shadow tables and a fill, about 2,000 host instructions. When
 * the engine has filled more than twice the entries hvsim supposes it holds
 * since its last flush, ask for a flush; the engine then grows it if it was
 * full, and the supposed size doubles (so forced flushes thin out when it
 * does not). Engine speed only: the engine's TLB caches the shadow tables,
 * whose content is the model's; nothing simulated depends on it. */
static void eng_tlb_regrow(cpu_t *cpu)
{
    if (cpu->eng_fills <= 2 * cpu->eng_tlb_guess)
        return;
    view_engine_flush(cpu->view);             /* (clears eng_fills) */
    if (cpu->eng_tlb_guess < ENG_TLB_GUESS_MAX)
        cpu->eng_tlb_guess *= 2;
    cpu->stats.engine_regrows++;
}

/* One-instruction runs between flushes of the engine's translated code
 * (uc_ctl_flush_tlb is Unicorn 2.0.1's UC_CTL_TB_FLUSH). */
#define STEP_FLUSH_EVERY 500000u

enum cpu_stop cpu_run(cpu_t *cpu, uint64_t budget)
{
    cpu->budget_end = cpu->insns + budget;
    for (;;) {
        if (cpu->shutdown)
            return CPU_STOP_SHUTDOWN;
        if (cpu->view_tag_pending)
            view_set_context(cpu->view);        /* (cpu_tlb_set_tag without a context reload after it) */
        if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_boundary &&
            (cpu->guest_step || cpu->cycles >= cpu->guest_deadline ||
             (cpu->guest_window && (cpu_rflags(cpu) & RF_IF) && !shadow_active(cpu)) ||
             (cpu->guest_nmi_window && !cpu->vnmi_blocked && !shadow_active(cpu)))) {
            enum cpu_guest_action a = cpu->virt.guest_boundary(cpu->virt.ctx, cpu);
            if (a == CPU_GUEST_STOP || cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
                return stop_for_pending(cpu);
            if (a == CPU_GUEST_EXITED)
                continue;
        }
        bool held, nmi_held;
        bool took = take_nmi(cpu, &nmi_held);
        if (!took && !cpu->shutdown)
            took = take_interrupt(cpu, &held);
        else
            held = false;
        if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
            return stop_for_pending(cpu);
        if (took)
            continue;
        held = held || nmi_held;
        if (!held && cpu->guest_mode && cpu->guest_window && (cpu_rflags(cpu) & RF_IF) && shadow_active(cpu))
            held = true;                          /* the window opens after this instruction: stop there */
        if (!held && cpu->guest_mode && cpu->guest_nmi_window && !cpu->vnmi_blocked && shadow_active(cpu))
            held = true;                          /* ... the NMI window too */
        if (cpu->halted)
            return CPU_STOP_HALTED;
        if (cpu->insns >= cpu->budget_end)
            return CPU_STOP_BUDGET;
        cpu->pend = (struct pending){ PEND_NONE, 0, 0, 0, 0 };
        /* alignment checking: one instruction per engine entry, each
         * checked before it runs (align.c) */
        bool ac = ac_active(cpu);
        if (!held && !ac && !(cpu->guest_mode && cpu->guest_step) && cpu->last_was_site) {
            struct dec_insn d;
            cpu->last_was_site = false;
            if (chain_site(cpu, &d)) {
                cpu->stats.chained_sites++;
                account_tb(cpu, ~0ull);         /* as the block hook would, then the site hook (nothing) */
                cpu->last_was_site = true;
                if (!sysinsn_emulate(cpu, &d))
                    return stop_for_pending(cpu);
                if (cpu->shutdown)
                    return CPU_STOP_SHUTDOWN;
                continue;
            }
        }
        cpu->last_was_site = false;
        eng_tlb_regrow(cpu);
        bool step = (cpu->guest_mode && cpu->guest_step) || ac;
        /* Single steps need the engine's TLB flushed before they look at
         * it (below); otherwise a pending flush may be folded into the run
         * (view_flush_in_run), decided once the engine's mode is loaded */
        if (held || step)
            view_prepare_run(cpu->view);
        uint64_t rip = cpu_rip(cpu);
        uint64_t until = 0;                     /* none (eng_run) */
        cpu->irq_insns = ~0ull;
        uint64_t rep_next = 0, rep_mask = 0, insns0 = cpu->insns;
        if (held || step) {
            /* Run exactly the shadowed instruction, then take the interrupt:
             * stop in front of the next instruction, or (control transfers
             * end the block) at the next block boundary. */
            struct dec_insn d;
            bool ok = dec_at(cpu, rip, &d);
            int misaligned = ac && ok ? ac_check(cpu, &d) : 0;
            if (misaligned) {
                if (misaligned > 0)
                    ac_raise(cpu, rip);           /* #AC(0): a fault, nothing of the instruction ran */
                if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
                    return stop_for_pending(cpu);
                continue;
            }
            if (ok && !ends_block(&d) && d.cls == IC_NONE) {
                until = rip + d.len;
                /* the engine stops at `until` only in code it translates
                 * with it: drop a block it cached at rip, when its page is
                 * mapped (dropping makes the engine translate rip) */
                if (view_engine_maps(cpu->view, rip)) {
                    uc_ctl_remove_cache(cpu->uc, rip, rip + 1);
                    /* each such run translates its instruction again; when
                     * that fills the engine's 1-GiB code buffer, Unicorn
                     * 2.0.1 flushes it inside a translation and later
                     * crashes (page_collection_lock, measured after about
                     * 4 million steps): flush it here, outside the engine,
                     * long before (docs/cpu-mmu.md, "Alignment checking") */
                    if (++cpu->step_drops >= STEP_FLUSH_EVERY) {
                        uc_ctl_flush_tlb(cpu->uc);
                        cpu->step_drops = 0;
                    }
                }
            } else {
                cpu->irq_insns = cpu->insns + 1;
            }
            if (step) {
                cpu->irq_insns = cpu->insns + 1;   /* a REP string instruction: after one iteration */
                if (ok && rep_string(&d, &rep_mask))
                    rep_next = rip + d.len;
            }
        }
        if (cpu->eng_mode_dirty)
            eng_load_mode(cpu);
        bool flush_in_run = false;
        if (!held && !step) {
            flush_in_run = view_flush_in_run_ok(cpu->view);
            if (!flush_in_run)
                view_prepare_run(cpu->view);
        }
        cpu->site_tb = NULL;
        uint64_t start = cpu_ip(cpu);
        if (view_is_reserved(start)) {                /* (above 4 GiB: 64-bit code, where RIP is linear) */
            view_refuse_reserved(cpu->view, start, true);
            return CPU_STOP_UNMODELLED;
        }
        if (flush_in_run) {
            start = view_flush_in_run(cpu->view, start);
            cpu->stats.flushes_in_run++;
        }
        uc_err e = eng_run(cpu, start, until);
        cpu->stats.engine_entries++;
        if (flush_in_run && view_is_reserved(cpu_rip(cpu))) {
            cpu_internal(cpu, "the run stopped inside the flush trampoline at %#llx",
                         (unsigned long long)cpu_rip(cpu));
            return CPU_STOP_INTERNAL;
        }
        switch (cpu->pend.kind) {
        case PEND_NONE:
            account_tb(cpu, cpu_rip(cpu));
            if (e != UC_ERR_OK) {
                cpu_internal(cpu, "the engine stopped at RIP %#llx: %s", (unsigned long long)cpu_rip(cpu),
                             uc_strerror(e));
                return CPU_STOP_INTERNAL;
            }
            if (until && cpu_rip(cpu) == until)
                break;                          /* the shadowed instruction ran */
            if (cpu_rip(cpu) == view_until_address(cpu->view)) {
                cpu_unmodelled(cpu, "execution reached hvsim's reserved page at %#llx",
                               (unsigned long long)cpu_rip(cpu));
                return CPU_STOP_UNMODELLED;
            }
            break;                              /* stopped for no reason: resume */
        case PEND_SITE: {
            struct dec_insn d;
            cpu_set_rip(cpu, cpu->pend.rip);
            if (!dec_in_tb(cpu, cpu->site_tb, cpu->pend.rip, &d))
                d.cls = IC_UNDECODABLE;
            if (d.cls == IC_NONE)
                break;                          /* code changed under the site */
            cpu->pend.kind = PEND_NONE;
            if (!sysinsn_emulate(cpu, &d))
                return stop_for_pending(cpu);
            if (cpu->shutdown)
                return CPU_STOP_SHUTDOWN;
            cpu->last_was_site = true;
            if (++cpu->site_stops >= SITE_REORDER_EVERY)
                reorder_sites(cpu);
            break;
        }
        case PEND_NEW_SITES:
            add_new_sites(cpu);
            if (cpu->pend.kind == PEND_INTERNAL)
                return CPU_STOP_INTERNAL;
            cpu_set_rip(cpu, cpu->pend.rip);
            break;
        case PEND_FETCH_FAULT: {
            uint64_t finsn = cpu->pend.rip + cpu->pend.ec;
            cpu_set_rip(cpu, cpu->pend.rip);
            if (finsn != cpu->pend.rip) {
                /* A block that runs into a page that may not be executed:
                 * its earlier instructions run, then the fetch faults. A
                 * site hook stops the engine in front of the instruction
                 * (the scan of that block waives the fetch check for the
                 * instructions before it, docs/cpu-mmu.md). */
                cpu->fetch_stop = finsn;
                cpu->fetch_stop_la = cpu->pend.la;
                if (!site_hooked(cpu, finsn)) {
                    cpu->nnew_sites = 0;
                    cpu->new_sites[cpu->nnew_sites++] = finsn;
                    add_new_sites(cpu);
                    if (cpu->pend.kind == PEND_INTERNAL)
                        return CPU_STOP_INTERNAL;
                }
                uc_ctl_remove_cache(cpu->uc, cpu->pend.rip, cpu->pend.rip + 1);
                break;
            }
            if (!fetch_fault_raise(cpu, cpu->pend.la, finsn))
                return stop_for_pending(cpu);
            break;
        }
        case PEND_FETCH_STOP: {
            uint64_t la = cpu->fetch_stop_la;
            cpu->fetch_stop = 0;
            cpu_set_rip(cpu, cpu->pend.rip);
            if (!fetch_fault_raise(cpu, la, cpu->pend.rip))
                return stop_for_pending(cpu);
            break;
        }
        case PEND_EXCEPTION:
            cpu_set_rip(cpu, cpu->pend.rip);
            handle_exception(cpu);
            if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
                return stop_for_pending(cpu);
            break;
        case PEND_BUDGET:
            cpu_set_rip(cpu, cpu->pend.rip);
            return CPU_STOP_BUDGET;
        case PEND_IRQ:
            cpu_set_rip(cpu, cpu->pend.rip);
            break;                              /* the loop's top takes the interrupt */
        case PEND_MMIO:
            cpu_set_rip(cpu, cpu->pend.rip);
            cpu->pend.kind = PEND_NONE;
            if (!sysinsn_mmio(cpu, cpu->pend.la, view_mmio_pa(cpu->view)))
                return stop_for_pending(cpu);
            break;
        case PEND_INVALIDATE:
            cpu_set_rip(cpu, cpu->pend.rip);
            break;                              /* view_prepare_run() drops the code */
        default:
            return stop_for_pending(cpu);
        }
        if (rep_next && cpu->insns != insns0 && cpu_rip(cpu) == rip && !(cpu_gpr(cpu, 1) & rep_mask))
            cpu_set_rip(cpu, rep_next);         /* stepping: the iteration that left the count at 0 ended it */
        if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
            return stop_for_pending(cpu);
    }
}

/* Write the engine's CR0, CR3 or CR4 by executing MOV CR inside the engine
 * (a trampoline in hvsim's reserved page, view.c): a register write stores
 * the value without recomputing the engine's mode flags (measured: CR0.TS
 * set that way never raises #NM) and, for CR3, without flushing the
 * engine's TLB. Only outside hooks, with the engine in 64-bit mode (the
 * trampolines lie above 4 GiB). RAX, RIP and the flags are preserved. */
void eng_write_cr_native(cpu_t *cpu, unsigned cr, uint64_t v)
{
    if (cr != 3)
        cpu->eng_img.valid = false;            /* eng_load_mode must write CR0/CR4 again */
    uint64_t rax = eng_get(cpu, UC_X86_REG_RAX), rip = eng_get(cpu, UC_X86_REG_RIP);
    uint64_t at = view_trampoline_addr(cpu->view, cr == 4 ? 1 : cr == 3 ? 2 : 0);
    uint64_t fl = eng_get(cpu, UC_X86_REG_RFLAGS);
    bool tf = (fl & RF_TF) != 0;
    if (tf)
        eng_set(cpu, UC_X86_REG_RFLAGS, fl & ~RF_TF);         /* no single-step trap in the trampoline */
    eng_set(cpu, UC_X86_REG_RAX, v);
    const struct tb_info *keep = cpu->cur_tb;
    cpu->cur_tb = NULL;
    cpu->tramp_stop_la = at + 3;                              /* the instruction after the MOV */
    uc_err e = eng_run(cpu, at, 0);
    uint64_t end = eng_get(cpu, UC_X86_REG_RIP);
    cpu->tramp_stop_la = 0;
    cpu->cur_tb = keep;
    eng_set(cpu, UC_X86_REG_RAX, rax);
    eng_set(cpu, UC_X86_REG_RIP, rip);
    if (tf)
        eng_set(cpu, UC_X86_REG_RFLAGS, fl);
    if (e != UC_ERR_OK || end != at + 3 || (cr == 3 && eng_get(cpu, UC_X86_REG_CR3) != v))
        cpu_internal(cpu, "engine MOV CR%u failed: %s", cr, uc_strerror(e));
}

void eng_sync_cr0_cr4(cpu_t *cpu)
{
    /* Paging and write protection stay on in the engine; the x87/SSE
     * control bits mirror the guest's so that the engine raises #NM and
     * #UD as the guest's CR0/CR4 say. */
    uint64_t cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG | (cpu->cr0 & (CR0_MP | CR0_EM | CR0_TS));
    uint64_t cr4 = CR4_PAE | (cpu->cr4 & (CR4_OSFXSR | CR4_OSXMMEXCPT));
    if (cpu->eng_bits != 64 || cpu_code_bits(cpu) != 64 || cpu->eng_mode_dirty) {
        /* The trampoline lives above 4 GiB: outside 64-bit mode the bits
         * go into the engine with the next mode load (engmode.c). */
        cpu->eng_mode_dirty = true;
        return;
    }
    if (cr4 != eng_get(cpu, UC_X86_REG_CR4))
        eng_write_cr_native(cpu, 4, cr4);
    if (cr0 != eng_get(cpu, UC_X86_REG_CR0))
        eng_write_cr_native(cpu, 0, cr0);
}

/* ---- public state access ---- */

static const char *const reg_names[CPU_REG_COUNT] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rip", "rflags", "cr0", "cr2", "cr3", "cr4", "cr8", "efer", "xcr0",
};

const char *cpu_reg_name(enum cpu_reg r)
{
    return (unsigned)r < CPU_REG_COUNT ? reg_names[r] : "?";
}

int cpu_reg_by_name(const char *name)
{
    for (int i = 0; i < CPU_REG_COUNT; i++)
        if (!strcmp(reg_names[i], name))
            return i;
    return -1;
}

uint64_t cpu_get(cpu_t *cpu, enum cpu_reg r)
{
    if (r <= CPU_R15)
        return cpu_gpr(cpu, r);
    switch (r) {
    case CPU_RIP: return cpu_ip(cpu);            /* architectural: an offset in CS */
    case CPU_RFLAGS: return cpu_rflags(cpu);
    case CPU_CR0: return cpu->cr0;
    case CPU_CR2: return cpu->cr2;
    case CPU_CR3: return cpu->cr3;
    case CPU_CR4: return cpu->cr4;
    case CPU_CR8: return apic_get_tpr(cpu) >> 4;
    case CPU_EFER: return cpu->efer;
    case CPU_XCR0: return cpu->xcr0;
    default: return 0;
    }
}

void cpu_set(cpu_t *cpu, enum cpu_reg r, uint64_t v)
{
    if (r <= CPU_R15) {
        cpu_set_gpr(cpu, r, v);
        return;
    }
    switch (r) {
    case CPU_RIP: eng_set(cpu, UC_X86_REG_RIP, v); break;
    case CPU_RFLAGS: cpu_set_rflags(cpu, v); break;
    case CPU_CR0: cpu->cr0 = v; break;
    case CPU_CR2: cpu->cr2 = v; break;
    case CPU_CR3: cpu->cr3 = v; break;
    case CPU_CR4: cpu->cr4 = v; break;
    case CPU_CR8: apic_set_tpr(cpu, (v & 0xF) << 4); break;
    case CPU_EFER: cpu->efer = v; break;
    case CPU_XCR0: cpu->xcr0 = v; break;
    default: break;
    }
}

void cpu_get_seg(cpu_t *cpu, enum cpu_segreg s, struct cpu_seg *out)
{
    *out = cpu->seg[s];
    if (s == CPU_FS || s == CPU_GS)
        out->base = eng_get(cpu, s == CPU_FS ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE);
}

void cpu_set_seg(cpu_t *cpu, enum cpu_segreg s, const struct cpu_seg *seg)
{
    cpu->seg[s] = *seg;
}

void cpu_get_dtr(cpu_t *cpu, bool idt, struct cpu_dtr *out) { *out = idt ? cpu->idtr : cpu->gdtr; }
void cpu_set_dtr(cpu_t *cpu, bool idt, const struct cpu_dtr *dtr)
{
    if (idt)
        cpu->idtr = *dtr;
    else
        cpu->gdtr = *dtr;
}

unsigned cpu_cpl(const cpu_t *cpu) { return cpu->cpl; }

bool cpu_msr_read(cpu_t *cpu, uint32_t msr, uint64_t *val) { return msr_rdmsr(cpu, msr, val); }
bool cpu_msr_write(cpu_t *cpu, uint32_t msr, uint64_t val)
{
    if (msr == 0xC0000080) {                 /* EFER: boot may set LMA directly */
        cpu->efer = val;
        return true;
    }
    return msr_wrmsr(cpu, msr, val);
}

void cpu_commit_state(cpu_t *cpu)
{
    /* With the engine's mode to be loaded anyway (eng_load_mode writes every
     * segment cache before the engine runs), only the FS and GS bases are
     * written now: cpu_get_seg reads those from the engine. */
    bool reload = cpu->eng_mode_dirty;
    for (int s = CPU_ES; s <= CPU_GS; s++) {
        if (!reload)
            seg_sync_engine(cpu, (enum cpu_segreg)s);
        else if ((s == CPU_FS || s == CPU_GS) && cpu_code_bits(cpu) == 64 && cpu->eng_bits == 64)
            eng_set(cpu, s == CPU_FS ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE, cpu->seg[s].base);
    }
    cpu->cpl = SEG_ATTR_DPL(cpu->seg[CPU_CS].attr);
    /* Everything may have changed: the engine's shadows go. The translation
     * cache goes too (the current VPID's mappings, as after INIT), unless a
     * VM entry or exit just said what it invalidates (cpu_tlb_set_tag). */
    if (!cpu->tlb_keep_once)
        view_flush(cpu->view, false);
    cpu->tlb_keep_once = false;
    view_set_context(cpu->view);
    eng_sync_cr0_cr4(cpu);
    /* The block records stay: a record from before the flush is checked
     * again (bytes, fetch rights) when its block next runs (cb_block). */
    cpu->cur_tb = NULL;
}

uint64_t cpu_cycles(const cpu_t *cpu) { return cpu->cycles; }
uint64_t cpu_insns(const cpu_t *cpu) { return cpu->insns; }
void cpu_advance_cycles(cpu_t *cpu, uint64_t to)
{
    if (to > cpu->cycles)
        cpu->cycles = to;
}
bool cpu_halted(const cpu_t *cpu) { return cpu->halted; }
unsigned cpu_lp_index(const cpu_t *cpu) { return cpu->cfg.lp_index; }
const char *cpu_message(const cpu_t *cpu) { return cpu->msg; }
void cpu_get_stats(const cpu_t *cpu, struct cpu_stats *out) { *out = cpu->stats; }
void cpu_notify_phys_write(cpu_t *cpu, uint64_t pa, uint64_t len) { view_phys_written(cpu->view, pa, len); }

/* ---- queries and services for the virtualization model ---- */

enum cpu_mode cpu_mode(const cpu_t *cpu)
{
    if (!(cpu->cr0 & CR0_PE))
        return CPU_MODE_REAL;
    if (cpu_rflags_sys((cpu_t *)cpu) & RF_VM)
        return CPU_MODE_V86;
    if (cpu->efer & EFER_LMA)
        return (cpu->seg[CPU_CS].attr & SEG_ATTR_L) ? CPU_MODE_64 : CPU_MODE_COMPAT;
    return CPU_MODE_PROTECTED;
}

const char *cpu_mode_name(enum cpu_mode m)
{
    switch (m) {
    case CPU_MODE_REAL: return "real mode";
    case CPU_MODE_V86: return "virtual-8086 mode";
    case CPU_MODE_PROTECTED: return "protected mode";
    case CPU_MODE_COMPAT: return "compatibility mode";
    case CPU_MODE_64: return "64-bit mode";
    }
    return "?";
}

unsigned cpu_maxphyaddr(const cpu_t *cpu) { return cpu->prof->maxphyaddr; }

uint64_t cpu_cr4_supported(const cpu_t *cpu)
{
    const struct cpu_profile *p = cpu->prof;
    uint64_t rsvd = p->cr4_reserved;
    if (!p->smep) rsvd |= CR4_SMEP;
    if (!p->smap) rsvd |= CR4_SMAP;
    if (!p->pcid) rsvd |= CR4_PCIDE;
    if (!p->fsgsbase) rsvd |= CR4_FSGSBASE;
    if (!p->umip) rsvd |= CR4_UMIP;
    if (!p->pge) rsvd |= CR4_PGE;
    return ~rsvd;
}

bool cpu_phys_read(cpu_t *cpu, uint64_t pa, void *buf, size_t len) { return phys_read(cpu, pa, buf, len); }

uint8_t *cpu_phys_host(cpu_t *cpu, uint64_t pa, size_t len) { return phys_host(cpu, pa, len); }

void cpu_phys_written(cpu_t *cpu, uint64_t pa, size_t len) { view_phys_written(cpu->view, pa, len); }

bool cpu_phys_write(cpu_t *cpu, uint64_t pa, const void *buf, size_t len)
{
    return phys_write(cpu, pa, buf, len);
}

bool cpu_blocking_by_mov_ss(cpu_t *cpu)
{
    return cpu->shadow_mov_ss && shadow_active(cpu);
}

bool cpu_blocking_by_sti(cpu_t *cpu) { return !cpu->shadow_mov_ss && shadow_active(cpu); }

void cpu_set_interrupt_shadow(cpu_t *cpu, bool sti)
{
    cpu->sti_shadow_rip = cpu_rip(cpu);
    /* from an instruction handler (VM entry): the shadow covers the first
     * instruction after the handler's own, which retires first */
    cpu->sti_shadow_insns = cpu->insns + (cpu->virt_cur ? 1 : 0);
    cpu->shadow_mov_ss = !sti;
}

void cpu_set_guest_mode(cpu_t *cpu, bool guest) { cpu->guest_mode = guest; }
bool cpu_guest_mode(const cpu_t *cpu) { return cpu->guest_mode; }

void cpu_enter_halt(cpu_t *cpu)
{
    cpu->halted = true;
    cpu->pend.kind = PEND_HALT;
}

void cpu_enter_wait_for_sipi(cpu_t *cpu)
{
    cpu->wait_sipi = true;
    cpu_enter_halt(cpu);
}

void cpu_inject_event(cpu_t *cpu, unsigned vector, unsigned type, bool has_ec, uint32_t ec, unsigned insn_len)
{
    static const enum ev_type map[8] = { EV_EXT_INT, EV_EXT_INT, EV_NMI, EV_HW_EXCEPTION, EV_SW_INT,
                                         EV_PRIV_SW_EXCEPTION, EV_SW_EXCEPTION, EV_HW_EXCEPTION };
    uint64_t rip = cpu_rip(cpu);
    bool sw = type == 4 || type == 5 || type == 6;
    cpu->injecting = true;
    cpu_deliver(cpu, vector & 0xFF, map[type & 7], has_ec, ec, sw ? rip + insn_len : rip, rip);
    cpu->injecting = false;
}

void cpu_set_slat(cpu_t *cpu, bool on)
{
    if (cpu->slat_on != on) {
        cpu->slat_on = on;
        view_set_context(cpu->view);         /* shadows carry the state they were made under (view.c) */
    }
}

/* Every caller (VM entry and exit, VMRUN and #VMEXIT) loads the new
 * context next (cpu_reload_context), which selects the engine's tree for
 * the new tag with the new paging state; selecting it here too, with the
 * old state, was a third selection per world switch (about 1,100 host
 * instructions each). Should a run start first, cpu_run selects it
 * (view_tag_pending). */
void cpu_tlb_set_tag(cpu_t *cpu, uint16_t vpid, uint64_t eptrta)
{
    cpu->tlb_vpid = vpid;
    cpu->tlb_eptrta = eptrta;
    cpu->tlb_keep_once = true;
    cpu->view_tag_pending = true;
}

void cpu_tlb_switch_ept(cpu_t *cpu, uint64_t eptrta)
{
    cpu->tlb_eptrta = eptrta;
    view_set_context(cpu->view);
}

void cpu_tlb_invalidate(cpu_t *cpu, const struct cpu_tlb_inval *inv, enum cpu_inval_kind kind, uint64_t b,
                        uint64_t c, uint64_t d)
{
    struct tlb_sel sel = { .vpid = inv->vpid < 0 ? TLB_ANY_VPID : inv->vpid, .except_vpid0 = inv->except_vpid0,
                           .pcid = TLB_ANY_PCID, .eptrta = inv->eptrta, .any_ept = inv->any_ept,
                           .has_la = inv->has_la, .la = inv->la, .keep_global = inv->keep_global };
    view_invalidate(cpu->view, &sel);
    cpu_emit(cpu, CPU_EV_TLB_INVAL, cpu_rip(cpu), kind, b, c, d);
}

bool cpu_tlb_flush_always(const cpu_t *cpu) { return cpu->cfg.tlb_flush_always; }

bool cpu_slat_enabled(const cpu_t *cpu) { return cpu->slat_on; }

void cpu_set_pdptes(cpu_t *cpu, const uint64_t pd[4])
{
    memcpy(cpu->pdpte, pd, sizeof(cpu->pdpte));
    cpu->keep_pdptes = true;
}

void cpu_get_pdptes(const cpu_t *cpu, uint64_t pd[4]) { memcpy(pd, cpu->pdpte, sizeof(cpu->pdpte)); }

void cpu_reload_context(cpu_t *cpu)
{
    /* PAE paging outside IA-32e mode: the PDPTE registers come from memory
     * (SDM 3A 4.4.1; VM entry without EPT loads them the same way; with EPT
     * it loads them from the VMCS: cpu_set_pdptes). */
    bool keep = cpu->keep_pdptes;
    cpu->keep_pdptes = false;
    if (!keep && (cpu->cr0 & CR0_PG) && (cpu->cr4 & CR4_PAE) && !(cpu->efer & EFER_LMA)) {
        uint64_t pd[4];
        if (pae_load_pdptes(cpu, cpu->cr3, cpu->cr0, cpu->cr4, pd))
            memcpy(cpu->pdpte, pd, sizeof(pd));
    }
    cpu->sti_shadow_rip = ~0ull;
    cpu->eng_mode_dirty = true;
    cpu_commit_state(cpu);
    /* The CPL is SS.DPL in protected mode (what VM entry and exit load,
     * SDM 3C "Loading Guest Segment Registers"), 0 in real mode, 3 in
     * virtual-8086 mode. */
    unsigned cpl = !(cpu->cr0 & CR0_PE) ? 0 : (cpu_rflags_sys(cpu) & RF_VM) ? 3 : SEG_ATTR_DPL(cpu->seg[CPU_SS].attr);
    seg_set_cpl(cpu, cpl);                   /* (cpu_commit_state selected the tree for CS.DPL: again if not it) */
}

uint64_t cpu_get_dr(const cpu_t *cpu, unsigned n) { return n < 8 ? cpu->dr[n] : 0; }
void cpu_set_dr(cpu_t *cpu, unsigned n, uint64_t v)
{
    if (n < 8)
        cpu->dr[n] = v;
}

void cpu_shutdown(cpu_t *cpu, const char *why)
{
    cpu->shutdown = true;
    cpu->shutdown_by_model = true;
    snprintf(cpu->msg, sizeof(cpu->msg), "%s", why);
    struct cpu_event ev = { .kind = CPU_EV_TRIPLE_FAULT, .cycle = cpu->cycles, .rip = cpu_rip(cpu), .text = why };
    if (cpu->plat.event)
        cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

void cpu_insn_note(cpu_t *cpu, const char *text)
{
    if (!cpu->plat.event)
        return;
    struct cpu_event ev = { .kind = CPU_EV_NOTE, .cycle = cpu->cycles, .rip = cpu_rip(cpu), .text = text };
    cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

void cpu_report_vm_entry(cpu_t *cpu, uint64_t guest_rip)
{
    cpu_emit(cpu, CPU_EV_VM_ENTRY, guest_rip, 0, 0, 0, 0);
}

void cpu_report_vm_exit(cpu_t *cpu, uint32_t reason, uint64_t qualification, unsigned insn_len, uint32_t info,
                        uint64_t guest_rip)
{
    cpu_emit(cpu, CPU_EV_VM_EXIT, guest_rip, reason, qualification, insn_len, info);
}

void cpu_report_svm_exit(cpu_t *cpu, uint64_t code, uint64_t info1, uint64_t info2, uint64_t intinfo, int check,
                         uint64_t guest_rip)
{
    if (!cpu->plat.event)
        return;
    struct cpu_event ev = { .kind = CPU_EV_SVM_EXIT, .cycle = cpu->cycles, .rip = guest_rip, .a = code, .b = info1,
                            .c = info2, .d = intinfo, .e = check < 0 ? 0xFFFFFFFFu : (uint64_t)check };
    cpu->plat.event(cpu->plat.ctx, cpu, &ev);
}

void cpu_release_init(cpu_t *cpu)
{
    if (!cpu->init_blocked)
        return;
    cpu->init_blocked = false;
    cpu->apic.init_time = cpu->cycles;      /* taken at the next instruction boundary */
    apic_update(cpu);
}

void cpu_set_guest_deadline(cpu_t *cpu, uint64_t cycle)
{
    cpu->guest_deadline = cycle;
    apic_update(cpu);
}

void cpu_set_guest_window(cpu_t *cpu, bool want) { cpu->guest_window = want; }
void cpu_set_guest_nmi_window(cpu_t *cpu, bool want) { cpu->guest_nmi_window = want; }

void cpu_raise_nmi(cpu_t *cpu)
{
    cpu->nmi_pending = true;
}

bool cpu_nmi_pending(const cpu_t *cpu) { return cpu->nmi_pending; }
bool cpu_nmi_ready(cpu_t *cpu)
{
    apic_poll(cpu);
    return cpu->nmi_pending && !nmi_blocked_now(cpu);
}
bool cpu_intr_ready(cpu_t *cpu)
{
    apic_poll(cpu);
    return !cpu->wait_sipi && !cpu->irq_held && apic_pending_vector(cpu) >= 0 && intr_unmasked(cpu) &&
           !shadow_active(cpu);
}
bool cpu_nmi_blocked(const cpu_t *cpu) { return cpu->nmi_blocked; }
void cpu_set_nmi_blocked(cpu_t *cpu, bool blocked) { cpu->nmi_blocked = blocked; }
bool cpu_virtual_nmi_blocked(const cpu_t *cpu) { return cpu->vnmi_blocked; }
void cpu_set_virtual_nmi_blocked(cpu_t *cpu, bool blocked) { cpu->vnmi_blocked = blocked; }

void cpu_set_guest_nmi(cpu_t *cpu, bool nmi_exiting, bool virtual_nmis)
{
    cpu->guest_nmi_exiting = nmi_exiting;
    cpu->guest_vnmi = nmi_exiting && virtual_nmis;
}
void cpu_set_interrupts_held(cpu_t *cpu, bool held) { cpu->irq_held = held; }
void cpu_set_guest_step(cpu_t *cpu, bool step) { cpu->guest_step = step; }
void cpu_set_guest_intr_exiting(cpu_t *cpu, bool exiting) { cpu->guest_intr_exiting = exiting; }
void cpu_set_guest_virtual_if(cpu_t *cpu, bool on, bool host_if)
{
    cpu->guest_vif = on;
    cpu->guest_host_if = host_if;
}
void cpu_apic_acknowledge(cpu_t *cpu, unsigned vector) { apic_ack(cpu, vector & 0xFF); }
void cpu_leave_halt(cpu_t *cpu)
{
    cpu->halted = false;
    cpu->wait_sipi = false;
    if (cpu->pend.kind == PEND_HALT)
        cpu->pend.kind = PEND_NONE;
}

const char *cpu_shutdown_reason(const cpu_t *cpu) { return cpu->shutdown_by_model ? cpu->msg : NULL; }
