/*
 * test_entry_checks.c — the VM-entry checks (vmx_model/entry_checks.def,
 * SDM 3C "VM Entries"). A fake VMCS (a field array), fake guest RAM and the
 * capability MSRs of the intel-server and intel-minimal profiles (plus a
 * "synthetic" profile that allows every control, for checks no profile can
 * reach yet) start from a valid state: 64-bit host, 64-bit guest, passing
 * all three stages. Each row of `rows` changes a few things and names the
 * one check that must fail (its stage, kind and exit qualification follow),
 * or PASS for the relaxed cases (real mode under unrestricted guest, 32-bit
 * protected mode with and without paging, virtual-8086, PAE, CPL 3, ...).
 * Every check id must have a failing row; docs/vmx.md must list the .def.
 */
#include <stdint.h>

#include "cpu.h"
#include "entry_checks.h"
#include "harness.h"
#include "vmx.h"
#include "vmx_bits.h"

/* ---- architectural bits (SDM 3A), stated here independently of the module ---- */
#define CR0_PE   0x1ull
#define CR0_ET   0x10ull
#define CR0_NE   0x20ull
#define CR0_WP   0x10000ull
#define CR0_PG   0x80000000ull
#define CR4_PAE  0x20ull
#define CR4_LA57 0x1000ull
#define CR4_VMXE 0x2000ull
#define CR4_PCIDE 0x20000ull
#define CR4_CET  0x800000ull
#define RF_TF    0x100ull
#define RF_IF    0x200ull
#define RF_VM    0x20000ull
#define BIT(n)   (1ull << (n))
#define NONCANON BIT(47)                    /* not canonical with 48 linear-address bits */

#define PROC2_SPP          BIT(23)
#define PROC2_PT_GPA       BIT(24)
#define EXIT_CLEAR_RTIT    BIT(25)
#define EXIT_LOAD_CET      BIT(28)
#define EXIT_LOAD_PKRS     BIT(29)
#define EXIT_SECONDARY     BIT(31)
#define ENTRY_LOAD_BNDCFGS BIT(16)
#define ENTRY_LOAD_RTIT    BIT(18)
#define ENTRY_LOAD_UINV    BIT(19)
#define ENTRY_LOAD_CET     BIT(20)
#define ENTRY_LOAD_PKRS    BIT(22)

/* injection: valid | type << 8 | vector, and "deliver error code" */
#define INJ(type, vec) (0x80000000ull | ((uint64_t)(type) << 8) | (vec))
#define DEC 0x800ull

/* ---- the fake processor ---- */

#define RAM_SIZE (1u << 20)
#define VAPIC    0x5000ull
#define LINK     0x9000ull
#define PDPT     0x20000ull

enum prof { SRV, MIN, SYN };
static const char *const prof_name[] = { "intel-server", "intel-minimal", "synthetic" };

struct fake {
    uint64_t field[VMCS_FIELD_COUNT];
    uint64_t cap[VMX_NCAP_MSRS];
    bool present[VMX_NCAP_MSRS];
    struct vmentry_env env;
};
static uint8_t ram[RAM_SIZE];

static uint64_t fake_field(void *ctx, enum vmcs_field_id id)
{
    struct fake *fk = ctx;
    ck_assert_msg(vmcs_field_supported(id, fk->env.features), "the checks read %s, which the profile lacks",
                  vmcs_field_name(id));
    return fk->field[id];
}

static bool fake_phys_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
    (void)ctx;
    if (pa >= RAM_SIZE || len > RAM_SIZE - pa)
        return false;
    memcpy(buf, ram + pa, len);
    return true;
}

#define CAPI(msr) ((msr) - MSR_VMX_BASIC)

static void span_none(void *ctx, uint64_t pa, struct cpu_phys_span *out)
{
    (void)ctx, (void)pa;
    memset(out, 0, sizeof(*out));
}
static enum cpu_io_result io_in_none(void *c, cpu_t *cpu, uint16_t p, unsigned s, uint32_t *v)
{
    (void)c, (void)cpu, (void)p, (void)s, (void)v;
    return CPU_IO_UNMODELLED;
}
static enum cpu_io_result io_out_none(void *c, cpu_t *cpu, uint16_t p, unsigned s, uint32_t v)
{
    (void)c, (void)cpu, (void)p, (void)s, (void)v;
    return CPU_IO_UNMODELLED;
}

/* CR4_FIXED1 and MAXPHYADDR of a profile, as vmx_attach computes them. */
static void profile_cpu_facts(const char *name, uint64_t *cr4_fixed1, unsigned *maxphyaddr)
{
    struct cpu_platform plat = { NULL, span_none, io_in_none, io_out_none, NULL, NULL };
    struct cpu_config cc = { .profile = cpu_profile_find(name), .seed = 1 };
    ck_assert_ptr_nonnull(cc.profile);
    cpu_t *cpu = NULL;
    ck_assert_int_eq(cpu_create(&cc, &plat, &cpu), CPU_OK);
    *cr4_fixed1 = (cpu_cr4_supported(cpu) | CR4_VMXE) & 0xFFFFFFFFu;
    *maxphyaddr = cpu_maxphyaddr(cpu);
    cpu_destroy(cpu);
}

/* The feature set and VMCS_ENUM from the capability MSRs (as vmx_attach). */
static void derive_features(struct fake *fk)
{
    uint64_t a1[VMCS_CTLW_COUNT] = { 0 };
    a1[VMCS_CTLW_PIN] = fk->cap[CAPI(MSR_VMX_PINBASED_CTLS)] >> 32;
    a1[VMCS_CTLW_PROC] = fk->cap[CAPI(MSR_VMX_PROCBASED_CTLS)] >> 32;
    a1[VMCS_CTLW_EXIT] = fk->cap[CAPI(MSR_VMX_EXIT_CTLS)] >> 32;
    a1[VMCS_CTLW_ENTRY] = fk->cap[CAPI(MSR_VMX_ENTRY_CTLS)] >> 32;
    if (fk->present[CAPI(MSR_VMX_PROCBASED_CTLS2)])
        a1[VMCS_CTLW_PROC2] = fk->cap[CAPI(MSR_VMX_PROCBASED_CTLS2)] >> 32;
    if (fk->present[CAPI(MSR_VMX_PROCBASED_CTLS3)])
        a1[VMCS_CTLW_PROC3] = fk->cap[CAPI(MSR_VMX_PROCBASED_CTLS3)];
    if (fk->present[CAPI(MSR_VMX_EXIT_CTLS2)])
        a1[VMCS_CTLW_EXIT2] = fk->cap[CAPI(MSR_VMX_EXIT_CTLS2)];
    if (fk->present[CAPI(MSR_VMX_VMFUNC)])
        a1[VMCS_CTLW_VMFUNC] = fk->cap[CAPI(MSR_VMX_VMFUNC)];
    fk->env.features = vmcs_features_from_allowed1(a1);
    fk->cap[CAPI(MSR_VMX_VMCS_ENUM)] = (uint64_t)vmcs_max_index(fk->env.features) << 1;
}

static void load_caps(struct fake *fk, enum prof p)
{
    const struct vmx_caps *c = vmx_caps_for_profile(p == MIN ? "intel-minimal" : "intel-server");
    ck_assert_ptr_nonnull(c);
    memcpy(fk->cap, c->msr, sizeof(fk->cap));
    memcpy(fk->present, c->present, sizeof(fk->present));
    profile_cpu_facts(c->profile, &fk->cap[CAPI(MSR_VMX_CR4_FIXED1)], &fk->env.maxphyaddr);
    if (p == SYN) {
        /* every control may be 1 (allowed-0 settings unchanged), tertiary and
         * secondary exit controls exist, 5-level EPT walks, CR4.CET */
        static const unsigned ctl_msrs[] = {
            MSR_VMX_PINBASED_CTLS, MSR_VMX_PROCBASED_CTLS, MSR_VMX_EXIT_CTLS, MSR_VMX_ENTRY_CTLS,
            MSR_VMX_TRUE_PINBASED_CTLS, MSR_VMX_TRUE_PROCBASED_CTLS, MSR_VMX_TRUE_EXIT_CTLS,
            MSR_VMX_TRUE_ENTRY_CTLS, MSR_VMX_PROCBASED_CTLS2,
        };
        for (unsigned i = 0; i < sizeof(ctl_msrs) / sizeof(ctl_msrs[0]); i++)
            fk->cap[CAPI(ctl_msrs[i])] |= 0xFFFFFFFF00000000ull;
        fk->cap[CAPI(MSR_VMX_PROCBASED_CTLS3)] = ~0ull;
        fk->present[CAPI(MSR_VMX_PROCBASED_CTLS3)] = true;
        fk->cap[CAPI(MSR_VMX_EXIT_CTLS2)] = ~0ull;
        fk->present[CAPI(MSR_VMX_EXIT_CTLS2)] = true;
        fk->cap[CAPI(MSR_VMX_EPT_VPID_CAP)] |= BIT(7);
        fk->cap[CAPI(MSR_VMX_CR4_FIXED1)] |= CR4_CET;
    }
    derive_features(fk);
}

#define F(name) fk->field[VMCS_##name]

/* Control settings that pass: allowed-0 from the MSR VM entry uses, plus what
 * the base state turns on. */
static uint32_t required(const struct fake *fk, unsigned msr, unsigned true_msr)
{
    bool use_true = (fk->cap[CAPI(MSR_VMX_BASIC)] >> 55) & 1;
    return (uint32_t)fk->cap[CAPI(use_true ? true_msr : msr)];
}

