/*
 * cpu.h — one simulated x64 logical processor.
 *
 * Unicorn executes ordinary instructions; this module owns every system-level
 * semantic: paging and the translation cache (the "view"), exceptions and
 * interrupts, system instructions, MSRs, CPUID from a CPU profile, virtual
 * time. See docs/cpu-mmu.md for how Unicorn 2.0.1 is driven.
 *
 * The CPU reaches the rest of the machine only through struct cpu_platform
 * (physical memory, port I/O, the event observer) and, for VMX/SVM, through
 * struct cpu_virt_ops. It never reads the host clock or host randomness.
 * A cpu is used from one host thread at a time.
 */
#ifndef HVSIM_CPU_H
#define HVSIM_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cpu cpu_t;

/* Version of the cost model (cpu/cost.def, docs/cost-model.md), recorded in
 * trace headers. 2: APIC_ACCESS added; 3: VMX_FIELD, VMX_PTR, VMX_ONOFF;
 * 4: VM_ENTRY, VM_EXIT; 5: EPT_WALK, and refills of the engine's shadow
 * tables from the translation cache are free. */
#define CPU_COST_MODEL_VERSION 5
struct cpu_profile;

/* Errors returned by cpu_* functions. */
typedef enum cpu_err {
    CPU_OK = 0,
    CPU_ERR_NOMEM,         /* cpu_create: host allocation failed */
    CPU_ERR_UNICORN,       /* cpu_create: Unicorn refused an operation (message says which) */
    CPU_ERR_QUIRK,         /* cpu_create: a measured Unicorn behaviour hvsim relies on is absent */
    CPU_ERR_ARG,           /* any: invalid argument */
} cpu_err;

const char *cpu_strerror(cpu_err e);

/* ---- Physical memory and devices, provided by the platform (sim/) ---- */

enum cpu_span_kind {
    CPU_SPAN_NONE = 0,     /* nothing is there: an access is unmodelled */
    CPU_SPAN_RAM,          /* RAM backed by (fd, fd_offset) and host */
};

struct cpu_phys_span {
    enum cpu_span_kind kind;
    uint64_t base;         /* guest-physical start of the span */
    uint64_t len;          /* length in bytes (page multiple) */
    uint8_t *host;         /* host address of base (RAM) */
    int fd;                /* memfd backing the span (RAM), for aliasing */
    uint64_t fd_offset;    /* file offset of base */
};

/* Kinds of events the CPU reports to the observer (trace records). */
enum cpu_event_kind {
    CPU_EV_EXCEPTION = 1,  /* exception or interrupt delivered through the IDT */
    CPU_EV_CR_WRITE,       /* MOV to CRn, CLTS, LMSW */
    CPU_EV_MSR,            /* RDMSR/WRMSR, including #GP for unmodelled MSRs */
    CPU_EV_IO,             /* port I/O */
    CPU_EV_HALT,           /* HLT entered (a = RIP after HLT) */
    CPU_EV_TLB_INVAL,      /* translation-cache invalidation */
    CPU_EV_INSN,           /* a retired instruction (with --trace-insns) */
    CPU_EV_TRIPLE_FAULT,   /* shutdown */
    CPU_EV_UNMODELLED,     /* something hvsim does not model; text explains */
    CPU_EV_APIC,           /* local APIC: a = enum cpu_apic_event, b = register/destination, c = value */
    CPU_EV_VIRT,           /* a VMX/SVM instruction: a = enum cpu_virt_id, b = outcome, c = error number,
                              d = vector, e = operand (pointer, field encoding, type), f = value */
    CPU_EV_NOTE,           /* text: a line for the user (not traced) */
    CPU_EV_VM_ENTRY,       /* rip = the guest RIP entered */
    CPU_EV_VM_EXIT,        /* rip = guest RIP, a = exit reason, b = qualification, c = instruction length,
                              d = interruption or instruction information */
    CPU_EV_SVM_EXIT,       /* AMD-V #VMEXIT: rip = guest RIP, a = EXITCODE, b = EXITINFO1, c = EXITINFO2,
                              d = EXITINTINFO, e = the failed VMRUN check (0xFFFFFFFF: none) */
    CPU_EV_TLB_FILL,       /* a walk's translation cached: a = linear base, b = host-physical base,
                              c = guest-physical base, d = VPID | PCID << 16 | size log2 << 32 |
                              TLB_* flags << 40 (cpu/tlb.h) */
};

/* TLB invalidation causes, for CPU_EV_TLB_INVAL.a */
enum cpu_inval_kind {
    CPU_INVAL_MOV_CR3 = 1, /* b = new CR3, c = 1 if globals kept */
    CPU_INVAL_INVLPG,      /* b = linear address */
    CPU_INVAL_INVPCID,     /* b = type, c = PCID, d = address */
    CPU_INVAL_PAGING_BITS, /* CR0/CR4 paging-bit change: b = CR number */
    CPU_INVAL_INVEPT,      /* b = type, c = EPTRTA (single-context) */
    CPU_INVAL_INVVPID,     /* b = type, c = VPID, d = address */
    CPU_INVAL_VM_ENTRY,    /* VM entry: b = 1 VPID 0's mappings, 2 everything (flush-always) */
    CPU_INVAL_VM_EXIT,     /* VM exit: b as for VM entry */
};

/* Local APIC event kinds, for CPU_EV_APIC.a */
enum cpu_apic_event {
    CPU_APIC_READ = 0,     /* xAPIC register load: b = offset, c = value */
    CPU_APIC_WRITE,        /* xAPIC register store: b = offset, c = value */
    CPU_APIC_IPI,          /* IPI sent: b = destination field, c = ICR bits 31:0 */
    CPU_APIC_TIMER,        /* the timer expired: b = LVT timer entry, c = its vector */
    CPU_APIC_EOI,          /* EOI: c = the vector leaving the ISR (256: none was in service) */
    CPU_APIC_INIT,         /* INIT received: the LP is reset and waits for a start-up IPI */
    CPU_APIC_SIPI,         /* start-up IPI received: b = vector, c = the physical start address */
};

struct cpu_event {
    enum cpu_event_kind kind;
    uint64_t cycle;        /* virtual cycle of the event on this LP */
    uint64_t rip;          /* RIP of the instruction the event belongs to */
    uint64_t a, b, c, d;   /* kind-specific, documented in docs/trace-format.md */
    uint64_t e, f;         /* CPU_EV_VIRT and CPU_EV_SVM_EXIT only */
    const uint8_t *bytes;  /* CPU_EV_INSN: instruction bytes */
    unsigned nbytes;
    const char *text;      /* CPU_EV_UNMODELLED: what was not modelled */
};

