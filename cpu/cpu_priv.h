/*
 * cpu_priv.h — internal state of a logical processor, shared by the files of
 * cpu/ and by white-box unit tests. Nothing outside cpu/ and tests/ includes it.
 *
 * Where state lives (invariant, see docs/cpu-mmu.md):
 *  - general registers, RIP, RFLAGS, x87/SSE state, FS/GS base: in the
 *    Unicorn engine (the engine executes the instructions that use them);
 *  - everything else architectural (control and debug registers, EFER, XCR0,
 *    segment descriptor caches, descriptor-table registers, MSRs, CPL,
 *    activity state): here, in struct cpu. The engine's own copies of CR0,
 *    CR3, CR4, EFER, GDTR and IDTR are hvsim's mechanism, not guest state.
 */
#ifndef HVSIM_CPU_PRIV_H
#define HVSIM_CPU_PRIV_H

#include <string.h>

#include <capstone/capstone.h>
#include <unicorn/unicorn.h>

#include "cpu.h"
#include "paging.h"
#include "tlb.h"

const char *insn_class_name(enum insn_class c);

/* ---- control-register and flag bits used across cpu/ ---- */
#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)

#define CR4_VME        (1ull << 0)
#define CR4_PVI        (1ull << 1)
#define CR4_TSD        (1ull << 2)
#define CR4_DE         (1ull << 3)
#define CR4_PSE        (1ull << 4)
#define CR4_PAE        (1ull << 5)
#define CR4_MCE        (1ull << 6)
#define CR4_PGE        (1ull << 7)
#define CR4_PCE        (1ull << 8)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_UMIP       (1ull << 11)
#define CR4_LA57       (1ull << 12)
#define CR4_VMXE       (1ull << 13)
#define CR4_SMXE       (1ull << 14)
#define CR4_FSGSBASE   (1ull << 16)
#define CR4_PCIDE      (1ull << 17)
#define CR4_OSXSAVE    (1ull << 18)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)
#define CR4_PKE        (1ull << 22)

#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define EFER_NXE   (1ull << 11)
#define EFER_SVME  (1ull << 12)

#define RF_CF   (1ull << 0)
#define RF_FIXED (1ull << 1)
#define RF_TF   (1ull << 8)
#define RF_IF   (1ull << 9)
#define RF_DF   (1ull << 10)
#define RF_OF   (1ull << 11)
#define RF_IOPL (3ull << 12)
#define RF_NT   (1ull << 14)
#define RF_RF   (1ull << 16)
#define RF_VM   (1ull << 17)
#define RF_AC   (1ull << 18)
#define RF_VIF  (1ull << 19)
#define RF_VIP  (1ull << 20)
#define RF_ID   (1ull << 21)

/* Exception vectors (SDM 3A 6.3.1). */
enum {
    VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5, VEC_UD = 6,
    VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13,
    VEC_PF = 14, VEC_MF = 16, VEC_AC = 17, VEC_MC = 18, VEC_XM = 19, VEC_VE = 20,
    VEC_CP = 21,
    /* Not a vector: a second-level (EPT) fault recorded in cpu->slat_fault,
     * which becomes a VM exit where an exception would be delivered. */
    VEC_SLAT = 0x100,
    /* Not a vector: the engine's access translated (through EPT) to a page
     * with no RAM; the instruction's real access decides (an EPT violation
     * for a refused write, else the run stops). */
    VEC_NORAM = 0x101,
    /* Not a vector: event delivery met a task gate in the protected-mode
     * IDT whose checks passed; xcpt.ec holds the TSS selector (task.c). */
    VEC_TASK = 0x102,
    /* Not a vector: the engine's access reached the APIC-access page
     * (cpu_set_apic_access); the instruction's access decides (apic_access.c). */
    VEC_APIC_ACCESS = 0x103,
};

/* ---- MSR file (msr.c, msrs.def) ---- */
enum msr_id {
#define X(name, index, kind, reset, desc) MSR_##name,
#include "msrs.def"
#undef X
    MSR_COUNT
};
struct msr_file {
    uint64_t val[MSR_COUNT];
};
int msr_lookup(uint32_t index);               /* -1: not modelled */
const char *msr_name(uint32_t index);         /* NULL: not in msrs.def */
bool msr_modelled(uint32_t index);            /* msrs.def, x2APIC range, TSC deadline */

/* ---- CPU profile (profiles.c) ---- */
struct cpuid_leaf {
    uint32_t leaf, subleaf;
    bool has_subleaf;                          /* ECX selects a subleaf */
    uint32_t eax, ebx, ecx, edx;
};
struct cpu_profile {
    const char *name;
    const char *description;
    const char *vendor;                        /* 12-character CPUID vendor string */
    bool is_amd;
    unsigned maxphyaddr, linear_bits;
    const struct cpuid_leaf *leaves;
    unsigned nleaves;
    uint64_t tsc_hz;                           /* virtual TSC frequency */
    /* feature switches hvsim's own semantics depend on */
    bool nx, smep, smap, pcid, invpcid, fsgsbase, xsave, rdrand, rdseed, rdtscp,
         page1g, pge, syscall, umip, sysenter_in_long_mode, monitor, x2apic, tsc_deadline;
    uint64_t apic_timer_hz;                    /* APIC timer input clock (crystal or bus) */
    uint64_t xcr0_supported;                   /* XCR0 bits that may be set */
    uint64_t cr4_reserved;                     /* CR4 bits that fault when set */
};

/* ---- local APIC state (apic.c) ---- */
enum { APIC_LVT_TIMER, APIC_LVT_THERMAL, APIC_LVT_PERF, APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR,
       APIC_LVT_CMCI, APIC_NLVT };