/* A valid state: 64-bit host (IA-32e mode), 64-bit guest at CPL 0. */
static void build(struct fake *fk, enum prof p)
{
    memset(fk, 0, sizeof(*fk));
    memset(ram, 0, sizeof(ram));
    load_caps(fk, p);
    bool srv = p != MIN;
    fk->env.cap = fk->cap;
    fk->env.cap_present = fk->present;
    fk->env.launch = true;
    fk->env.ia32e_mode = true;
    fk->env.vmxon_ptr = 0x8000;
    fk->env.current_vmcs = 0xA000;
    fk->env.ctx = fk;
    fk->env.field = fake_field;
    fk->env.phys_read = fake_phys_read;

    /* controls */
    F(PIN_BASED_VM_EXEC_CONTROL) = required(fk, MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED_CTLS) |
                                   PIN_EXT_INT_EXITING | PIN_NMI_EXITING;
    F(PROC_BASED_VM_EXEC_CONTROL) = required(fk, MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED_CTLS) | PROC_HLT |
                                    PROC_IO_BITMAPS | PROC_MSR_BITMAPS |
                                    (srv ? PROC_TPR_SHADOW | PROC_SECONDARY : 0);
    F(SECONDARY_VM_EXEC_CONTROL) = PROC2_EPT | PROC2_VPID;
    F(VM_EXIT_CONTROLS) = required(fk, MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT_CTLS) | EXIT_HOST_ADDR_SPACE |
                          (srv ? EXIT_LOAD_EFER | EXIT_LOAD_PAT : 0);
    F(VM_ENTRY_CONTROLS) = required(fk, MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY_CTLS) | ENTRY_IA32E_GUEST |
                           (srv ? ENTRY_LOAD_EFER | ENTRY_LOAD_PAT : 0);
    F(IO_BITMAP_A) = 0x1000;
    F(IO_BITMAP_B) = 0x2000;
    F(MSR_BITMAP) = 0x3000;
    F(VIRTUAL_APIC_ADDR) = VAPIC;
    F(VPID) = 1;
    F(EPT_POINTER) = 0x6000 | (3 << 3) | 6;     /* WB, 4-level */

    /* host */
    F(HOST_CR0) = CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_PE;
    F(HOST_CR3) = 0x10000;
    F(HOST_CR4) = CR4_VMXE | CR4_PAE;
    F(HOST_CS_SELECTOR) = 0x08;
    F(HOST_SS_SELECTOR) = F(HOST_DS_SELECTOR) = F(HOST_ES_SELECTOR) = 0x10;
    F(HOST_FS_SELECTOR) = F(HOST_GS_SELECTOR) = 0x10;
    F(HOST_TR_SELECTOR) = 0x18;
    F(HOST_TR_BASE) = 0x7100;
    F(HOST_GDTR_BASE) = 0x7000;
    F(HOST_IDTR_BASE) = 0x7200;
    F(HOST_RIP) = 0x400000;
    F(HOST_RSP) = 0x80000;
    F(HOST_IA32_PAT) = F(GUEST_IA32_PAT) = 0x0007040600070406ull;
    F(HOST_IA32_EFER) = F(GUEST_IA32_EFER) = 0x500;

    /* guest */
    F(GUEST_CR0) = CR0_PG | CR0_NE | CR0_ET | CR0_PE;
    F(GUEST_CR3) = PDPT;
    F(GUEST_CR4) = CR4_VMXE | CR4_PAE;
    F(GUEST_DR7) = 0x400;
    F(GUEST_RFLAGS) = 2;
    F(GUEST_RIP) = 0x1000;
    F(GUEST_CS_SELECTOR) = 0x08;
    F(GUEST_CS_AR_BYTES) = 0xA09B;                 /* G, L, P, S, type 11 */
    F(GUEST_CS_LIMIT) = 0xFFFFFFFF;
    static const enum vmcs_field_id data_sel[] = { VMCS_GUEST_SS_SELECTOR, VMCS_GUEST_DS_SELECTOR,
                                                   VMCS_GUEST_ES_SELECTOR, VMCS_GUEST_FS_SELECTOR,
                                                   VMCS_GUEST_GS_SELECTOR };
    static const enum vmcs_field_id data_ar[] = { VMCS_GUEST_SS_AR_BYTES, VMCS_GUEST_DS_AR_BYTES,
                                                  VMCS_GUEST_ES_AR_BYTES, VMCS_GUEST_FS_AR_BYTES,
                                                  VMCS_GUEST_GS_AR_BYTES };
    static const enum vmcs_field_id data_limit[] = { VMCS_GUEST_SS_LIMIT, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_ES_LIMIT,
                                                     VMCS_GUEST_FS_LIMIT, VMCS_GUEST_GS_LIMIT };
    for (unsigned i = 0; i < 5; i++) {
        fk->field[data_sel[i]] = 0x10;
        fk->field[data_ar[i]] = 0xC093;             /* G, D/B, P, S, type 3 */
        fk->field[data_limit[i]] = 0xFFFFFFFF;
    }
    F(GUEST_LDTR_AR_BYTES) = 0x10000;              /* unusable */
    F(GUEST_TR_SELECTOR) = 0x18;
    F(GUEST_TR_AR_BYTES) = 0x8B;                   /* P, busy 64-bit TSS */
    F(GUEST_TR_LIMIT) = 0x67;
    F(GUEST_TR_BASE) = 0x7100;
    F(GUEST_GDTR_BASE) = 0x7000;
    F(GUEST_GDTR_LIMIT) = 0x27;
    F(GUEST_IDTR_LIMIT) = 0xFFF;
    F(VMCS_LINK_POINTER) = ~0ull;
}

/* ---- presets: other valid guests ---- */

enum preset {
    P_V86,          /* virtual-8086 guest (32-bit paging) */
    P_REAL,         /* real mode under unrestricted guest */
    P_PROT32,       /* 32-bit protected mode without paging (unrestricted guest) */
    P_PROT32_PG,    /* 32-bit protected mode with 32-bit paging */
    P_PAE_NOEPT,    /* PAE paging without EPT: PDPTEs from memory */
    P_LEGACY_HOST,  /* a processor outside IA-32e mode: 32-bit host, PAE guest */
    P_CPL3,         /* the 64-bit guest at CPL 3 */
    P_LDTR,         /* a usable LDTR */
};

static void not_ia32e_guest(struct fake *fk) { F(VM_ENTRY_CONTROLS) &= ~(uint64_t)(ENTRY_IA32E_GUEST | ENTRY_LOAD_EFER); }

static void seg_real(struct fake *fk, enum vmcs_field_id sel, enum vmcs_field_id base, enum vmcs_field_id limit,
                     enum vmcs_field_id ar, uint16_t s, uint32_t a)
{
    fk->field[sel] = s;
    fk->field[base] = (uint64_t)s << 4;
    fk->field[limit] = 0xFFFF;
    fk->field[ar] = a;
}

static void real_segments(struct fake *fk, uint32_t code_ar, uint32_t data_ar)
{
    seg_real(fk, VMCS_GUEST_CS_SELECTOR, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR_BYTES, 0x1000, code_ar);
    seg_real(fk, VMCS_GUEST_SS_SELECTOR, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR_BYTES, 0x2000, data_ar);
    seg_real(fk, VMCS_GUEST_DS_SELECTOR, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR_BYTES, 0x3000, data_ar);
    seg_real(fk, VMCS_GUEST_ES_SELECTOR, VMCS_GUEST_ES_BASE, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR_BYTES, 0x3000, data_ar);
    seg_real(fk, VMCS_GUEST_FS_SELECTOR, VMCS_GUEST_FS_BASE, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR_BYTES, 0x3000, data_ar);
    seg_real(fk, VMCS_GUEST_GS_SELECTOR, VMCS_GUEST_GS_BASE, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR_BYTES, 0x3000, data_ar);
    F(GUEST_RIP) = 0x100;
}