/* Result of a platform port access. */
enum cpu_io_result {
    CPU_IO_OK = 0,
    CPU_IO_STOP,           /* the access completed and the run must end (exit device) */
    CPU_IO_UNMODELLED,     /* nothing decodes this port: fail loudly */
};

/* An interprocessor interrupt as the sending local APIC describes it
 * (SDM 3A 10.6.1, ICR). */
struct cpu_ipi {
    uint8_t vector;
    unsigned mode;         /* delivery mode: 0 fixed, 1 lowest priority, 5 INIT, 6 start-up */
    bool logical;          /* destination mode */
    uint32_t dest;         /* xAPIC: 8 bits; x2APIC: 32 bits */
    unsigned shorthand;    /* 0 none, 1 self, 2 all including self, 3 all excluding self */
    bool level_trigger;
    bool x2apic;           /* the sender is in x2APIC mode (destination format) */
    uint64_t time;         /* the sender's virtual cycle when it was sent */
};

struct cpu_platform {
    void *ctx;
    /* Find the span containing guest-physical address pa. The map must not
     * change while the CPU exists (cpu/ caches the last RAM span). */
    void (*phys_span)(void *ctx, uint64_t pa, struct cpu_phys_span *out);
    enum cpu_io_result (*io_in)(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t *val);
    enum cpu_io_result (*io_out)(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t val);
    /* Observer: called for every event; may be NULL. */
    void (*event)(void *ctx, cpu_t *cpu, const struct cpu_event *ev);
    /* Route an IPI to the LPs it names (cpu_apic_ipi_matches/deliver); may
     * be NULL: then only self-directed IPIs reach anyone. */
    void (*ipi)(void *ctx, cpu_t *from, const struct cpu_ipi *m);
};

struct cpu_config {
    const struct cpu_profile *profile;  /* NULL: the default profile */
    unsigned lp_index;                  /* logical processor number */
    unsigned lp_count;                  /* logical processors in the machine (CPUID topology; 0: 1) */
    uint64_t seed;                      /* RDRAND/RDSEED stream seed */
    bool trace_insns;                   /* report every retired instruction */
    unsigned view_max_pages;            /* translation-cache bound in 4-KiB pages (0: default) */
    bool tlb_flush_always;              /* cache policy "flush-always" (docs/ept.md): VM entries and
                                           exits and INVEPT/INVVPID empty the whole translation cache */
};

cpu_err cpu_create(const struct cpu_config *cfg, const struct cpu_platform *plat, cpu_t **out)
    __attribute__((warn_unused_result));
void cpu_destroy(cpu_t *cpu);

/* ---- Running ---- */

enum cpu_stop {
    CPU_STOP_BUDGET = 0,   /* the instruction budget ran out */
    CPU_STOP_HALTED,       /* HLT: waiting for an event */
    CPU_STOP_SHUTDOWN,     /* triple fault */
    CPU_STOP_PLATFORM,     /* a device asked the run to end */
    CPU_STOP_UNMODELLED,   /* hvsim met something it does not model (cpu_message) */
    CPU_STOP_INTERNAL,     /* host-side failure (cpu_message) */
};

/* Run until at least `budget` more instructions have retired (the count is
 * checked at translation-block boundaries) or something stops the CPU. */
enum cpu_stop cpu_run(cpu_t *cpu, uint64_t budget);
const char *cpu_message(const cpu_t *cpu);   /* explanation of the last stop */
const char *cpu_stop_name(enum cpu_stop s);

uint64_t cpu_cycles(const cpu_t *cpu);       /* virtual cycles on this LP */
uint64_t cpu_insns(const cpu_t *cpu);        /* retired instructions */
void cpu_advance_cycles(cpu_t *cpu, uint64_t to);   /* idle time (halted LPs) */
bool cpu_halted(const cpu_t *cpu);
/* Put the LP in the state after INIT (SDM 3A 9.1.1, table 9-1) and in the
 * wait-for-SIPI activity state: it runs again when a start-up IPI arrives. */
void cpu_init_wait_for_sipi(cpu_t *cpu);
bool cpu_waiting_for_sipi(const cpu_t *cpu);
/* For a halted LP: the virtual cycle at which its own timer or an
 * interrupt already on its way may wake it (~0: nothing will). */
uint64_t cpu_next_wake(cpu_t *cpu);

/* ---- Local APIC, for the platform's IPI routing ---- */
bool cpu_apic_ipi_matches(cpu_t *cpu, const struct cpu_ipi *m);   /* destination (no shorthand) */
uint32_t cpu_apic_priority(cpu_t *cpu);                             /* PPR, for lowest priority */
void cpu_apic_ipi_deliver(cpu_t *cpu, const struct cpu_ipi *m);    /* accept at time m->time */
unsigned cpu_lp_index(const cpu_t *cpu);

/* ---- State access (boot, tests, scenario checks) ---- */

enum cpu_reg {
    CPU_RAX = 0, CPU_RCX, CPU_RDX, CPU_RBX, CPU_RSP, CPU_RBP, CPU_RSI, CPU_RDI,
    CPU_R8, CPU_R9, CPU_R10, CPU_R11, CPU_R12, CPU_R13, CPU_R14, CPU_R15,
    CPU_RIP, CPU_RFLAGS,
    CPU_CR0, CPU_CR2, CPU_CR3, CPU_CR4, CPU_CR8, CPU_EFER, CPU_XCR0,
    CPU_REG_COUNT
};
const char *cpu_reg_name(enum cpu_reg r);
int cpu_reg_by_name(const char *name);       /* -1 if unknown */

uint64_t cpu_get(cpu_t *cpu, enum cpu_reg r);
/* RFLAGS with the six arithmetic flags zero (cheaper than cpu_get: nothing
 * computed from the engine's lazy flags) */
uint64_t cpu_rflags_no_arith(cpu_t *cpu);
/* Sets a register directly (no architectural checks): for boot and tests. */
void cpu_set(cpu_t *cpu, enum cpu_reg r, uint64_t v);

enum cpu_segreg { CPU_ES = 0, CPU_CS, CPU_SS, CPU_DS, CPU_FS, CPU_GS, CPU_LDTR, CPU_TR, CPU_SEG_COUNT };