struct apic {
    uint32_t id;                               /* xAPIC: ID register bits 31:24; x2APIC: the 32-bit ID */
    uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi, dcr, timer_initial;
    uint32_t lvt[APIC_NLVT];
    uint32_t isr[8], tmr[8], irr[8];
    uint64_t ticks_per_count;                  /* cycles per timer tick at divide-by-1 */
    uint64_t timer_start, timer_deadline;      /* cycles; deadline ~0: not counting */
    uint64_t tsc_deadline;                     /* IA32_TSC_DEADLINE (0: disarmed) */
    /* interrupts sent by other LPs whose send time this LP's clock has not reached */
    uint32_t arriving[8], arriving_level[8];
    uint64_t arrival_time[256];
    uint64_t next_arrival;                     /* earliest of them (~0: none) */
    uint64_t init_time, sipi_time;             /* INIT / start-up IPI on its way (~0: none) */
    uint8_t sipi_vector;
    uint64_t nmi_time;                         /* an NMI IPI on its way (~0: none); then cpu->nmi_pending */
    uint64_t smi_time;                         /* an SMI IPI on its way (~0: none); then smi_pending */
    bool smi_pending;                          /* an SMI that arrived and is held (AMD-V: GIF = 0) */
};

/* ---- translation cache: the engine's linear view (view.c) ---- */
struct view;

/* ---- decoded instructions (decode.c) ---- */
#define DEC_MAX_MEMOPS 2
struct dec_memop {
    uint64_t ea;                               /* effective (linear) address */
    unsigned size;
    bool read, write;
    bool stack;                                /* SS-relative (base RSP/RBP or implicit) */
};
struct dec_insn {
    uint64_t la;
    unsigned len;
    uint8_t bytes[16];
    unsigned id;                               /* Capstone x86_insn */
    enum insn_class cls;
    unsigned cost;                             /* cycles, from cost.def */
    cs_insn *ci;                               /* Capstone detail (a decode cache entry: valid until the next decode) */
    unsigned nmem;
    struct dec_memop mem[DEC_MAX_MEMOPS];      /* filled by dec_memops() */
};

/* The index of the (last) memory operand and of the (last) other operand
 * of a decoded instruction (-1: none): a MOV to or from emulated memory. */
static inline void dec_mem_other(const cs_x86 *x, int *memi, int *other)
{
    *memi = -1;
    *other = -1;
    for (int i = 0; i < x->op_count; i++) {
        if (x->operands[i].type == X86_OP_MEM)
            *memi = i;
        else
            *other = i;
    }
}

/* Per-translation-block record kept by the block hook (decode.c). */
struct tb_info {
    uint64_t la;                               /* first instruction (linear) */
    uint8_t bits;                              /* code mode it was decoded in: 16, 32 or 64 */
    uint32_t size;                             /* bytes, as the engine reported */
    uint32_t ninsn;
    uint32_t cycles;                           /* cost of the whole block (cum[ninsn]) */
    bool user;                                 /* scanned at CPL 3 (fetch rights depend on it) */
    uint64_t gen;                              /* view generation when scanned */
    uint8_t *bytes;                            /* copy of the code (detects rewritten code) */
    uint16_t *off;                             /* offset of each instruction, ninsn + 1 entries */
    uint8_t *cls;                              /* enum insn_class of each instruction */
    uint32_t *cum;                             /* cycles before each instruction, ninsn + 1 entries */
};

/* What made the engine stop; set by hooks, consumed by the run loop. */
enum pend_kind {
    PEND_NONE = 0,
    PEND_SITE,          /* code hook at a sensitive instruction (rip) */
    PEND_EXCEPTION,     /* engine raised vector at rip */
    PEND_NEW_SITES,     /* block hook found sites that need hooks (TB at rip) */
    PEND_FETCH_FAULT,   /* block hook: fetch not permitted at rip (la = fault address) */
    PEND_BUDGET,        /* instruction budget reached at a TB boundary (rip) */
    PEND_INVALIDATE,    /* translated code must be dropped before resuming at rip */
    PEND_FETCH_STOP,    /* stopped in front of the instruction whose fetch faults (cpu->fetch_stop) */
    PEND_IRQ,           /* stopped at a TB boundary: an interrupt may be due (rip) */
    PEND_MMIO,          /* data access to the xAPIC page at la (rip: the instruction) */
    PEND_HALT,          /* HLT completed */
    PEND_PLATFORM,      /* a device asked the run to end */
    PEND_UNMODELLED,    /* message in cpu->msg */
    PEND_INTERNAL,      /* message in cpu->msg */
};
struct pending {
    enum pend_kind kind;
    uint64_t rip;
    unsigned vector;
    uint64_t la;        /* fault address */
    uint32_t ec;        /* error code */
};

#define CPU_MAX_SITES 4096
struct cpu_site {
    cpu_t *cpu;
    uint64_t la;
    uc_hook h;
    uint32_t hits;                             /* stops here, halved at each reordering */
};

/* Where QEMU keeps hidden state in a uc_context image (engmode.c). */
struct eng_layout {
    size_t hflags, segs, cr0, cr4;
    bool valid;
};