static void apply_preset(struct fake *fk, enum preset p)
{
    switch (p) {
    case P_V86:
        not_ia32e_guest(fk);
        F(GUEST_CR0) = CR0_PG | CR0_NE | CR0_ET | CR0_PE;
        F(GUEST_CR4) = CR4_VMXE;
        F(GUEST_RFLAGS) = RF_VM | 2;
        real_segments(fk, 0xF3, 0xF3);
        break;
    case P_REAL:
        not_ia32e_guest(fk);
        F(SECONDARY_VM_EXEC_CONTROL) |= PROC2_UNRESTRICTED;
        F(GUEST_CR0) = CR0_NE | CR0_ET;
        F(GUEST_CR4) = CR4_VMXE;
        real_segments(fk, 0x9B, 0x93);
        break;
    case P_PROT32:
        not_ia32e_guest(fk);
        F(SECONDARY_VM_EXEC_CONTROL) |= PROC2_UNRESTRICTED;
        F(GUEST_CR0) = CR0_NE | CR0_ET | CR0_PE;
        F(GUEST_CR4) = CR4_VMXE;
        F(GUEST_CS_AR_BYTES) = 0xC09B;
        break;
    case P_PROT32_PG:
        not_ia32e_guest(fk);
        F(GUEST_CR4) = CR4_VMXE;
        F(GUEST_CS_AR_BYTES) = 0xC09B;
        break;
    case P_PAE_NOEPT:
        not_ia32e_guest(fk);
        F(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_EPT;
        F(GUEST_CS_AR_BYTES) = 0xC09B;
        memcpy(ram + PDPT, &(uint64_t){ 0x21001 }, 8);
        break;
    case P_LEGACY_HOST:
        fk->env.ia32e_mode = false;
        F(VM_EXIT_CONTROLS) &= ~(uint64_t)(EXIT_HOST_ADDR_SPACE | EXIT_LOAD_EFER);
        not_ia32e_guest(fk);
        F(GUEST_CS_AR_BYTES) = 0xC09B;
        break;
    case P_CPL3:
        F(GUEST_CS_SELECTOR) = 0x0B;
        F(GUEST_CS_AR_BYTES) = 0xA0FB;
        F(GUEST_SS_SELECTOR) = 0x13;
        F(GUEST_SS_AR_BYTES) = 0xC0F3;
        break;
    case P_LDTR:
        F(GUEST_LDTR_SELECTOR) = 0x20;
        F(GUEST_LDTR_AR_BYTES) = 0x82;
        F(GUEST_LDTR_LIMIT) = 0xFFFF;
        F(GUEST_LDTR_BASE) = 0x4000;
        break;
    }
}

/* ---- rows ---- */

enum op_kind { OP_END, OP_SET, OP_OR, OP_CLR, OP_CAP_SET, OP_CAP_OR, OP_CAP_CLR, OP_RAM8, OP_RAM32, OP_RAM64,
               OP_ENV, OP_PRESET };
enum env_var { ENV_IA32E, ENV_SMM, ENV_SGX, ENV_RTM, ENV_PERF_VALID, ENV_CURRENT };
struct op { enum op_kind k; int id; uint64_t v; };

/* (one more expansion, so that the short names below become field names) */
#define FID(f)       FID_(f)
#define FID_(f)      VMCS_##f
#define SET(f, v)    { OP_SET, FID(f), (v) }
#define OR(f, v)     { OP_OR, FID(f), (v) }
#define CLR(f, v)    { OP_CLR, FID(f), (v) }
#define CAPSET(m, v) { OP_CAP_SET, MSR_VMX_##m, (v) }
#define CAPOR(m, v)  { OP_CAP_OR, MSR_VMX_##m, (v) }
#define CAPCLR(m, v) { OP_CAP_CLR, MSR_VMX_##m, (v) }
#define RAM8(a, v)   { OP_RAM8, 0, ((uint64_t)(a) << 8) | ((v) & 0xFF) }
#define RAM32(a, v)  { OP_RAM32, (int)(a), (v) }
#define RAM64(a, v)  { OP_RAM64, (int)(a), (v) }
#define ENV(w, v)    { OP_ENV, ENV_##w, (v) }
#define PRESET(p)    { OP_PRESET, P_##p, 0 }

/* the control words and fields rows touch most */
#define PIN   PIN_BASED_VM_EXEC_CONTROL
#define PROC  PROC_BASED_VM_EXEC_CONTROL
#define PROC2 SECONDARY_VM_EXEC_CONTROL
#define EXITC VM_EXIT_CONTROLS
#define ENTRY VM_ENTRY_CONTROLS
#define INFO  VM_ENTRY_INTR_INFO
#define INTR  GUEST_INTERRUPTIBILITY_INFO
#define ACT   GUEST_ACTIVITY_STATE
#define PDBG  GUEST_PENDING_DBG_EXCEPTIONS

#define PASS (-1)
#define MAXOPS 8
struct row {
    int line;
    enum prof prof;
    int expect;                 /* VMCHK_* that must fail, or PASS */
    struct op ops[MAXOPS];
};
#define FAIL(p, id, ...) { .line = __LINE__, .prof = p, .expect = VMCHK_##id, .ops = { __VA_ARGS__ } }
#define OK(p, ...)       { .line = __LINE__, .prof = p, .expect = PASS, .ops = { __VA_ARGS__ } }

static const struct row rows[] = {
    /* ---- valid states ---- */
    OK(SRV),
    OK(MIN),
    OK(SYN),
    OK(SRV, PRESET(V86)),
    OK(MIN, PRESET(V86)),
    OK(SRV, PRESET(REAL)),
    OK(SRV, PRESET(PROT32)),
    OK(SRV, PRESET(PROT32_PG)),
    OK(MIN, PRESET(PROT32_PG)),
    OK(SRV, PRESET(PAE_NOEPT)),
    OK(MIN, PRESET(PAE_NOEPT)),
    OK(SRV, PRESET(LEGACY_HOST)),
    OK(MIN, PRESET(LEGACY_HOST)),
    OK(SRV, PRESET(CPL3)),
    OK(SRV, PRESET(LDTR)),
    OK(SRV, SET(GUEST_CS_AR_BYTES, 0xC09B)),                       /* compatibility mode */
    OK(SRV, SET(GUEST_CS_AR_BYTES, 0xA09F)),                       /* conforming CS, DPL 0 */
    OK(SRV, PRESET(CPL3), SET(GUEST_CS_AR_BYTES, 0xA09F)),         /* conforming CS DPL 0 at CPL 3 */
    OK(SRV, OR(PROC2, PROC2_UNRESTRICTED)),                        /* 64-bit guest under unrestricted guest */
    OK(SRV, OR(PROC2, PROC2_UNRESTRICTED), SET(GUEST_DS_SELECTOR, 0x13)),   /* data DPL < RPL allowed */
    OK(SRV, PRESET(PROT32), SET(GUEST_CS_AR_BYTES, 0xC093)),       /* CS type 3 under unrestricted guest */
    OK(SRV, PRESET(PROT32_PG), SET(GUEST_CS_AR_BYTES, 0xE09B)),    /* L=1 D=1 is only checked for IA-32e */
    OK(SRV, PRESET(PROT32_PG), SET(GUEST_TR_AR_BYTES, 0x83)),      /* 16-bit busy TSS outside IA-32e */
    OK(SRV, SET(GUEST_DS_AR_BYTES, 0x10000), SET(GUEST_DS_BASE, BIT(40))),  /* unusable DS: base unchecked */
    OK(SRV, SET(GUEST_FS_AR_BYTES, 0xC09B)),                       /* readable code in FS */
    OK(SRV, SET(GUEST_LDTR_BASE, NONCANON)),                       /* unusable LDTR: base unchecked */
    OK(SRV, SET(GUEST_DS_LIMIT, 0xFFFFF), SET(GUEST_DS_AR_BYTES, 0x4093)),  /* G=0 limit < 1 MiB... */
    OK(SRV, SET(GUEST_DS_LIMIT, 0xFFFFF), SET(GUEST_DS_AR_BYTES, 0xC093)),  /* ...or G=1 with 11:0 all ones */
    OK(SRV, SET(GUEST_FS_BASE, 0xFFFF800000000000ull), SET(HOST_FS_BASE, 0xFFFFFFFFFFFFF000ull)),
    OK(SYN, CAPOR(CR4_FIXED1, CR4_LA57), SET(GUEST_FS_BASE, 0x00FF000000000000ull)),  /* 57-bit canonical */
    OK(SRV, SET(CR3_TARGET_COUNT, 4)),
    OK(SRV, SET(TPR_THRESHOLD, 2), RAM8(VAPIC + 0x80, 0x20)),
    OK(SYN, OR(PROC2, PROC2_VIRT_APIC_ACCESS), SET(APIC_ACCESS_ADDR, 0x8000), SET(TPR_THRESHOLD, 3)),
    OK(SYN, OR(PROC2, PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR), SET(TPR_THRESHOLD, 0xF0)),
    OK(SYN, OR(PIN, PIN_POSTED_INTR), OR(PROC2, PROC2_VIRT_INTR), OR(EXITC, EXIT_ACK_INT),
       SET(POSTED_INTR_NV, 0xF0), SET(POSTED_INTR_DESC_ADDR, 0x9040)),
    OK(SRV, OR(PIN, PIN_VIRTUAL_NMIS), OR(PROC, PROC_NMI_WINDOW)),
    OK(SRV, OR(PIN, PIN_PREEMPTION_TIMER), OR(EXITC, EXIT_SAVE_PREEMPTION_TIMER)),
    OK(SRV, SET(EPT_POINTER, 0x6000 | (3 << 3))),                  /* UC */
    OK(SRV, SET(EPT_POINTER, 0x6000 | BIT(6) | (3 << 3) | 6)),     /* A/D flags */
    OK(SYN, SET(EPT_POINTER, 0x6000 | (4 << 3) | 6)),              /* 5-level walk */
    OK(SRV, OR(PROC2, PROC2_VMFUNC), SET(VM_FUNCTION_CONTROLS, 1), SET(EPTP_LIST_ADDR, 0xC000)),
    OK(SRV, OR(PROC2, PROC2_MODE_BASED_EPT | PROC2_UNRESTRICTED)),
    OK(SYN, OR(PROC2, PROC2_PML | PROC2_SPP | PROC2_EPT_VE), SET(PML_ADDRESS, 0xA000), SET(SPPTP, 0xB000),
       SET(VE_INFO_ADDR, 0xF000)),
    OK(SYN, OR(PROC2, PROC2_PT_GPA), OR(ENTRY, ENTRY_LOAD_RTIT), OR(EXITC, EXIT_CLEAR_RTIT)),
    OK(SYN, OR(PROC, PROC_TERTIARY), SET(TERTIARY_VM_EXEC_CONTROL, 0x12)),
    OK(SYN, OR(EXITC, EXIT_SECONDARY), SET(SECONDARY_VM_EXIT_CONTROLS, 0x2)),
    OK(SRV, SET(VM_EXIT_MSR_STORE_COUNT, 1), SET(VM_EXIT_MSR_STORE_ADDR, BIT(46) - 16)),
    OK(SRV, SET(VM_ENTRY_MSR_LOAD_COUNT, 512), SET(VM_ENTRY_MSR_LOAD_ADDR, 0x4000)),
    OK(SRV, SET(INFO, INJ(3, 13) | DEC), SET(VM_ENTRY_EXCEPTION_ERROR_CODE, 0xFFFF)),
    OK(SRV, SET(INFO, INJ(3, 13))),                                /* BASIC[56]: the error code is optional */
    OK(SRV, SET(INFO, INJ(3, 6) | DEC)),                           /* BASIC[56]: also for #UD */
    OK(MIN, SET(INFO, INJ(3, 14) | DEC)),
    OK(MIN, SET(INFO, INJ(3, 6))),
    OK(SRV, PRESET(REAL), SET(INFO, INJ(3, 13))),                  /* real mode: never an error code */
    OK(SRV, SET(INFO, INJ(2, 2))),
    OK(SRV, SET(INFO, INJ(7, 0))),                                 /* pending MTF VM exit */
    OK(SRV, SET(INFO, INJ(4, 0x80)), SET(VM_ENTRY_INSTRUCTION_LEN, 0)),   /* MISC[30] */
    OK(MIN, SET(INFO, INJ(6, 3)), SET(VM_ENTRY_INSTRUCTION_LEN, 15)),
    OK(SRV, SET(INFO, INJ(0, 0x20)), SET(GUEST_RFLAGS, RF_IF | 2)),
    OK(SRV, SET(ACT, 1), SET(INFO, INJ(0, 0x20)), SET(GUEST_RFLAGS, RF_IF | 2)),
    OK(SRV, SET(ACT, 1), SET(INFO, INJ(3, 18))),
    OK(SRV, SET(ACT, 1), SET(INFO, INJ(7, 0))),
    OK(SRV, SET(ACT, 2), SET(INFO, INJ(2, 2))),
    OK(SRV, SET(ACT, 3)),
    OK(MIN, SET(ACT, 1)),
    OK(SRV, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | 2)),
    OK(SRV, SET(INTR, 2)),
    OK(SRV, SET(INTR, 8), SET(INFO, INJ(2, 2))),                   /* NMI blocking without virtual NMIs */
    OK(SRV, OR(PIN, PIN_VIRTUAL_NMIS), SET(INTR, 8)),
    OK(SRV, ENV(SMM, 1), SET(INTR, 4)),
    OK(SRV, ENV(SGX, 1), SET(INTR, 0x10)),
    OK(SRV, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | RF_TF | 2), SET(PDBG, BIT(14))),
    OK(MIN, SET(INTR, 2), SET(GUEST_RFLAGS, RF_TF | 2), SET(GUEST_IA32_DEBUGCTL, 2)),   /* BTF: no BS */
    OK(SRV, SET(PDBG, BIT(14) | BIT(12) | 0xF)),                   /* no blocking, not HLT: BS free */
    OK(SRV, ENV(RTM, 1), SET(PDBG, BIT(16) | BIT(12))),
    OK(SRV, SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 4)),
    OK(MIN, SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 0x12)),
    OK(SYN, OR(PROC2, PROC2_VMCS_SHADOWING), SET(VMREAD_BITMAP_ADDR, 0xD000), SET(VMWRITE_BITMAP_ADDR, 0xE000),
       SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 0x80000004)),
    OK(SRV, PRESET(PAE_NOEPT), RAM64(PDPT + 8, 0x22001), RAM64(PDPT + 24, 0xFFFFFFFFFFFFFFFEull)),  /* not present */
    OK(SRV, PRESET(PROT32_PG), SET(GUEST_CR3, 0xFFFFF000)),        /* 32-bit paging: no PDPTEs */
    OK(SRV, SET(HOST_SS_SELECTOR, 0)),                             /* 64-bit host: SS may be 0 */
    OK(SYN, OR(EXITC, EXIT_LOAD_PERF_GLOBAL), SET(HOST_IA32_PERF_GLOBAL_CTRL, 0xF), ENV(PERF_VALID, 0xF)),
    OK(SYN, OR(EXITC, EXIT_LOAD_CET | EXIT_LOAD_PKRS), SET(HOST_IA32_S_CET, 0xFFFFFFFFFFFFF000ull),
       SET(HOST_SSP, 0xFFFF800000000000ull), SET(HOST_IA32_PKRS, 0xFFFFFFFF)),
    OK(SYN, OR(ENTRY, ENTRY_LOAD_CET | ENTRY_LOAD_BNDCFGS | ENTRY_LOAD_UINV | ENTRY_LOAD_PKRS),
       OR(GUEST_CR0, CR0_WP), OR(GUEST_CR4, CR4_CET), SET(GUEST_IA32_BNDCFGS, 0xFFFF800000000003ull),
       SET(GUEST_UINV, 0xF0)),
    OK(SYN, ENV(SMM, 1), OR(ENTRY, ENTRY_DEACT_DUAL)),
    /* the passing side of conditions the rows above leave out */
    OK(SRV, CLR(PIN, PIN_NMI_EXITING)),                            /* no NMI exiting, no virtual NMIs */
    OK(SRV, SET(VIRTUAL_APIC_ADDR, 0x200000), SET(TPR_THRESHOLD, 0xF)),   /* VTPR outside RAM reads FFH */
    OK(SRV, OR(PROC2, PROC2_VMFUNC), SET(VM_FUNCTION_CONTROLS, 0)),
    OK(SYN, PRESET(LEGACY_HOST), OR(EXITC, EXIT_LOAD_CET), SET(HOST_SSP, 0xFFFFFFFF)),
    OK(SYN, OR(ENTRY, ENTRY_LOAD_PERF_GLOBAL), SET(GUEST_IA32_PERF_GLOBAL_CTRL, BIT(32) | 1), ENV(PERF_VALID, BIT(32) | 1)),
    OK(SRV, PRESET(PROT32), OR(ENTRY, ENTRY_LOAD_EFER), SET(GUEST_IA32_EFER, 0x100)),  /* LME free while CR0.PG=0 */
    OK(SRV, SET(GUEST_CS_AR_BYTES, 0xA09D)),                       /* conforming, not readable */
    OK(SRV, SET(GUEST_SS_AR_BYTES, 0x10000)),                      /* unusable SS in a 64-bit guest */
    OK(SRV, SET(GUEST_DS_SELECTOR, 0x13), SET(GUEST_DS_AR_BYTES, 0xC09F)),   /* conforming code: no DPL >= RPL */
    OK(SRV, SET(GUEST_TR_AR_BYTES, 0x808B), SET(GUEST_TR_LIMIT, 0xFFFFFFFF)),
    OK(SRV, SET(ACT, 2), SET(INFO, INJ(3, 18))),
    OK(SRV, OR(PIN, PIN_VIRTUAL_NMIS), SET(INFO, INJ(2, 2))),
    OK(SRV, ENV(SMM, 1), SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 4), ENV(CURRENT, LINK)),
    OK(SRV, PRESET(PROT32_PG), OR(GUEST_CR4, CR4_PAE), SET(GUEST_PDPTE0, 0x21001), SET(GUEST_PDPTE3, BIT(46))),

    /* ---- Checks on VM-Execution Control Fields ---- */
    FAIL(SRV, CTL_PIN_ALLOWED0, CLR(PIN, 0x2)),
    FAIL(MIN, CTL_PIN_ALLOWED0, CLR(PIN, 0x10)),
    FAIL(SRV, CTL_PIN_ALLOWED1, OR(PIN, PIN_POSTED_INTR)),
    FAIL(MIN, CTL_PIN_ALLOWED1, OR(PIN, PIN_PREEMPTION_TIMER)),
    FAIL(SRV, CTL_PROC_ALLOWED0, CLR(PROC, BIT(26))),
    FAIL(MIN, CTL_PROC_ALLOWED0, CLR(PROC, PROC_CR3_LOAD)),        /* no TRUE controls on minimal */
    FAIL(SRV, CTL_PROC_ALLOWED1, OR(PROC, PROC_TERTIARY)),
    FAIL(MIN, CTL_PROC_ALLOWED1, OR(PROC, PROC_SECONDARY)),
    FAIL(SYN, CTL_PROC2_ALLOWED0, CAPSET(PROCBASED_CTLS2, 0xFFFFFFFF00000040ull)),
    FAIL(SRV, CTL_PROC2_ALLOWED1, OR(PROC2, PROC2_VIRT_X2APIC)),
    FAIL(SYN, CTL_PROC3_ALLOWED1, CAPSET(PROCBASED_CTLS3, 0x2), OR(PROC, PROC_TERTIARY),
         SET(TERTIARY_VM_EXEC_CONTROL, 0x1)),
    FAIL(SRV, CTL_CR3_TARGET_COUNT, SET(CR3_TARGET_COUNT, 5)),
    FAIL(MIN, CTL_CR3_TARGET_COUNT, SET(CR3_TARGET_COUNT, 0x100)),
    FAIL(SRV, CTL_IO_BITMAP_A, SET(IO_BITMAP_A, 0x1800)),
    FAIL(SRV, CTL_IO_BITMAP_A, SET(IO_BITMAP_A, BIT(46))),
    FAIL(SRV, CTL_IO_BITMAP_B, SET(IO_BITMAP_B, 0x2004)),
    FAIL(MIN, CTL_MSR_BITMAP, SET(MSR_BITMAP, BIT(39))),
    FAIL(SRV, CTL_MSR_BITMAP, SET(MSR_BITMAP, 0x3010)),
    FAIL(SRV, CTL_VIRTUAL_APIC_ADDR, SET(VIRTUAL_APIC_ADDR, VAPIC + 8)),
    FAIL(SRV, CTL_TPR_THRESHOLD_RSVD, SET(TPR_THRESHOLD, 0x10)),
    FAIL(SRV, CTL_TPR_THRESHOLD_VTPR, SET(TPR_THRESHOLD, 3), RAM8(VAPIC + 0x80, 0x20)),
    FAIL(SYN, CTL_X2APIC_NEEDS_TPR_SHADOW, CLR(PROC, PROC_TPR_SHADOW), OR(PROC2, PROC2_VIRT_X2APIC)),
    FAIL(SYN, CTL_APIC_REG_VIRT_NEEDS_TPR_SHADOW, CLR(PROC, PROC_TPR_SHADOW), OR(PROC2, PROC2_APIC_REG_VIRT)),
    FAIL(SYN, CTL_VID_NEEDS_TPR_SHADOW, CLR(PROC, PROC_TPR_SHADOW), OR(PROC2, PROC2_VIRT_INTR)),
    FAIL(SRV, CTL_VIRTUAL_NMIS_NEED_NMI_EXITING, CLR(PIN, PIN_NMI_EXITING), OR(PIN, PIN_VIRTUAL_NMIS)),
    FAIL(SRV, CTL_NMI_WINDOW_NEEDS_VIRTUAL_NMIS, OR(PROC, PROC_NMI_WINDOW)),
    FAIL(SYN, CTL_APIC_ACCESS_ADDR, OR(PROC2, PROC2_VIRT_APIC_ACCESS), SET(APIC_ACCESS_ADDR, 0x8001)),
    FAIL(SYN, CTL_X2APIC_EXCLUDES_APIC_ACCESS, OR(PROC2, PROC2_VIRT_X2APIC | PROC2_VIRT_APIC_ACCESS),
         SET(APIC_ACCESS_ADDR, 0x8000)),
    FAIL(SYN, CTL_VID_NEEDS_EXT_INT_EXITING, OR(PROC2, PROC2_VIRT_INTR), CLR(PIN, PIN_EXT_INT_EXITING)),
    FAIL(SYN, CTL_POSTED_INTR_NEEDS_VID, OR(PIN, PIN_POSTED_INTR)),
    FAIL(SYN, CTL_POSTED_INTR_NEEDS_ACK_INT, OR(PIN, PIN_POSTED_INTR), OR(PROC2, PROC2_VIRT_INTR)),
    FAIL(SYN, CTL_POSTED_INTR_VECTOR, OR(PIN, PIN_POSTED_INTR), OR(PROC2, PROC2_VIRT_INTR),
         OR(EXITC, EXIT_ACK_INT), SET(POSTED_INTR_NV, 0x1F0)),
    FAIL(SYN, CTL_POSTED_INTR_DESC_ADDR, OR(PIN, PIN_POSTED_INTR), OR(PROC2, PROC2_VIRT_INTR),
         OR(EXITC, EXIT_ACK_INT), SET(POSTED_INTR_NV, 0xF0), SET(POSTED_INTR_DESC_ADDR, 0x9020)),
    FAIL(SRV, CTL_VPID_NONZERO, SET(VPID, 0)),
    FAIL(SRV, CTL_EPTP_MEMORY_TYPE, SET(EPT_POINTER, 0x6000 | (3 << 3) | 5)),
    FAIL(SRV, CTL_EPTP_MEMORY_TYPE, CAPCLR(EPT_VPID_CAP, BIT(14))),
    FAIL(SRV, CTL_EPTP_MEMORY_TYPE, CAPCLR(EPT_VPID_CAP, BIT(8)), SET(EPT_POINTER, 0x6000 | (3 << 3))),
    FAIL(SRV, CTL_EPTP_WALK_LENGTH, SET(EPT_POINTER, 0x6000 | (4 << 3) | 6)),
    FAIL(SRV, CTL_EPTP_WALK_LENGTH, SET(EPT_POINTER, 0x6000 | (1 << 3) | 6)),
    FAIL(SRV, CTL_EPTP_AD, CAPCLR(EPT_VPID_CAP, BIT(21)), SET(EPT_POINTER, 0x6000 | BIT(6) | (3 << 3) | 6)),
    FAIL(SRV, CTL_EPTP_RESERVED, SET(EPT_POINTER, 0x6000 | BIT(7) | (3 << 3) | 6)),
    FAIL(SRV, CTL_EPTP_RESERVED, SET(EPT_POINTER, 0x6000 | BIT(11) | (3 << 3) | 6)),
    FAIL(SRV, CTL_EPTP_WIDTH, SET(EPT_POINTER, BIT(46) | (3 << 3) | 6)),
    FAIL(SYN, CTL_PML_NEEDS_EPT, OR(PROC2, PROC2_PML), CLR(PROC2, PROC2_EPT)),
    FAIL(SYN, CTL_PML_ADDR, OR(PROC2, PROC2_PML), SET(PML_ADDRESS, 0xA010)),
    FAIL(SRV, CTL_UNRESTRICTED_NEEDS_EPT, OR(PROC2, PROC2_UNRESTRICTED), CLR(PROC2, PROC2_EPT)),
    FAIL(SYN, CTL_SPP_NEEDS_EPT, OR(PROC2, PROC2_SPP), CLR(PROC2, PROC2_EPT)),
    FAIL(SYN, CTL_SPPTP, OR(PROC2, PROC2_SPP), SET(SPPTP, 0xB008)),
    FAIL(SRV, CTL_MODE_BASED_EPT_NEEDS_EPT, OR(PROC2, PROC2_MODE_BASED_EPT), CLR(PROC2, PROC2_EPT)),
    FAIL(SRV, CTL_VMFUNC_RESERVED, OR(PROC2, PROC2_VMFUNC), SET(VM_FUNCTION_CONTROLS, 2)),
    FAIL(SRV, CTL_EPTP_SWITCHING_NEEDS_EPT, OR(PROC2, PROC2_VMFUNC), SET(VM_FUNCTION_CONTROLS, 1),
         CLR(PROC2, PROC2_EPT)),
    FAIL(SRV, CTL_EPTP_LIST_ADDR, OR(PROC2, PROC2_VMFUNC), SET(VM_FUNCTION_CONTROLS, 1), SET(EPTP_LIST_ADDR, 0xC100)),
    FAIL(SYN, CTL_VMREAD_BITMAP_ADDR, OR(PROC2, PROC2_VMCS_SHADOWING), SET(VMREAD_BITMAP_ADDR, 0xD001),
         SET(VMWRITE_BITMAP_ADDR, 0xE000)),
    FAIL(SYN, CTL_VMWRITE_BITMAP_ADDR, OR(PROC2, PROC2_VMCS_SHADOWING), SET(VMREAD_BITMAP_ADDR, 0xD000),
         SET(VMWRITE_BITMAP_ADDR, BIT(46))),
    FAIL(SYN, CTL_VE_INFO_ADDR, OR(PROC2, PROC2_EPT_VE), SET(VE_INFO_ADDR, 0xF800)),
    FAIL(SYN, CTL_PT_GPA_NEEDS_EPT, OR(PROC2, PROC2_PT_GPA), CLR(PROC2, PROC2_EPT)),
    FAIL(SYN, CTL_PT_GPA_NEEDS_RTIT_CTL, OR(PROC2, PROC2_PT_GPA), OR(ENTRY, ENTRY_LOAD_RTIT)),
    FAIL(SYN, CTL_PT_GPA_NEEDS_RTIT_CTL, OR(PROC2, PROC2_PT_GPA), OR(EXITC, EXIT_CLEAR_RTIT)),

    /* ---- Checks on VM-Exit Control Fields ---- */
    FAIL(SRV, CTL_EXIT_ALLOWED0, CLR(EXITC, 0x1)),
    FAIL(SRV, CTL_EXIT_ALLOWED1, OR(EXITC, EXIT_LOAD_PERF_GLOBAL)),
    FAIL(MIN, CTL_EXIT_ALLOWED1, OR(EXITC, EXIT_LOAD_EFER)),
    FAIL(SYN, CTL_EXIT2_ALLOWED1, CAPSET(EXIT_CTLS2, 0x2), OR(EXITC, EXIT_SECONDARY),
         SET(SECONDARY_VM_EXIT_CONTROLS, 0x1)),
    FAIL(SRV, CTL_SAVE_TIMER_NEEDS_TIMER, OR(EXITC, EXIT_SAVE_PREEMPTION_TIMER)),
    FAIL(SRV, CTL_EXIT_MSR_STORE_ADDR, SET(VM_EXIT_MSR_STORE_COUNT, 1), SET(VM_EXIT_MSR_STORE_ADDR, 0x4008)),
    FAIL(SRV, CTL_EXIT_MSR_STORE_END, SET(VM_EXIT_MSR_STORE_COUNT, 2), SET(VM_EXIT_MSR_STORE_ADDR, BIT(46) - 16)),
    FAIL(MIN, CTL_EXIT_MSR_LOAD_ADDR, SET(VM_EXIT_MSR_LOAD_COUNT, 1), SET(VM_EXIT_MSR_LOAD_ADDR, BIT(39))),
    FAIL(SRV, CTL_EXIT_MSR_LOAD_END, SET(VM_EXIT_MSR_LOAD_COUNT, 0x100), SET(VM_EXIT_MSR_LOAD_ADDR, BIT(46) - 0x100)),
    FAIL(MIN, CTL_EXIT_MSR_LOAD_END, SET(VM_EXIT_MSR_LOAD_COUNT, 0xFFFFFFFF), SET(VM_EXIT_MSR_LOAD_ADDR, BIT(39) - 0x1000)),

    /* ---- Checks on VM-Entry Control Fields ---- */
    FAIL(SRV, CTL_ENTRY_ALLOWED0, CLR(ENTRY, 0x1)),
    FAIL(SRV, CTL_ENTRY_ALLOWED1, OR(ENTRY, ENTRY_LOAD_PERF_GLOBAL)),
    FAIL(MIN, CTL_ENTRY_ALLOWED1, OR(ENTRY, ENTRY_LOAD_PAT)),
    FAIL(SRV, CTL_INJECT_TYPE_RESERVED, SET(INFO, INJ(1, 0x20))),
    FAIL(MIN, CTL_INJECT_TYPE_OTHER, SET(INFO, INJ(7, 0))),
    FAIL(SRV, CTL_INJECT_NMI_VECTOR, SET(INFO, INJ(2, 3))),
    FAIL(SRV, CTL_INJECT_HW_EXCEPTION_VECTOR, SET(INFO, INJ(3, 32))),
    FAIL(SRV, CTL_INJECT_OTHER_VECTOR, SET(INFO, INJ(7, 1))),
    FAIL(MIN, CTL_INJECT_EC_REQUIRED, SET(INFO, INJ(3, 13))),
    FAIL(MIN, CTL_INJECT_EC_REQUIRED, SET(INFO, INJ(3, 21))),
    FAIL(SRV, CTL_INJECT_EC_FORBIDDEN, SET(INFO, INJ(0, 0x20) | DEC)),
    FAIL(SRV, CTL_INJECT_EC_FORBIDDEN, SET(INFO, INJ(4, 0x80) | DEC), SET(VM_ENTRY_INSTRUCTION_LEN, 2)),
    FAIL(MIN, CTL_INJECT_EC_FORBIDDEN, SET(INFO, INJ(3, 6) | DEC)),
    FAIL(SRV, CTL_INJECT_EC_FORBIDDEN, PRESET(REAL), SET(INFO, INJ(3, 13) | DEC)),
    FAIL(SRV, CTL_INJECT_RESERVED, SET(INFO, INJ(0, 0x20) | BIT(12))),
    FAIL(SRV, CTL_INJECT_RESERVED, SET(INFO, INJ(3, 14) | DEC | BIT(30))),
    FAIL(SRV, CTL_INJECT_EC_RESERVED, SET(INFO, INJ(3, 13) | DEC), SET(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10000)),
    FAIL(SRV, CTL_INJECT_INSN_LEN_RANGE, SET(INFO, INJ(4, 0x80)), SET(VM_ENTRY_INSTRUCTION_LEN, 16)),
    FAIL(SRV, CTL_INJECT_INSN_LEN_RANGE, SET(INFO, INJ(5, 1)), SET(VM_ENTRY_INSTRUCTION_LEN, 0x100)),
    FAIL(MIN, CTL_INJECT_INSN_LEN_ZERO, SET(INFO, INJ(6, 3)), SET(VM_ENTRY_INSTRUCTION_LEN, 0)),
    FAIL(SRV, CTL_ENTRY_MSR_LOAD_ADDR, SET(VM_ENTRY_MSR_LOAD_COUNT, 1), SET(VM_ENTRY_MSR_LOAD_ADDR, 0x4004)),
    FAIL(SRV, CTL_ENTRY_MSR_LOAD_END, SET(VM_ENTRY_MSR_LOAD_COUNT, 0x200), SET(VM_ENTRY_MSR_LOAD_ADDR, BIT(46) - 0x1000)),
    FAIL(SYN, CTL_ENTRY_SMM_OUTSIDE_SMM, OR(ENTRY, ENTRY_SMM)),
    FAIL(SYN, CTL_DEACT_DUAL_OUTSIDE_SMM, OR(ENTRY, ENTRY_DEACT_DUAL)),

    /* ---- Checks on Host Control Registers, MSRs, and SSP ---- */
    FAIL(SRV, HOST_CR0_FIXED0, CLR(HOST_CR0, CR0_NE)),
    FAIL(MIN, HOST_CR0_FIXED0, CLR(HOST_CR0, CR0_PG)),
    FAIL(SRV, HOST_CR0_FIXED1, OR(HOST_CR0, BIT(32))),
    FAIL(SRV, HOST_CR4_FIXED0, CLR(HOST_CR4, CR4_VMXE)),
    FAIL(SRV, HOST_CR4_FIXED1, OR(HOST_CR4, CR4_CET)),
    FAIL(SRV, HOST_CR4_FIXED1, OR(HOST_CR4, CR4_LA57)),
    FAIL(SRV, HOST_CR3_WIDTH, SET(HOST_CR3, BIT(46))),
    FAIL(MIN, HOST_CR3_WIDTH, SET(HOST_CR3, BIT(39))),
    FAIL(SRV, HOST_SYSENTER_ESP_CANONICAL, SET(HOST_IA32_SYSENTER_ESP, NONCANON)),
    FAIL(SRV, HOST_SYSENTER_EIP_CANONICAL, SET(HOST_IA32_SYSENTER_EIP, 0xFFFF000000000000ull)),
    FAIL(SYN, HOST_S_CET_CANONICAL, OR(EXITC, EXIT_LOAD_CET), SET(HOST_IA32_S_CET, NONCANON)),
    FAIL(SYN, HOST_S_CET_RESERVED, OR(EXITC, EXIT_LOAD_CET), SET(HOST_IA32_S_CET, 0x40)),
    FAIL(SYN, HOST_SSP_TABLE_CANONICAL, OR(EXITC, EXIT_LOAD_CET), SET(HOST_INTR_SSP_TABLE_ADDR, NONCANON)),
    FAIL(SYN, HOST_PERF_GLOBAL_CTRL, OR(EXITC, EXIT_LOAD_PERF_GLOBAL), SET(HOST_IA32_PERF_GLOBAL_CTRL, 1)),
    FAIL(SRV, HOST_PAT, SET(HOST_IA32_PAT, 0x0007040600070402ull)),
    FAIL(SRV, HOST_PAT, SET(HOST_IA32_PAT, 0x0807040600070406ull)),
    FAIL(SRV, HOST_EFER_RESERVED, SET(HOST_IA32_EFER, 0x502)),
    FAIL(SRV, HOST_EFER_LMA, SET(HOST_IA32_EFER, 0x100)),
    FAIL(SRV, HOST_EFER_LME, SET(HOST_IA32_EFER, 0x400)),
    FAIL(SYN, HOST_PKRS_RESERVED, OR(EXITC, EXIT_LOAD_PKRS), SET(HOST_IA32_PKRS, BIT(32))),

    /* ---- Checks on Host Segment and Descriptor-Table Registers ---- */
    FAIL(SRV, HOST_ES_SELECTOR, SET(HOST_ES_SELECTOR, 0x13)),
    FAIL(SRV, HOST_CS_SELECTOR, SET(HOST_CS_SELECTOR, 0x0C)),
    FAIL(SRV, HOST_SS_SELECTOR, SET(HOST_SS_SELECTOR, 0x11)),
    FAIL(SRV, HOST_DS_SELECTOR, SET(HOST_DS_SELECTOR, 0x14)),
    FAIL(SRV, HOST_FS_SELECTOR, SET(HOST_FS_SELECTOR, 0x12)),
    FAIL(SRV, HOST_GS_SELECTOR, SET(HOST_GS_SELECTOR, 0x17)),
    FAIL(SRV, HOST_TR_SELECTOR, SET(HOST_TR_SELECTOR, 0x1C)),
    FAIL(SRV, HOST_CS_NONZERO, SET(HOST_CS_SELECTOR, 0)),
    FAIL(SRV, HOST_TR_NONZERO, SET(HOST_TR_SELECTOR, 0)),
    FAIL(SRV, HOST_SS_NONZERO, PRESET(LEGACY_HOST), SET(HOST_SS_SELECTOR, 0)),
    FAIL(SRV, HOST_FS_BASE_CANONICAL, SET(HOST_FS_BASE, NONCANON)),
    FAIL(SRV, HOST_GS_BASE_CANONICAL, SET(HOST_GS_BASE, NONCANON)),
    FAIL(SRV, HOST_GDTR_BASE_CANONICAL, SET(HOST_GDTR_BASE, NONCANON)),
    FAIL(SRV, HOST_IDTR_BASE_CANONICAL, SET(HOST_IDTR_BASE, NONCANON)),
    FAIL(SRV, HOST_TR_BASE_CANONICAL, SET(HOST_TR_BASE, NONCANON)),

    /* ---- Checks Related to Address-Space Size ---- */
    FAIL(SRV, HOST_IA32E_NEEDS_HOST64, CLR(EXITC, EXIT_HOST_ADDR_SPACE | EXIT_LOAD_EFER)),
    FAIL(SRV, HOST_LEGACY_NO_GUEST64, ENV(IA32E, 0)),
    FAIL(SRV, HOST_LEGACY_NO_GUEST64, PRESET(LEGACY_HOST), OR(ENTRY, ENTRY_IA32E_GUEST)),
    FAIL(SRV, HOST_LEGACY_NO_HOST64, ENV(IA32E, 0), CLR(ENTRY, ENTRY_IA32E_GUEST)),
    FAIL(SRV, HOST32_CR4_PCIDE, PRESET(LEGACY_HOST), OR(HOST_CR4, CR4_PCIDE)),
    FAIL(SRV, HOST32_RIP_HIGH, PRESET(LEGACY_HOST), SET(HOST_RIP, BIT(32))),
    FAIL(SYN, HOST32_SSP_HIGH, PRESET(LEGACY_HOST), OR(EXITC, EXIT_LOAD_CET), SET(HOST_SSP, BIT(32))),
    FAIL(SRV, HOST64_CR4_PAE, CLR(HOST_CR4, CR4_PAE)),
    FAIL(SRV, HOST64_RIP_CANONICAL, SET(HOST_RIP, NONCANON)),
    FAIL(SYN, HOST64_SSP_CANONICAL, OR(EXITC, EXIT_LOAD_CET), SET(HOST_SSP, NONCANON)),

    /* ---- Checks on Guest Control Registers, Debug Registers, and MSRs ---- */
    FAIL(SRV, GUEST_CR0_FIXED0, CLR(GUEST_CR0, CR0_NE)),
    FAIL(SRV, GUEST_CR0_FIXED0, CLR(GUEST_CR0, CR0_PE)),           /* PE only relaxed by unrestricted guest */
    FAIL(SRV, GUEST_CR0_FIXED0, OR(PROC2, PROC2_UNRESTRICTED), CLR(GUEST_CR0, CR0_NE)),
    FAIL(SRV, GUEST_CR0_FIXED1, OR(GUEST_CR0, BIT(32))),
    FAIL(SRV, GUEST_CR0_PG_NEEDS_PE, OR(PROC2, PROC2_UNRESTRICTED), CLR(GUEST_CR0, CR0_PE)),
    FAIL(SRV, GUEST_CR4_FIXED0, CLR(GUEST_CR4, CR4_VMXE)),
    FAIL(SRV, GUEST_CR4_FIXED1, OR(GUEST_CR4, CR4_CET)),
    FAIL(SYN, GUEST_CR4_CET_NEEDS_WP, OR(GUEST_CR4, CR4_CET)),
    FAIL(MIN, GUEST_DEBUGCTL_RESERVED, SET(GUEST_IA32_DEBUGCTL, 0x4)),
    FAIL(SRV, GUEST_DEBUGCTL_RESERVED, OR(ENTRY, ENTRY_LOAD_DEBUG), SET(GUEST_IA32_DEBUGCTL, BIT(16))),
    FAIL(SRV, GUEST_IA32E_NEEDS_PG, OR(PROC2, PROC2_UNRESTRICTED), CLR(GUEST_CR0, CR0_PG)),
    FAIL(SRV, GUEST_IA32E_NEEDS_PAE, CLR(GUEST_CR4, CR4_PAE)),
    FAIL(SRV, GUEST_LEGACY_NO_PCIDE, PRESET(PROT32_PG), OR(GUEST_CR4, CR4_PCIDE)),
    FAIL(SRV, GUEST_CR3_WIDTH, SET(GUEST_CR3, BIT(46))),
    FAIL(MIN, GUEST_DR7_HIGH, SET(GUEST_DR7, BIT(32) | 0x400)),
    FAIL(SRV, GUEST_SYSENTER_ESP_CANONICAL, SET(GUEST_IA32_SYSENTER_ESP, NONCANON)),
    FAIL(SRV, GUEST_SYSENTER_EIP_CANONICAL, SET(GUEST_IA32_SYSENTER_EIP, NONCANON)),
    FAIL(SYN, GUEST_S_CET_CANONICAL, OR(ENTRY, ENTRY_LOAD_CET), SET(GUEST_IA32_S_CET, NONCANON)),
    FAIL(SYN, GUEST_S_CET_RESERVED, OR(ENTRY, ENTRY_LOAD_CET), SET(GUEST_IA32_S_CET, 0x100)),
    FAIL(SYN, GUEST_SSP_TABLE_CANONICAL, OR(ENTRY, ENTRY_LOAD_CET), SET(GUEST_INTR_SSP_TABLE_ADDR, NONCANON)),
    FAIL(SYN, GUEST_PERF_GLOBAL_CTRL, OR(ENTRY, ENTRY_LOAD_PERF_GLOBAL), SET(GUEST_IA32_PERF_GLOBAL_CTRL, BIT(40)),
         ENV(PERF_VALID, 0xF)),
    FAIL(SRV, GUEST_PAT, SET(GUEST_IA32_PAT, 0x0007040600070403ull)),
    FAIL(SRV, GUEST_EFER_RESERVED, SET(GUEST_IA32_EFER, 0x501 | BIT(1))),
    FAIL(SRV, GUEST_EFER_LMA, SET(GUEST_IA32_EFER, 0x100)),
    FAIL(SRV, GUEST_EFER_LMA, PRESET(PROT32_PG), OR(ENTRY, ENTRY_LOAD_EFER), SET(GUEST_IA32_EFER, 0x500)),
    FAIL(SRV, GUEST_EFER_LME, SET(GUEST_IA32_EFER, 0x400)),
    FAIL(SYN, GUEST_BNDCFGS_RESERVED, OR(ENTRY, ENTRY_LOAD_BNDCFGS), SET(GUEST_IA32_BNDCFGS, 0x4)),
    FAIL(SYN, GUEST_BNDCFGS_CANONICAL, OR(ENTRY, ENTRY_LOAD_BNDCFGS), SET(GUEST_IA32_BNDCFGS, 0x0000800000000001ull)),
    FAIL(SYN, GUEST_UINV_RESERVED, OR(ENTRY, ENTRY_LOAD_UINV), SET(GUEST_UINV, 0x1F0)),
    FAIL(SYN, GUEST_PKRS_RESERVED, OR(ENTRY, ENTRY_LOAD_PKRS), SET(GUEST_IA32_PKRS, BIT(32))),

    /* ---- Checks on Guest Segment Registers ---- */
    FAIL(SRV, GUEST_TR_SELECTOR_TI, SET(GUEST_TR_SELECTOR, 0x1C)),
    FAIL(SRV, GUEST_LDTR_SELECTOR_TI, PRESET(LDTR), SET(GUEST_LDTR_SELECTOR, 0x24)),
    FAIL(SRV, GUEST_SS_RPL_EQ_CS_RPL, SET(GUEST_SS_SELECTOR, 0x13)),
    FAIL(SRV, GUEST_V86_BASE, PRESET(V86), SET(GUEST_DS_BASE, 0x30001)),
    FAIL(SRV, GUEST_V86_BASE, PRESET(V86), SET(GUEST_CS_SELECTOR, 0x1001)),
    FAIL(SRV, GUEST_TR_BASE_CANONICAL, SET(GUEST_TR_BASE, NONCANON)),
    FAIL(SRV, GUEST_FS_GS_BASE_CANONICAL, SET(GUEST_FS_BASE, NONCANON)),
    FAIL(SRV, GUEST_FS_GS_BASE_CANONICAL, SET(GUEST_GS_BASE, 0x00FF000000000000ull)),
    FAIL(SRV, GUEST_LDTR_BASE_CANONICAL, PRESET(LDTR), SET(GUEST_LDTR_BASE, NONCANON)),
    FAIL(SRV, GUEST_CS_BASE_HIGH, SET(GUEST_CS_BASE, BIT(32))),
    FAIL(SRV, GUEST_SS_DS_ES_BASE_HIGH, SET(GUEST_DS_BASE, BIT(32))),
    FAIL(SRV, GUEST_SS_DS_ES_BASE_HIGH, SET(GUEST_SS_BASE, 0xFFFFFFFF00000000ull)),
    FAIL(SRV, GUEST_V86_LIMIT, PRESET(V86), SET(GUEST_FS_LIMIT, 0xFFFFF)),
    FAIL(SRV, GUEST_V86_AR, PRESET(V86), SET(GUEST_GS_AR_BYTES, 0xF2)),
    FAIL(SRV, GUEST_V86_AR, PRESET(V86), SET(GUEST_CS_AR_BYTES, 0xFB)),
    FAIL(SRV, GUEST_CS_TYPE, SET(GUEST_CS_AR_BYTES, 0xC093)),
    FAIL(SRV, GUEST_CS_TYPE, SET(GUEST_CS_AR_BYTES, 0xA09A)),      /* not accessed */
    FAIL(SRV, GUEST_SS_TYPE, SET(GUEST_SS_AR_BYTES, 0xC091)),
    FAIL(SRV, GUEST_SS_TYPE, SET(GUEST_SS_AR_BYTES, 0xC09B)),
    FAIL(SRV, GUEST_DATA_SEG_ACCESSED, SET(GUEST_ES_AR_BYTES, 0xC092)),
    FAIL(SRV, GUEST_DATA_SEG_READABLE, SET(GUEST_FS_AR_BYTES, 0xC099)),
    FAIL(SRV, GUEST_SEG_S, SET(GUEST_DS_AR_BYTES, 0xC083)),
    FAIL(SRV, GUEST_SEG_S, SET(GUEST_CS_AR_BYTES, 0xA08B)),
    FAIL(SRV, GUEST_CS_DPL_TYPE3, PRESET(PROT32), SET(GUEST_CS_AR_BYTES, 0xC0B3)),
    FAIL(SRV, GUEST_CS_DPL_NONCONFORMING, SET(GUEST_CS_AR_BYTES, 0xA0BB)),
    FAIL(SRV, GUEST_CS_DPL_CONFORMING, SET(GUEST_CS_AR_BYTES, 0xA0FF)),
    FAIL(SRV, GUEST_SS_DPL_EQ_RPL, SET(GUEST_CS_AR_BYTES, 0xA09F), SET(GUEST_SS_AR_BYTES, 0xC0B3)),
    FAIL(SRV, GUEST_SS_DPL_ZERO, PRESET(PROT32), SET(GUEST_CS_AR_BYTES, 0xC093), SET(GUEST_SS_AR_BYTES, 0xC0B3)),
    FAIL(SRV, GUEST_SS_DPL_ZERO, PRESET(REAL), SET(GUEST_CS_AR_BYTES, 0xDB), SET(GUEST_SS_AR_BYTES, 0xD3)),
    FAIL(SRV, GUEST_DATA_SEG_DPL, SET(GUEST_DS_SELECTOR, 0x13)),
    FAIL(SRV, GUEST_SEG_P, SET(GUEST_GS_AR_BYTES, 0xC013)),
    FAIL(SRV, GUEST_SEG_P, SET(GUEST_CS_AR_BYTES, 0xA01B)),
    FAIL(SRV, GUEST_SEG_AR_RESERVED_LOW, SET(GUEST_ES_AR_BYTES, 0xC193)),
    FAIL(SRV, GUEST_CS_DB_WITH_L, SET(GUEST_CS_AR_BYTES, 0xE09B)),
    FAIL(SRV, GUEST_SEG_G_LIMIT, SET(GUEST_DS_LIMIT, 0xFFFFF000)),
    FAIL(SRV, GUEST_SEG_G_LIMIT, SET(GUEST_SS_AR_BYTES, 0x4093)),
    FAIL(SRV, GUEST_SEG_AR_RESERVED_HIGH, SET(GUEST_FS_AR_BYTES, 0xC093 | BIT(17))),
    FAIL(SRV, GUEST_TR_TYPE, SET(GUEST_TR_AR_BYTES, 0x83)),
    FAIL(SRV, GUEST_TR_TYPE, SET(GUEST_TR_AR_BYTES, 0x89)),
    FAIL(SRV, GUEST_TR_TYPE, PRESET(PROT32_PG), SET(GUEST_TR_AR_BYTES, 0x81)),
    FAIL(SRV, GUEST_TR_S, SET(GUEST_TR_AR_BYTES, 0x9B)),
    FAIL(SRV, GUEST_TR_P, SET(GUEST_TR_AR_BYTES, 0x0B)),
    FAIL(SRV, GUEST_TR_AR_RESERVED_LOW, SET(GUEST_TR_AR_BYTES, 0x18B)),
    FAIL(SRV, GUEST_TR_G_LIMIT, SET(GUEST_TR_LIMIT, 0x100000)),
    FAIL(SRV, GUEST_TR_G_LIMIT, SET(GUEST_TR_AR_BYTES, 0x808B)),
    FAIL(SRV, GUEST_TR_UNUSABLE, SET(GUEST_TR_AR_BYTES, 0x1008B)),
    FAIL(SRV, GUEST_TR_AR_RESERVED_HIGH, SET(GUEST_TR_AR_BYTES, 0x2008B)),
    FAIL(SRV, GUEST_LDTR_TYPE, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x83)),
    FAIL(SRV, GUEST_LDTR_S, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x92)),
    FAIL(SRV, GUEST_LDTR_P, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x02)),
    FAIL(SRV, GUEST_LDTR_AR_RESERVED_LOW, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x282)),
    FAIL(SRV, GUEST_LDTR_G_LIMIT, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x8082), SET(GUEST_LDTR_LIMIT, 0x1000)),
    FAIL(SRV, GUEST_LDTR_G_LIMIT, PRESET(LDTR), SET(GUEST_LDTR_LIMIT, 0x100000)),
    FAIL(SRV, GUEST_LDTR_AR_RESERVED_HIGH, PRESET(LDTR), SET(GUEST_LDTR_AR_BYTES, 0x80082)),

    /* ---- Checks on Guest Descriptor-Table Registers ---- */
    FAIL(SRV, GUEST_GDTR_BASE_CANONICAL, SET(GUEST_GDTR_BASE, NONCANON)),
    FAIL(SRV, GUEST_IDTR_BASE_CANONICAL, SET(GUEST_IDTR_BASE, NONCANON)),
    FAIL(SRV, GUEST_GDTR_LIMIT, SET(GUEST_GDTR_LIMIT, 0x10000)),
    FAIL(SRV, GUEST_IDTR_LIMIT, SET(GUEST_IDTR_LIMIT, 0xFFFFFFFF)),

    /* ---- Checks on Guest RIP, RFLAGS, and SSP ---- */
    FAIL(SRV, GUEST_RIP_HIGH, PRESET(PROT32_PG), SET(GUEST_RIP, BIT(32))),
    FAIL(SRV, GUEST_RIP_HIGH, SET(GUEST_CS_AR_BYTES, 0xC09B), SET(GUEST_RIP, BIT(32))),  /* compatibility mode */
    FAIL(SRV, GUEST_RIP_CANONICAL, SET(GUEST_RIP, 0x0001000000000000ull)),
    OK(SRV, SET(GUEST_RIP, NONCANON)),      /* bit 47 alone may differ from 63:48 (SDM 3C 27.3.1.4) */
    FAIL(SRV, GUEST_RFLAGS_RESERVED, SET(GUEST_RFLAGS, 0x8002)),
    FAIL(SRV, GUEST_RFLAGS_RESERVED, SET(GUEST_RFLAGS, BIT(22) | 2)),
    FAIL(SRV, GUEST_RFLAGS_BIT1, SET(GUEST_RFLAGS, 0)),
    FAIL(SRV, GUEST_RFLAGS_VM, PRESET(V86), OR(PROC2, PROC2_UNRESTRICTED), SET(GUEST_CR0, CR0_NE | CR0_ET)),
    FAIL(SRV, GUEST_RFLAGS_IF_FOR_EXT_INT, SET(INFO, INJ(0, 0x20))),

    /* ---- Checks on Guest Non-Register State ---- */
    FAIL(SRV, GUEST_ACTIVITY_RANGE, SET(ACT, 4)),
    FAIL(MIN, GUEST_ACTIVITY_SUPPORTED, SET(ACT, 2)),
    FAIL(MIN, GUEST_ACTIVITY_SUPPORTED, SET(ACT, 3)),
    FAIL(SRV, GUEST_ACTIVITY_HLT_SS_DPL, PRESET(CPL3), SET(ACT, 1)),
    FAIL(SRV, GUEST_ACTIVITY_BLOCKING, SET(INTR, 2), SET(ACT, 1)),
    FAIL(SRV, GUEST_ACTIVITY_BLOCKING, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | 2), SET(ACT, 3)),
    FAIL(SRV, GUEST_ACTIVITY_INJECT, SET(ACT, 1), SET(INFO, INJ(4, 0x80)), SET(VM_ENTRY_INSTRUCTION_LEN, 2)),
    FAIL(SRV, GUEST_ACTIVITY_INJECT, SET(ACT, 1), SET(INFO, INJ(3, 13) | DEC)),
    FAIL(SRV, GUEST_ACTIVITY_INJECT, SET(ACT, 2), SET(INFO, INJ(0, 0x20)), SET(GUEST_RFLAGS, RF_IF | 2)),
    FAIL(SRV, GUEST_ACTIVITY_INJECT, SET(ACT, 3), SET(INFO, INJ(2, 2))),
    FAIL(SRV, GUEST_INTR_RESERVED, SET(INTR, 0x20)),
    FAIL(SRV, GUEST_INTR_STI_AND_MOV_SS, SET(INTR, 3), SET(GUEST_RFLAGS, RF_IF | 2)),
    FAIL(SRV, GUEST_INTR_STI_NEEDS_IF, SET(INTR, 1)),
    FAIL(SRV, GUEST_INTR_EXT_INT_BLOCKED, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | 2), SET(INFO, INJ(0, 0x20))),
    FAIL(SRV, GUEST_INTR_EXT_INT_BLOCKED, SET(INTR, 2), SET(GUEST_RFLAGS, RF_IF | 2), SET(INFO, INJ(0, 0x20))),
    FAIL(SRV, GUEST_INTR_NMI_MOV_SS, SET(INTR, 2), SET(INFO, INJ(2, 2))),
    FAIL(SRV, GUEST_INTR_SMI_OUTSIDE_SMM, SET(INTR, 4)),
    FAIL(SRV, GUEST_INTR_NMI_STI, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | 2), SET(INFO, INJ(2, 2))),
    FAIL(SRV, GUEST_INTR_VIRTUAL_NMI_BLOCKED, OR(PIN, PIN_VIRTUAL_NMIS), SET(INTR, 8), SET(INFO, INJ(2, 2))),
    FAIL(SRV, GUEST_INTR_ENCLAVE, SET(INTR, 0x10)),
    FAIL(SRV, GUEST_INTR_ENCLAVE, ENV(SGX, 1), SET(INTR, 0x12)),
    FAIL(SRV, GUEST_PENDING_DBG_RESERVED, SET(PDBG, 0x10)),
    FAIL(SRV, GUEST_PENDING_DBG_RESERVED, SET(PDBG, BIT(13))),
    FAIL(SRV, GUEST_PENDING_DBG_RESERVED, SET(PDBG, BIT(17))),
    FAIL(SRV, GUEST_PENDING_DBG_BS_SET, SET(INTR, 1), SET(GUEST_RFLAGS, RF_IF | RF_TF | 2)),
    FAIL(SRV, GUEST_PENDING_DBG_BS_SET, SET(ACT, 1), SET(GUEST_RFLAGS, RF_TF | 2)),
    FAIL(SRV, GUEST_PENDING_DBG_BS_CLEAR, SET(ACT, 1), SET(PDBG, BIT(14))),
    FAIL(MIN, GUEST_PENDING_DBG_BS_CLEAR, SET(INTR, 2), SET(GUEST_RFLAGS, RF_TF | 2), SET(GUEST_IA32_DEBUGCTL, 2),
         SET(PDBG, BIT(14))),
    FAIL(SRV, GUEST_PENDING_DBG_RTM, SET(PDBG, BIT(16) | BIT(12))),
    FAIL(SRV, GUEST_PENDING_DBG_RTM, ENV(RTM, 1), SET(PDBG, BIT(16))),
    FAIL(SRV, GUEST_PENDING_DBG_RTM, ENV(RTM, 1), SET(PDBG, BIT(16) | BIT(12) | 1)),
    FAIL(SRV, GUEST_PENDING_DBG_RTM, ENV(RTM, 1), SET(PDBG, BIT(16) | BIT(12)), SET(INTR, 2)),
    FAIL(SRV, GUEST_LINK_ALIGNED, SET(VMCS_LINK_POINTER, LINK + 4)),
    FAIL(SRV, GUEST_LINK_WIDTH, SET(VMCS_LINK_POINTER, BIT(46))),
    FAIL(MIN, GUEST_LINK_WIDTH, SET(VMCS_LINK_POINTER, BIT(39))),
    FAIL(SRV, GUEST_LINK_REVISION, SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 0x12)),
    FAIL(SRV, GUEST_LINK_REVISION, SET(VMCS_LINK_POINTER, 0x200000)),   /* no RAM there */
    FAIL(SRV, GUEST_LINK_SHADOW, SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 0x80000004)),
    FAIL(SYN, GUEST_LINK_SHADOW, OR(PROC2, PROC2_VMCS_SHADOWING), SET(VMREAD_BITMAP_ADDR, 0xD000),
         SET(VMWRITE_BITMAP_ADDR, 0xE000), SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 4)),
    FAIL(SRV, GUEST_LINK_NOT_CURRENT, SET(VMCS_LINK_POINTER, LINK), RAM32(LINK, 4), ENV(CURRENT, LINK)),

    /* ---- Checks on Guest Page-Directory-Pointer-Table Entries ---- */
    FAIL(SRV, GUEST_PDPTE_RESERVED, PRESET(PAE_NOEPT), RAM64(PDPT + 16, 0x23003)),
    FAIL(SRV, GUEST_PDPTE_RESERVED, PRESET(PAE_NOEPT), RAM64(PDPT + 8, 0x22021)),
    FAIL(MIN, GUEST_PDPTE_RESERVED, PRESET(PAE_NOEPT), RAM64(PDPT, BIT(39) | 1)),
    FAIL(SRV, GUEST_PDPTE_RESERVED, PRESET(PAE_NOEPT), RAM64(PDPT + 32 + 24, 0x101), SET(GUEST_CR3, PDPT + 32)),
    FAIL(SRV, GUEST_PDPTE_RESERVED, PRESET(PAE_NOEPT), SET(GUEST_CR3, 0x200000)),   /* no RAM */
    FAIL(SRV, GUEST_PDPTE_FIELD_RESERVED, PRESET(PROT32_PG), OR(GUEST_CR4, CR4_PAE), SET(GUEST_PDPTE2, 0x101)),
    FAIL(SRV, GUEST_PDPTE_FIELD_RESERVED, PRESET(PROT32_PG), OR(GUEST_CR4, CR4_PAE), SET(GUEST_PDPTE0, BIT(46) | 1)),
};