/* A segment register with its hidden part, attributes in the VMX
 * access-rights layout (SDM 3C 24.4.1): 3:0 type, 4 S, 6:5 DPL, 7 P,
 * 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable. */
struct cpu_seg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;
    uint32_t attr;
};
#define SEG_ATTR_S         (1u << 4)
#define SEG_ATTR_P         (1u << 7)
#define SEG_ATTR_L         (1u << 13)
#define SEG_ATTR_DB        (1u << 14)
#define SEG_ATTR_G         (1u << 15)
#define SEG_ATTR_UNUSABLE  (1u << 16)
#define SEG_ATTR_DPL(a)    (((a) >> 5) & 3)

struct cpu_dtr { uint64_t base; uint16_t limit; };

void cpu_get_seg(cpu_t *cpu, enum cpu_segreg s, struct cpu_seg *out);
void cpu_set_seg(cpu_t *cpu, enum cpu_segreg s, const struct cpu_seg *seg);
void cpu_get_dtr(cpu_t *cpu, bool idt, struct cpu_dtr *out);
void cpu_set_dtr(cpu_t *cpu, bool idt, const struct cpu_dtr *dtr);
unsigned cpu_cpl(const cpu_t *cpu);

/* Model-specific registers: direct access for boot and tests. */
bool cpu_msr_read(cpu_t *cpu, uint32_t msr, uint64_t *val);
bool cpu_msr_write(cpu_t *cpu, uint32_t msr, uint64_t val);

/* Make the CPU state consistent after a series of cpu_set*() calls (pushes
 * the architectural state into the instruction engine and flushes the view). */
void cpu_commit_state(cpu_t *cpu);

/* Linear-memory access with the current paging state, as an implicit
 * supervisor access (for the loader and tests). Returns false on a fault. */
bool cpu_read_linear(cpu_t *cpu, uint64_t la, void *buf, size_t len);
/* Instruction bytes at linear la through the current paging (and the
 * second-level translation), without side effects: no A/D flags, no
 * fault. Returns how many of len bytes could be read (it stops at the
 * first page that does not translate). For decode assists (APM 2 15.8.4). */
size_t cpu_peek_code(cpu_t *cpu, uint64_t la, void *buf, size_t len);

/* Counters, for tests and the summary. */
struct cpu_stats {
    uint64_t exceptions;        /* exceptions and interrupts delivered */
    uint64_t unmodelled_msrs;   /* RDMSR/WRMSR of an MSR hvsim does not model (#GP) */
    uint64_t view_fills;        /* translation-cache fills */
    uint64_t view_prefetches;   /* translations installed ahead of use */
    uint64_t view_flushes;      /* whole-cache flushes */
    uint64_t sites;             /* sensitive-instruction sites intercepted */
    uint64_t tb_scans;          /* translation blocks decoded */
    uint64_t engine_entries;    /* uc_emu_start calls */
    uint64_t chained_sites;     /* sensitive instructions emulated right after another one, without an engine run */
    uint64_t code_changed_stops; /* blocks whose bytes changed under the engine's translation: dropped, run again */
    uint64_t eviction_stops;    /* runs stopped because a block record was evicted (its page's code dropped first) */
    uint64_t site_reorders;     /* times the site hooks were re-added, most-hit first (engine speed only) */
    uint64_t flushes_in_run;    /* engine TLB flushes folded into the next run (view_flush_in_run) */
    uint64_t flushes_skipped;   /* tree switches without an engine TLB flush (view.c, accessed flags) */
    uint64_t flushes_by_page;   /* tree switches with a few engine INVLPGs instead of a flush */
    uint64_t pages_dropped_directly; /* ... whose INVLPGs hvsim made itself before the run, without the
                                        trampoline (the engine's tlb_flush_page) */
    uint64_t mode_loads;        /* engine code-mode / segment-cache reloads */
    uint64_t mode_loads_skipped; /* ... not needed: the engine held the same image (eng_load_mode) */
    uint64_t engine_locks_replaced; /* 1: the engine calls hvsim's no-op page-collection locks
                                       (cpu/engine_locks.c; engine speed only) */
    uint64_t engine_tlb_fills;  /* fills of the engine's own TLB counted (cpu/engine_locks.c) */
    uint64_t engine_regrows;    /* engine flushes asked for so that its TLB may grow (eng_tlb_regrow) */
    uint64_t engine_code_pages; /* engine RAM pages announced as holding translated code (view_engine_code) */
    uint64_t engine_plain_store_fills; /* fills of the engine's TLB made to store without a code check */
    uint64_t engine_walk_reads; /* reads and flag writes of the shadow tables by the engine's walker, answered
                                   from the pool by hvsim (cpu/engine_locks.c) */
};
void cpu_get_stats(const cpu_t *cpu, struct cpu_stats *out);

/* Host writes to guest-physical memory that may hold code must be reported,
 * so translated code is discarded (Unicorn does not see host writes). */
void cpu_notify_phys_write(cpu_t *cpu, uint64_t pa, uint64_t len);

/* ---- CPU profiles (cpu/profiles.c) ---- */

const struct cpu_profile *cpu_profile_default(void);
const struct cpu_profile *cpu_profile_find(const char *name);   /* "intel", "amd" or a profile name */
const struct cpu_profile *cpu_profile_at(unsigned i);           /* NULL past the end */
const char *cpu_profile_name(const struct cpu_profile *p);
const char *cpu_profile_description(const struct cpu_profile *p);
const char *cpu_profile_vendor(const struct cpu_profile *p);    /* "GenuineIntel" / "AuthenticAMD" */

/* ---- The VT-x/AMD-V seam (registered by vmx_model) ----
 *
 * cpu/ decodes VMX and SVM instructions and hands them to the registered
 * model with their operands resolved (Intel operand order, memory operands
 * as linear addresses with segment bases applied). The model implements the
 * instruction through the cpu_insn_* services below, which exist only for the
 * duration of ops->insn. Without a model, every such instruction is #UD. */