struct cpu {
    uc_engine *uc;
    struct cpu_config cfg;
    const struct cpu_profile *prof;
    struct cpu_platform plat;
    struct cpu_phys_span ram_span;             /* the last RAM span phys_access used (mem.c) */
    bool in_engine;                            /* inside uc_emu_start (hooks): no register cache */
    uint64_t regc_valid[5];                    /* engine registers cached between runs (eng_get) */
    uint64_t regc_val[320];
    uint64_t regc_plain[5];                    /* registers eng_set may keep in the cache (eng_plain_init) */
    struct cpu_virt_ops virt;
    bool has_virt;
    const struct dec_insn *virt_cur;           /* the VMX/SVM instruction being executed (sysinsn.c) */
    unsigned virt_cost;                        /* its cost when it retires */
    enum cpu_virt_id virt_id;
    bool guest_mode;                           /* VMX non-root operation: consult virt.guest_* */
    bool injecting;                            /* cpu_inject_event: the injected event skips guest_event */
    bool init_blocked;                         /* an INIT is held by the virtualization model */
    bool shutdown_by_model;                    /* cpu_shutdown(): msg says why */
    uint64_t guest_deadline;                   /* guest mode: call virt.guest_boundary at this cycle (~0: none) */
    bool guest_window;                         /* guest mode: ... when interrupts become unblocked */
    bool guest_intr_exiting;                   /* guest mode: external interrupts ignore RFLAGS.IF */
    bool guest_vif;                            /* guest mode: guest_host_if masks external interrupts in
                                                  place of RFLAGS.IF (AMD-V V_INTR_MASKING) */
    bool guest_host_if;                        /* ... the host's RFLAGS.IF at VMRUN */
    bool irq_held;                             /* the model holds external interrupts and NMIs (SVM GIF = 0) */
    bool guest_step;                           /* guest mode: one instruction per engine entry, a
                                                  guest_boundary call at every boundary (MTF) */
    uint64_t cr2_before_pf;                    /* CR2 before cpu_raise() wrote it (VM exits restore it) */
    bool slat_on;                              /* guest-physical addresses go through virt.slat (EPT) */
    bool apic_acc_on;                          /* "virtualize APIC accesses": the page below is special */
    uint64_t apic_acc_pa;                      /* ... the APIC-access page (4-KiB aligned, host-physical) */
    bool keep_pdptes;                          /* cpu_set_pdptes: the next reload keeps the PDPTE registers */
    uint64_t db_bits;                          /* DR6 bits of the #DB cpu_deliver is about to deliver */
    struct {
        bool active;                           /* a second-level fault is waiting for its VM exit */
        bool stop;                             /* ... or the model stopped the run */
        struct cpu_slat_fault f;
    } slat_fault;

    /* architectural state owned by cpu/ */
    uint64_t cr0, cr2, cr3, cr4, efer, xcr0;   /* CR8 is the APIC's TPR */
    uint64_t pdpte[4];                         /* PAE paging: the PDPTE registers (SDM 3A 4.4.1) */
    uint64_t dr[8];
    struct cpu_seg seg[CPU_SEG_COUNT];
    struct cpu_dtr gdtr, idtr;
    unsigned cpl;
    struct msr_file msr;
    uint64_t tsc_offset;                       /* TSC = cycles + tsc_offset */
    bool halted, shutdown;
    bool wait_sipi;                            /* wait-for-SIPI activity state (halted is set too) */
    uint64_t sti_shadow_rip;                   /* interrupt shadow after STI/MOV SS (~0: none) */
    uint64_t sti_shadow_insns;                 /* ... valid while insns still equals this */
    bool shadow_mov_ss;                        /* ... and it is blocking by MOV SS/POP SS, not STI */
    /* NMIs (SDM 3A 6.7.1 "NMI Handling", 6.8.3; SDM 3C 26.3 IRET, 27.7.1).
     * Invariant: nmi_pending is one latched NMI (further ones merge into
     * it); it is delivered at a boundary without blocking by NMI, STI or
     * MOV SS. vnmi_blocked only means something while guest_mode and
     * guest_vnmi (virtual NMIs). */
    bool nmi_pending;
    bool nmi_blocked;                          /* blocking by NMI: from NMI delivery until the next IRET */
    bool vnmi_blocked;                         /* guest mode, "virtual NMIs": virtual-NMI blocking */
    bool guest_nmi_exiting, guest_vnmi;        /* guest mode: what IRET unblocks (cpu_set_guest_nmi) */
    bool guest_nmi_window;                     /* guest mode: call guest_boundary when no virtual-NMI blocking */
    bool iret_unblocked_nmi;                   /* the IRET being executed removed (virtual-)NMI blocking */
    struct apic apic;
    uint64_t irq_cycle;                        /* stop at a TB boundary once cycles reach this */
    uint64_t irq_insns;                        /* ... or once insns reach this */
    int delivering;                            /* exception-delivery nesting (for #DF) */
    unsigned first_vector;                     /* vector being delivered when nesting */

    /* time */
    uint64_t cycles, insns;
    uint64_t budget_end;                       /* stop when insns reaches this */
    const struct tb_info *cur_tb;              /* TB whose cost is not yet accounted */
    const struct tb_info *site_tb;             /* the block of the site hook that stopped the engine */