/* ---- running a row ---- */

static void apply(struct fake *fk, const struct op *o)
{
    uint64_t *cap = o->k >= OP_CAP_SET && o->k <= OP_CAP_CLR ? &fk->cap[CAPI((unsigned)o->id)] : NULL;
    switch (o->k) {
    case OP_END: break;
    case OP_SET: fk->field[o->id] = o->v; break;
    case OP_OR: fk->field[o->id] |= o->v; break;
    case OP_CLR: fk->field[o->id] &= ~o->v; break;
    case OP_CAP_SET: *cap = o->v; fk->present[CAPI((unsigned)o->id)] = true; break;
    case OP_CAP_OR: *cap |= o->v; break;
    case OP_CAP_CLR: *cap &= ~o->v; break;
    case OP_RAM8: ram[o->v >> 8] = (uint8_t)o->v; break;
    case OP_RAM32: memcpy(ram + o->id, &(uint32_t){ (uint32_t)o->v }, 4); break;
    case OP_RAM64: memcpy(ram + o->id, &o->v, 8); break;
    case OP_PRESET: apply_preset(fk, (enum preset)o->id); break;
    case OP_ENV:
        switch ((enum env_var)o->id) {
        case ENV_IA32E: fk->env.ia32e_mode = o->v; break;
        case ENV_SMM: fk->env.in_smm = o->v; break;
        case ENV_SGX: fk->env.sgx = o->v; break;
        case ENV_RTM: fk->env.rtm = o->v; break;
        case ENV_PERF_VALID: fk->env.perf_global_ctrl_valid = o->v; break;
        case ENV_CURRENT: fk->env.current_vmcs = o->v; break;
        }
        break;
    }
}