enum cpu_virt_id {
    CPU_VI_VMXON, CPU_VI_VMXOFF, CPU_VI_VMCLEAR, CPU_VI_VMPTRLD, CPU_VI_VMPTRST,
    CPU_VI_VMREAD, CPU_VI_VMWRITE, CPU_VI_VMLAUNCH, CPU_VI_VMRESUME, CPU_VI_VMCALL,
    CPU_VI_VMFUNC, CPU_VI_INVEPT, CPU_VI_INVVPID,
    CPU_VI_VMRUN, CPU_VI_VMMCALL, CPU_VI_VMLOAD, CPU_VI_VMSAVE, CPU_VI_STGI, CPU_VI_CLGI,
    CPU_VI_SKINIT, CPU_VI_INVLPGA,
    CPU_VI_COUNT
};

/* How a memory operand's address was formed, as the VMX exit information
 * reports it (SDM 3C "VM-Exit Instruction-Information Field": scaling,
 * address size, segment, index and base registers; "Exit Qualification for
 * VM Exits Due to Instruction Execution": the displacement). Register
 * numbers are GPRs 0..15 in encoding order; CPU_MEM_NOREG when absent
 * (a RIP-relative operand has no base register). */
struct cpu_mem_form {
    unsigned seg;              /* enum cpu_segreg the access uses (override or default) */
    unsigned base, index;      /* GPR or CPU_MEM_NOREG */
    unsigned scale;            /* 1, 2, 4 or 8 (1 without an index) */
    int64_t disp;              /* the displacement field, sign-extended (0 if none) */
    unsigned addr_size;        /* address size in bytes: 2, 4 or 8 */
    bool rip_rel;              /* RIP-relative: the address is disp + RIP of the next instruction */
};
#define CPU_MEM_NOREG 0xFFu

struct cpu_virt_operand {
    bool mem;                  /* memory operand (la); otherwise the register reg */
    unsigned reg;              /* GPR number 0..15 in encoding order (enum cpu_reg) */
    unsigned size;             /* operand size in bytes */
    uint64_t la;               /* linear address */
    bool stack;                /* SS-relative: a limit or canonical fault is #SS */
    struct cpu_mem_form form;  /* mem only: how la was formed */
};

struct cpu_virt_insn {
    enum cpu_virt_id id;
    const char *mnemonic;      /* "vmread" */
    uint64_t rip;              /* linear address of the instruction */
    unsigned len;
    unsigned nops;
    struct cpu_virt_operand op[2];   /* destination first */
};

/* Instruction classes that cpu/ intercepts (cpu/insn_classes.def). */
enum insn_class {
#define X(name, mn, why) IC_##name,
#include "insn_classes.def"
#undef X
    IC_COUNT
};

enum cpu_guest_action {
    CPU_GUEST_EXECUTE = 0,     /* no VM exit: execute or deliver as usual */
    CPU_GUEST_EXITED,          /* the model performed a VM exit */
    CPU_GUEST_STOP,            /* the model stopped the run (cpu_insn_unmodelled) */
};

/* An intercepted instruction met in guest mode, with what exit decisions
 * and the exit information need. cpu/ fills everything above "out" before
 * the hook; an operand the exit decision depends on (LMSW's source) is
 * already read, so its faults came first (SDM 3C "Relative Priority of
 * Faults and VM Exits"). Fields that do not apply to the class are 0. */
struct cpu_guest_insn {
    enum insn_class cls;
    const char *mnemonic;      /* Capstone's, e.g. "cpuid" */
    uint64_t rip;              /* linear address */
    unsigned len;
    unsigned cr;               /* MOV CR / MOV DR: the register number as encoded (DR4/DR5 stay 4/5) */
    bool write;                /* MOV to CR/DR, WRMSR, OUT */
    unsigned port, size;       /* I/O: port (~0u if in DX: read RDX) and access size */
    bool string, rep;          /* INS/OUTS, REP prefix */
    bool fault_first;          /* a fault with priority over VM exits applies (#UD, a privilege-level
                                  #GP, the TSS I/O permission bitmap): the hook must not exit */
    unsigned gpr;              /* MOV CR/DR: the GPR; RDRAND/RDSEED: the destination; LLDT, LTR,
                                  SLDT, STR, LMSW, SMSW with a register operand: that register;
                                  INVPCID: the register operand (the type) */
    unsigned opsize;           /* operand size in bytes: RDRAND/RDSEED, LGDT/LIDT/SGDT/SIDT (2 or 4;
                                  8 in 64-bit mode) */
    uint64_t src;              /* MOV to CR/DR: the GPR's value; LMSW: the 16-bit source operand;
                                  INT n: the vector n */
    bool mem;                  /* the operand is in memory (LMSW, SMSW, INVLPG, INVPCID, descriptor-
                                  table instructions, INS/OUTS) */
    uint64_t la;               /* its linear address (INS/OUTS: of the first iteration) */
    struct cpu_mem_form form;  /* how la was formed (INS/OUTS: segment and address size only) */
    /* out: set by the hook when it returns CPU_GUEST_EXECUTE and VMX
     * non-root operation changes what the instruction does (SDM 3C
     * "Changes to Instruction Behavior in VMX Non-Root Operation"). cpu/
     * still makes every architectural check on the value it writes. */
    struct {
        bool use_value;        /* execute with value below */
        uint64_t value;        /* MOV from CR0/CR4, SMSW: the value read; MOV to CR0/CR4, CLTS, LMSW:
                                  the whole new CR0/CR4; RDTSC, RDTSCP, RDMSR of
                                  IA32_TIME_STAMP_COUNTER: the offset added to the TSC (after scaling) */
        bool tsc_scale;        /* RDTSC, RDTSCP, RDMSR of IA32_TIME_STAMP_COUNTER: the TSC read is first
                                  (TSC * tsc_multiplier) >> 48 (a 128-bit product; SDM 3C 26.3) */
        uint64_t tsc_multiplier;
        bool done;             /* the model carried out the instruction's effect itself (MOV to CR8
                                  with "use TPR shadow" writes the virtual-APIC page): cpu/ only
                                  retires it (RIP past it, its usual cost, the count) */
    } out;
};

/* An event that is about to be delivered in guest mode (types as in
 * cpu_inject_event). */