    /* mechanism */
    struct view *view;
    /* The architectural translation cache (tlb.c) and the tag translations
     * are cached under besides the PCID (cpu_tlb_set_tag). */
    struct tlb *tlb;
    uint16_t tlb_vpid;
    uint64_t tlb_eptrta;
    struct xlat_memo {                         /* a translation found in the translation cache, with what
                                                  the answer depends on (mem.c, xlat_key_now) */
        bool valid;
        uint64_t page, hpa;
        struct xlat_key {
            uint64_t gen, cr0, cr3, cr4, efer, eptrta, apic;
            uint16_t vpid;
            uint8_t cpl;
            bool ac, slat_on, implicit_sv;
        } k;
    } mcc, mxm[2];                             /* mem_code_cached's page; mem_translate's read and write */
    bool tlb_keep_once;                        /* the next cpu_commit_state leaves the cache alone */
    bool view_tag_pending;                     /* the tag changed, the engine's tree not yet selected for it */
    csh cs;
    cs_insn *csi;
    struct dcache_ent *dcache;                 /* decoded-instruction cache (decode.c) */
    struct pending pend;
    uc_hook h_block, h_intr, h_unmapped, h_insn_invalid, h_trace;
    /* Sensitive-instruction sites, each with its own code hook (user data:
     * its struct cpu_site). Unicorn 2.0.1 walks the list of code hooks in
     * order at every hooked instruction, so the most-hit sites are kept at
     * its front (reorder_sites in cpu.c). */
    struct cpu_site sites[CPU_MAX_SITES];
    uint16_t site_order[CPU_MAX_SITES];        /* indices into sites[], in the engine's hook-list order */
    uint16_t site_hash[2 * CPU_MAX_SITES];     /* index + 1 into sites[], by linear address; 0: empty */
    unsigned nsites;
    unsigned site_stops;                       /* site stops since the list was last ordered */
    bool last_was_site;                        /* the last loop turn emulated a sensitive instruction */
    uint64_t fetch_stop;                       /* instruction to stop before (fetch fault), 0: none */
    uint64_t fetch_stop_la;                    /* its faulting fetch address */
    uint64_t new_sites[64];
    unsigned nnew_sites;
    struct tbcache *tbc;
    uc_context *ctx_scratch;                   /* for resetting the engine's #DF tracker */
    size_t oe_off;                             /* offset of that tracker in a uc_context */
    struct eng_layout eng_layout;              /* hidden-state offsets in a uc_context (engmode.c) */
    uint8_t *eng_env;                          /* the engine's CPU state itself, once checked against such an
                                                * image (eng_layout_find); NULL: only through the API */
    size_t eng_env_hdr;                        /* where that state starts in a uc_context image */
    bool eng_cr3_direct;                       /* CR3 too is written there (eng_layout_find) */
    bool eng_segbase_direct;                   /* ... and FS and GS base read and written there, */
    size_t eng_fs_base_at, eng_gs_base_at;     /* ... at these offsets from eng_env */
    bool eng_mode_dirty;                       /* the engine's segment caches/mode need reloading */
    unsigned eng_bits;                         /* code mode the engine was last given */
    uint64_t eng_cs_base;                      /* CS base the engine was last given */
    csh cs16, cs32;                            /* Capstone handles for 16- and 32-bit code */
    uint64_t prng[4];                          /* xoshiro256** state for RDRAND/RDSEED */
    uint64_t shadow_root_written;              /* engine CR3 currently loaded */
    uint64_t tramp_stop_la;                    /* the block hook stops the engine here (trampolines), 0: none */
    bool msr_claimed;                          /* the last msr_rdmsr/msr_wrmsr went to the model's hook,
                                                  which owns the MSR (its #GP is modelled) */
    bool tramp_run;                            /* the run started in one of hvsim's trampolines and has not
                                                  left them yet: blocks in the reserved range are hvsim's */
    uint64_t fetch_ok_gen;                     /* view generation of fetch_ok[] + 1 (0: empty) */
    uint64_t fetch_ok[16];                     /* pages fetchable in that generation: page | (CPL == 3) */
    uint64_t tb_revalidations;                 /* block records reused after a flush (not in cpu_stats) */
    const struct tb_info *trace_tb;            /* cb_trace: the block of the instruction traced last ... */
    unsigned trace_k;                          /* ... and its index there */
    uint64_t eng_fills;                        /* fills of the engine's TLB in its runs since hvsim last
                                                  asked for an engine flush (view.c resets it) */
    uint64_t eng_tlb_guess;                    /* what hvsim supposes the engine's TLB holds (entries), for
                                                  eng_tlb_regrow (cpu.c) */
    unsigned step_drops;                       /* blocks dropped for one-instruction runs since the last
                                                  translated-code flush (cpu.c, cpu_run) */
    struct eng_mode_img {                      /* what eng_load_mode wrote last (engmode.c) */
        bool valid;
        uint16_t sel[6];
        uint32_t limit[6], flags[6];
        uint64_t base[6], cr0, cr4;
        unsigned bits;
    } eng_img;
    bool rip_dirty;                            /* regc_val[RIP] is not in the engine yet (eng_flush_rip) */
    bool track_accessed;                       /* the view's shadow entries are made with A = 0, so the
                                                  engine's walker marks what it caches (view.c: from a
                                                  second tree or the first guest on); the block hook then
                                                  tells the view the code pages it runs (view_note_exec,
                                                  view_check_code) */

    bool evicted_in_run;                      /* scan_block evicted a record (cb_block stops the run) */
    struct cpu_stats stats;
    char msg[512];
};

/* ---- the engine's code mode and segment caches (engmode.c) ---- */
bool eng_layout_find(cpu_t *cpu);              /* at creation; false: refuse to run */
bool eng_env_check(cpu_t *cpu, uint8_t *env);  /* registers there read and write as through the API */
void eng_load_mode(cpu_t *cpu);                /* outside hooks: caches, CR0/CR4 bits, hflags */
unsigned cpu_code_bits(const cpu_t *cpu);     /* 16 (real or 16-bit protected), 32 or 64 */
uint64_t cpu_cs_base(const cpu_t *cpu);       /* linear = CS base + instruction pointer (0 in 64-bit) */

/* ---- Unicorn 2.0.1's page-collection locks (engine_locks.c) ---- */
uint64_t engine_locks_calls(void);            /* how often the engine called hvsim's no-op locks */
extern _Thread_local uint64_t engine_fills, engine_alarm_at, *engine_alarm_word;
/* fills of the engine's TLB so far (this thread) */
static inline uint64_t engine_tlb_fills(void) { return engine_fills; }
/* zero *word when the count reaches at (word NULL: never) */
static inline void engine_tlb_fill_alarm(uint64_t at, uint64_t *word)
{
    engine_alarm_at = at;
    engine_alarm_word = word;
}
#define ENG_TLB_GUESS_START 256u               /* QEMU 5.0: 1 << CPU_TLB_DYN_DEFAULT_BITS (cpu.c, eng_tlb_regrow) */
#define ENG_TLB_GUESS_MAX (1u << 16)

/* ---- engine register helpers (cpu.c) ---- */
/* The general registers and RIP are read and written in the engine's own
 * state once it was found (eng_env, cpu.c: eng_env_slot); everything else,
 * and all of it without that state, through the API. Inline: hundreds of
 * reads per VM-exit round trip. */