enum stage { ST_CONTROLS, ST_HOST, ST_GUEST, ST_NONE };
static const char *const stage_name[] = { "controls", "host", "guest", "none" };

static enum stage run(const struct fake *fk, struct vmentry_failure *f)
{
    if (!vmentry_check_controls(&fk->env, f))
        return ST_CONTROLS;
    if (!vmentry_check_host(&fk->env, f))
        return ST_HOST;
    if (!vmentry_check_guest(&fk->env, f))
        return ST_GUEST;
    return ST_NONE;
}

/* What a kind means, stated independently of entry_checks.c. */
static enum stage stage_of(enum vmentry_kind k)
{
    return k == VMCHK_KIND_CONTROL ? ST_CONTROLS : k == VMCHK_KIND_HOST ? ST_HOST : ST_GUEST;
}
static uint32_t qual_of(enum vmentry_kind k)
{
    return k == VMCHK_KIND_GUEST_PDPTE ? 2 : k == VMCHK_KIND_GUEST_NMI ? 3 : k == VMCHK_KIND_GUEST_LINK ? 4 : 0;
}

static struct fake fake;

START_TEST(row)
{
    const struct row *r = &rows[_i];
    struct fake *fk = &fake;
    build(fk, r->prof);
    for (unsigned i = 0; i < MAXOPS && r->ops[i].k != OP_END; i++)
        apply(fk, &r->ops[i]);
    derive_features(fk);                     /* capability rows may change what exists */
    struct vmentry_failure f;
    memset(&f, 0, sizeof(f));
    enum stage st = run(fk, &f);
    char msg[512];
    if (st != ST_NONE)
        vmentry_failure_format(&f, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "all checks passed");
    if (r->expect == PASS) {
        ck_assert_msg(st == ST_NONE, "line %d (%s): expected to pass, %s failed %s: %s", r->line, prof_name[r->prof],
                      stage_name[st], vmentry_check_name(f.check), msg);
        return;
    }
    enum vmentry_check want = (enum vmentry_check)r->expect;
    ck_assert_msg(st != ST_NONE, "line %d (%s): expected %s to fail, all passed", r->line, prof_name[r->prof],
                  vmentry_check_name(want));
    ck_assert_msg(f.check == want, "line %d (%s): expected %s, %s failed %s: %s", r->line, prof_name[r->prof],
                  vmentry_check_name(want), stage_name[st], vmentry_check_name(f.check), msg);
    ck_assert_msg(f.kind == vmentry_check_kind(want), "line %d: kind %d", r->line, f.kind);
    ck_assert_msg(st == stage_of(f.kind), "line %d: %s failed in the %s stage", r->line, vmentry_check_name(want),
                  stage_name[st]);
    ck_assert_msg(f.qualification == qual_of(f.kind), "line %d: qualification %u", r->line, f.qualification);
    ck_assert_msg(f.condition && f.condition[0], "line %d: no condition recorded", r->line);
    ck_assert_msg(f.detail[0], "line %d: %s has no detail", r->line, vmentry_check_name(want));
    ck_assert_msg(strlen(f.detail) < sizeof(f.detail) - 1, "line %d: detail truncated: %s", r->line, f.detail);
}
END_TEST