struct cpu_guest_event {
    unsigned vector, type;
    bool has_ec;
    uint32_t ec;
    uint64_t fault_rip;        /* the instruction the event belongs to (linear) */
    uint64_t next_rip;         /* where software interrupts/exceptions return (fault_rip + length) */
    uint64_t cr2_before;       /* #PF: CR2 before this fault wrote it (a VM exit leaves CR2 alone) */
    bool vectoring;            /* it arose while delivering the event below */
    unsigned orig_vector, orig_type;
    bool orig_has_ec;
    uint32_t orig_ec;
    uint64_t orig_len;         /* the original event's instruction length (software types) */
    uint64_t db_bits;          /* a #DB (vector 1, type 3): the DR6 bits it reports (B3-B0, BD, BS), which
                                  the processor writes to DR6 only if it is delivered (SDM 3C "Exceptions":
                                  a #DB that exits leaves DR6 alone; they are the exit qualification) */
    bool nmi_unblocked;        /* a fault of an IRET that removed blocking by NMI or virtual-NMI blocking
                                  (not vectoring): "NMI unblocking due to IRET" (SDM 3C 28.2.3) */
};

/* A task switch attempted in guest mode, after the checks that come before
 * a VM exit due to it (SDM 3C 26.4.2 "Treatment of Task Switches", steps
 * 1-4: the gate's privilege and P bit, the TSS selector, the TSS
 * descriptor's type, P bit and limit). Task switches exist only outside
 * IA-32e mode. */
enum cpu_task_source {         /* the encoding of exit-qualification bits 31:30 (SDM 3C 28.2.1) */
    CPU_TASK_CALL = 0, CPU_TASK_IRET = 1, CPU_TASK_JMP = 2, CPU_TASK_IDT = 3,
};
struct cpu_task_switch {
    uint16_t tss_sel;          /* the selector of the TSS the guest tried to switch to, as found (RPL kept) */
    enum cpu_task_source source;
    uint64_t rip;              /* linear address of the guest RIP to save: the CALL, JMP, IRET, INT n, INT3,
                                  INTO or INT1; for other events what the old TSS would have received */
    unsigned insn_len;         /* CALL, JMP, IRET; a software interrupt or (privileged) software exception
                                  through a task gate in the IDT; 0 otherwise */
    /* CPU_TASK_IDT: the event whose delivery met the task gate (types as in cpu_guest_event) */
    unsigned vector, type;
    bool has_ec;
    uint32_t ec;
};

/* Second-level translation (EPT/NPT): access bits for ops->slat (the
 * values of ept_model's EPT_ACC_*). */
#define CPU_SLAT_READ   1u
#define CPU_SLAT_WRITE  2u
#define CPU_SLAT_FETCH  4u
#define CPU_SLAT_USER   8u     /* a fetch of a user-mode linear address (U/S = 1 in the guest walk) */
#define CPU_SLAT_PAGING 16u    /* an access to a guest paging-structure entry */
#define CPU_SLAT_PROBE  32u    /* no side effects (instruction decode, fetch-permission checks) */
enum { CPU_SLAT_OK = 0, CPU_SLAT_FAULT, CPU_SLAT_STOP };
/* Effective second-level permissions (perm). */
#define CPU_SLAT_PERM_R  1u
#define CPU_SLAT_PERM_W  2u
#define CPU_SLAT_PERM_X  4u    /* supervisor execute with mode-based execute control */
#define CPU_SLAT_PERM_XU 8u    /* user execute (mode-based execute control) */

struct cpu_slat {
    uint64_t hpa;              /* host-physical address of the byte */
    uint64_t page_base_gpa, page_base_hpa, page_size;   /* the second-level page */
    unsigned perm;             /* CPU_SLAT_PERM_* */
    bool dirty;                /* writes need no further flag update (EPT D set, or A/D off) */
    bool walked;               /* the model walked the EPT (cpu/ charges EPT_WALK) */
};

/* A failed second-level translation, as the VM exit needs it. */
struct cpu_slat_fault {
    uint64_t gpa;
    unsigned acc;              /* CPU_SLAT_* of the failing access */
    bool gla_valid;            /* a linear address is associated (not a PDPTE load by MOV CR) */
    uint64_t gla;
    bool gla_translation;      /* the access was to the translation of gla (not a paging-structure entry) */
    bool guest_user, guest_writable, guest_nx;   /* the guest's own rights for gla (when gla_translation) */
    uint64_t rip;              /* the instruction's linear address (cpu_set_rip_linear) */
    bool vectoring;            /* during delivery of the event below (IDT-vectoring information) */
    unsigned orig_vector, orig_type;
    bool orig_has_ec;
    uint32_t orig_ec;
    uint64_t orig_len;
    bool nmi_unblocked;        /* an access of an IRET that removed (virtual-)NMI blocking (SDM 3C 28.2.3) */
    /* Not an EPT fault but an APIC-access VM exit (SDM 3C 30.4, cpu_set_apic_access): the access
     * (acc) reached the APIC-access page. gpa is then the host-physical address reached. */
    bool apic_access;
    bool apic_gpa;             /* a guest-physical access (a guest paging-structure entry through EPT,
                                  SDM 3C 30.4.6.1), not a linear one */
    unsigned insn_len;         /* a linear data access of an instruction: its length (0: unknown) */
};

/* An instruction's linear data access to the APIC-access page (SDM 3C 30.4.2, 30.4.3), as
 * cpu/ hands it to cpu_virt_ops.guest_apic_access. */
struct cpu_apic_access {
    unsigned offset;           /* page offset of the access's first byte on the page */
    unsigned size;             /* bytes accessed on the page */
    bool write;
    bool probe;                /* decide only: no effect, no VM exit */
    uint64_t value;            /* a write: the data; a virtualized read: set by the model */
    unsigned insn_len;         /* the instruction (a trap-like exit after a virtualized write) */
    bool virtualized;          /* out: the model virtualized the access (else an APIC-access VM exit is due) */
};