extern const uint8_t eng_env_slot[UC_X86_REG_ENDING];   /* slot + 1 in that state, 0: elsewhere */
static inline uint64_t eng_env_rd(const cpu_t *cpu, unsigned slot)   /* slot: 0..15 regs[], 16 eip */
{
    uint64_t v;
    memcpy(&v, cpu->eng_env + 8 * slot, 8);
    return v;
}
static inline void eng_env_wr(cpu_t *cpu, unsigned slot, uint64_t v)
{
    memcpy(cpu->eng_env + 8 * slot, &v, 8);
}
uint64_t eng_get_slow(cpu_t *cpu, int ucreg);
void eng_set_slow(cpu_t *cpu, int ucreg, uint64_t v);
static inline uint64_t eng_get(cpu_t *cpu, int ucreg)
{
    unsigned r = (unsigned)ucreg;
    if (cpu->eng_env && r < UC_X86_REG_ENDING && eng_env_slot[r])
        return eng_env_rd(cpu, eng_env_slot[r] - 1u);
    return eng_get_slow(cpu, ucreg);
}
/* (RIP written inside a hook goes through the API: it stops the engine) */
static inline void eng_set(cpu_t *cpu, int ucreg, uint64_t v)
{
    unsigned r = (unsigned)ucreg;
    if (cpu->eng_env && r < UC_X86_REG_ENDING && eng_env_slot[r] && !(ucreg == UC_X86_REG_RIP && cpu->in_engine)) {
        eng_env_wr(cpu, eng_env_slot[r] - 1u, v);
        return;
    }
    eng_set_slow(cpu, ucreg, v);
}
void eng_cache_drop(cpu_t *cpu);
void eng_flush_rip(cpu_t *cpu);               /* RIP eng_set kept back, to the engine (before a context save) */               /* after changing engine state other than through eng_set */
uc_err eng_run(cpu_t *cpu, uint64_t begin, uint64_t until);   /* uc_emu_start, with the register cache dropped */
/* idx 0..15 in encoding order, which is the engine's order of regs[] */
uint64_t cpu_gpr_slow(cpu_t *cpu, unsigned idx);
void cpu_set_gpr_slow(cpu_t *cpu, unsigned idx, uint64_t v);
static inline uint64_t cpu_gpr(cpu_t *cpu, unsigned idx)
{
    return cpu->eng_env ? eng_env_rd(cpu, idx & 15) : cpu_gpr_slow(cpu, idx);
}
static inline void cpu_set_gpr(cpu_t *cpu, unsigned idx, uint64_t v)
{
    if (cpu->eng_env)
        eng_env_wr(cpu, idx & 15, v);
    else
        cpu_set_gpr_slow(cpu, idx, v);
}
uint64_t cpu_rflags(cpu_t *cpu);
uint64_t cpu_rflags_sys(cpu_t *cpu);          /* only the system flags (cheaper: none computed) */
void cpu_set_rflags(cpu_t *cpu, uint64_t v);
/* The instruction pointer as a linear address (CS base + RIP/EIP/IP); all of
 * cpu/ works with linear instruction addresses. */
uint64_t cpu_rip(cpu_t *cpu);
void cpu_set_rip(cpu_t *cpu, uint64_t v);
/* The architectural RIP/EIP/IP (an offset in CS). */
uint64_t cpu_ip(cpu_t *cpu);
void cpu_set_ip(cpu_t *cpu, uint64_t ip);
void eng_write_cr_native(cpu_t *cpu, unsigned cr, uint64_t v);
void eng_sync_cr0_cr4(cpu_t *cpu);          /* engine CR0/CR4 from the guest's (outside hooks) */

/* ---- events and failures (cpu.c) ---- */
void cpu_emit(cpu_t *cpu, enum cpu_event_kind k, uint64_t rip, uint64_t a, uint64_t b,
              uint64_t c, uint64_t d);
void cpu_emit_virt(cpu_t *cpu, uint64_t rip, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e,
                   uint64_t f);