/* Every check has at least one row that makes it fail. */
START_TEST(every_check_has_a_failing_row)
{
    for (int c = 0; c < VMCHK_COUNT; c++) {
        bool found = false;
        for (int i = 0; i < NROWS(rows) && !found; i++)
            found = rows[i].expect == c;
        ck_assert_msg(found, "%s has no failing row in tests/unit/test_entry_checks.c", vmentry_check_name(c));
    }
}
END_TEST

/* ---- the table itself ---- */

static const struct { const char *name, *kind, *section, *text; } def_rows[] = {
#define X(id, kind, sec, text) { #id, #kind, sec, text },
#include "entry_checks.def"
#undef X
};

START_TEST(table_accessors)
{
    ck_assert_int_eq(NROWS(def_rows), VMCHK_COUNT);
    for (int c = 0; c < VMCHK_COUNT; c++) {
        ck_assert_str_eq(vmentry_check_name(c), def_rows[c].name);
        ck_assert_str_eq(vmentry_check_section(c), def_rows[c].section);
        ck_assert_str_eq(vmentry_check_text(c), def_rows[c].text);
        ck_assert_str_eq(vmentry_kind_name(vmentry_check_kind(c)), def_rows[c].kind);
        ck_assert_int_eq(vmentry_check_by_name(def_rows[c].name), c);
        /* the id says its stage */
        enum vmentry_kind k = vmentry_check_kind(c);
        const char *n = def_rows[c].name;
        if (k == VMCHK_KIND_CONTROL)
            ck_assert_msg(!strncmp(n, "CTL_", 4), "%s", n);
        else if (k == VMCHK_KIND_HOST)
            ck_assert_msg(!strncmp(n, "HOST", 4), "%s", n);
        else
            ck_assert_msg(!strncmp(n, "GUEST_", 6), "%s", n);
        /* texts print inside a sentence and a markdown table */
        ck_assert_msg(!strchr(def_rows[c].text, '|') && !strchr(def_rows[c].section, '|'), "%s", n);
        ck_assert_msg(!strncmp(def_rows[c].section, "Checks ", 7), "%s: section '%s'", n, def_rows[c].section);
    }
    ck_assert_int_eq(vmentry_check_by_name("NO_SUCH_CHECK"), -1);
    ck_assert_ptr_null(vmentry_check_name(VMCHK_COUNT));
}
END_TEST