struct cpu_virt_ops {
    void *ctx;
    uint64_t cr4_allow;        /* CR4 bits the model makes writable (VMXE) */
    /* Execute a VMX or SVM instruction. Return false only when the run must
     * stop (the model called cpu_insn_unmodelled). */
    bool (*insn)(void *ctx, cpu_t *cpu, const struct cpu_virt_insn *in);
    /* RDMSR/WRMSR of an MSR the model may own: 1 done, 0 #GP, -1 not the
     * model's (cpu/'s MSR file decides). May be NULL. */
    int (*msr)(void *ctx, cpu_t *cpu, uint32_t index, bool write, uint64_t *val);
    /* Adjust a CPUID result (feature bits of the model). May be NULL. */
    void (*cpuid)(void *ctx, cpu_t *cpu, uint32_t leaf, uint32_t subleaf, uint32_t r[4]);
    /* A write of CR0 or CR4 (MOV, CLTS, LMSW) that passed cpu/'s own checks:
     * false makes it #GP(0) (SDM 3C: fixed bits in VMX operation). May be NULL. */
    bool (*cr_write)(void *ctx, cpu_t *cpu, unsigned cr, uint64_t value);
    /* Guest mode only (cpu_set_guest_mode). May be NULL. An intercepted
     * instruction (VMX/SVM instructions go to insn instead), before cpu/
     * executes it; the hook may fill gi->out when it returns
     * CPU_GUEST_EXECUTE: */
    enum cpu_guest_action (*guest_insn)(void *ctx, cpu_t *cpu, struct cpu_guest_insn *gi);
    /* An event about to be delivered through the guest's IDT: */
    enum cpu_guest_action (*guest_event)(void *ctx, cpu_t *cpu, const struct cpu_guest_event *e);
    /* At an instruction boundary in guest mode, when the deadline set by
     * cpu_set_guest_deadline() has come, the interrupt window asked for by
     * cpu_set_guest_window() is open, or at every boundary with
     * cpu_set_guest_step(): */
    enum cpu_guest_action (*guest_boundary)(void *ctx, cpu_t *cpu);
    /* A triple fault: true when it caused a VM exit (the LP runs on). */
    bool (*guest_shutdown)(void *ctx, cpu_t *cpu);
    /* An INIT signal arrived (any mode): CPU_INIT_DELIVER resets the LP as
     * usual, CPU_INIT_CONSUMED means the model handled it (a VM exit),
     * CPU_INIT_BLOCKED holds it until cpu_release_init() (VMX root
     * operation blocks INIT, SDM 3C "VMXON"). May be NULL. */
    int (*init_signal)(void *ctx, cpu_t *cpu);
    /* An SMI is pending (an IPI with delivery mode SMI reached the LP; at an
     * instruction boundary, any mode): CPU_SMI_EXITED the model made a VM
     * exit (the SMI stays pending), CPU_SMI_HELD it stays pending (AMD-V:
     * GIF = 0), CPU_SMI_SMM it would enter system-management mode, which
     * hvsim does not model: the run stops. May be NULL (CPU_SMI_SMM). */
    int (*smi_signal)(void *ctx, cpu_t *cpu);
    /* Second-level address translation (EPT) while cpu_set_slat(cpu, true):
     * translate guest-physical gpa for an access (CPU_SLAT_* bits below).
     * CPU_SLAT_OK fills *out; CPU_SLAT_FAULT: an EPT violation or
     * misconfiguration (cpu/ then calls slat_exit, unless the access was a
     * probe); CPU_SLAT_STOP: the model stopped the run (cpu_insn_unmodelled).
     * With CPU_SLAT_PROBE the model changes nothing (no A/D flags). */
    int (*slat)(void *ctx, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out);
    /* The access described by f failed second-level translation: perform
     * the VM exit (EPT violation or misconfiguration). */
    enum cpu_guest_action (*slat_exit)(void *ctx, cpu_t *cpu, const struct cpu_slat_fault *f);
    /* Guest mode: a task switch passed its first checks (struct
     * cpu_task_switch; VT-x: always a VM exit, AMD-V: with the task-switch
     * intercept). CPU_GUEST_EXITED: the model performed a VM exit;
     * anything else (or NULL) stops the run: cpu/ does not model task
     * switching itself. */
    enum cpu_guest_action (*guest_task_switch)(void *ctx, cpu_t *cpu, const struct cpu_task_switch *t);
    /* Guest mode: a start-up IPI reached the LP in the wait-for-SIPI state
     * (cpu_enter_wait_for_sipi). True: the model took it (a VM exit); false
     * (or NULL): it starts the LP as outside guest mode. */
    bool (*guest_sipi)(void *ctx, cpu_t *cpu, unsigned vector);
    /* Guest mode with cpu_set_apic_access(): an instruction's linear data access to the APIC-access
     * page. The model decides whether it is virtualized (a->virtualized); if so and !a->probe it
     * carries it out (a read fills a->value) and returns CPU_GUEST_EXECUTE, or CPU_GUEST_EXITED
     * after a trap-like VM exit that follows the completed instruction (RIP past it). When it is
     * not virtualized cpu/ raises the APIC-access VM exit through slat_exit. May be NULL (never
     * virtualized). */
    enum cpu_guest_action (*guest_apic_access)(void *ctx, cpu_t *cpu, struct cpu_apic_access *a);
};
/* "Virtualize APIC accesses" (SDM 3C 30.4): while on and in guest mode, every guest access whose
 * physical address (after EPT) lies in the 4-KiB page at page_pa is never aliased into the engine:
 * it reaches guest_apic_access or becomes an APIC-access VM exit (slat_exit with
 * cpu_slat_fault.apic_access). The view's shadow tables are keyed by it. */
void cpu_set_apic_access(cpu_t *cpu, bool on, uint64_t page_pa);
enum { CPU_INIT_DELIVER = 0, CPU_INIT_CONSUMED, CPU_INIT_BLOCKED };
enum { CPU_SMI_SMM = 0, CPU_SMI_EXITED, CPU_SMI_HELD };
/* An SMI arrived and is held or was taken by a VM exit (smi_signal). */
bool cpu_smi_pending(const cpu_t *cpu);
/* Deliver an INIT that init_signal blocked (e.g. at VMXOFF). */
void cpu_release_init(cpu_t *cpu);
void cpu_set_virt_ops(cpu_t *cpu, const struct cpu_virt_ops *ops);
const char *cpu_virt_insn_name(unsigned id);     /* "vmread", or "?" */

/* VMX non-root operation (or an SVM guest): while set, cpu/ asks the
 * model's guest_* hooks before it executes an intercepted instruction,
 * delivers an event, or shuts down. */
void cpu_set_guest_mode(cpu_t *cpu, bool guest);
bool cpu_guest_mode(const cpu_t *cpu);
/* Guest mode: call guest_boundary once the LP's clock reaches cycle (the
 * VMX-preemption timer; ~0: never). Also wakes a halted guest. */
void cpu_set_guest_deadline(cpu_t *cpu, uint64_t cycle);
/* Guest mode: call guest_boundary whenever RFLAGS.IF = 1 and nothing blocks
 * interrupts (interrupt-window exiting). */