void cpu_unmodelled(cpu_t *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cpu_internal(cpu_t *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cpu_charge(cpu_t *cpu, unsigned cycles);

/* ---- memory access as instructions see it (mem.c) ----
 * Result of an access: OK, or an exception already described in *x. */
struct xcpt {
    unsigned vector;
    uint32_t ec;
    bool has_ec;
    uint64_t cr2;
};
enum mem_res { MEM_OK = 0, MEM_FAULT, MEM_UNMODELLED };
struct mem_acc {
    unsigned cpl;              /* privilege used for the permission check */
    bool implicit_sv;          /* implicit supervisor access (descriptor tables, TSS) */
    bool stack;                /* #SS instead of #GP for non-canonical addresses */
};
enum mem_res mem_read(cpu_t *cpu, const struct mem_acc *a, uint64_t la, void *buf, size_t len,
                      struct xcpt *x);
enum mem_res mem_write(cpu_t *cpu, const struct mem_acc *a, uint64_t la, const void *buf, size_t len,
                       struct xcpt *x);
struct mem_acc mem_acc_cur(cpu_t *cpu);              /* current CPL, explicit */
struct mem_acc mem_acc_sys(void);                    /* implicit supervisor */
void cpu_pg_ctx(cpu_t *cpu, struct pg_ctx *pc, unsigned cpl, bool implicit_sv);
/* pg_walk over guest-physical memory (A/D writes go to guest memory). */
enum pg_status cpu_walk(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                        bool set_ad, struct pg_result *r);
/* The same, then the second-level translation of the result (PG_SLAT when
 * it fails: cpu->slat_fault says how; *s gets the host-physical page). With
 * set_ad false nothing is written (a probe). */
enum pg_status cpu_walk_slat(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                             bool set_ad, struct pg_result *r, struct cpu_slat *s);
/* The translation as the processor makes it: from the translation cache when
 * it holds la for the current tag with the rights the access needs (no walk,
 * nothing written; *cached is set), else cpu_walk_slat, whose result is then
 * cached (unless set_ad is false: a probe caches nothing). A cached entry
 * that refuses the access is dropped and the walk decides (SDM 3A 4.10.4.3:
 * a stale entry with fewer rights may fault or not; hvsim re-walks). r and
 * s are filled as by cpu_walk_slat (r->pa is the guest-physical address). */
enum pg_status cpu_translate(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                             bool set_ad, struct pg_result *r, struct cpu_slat *s, bool *cached);
/* Load the four PAE PDPTEs for CR3 (SDM 3A 4.4.1). False: #GP(0) (a reserved
 * bit) or, with cpu->pend set to unmodelled, a table outside RAM. */
bool pae_load_pdptes(cpu_t *cpu, uint64_t cr3, uint64_t cr0, uint64_t cr4, uint64_t out[4]);
/* The same for MOV to CR0/CR3/CR4: false with *x = #GP(0) (a reserved bit),
 * or the second-level fault (VEC_SLAT) of reading the table through EPT, or
 * with cpu->pend set to unmodelled. */
bool pae_load_pdptes_x(cpu_t *cpu, uint64_t cr3, uint64_t cr0, uint64_t cr4, uint64_t out[4], struct xcpt *x);
/* Translate one linear address for an access at the privilege of *a (page
 * walk with A/D updates, then second-level translation): *pa is the
 * host-physical address. */
enum mem_res mem_translate(cpu_t *cpu, const struct mem_acc *a, uint64_t la, enum pg_access acc, uint64_t *pa,
                           struct xcpt *x);
/* Second-level translation of a guest-physical address (identity when it
 * is off); CPU_SLAT_FAULT records the fault in cpu->slat_fault. */
int slat_translate(cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *s);
/* Perform the VM exit for the recorded second-level fault of the
 * instruction at rip (not during event delivery). */
void slat_raise(cpu_t *cpu, uint64_t rip);
/* Physical access (bounds-checked through the platform). */
bool phys_read(cpu_t *cpu, uint64_t pa, void *buf, size_t len);
uint8_t *phys_host(cpu_t *cpu, uint64_t pa, size_t len);
bool phys_write(cpu_t *cpu, uint64_t pa, const void *buf, size_t len);
/* Read instruction bytes at la without side effects (no A/D, no faults). */
size_t mem_peek_code(cpu_t *cpu, uint64_t la, uint8_t *buf, size_t len);
/* The translation cache holds la for the current tag with read rights: an
 * engine fetch there would refill its shadow without a walk. */
bool mem_code_cached(cpu_t *cpu, uint64_t la);

/* ---- exceptions (exceptions.c) ---- */
enum ev_type { EV_HW_EXCEPTION, EV_SW_INT, EV_SW_EXCEPTION, EV_EXT_INT, EV_NMI, EV_PRIV_SW_EXCEPTION };
/* Deliver an event through the IDT (SDM 3A 6.12/6.14). next_rip: the RIP to
 * push (faults: the faulting instruction; traps and INT n: the next one);
 * fault_rip: the RIP pushed for a fault raised while delivering the event
 * (INT n: the INT instruction itself, SDM 3A 6.12.1.2). */
void cpu_deliver(cpu_t *cpu, unsigned vector, enum ev_type type, bool has_ec, uint32_t ec,
                 uint64_t next_rip, uint64_t fault_rip);
void cpu_raise(cpu_t *cpu, const struct xcpt *x, uint64_t rip);   /* fault at rip */
static inline struct xcpt xcpt_gp(uint32_t ec) { return (struct xcpt){ VEC_GP, ec, true, 0 }; }
static inline struct xcpt xcpt_ud(void) { return (struct xcpt){ VEC_UD, 0, false, 0 }; }

/* ---- events and IRET outside IA-32e mode (legacy.c) ---- */
uint64_t legacy_sp_mask(const cpu_t *cpu);   /* 16- or 32-bit stack pointer (~0 in 64-bit mode) */
/* Deliver through the IVT (real mode) or the protected-mode IDT; ret_la is
 * the linear address of the instruction to return to. False: *f is the
 * fault raised while delivering, or cpu->pend says unmodelled. */
bool legacy_deliver(cpu_t *cpu, unsigned vector, enum ev_type type, bool has_ec, uint32_t ec, uint64_t ret_la,
                    struct xcpt *f);
/* IRET with operand size osz (2 or 4): 1 done, 0 fault in *x, -1 unmodelled. */
int legacy_iret(cpu_t *cpu, unsigned osz, struct xcpt *x);
/* Pop/push n bytes on the current stack (SS base and 16/32-bit SP outside
 * 64-bit mode); RSP is updated only on success. */
enum mem_res stack_pop(cpu_t *cpu, void *buf, unsigned n, struct xcpt *x);
enum mem_res stack_push(cpu_t *cpu, const void *buf, unsigned n, struct xcpt *x);
unsigned insn_opsize(const cpu_t *cpu, bool prefix66);
/* RET far outside IA-32e mode: 1 done, 0 fault in *x, -1 unmodelled. */
int legacy_far_ret(cpu_t *cpu, unsigned osz, unsigned imm, struct xcpt *x);
/* Load CS in real mode (base = selector * 16). */
void legacy_set_cs_real(cpu_t *cpu, uint16_t sel);

/* ---- task switches outside IA-32e mode (task.c) ---- */
enum task_res {
    TASK_NONE = 0,      /* not a task switch (a code segment): the caller goes on */
    TASK_FAULT,         /* a check before the switch faulted: *x */
    TASK_DONE,          /* it passed its checks and caused a VM exit */
    TASK_STOP,          /* the run stops (cpu->pend: task switches are not modelled) */
};
/* Far JMP/CALL to sel (after its memory operand was read), at linear rip,
 * len bytes: a task gate or TSS descriptor outside IA-32e mode, or any
 * system descriptor in IA-32e mode (#GP; call gates stop the run). */
enum task_res task_far_transfer(cpu_t *cpu, uint16_t sel, bool call, uint64_t rip, unsigned len, struct xcpt *x);
/* IRET with NT = 1 outside IA-32e mode and virtual-8086 mode. */
enum task_res task_iret(cpu_t *cpu, uint64_t rip, unsigned len, struct xcpt *x);
/* The TSS named by a task gate (low quadword gate) in the protected-mode
 * IDT, whose DPL and P bit passed: 1 with *tss, 0 with *x, -1 stop. */
int task_gate_idt(cpu_t *cpu, uint64_t gate, bool ext, uint16_t *tss, struct xcpt *x);
/* A task switch that passed its checks: the VM exit (guest_task_switch),
 * else the run stops. TASK_DONE or TASK_STOP. */
enum task_res task_switch(cpu_t *cpu, const struct cpu_task_switch *t);

/* ---- alignment checking (align.c) ---- */
/* CR0.AM, RFLAGS.AC and CPL 3: #AC checking is on (SDM 3A 6.15). */
bool ac_active(cpu_t *cpu);
/* With it on: 1 when an access of the instruction d (decoded at the
 * current RIP) is misaligned (#AC(0) before it runs), 0 when none is, -1
 * when the run stops (an access hvsim cannot classify; cpu->pend). */
int ac_check(cpu_t *cpu, const struct dec_insn *d);
void ac_raise(cpu_t *cpu, uint64_t rip);       /* #AC(0) at the instruction at linear rip */

/* ---- segments (seg.c) ---- */
bool seg_read_descriptor(cpu_t *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi, struct xcpt *x);
void seg_from_descriptor(uint16_t sel, uint64_t lo, uint64_t hi, struct cpu_seg *out);
void seg_sync_engine(cpu_t *cpu, enum cpu_segreg s);
void seg_set_cpl(cpu_t *cpu, unsigned cpl);
bool seg_load_data(cpu_t *cpu, enum cpu_segreg s, uint16_t sel, struct xcpt *x);

/* ---- system instructions (sysinsn.c) ---- */
/* Emulate the sensitive instruction at the current RIP. Returns false when
 * the run must stop (cpu->pend says why). */
bool sysinsn_emulate(cpu_t *cpu, const struct dec_insn *d);
bool cpu_write_cr(cpu_t *cpu, unsigned n, uint64_t v, uint64_t rip, struct xcpt *x);
/* Emulate the instruction at RIP whose data access to linear la reached the
 * xAPIC page at physical pa. False when the run must stop. */
bool sysinsn_mmio(cpu_t *cpu, uint64_t la, uint64_t pa);
/* ---- apic_access.c: "virtualize APIC accesses" (SDM 3C 30.4) ---- */
/* hpa lies in the APIC-access page and the control is in effect (guest mode). */
static inline bool apic_access_hit(const cpu_t *cpu, uint64_t hpa)
{
    return cpu->apic_acc_on && cpu->guest_mode && (hpa & ~0xFFFull) == cpu->apic_acc_pa;
}
/* Record an APIC-access VM exit as a second-level fault (slat_fault, VEC_SLAT):
 * slat_acc is the CPU_SLAT_* access, gpa_access a guest-physical access. */
void apic_access_fault(cpu_t *cpu, uint64_t la, uint64_t hpa, unsigned slat_acc, bool gpa_access);
/* The engine's data access at la (acc: read or write as the instruction at
 * rip makes it) reached the APIC-access page: virtualize it or exit. */
void apic_access_insn(cpu_t *cpu, uint64_t la, enum pg_access acc, uint64_t rip);
/* An access cpu/ makes itself (n bytes at la) met the APIC-access page: true
 * (and the run stopped) when the model would virtualize it. */
bool apic_access_emulated(cpu_t *cpu, uint64_t la, uint64_t n, bool write);

/* ---- local APIC (apic.c) ---- */
void apic_reset(cpu_t *cpu);
bool apic_x2(const cpu_t *cpu);
bool apic_base_write(cpu_t *cpu, uint64_t v);            /* false: #GP */
bool apic_xapic_page(const cpu_t *cpu, uint64_t pa);     /* pa is in this LP's xAPIC register page */
uint64_t apic_base_page(const cpu_t *cpu);
bool apic_mmio_read(cpu_t *cpu, unsigned off, unsigned size, uint32_t *out);   /* false: unmodelled */
bool apic_mmio_write(cpu_t *cpu, unsigned off, unsigned size, uint32_t v);
int apic_msr_read(cpu_t *cpu, uint32_t msr, uint64_t *val);   /* 1 ok, 0 #GP, -1 unmodelled */
int apic_msr_write(cpu_t *cpu, uint32_t msr, uint64_t val);
bool apic_tsc_deadline_read(cpu_t *cpu, uint64_t *val);       /* false: #GP */
bool apic_tsc_deadline_write(cpu_t *cpu, uint64_t val);
void apic_poll(cpu_t *cpu);                  /* due timers and arrivals into the IRR */
int apic_pending_vector(cpu_t *cpu);         /* highest deliverable vector, -1: none */
void apic_ack(cpu_t *cpu, unsigned vector);  /* IRR -> ISR (interrupt acknowledged) */
void apic_update(cpu_t *cpu);                /* recompute cpu->irq_cycle */
uint64_t apic_next_wake(cpu_t *cpu);         /* cycle at which a halted LP may get an interrupt */
uint64_t apic_get_tpr(const cpu_t *cpu);
void apic_init_reset(cpu_t *cpu);           /* INIT: every register but the ID and IA32_APIC_BASE */
void cpu_apic_init_received(cpu_t *cpu);    /* an INIT arrived (cpu.c) */
void cpu_apic_sipi_received(cpu_t *cpu, uint8_t vector);   /* a start-up IPI reached a waiting LP */
void apic_set_tpr(cpu_t *cpu, uint64_t tpr);

/* ---- MSR access with architectural checks (msr.c) ---- */
bool msr_rdmsr(cpu_t *cpu, uint32_t index, uint64_t *val);     /* false: #GP */
bool msr_wrmsr(cpu_t *cpu, uint32_t index, uint64_t val);      /* false: #GP */
void msr_reset(cpu_t *cpu);

/* ---- CPUID (profiles.c) ---- */
void cpuid_query(cpu_t *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* ---- decode (decode.c) ---- */
bool dec_init(cpu_t *cpu);
void dec_fini(cpu_t *cpu);
/* Decode the instruction at la; false if the bytes are not decodable. */
bool dec_at(cpu_t *cpu, uint64_t la, struct dec_insn *out);
bool dec_bytes(cpu_t *cpu, const uint8_t *bytes, size_t n, uint64_t la, struct dec_insn *out);
/* Fill d->mem[] with the memory accesses the instruction makes. */
void dec_memops(cpu_t *cpu, struct dec_insn *d);
unsigned dec_reg_index(unsigned capstone_reg, unsigned *width);  /* GPR index or ~0u */
uint64_t dec_linear(cpu_t *cpu, const cs_x86 *x, const cs_x86_op *op, uint64_t ea);

/* ---- translation-block scan cache (decode.c) ---- */
struct tbcache *tbc_create(void);
void tbc_destroy(struct tbcache *t);
void tbc_clear(struct tbcache *t);
void tbc_drop_pages(struct tbcache *t, const uint64_t *pages, unsigned n);   /* linear page numbers */
const struct tb_info *tbc_lookup(struct tbcache *t, uint64_t la);
const struct tb_info *tbc_insert(struct tbcache *t, const struct tb_info *tmpl, uint64_t *evicted);
unsigned tbc_home(uint64_t la);               /* the first slot of la's neighbourhood (tests) */
void tbc_set_gen(struct tbcache *t, const struct tb_info *tb, uint64_t gen);   /* record revalidated */
/* Cycles and instructions of tb executed before la (la inside tb). */
void tb_prefix(const struct tb_info *tb, uint64_t la, uint64_t *cycles, uint64_t *insns);

/* ---- view (view.c) ---- */
struct view *view_create(cpu_t *cpu, unsigned max_pages);
void view_destroy(struct view *v);
/* Handle an engine #PF at la. Returns 1 if the access may be retried
 * (a translation was installed), 0 if it is a guest fault (x filled),
 * 2 if it reaches the xAPIC register page (physical address in
 * view_mmio_pa(); the instruction must be emulated), -1 on an unmodelled
 * situation (cpu->msg filled). */
int view_handle_fault(struct view *v, uint64_t la, uint64_t rip, struct xcpt *x);
uint64_t view_mmio_pa(const struct view *v);
/* Ensure an engine region covers la (for the unmapped hook). */
bool view_cover(struct view *v, uint64_t la);
void view_flush(struct view *v, bool keep_global);
/* Drop the engine's shadow entries only (an artifact of the engine, not an
 * architectural invalidation: the translation cache keeps its entries and
 * refills the shadows without a walk). */
void view_drop_shadows(struct view *v);
/* The architectural invalidation sel (INVEPT, INVVPID, VM transitions). */
void view_invalidate(struct view *v, const struct tlb_sel *sel);
/* The tag of the current context. */
void view_tag(const struct view *v, struct tlb_tag *tag);
/* The tag of the current context (mem.c). */
void cpu_tlb_tag(const cpu_t *cpu, struct tlb_tag *tag);
void view_flush_pcid(struct view *v, uint16_t pcid, bool keep_global);
void view_invlpg(struct view *v, uint64_t la);
void view_invpcid_addr(struct view *v, uint64_t la, uint16_t pcid);
void view_set_context(struct view *v);       /* CPL / PCID / paging bits changed */
uint64_t view_generation(const struct view *v);
uint64_t view_until_address(const struct view *v);
uint64_t view_trampoline_addr(const struct view *v, unsigned which);   /* 0: mov cr0,rax 1: mov cr4,rax 2: mov cr3,rax */
bool view_flush_in_run_ok(struct view *v);
uint64_t view_flush_in_run(struct view *v, uint64_t target);   /* the run's start address */
bool view_is_reserved(uint64_t la);
void view_refuse_reserved(struct view *v, uint64_t la, bool exec);   /* cpu_unmodelled, naming la and the range */
void view_note_code(struct view *v, uint64_t la);
void view_drop_code(struct view *v, uint64_t la, uint32_t size);   /* before the next run */
void view_drop_page_code(struct view *v, uint64_t la);   /* the page's translated code, before the next run */
const uint8_t *view_code_ptr(struct view *v, uint64_t la, size_t len);
/* The engine's current shadow tree maps la: the engine can translate it
 * outside a run without faulting (uc_ctl_remove_cache). */
bool view_engine_maps(struct view *v, uint64_t la);
void view_note_exec(struct view *v, uint64_t la, uint32_t size);   /* the engine runs the block at la */
void view_hooks_removal_begin(struct view *v);   /* around uc_hook_del: no engine walk can fault */
void view_hooks_removal_end(struct view *v);
void view_engine_code(void *uc, uint64_t ram_addr, bool has_code);   /* the engine's tlb_(un)protect_code */
void view_engine_fill(struct view *v, void *cs, uint64_t vaddr);      /* a writable identity fill, made */
void view_engine_seen(struct view *v, void *cs, int mmu_idx);         /* a fill of this view's engine's TLB */
extern _Thread_local struct view *engine_view;                        /* the view whose engine runs (eng_run) */
uint64_t engine_cc_compute_all(uint64_t dst, uint64_t src1, uint64_t src2, int op);   /* the engine's */
extern _Thread_local void **engine_env_catch;                         /* where update_mxcsr_status puts its env */
/* the running view's shadow pool, answered by engine_locks.c when the
 * engine's walker reads or flags it (NULL outside runs), and how often */
extern _Thread_local uint8_t *engine_pool;
extern _Thread_local uint64_t engine_pool_pa, engine_pool_len, engine_pool_hits;
void view_pool_span(const struct view *v, uint8_t **host, uint64_t *pa, uint64_t *len);
void view_engine_flush(struct view *v);        /* outside hooks: flush the engine's TLB before it runs again */
bool view_code_unchecked(const struct view *v);
int view_check_code(struct view *v, uint64_t la, uint32_t size, struct xcpt *x, uint64_t *fault_la);
void view_phys_written(struct view *v, uint64_t pa, uint64_t len);
void view_prepare_run(struct view *v);       /* drop stale translated code before running */
void view_sync_engine(struct view *v);       /* do a deferred engine TLB flush (before the engine runs) */
bool view_inval_pending(const struct view *v);
/* No written code page and no translated code waiting to be dropped
 * (view_prepare_run would do nothing but the engine's TLB flush). */
bool view_code_settled(const struct view *v);
void view_do_pending_inval(struct view *v);

/* ---- cost model (cost.c) ---- */
enum cost_event {
#define X(name, cycles, desc) COST_##name,
#include "cost.def"
#undef X
    COST_COUNT
};
extern const unsigned cost_table[COST_COUNT];
unsigned cost_of_insn(const cs_insn *ci, enum insn_class cls);

#endif