START_TEST(failure_message)
{
    struct fake *fk = &fake;
    build(fk, SRV);
    F(GUEST_CS_AR_BYTES) = 0xE09B;
    struct vmentry_failure f;
    ck_assert_int_eq(run(fk, &f), ST_GUEST);
    ck_assert_int_eq(f.check, VMCHK_GUEST_CS_DB_WITH_L);
    char msg[512];
    vmentry_failure_format(&f, msg, sizeof(msg));
    ck_assert_str_eq(msg, "VM entry failed: with \"IA-32e mode guest\", a guest CS with L=1 must have D/B=0 "
                          "(guest CS access rights 0xe09b, L=1 D=1) [SDM 3C, Checks on Guest Segment Registers]");
    ck_assert_str_eq(f.condition, "!(cs->ar & AR_DB)");
}
END_TEST

/* docs/vmx.md, section "VM-entry checks", lists entry_checks.def row by row:
 * | ID | kind | SDM 3C section | what must hold | */
static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", HVSIM_SOURCE_DIR, rel);
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, fp), n);
    s[n] = 0;
    fclose(fp);
    return s;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = 0;
}

START_TEST(docs_list_every_check)
{
    char *doc = harness_own(free, slurp("docs/vmx.md"));
    char *table = strstr(doc, "| ID | kind | SDM 3C section | what must hold |");
    ck_assert_msg(table != NULL, "docs/vmx.md has no VM-entry check table");
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line && line[0] == '|'; line = strtok_r(NULL, "\n", &save)) {
        char id[64], kind[32], sec[128], text[512];
        if (sscanf(line, "| %63[A-Z0-9_] | %31[A-Z_] | %127[^|]| %511[^|]|", id, kind, sec, text) != 4)
            continue;
        trim(sec);
        trim(text);
        ck_assert_msg(n < VMCHK_COUNT, "docs/vmx.md lists more checks than entry_checks.def");
        ck_assert_msg(!strcmp(id, def_rows[n].name), "row %d: docs say %s, entry_checks.def says %s", n, id,
                      def_rows[n].name);
        ck_assert_msg(!strcmp(kind, def_rows[n].kind), "%s: docs say kind %s", id, kind);
        ck_assert_msg(!strcmp(sec, def_rows[n].section), "%s: docs say section '%s'", id, sec);
        ck_assert_msg(!strcmp(text, def_rows[n].text), "%s: docs say '%s'", id, text);
        n++;
    }
    ck_assert_msg(n == VMCHK_COUNT, "docs/vmx.md lists %d of %d checks", n, VMCHK_COUNT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("entry_checks");
    TCase *t = harness_tcase("rows");
    ADD_ROWS(t, row, rows);
    tcase_add_test(t, every_check_has_a_failing_row);
    suite_add_tcase(s, t);
    TCase *d = harness_tcase("table");
    tcase_add_test(d, table_accessors);
    tcase_add_test(d, failure_message);
    tcase_add_test(d, docs_list_every_check);
    suite_add_tcase(s, d);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