void cpu_set_guest_window(cpu_t *cpu, bool want);
/* NMIs (SDM 3A 6.7.1): one NMI can be pending (an NMI IPI, cpu_raise_nmi);
 * it is delivered through IDT vector 2 at a boundary without blocking by
 * NMI, STI, MOV SS or wait-for-SIPI, before maskable interrupts; in guest
 * mode it goes to guest_event first (type 2, vector 2). Delivery sets
 * blocking by NMI until the next IRET, which removes it even if it faults. */
void cpu_raise_nmi(cpu_t *cpu);
bool cpu_nmi_pending(const cpu_t *cpu);
/* An NMI is pending and nothing blocks it at this boundary. */
bool cpu_nmi_ready(cpu_t *cpu);
/* Blocking by NMI (interruptibility-state bit 3 without virtual NMIs). */
bool cpu_nmi_blocked(const cpu_t *cpu);
void cpu_set_nmi_blocked(cpu_t *cpu, bool blocked);
/* Guest mode, what IRET does to NMI blocking (SDM 3C 26.3 "IRET"): with
 * NMI exiting it leaves blocking by NMI alone, and with virtual NMIs it
 * removes virtual-NMI blocking instead, which an NMI delivered (injected)
 * in guest mode sets. */
void cpu_set_guest_nmi(cpu_t *cpu, bool nmi_exiting, bool virtual_nmis);
bool cpu_virtual_nmi_blocked(const cpu_t *cpu);
void cpu_set_virtual_nmi_blocked(cpu_t *cpu, bool blocked);
/* Guest mode: call guest_boundary whenever there is no virtual-NMI
 * blocking and no blocking by STI or MOV SS (NMI-window exiting). */
void cpu_set_guest_nmi_window(cpu_t *cpu, bool want);
/* Guest mode: run one instruction (one iteration of a REP string
 * instruction) or deliver one event at a time, and call guest_boundary at
 * every instruction boundary (the monitor trap flag). */
void cpu_set_guest_step(cpu_t *cpu, bool step);
/* Guest mode: external interrupts go to guest_event whatever RFLAGS.IF says
 * ("external-interrupt exiting": IF does not block them, SDM 3C 26.3). The
 * model acknowledges the interrupt itself (cpu_apic_acknowledge) when it
 * takes it. */
void cpu_set_guest_intr_exiting(cpu_t *cpu, bool exiting);
/* Hold external interrupts and NMIs whatever RFLAGS.IF says (AMD-V: GIF =
 * 0, APM 2 15.17, table 15-10); they stay pending (in the APIC, or the one
 * latched NMI) until released, and do not end HLT. */
void cpu_set_interrupts_held(cpu_t *cpu, bool held);
/* Guest mode, AMD-V V_INTR_MASKING (APM 2 15.21.1): with on, external
 * interrupts are masked by host_if (the host's RFLAGS.IF at VMRUN) instead
 * of the guest's RFLAGS.IF: host_if false holds them pending, true offers
 * them to guest_event whatever the guest's IF says. Off: RFLAGS.IF. */
void cpu_set_guest_virtual_if(cpu_t *cpu, bool on, bool host_if);
/* A maskable interrupt is pending in the APIC and nothing masks or blocks
 * it at this boundary: cpu/ takes it (or offers it to guest_event) after
 * the guest_boundary hook and a pending NMI. */
bool cpu_intr_ready(cpu_t *cpu);
/* Acknowledge an interrupt (IRR -> ISR) as the processor does when it
 * takes it, e.g. "acknowledge interrupt on exit". */
void cpu_apic_acknowledge(cpu_t *cpu, unsigned vector);
/* Leave the HLT activity state (a VM exit from a halted guest). */
void cpu_leave_halt(cpu_t *cpu);
/* Put the LP in the HLT activity state (VM entry with activity state HLT). */
void cpu_enter_halt(cpu_t *cpu);
/* Put the LP in the wait-for-SIPI activity state without the INIT reset
 * (VM entry with activity state 3): only a start-up IPI (guest_sipi) ends
 * it; external interrupts, NMIs and INIT stay pending (SDM 3C 27.6.2 /
 * 27.7.2 "Activity State"). cpu_leave_halt() ends it too. */
void cpu_enter_wait_for_sipi(cpu_t *cpu);
/* Blocking by STI (sti) or by MOV SS (!sti) for the instruction at RIP
 * (VM entry: the interruptibility state). */
void cpu_set_interrupt_shadow(cpu_t *cpu, bool sti);
/* Blocking by STI / by MOV SS currently in effect (VM exit saves them). */
bool cpu_blocking_by_sti(cpu_t *cpu);
/* Deliver an event through the IDT/IVT as VM entry injects it (SDM 3C
 * "Event Injection"): type 0 external interrupt, 2 NMI, 3 hardware
 * exception, 4 software interrupt, 5 privileged software exception, 6
 * software exception; insn_len is the length software types return past. */
void cpu_inject_event(cpu_t *cpu, unsigned vector, unsigned type, bool has_ec, uint32_t ec, unsigned insn_len);
/* After the model rewrote the architectural state (cpu_set, cpu_set_seg,
 * ...) from an instruction handler: make it take effect (engine mode,
 * segment caches, translations) before the next instruction. */
void cpu_reload_context(cpu_t *cpu);
/* The translation cache (SDM 3C 29.4): the VPID and EPTRTA (EPTP bits
 * 51:12, 0 without EPT) translations are cached under from now on (the
 * PCID comes from CR3). VM entry and VM exit set it; the next
 * cpu_reload_context then keeps the cache (only the invalidations the model
 * asks for happen). */
void cpu_tlb_set_tag(cpu_t *cpu, uint16_t vpid, uint64_t eptrta);
/* In VMX non-root operation, the EPTRTA changed (VMFUNC EPTP switching):
 * translations are cached under the new one from now on, nothing is
 * invalidated. */
void cpu_tlb_switch_ept(cpu_t *cpu, uint64_t eptrta);
/* Invalidate cached translations: vpid (or -1: every VPID; except_vpid0),
 * eptrta (~0: any; 0: mappings made without EPT; any_ept: all made with
 * EPT), one address (has_la) or all, keeping global ones (keep_global). The
 * kind and its arguments (b, c, d) are traced as CPU_EV_TLB_INVAL. */
struct cpu_tlb_inval {
    int vpid;
    bool except_vpid0;
    uint64_t eptrta;
    bool any_ept;
    bool has_la;
    uint64_t la;
    bool keep_global;
};
void cpu_tlb_invalidate(cpu_t *cpu, const struct cpu_tlb_inval *inv, enum cpu_inval_kind kind, uint64_t b,
                        uint64_t c, uint64_t d);
/* The cache policy of this LP (cpu_config.tlb_flush_always). */
bool cpu_tlb_flush_always(const cpu_t *cpu);
/* Guest mode: route every guest-physical address through ops->slat (EPT
 * on) or not. Changing it drops every cached translation. */
void cpu_set_slat(cpu_t *cpu, bool on);
bool cpu_slat_enabled(const cpu_t *cpu);
/* The PAE PDPTE registers (VM entry with EPT loads them from the VMCS, VM
 * exit saves them). cpu_set_pdptes makes the next cpu_reload_context keep
 * them instead of reading them through CR3. */
void cpu_set_pdptes(cpu_t *cpu, const uint64_t pd[4]);
void cpu_get_pdptes(const cpu_t *cpu, uint64_t pd[4]);
/* Debug registers DR0-DR7 (VM entry/exit load and save DR7). */
uint64_t cpu_get_dr(const cpu_t *cpu, unsigned n);
void cpu_set_dr(cpu_t *cpu, unsigned n, uint64_t v);
/* A debug exception trap at the current instruction boundary, reporting
 * the DR6 bits dr6_bits (VM entry's pending debug exceptions): through the
 * guest_event hook like any #DB. */
void cpu_raise_debug_trap(cpu_t *cpu, uint64_t dr6_bits);
/* Set RIP from a linear instruction address (CS base + RIP outside 64-bit
 * mode), e.g. cpu_guest_event.fault_rip or cpu_slat_fault.rip. */
void cpu_set_rip_linear(cpu_t *cpu, uint64_t la);
/* Enter the shutdown state (a VMX abort, SDM 3C "VMX Aborts"): the run
 * ends as after a triple fault; why is traced. */
void cpu_shutdown(cpu_t *cpu, const char *why);
/* Why cpu_shutdown() shut the LP down, or NULL (a triple fault). */
const char *cpu_shutdown_reason(const cpu_t *cpu);

/* Processor operating mode (SDM 3A 2.2). */
enum cpu_mode { CPU_MODE_REAL, CPU_MODE_V86, CPU_MODE_PROTECTED, CPU_MODE_COMPAT, CPU_MODE_64 };
enum cpu_mode cpu_mode(const cpu_t *cpu);
const char *cpu_mode_name(enum cpu_mode m);
unsigned cpu_maxphyaddr(const cpu_t *cpu);
/* Events are blocked by MOV SS or POP SS for the instruction at RIP
 * (SDM 3A 6.8.3). */
bool cpu_blocking_by_mov_ss(cpu_t *cpu);
/* CR4 bits the profile lets software set (before the model's cr4_allow). */
uint64_t cpu_cr4_supported(const cpu_t *cpu);

/* Services for ops->insn. A memory access is an explicit data access at
 * the current CPL through paging; on a fault the exception is delivered
 * with the instruction's RIP and false is returned: the handler then
 * returns at once. */
bool cpu_insn_read(cpu_t *cpu, const struct cpu_virt_operand *op, void *buf, size_t len);
bool cpu_insn_write(cpu_t *cpu, const struct cpu_virt_operand *op, const void *buf, size_t len);
void cpu_insn_fault(cpu_t *cpu, unsigned vector, bool has_ec, uint32_t ec);   /* fault at the instruction */
/* From a guest_* hook: fault (no error code) at the instruction at rip. */
void cpu_insn_fault_at(cpu_t *cpu, uint64_t rip, unsigned vector);
/* A line for the user about the instruction (e.g. the VM-entry check that
 * failed): on the observer as CPU_EV_NOTE; `hvsim run` prints it. */
void cpu_insn_note(cpu_t *cpu, const char *text);
/* VM entry and VM exit, for the trace (CPU_EV_VM_ENTRY, CPU_EV_VM_EXIT). */
void cpu_report_vm_entry(cpu_t *cpu, uint64_t guest_rip);
void cpu_report_vm_exit(cpu_t *cpu, uint32_t reason, uint64_t qualification, unsigned insn_len, uint32_t info,
                        uint64_t guest_rip);
/* AMD-V #VMEXIT, for the trace (CPU_EV_SVM_EXIT): the VMCB's EXITCODE,
 * EXITINFO1/2 and EXITINTINFO; check is the failed VMRUN consistency check
 * for VMEXIT_INVALID (-1 when none). */
void cpu_report_svm_exit(cpu_t *cpu, uint64_t code, uint64_t info1, uint64_t info2, uint64_t intinfo, int check,
                         uint64_t guest_rip);
/* Report the instruction's outcome to the observer (CPU_EV_VIRT). */
void cpu_insn_report(cpu_t *cpu, unsigned outcome, unsigned error, unsigned vector, uint64_t operand, uint64_t value);
void cpu_insn_retire(cpu_t *cpu);                /* RIP past the instruction, cost charged */
/* The instruction completed by moving RIP elsewhere (VM entry, VM exit):
 * count it and charge its cost plus the named extra (enum cpu_virt_cost). */
enum cpu_virt_cost { CPU_VCOST_NONE, CPU_VCOST_ENTRY, CPU_VCOST_EXIT };
void cpu_insn_retire_jump(cpu_t *cpu, enum cpu_virt_cost extra);
/* Charge a VM exit that an event or a guest instruction caused (outside an
 * instruction handler): its cost, and the instruction when count_insn. */
void cpu_account_exit(cpu_t *cpu, bool count_insn);
void cpu_insn_unmodelled(cpu_t *cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Guest-physical memory (bounds-checked; false: nothing is there). */
bool cpu_phys_read(cpu_t *cpu, uint64_t pa, void *buf, size_t len);
bool cpu_phys_write(cpu_t *cpu, uint64_t pa, const void *buf, size_t len);
/* Host address of guest-physical RAM [pa, pa + len) (one span), NULL when it
 * is not RAM: for a model's own structures (the current VMCS). A write
 * through it must be followed by cpu_phys_written (translated code of the
 * page is then dropped, as cpu_phys_write does). */
uint8_t *cpu_phys_host(cpu_t *cpu, uint64_t pa, size_t len);
void cpu_phys_written(cpu_t *cpu, uint64_t pa, size_t len);

#endif
