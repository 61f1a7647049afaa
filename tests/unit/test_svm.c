/*
 * test_svm.c — the AMD-V model (vmx_model/svm.c, docs/svm.md), table-driven,
 * against the AMD APM (vol. 2 chapter 15, vol. 3 "SVM instructions"):
 *   - vmrun_check: every VMRUN consistency check of svm_checks.def (APM
 *     15.5.1, 15.20), one failing row per check (a valid VMCB plus one
 *     change): EXITCODE -1, the host goes on after VMRUN, nothing of the
 *     guest loaded, the VM_EXIT event naming the check; and the passing
 *     rows at each boundary, which enter the guest and end with an exact
 *     #VMEXIT. check_coverage fails when a check has no failing row;
 *   - insn: #UD and #GP(0) of VMRUN, VMLOAD, VMSAVE, STGI, CLGI, VMMCALL,
 *     SKINIT and INVLPGA executed by the host (APM vol. 3);
 *   - msr: VM_CR (LOCK, SVMDIS), VM_HSAVE_PA, EFER.SVME through WRMSR and
 *     RDMSR (APM 15.30); cpuid: Fn8000_0001 ECX.SVM and Fn8000_000A, also
 *     under capability overrides;
 *   - caps_override: svm_caps_override() (docs/svm.md "Enabling"), every
 *     error and good combinations;
 *   - intercept: the IOPM (APM 15.10) and MSRPM (APM 15.11) decisions and
 *     their EXITINFO1/EXITINFO2, from a guest that runs one I/O or MSR
 *     instruction and then VMMCALL;
 *   - virt: virtual interrupts (15.21: V_IRQ, V_TPR, V_INTR_PRIO, V_IGN_TPR,
 *     V_INTR_MASKING, the interrupt shadows, HLT, EXITINTINFO), the VINTR
 *     intercept, CR8, physical interrupts under V_INTR_MASKING, vGIF
 *     (15.33.2), the NMI intercept and GIF (15.13.2, 15.17), PUSHF/POPF and
 *     DR intercepts (15.9), decode assists (15.8), the PAUSE filter
 *     (15.14.4), nRIP (15.7.1) and what stays unmodelled; the same with a
 *     feature taken away by svm_caps_override (the model honours the
 *     cleared bit) and ASIDs beyond CPUID Fn8000_000A EBX; gif_holds_nmi:
 *     GIF = 0 holds an NMI in the host.
 *
 * Each row gets a fresh machine (cpu_harness.h): an LP of the amd-server
 * profile in the boot state (64-bit mode, CPL 0), the SVM model attached,
 * EFER.SVME = 1 and VM_HSAVE_PA = HSAVE_PA unless the row says otherwise.
 * The guest shares the host's page tables, GDT and IDT (every vector's
 * handler is a HLT, which the guest's HLT intercept turns into #VMEXIT
 * 0x78). Failure messages name the row and its line in this file.
 */
#include <stdint.h>

#include "cpu_harness.h"
#include "svm.h"
#include "vmcb.h"

#define P_AMD "amd-server"
#define MAXPA 48                        /* amd-server's MAXPHYADDR */

/* Physical (= linear) regions, inside the boot identity map and RAM. */
#define GUEST_PA    0x300000ull         /* the guest's code: VMMCALL */
#define GUEST_HLT   0x300010ull         /* a HLT, for guests outside 64-bit mode (cpu/ decodes VMMCALL in 64-bit mode only) */
#define GUEST_STACK 0x3F0000ull         /* the guest's RSP */
#define GUEST_RAX   0x5A5A5A5A5A5Aull   /* the guest's RAX in the VMCB */
#define VMCB_PA     0x400000ull
#define HSAVE_PA    0x401000ull
#define VMCB2_PA    0x402000ull         /* VMLOAD / VMSAVE */
#define IOPM_PA     0x404000ull         /* 12 KiB */
#define MSRPM_PA    0x408000ull         /* 8 KiB */
#define USER_STACK  0x3FF000ull

#define EFER_LME   (1ull << 8)
#define EFER_SVME  (1ull << 12)
#define CR0_PE     (1ull << 0)
#define CR0_NW     (1ull << 29)
#define CR0_CD     (1ull << 30)
#define CR4_PAE    (1ull << 5)
#define CR4_DE_    (1ull << 3)
#define MSR_EFER        0xC0000080u
#define MSR_STAR        0xC0000081u
#define MSR_VM_CR       0xC0010114u
#define MSR_VM_HSAVE_PA 0xC0010117u
#define VM_CR_LOCK      (1ull << 3)
#define VM_CR_SVMDIS    (1ull << 4)
#define BIT(n)          (1ull << (n))

/* EXITINFO1 of an IOIO intercept (APM 15.10.2, figure 15-2). */
#define IO_IN    1ull
#define IO_STR   (1ull << 2)
#define IO_REP   (1ull << 3)
#define IO_SZ8   (1ull << 4)
#define IO_SZ16  (1ull << 5)
#define IO_SZ32  (1ull << 6)
#define IO_A32   (1ull << 8)
#define IO_A64   (1ull << 9)
#define IO_SEG(s) ((uint64_t)(s) << 10)
#define IO_PORT(p) ((uint64_t)(p) << 16)

/* EVENTINJ (APM 15.20): vector 7:0, type 10:8, EV 11, V 31, error code 63:32. */
#define INJ(type, vec) (BIT(31) | ((uint64_t)(type) << 8) | (vec))
#define INJ_EV(ec)     (BIT(11) | ((uint64_t)(ec) << 32))

/* Machine modifications before the row's instruction. */
enum {
    M_SVME0 = 1 << 0,          /* EFER.SVME = 0 */
    M_CPL3 = 1 << 1,           /* CS/SS DPL 3 (tm_enter_user) */
    M_COMPAT = 1 << 2,         /* CS.L = 0, CS.D = 1: compatibility mode */
    M_NO_HSAVE = 1 << 3,       /* VM_HSAVE_PA left 0 */
    M_BARE = 1 << 4,           /* no SVM model at all */
};

/* ---- the machine ---- */

struct sv {
    struct tm t;
    svm_t *s;
    const char *row;           /* "name (test_svm.c:line)" */
};

static void sv_release_svm(void *p) { svm_detach(p); }

static void put(struct sv *x, uint64_t pa, const void *p, size_t n)
{
    ck_assert_msg(cpu_phys_write(x->t.cpu, pa, p, n), "%s: no RAM at %#llx", x->row, (unsigned long long)pa);
    cpu_notify_phys_write(x->t.cpu, pa, n);
}

static uint64_t get64(struct sv *x, uint64_t pa)
{
    uint64_t v = 0;
    ck_assert_msg(cpu_phys_read(x->t.cpu, pa, &v, 8), "%s: no RAM at %#llx", x->row, (unsigned long long)pa);
    return v;
}

static void put64(struct sv *x, uint64_t pa, uint64_t v) { put(x, pa, &v, 8); }

static void set_bit_at(struct sv *x, uint64_t base, uint64_t bit)
{
    uint8_t b = 0;
    ck_assert(cpu_phys_read(x->t.cpu, base + bit / 8, &b, 1));
    b |= (uint8_t)(1u << (bit % 8));
    put(x, base + bit / 8, &b, 1);
}

/* A row's AMD-V capability overrides (svm_caps_override), applied in order
 * to the profile's; name NULL ends them. */
struct cap_ovr { const char *name; uint64_t value; };
#define NCAP_OVR 3

static void row_caps(struct svm_caps *out, const struct cap_ovr *o, const char *row)
{
    *out = *svm_caps_for_profile(P_AMD);
    for (unsigned k = 0; k < NCAP_OVR && o && o[k].name; k++) {
        char why[400];
        ck_assert_msg(svm_caps_override(out, o[k].name, o[k].value, why, sizeof(why)), "%s: %s", row, why);
    }
}

/* caps: the SVM model's capabilities (NULL: the profile's) */
static void sv_create_caps(struct sv *x, const uint8_t *code, size_t n, const char *row, unsigned mods,
                           const struct svm_caps *caps)
{
    x->row = row;
    const struct cpu_profile *p = cpu_profile_find(P_AMD);
    ck_assert_msg(p != NULL, "%s: no CPU profile %s", row, P_AMD);
    tm_create_with(&x->t, code, n, p, 0);
    x->s = NULL;
    cpu_t *c = x->t.cpu;
    ck_assert_msg(cpu_maxphyaddr(c) == MAXPA, "%s: MAXPHYADDR %u", row, cpu_maxphyaddr(c));
    if (!(mods & M_BARE)) {
        if (!caps)
            caps = svm_caps_for_profile(P_AMD);
        ck_assert_msg(caps != NULL, "%s: no SVM capabilities for %s", row, P_AMD);
        x->s = svm_attach(c, caps);
        ck_assert_ptr_nonnull(x->s);
        harness_own(sv_release_svm, x->s);     /* released before the cpu (LIFO) */
    }
    if (!(mods & M_SVME0))
        ck_assert(cpu_msr_write(c, MSR_EFER, cpu_get(c, CPU_EFER) | EFER_SVME));
    if (!(mods & (M_NO_HSAVE | M_BARE)))
        ck_assert_msg(cpu_msr_write(c, MSR_VM_HSAVE_PA, HSAVE_PA), "%s: VM_HSAVE_PA refused", row);
    if (mods & M_CPL3)
        tm_enter_user(&x->t, USER_STACK);
    if (mods & M_COMPAT) {
        struct cpu_seg cs;
        cpu_get_seg(c, CPU_CS, &cs);
        cs.attr = (cs.attr & ~SEG_ATTR_L) | SEG_ATTR_DB;
        cpu_set_seg(c, CPU_CS, &cs);
    }
    cpu_commit_state(c);
    if (mods & M_CPL3)
        ck_assert_msg(cpu_cpl(c) == 3, "%s: CPL %u", row, cpu_cpl(c));
    if (mods & M_COMPAT)
        ck_assert_msg(cpu_mode(c) == CPU_MODE_COMPAT, "%s: %s", row, cpu_mode_name(cpu_mode(c)));
}

static void sv_create(struct sv *x, const uint8_t *code, size_t n, const char *row, unsigned mods)
{
    sv_create_caps(x, code, n, row, mods, NULL);
}

/* A valid VMCB (APM 15.5.1): a 64-bit guest with the host's CR0, CR3, CR4,
 * EFER, GDT and IDT, flat segments, at GUEST_PA; ASID 1; VMRUN and VMMCALL
 * intercepted (APM 15.9), HLT and shutdown too, so that whatever the guest
 * does ends in a #VMEXIT. g32: a 32-bit protected-mode guest without
 * paging (EFER = SVME, CR0 = PE ET NE, CR4 = 0, CS.D = 1). */
static void vmcb_base(struct sv *x, struct vmcb *v, bool g32)
{
    cpu_t *c = x->t.cpu;
    memset(v, 0, sizeof(*v));
    v->intercept3 = (1u << I3_HLT) | (1u << I3_SHUTDOWN);
    v->intercept4 = (1u << I4_VMRUN) | (1u << I4_VMMCALL);
    v->iopm_base_pa = IOPM_PA;
    v->msrpm_base_pa = MSRPM_PA;
    v->guest_asid = 1;
    v->cs = (struct vmcb_seg){ BOOT_SEL_CODE64, g32 ? 0xC9B : 0xA9B, 0xFFFFFFFF, 0 };   /* G D/L P S type B */
    v->ss = v->ds = v->es = (struct vmcb_seg){ BOOT_SEL_DATA, 0xC93, 0xFFFFFFFF, 0 };
    struct cpu_dtr g, i;
    cpu_get_dtr(c, false, &g);
    cpu_get_dtr(c, true, &i);
    v->gdtr = (struct vmcb_seg){ .limit = g.limit, .base = g.base };
    v->idtr = (struct vmcb_seg){ .limit = i.limit, .base = i.base };
    v->efer = g32 ? EFER_SVME : cpu_get(c, CPU_EFER);
    v->cr0 = g32 ? 0x31 : cpu_get(c, CPU_CR0);
    v->cr3 = cpu_get(c, CPU_CR3);
    v->cr4 = g32 ? 0 : cpu_get(c, CPU_CR4);
    v->dr6 = 0xFFFF0FF0;
    v->dr7 = 0x400;
    v->rflags = 2;
    v->rip = GUEST_PA;
    v->rsp = GUEST_STACK;
    v->rax = GUEST_RAX;
}

/* Run until the host stops; it must stop on a HLT. */
static void sv_run(struct sv *x)
{
    enum cpu_stop st = cpu_run(x->t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", x->row, cpu_stop_name(st), cpu_message(x->t.cpu));
}

static uint64_t vmcb64(struct sv *x, unsigned off) { return get64(x, VMCB_PA + off); }

/* ---- VMRUN consistency checks (APM 15.5.1 "Canonicalization and Consistency
 * Checks", 15.20 "Event Injection") ---- */

struct vmcb_mod { unsigned off, size; uint64_t clear, set; };     /* size 0: none */
#define FLD(f) VMCB_OFF(f), sizeof(((struct vmcb *)0)->f)
#define MOD(f, c, s) { FLD(f), (c), (s) }
#define CS_ATTR(c, s) { VMCB_OFF(cs) + 2, 2, (c), (s) }   /* VMCB attrib: 9 L, 10 D/B */

struct vmrun_row {
    const char *name;
    int line;
    int check;                 /* the check that fails (enum svm_check); PASS: VMRUN enters the guest */
    bool g32;                  /* from the 32-bit template */
    bool ghlt;                 /* the guest starts at GUEST_HLT */
    struct vmcb_mod m[2];
    uint64_t exitcode;         /* PASS: the #VMEXIT the guest ends with */
    uint64_t exit_rip;         /* PASS: the guest RIP saved in the VMCB */
};
#define PASS (-1)
#define V(...) { .line = __LINE__, __VA_ARGS__ }
#define FAILS(chk) .check = SVMCHK_##chk
#define ENTERS(code, rip) .check = PASS, .exitcode = (code), .exit_rip = (rip)
#define ENTERS_VMMCALL ENTERS(SVM_EXIT_VMMCALL, GUEST_PA)
#define ENTERS_HLT .ghlt = true, ENTERS(SVM_EXIT_HLT, GUEST_HLT)
#define HANDLER(v) (HANDLERS + 16ull * (v))

static const struct vmrun_row vmrun_rows[] = {
    V(.name = "valid/baseline-64-bit", ENTERS_VMMCALL),
    V(.name = "valid/baseline-32-bit-no-paging", .g32 = true, ENTERS_HLT),

    /* "EFER.SVME is zero." */
    V(.name = "EFER_SVME/clear", FAILS(EFER_SVME), .m = { MOD(efer, EFER_SVME, 0) }),
    V(.name = "EFER_SVME/clear-32-bit", FAILS(EFER_SVME), .g32 = true, .m = { MOD(efer, EFER_SVME, 0) }),

    /* "CR0.CD is zero and CR0.NW is set." */
    V(.name = "CR0_CD_NW/nw-without-cd", FAILS(CR0_CD_NW), .m = { MOD(cr0, CR0_CD, CR0_NW) }),
    V(.name = "CR0_CD_NW/cd-and-nw-legal", .m = { MOD(cr0, 0, CR0_CD | CR0_NW) }, ENTERS_VMMCALL),
    V(.name = "CR0_CD_NW/cd-without-nw-legal", .m = { MOD(cr0, CR0_NW, CR0_CD) }, ENTERS_VMMCALL),

    /* "CR0[63:32] are not zero." */
    V(.name = "CR0_HIGH/bit32", FAILS(CR0_HIGH), .m = { MOD(cr0, 0, BIT(32)) }),
    V(.name = "CR0_HIGH/bit63", FAILS(CR0_HIGH), .m = { MOD(cr0, 0, BIT(63)) }),
    V(.name = "CR0_HIGH/bit32-32-bit", FAILS(CR0_HIGH), .g32 = true, .m = { MOD(cr0, 0, BIT(32)) }),

    /* "Any MBZ bit of CR3 is set." (bits 63:MAXPHYADDR in long mode) */
    V(.name = "CR3_MBZ/bit48-at-maxphyaddr", FAILS(CR3_MBZ), .m = { MOD(cr3, 0, BIT(MAXPA)) }),
    V(.name = "CR3_MBZ/bit63", FAILS(CR3_MBZ), .m = { MOD(cr3, 0, BIT(63)) }),
    /* hvsim checks the long-mode layout only when EFER.LME = 1 */
    V(.name = "CR3_MBZ/high-bits-without-lme-legal", .g32 = true, .m = { MOD(cr3, 0, BIT(62) | BIT(MAXPA)) },
      ENTERS_HLT),

    /* "Any MBZ bit of CR4 is set." (bits the profile does not support) */
    V(.name = "CR4_MBZ/vmxe-on-amd", FAILS(CR4_MBZ), .m = { MOD(cr4, 0, BIT(13)) }),
    V(.name = "CR4_MBZ/la57", FAILS(CR4_MBZ), .m = { MOD(cr4, 0, BIT(12)) }),
    V(.name = "CR4_MBZ/bit23", FAILS(CR4_MBZ), .m = { MOD(cr4, 0, BIT(23)) }),
    V(.name = "CR4_MBZ/bit63", FAILS(CR4_MBZ), .m = { MOD(cr4, 0, BIT(63)) }),

    /* "DR6[63:32] are not zero." / "DR7[63:32] are not zero." */
    V(.name = "DR6_HIGH/bit32", FAILS(DR6_HIGH), .m = { MOD(dr6, 0, BIT(32)) }),
    V(.name = "DR6_HIGH/low-half-all-ones-legal", .m = { MOD(dr6, 0, 0xFFFFFFFFull) }, ENTERS_VMMCALL),
    V(.name = "DR7_HIGH/bit32", FAILS(DR7_HIGH), .m = { MOD(dr7, 0, BIT(32)) }),
    V(.name = "DR7_HIGH/bit63", FAILS(DR7_HIGH), .m = { MOD(dr7, 0, BIT(63)) }),

    /* "Any MBZ bit of EFER is set." */
    V(.name = "EFER_MBZ/bit1", FAILS(EFER_MBZ), .m = { MOD(efer, 0, BIT(1)) }),
    V(.name = "EFER_MBZ/bit9", FAILS(EFER_MBZ), .m = { MOD(efer, 0, BIT(9)) }),
    V(.name = "EFER_MBZ/bit16", FAILS(EFER_MBZ), .m = { MOD(efer, 0, BIT(16)) }),
    V(.name = "EFER_MBZ/bit63", FAILS(EFER_MBZ), .m = { MOD(efer, 0, BIT(63)) }),

    /* LONG_MODE ("EFER.LMA or EFER.LME is non-zero and this processor does not
     * support long mode"): amd-server has long mode, no row can fail it
     * (check_coverage asserts its name and rule instead) */

    /* "EFER.LME and CR0.PG are both set and CR4.PAE is zero." */
    V(.name = "LME_PG_PAE/pae-clear", FAILS(LME_PG_PAE), .m = { MOD(cr4, CR4_PAE, 0) }),
    V(.name = "LME_PG_PAE/lme-without-pg-or-pae-legal", .g32 = true, .m = { MOD(efer, 0, EFER_LME) },
      ENTERS_HLT),

    /* "EFER.LME and CR0.PG are both non-zero and CR0.PE is zero." */
    V(.name = "LME_PG_PE/pe-clear", FAILS(LME_PG_PE), .m = { MOD(cr0, CR0_PE, 0) }),
    /* PAE is checked first: both wrong names LME_PG_PAE */
    V(.name = "LME_PG_PE/pae-also-clear-reports-pae", FAILS(LME_PG_PAE),
      .m = { MOD(cr0, CR0_PE, 0), MOD(cr4, CR4_PAE, 0) }),

    /* "EFER.LME, CR0.PG, CR4.PAE, CS.L, and CS.D are all non-zero." */
    V(.name = "LME_PG_CS_LD/l-and-d", FAILS(LME_PG_CS_LD), .m = { CS_ATTR(0, 0x400) }),
    V(.name = "LME_PG_CS_LD/compatibility-mode-cs-legal", .m = { CS_ATTR(0x200, 0x400) }, ENTERS_HLT),
    V(.name = "LME_PG_CS_LD/l-and-d-without-lme-legal", .g32 = true, .m = { CS_ATTR(0, 0x200) }, ENTERS_HLT),

    /* "The VMRUN intercept bit is clear." */
    V(.name = "VMRUN_INTERCEPT/clear", FAILS(VMRUN_INTERCEPT), .m = { MOD(intercept4, 1u << I4_VMRUN, 0) }),

    /* "The MSR or IOIO intercept tables extend to a physical address that is
     * greater than or equal to the maximum supported physical address." (15.11:
     * "VMRUN ignores the lower 12 bits ... if the address of the last byte in
     * the table is greater than or equal to the maximum supported physical
     * address, this is treated as illegal VMCB state") */
    V(.name = "MSRPM_RANGE/last-byte-at-limit", FAILS(MSRPM_RANGE),
      .m = { MOD(msrpm_base_pa, ~0ull, BIT(MAXPA) - 0x1000) }),
    V(.name = "MSRPM_RANGE/base-at-limit", FAILS(MSRPM_RANGE), .m = { MOD(msrpm_base_pa, ~0ull, BIT(MAXPA)) }),
    V(.name = "MSRPM_RANGE/base-wraps-64-bit", FAILS(MSRPM_RANGE),
      .m = { MOD(msrpm_base_pa, ~0ull, 0xFFFFFFFFFFFFF000ull) }),
    V(.name = "MSRPM_RANGE/ends-exactly-at-limit-legal", .m = { MOD(msrpm_base_pa, ~0ull, BIT(MAXPA) - 0x2000) },
      ENTERS_VMMCALL),
    V(.name = "MSRPM_RANGE/low-12-bits-ignored-legal",
      .m = { MOD(msrpm_base_pa, ~0ull, BIT(MAXPA) - 0x2000 + 0xFFF) }, ENTERS_VMMCALL),
    V(.name = "IOPM_RANGE/12-KiB-not-8", FAILS(IOPM_RANGE), .m = { MOD(iopm_base_pa, ~0ull, BIT(MAXPA) - 0x2000) }),
    V(.name = "IOPM_RANGE/base-wraps-64-bit", FAILS(IOPM_RANGE),
      .m = { MOD(iopm_base_pa, ~0ull, 0xFFFFFFFFFFFFE000ull) }),
    V(.name = "IOPM_RANGE/ends-exactly-at-limit-legal", .m = { MOD(iopm_base_pa, ~0ull, BIT(MAXPA) - 0x3000) },
      ENTERS_VMMCALL),

    /* "ASID is equal to zero." */
    V(.name = "ASID_ZERO/zero", FAILS(ASID_ZERO), .m = { MOD(guest_asid, ~0ull, 0) }),
    V(.name = "ASID_ZERO/largest-legal", .m = { MOD(guest_asid, ~0ull, 32767) }, ENTERS_VMMCALL),

    /* 15.20: "Reserved values of TYPE have been specified" (table 15-7: 0 INTR,
     * 2 NMI, 3 exception, 4 software interrupt). The guest takes a legal event
     * through the shared IDT; its handler's HLT exits. */
    V(.name = "EVENTINJ_TYPE/type1", FAILS(EVENTINJ_TYPE), .m = { MOD(eventinj, 0, INJ(1, 0x40)) }),
    V(.name = "EVENTINJ_TYPE/type5", FAILS(EVENTINJ_TYPE), .m = { MOD(eventinj, 0, INJ(5, 0x40)) }),
    V(.name = "EVENTINJ_TYPE/type6", FAILS(EVENTINJ_TYPE), .m = { MOD(eventinj, 0, INJ(6, 0x40)) }),
    V(.name = "EVENTINJ_TYPE/type7", FAILS(EVENTINJ_TYPE), .m = { MOD(eventinj, 0, INJ(7, 3)) }),
    V(.name = "EVENTINJ_TYPE/type1-not-valid-legal", .m = { MOD(eventinj, 0, INJ(1, 0x40) & ~BIT(31)) },
      ENTERS_VMMCALL),
    V(.name = "EVENTINJ_TYPE/type0-intr-legal", .m = { MOD(eventinj, 0, INJ(0, 0x40)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(0x40))),
    V(.name = "EVENTINJ_TYPE/type2-nmi-legal", .m = { MOD(eventinj, 0, INJ(2, 2)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(2))),
    V(.name = "EVENTINJ_TYPE/type3-exception-legal", .m = { MOD(eventinj, 0, INJ(3, 13) | INJ_EV(0x18)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(13))),
    V(.name = "EVENTINJ_TYPE/type4-software-interrupt-legal", .m = { MOD(eventinj, 0, INJ(4, 0x80)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(0x80))),

    /* 15.20: "TYPE = 3 (exception) has been specified with a vector that does
     * not correspond to an exception (this includes vector 2, which is an NMI,
     * not an exception)." */
    V(.name = "EVENTINJ_VECTOR/exception-2", FAILS(EVENTINJ_VECTOR), .m = { MOD(eventinj, 0, INJ(3, 2)) }),
    V(.name = "EVENTINJ_VECTOR/exception-32", FAILS(EVENTINJ_VECTOR), .m = { MOD(eventinj, 0, INJ(3, 32)) }),
    V(.name = "EVENTINJ_VECTOR/exception-255", FAILS(EVENTINJ_VECTOR), .m = { MOD(eventinj, 0, INJ(3, 255)) }),
    V(.name = "EVENTINJ_VECTOR/exception-31-legal", .m = { MOD(eventinj, 0, INJ(3, 31)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(31))),
    V(.name = "EVENTINJ_VECTOR/exception-0-legal", .m = { MOD(eventinj, 0, INJ(3, 0)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(0))),
    V(.name = "EVENTINJ_VECTOR/software-interrupt-2-legal", .m = { MOD(eventinj, 0, INJ(4, 2)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(2))),
    V(.name = "EVENTINJ_VECTOR/intr-32-legal", .m = { MOD(eventinj, 0, INJ(0, 32)) },
      ENTERS(SVM_EXIT_HLT, HANDLER(32))),

    /* two illegal states: the first check in svm_checks.def order is reported */
    V(.name = "order/svme-and-asid-reports-svme", FAILS(EFER_SVME),
      .m = { MOD(guest_asid, ~0ull, 0), MOD(efer, EFER_SVME, 0) }),
    V(.name = "order/cr0-high-and-dr7-reports-cr0", FAILS(CR0_HIGH),
      .m = { MOD(dr7, 0, BIT(40)), MOD(cr0, 0, BIT(40)) }),
};

static void apply_mod(struct vmcb *v, const struct vmcb_mod *m)
{
    if (!m->size)
        return;
    uint8_t *p = (uint8_t *)v + m->off;
    uint64_t f = 0;
    memcpy(&f, p, m->size);
    f = (f & ~m->clear) | m->set;
    memcpy(p, &f, m->size);
}

START_TEST(vmrun_check)
{
    const struct vmrun_row *r = &vmrun_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "vmrun %s (test_svm.c:%d)", r->name, r->line);
    static const uint8_t host[] = { 0x0F, 0x01, 0xD8, 0xF4 };           /* vmrun; hlt */
    static const uint8_t guest[] = { 0x0F, 0x01, 0xD9 };                /* vmmcall */
    static const uint8_t hlt[] = { 0xF4 };
    struct sv x;
    sv_create(&x, host, sizeof(host), row, 0);
    cpu_t *c = x.t.cpu;
    put(&x, GUEST_PA, guest, sizeof(guest));
    put(&x, GUEST_HLT, hlt, sizeof(hlt));
    struct vmcb v;
    vmcb_base(&x, &v, r->g32);
    if (r->ghlt)
        v.rip = GUEST_HLT;
    for (unsigned k = 0; k < 2; k++)
        apply_mod(&v, &r->m[k]);
    v.exitcode = 0x1234;                       /* sentinels: written by the #VMEXIT or not */
    v.nrip = 0x5678;
    put(&x, VMCB_PA, &v, sizeof(v));
    cpu_set(c, CPU_RAX, VMCB_PA);
    cpu_commit_state(c);
    uint64_t cr0 = cpu_get(c, CPU_CR0), cr3 = cpu_get(c, CPU_CR3), cr4 = cpu_get(c, CPU_CR4);
    uint64_t efer = cpu_get(c, CPU_EFER), rsp = cpu_get(c, CPU_RSP);
    struct cpu_seg cs0;
    cpu_get_seg(c, CPU_CS, &cs0);

    sv_run(&x);

    /* either way the host resumes after VMRUN and halts there (APM 15.5.1,
     * 15.6: the host's RIP is that of the instruction after VMRUN) */
    ck_assert_msg(tm_vector(&x.t) == -1 && cpu_get(c, CPU_RIP) == CODE_PA + sizeof(host),
                  "%s: host RIP %#llx (vector %d), expected the HLT after VMRUN", row,
                  (unsigned long long)cpu_get(c, CPU_RIP), tm_vector(&x.t));
    ck_assert_msg(cpu_get(c, CPU_CR3) == cr3 && cpu_get(c, CPU_CR4) == cr4 && cpu_get(c, CPU_EFER) == efer &&
                  cpu_get(c, CPU_CR0) == cr0 && cpu_get(c, CPU_RSP) == rsp && cpu_get(c, CPU_RAX) == VMCB_PA,
                  "%s: host state changed: CR0 %#llx CR3 %#llx CR4 %#llx EFER %#llx RSP %#llx RAX %#llx", row,
                  (unsigned long long)cpu_get(c, CPU_CR0), (unsigned long long)cpu_get(c, CPU_CR3),
                  (unsigned long long)cpu_get(c, CPU_CR4), (unsigned long long)cpu_get(c, CPU_EFER),
                  (unsigned long long)cpu_get(c, CPU_RSP), (unsigned long long)cpu_get(c, CPU_RAX));
    struct cpu_seg cs1;
    cpu_get_seg(c, CPU_CS, &cs1);
    ck_assert_msg(cs1.sel == cs0.sel && cs1.attr == cs0.attr, "%s: host CS %#x/%#x", row, cs1.sel, cs1.attr);
    const struct cpu_event *ex = NULL;
    unsigned nexit = tm_count(&x.t, CPU_EV_SVM_EXIT, &ex);
    unsigned nentry = tm_count(&x.t, CPU_EV_VM_ENTRY, NULL);
    ck_assert_msg(nexit == 1 && ex, "%s: %u VM exits", row, nexit);

    if (r->check != PASS) {
        /* VMEXIT_INVALID: EXITCODE -1, nothing of the guest loaded (the VMCB's
         * guest state is not overwritten either), the check in the event */
        ck_assert_msg(vmcb64(&x, VMCB_OFF(exitcode)) == SVM_EXIT_INVALID, "%s: EXITCODE %#llx, expected -1", row,
                      (unsigned long long)vmcb64(&x, VMCB_OFF(exitcode)));
        ck_assert_msg(nentry == 0, "%s: %u VM entries", row, nentry);
        ck_assert_msg(ex->a == SVM_EXIT_INVALID && ex->e == (uint64_t)r->check && ex->b == 0 &&
                      ex->rip == CODE_PA + 3, "%s: VM_EXIT reason %#llx info %llu qual %#llx rip %#llx; expected "
                      "check %d (%s)", row, (unsigned long long)ex->a, (unsigned long long)ex->e,
                      (unsigned long long)ex->b, (unsigned long long)ex->rip, r->check,
                      svm_check_name((enum svm_check)r->check));
        ck_assert_msg(vmcb64(&x, VMCB_OFF(rip)) == v.rip && vmcb64(&x, VMCB_OFF(rax)) == GUEST_RAX &&
                      vmcb64(&x, VMCB_OFF(cr3)) == v.cr3 && vmcb64(&x, VMCB_OFF(efer)) == v.efer &&
                      vmcb64(&x, VMCB_OFF(nrip)) == 0x5678,
                      "%s: the VMCB's guest state was written (RIP %#llx RAX %#llx nRIP %#llx)", row,
                      (unsigned long long)vmcb64(&x, VMCB_OFF(rip)), (unsigned long long)vmcb64(&x, VMCB_OFF(rax)),
                      (unsigned long long)vmcb64(&x, VMCB_OFF(nrip)));
        ck_assert_msg(strcmp(svm_check_name((enum svm_check)r->check), "?") != 0, "%s: check has no name", row);
    } else {
        ck_assert_msg(nentry == 1, "%s: %u VM entries", row, nentry);
        ck_assert_msg(vmcb64(&x, VMCB_OFF(exitcode)) == r->exitcode && ex->a == (uint32_t)r->exitcode,
                      "%s: EXITCODE %#llx (event %#llx), expected %#llx", row,
                      (unsigned long long)vmcb64(&x, VMCB_OFF(exitcode)), (unsigned long long)ex->a,
                      (unsigned long long)r->exitcode);
        ck_assert_msg(vmcb64(&x, VMCB_OFF(rip)) == r->exit_rip, "%s: guest RIP %#llx, expected %#llx", row,
                      (unsigned long long)vmcb64(&x, VMCB_OFF(rip)), (unsigned long long)r->exit_rip);
        ck_assert_msg(!(vmcb64(&x, VMCB_OFF(eventinj)) & BIT(31)), "%s: EVENTINJ still valid", row);
    }
}
END_TEST

/* Every check of svm_checks.def has a failing row; LONG_MODE, which no AMD
 * profile can fail, at least has its name and rule. */
START_TEST(check_coverage)
{
    for (int k = 0; k < SVMCHK_COUNT; k++) {
        const char *name = svm_check_name((enum svm_check)k), *rule = svm_check_rule((enum svm_check)k);
        ck_assert_msg(name && strcmp(name, "?") && rule && strcmp(rule, "?") && strstr(rule, "[APM vol. 2, 15."),
                      "check %d: name \"%s\" rule \"%s\"", k, name, rule);
        if (k == SVMCHK_LONG_MODE) {
            ck_assert_str_eq(name, "LONG_MODE");
            ck_assert_msg(strstr(rule, "long mode") != NULL, "LONG_MODE rule \"%s\"", rule);
            continue;
        }
        int rows = 0;
        for (int i = 0; i < NROWS(vmrun_rows); i++)
            rows += vmrun_rows[i].check == k;
        ck_assert_msg(rows > 0, "check %d (%s) has no failing row in vmrun_rows", k, name);
    }
    ck_assert_str_eq(svm_check_name(SVMCHK_COUNT), "?");
    ck_assert_str_eq(svm_check_rule(SVMCHK_COUNT), "?");
}
END_TEST

/* ---- the SVM instructions executed by the host (APM vol. 3, each
 * instruction's exceptions; docs/svm.md "Instructions (host)") ---- */

struct insn_row {
    const char *name;
    int line;
    uint8_t code[4];           /* one instruction; HLT follows */
    unsigned n;
    unsigned mods;
    uint64_t rax;
    unsigned fault;            /* 6 #UD, 13 #GP(0); 0: completes */
    bool stop;                 /* the run stops (unmodelled) */
    const char *stop_text;     /* ... with a message containing this */
    enum { IK_NONE, IK_VMSAVE_STAR, IK_VMLOAD_STAR, IK_INVAL, IK_NO_INVAL } chk;
    bool set_rcx;              /* RCX = rcx (default 1) */
    uint64_t rcx;
};
#define IR(...) { .line = __LINE__, __VA_ARGS__ }
#define ICODE(...) .code = { __VA_ARGS__ }, .n = sizeof((uint8_t[]){ __VA_ARGS__ })
#define X_VMRUN   ICODE(0x0F, 0x01, 0xD8)
#define X_VMMCALL ICODE(0x0F, 0x01, 0xD9)
#define X_VMLOAD  ICODE(0x0F, 0x01, 0xDA)
#define X_VMSAVE  ICODE(0x0F, 0x01, 0xDB)
#define X_STGI    ICODE(0x0F, 0x01, 0xDC)
#define X_CLGI    ICODE(0x0F, 0x01, 0xDD)
#define X_SKINIT  ICODE(0x0F, 0x01, 0xDE)
#define X_INVLPGA ICODE(0x0F, 0x01, 0xDF)
#define STAR_VALUE 0x0023001000000000ull

static const struct insn_row insn_rows[] = {
    /* "EFER.SVME = 0: #UD" (VMRUN, VMLOAD, VMSAVE, CLGI, VMMCALL, INVLPGA; STGI and
     * SKINIT also when CPUID Fn8000_0001_ECX[SKINIT] = 0, as on amd-server) */
    IR(.name = "svme0/vmrun-ud", X_VMRUN, .mods = M_SVME0, .rax = VMCB_PA, .fault = 6),
    IR(.name = "svme0/vmload-ud", X_VMLOAD, .mods = M_SVME0, .rax = VMCB2_PA, .fault = 6),
    IR(.name = "svme0/vmsave-ud", X_VMSAVE, .mods = M_SVME0, .rax = VMCB2_PA, .fault = 6),
    IR(.name = "svme0/stgi-ud", X_STGI, .mods = M_SVME0, .fault = 6),
    IR(.name = "svme0/clgi-ud", X_CLGI, .mods = M_SVME0, .fault = 6),
    IR(.name = "svme0/invlpga-ud", X_INVLPGA, .mods = M_SVME0, .fault = 6),
    IR(.name = "svme0/vmmcall-ud", X_VMMCALL, .mods = M_SVME0, .fault = 6),
    IR(.name = "svme0/skinit-ud", X_SKINIT, .mods = M_SVME0, .fault = 6),
    IR(.name = "bare/vmrun-ud-without-model", X_VMRUN, .mods = M_BARE | M_SVME0, .rax = VMCB_PA, .fault = 6),
    /* VMMCALL outside a guest (no #VMEXIT possible): #UD; SKINIT is not modelled: #UD */
    IR(.name = "host/vmmcall-ud", X_VMMCALL, .fault = 6),
    IR(.name = "host/skinit-ud", X_SKINIT, .rax = VMCB_PA, .fault = 6),
    /* "CPL != 0: #GP(0)" */
    IR(.name = "cpl3/vmrun-gp", X_VMRUN, .mods = M_CPL3, .rax = VMCB_PA, .fault = 13),
    IR(.name = "cpl3/vmload-gp", X_VMLOAD, .mods = M_CPL3, .rax = VMCB2_PA, .fault = 13),
    IR(.name = "cpl3/vmsave-gp", X_VMSAVE, .mods = M_CPL3, .rax = VMCB2_PA, .fault = 13),
    IR(.name = "cpl3/stgi-gp", X_STGI, .mods = M_CPL3, .fault = 13),
    IR(.name = "cpl3/clgi-gp", X_CLGI, .mods = M_CPL3, .fault = 13),
    IR(.name = "cpl3/invlpga-gp", X_INVLPGA, .mods = M_CPL3, .fault = 13),
    IR(.name = "cpl3/vmmcall-ud (#UD outside a guest at any CPL)", X_VMMCALL, .mods = M_CPL3, .fault = 6),
    IR(.name = "cpl3/svme0-vmrun-ud (#UD before #GP)", X_VMRUN, .mods = M_CPL3 | M_SVME0, .rax = VMCB_PA,
       .fault = 6),
    IR(.name = "cpl3/misaligned-vmrun-gp", X_VMRUN, .mods = M_CPL3, .rax = VMCB_PA + 8, .fault = 13),
    /* "rAX not 4-KiB aligned or beyond MAXPHYADDR: #GP(0)" */
    IR(.name = "rax/vmrun-misaligned-by-8", X_VMRUN, .rax = VMCB_PA + 8, .fault = 13),
    IR(.name = "rax/vmrun-misaligned-by-0x800", X_VMRUN, .rax = VMCB_PA + 0x800, .fault = 13),
    IR(.name = "rax/vmload-misaligned", X_VMLOAD, .rax = VMCB2_PA + 1, .fault = 13),
    IR(.name = "rax/vmsave-misaligned", X_VMSAVE, .rax = VMCB2_PA + 0x10, .fault = 13),
    IR(.name = "rax/vmrun-at-maxphyaddr", X_VMRUN, .rax = BIT(MAXPA), .fault = 13),
    IR(.name = "rax/vmload-at-maxphyaddr", X_VMLOAD, .rax = BIT(MAXPA) | VMCB2_PA, .fault = 13),
    IR(.name = "rax/vmsave-bit63", X_VMSAVE, .rax = BIT(63) | VMCB2_PA, .fault = 13),
    /* outside 64-bit mode the address is EAX (APM vol. 3): not testable yet, cpu/
     * decodes the SVM instructions in 64-bit mode only (it stops the run, naming it) */
    IR(.name = "compat/vmsave-not-decoded-yet", X_VMSAVE, .mods = M_COMPAT, .rax = VMCB2_PA, .stop = true,
       .stop_text = "64-bit mode only"),
    /* completing */
    IR(.name = "ok/stgi", X_STGI),
    IR(.name = "ok/clgi", X_CLGI),
    IR(.name = "ok/invlpga", X_INVLPGA, .rax = 0x200000, .chk = IK_INVAL),
    /* INVLPGA of an ASID at or above the number of ASIDs (CPUID Fn8000_000A
     * EBX, 32768 on amd-server): no translation carries one (VMRUN refuses
     * them), so nothing is invalidated; in particular ECX = 0xFFFFFFFF must
     * not reach the TLB as "every ASID", nor 0x10000 as ASID 0 */
    IR(.name = "ok/invlpga-largest-asid", X_INVLPGA, .rax = 0x200000, .set_rcx = true, .rcx = 32767,
       .chk = IK_INVAL),
    IR(.name = "ok/invlpga-asid-at-nasid-nothing", X_INVLPGA, .rax = 0x200000, .set_rcx = true, .rcx = 32768,
       .chk = IK_NO_INVAL),
    IR(.name = "ok/invlpga-asid-10000-nothing", X_INVLPGA, .rax = 0x200000, .set_rcx = true, .rcx = 0x10000,
       .chk = IK_NO_INVAL),
    IR(.name = "ok/invlpga-asid-ffffffff-nothing", X_INVLPGA, .rax = 0x200000, .set_rcx = true, .rcx = 0xFFFFFFFF,
       .chk = IK_NO_INVAL),
    IR(.name = "ok/invlpga-host-asid-0", X_INVLPGA, .rax = 0x200000, .set_rcx = true, .rcx = 0, .chk = IK_INVAL),
    IR(.name = "ok/vmsave-stores-star", X_VMSAVE, .rax = VMCB2_PA, .chk = IK_VMSAVE_STAR),
    IR(.name = "ok/vmload-loads-star", X_VMLOAD, .rax = VMCB2_PA, .chk = IK_VMLOAD_STAR),
    /* hvsim's rule: VMRUN with VM_HSAVE_PA = 0 stops the run (docs/svm.md) */
    IR(.name = "stop/vmrun-without-hsave", X_VMRUN, .mods = M_NO_HSAVE, .rax = VMCB_PA, .stop = true,
       .stop_text = "VM_HSAVE_PA = 0"),
};

START_TEST(insn)
{
    const struct insn_row *r = &insn_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "insn %s (test_svm.c:%d)", r->name, r->line);
    uint8_t code[8];
    memcpy(code, r->code, r->n);
    code[r->n] = 0xF4;
    struct sv x;
    sv_create(&x, code, r->n + 1, row, r->mods);
    cpu_t *c = x.t.cpu;
    if (r->chk == IK_VMSAVE_STAR)
        ck_assert(cpu_msr_write(c, MSR_STAR, STAR_VALUE));
    if (r->chk == IK_VMLOAD_STAR)
        put64(&x, VMCB2_PA + VMCB_OFF(star), STAR_VALUE);
    cpu_set(c, CPU_RAX, r->rax);
    cpu_set(c, CPU_RCX, r->set_rcx ? r->rcx : 1);
    cpu_commit_state(c);
    enum cpu_stop st = cpu_run(c, 100);
    if (r->stop) {
        ck_assert_msg(st == CPU_STOP_UNMODELLED, "%s: stop %s, expected unmodelled", row, cpu_stop_name(st));
        ck_assert_msg_contains(row, x.t.unmodelled_text, r->stop_text);
        return;
    }
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row, cpu_stop_name(st), cpu_message(c));
    if (r->fault) {
        ck_assert_msg(tm_vector(&x.t) == (int)r->fault, "%s: vector %d, expected %u", row, tm_vector(&x.t), r->fault);
        unsigned ec = r->fault == 13;
        ck_assert_msg((tm_stack(&x.t, ec) & 0xFFFFFFFFull) == CODE_PA, "%s: the fault's RIP %#llx", row,
                      (unsigned long long)tm_stack(&x.t, ec));
        if (r->fault == 13)
            ck_assert_msg(tm_stack(&x.t, 0) == 0, "%s: #GP error code %#llx", row,
                          (unsigned long long)tm_stack(&x.t, 0));
    } else {
        ck_assert_msg(tm_vector(&x.t) == -1 && cpu_get(c, CPU_RIP) == CODE_PA + r->n + 1, "%s: did not complete "
                      "(vector %d, RIP %#llx)", row, tm_vector(&x.t), (unsigned long long)cpu_get(c, CPU_RIP));
    }
    ck_assert_msg(tm_count(&x.t, CPU_EV_VM_ENTRY, NULL) == 0 && tm_count(&x.t, CPU_EV_SVM_EXIT, NULL) == 0,
                  "%s: a VM entry or exit happened", row);
    uint64_t v = 0;
    switch (r->chk) {
    case IK_VMSAVE_STAR:
        ck_assert_msg(get64(&x, VMCB2_PA + VMCB_OFF(star)) == STAR_VALUE, "%s: VMSAVE stored STAR %#llx", row,
                      (unsigned long long)get64(&x, VMCB2_PA + VMCB_OFF(star)));
        break;
    case IK_VMLOAD_STAR:
        ck_assert(cpu_msr_read(c, MSR_STAR, &v));
        ck_assert_msg(v == STAR_VALUE, "%s: STAR %#llx after VMLOAD", row, (unsigned long long)v);
        break;
    case IK_INVAL:
    case IK_NO_INVAL:
        ck_assert_msg(tm_count(&x.t, CPU_EV_TLB_INVAL, NULL) == (r->chk == IK_INVAL ? 1u : 0u),
                      "%s: %u TLB invalidations", row, tm_count(&x.t, CPU_EV_TLB_INVAL, NULL));
        break;
    default:
        break;
    }
}
END_TEST

/* ---- MSRs through RDMSR/WRMSR at CPL 0 (APM 15.30.1 VM_CR, 15.30.4
 * VM_HSAVE_PA, 15.4 EFER.SVME) ---- */

enum { RD = 1, RD_GP, WR, WR_GP, WR_OR, WR_OR_GP };   /* WR_OR: write the current value | val */
struct msr_step { int op; uint32_t msr; uint64_t val, mask; };     /* RD: (value & mask) == val; mask 0: all */
struct msr_row {
    const char *name;
    int line;
    unsigned mods;
    struct msr_step st[4];
    struct cap_ovr caps[NCAP_OVR];   /* capability overrides (svm_caps_override) */
};
#define MSR_TSC_RATIO   0xC0000104u
#define TSC_RATIO_1     0x0100000000ull
#define MR(...) { .line = __LINE__, __VA_ARGS__ }

static const struct msr_row msr_rows[] = {
    MR(.name = "vm_cr/reset-0", .st = { { RD, MSR_VM_CR, 0, 0 } }),
    /* LOCK—Bit 3: "When this bit is clear, VM_CR bits 3 and 4 can be written." */
    MR(.name = "vm_cr/set-lock", .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { RD, MSR_VM_CR, VM_CR_LOCK, 0 } }),
    MR(.name = "vm_cr/set-svmdis-without-svme", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { RD, MSR_VM_CR, VM_CR_SVMDIS, 0 } }),
    MR(.name = "vm_cr/clear-svmdis-unlocked", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { WR, MSR_VM_CR, 0, 0 }, { RD, MSR_VM_CR, 0, 0 } }),
    /* LOCK—Bit 3: "When this bit is set, writes to LOCK and SVMDIS are silently ignored." */
    MR(.name = "vm_cr/locked-clear-lock-ignored",
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR, MSR_VM_CR, 0, 0 }, { RD, MSR_VM_CR, VM_CR_LOCK, 0 } }),
    MR(.name = "vm_cr/locked-set-svmdis-ignored", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR, MSR_VM_CR, VM_CR_LOCK | VM_CR_SVMDIS, 0 },
               { RD, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR_OR, MSR_EFER, EFER_SVME, 0 } }),
    MR(.name = "vm_cr/locked-clear-svmdis-ignored", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK | VM_CR_SVMDIS, 0 }, { WR, MSR_VM_CR, 0, 0 },
               { RD, MSR_VM_CR, VM_CR_LOCK | VM_CR_SVMDIS, 0 }, { WR_OR_GP, MSR_EFER, EFER_SVME, 0 } }),
    MR(.name = "vm_cr/locked-same-value",
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR, MSR_VM_CR, VM_CR_LOCK, 0 } }),
    /* SVMDIS—Bit 4: "Setting SVMDIS while EFER.SVME is 1 generates a #GP fault,
     * regardless of the current state of VM_CR.LOCK." */
    MR(.name = "vm_cr/svmdis-with-svme-gp", .st = { { WR_GP, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { RD, MSR_VM_CR, 0, 0 } }),
    MR(.name = "vm_cr/svmdis-and-lock-with-svme-gp",
       .st = { { WR_GP, MSR_VM_CR, VM_CR_SVMDIS | VM_CR_LOCK, 0 }, { RD, MSR_VM_CR, 0, 0 } }),
    MR(.name = "vm_cr/locked-svmdis-with-svme-gp",
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR_GP, MSR_VM_CR, VM_CR_LOCK | VM_CR_SVMDIS, 0 },
               { RD, MSR_VM_CR, VM_CR_LOCK, 0 } }),
    /* bits 63:5 reserved (MBZ): #GP, locked or not */
    MR(.name = "vm_cr/reserved-bit5-gp", .st = { { WR_GP, MSR_VM_CR, BIT(5), 0 }, { RD, MSR_VM_CR, 0, 0 } }),
    MR(.name = "vm_cr/reserved-bit32-gp", .st = { { WR_GP, MSR_VM_CR, BIT(32) | VM_CR_LOCK, 0 },
                                                  { RD, MSR_VM_CR, 0, 0 } }),
    MR(.name = "vm_cr/reserved-bit63-gp", .st = { { WR_GP, MSR_VM_CR, BIT(63), 0 } }),
    MR(.name = "vm_cr/locked-reserved-bit-gp",
       .st = { { WR, MSR_VM_CR, VM_CR_LOCK, 0 }, { WR_GP, MSR_VM_CR, VM_CR_LOCK | BIT(5), 0 },
               { RD, MSR_VM_CR, VM_CR_LOCK, 0 } }),
    /* EFER.SVME (15.4; SVMDIS: "writes to EFER treat the SVME bit as MBZ") */
    MR(.name = "efer/svme-set", .mods = M_SVME0,
       .st = { { WR_OR, MSR_EFER, EFER_SVME, 0 }, { RD, MSR_EFER, EFER_SVME, EFER_SVME } }),
    MR(.name = "efer/svme-with-svmdis-gp", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { WR_OR_GP, MSR_EFER, EFER_SVME, 0 },
               { RD, MSR_EFER, 0, EFER_SVME } }),
    MR(.name = "efer/other-bits-with-svmdis-ok", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { WR_OR, MSR_EFER, 0, 0 }, { RD, MSR_EFER, 0, EFER_SVME } }),
    MR(.name = "efer/svme-after-svmdis-cleared", .mods = M_SVME0,
       .st = { { WR, MSR_VM_CR, VM_CR_SVMDIS, 0 }, { WR, MSR_VM_CR, 0, 0 }, { WR_OR, MSR_EFER, EFER_SVME, 0 },
               { RD, MSR_EFER, EFER_SVME, EFER_SVME } }),
    /* VM_HSAVE_PA: a 4-KiB-aligned physical address below MAXPHYADDR, else #GP */
    MR(.name = "hsave/reset-0", .mods = M_NO_HSAVE, .st = { { RD, MSR_VM_HSAVE_PA, 0, 0 } }),
    MR(.name = "hsave/aligned", .mods = M_NO_HSAVE,
       .st = { { WR, MSR_VM_HSAVE_PA, HSAVE_PA, 0 }, { RD, MSR_VM_HSAVE_PA, HSAVE_PA, 0 } }),
    MR(.name = "hsave/last-page-below-maxphyaddr", .mods = M_NO_HSAVE,
       .st = { { WR, MSR_VM_HSAVE_PA, BIT(MAXPA) - 0x1000, 0 }, { RD, MSR_VM_HSAVE_PA, BIT(MAXPA) - 0x1000, 0 } }),
    MR(.name = "hsave/bit0-gp", .mods = M_NO_HSAVE,
       .st = { { WR_GP, MSR_VM_HSAVE_PA, HSAVE_PA + 1, 0 }, { RD, MSR_VM_HSAVE_PA, 0, 0 } }),
    MR(.name = "hsave/bit11-gp-keeps-old",
       .st = { { WR_GP, MSR_VM_HSAVE_PA, HSAVE_PA + 0x800, 0 }, { RD, MSR_VM_HSAVE_PA, HSAVE_PA, 0 } }),
    MR(.name = "hsave/at-maxphyaddr-gp",
       .st = { { WR_GP, MSR_VM_HSAVE_PA, BIT(MAXPA), 0 }, { RD, MSR_VM_HSAVE_PA, HSAVE_PA, 0 } }),
    MR(.name = "hsave/bit63-gp", .st = { { WR_GP, MSR_VM_HSAVE_PA, BIT(63) | HSAVE_PA, 0 } }),
    /* TSC_RATIO (APM 15.30.5): 8.32 fixed point, reset 1.0, bits 63:40
     * reserved (#GP); without CPUID Fn8000_000A EDX bit 4 the MSR is #GP */
    MR(.name = "tsc-ratio/reset-1.0", .st = { { RD, MSR_TSC_RATIO, TSC_RATIO_1, 0 } }),
    MR(.name = "tsc-ratio/largest", .st = { { WR, MSR_TSC_RATIO, 0xFFFFFFFFFFull, 0 },
                                            { RD, MSR_TSC_RATIO, 0xFFFFFFFFFFull, 0 } }),
    MR(.name = "tsc-ratio/zero", .st = { { WR, MSR_TSC_RATIO, 0, 0 }, { RD, MSR_TSC_RATIO, 0, 0 } }),
    MR(.name = "tsc-ratio/bit40-gp-keeps-old", .st = { { WR, MSR_TSC_RATIO, 0x80000000ull, 0 },
                                                       { WR_GP, MSR_TSC_RATIO, BIT(40), 0 },
                                                       { RD, MSR_TSC_RATIO, 0x80000000ull, 0 } }),
    MR(.name = "tsc-ratio/bit63-gp", .st = { { WR_GP, MSR_TSC_RATIO, BIT(63) | TSC_RATIO_1, 0 },
                                             { RD, MSR_TSC_RATIO, TSC_RATIO_1, 0 } }),
    MR(.name = "tsc-ratio/feature-off-read-gp", .caps = { { "features", SVM_FEAT_MODELLED & ~SVM_FEAT_TSC_RATE } },
       .st = { { RD_GP, MSR_TSC_RATIO, 0, 0 } }),
    MR(.name = "tsc-ratio/feature-off-write-gp", .caps = { { "features", SVM_FEAT_MODELLED & ~SVM_FEAT_TSC_RATE } },
       .st = { { WR_GP, MSR_TSC_RATIO, TSC_RATIO_1, 0 } }),
};

/* Execute one instruction at `at` (its HLT follows) with the given
 * registers, from a clean CPL-0 state; the vector it raised or -1. */
static int exec_at(struct sv *x, uint64_t at, uint64_t rax, uint64_t rcx, uint64_t rdx)
{
    cpu_t *c = x->t.cpu;
    cpu_leave_halt(c);
    cpu_set(c, CPU_RIP, at);
    cpu_set(c, CPU_RSP, x->t.entry_rsp);
    cpu_set(c, CPU_RFLAGS, 2);
    cpu_set(c, CPU_RAX, rax);
    cpu_set(c, CPU_RCX, rcx);
    cpu_set(c, CPU_RDX, rdx);
    cpu_commit_state(c);
    sv_run(x);
    int v = tm_vector(&x->t);
    if (v < 0)
        ck_assert_msg(cpu_get(c, CPU_RIP) == at + 3, "%s: RIP %#llx after the instruction at %#llx", x->row,
                      (unsigned long long)cpu_get(c, CPU_RIP), (unsigned long long)at);
    return v;
}

/* wrmsr; hlt; rdmsr; hlt; cpuid; hlt */
static const uint8_t msr_code[] = { 0x0F, 0x30, 0xF4, 0x0F, 0x32, 0xF4, 0x0F, 0xA2, 0xF4 };
#define AT_WRMSR (CODE_PA)
#define AT_RDMSR (CODE_PA + 3)
#define AT_CPUID (CODE_PA + 6)

START_TEST(msr)
{
    const struct msr_row *r = &msr_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "msr %s (test_svm.c:%d)", r->name, r->line);
    struct sv x;
    struct svm_caps caps;
    row_caps(&caps, r->caps, row);
    sv_create_caps(&x, msr_code, sizeof(msr_code), row, r->mods, &caps);
    cpu_t *c = x.t.cpu;
    for (unsigned k = 0; k < 4 && r->st[k].op; k++) {
        const struct msr_step *s = &r->st[k];
        if (s->op == RD_GP) {
            int vec = exec_at(&x, AT_RDMSR, 0, s->msr, 0);
            ck_assert_msg(vec == 13, "%s: step %u: RDMSR %#x raised vector %d, expected #GP", row, k, s->msr, vec);
            continue;
        }
        if (s->op == RD) {
            int vec = exec_at(&x, AT_RDMSR, 0, s->msr, 0);
            ck_assert_msg(vec == -1, "%s: step %u: RDMSR %#x raised vector %d", row, k, s->msr, vec);
            uint64_t v = (cpu_get(c, CPU_RAX) & 0xFFFFFFFFull) | (cpu_get(c, CPU_RDX) << 32);
            uint64_t mask = s->mask ? s->mask : ~0ull;
            ck_assert_msg((v & mask) == s->val, "%s: step %u: RDMSR %#x = %#llx, expected %#llx (mask %#llx)", row,
                          k, s->msr, (unsigned long long)v, (unsigned long long)s->val, (unsigned long long)mask);
            continue;
        }
        uint64_t v = s->val;
        if (s->op == WR_OR || s->op == WR_OR_GP) {
            ck_assert(s->msr == MSR_EFER);                 /* only EFER rows change a current value */
            v |= cpu_get(c, CPU_EFER);
        }
        bool gp = s->op == WR_GP || s->op == WR_OR_GP;
        int vec = exec_at(&x, AT_WRMSR, v & 0xFFFFFFFFull, s->msr, v >> 32);
        ck_assert_msg(vec == (gp ? 13 : -1), "%s: step %u: WRMSR %#x = %#llx: vector %d, expected %s", row, k,
                      s->msr, (unsigned long long)v, vec, gp ? "#GP" : "none");
        if (gp)
            ck_assert_msg(tm_stack(&x.t, 0) == 0 && tm_stack(&x.t, 1) == AT_WRMSR, "%s: step %u: #GP(%#llx) at %#llx",
                          row, k, (unsigned long long)tm_stack(&x.t, 0), (unsigned long long)tm_stack(&x.t, 1));
    }
}
END_TEST

/* ---- CPUID (APM 15.4 "Enabling SVM", CPUID Fn8000_0001_ECX[SVM],
 * Fn8000_000A: EAX revision, EBX number of ASIDs, EDX features) ---- */

struct cpuid_row {
    const char *name;
    int line;
    unsigned mods;
    uint32_t leaf;
    unsigned reg;              /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
    uint32_t mask, want;
    bool at_least;             /* (value & mask) >= want */
    bool from_caps;            /* want: the profile's svm_caps features (EDX) */
    struct cap_ovr caps[NCAP_OVR];   /* capability overrides (svm_caps_override) */
};
#define CR(...) { .line = __LINE__, __VA_ARGS__ }

static const struct cpuid_row cpuid_rows[] = {
    CR(.name = "8000_0001/ecx-svm", .leaf = 0x80000001, .reg = 2, .mask = 1u << 2, .want = 1u << 2),
    CR(.name = "8000_0001/ecx-svm-bare-profile", .mods = M_BARE, .leaf = 0x80000001, .reg = 2, .mask = 1u << 2,
       .want = 0),
    CR(.name = "8000_0001/ecx-svm-with-svme0", .mods = M_SVME0, .leaf = 0x80000001, .reg = 2, .mask = 1u << 2,
       .want = 1u << 2),
    CR(.name = "8000_0000/max-leaf", .leaf = 0x80000000, .reg = 0, .mask = ~0u, .want = 0x8000000A,
       .at_least = true),
    CR(.name = "8000_000A/eax-revision-1", .leaf = 0x8000000A, .reg = 0, .mask = ~0u, .want = 1),
    CR(.name = "8000_000A/ebx-32768-asids", .leaf = 0x8000000A, .reg = 1, .mask = ~0u, .want = 32768),
    CR(.name = "8000_000A/ecx-0", .leaf = 0x8000000A, .reg = 2, .mask = ~0u, .want = 0),
    /* EDX: NP (bit 0), NRIPS (3), DecodeAssists (7), PauseFilter (10),
     * PauseFilterThreshold (12), vGIF (16) set; what hvsim does not model
     * clear: LbrVirt 1, SVML 2, TscRateMsr 4, VmcbClean 5, FlushByAsid 6,
     * AVIC 13, V_VMSAVE_VMLOAD 15, VNMI 25; the whole register as
     * svm_caps_for_profile() says */
    CR(.name = "8000_000A/edx-np", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 0, .want = 1u << 0),
    CR(.name = "8000_000A/edx-nrips", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 3, .want = 1u << 3),
    CR(.name = "8000_000A/edx-decode-assists", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 7, .want = 1u << 7),
    CR(.name = "8000_000A/edx-pause-filter", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 10, .want = 1u << 10),
    CR(.name = "8000_000A/edx-pause-filter-threshold", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 12,
       .want = 1u << 12),
    CR(.name = "8000_000A/edx-vgif", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 16, .want = 1u << 16),
    CR(.name = "8000_000A/edx-clean-bits", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 5, .want = 1u << 5),
    CR(.name = "8000_000A/edx-flush-by-asid", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 6, .want = 1u << 6),
    CR(.name = "8000_000A/edx-tsc-rate-msr", .leaf = 0x8000000A, .reg = 3, .mask = 1u << 4, .want = 1u << 4),
    CR(.name = "8000_000A/edx-unmodelled-features-clear", .leaf = 0x8000000A, .reg = 3,
       .mask = (1u << 1) | (1u << 2) | (1u << 13) | (1u << 15) | (1u << 25),
       .want = 0),
    CR(.name = "8000_000A/edx-is-caps", .leaf = 0x8000000A, .reg = 3, .mask = ~0u, .from_caps = true),
    CR(.name = "8000_000A/edx-is-modelled-set", .leaf = 0x8000000A, .reg = 3, .mask = ~0u, .want = SVM_FEAT_MODELLED),
    /* overridden (docs/svm.md "Enabling"): each register says what the
     * override set, the others keep the profile's values */
    CR(.name = "override/eax-revision-0x7f", .caps = { { "revision", 0x7F } }, .leaf = 0x8000000A, .reg = 0,
       .mask = ~0u, .want = 0x7F),
    CR(.name = "override/eax-revision-0", .caps = { { "revision", 0 } }, .leaf = 0x8000000A, .reg = 0,
       .mask = ~0u, .want = 0),
    CR(.name = "override/ebx-16-asids", .caps = { { "asids", 16 } }, .leaf = 0x8000000A, .reg = 1, .mask = ~0u,
       .want = 16),
    CR(.name = "override/ebx-65536-asids", .caps = { { "asids", 65536 } }, .leaf = 0x8000000A, .reg = 1,
       .mask = ~0u, .want = 65536),
    CR(.name = "override/edx-features-0x9", .caps = { { "features", 0x9 } }, .leaf = 0x8000000A, .reg = 3,
       .mask = ~0u, .want = 0x9),
    CR(.name = "override/edx-features-0", .caps = { { "features", 0 } }, .leaf = 0x8000000A, .reg = 3, .mask = ~0u,
       .want = 0),
    CR(.name = "override/edx-other-register-kept", .caps = { { "features", 0 } }, .leaf = 0x8000000A, .reg = 1,
       .mask = ~0u, .want = 32768),
    CR(.name = "override/ebx-with-all-three", .caps = { { "features", 0x8 }, { "asids", 100 }, { "revision", 3 } },
       .leaf = 0x8000000A, .reg = 1, .mask = ~0u, .want = 100),
    CR(.name = "override/eax-with-all-three", .caps = { { "features", 0x8 }, { "asids", 100 }, { "revision", 3 } },
       .leaf = 0x8000000A, .reg = 0, .mask = ~0u, .want = 3),
    CR(.name = "override/ecx-svm-with-features-0", .caps = { { "features", 0 } }, .leaf = 0x80000001, .reg = 2,
       .mask = 1u << 2, .want = 1u << 2),
};

START_TEST(cpuid)
{
    const struct cpuid_row *r = &cpuid_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "cpuid %s (test_svm.c:%d)", r->name, r->line);
    struct sv x;
    struct svm_caps caps;
    row_caps(&caps, r->caps, row);
    sv_create_caps(&x, msr_code, sizeof(msr_code), row, r->mods, &caps);
    ck_assert_int_eq(exec_at(&x, AT_CPUID, r->leaf, 0, 0), -1);
    static const enum cpu_reg regs[4] = { CPU_RAX, CPU_RBX, CPU_RCX, CPU_RDX };
    uint32_t v = (uint32_t)cpu_get(x.t.cpu, regs[r->reg]) & r->mask;
    uint32_t want = r->from_caps ? svm_caps_for_profile(P_AMD)->features : r->want;
    ck_assert_msg(r->at_least ? v >= want : v == want, "%s: %#x, expected %s%#x", row, v, r->at_least ? ">= " : "",
                  want);
}
END_TEST

/* ---- svm_caps_override (docs/svm.md "Enabling"): revision is CPUID
 * Fn8000_000A EAX[7:0], asids EBX (ASID 0 is the host's, 16-bit tags),
 * features EDX (only bits hvsim models may stay set) ---- */

struct ovr_row {
    const char *name;
    int line;
    struct cap_ovr ops[NCAP_OVR];   /* applied in order from amd-server's; all but the last must succeed */
    const char *err;                /* the last fails with a message containing this; NULL: it succeeds */
    struct svm_caps want;           /* afterwards (a failed override changes nothing) */
};
#define OV(...) { .line = __LINE__, __VA_ARGS__ }
#define CAPS(rev, nasid, feat) .want = { (rev), (nasid), (feat) }
#define SRV_CAPS(...) CAPS(1, 32768, SVM_FEAT_MODELLED)

static const struct ovr_row ovr_rows[] = {
    /* errors: the value and what is wrong with it */
    OV(.name = "name/unknown", .ops = { { "asid", 16 } }, .err = "'asid' is not an AMD-V capability", SRV_CAPS()),
    OV(.name = "name/empty", .ops = { { "", 16 } }, .err = "'' is not an AMD-V capability", SRV_CAPS()),
    OV(.name = "name/case-matters", .ops = { { "Features", 8 } }, .err = "'Features' is not", SRV_CAPS()),
    OV(.name = "revision/0x100", .ops = { { "revision", 0x100 } }, .err = "revision=0x100: the SVM revision is "
       "CPUID Fn8000_000A EAX bits 7:0", SRV_CAPS()),
    OV(.name = "revision/high-bits", .ops = { { "revision", 0x100000001ull } }, .err = "revision=0x100000001",
       SRV_CAPS()),
    OV(.name = "asids/0", .ops = { { "asids", 0 } }, .err = "asids=0: at least 2", SRV_CAPS()),
    OV(.name = "asids/1-host-only", .ops = { { "asids", 1 } }, .err = "asids=1: at least 2 are needed: ASID 0 is "
       "the host's", SRV_CAPS()),
    OV(.name = "asids/65537", .ops = { { "asids", 65537 } }, .err = "asids=65537: at most 65536", SRV_CAPS()),
    OV(.name = "asids/2^32", .ops = { { "asids", 1ull << 32 } }, .err = "asids=4294967296: at most", SRV_CAPS()),
    OV(.name = "features/lbr-virtualization-bit-1", .ops = { { "features", 0x2 } },
       .err = "features=0x2: bit 1 (LBR virtualization) is a feature hvsim does not model", SRV_CAPS()),
    OV(.name = "features/spec-ctrl-bit-20", .ops = { { "features", SVM_FEAT_MODELLED | (1u << 20) } },
       .err = "bit 20 (SPEC_CTRL virtualization)", SRV_CAPS()),
    OV(.name = "features/reserved-bit-8", .ops = { { "features", 0x108 } }, .err = "bit 8 (reserved or unnamed)",
       SRV_CAPS()),
    OV(.name = "features/avic-bit-13", .ops = { { "features", 0x2000 } }, .err = "bit 13 (AVIC)", SRV_CAPS()),
    OV(.name = "features/vnmi-bit-25", .ops = { { "features", 1u << 25 } }, .err = "bit 25 (NMI virtualization)",
       SRV_CAPS()),
    OV(.name = "features/lowest-unmodelled-bit-named", .ops = { { "features", (1u << 25) | (1u << 2) } },
       .err = "bit 2 (SVM lock)", SRV_CAPS()),
    OV(.name = "features/lists-the-modelled-bits", .ops = { { "features", 0x2 } },
       .err = "may only clear bits of 0x114f9 (bits 0 nested paging, 3 NRIP save, 4 TSC rate MSR, 5 VMCB clean "
              "bits, 6 flush by ASID, 7 decode assists, 10 PAUSE filter, 12 PAUSE filter threshold, 16 vGIF)",
       SRV_CAPS()),
    OV(.name = "features/bit-32", .ops = { { "features", 1ull << 32 } },
       .err = "features=0x100000000: CPUID Fn8000_000A EDX has 32 bits; bit 32 is beyond it", SRV_CAPS()),
    OV(.name = "features/bit-63", .ops = { { "features", (1ull << 63) | 8 } }, .err = "bit 63 is beyond it",
       SRV_CAPS()),
    /* a failed override leaves what earlier ones set */
    OV(.name = "keep/error-after-good", .ops = { { "features", 0x8 }, { "asids", 16 }, { "asids", 1 } },
       .err = "asids=1", CAPS(1, 16, 0x8)),
    /* good values, at the edges, and combinations */
    OV(.name = "good/revision-0", .ops = { { "revision", 0 } }, CAPS(0, 32768, SVM_FEAT_MODELLED)),
    OV(.name = "good/revision-0xff", .ops = { { "revision", 0xFF } }, CAPS(0xFF, 32768, SVM_FEAT_MODELLED)),
    OV(.name = "good/asids-2", .ops = { { "asids", 2 } }, CAPS(1, 2, SVM_FEAT_MODELLED)),
    OV(.name = "good/asids-65536", .ops = { { "asids", 65536 } }, CAPS(1, 65536, SVM_FEAT_MODELLED)),
    OV(.name = "good/features-0", .ops = { { "features", 0 } }, CAPS(1, 32768, 0)),
    OV(.name = "good/features-all-modelled", .ops = { { "features", SVM_FEAT_MODELLED } },
       CAPS(1, 32768, SVM_FEAT_MODELLED)),
    OV(.name = "good/features-nrips-only", .ops = { { "features", SVM_FEAT_NRIPS } }, CAPS(1, 32768, 0x8)),
    OV(.name = "good/features-threshold-without-filter", .ops = { { "features", SVM_FEAT_PAUSE_THRESH } },
       CAPS(1, 32768, 0x1000)),
    OV(.name = "good/all-three", .ops = { { "features", 0x9 }, { "revision", 3 }, { "asids", 100 } },
       CAPS(3, 100, 0x9)),
    OV(.name = "good/later-replaces-earlier", .ops = { { "features", 0x8 }, { "features", 0x80 } },
       CAPS(1, 32768, 0x80)),
};

START_TEST(caps_override)
{
    const struct ovr_row *r = &ovr_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "caps_override %s (test_svm.c:%d)", r->name, r->line);
    struct svm_caps c = *svm_caps_for_profile(P_AMD);
    unsigned last = 0;
    while (last + 1 < NCAP_OVR && r->ops[last + 1].name)
        last++;
    for (unsigned k = 0; k <= last; k++) {
        char why[400] = "";
        struct svm_caps before = c;
        bool ok = svm_caps_override(&c, r->ops[k].name, r->ops[k].value, why, sizeof(why));
        if (k < last || !r->err) {
            ck_assert_msg(ok, "%s: override %u (%s=%#llx) failed: %s", row, k, r->ops[k].name,
                          (unsigned long long)r->ops[k].value, why);
            continue;
        }
        ck_assert_msg(!ok, "%s: override %s=%#llx accepted", row, r->ops[k].name, (unsigned long long)r->ops[k].value);
        ck_assert_msg_contains(row, why, r->err);
        ck_assert_msg(!memcmp(&before, &c, sizeof(c)), "%s: a failed override changed the capabilities", row);
    }
    ck_assert_msg(c.revision == r->want.revision && c.nasid == r->want.nasid && c.features == r->want.features,
                  "%s: revision %u, %u ASIDs, features %#x; expected %u, %u, %#x", row, c.revision, c.nasid,
                  c.features, r->want.revision, r->want.nasid, r->want.features);
}
END_TEST

/* ---- intercepts: the IOPM (APM 15.10) and MSRPM (15.11) ---- */

struct icpt_row {
    const char *name;
    int line;
    uint8_t code[4];           /* the guest's instruction; VMMCALL follows */
    unsigned n;
    uint32_t i3;               /* intercept vector 3 besides HLT and shutdown */
    int iopm[3];               /* IOPM bits to set (0 ends: port 0 is used by no row) */
    int64_t msrpm[2];          /* MSRPM bits to set (0 ends: RDMSR of MSR 0 is used by no row) */
    uint64_t rcx, rdx, rax;
    bool hit;                  /* intercepted: exit at the instruction; else it runs, then VMMCALL exits */
    bool guest_gp;             /* not intercepted, and it raises #GP(0) in the guest (an MSR hvsim does not
                                  model): the guest's #GP handler's HLT exits */
    uint64_t exitcode, info1;
};
#define IC(...) { .line = __LINE__, __VA_ARGS__ }
#define GCODE(...) .code = { __VA_ARGS__ }, .n = sizeof((uint8_t[]){ __VA_ARGS__ })
#define IOIO (1u << I3_IOIO)
#define MSRP (1u << I3_MSR)
#define IO_HIT(info) .hit = true, .exitcode = SVM_EXIT_IOIO, .info1 = (info)
#define MSR_HIT(w) .hit = true, .exitcode = SVM_EXIT_MSR, .info1 = (w)
/* MSRPM bit of an MSR (table 15-8: 2 bits per MSR, read the lsb, three 2-KiB vectors) */
#define MSRPM_BIT(vecbase, msr, w) ((int64_t)(vecbase) * 8 + 2 * (int64_t)(msr) + (w))

static const struct icpt_row icpt_rows[] = {
    /* 15.10.2: "For IN/OUT instructions that access more than a single byte, the
     * permission bits for all bytes are checked; if any bit is set to 1, the I/O
     * operation is intercepted." EXITINFO1: PORT 31:16, SEG 12:10, A64 9, A32 8,
     * A16 7, SZ32 6, SZ16 5, SZ8 4, REP 3, STR 2, TYPE 0 (1 = IN); EXITINFO2: the
     * rIP of the next instruction. */
    IC(.name = "io/in-byte-dx", GCODE(0xEC), .i3 = IOIO, .iopm = { 0x81 }, .rdx = 0x81,
       IO_HIT(IO_PORT(0x81) | IO_A64 | IO_SZ8 | IO_IN)),
    IC(.name = "io/in-word-last-byte", GCODE(0x66, 0xED), .i3 = IOIO, .iopm = { 0x81 }, .rdx = 0x80,
       IO_HIT(IO_PORT(0x80) | IO_A64 | IO_SZ16 | IO_IN)),
    IC(.name = "io/in-dword-last-byte", GCODE(0xED), .i3 = IOIO, .iopm = { 0x83 }, .rdx = 0x80,
       IO_HIT(IO_PORT(0x80) | IO_A64 | IO_SZ32 | IO_IN)),
    IC(.name = "io/in-dword-first-byte", GCODE(0xED), .i3 = IOIO, .iopm = { 0x80 }, .rdx = 0x80,
       IO_HIT(IO_PORT(0x80) | IO_A64 | IO_SZ32 | IO_IN)),
    IC(.name = "io/out-byte-dx", GCODE(0xEE), .i3 = IOIO, .iopm = { 0xE9 }, .rdx = 0xE9,
       IO_HIT(IO_PORT(0xE9) | IO_A64 | IO_SZ8)),
    IC(.name = "io/out-word-last-byte", GCODE(0x66, 0xEF), .i3 = IOIO, .iopm = { 0x3F9 }, .rdx = 0x3F8,
       IO_HIT(IO_PORT(0x3F8) | IO_A64 | IO_SZ16)),
    IC(.name = "io/out-dword-last-byte", GCODE(0xEF), .i3 = IOIO, .iopm = { 0xEC }, .rdx = 0xE9,
       IO_HIT(IO_PORT(0xE9) | IO_A64 | IO_SZ32)),
    IC(.name = "io/in-imm8", GCODE(0xE4, 0x81), .i3 = IOIO, .iopm = { 0x81 },
       IO_HIT(IO_PORT(0x81) | IO_A64 | IO_SZ8 | IO_IN)),
    IC(.name = "io/out-imm8-word", GCODE(0x66, 0xE7, 0x70), .i3 = IOIO, .iopm = { 0x71 },
       IO_HIT(IO_PORT(0x70) | IO_A64 | IO_SZ16)),
    /* 15.10.1: "a linear array of 64K+3 bits (two 4-Kbyte pages, and the first
     * three bits of a third 4-Kbyte page)": bits past 0xFFFF for accesses that
     * reach beyond port 0xFFFF */
    IC(.name = "io/port-ffff-byte", GCODE(0xEC), .i3 = IOIO, .iopm = { 0xFFFF }, .rdx = 0xFFFF,
       IO_HIT(IO_PORT(0xFFFF) | IO_A64 | IO_SZ8 | IO_IN)),
    IC(.name = "io/port-ffff-word-bit-10000", GCODE(0x66, 0xED), .i3 = IOIO, .iopm = { 0x10000 }, .rdx = 0xFFFF,
       IO_HIT(IO_PORT(0xFFFF) | IO_A64 | IO_SZ16 | IO_IN)),
    IC(.name = "io/port-ffff-dword-bit-10002", GCODE(0xEF), .i3 = IOIO, .iopm = { 0x10002 }, .rdx = 0xFFFF,
       IO_HIT(IO_PORT(0xFFFF) | IO_A64 | IO_SZ32)),
    IC(.name = "io/port-fffe-dword-bit-10001", GCODE(0xED), .i3 = IOIO, .iopm = { 0x10001 }, .rdx = 0xFFFE,
       IO_HIT(IO_PORT(0xFFFE) | IO_A64 | IO_SZ32 | IO_IN)),
    /* not intercepted: the access runs (port 0xE9 answers in the test platform) */
    IC(.name = "io/dword-neighbours-set-runs", GCODE(0xED), .i3 = IOIO, .iopm = { 0xE8, 0xED }, .rdx = 0xE9),
    IC(.name = "io/byte-next-bit-set-runs", GCODE(0xEC), .i3 = IOIO, .iopm = { 0xEA }, .rdx = 0xE9),
    IC(.name = "io/no-ioio-intercept-runs", GCODE(0xEC), .i3 = 0, .iopm = { 0xE9 }, .rdx = 0xE9),
    /* 15.10.3: "Bits 12:10 of the EXITINFO1 field provide the effective segment
     * number (the default segment is DS) ... INS provides the effective segment
     * (always ES, encoded as 0)." */
    IC(.name = "io/outsb-ds", GCODE(0x6E), .i3 = IOIO, .iopm = { 0xE9 }, .rdx = 0xE9,
       IO_HIT(IO_PORT(0xE9) | IO_SEG(3) | IO_A64 | IO_SZ8 | IO_STR)),
    IC(.name = "io/outsb-fs", GCODE(0x64, 0x6E), .i3 = IOIO, .iopm = { 0xE9 }, .rdx = 0xE9,
       IO_HIT(IO_PORT(0xE9) | IO_SEG(4) | IO_A64 | IO_SZ8 | IO_STR)),
    IC(.name = "io/outsb-addr32", GCODE(0x67, 0x6E), .i3 = IOIO, .iopm = { 0xE9 }, .rdx = 0xE9,
       IO_HIT(IO_PORT(0xE9) | IO_SEG(3) | IO_A32 | IO_SZ8 | IO_STR)),
    IC(.name = "io/rep-insw", GCODE(0xF3, 0x66, 0x6D), .i3 = IOIO, .iopm = { 0xEA }, .rdx = 0xE9, .rcx = 4,
       IO_HIT(IO_PORT(0xE9) | IO_A64 | IO_SZ16 | IO_REP | IO_STR | IO_IN)),

    /* 15.11: "Each MSR is covered by two bits defining the guest read and write
     * access permissions. The lsb of the two bits controls read access to the MSR
     * and the msb controls write access." Table 15-8: 000h-7FFh MSRs 0-1FFFh,
     * 800h-FFFh C000_0000h-C000_1FFFh, 1000h-17FFh C001_0000h-C001_1FFFh. "If the
     * MSR_PROT intercept is active, any attempt to read or write an MSR not
     * covered by the MSRPM will automatically cause an intercept." EXITINFO1: 0
     * RDMSR, 1 WRMSR. */
    IC(.name = "msr/v1-read", GCODE(0x0F, 0x32), .i3 = MSRP, .msrpm = { MSRPM_BIT(0, 0x175, 0) }, .rcx = 0x175,
       MSR_HIT(0)),
    IC(.name = "msr/v1-write", GCODE(0x0F, 0x30), .i3 = MSRP, .msrpm = { MSRPM_BIT(0, 0x175, 1) }, .rcx = 0x175,
       MSR_HIT(1)),
    IC(.name = "msr/v1-read-with-write-bit-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0, 0x175, 1) }, .rcx = 0x175),
    IC(.name = "msr/v1-write-with-read-bit-runs", GCODE(0x0F, 0x30), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0, 0x175, 0) }, .rcx = 0x175, .rax = 0x1000),
    IC(.name = "msr/v1-last-msr-1fff-read", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0, 0x1FFF, 0) }, .rcx = 0x1FFF, MSR_HIT(0)),
    IC(.name = "msr/v2-read", GCODE(0x0F, 0x32), .i3 = MSRP, .msrpm = { MSRPM_BIT(0x800, 0x81, 0) },
       .rcx = MSR_STAR, MSR_HIT(0)),
    IC(.name = "msr/v2-write", GCODE(0x0F, 0x30), .i3 = MSRP, .msrpm = { MSRPM_BIT(0x800, 0x81, 1) },
       .rcx = MSR_STAR, MSR_HIT(1)),
    IC(.name = "msr/v2-read-with-write-bit-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x800, 0x81, 1) }, .rcx = MSR_STAR),
    IC(.name = "msr/v2-last-msr-c0001fff-write", GCODE(0x0F, 0x30), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x800, 0x1FFF, 1) }, .rcx = 0xC0001FFF, MSR_HIT(1)),
    IC(.name = "msr/v3-read", GCODE(0x0F, 0x32), .i3 = MSRP, .msrpm = { MSRPM_BIT(0x1000, 0x114, 0) },
       .rcx = MSR_VM_CR, MSR_HIT(0)),
    IC(.name = "msr/v3-write", GCODE(0x0F, 0x30), .i3 = MSRP, .msrpm = { MSRPM_BIT(0x1000, 0x114, 1) },
       .rcx = MSR_VM_CR, .rax = 0x20, MSR_HIT(1)),
    IC(.name = "msr/v3-read-clear-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x1000, 0x114, 1), MSRPM_BIT(0x1000, 0x117, 0) }, .rcx = MSR_VM_CR),
    IC(.name = "msr/v3-last-msr-c0011fff-read", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x1000, 0x1FFF, 0) }, .rcx = 0xC0011FFF, MSR_HIT(0)),
    /* the last MSR of each vector is inside it: with only its write bit set a read
     * is not intercepted ("Exceptions specific to a given MSR (... unimplemented
     * MSRs ...)" come after the intercept check: the guest gets the #GP) */
    IC(.name = "msr/v1-last-msr-1fff-read-with-write-bit-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0, 0x1FFF, 1) }, .rcx = 0x1FFF, .guest_gp = true),
    IC(.name = "msr/v2-last-msr-c0001fff-read-with-write-bit-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x800, 0x1FFF, 1) }, .rcx = 0xC0001FFF, .guest_gp = true),
    IC(.name = "msr/v3-last-msr-c0011fff-read-with-write-bit-runs", GCODE(0x0F, 0x32), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x1000, 0x1FFF, 1) }, .rcx = 0xC0011FFF, .guest_gp = true),
    IC(.name = "msr/v3-first-msr-c0010000-write-with-read-bit-runs", GCODE(0x0F, 0x30), .i3 = MSRP,
       .msrpm = { MSRPM_BIT(0x1000, 0, 0) }, .rcx = 0xC0010000, .guest_gp = true),
    IC(.name = "msr/outside-40000000-read", GCODE(0x0F, 0x32), .i3 = MSRP, .rcx = 0x40000000, MSR_HIT(0)),
    IC(.name = "msr/outside-2000-write", GCODE(0x0F, 0x30), .i3 = MSRP, .rcx = 0x2000, MSR_HIT(1)),
    IC(.name = "msr/outside-c0002000-read", GCODE(0x0F, 0x32), .i3 = MSRP, .rcx = 0xC0002000, MSR_HIT(0)),
    IC(.name = "msr/outside-c0012000-read", GCODE(0x0F, 0x32), .i3 = MSRP, .rcx = 0xC0012000, MSR_HIT(0)),
    IC(.name = "msr/outside-c0010000-minus-1-write", GCODE(0x0F, 0x30), .i3 = MSRP, .rcx = 0xC000FFFF, MSR_HIT(1)),
    IC(.name = "msr/no-msr-intercept-runs", GCODE(0x0F, 0x32), .i3 = 0, .msrpm = { MSRPM_BIT(0, 0x175, 0) },
       .rcx = 0x175),
};

START_TEST(intercept)
{
    const struct icpt_row *r = &icpt_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "intercept %s (test_svm.c:%d)", r->name, r->line);
    static const uint8_t host[] = { 0x0F, 0x01, 0xD8, 0xF4 };           /* vmrun; hlt */
    struct sv x;
    sv_create(&x, host, sizeof(host), row, 0);
    cpu_t *c = x.t.cpu;
    uint8_t guest[8];
    memcpy(guest, r->code, r->n);
    memcpy(guest + r->n, (const uint8_t[]){ 0x0F, 0x01, 0xD9 }, 3);     /* vmmcall */
    put(&x, GUEST_PA, guest, r->n + 3);
    for (unsigned k = 0; k < 3 && r->iopm[k] > 0; k++)
        set_bit_at(&x, IOPM_PA, (uint64_t)r->iopm[k]);
    for (unsigned k = 0; k < 2 && r->msrpm[k] > 0; k++)
        set_bit_at(&x, MSRPM_PA, (uint64_t)r->msrpm[k]);
    struct vmcb v;
    vmcb_base(&x, &v, false);
    v.intercept3 |= r->i3;
    v.rax = r->rax;
    put(&x, VMCB_PA, &v, sizeof(v));
    cpu_set(c, CPU_RAX, VMCB_PA);
    cpu_set(c, CPU_RCX, r->rcx);
    cpu_set(c, CPU_RDX, r->rdx);
    cpu_set(c, CPU_RSI, GUEST_STACK - 0x100);
    cpu_set(c, CPU_RDI, GUEST_STACK - 0x200);
    cpu_commit_state(c);
    sv_run(&x);
    ck_assert_msg(tm_vector(&x.t) == -1 && cpu_get(c, CPU_RIP) == CODE_PA + sizeof(host),
                  "%s: host RIP %#llx (vector %d)", row, (unsigned long long)cpu_get(c, CPU_RIP), tm_vector(&x.t));
    uint64_t code = vmcb64(&x, VMCB_OFF(exitcode)), info1 = vmcb64(&x, VMCB_OFF(exitinfo1));
    uint64_t info2 = vmcb64(&x, VMCB_OFF(exitinfo2)), rip = vmcb64(&x, VMCB_OFF(rip));
    uint64_t nrip = vmcb64(&x, VMCB_OFF(nrip));
    if (r->hit) {
        ck_assert_msg(code == r->exitcode && info1 == r->info1, "%s: exit %#llx EXITINFO1 %#llx, expected %#llx "
                      "%#llx", row, (unsigned long long)code, (unsigned long long)info1,
                      (unsigned long long)r->exitcode, (unsigned long long)r->info1);
        uint64_t want2 = r->exitcode == SVM_EXIT_IOIO ? GUEST_PA + r->n : 0;
        ck_assert_msg(info2 == want2, "%s: EXITINFO2 %#llx, expected %#llx", row, (unsigned long long)info2,
                      (unsigned long long)want2);
        ck_assert_msg(rip == GUEST_PA && nrip == GUEST_PA + r->n, "%s: guest RIP %#llx nRIP %#llx", row,
                      (unsigned long long)rip, (unsigned long long)nrip);
        ck_assert_msg(x.t.nio == 0, "%s: the intercepted access reached the platform", row);
    } else if (r->guest_gp) {
        ck_assert_msg(code == SVM_EXIT_HLT && rip == HANDLER(13) && nrip == HANDLER(13) + 1,
                      "%s: exit %#llx at %#llx (EXITINFO1 %#llx), expected HLT in the guest's #GP handler", row,
                      (unsigned long long)code, (unsigned long long)rip, (unsigned long long)info1);
        ck_assert_msg(get64(&x, GUEST_STACK - 48) == 0 && get64(&x, GUEST_STACK - 40) == GUEST_PA,
                      "%s: the guest's #GP frame: error code %#llx RIP %#llx", row,
                      (unsigned long long)get64(&x, GUEST_STACK - 48), (unsigned long long)get64(&x, GUEST_STACK - 40));
    } else {
        ck_assert_msg(code == SVM_EXIT_VMMCALL && rip == GUEST_PA + r->n && nrip == GUEST_PA + r->n + 3,
                      "%s: exit %#llx at %#llx (EXITINFO1 %#llx), expected VMMCALL after the instruction", row,
                      (unsigned long long)code, (unsigned long long)rip, (unsigned long long)info1);
    }
    const struct cpu_event *ex = NULL;
    ck_assert_msg(tm_count(&x.t, CPU_EV_SVM_EXIT, &ex) == 1 && ex->a == code && ex->b == info1,
                  "%s: VM_EXIT event reason %#llx qual %#llx", row, ex ? (unsigned long long)ex->a : 0ull,
                  ex ? (unsigned long long)ex->b : 0ull);
}
END_TEST

/* ---- virtual interrupts (APM 15.21), the NMI intercept (15.13.2, 15.21.9),
 * GIF (15.17), PUSHF/POPF and DR intercepts (15.9), decode assists (15.8),
 * the PAUSE filter (15.14.4), vGIF (15.33.2) ----
 *
 * The host runs one of host_code[] (phase 1, up to its first HLT, runs
 * CLGI first so that the events the row makes pending are held by GIF = 0
 * until VMRUN), then VMRUN of a guest made from vmcb_base() plus the
 * row's changes, whose code is the row's bytes followed by VMMCALL. The
 * row names the #VMEXIT it ends with, the guest RIP saved, and VMCB
 * fields, registers and memory afterwards. Interrupts come from the local
 * APIC in x2APIC mode (software-enabled), the guest shares its IDT (every
 * vector's handler is a HLT, which the HLT intercept turns into #VMEXIT
 * 0x78 at that handler). */

enum { H_PLAIN, H_GIF0, H_GIF0_IF, H_GIF0_STGI };
static const struct { uint8_t b[12]; unsigned n, phase1; } host_code[] = {
    [H_PLAIN] = { { 0x0F, 0x01, 0xD8, 0xF4 }, 4, 0 },                                  /* vmrun; hlt */
    [H_GIF0] = { { 0x0F, 0x01, 0xDD, 0xF4, 0x0F, 0x01, 0xD8, 0xF4 }, 8, 4 },           /* clgi; hlt | vmrun; hlt */
    [H_GIF0_IF] = { { 0x0F, 0x01, 0xDD, 0xFB, 0xF4, 0x0F, 0x01, 0xD8, 0xF4 }, 9, 5 },  /* clgi; sti; hlt | vmrun; hlt */
    [H_GIF0_STGI] = { { 0x0F, 0x01, 0xDD, 0xF4, 0x0F, 0x01, 0xD8, 0x0F, 0x01, 0xDC, 0xF4 }, 11, 4 },
                                                                            /* clgi; hlt | vmrun; stgi; hlt */
};

struct vmcb_chk { unsigned off, size; uint64_t mask, want; };   /* size 0: none */
#define CHK(f, m, w) { FLD(f), (m), (w) }
#define CHK_AT(off, size, m, w) { (off), (size), (m), (w) }

/* guest registers that depend on the machine */
enum { RV_NONE, RV_CR0, RV_CR0_TS, RV_CR0_AM };

struct virt_row {
    const char *name;
    int line;
    uint8_t code[24];          /* the guest's code at `at` (GUEST_PA); VMMCALL follows unless no_vmmcall */
    unsigned n;
    uint64_t at;
    bool no_vmmcall;
    bool g32;                  /* from the 32-bit template (vmcb_base) */
    uint64_t unmap_2m;         /* != 0: the 2-MiB page there is made not present (shared page tables) */
    int host;                  /* H_* */
    struct vmcb_mod m[5];
    uint64_t rax, rbx, rcx, rdx, rsi;   /* RAX through the VMCB */
    int rax_from;              /* RV_*: RAX from the host's CR0 */
    unsigned intr;             /* a physical interrupt pending before VMRUN (vector; 0: none) */
    bool nmi;                  /* an NMI pending before VMRUN */
    bool smi;                  /* an SMI IPI (delivery mode SMI) pending before VMRUN */
    unsigned tpr_p1;           /* TPR(t): the APIC's TPR[7:4] before (x2APIC mode); 0: untouched */
    struct cap_ovr caps[NCAP_OVR];   /* capability overrides (svm_caps_override) */
    bool stop;                 /* the run stops at VMRUN or in the guest: unmodelled */
    bool no_exit;              /* the guest halts without a #VMEXIT, at rip (frame_rip: at the LP's RSP) */
    const char *stop_text;
    /* expectations */
    uint64_t exitcode;
    uint64_t rip;              /* the guest RIP saved in the VMCB */
    uint64_t nrip;             /* != 0: nRIP; NRIP0: must be 0 */
    uint64_t frame_rip;        /* != 0: the RIP of the interrupt frame at the guest's saved RSP */
    struct vmcb_chk chk[4];
    int host_vec;              /* the host ends in this vector's handler; 0: after its last HLT */
    unsigned cr8_after_p1;     /* CR8_AFTER(t): the APIC's TPR[7:4] afterwards; 0: not checked */
    bool nmi_after;            /* an NMI is still pending afterwards */
    bool smi_after;            /* an SMI is still pending afterwards */
    uint64_t mem_at, mem_want; /* mem_at != 0: the qword there afterwards */
};
#define VR(...) { .line = __LINE__, __VA_ARGS__ }
#define TPR(t) .tpr_p1 = (t) + 1
#define CR8_AFTER(t) .cr8_after_p1 = (t) + 1
#define G(off) (GUEST_PA + (off))
#define NRIP0 (~0ull)
#define RF_IF_ (1ull << 9)
#define GUEST_IF MOD(rflags, 0, RF_IF_)
#define ICPT3(b) MOD(intercept3, 0, (uint64_t)(b))
#define VINTR_SET(v) MOD(vintr, ~0ull, (v))
/* V_TPR, V_IRQ, V_INTR_PRIO, V_INTR_VECTOR */
#define VIRQ(tpr, prio, vec) ((uint64_t)(tpr) | VINTR_V_IRQ | ((uint64_t)(prio) << VINTR_PRIO_SHIFT) | \
                              ((uint64_t)(vec) << VINTR_VECTOR_SHIFT))
#define EXIT(code, r) .exitcode = (code), .rip = (r)
#define HLT_AT(v) EXIT(SVM_EXIT_HLT, HANDLER(v))
#define VMMCALL_AT(off) EXIT(SVM_EXIT_VMMCALL, G(off))
#define VIRQ_AFTER(b) CHK(vintr, VINTR_V_IRQ, (b) ? VINTR_V_IRQ : 0)
#define VTPR_AFTER(t) CHK(vintr, 0xFF, (t))
#define INFO1(v) CHK(exitinfo1, ~0ull, (v))
#define INTINFO(v) CHK(exitintinfo, ~0ull, (v))
#define PF_NOT_MAPPED 0x7FFF00000000ull
#define DA_CR(gpr) (EXITINFO1_MOV_CR | (gpr))
#define CR0_NE_ (1ull << 5)
/* push 0x37B; fldcw [rsp]; fld1; fldz; fdivp st(1), st; fwait (at 14): #Z unmasked */
#define X87_ZDIV GCODE(0x68, 0x7B, 0x03, 0x00, 0x00, 0xD9, 0x2C, 0x24, 0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xF9, 0x9B)

static const struct virt_row virt_rows[] = {
    /* 15.21.4: "The processor takes a virtual INTR interrupt if: V_IRQ and
     * V_INTR_PRIO indicate that there is a virtual interrupt pending whose
     * priority is greater than the value in V_TPR, interrupts are enabled
     * in EFLAGS.IF, interrupts are enabled using GIF, and the processor is
     * not in an interrupt shadow"; the vector is V_INTR_VECTOR; "V_IRQ is
     * cleared ... before the IDT is accessed"; "On #VMEXIT, V_IRQ is
     * written back to the VMCB". The handler of vector 0x50 HLTs. */
    VR(.name = "vintr/taken-before-first-insn", .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)) }, HLT_AT(0x50),
       .frame_rip = G(0), .chk = { VIRQ_AFTER(0), VTPR_AFTER(0) }),
    VR(.name = "vintr/prio-below-tpr-pending", .m = { GUEST_IF, VINTR_SET(VIRQ(6, 5, 0x50)) }, VMMCALL_AT(0),
       .chk = { VIRQ_AFTER(1), VTPR_AFTER(6) }),
    VR(.name = "vintr/prio-equal-tpr-pending", .m = { GUEST_IF, VINTR_SET(VIRQ(5, 5, 0x50)) }, VMMCALL_AT(0),
       .chk = { VIRQ_AFTER(1) }),
    VR(.name = "vintr/prio-above-tpr-by-one", .m = { GUEST_IF, VINTR_SET(VIRQ(4, 5, 0x51)) }, HLT_AT(0x51),
       .chk = { VIRQ_AFTER(0) }),
    /* "V_IGN_TPR ... the priority comparison against V_TPR is omitted" */
    VR(.name = "vintr/ign-tpr", .m = { GUEST_IF, VINTR_SET(VIRQ(15, 0, 0x52) | VINTR_IGN_TPR) }, HLT_AT(0x52),
       .chk = { VIRQ_AFTER(0), VTPR_AFTER(15) }),
    VR(.name = "vintr/guest-if-0-pending", .m = { VINTR_SET(VIRQ(0, 5, 0x50)) }, VMMCALL_AT(0),
       .chk = { VIRQ_AFTER(1) }),
    /* the VMCB's interrupt shadow (15.21.5): taken after the first instruction */
    VR(.name = "vintr/interrupt-shadow-from-vmcb", GCODE(0x90), .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)),
       MOD(interrupt_shadow, 0, 1) }, HLT_AT(0x50), .frame_rip = G(1)),
    /* STI: the shadow covers the next instruction */
    VR(.name = "vintr/after-sti-shadow", GCODE(0xFB, 0x90, 0x90), .m = { VINTR_SET(VIRQ(0, 5, 0x50)) },
       HLT_AT(0x50), .frame_rip = G(2)),
    /* POPF setting IF opens it at once (no shadow) */
    VR(.name = "vintr/after-popf-sets-if", GCODE(0x68, 0x02, 0x02, 0, 0, 0x9D, 0x90), .m = { VINTR_SET(VIRQ(0, 5, 0x50)) },
       HLT_AT(0x50), .frame_rip = G(6)),
    /* a virtual interrupt ends HLT (STI; HLT: the HLT is in the shadow);
     * without the HLT intercept the guest halts again in the handler */
    VR(.name = "vintr/wakes-hlt", GCODE(0xFB, 0xF4, 0x90), .m = { VINTR_SET(VIRQ(0, 5, 0x50)),
       MOD(intercept3, 1u << I3_HLT, 0) }, .no_exit = true, .rip = HANDLER(0x50) + 1, .frame_rip = G(2)),
    VR(.name = "vintr/hlt-with-if-0-stays-halted", GCODE(0xF4, 0x90), .m = { VINTR_SET(VIRQ(0, 5, 0x50)),
       MOD(intercept3, 1u << I3_HLT, 0) }, .no_exit = true, .rip = G(1)),
    /* the guest IDT's limit excludes the vector: #GP(vector * 8 + 2 + EXT)
     * intercepted during the delivery, EXITINTINFO the virtual interrupt
     * (type 0, 15.7.2), V_IRQ already clear */
    VR(.name = "vintr/delivery-gp-exitintinfo", .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)),
       MOD(exception_intercepts, 0, 1u << 13),
       { VMCB_OFF(idtr) + 4, 4, 0xFFFFFFFF, 0x4FF } }, EXIT(SVM_EXIT_EXCP0 + 13, G(0)),
       .chk = { INFO1(0x50 * 8 + 3), INTINFO(0x80000050), VIRQ_AFTER(0) }),

    /* the VINTR intercept (15.13.5, 15.21.6): "taken just before a guest
     * takes a virtual interrupt ... the virtual interrupt has not been
     * taken, and remains pending in the guest's VMCB V_IRQ field" */
    VR(.name = "vintr-intercept/exit", .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)), ICPT3(1u << I3_VINTR) },
       EXIT(SVM_EXIT_VINTR, G(0)), .nrip = NRIP0, .chk = { VIRQ_AFTER(1), INTINFO(0) }),
    VR(.name = "vintr-intercept/not-while-if-0", .m = { VINTR_SET(VIRQ(0, 5, 0x50)), ICPT3(1u << I3_VINTR) },
       VMMCALL_AT(0), .chk = { VIRQ_AFTER(1) }),
    VR(.name = "vintr-intercept/not-while-tpr-masks", .m = { GUEST_IF, VINTR_SET(VIRQ(9, 5, 0x50)),
       ICPT3(1u << I3_VINTR) }, VMMCALL_AT(0), .chk = { VIRQ_AFTER(1) }),
    VR(.name = "vintr-intercept/not-without-v-irq", .m = { GUEST_IF, ICPT3(1u << I3_VINTR) }, VMMCALL_AT(0)),
    VR(.name = "vintr-intercept/after-sti-shadow", GCODE(0xFB, 0x90, 0x90),
       .m = { VINTR_SET(VIRQ(0, 5, 0x50)), ICPT3(1u << I3_VINTR) }, EXIT(SVM_EXIT_VINTR, G(2)),
       .chk = { VIRQ_AFTER(1) }),

    /* 15.21.2: with V_INTR_MASKING, "Writes to CR8 affect only the V_TPR
     * register. Reads from CR8 return V_TPR."; without it "Writes to CR8
     * affect both the APIC's TPR and the V_TPR register. Reads from CR8
     * operate as they would without SVM." */
    VR(.name = "cr8/read-v-tpr-with-masking", GCODE(0x44, 0x0F, 0x20, 0xC0), TPR(3),
       .m = { VINTR_SET(7 | VINTR_MASKING) }, VMMCALL_AT(4), .chk = { CHK(rax, ~0ull, 7) }, CR8_AFTER(3)),
    VR(.name = "cr8/write-v-tpr-only-with-masking", GCODE(0x44, 0x0F, 0x22, 0xC0), TPR(3), .rax = 9,
       .m = { VINTR_SET(7 | VINTR_MASKING) }, VMMCALL_AT(4), .chk = { VTPR_AFTER(9) }, CR8_AFTER(3)),
    VR(.name = "cr8/read-apic-tpr-without-masking", GCODE(0x44, 0x0F, 0x20, 0xC0), TPR(3),
       .m = { VINTR_SET(7) }, VMMCALL_AT(4), .chk = { CHK(rax, ~0ull, 3), VTPR_AFTER(7) }),
    VR(.name = "cr8/write-both-without-masking", GCODE(0x44, 0x0F, 0x22, 0xC0), TPR(3), .rax = 9,
       .m = { VINTR_SET(7) }, VMMCALL_AT(4), .chk = { VTPR_AFTER(9) }, CR8_AFTER(9)),
    VR(.name = "cr8/write-reserved-bits-gp", GCODE(0x44, 0x0F, 0x22, 0xC0), .rax = 0x10,
       .m = { VINTR_SET(7 | VINTR_MASKING) }, HLT_AT(13), .chk = { VTPR_AFTER(7) }),
    /* lowering V_TPR below V_INTR_PRIO lets the pending virtual interrupt in
     * after the MOV */
    VR(.name = "cr8/lowered-v-tpr-opens", GCODE(0x44, 0x0F, 0x22, 0xC0, 0x90), .rax = 2,
       .m = { GUEST_IF, VINTR_SET(VIRQ(8, 5, 0x50) | VINTR_MASKING) }, HLT_AT(0x50), .frame_rip = G(4),
       .chk = { VIRQ_AFTER(0), VTPR_AFTER(2) }),
    /* a CR8 intercept comes first (decode assists: bit 63 and the GPR, r10) */
    VR(.name = "cr8/read-intercept-first", GCODE(0x45, 0x0F, 0x20, 0xC2),
       .m = { VINTR_SET(7 | VINTR_MASKING), MOD(cr_intercepts, 0, 1u << 8) }, EXIT(SVM_EXIT_READ_CR0 + 8, G(0)),
       .chk = { INFO1(DA_CR(10)) }),

    /* 15.21.1: with V_INTR_MASKING "The host EFLAGS.IF at the time of the
     * VMRUN is saved and controls physical interrupts while the guest is
     * running"; without it "EFLAGS.IF controls both virtual and physical
     * interrupts". The INTR intercept leaves the interrupt pending (15.13). */
    VR(.name = "intr/masking-host-if-1-guest-if-0-exits", .host = H_GIF0_IF, .intr = 0x61,
       .m = { VINTR_SET(VINTR_MASKING), ICPT3(1u << I3_INTR) }, EXIT(SVM_EXIT_INTR, G(0))),
    VR(.name = "intr/masking-host-if-0-guest-if-1-held", .host = H_GIF0, .intr = 0x61,
       .m = { GUEST_IF, VINTR_SET(VINTR_MASKING), ICPT3(1u << I3_INTR) }, VMMCALL_AT(0)),
    VR(.name = "intr/no-masking-guest-if-0-held", .host = H_GIF0_IF, .intr = 0x61,
       .m = { ICPT3(1u << I3_INTR) }, VMMCALL_AT(0)),
    VR(.name = "intr/no-masking-guest-if-1-exits", .host = H_GIF0, .intr = 0x61,
       .m = { GUEST_IF, ICPT3(1u << I3_INTR) }, EXIT(SVM_EXIT_INTR, G(0))),
    /* without the INTR intercept the guest takes it through its IDT,
     * masked by the host's IF only */
    VR(.name = "intr/masking-no-intercept-guest-takes-it", .host = H_GIF0_IF, .intr = 0x61,
       .m = { VINTR_SET(VINTR_MASKING) }, HLT_AT(0x61)),
    /* "Physical interrupts take priority over virtual interrupts, whether
     * they are taken directly or through a #VMEXIT." */
    VR(.name = "intr/physical-before-virtual-exit", .host = H_GIF0_IF, .intr = 0x61,
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_MASKING), ICPT3(1u << I3_INTR) },
       EXIT(SVM_EXIT_INTR, G(0)), .chk = { VIRQ_AFTER(1) }),
    VR(.name = "intr/physical-before-virtual-taken", .host = H_GIF0_IF, .intr = 0x61,
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_MASKING) }, HLT_AT(0x61), .chk = { VIRQ_AFTER(1) }),
    /* a physical interrupt the host's IF masks does not hold up the virtual one */
    VR(.name = "intr/masked-physical-virtual-taken", .host = H_GIF0, .intr = 0x61,
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_MASKING), ICPT3(1u << I3_INTR) }, HLT_AT(0x50),
       .chk = { VIRQ_AFTER(0) }),

    /* vGIF (15.33.2): V_GIF masks virtual interrupts; the guest's STGI and
     * CLGI set and clear it; it is saved on #VMEXIT */
    VR(.name = "vgif/zero-holds-virtual", .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_GIF_ENABLE) },
       VMMCALL_AT(0), .chk = { VIRQ_AFTER(1), CHK(vintr, VINTR_V_GIF, 0) }),
    VR(.name = "vgif/stgi-opens", GCODE(0x0F, 0x01, 0xDC, 0x90),
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_GIF_ENABLE) }, HLT_AT(0x50), .frame_rip = G(3),
       .chk = { VIRQ_AFTER(0), CHK(vintr, VINTR_V_GIF, VINTR_V_GIF) }),
    VR(.name = "vgif/clgi-clears", GCODE(0x0F, 0x01, 0xDD),
       .m = { VINTR_SET(VINTR_GIF_ENABLE | VINTR_V_GIF) }, VMMCALL_AT(3), .chk = { CHK(vintr, VINTR_V_GIF, 0) }),
    VR(.name = "vgif/one-lets-virtual-in", .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50) | VINTR_GIF_ENABLE |
       VINTR_V_GIF) }, HLT_AT(0x50)),
    VR(.name = "vgif/stgi-intercept-first", GCODE(0x0F, 0x01, 0xDC),
       .m = { VINTR_SET(VINTR_GIF_ENABLE), MOD(intercept4, 0, 1u << I4_STGI) }, EXIT(SVM_EXIT_STGI, G(0)),
       .chk = { CHK(vintr, VINTR_V_GIF, 0) }),
    /* without vGIF the guest's STGI would be nested SVM */
    VR(.name = "vgif/stgi-without-vgif-stops", GCODE(0x0F, 0x01, 0xDC), .stop = true,
       .stop_text = "nested SVM is not modelled"),

    /* the NMI intercept (15.13.2, 15.21.9 table 15-13): "#VMEXIT(NMI), NMI
     * is still pending"; GIF = 0 holds it ("Hold pending until GIF=1"), so
     * the host takes it after STGI */
    VR(.name = "nmi/intercept-exit-still-pending", .host = H_GIF0, .nmi = true, .m = { ICPT3(1u << I3_NMI) },
       EXIT(SVM_EXIT_NMI, G(0)), .nrip = NRIP0, .nmi_after = true),
    VR(.name = "nmi/intercept-host-takes-it-after-stgi", .host = H_GIF0_STGI, .nmi = true,
       .m = { ICPT3(1u << I3_NMI) }, EXIT(SVM_EXIT_NMI, G(0)), .host_vec = 2),
    VR(.name = "nmi/no-intercept-guest-takes-it", .host = H_GIF0, .nmi = true, HLT_AT(2)),
    VR(.name = "nmi/before-virtual-interrupt", .host = H_GIF0, .nmi = true,
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)) }, HLT_AT(2), .chk = { VIRQ_AFTER(1) }),
    VR(.name = "nmi/intercept-before-vintr-intercept", .host = H_GIF0, .nmi = true,
       .m = { GUEST_IF, VINTR_SET(VIRQ(0, 5, 0x50)), ICPT3((1u << I3_NMI) | (1u << I3_VINTR)) },
       EXIT(SVM_EXIT_NMI, G(0)), .nmi_after = true),
    /* "NMI interrupts ... may be blocked for one instruction following an
     * STI" (hvsim's processors do): the VMCB's interrupt shadow holds it for
     * the first instruction */
    VR(.name = "nmi/intercept-after-interrupt-shadow", GCODE(0x90), .host = H_GIF0, .nmi = true,
       .m = { ICPT3(1u << I3_NMI), MOD(interrupt_shadow, 0, 1) }, EXIT(SVM_EXIT_NMI, G(1)), .nmi_after = true),
    /* 15.20: "An injected NMI does not block delivery of further NMIs": the
     * pending NMI reaches the injected NMI's handler (an NMI intercept) */
    VR(.name = "nmi/injected-nmi-does-not-block", .host = H_GIF0, .nmi = true,
       .m = { MOD(eventinj, 0, INJ(2, 2)), ICPT3(1u << I3_NMI) }, EXIT(SVM_EXIT_NMI, HANDLER(2)), .nmi_after = true),

    /* PUSHF and POPF intercepts (15.9 table 15-7: they take priority over
     * any exceptions), exit codes 0x70 and 0x71 */
    VR(.name = "pushf/intercept", GCODE(0x9C), .m = { ICPT3(1u << I3_PUSHF) }, EXIT(SVM_EXIT_PUSHF, G(0)),
       .nrip = G(1), .chk = { CHK(rsp, ~0ull, GUEST_STACK) }),
    VR(.name = "pushf/not-intercepted-pushes", GCODE(0x9C), .m = { GUEST_IF, ICPT3(1u << I3_POPF) },
       VMMCALL_AT(1), .chk = { CHK(rsp, ~0ull, GUEST_STACK - 8) }, .mem_at = GUEST_STACK - 8, .mem_want = 0x202),
    VR(.name = "pushf/16-bit-operand", GCODE(0x66, 0x9C), .m = { GUEST_IF }, VMMCALL_AT(2),
       .chk = { CHK(rsp, ~0ull, GUEST_STACK - 2) }, .mem_at = GUEST_STACK - 8, .mem_want = 0x0202000000000000ull),
    /* a 32-bit protected-mode guest (HLT ends it: cpu/ decodes VMMCALL in
     * 64-bit mode only): PUSHFD pushes 4 bytes */
    VR(.name = "pushf/32-bit-guest-pushes-4", GCODE(0x9C, 0xF4), .g32 = true, .no_vmmcall = true,
       .m = { GUEST_IF }, EXIT(SVM_EXIT_HLT, G(1)), .chk = { CHK(rsp, ~0ull, GUEST_STACK - 4) },
       .mem_at = GUEST_STACK - 8, .mem_want = 0x0000020200000000ull),
    VR(.name = "pushf/32-bit-guest-intercept", GCODE(0x9C, 0xF4), .g32 = true, .no_vmmcall = true,
       .m = { ICPT3(1u << I3_PUSHF) }, EXIT(SVM_EXIT_PUSHF, G(0)), .nrip = G(1)),
    VR(.name = "popf/intercept", GCODE(0x9D), .m = { ICPT3(1u << I3_POPF) }, EXIT(SVM_EXIT_POPF, G(0)),
       .nrip = G(1), .chk = { CHK(rsp, ~0ull, GUEST_STACK) }),
    VR(.name = "popf/not-intercepted-pops", GCODE(0x6A, 0x02, 0x9D), .m = { GUEST_IF, ICPT3(1u << I3_PUSHF) },
       VMMCALL_AT(3), .chk = { CHK(rflags, RF_IF_, 0) }),

    /* DR0-15 read and write intercepts, 0x20 + n / 0x30 + n; decode
     * assists: EXITINFO1 = the GPR (15.8.1, table 15-3) */
    VR(.name = "dr/read-dr7-rbx", GCODE(0x0F, 0x21, 0xFB), .m = { MOD(dr_intercepts, 0, 1u << 7) },
       EXIT(SVM_EXIT_READ_DR0 + 7, G(0)), .nrip = G(3), .chk = { INFO1(3) }),
    VR(.name = "dr/write-dr3-rcx", GCODE(0x0F, 0x23, 0xD9), .m = { MOD(dr_intercepts, 0, 1u << (16 + 3)) },
       EXIT(SVM_EXIT_WRITE_DR0 + 3, G(0)), .chk = { INFO1(1) }),
    VR(.name = "dr/write-dr3-r9", GCODE(0x41, 0x0F, 0x23, 0xD9), .m = { MOD(dr_intercepts, 0, 1u << (16 + 3)) },
       EXIT(SVM_EXIT_WRITE_DR0 + 3, G(0)), .chk = { INFO1(9) }),
    VR(.name = "dr/read-bit-does-not-catch-write", GCODE(0x0F, 0x23, 0xD9), .rcx = 0x1000,
       .m = { MOD(dr_intercepts, 0, 1u << 3) }, VMMCALL_AT(3)),
    VR(.name = "dr/write-bit-does-not-catch-read", GCODE(0x0F, 0x21, 0xD8),
       .m = { MOD(dr_intercepts, 0, 1u << (16 + 3)) }, VMMCALL_AT(3)),
    VR(.name = "dr/dr4-without-de-uses-bit-4", GCODE(0x0F, 0x21, 0xE0), .m = { MOD(dr_intercepts, 0, 1u << 4) },
       EXIT(SVM_EXIT_READ_DR0 + 4, G(0)), .chk = { INFO1(0) }),
    /* "All normal exception checks take precedence over the SVM intercepts" */
    VR(.name = "dr/dr4-with-de-ud-first", GCODE(0x0F, 0x21, 0xE0),
       .m = { MOD(dr_intercepts, 0, 1u << 4), MOD(cr4, 0, CR4_DE_) }, HLT_AT(6)),
    VR(.name = "dr/gd-db-first", GCODE(0x0F, 0x21, 0xC0),
       .m = { MOD(dr_intercepts, 0, 1u << 0), MOD(dr7, 0, 1u << 13) }, HLT_AT(1)),
    VR(.name = "dr/dr7-high-bits-gp-first", GCODE(0x0F, 0x23, 0xF8), .rax = 1ull << 32,
       .m = { MOD(dr_intercepts, 0, 1u << (16 + 7)) }, HLT_AT(13)),

    /* decode assists for CR intercepts (15.8.1, table 15-2): MOV CRx sets
     * bit 63 and names its GPR; CLTS, LMSW and SMSW record nothing */
    VR(.name = "da/mov-from-cr0-rax", GCODE(0x0F, 0x20, 0xC0), .m = { MOD(cr_intercepts, 0, 1u << 0) },
       EXIT(SVM_EXIT_READ_CR0, G(0)), .chk = { INFO1(DA_CR(0)) }),
    VR(.name = "da/mov-from-cr3-rbx", GCODE(0x0F, 0x20, 0xDB), .m = { MOD(cr_intercepts, 0, 1u << 3) },
       EXIT(SVM_EXIT_READ_CR0 + 3, G(0)), .chk = { INFO1(DA_CR(3)) }),
    VR(.name = "da/mov-to-cr4-rdx", GCODE(0x0F, 0x22, 0xE2), .m = { MOD(cr_intercepts, 0, 1u << (16 + 4)) },
       EXIT(SVM_EXIT_WRITE_CR0 + 4, G(0)), .chk = { INFO1(DA_CR(2)) }),
    VR(.name = "da/smsw-nothing", GCODE(0x0F, 0x01, 0xE0), .m = { MOD(cr_intercepts, 0, 1u << 0) },
       EXIT(SVM_EXIT_READ_CR0, G(0)), .chk = { INFO1(0) }),
    VR(.name = "da/clts-nothing", GCODE(0x0F, 0x06), .m = { MOD(cr_intercepts, 0, 1u << 16) },
       EXIT(SVM_EXIT_WRITE_CR0, G(0)), .chk = { INFO1(0) }),
    /* the selective CR0 write intercept (0x65): only bits other than TS and
     * MP; LMSW treats it as non-selective (table 15-7) */
    VR(.name = "da/cr0-selective-mov-other-bit", GCODE(0x0F, 0x22, 0xC0), .rax_from = RV_CR0_AM,
       .m = { ICPT3(1u << I3_CR0_SEL) }, EXIT(SVM_EXIT_CR0_SEL_WRITE, G(0)), .chk = { INFO1(DA_CR(0)) }),
    VR(.name = "da/cr0-selective-mov-ts-only-runs", GCODE(0x0F, 0x22, 0xC0), .rax_from = RV_CR0_TS,
       .m = { ICPT3(1u << I3_CR0_SEL) }, VMMCALL_AT(3)),
    VR(.name = "da/cr0-selective-lmsw-same-value-exits", GCODE(0x0F, 0x01, 0xF0), .rax_from = RV_CR0,
       .m = { ICPT3(1u << I3_CR0_SEL) }, EXIT(SVM_EXIT_CR0_SEL_WRITE, G(0)), .chk = { INFO1(0) }),
    /* INTn: EXITINFO1 the vector (15.8.2); INVLPG: the linear address (15.8.3) */
    VR(.name = "da/intn-vector", GCODE(0xCD, 0x41), .m = { ICPT3(1u << I3_INTN) }, EXIT(SVM_EXIT_SWINT, G(0)),
       .chk = { INFO1(0x41) }),
    VR(.name = "da/invlpg-linear-address", GCODE(0x0F, 0x01, 0x7E, 0x10), .rsi = 0x12345000,
       .m = { ICPT3(1u << I3_INVLPG) }, EXIT(SVM_EXIT_INVLPG, G(0)), .chk = { INFO1(0x12345010) }),
    /* a data #PF records up to 15 instruction bytes at CS:RIP, the count
     * in 0x0D0 (15.8.4); an instruction-fetch #PF none; every other
     * intercept clears the count */
    VR(.name = "da/pf-data-15-bytes", GCODE(0x48, 0x8B, 0x06), .rsi = PF_NOT_MAPPED,
       .m = { MOD(exception_intercepts, 0, 1u << 14), MOD(insn_len, 0xFF, 0xEE) }, EXIT(SVM_EXIT_EXCP0 + 14, G(0)),
       .chk = { INFO1(0), CHK(exitinfo2, ~0ull, PF_NOT_MAPPED), CHK(insn_len, 0xFF, 15),
                CHK_AT(VMCB_OFF(insn_bytes), 8, ~0ull, 0x0000D9010F068B48ull) }),
    VR(.name = "da/pf-fetch-no-bytes", GCODE(0xFF, 0xE6), .rsi = PF_NOT_MAPPED,
       .m = { MOD(exception_intercepts, 0, 1u << 14), MOD(insn_len, 0xFF, 0xEE) },
       EXIT(SVM_EXIT_EXCP0 + 14, PF_NOT_MAPPED), .chk = { INFO1(0x10), CHK(insn_len, 0xFF, 0) }),
    /* the bytes stop where the next page is not present */
    VR(.name = "da/pf-data-bytes-stop-at-unmapped-page", GCODE(0x48, 0x8B, 0x06, 0xEB, 0xFE, 0x90, 0x90, 0x90),
       .at = 0x600000 - 8, .no_vmmcall = true, .unmap_2m = 0x600000, .rsi = PF_NOT_MAPPED,
       .m = { MOD(exception_intercepts, 0, 1u << 14) }, EXIT(SVM_EXIT_EXCP0 + 14, 0x600000 - 8),
       .chk = { CHK(insn_len, 0xFF, 8), CHK_AT(VMCB_OFF(insn_bytes), 8, ~0ull, 0x909090FEEB068B48ull) }),
    VR(.name = "da/other-exit-clears-count", .m = { MOD(insn_len, 0xFF, 0xEE) }, VMMCALL_AT(0),
       .chk = { CHK(insn_len, 0xFF, 0) }),

    /* the PAUSE filter (15.14.4): "Each time a PAUSE instruction is executed,
     * this counter is decremented until it reaches zero at which time a
     * #VMEXIT is generated if PAUSE intercept is enabled. If the PAUSE
     * Filter Count is set to zero ... every PAUSE instruction will cause a
     * #VMEXIT"; with a threshold, a PAUSE more than that many cycles after
     * the previous one reloads the count (PAUSE costs 140 cycles) */
    VR(.name = "pause/count-0-every-pause", GCODE(0xF3, 0x90, 0xF3, 0x90), .m = { ICPT3(1u << I3_PAUSE) },
       EXIT(SVM_EXIT_PAUSE, G(0)), .nrip = G(2)),
    VR(.name = "pause/count-3-third-exits", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 3) }, EXIT(SVM_EXIT_PAUSE, G(4))),
    VR(.name = "pause/count-4-three-pauses-no-exit", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 4) }, VMMCALL_AT(6)),
    VR(.name = "pause/count-without-intercept", GCODE(0xF3, 0x90),
       .m = { MOD(pause_filter_count, ~0ull, 1) }, VMMCALL_AT(2)),
    VR(.name = "pause/threshold-below-gap-reloads", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 2), MOD(pause_filter_threshold, ~0ull, 100) },
       VMMCALL_AT(6)),
    VR(.name = "pause/threshold-above-gap-counts", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 2), MOD(pause_filter_threshold, ~0ull, 1000) },
       EXIT(SVM_EXIT_PAUSE, G(2))),
    VR(.name = "pause/threshold-equal-gap-counts", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 2), MOD(pause_filter_threshold, ~0ull, 140) },
       EXIT(SVM_EXIT_PAUSE, G(2))),
    /* WBINVD (5000 cycles) between the PAUSEs: each is far from the last */
    VR(.name = "pause/threshold-wbinvd-gaps-reload", GCODE(0xF3, 0x90, 0x0F, 0x09, 0xF3, 0x90, 0x0F, 0x09, 0xF3,
       0x90), .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 2),
       MOD(pause_filter_threshold, ~0ull, 1000) }, VMMCALL_AT(10)),

    /* nRIP (15.7.1) "is saved ... on all #VMEXITs that are due to instruction
     * intercepts ... as well as MSR and IOIO intercepts and exceptions caused
     * by the INT3, INTO, and BOUND instructions. For all other intercepts,
     * nRIP is reset to zero." */
    VR(.name = "nrip/exception-ud-zero", GCODE(0x0F, 0x0B), .m = { MOD(exception_intercepts, 0, 1u << 6),
       MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_EXCP0 + 6, G(0)), .nrip = NRIP0),
    VR(.name = "nrip/int3-next", GCODE(0xCC), .m = { MOD(exception_intercepts, 0, 1u << 3) },
       EXIT(SVM_EXIT_EXCP0 + 3, G(0)), .nrip = G(1)),
    VR(.name = "nrip/intr-zero", .host = H_GIF0, .intr = 0x61, .m = { GUEST_IF, ICPT3(1u << I3_INTR),
       MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_INTR, G(0)), .nrip = NRIP0),

    /* the SMI intercept (15.13.3): an SMI (an IPI with delivery mode SMI)
     * in a guest is #VMEXIT(SMI) 0x62, EXITINFO1 bit 0 (an external SMI),
     * nRIP 0, and stays pending: GIF = 0 holds it (15.17), the host's STGI
     * lets it into SMM, which hvsim does not model; without the intercept
     * the guest would enter SMM */
    VR(.name = "smi/intercept-exit-still-pending", .host = H_GIF0, .smi = true, .m = { ICPT3(1u << I3_SMI),
       MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_SMI, G(0)), .nrip = NRIP0,
       .chk = { INFO1(1), CHK(exitinfo2, ~0ull, 0), INTINFO(0) }, .smi_after = true),
    VR(.name = "smi/intercept-before-nmi", .host = H_GIF0, .smi = true, .nmi = true,
       .m = { ICPT3((1u << I3_SMI) | (1u << I3_NMI)) }, EXIT(SVM_EXIT_SMI, G(0)), .smi_after = true,
       .nmi_after = true),
    VR(.name = "smi/no-intercept-smm-stops", .host = H_GIF0, .smi = true, .stop = true,
       .stop_text = "system-management mode"),
    VR(.name = "smi/intercept-then-stgi-smm-stops", .host = H_GIF0_STGI, .smi = true, .m = { ICPT3(1u << I3_SMI) },
       .stop = true, .stop_text = "it would enter system-management mode"),
    VR(.name = "smi/intercept-nothing-pending-runs", .m = { ICPT3(1u << I3_SMI) }, VMMCALL_AT(0)),
    /* the RSM intercept (15.9, exit 0x73): before RSM's #UD outside SMM
     * (there is no SMM): nRIP the next instruction; without it #UD */
    VR(.name = "rsm/intercept-exit", GCODE(0x0F, 0xAA), .m = { ICPT3(1u << I3_RSM) }, EXIT(SVM_EXIT_RSM, G(0)),
       .nrip = G(2), .chk = { INFO1(0), INTINFO(0) }),
    VR(.name = "rsm/intercept-before-ud-intercept", GCODE(0x0F, 0xAA), .m = { ICPT3(1u << I3_RSM),
       MOD(exception_intercepts, 0, 1u << 6) }, EXIT(SVM_EXIT_RSM, G(0))),
    VR(.name = "rsm/no-intercept-ud", GCODE(0x0F, 0xAA), HLT_AT(6), .frame_rip = G(0)),
    VR(.name = "rsm/no-intercept-ud-intercept", GCODE(0x0F, 0xAA), .m = { MOD(exception_intercepts, 0, 1u << 6) },
       EXIT(SVM_EXIT_EXCP0 + 6, G(0)), .nrip = NRIP0),
    /* the FERR_FREEZE intercept (vector 3 bit 30, exit 0x7E): with guest
     * CR0.NE = 0 an unmasked x87 exception (here #Z of FDIVP, control word
     * 0x37B) freezes the processor at the next waiting x87 instruction
     * (FWAIT), IGNNE# being deasserted: #VMEXIT(FERR_FREEZE) there, nRIP
     * 0; with CR0.NE = 1 the same is #MF and the intercept plays no part;
     * without the intercept the legacy reporting is not modelled */
    VR(.name = "ferr/intercept-nothing-frozen-runs", .m = { ICPT3(1u << I3_FERR) }, VMMCALL_AT(0)),
    VR(.name = "ferr/freeze-exit", X87_ZDIV, .m = { ICPT3(1u << I3_FERR), MOD(cr0, CR0_NE_, 0),
       MOD(exception_intercepts, 0, 1u << 16), MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_FERR_FREEZE, G(14)),
       .nrip = NRIP0, .chk = { INFO1(0), CHK(exitinfo2, ~0ull, 0), INTINFO(0) }),
    VR(.name = "ferr/ne1-mf-not-freeze", X87_ZDIV, .m = { ICPT3(1u << I3_FERR),
       MOD(exception_intercepts, 0, 1u << 16) }, EXIT(SVM_EXIT_EXCP0 + 16, G(14))),
    VR(.name = "ferr/no-intercept-stops", X87_ZDIV, .m = { MOD(cr0, CR0_NE_, 0) }, .stop = true,
       .stop_text = "legacy x87 error reporting"),
    /* the task-switch intercept is modelled (scenarios/svm/task/): VMRUN enters the guest */
    VR(.name = "task-switch/intercept-runs", GCODE(0x0F, 0xA2),
       .m = { ICPT3((1u << I3_TASK_SWITCH) | (1u << I3_CPUID)) }, EXIT(SVM_EXIT_CPUID, G(0))),
    VR(.name = "stop/v-tpr-sbz-bits", .m = { VINTR_SET(0x15) }, .stop = true, .stop_text = "V_TPR bits 7:4"),
    VR(.name = "stop/v-nmi-enable", .m = { VINTR_SET(VINTR_NMI_ENABLE) }, .stop = true, .stop_text = "V_NMI_ENABLE"),
    VR(.name = "stop/avic", .m = { VINTR_SET(VINTR_AVIC) }, .stop = true, .stop_text = "AVIC"),
    VR(.name = "stop/intercept-vector-5", .m = { MOD(intercept5, 0, 1u << 2) }, .stop = true,
       .stop_text = "intercept vector 5"),
    VR(.name = "stop/lbr-virtualization", .m = { MOD(lbr_virt, 0, 1) }, .stop = true, .stop_text = "LBR"),
    VR(.name = "stop/vmsave-vmload-virtualization", .m = { MOD(lbr_virt, 0, 2) }, .stop = true,
       .stop_text = "VMSAVE/VMLOAD"),

    /* a feature taken away (svm_caps_override, docs/svm.md "Enabling"): the
     * model behaves as a processor without it. NRIP save (15.7.1): nRIP is
     * not written, the VMM's value stays */
    VR(.name = "caps/no-nrips-cpuid-nrip-untouched", GCODE(0x0F, 0xA2), .caps = { { "features", 0x11481 } },
       .m = { ICPT3(1u << I3_CPUID), MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_CPUID, G(0)),
       .chk = { CHK(nrip, ~0ull, 0x5678) }),
    VR(.name = "caps/no-nrips-ud-nrip-untouched", GCODE(0x0F, 0x0B), .caps = { { "features", 0x11481 } },
       .m = { MOD(exception_intercepts, 0, 1u << 6), MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_EXCP0 + 6, G(0)),
       .chk = { CHK(nrip, ~0ull, 0x5678) }),
    VR(.name = "caps/no-nrips-int3-nrip-untouched", GCODE(0xCC), .caps = { { "features", 0 } },
       .m = { MOD(exception_intercepts, 0, 1u << 3), MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_EXCP0 + 3, G(0)),
       .chk = { CHK(nrip, ~0ull, 0x5678) }),
    VR(.name = "caps/nrips-only-cpuid-nrip-next", GCODE(0x0F, 0xA2), .caps = { { "features", SVM_FEAT_NRIPS } },
       .m = { ICPT3(1u << I3_CPUID), MOD(nrip, ~0ull, 0x5678) }, EXIT(SVM_EXIT_CPUID, G(0)), .nrip = G(2)),
    /* decode assists (15.8): EXITINFO1 0 for MOV CRx, MOV DRx, INTn and
     * INVLPG; no instruction bytes, the count not written */
    VR(.name = "caps/no-da-mov-from-cr0", GCODE(0x0F, 0x20, 0xC0), .caps = { { "features", 0x11409 } },
       .m = { MOD(cr_intercepts, 0, 1u << 0), MOD(exitinfo1, ~0ull, 0x5555) }, EXIT(SVM_EXIT_READ_CR0, G(0)),
       .chk = { INFO1(0) }),
    VR(.name = "caps/no-da-mov-to-cr4", GCODE(0x0F, 0x22, 0xE2), .caps = { { "features", 0x11409 } },
       .m = { MOD(cr_intercepts, 0, 1u << (16 + 4)) }, EXIT(SVM_EXIT_WRITE_CR0 + 4, G(0)), .chk = { INFO1(0) }),
    VR(.name = "caps/no-da-read-dr7", GCODE(0x0F, 0x21, 0xFB), .caps = { { "features", 0x11409 } },
       .m = { MOD(dr_intercepts, 0, 1u << 7) }, EXIT(SVM_EXIT_READ_DR0 + 7, G(0)), .nrip = G(3),
       .chk = { INFO1(0) }),
    VR(.name = "caps/no-da-intn", GCODE(0xCD, 0x41), .caps = { { "features", 0x11409 } },
       .m = { ICPT3(1u << I3_INTN) }, EXIT(SVM_EXIT_SWINT, G(0)), .chk = { INFO1(0) }),
    VR(.name = "caps/no-da-invlpg", GCODE(0x0F, 0x01, 0x7E, 0x10), .rsi = 0x12345000,
       .caps = { { "features", 0x11409 } }, .m = { ICPT3(1u << I3_INVLPG) }, EXIT(SVM_EXIT_INVLPG, G(0)),
       .chk = { INFO1(0) }),
    VR(.name = "caps/no-da-pf-no-bytes", GCODE(0x48, 0x8B, 0x06), .rsi = PF_NOT_MAPPED,
       .caps = { { "features", 0x11409 } }, .m = { MOD(exception_intercepts, 0, 1u << 14),
       MOD(insn_len, 0xFF, 0xEE) }, EXIT(SVM_EXIT_EXCP0 + 14, G(0)),
       .chk = { INFO1(0), CHK(exitinfo2, ~0ull, PF_NOT_MAPPED), CHK(insn_len, 0xFF, 0xEE),
                CHK_AT(VMCB_OFF(insn_bytes), 8, ~0ull, 0) }),
    VR(.name = "caps/no-da-other-exit-count-untouched", .caps = { { "features", 0x11409 } },
       .m = { MOD(insn_len, 0xFF, 0xEE) }, VMMCALL_AT(0), .chk = { CHK(insn_len, 0xFF, 0xEE) }),
    VR(.name = "caps/da-only-mov-from-cr0", GCODE(0x0F, 0x20, 0xC0), .caps = { { "features", SVM_FEAT_DECODE } },
       .m = { MOD(cr_intercepts, 0, 1u << 0) }, EXIT(SVM_EXIT_READ_CR0, G(0)), .chk = { INFO1(DA_CR(0)) }),
    /* the PAUSE filter (15.14.4): without it the count is ignored, every
     * intercepted PAUSE exits; without the threshold the count only counts
     * down (the WBINVD gaps do not reload it) */
    VR(.name = "caps/no-pause-filter-count-ignored", GCODE(0xF3, 0x90, 0xF3, 0x90, 0xF3, 0x90),
       .caps = { { "features", 0x10089 } }, .m = { ICPT3(1u << I3_PAUSE), MOD(pause_filter_count, ~0ull, 3) },
       EXIT(SVM_EXIT_PAUSE, G(0)), .nrip = G(2)),
    VR(.name = "caps/filter-without-threshold-counts-down", GCODE(0xF3, 0x90, 0x0F, 0x09, 0xF3, 0x90, 0x0F, 0x09,
       0xF3, 0x90), .caps = { { "features", 0x10489 } }, .m = { ICPT3(1u << I3_PAUSE),
       MOD(pause_filter_count, ~0ull, 2), MOD(pause_filter_threshold, ~0ull, 1000) }, EXIT(SVM_EXIT_PAUSE, G(4))),
    VR(.name = "caps/threshold-without-filter-every-pause", GCODE(0xF3, 0x90, 0xF3, 0x90),
       .caps = { { "features", SVM_FEAT_PAUSE_THRESH } }, .m = { ICPT3(1u << I3_PAUSE),
       MOD(pause_filter_count, ~0ull, 2), MOD(pause_filter_threshold, ~0ull, 1000) }, EXIT(SVM_EXIT_PAUSE, G(0))),
    /* vGIF and nested paging: their enables stop the run without the feature */
    VR(.name = "caps/no-vgif-v-gif-enable-stops", .caps = { { "features", 0x1489 } },
       .m = { VINTR_SET(VINTR_GIF_ENABLE) }, .stop = true, .stop_text = "V_GIF_ENABLE on a profile without vGIF"),
    VR(.name = "caps/no-np-np-enable-stops", .caps = { { "features", 0x11488 } }, .m = { MOD(np_enable, 0, 1) },
       .stop = true, .stop_text = "nested paging (NP_ENABLE) on a profile without it"),
    /* TLB_CONTROL 3 and 7 need flush by ASID (15.16.2) */
    VR(.name = "caps/flush-asid-tlb-control-3-runs", .m = { MOD(tlb_control, ~0ull, 3) }, VMMCALL_AT(0)),
    VR(.name = "caps/flush-asid-tlb-control-7-runs", .m = { MOD(tlb_control, ~0ull, 7) }, VMMCALL_AT(0)),
    VR(.name = "caps/no-flush-asid-tlb-control-3-stops", .caps = { { "features", 0x11489 } },
       .m = { MOD(tlb_control, ~0ull, 3) }, .stop = true, .stop_text = "TLB_CONTROL = 3 on a profile without flush"),
    VR(.name = "caps/no-flush-asid-tlb-control-1-runs", .caps = { { "features", 0x11489 } },
       .m = { MOD(tlb_control, ~0ull, 1) }, VMMCALL_AT(0)),
    /* ASIDs (15.16): 1..EBX-1 for guests; one beyond stops the run (the
     * APM's illegal states name only ASID 0) */
    VR(.name = "caps/asid-largest-runs", .caps = { { "asids", 16 } }, .m = { MOD(guest_asid, ~0ull, 15) },
       VMMCALL_AT(0)),
    VR(.name = "caps/asid-at-nasid-stops", .caps = { { "asids", 16 } }, .m = { MOD(guest_asid, ~0ull, 16) },
       .stop = true, .stop_text = "guest ASID 16, but the processor has 16 ASIDs"),
    VR(.name = "caps/asid-2-asids-1-runs", .caps = { { "asids", 2 } }, VMMCALL_AT(0)),
    VR(.name = "caps/asid-beyond-profile-stops", .m = { MOD(guest_asid, ~0ull, 0x10001) }, .stop = true,
       .stop_text = "guest ASID 65537"),
    VR(.name = "caps/asid-largest-of-profile-runs", .m = { MOD(guest_asid, ~0ull, 32767) }, VMMCALL_AT(0)),
    /* ASID 0 is a consistency check before the limit (VMEXIT_INVALID) */
    VR(.name = "caps/asid-zero-still-invalid", .caps = { { "asids", 2 } }, .m = { MOD(guest_asid, ~0ull, 0) },
       .host = H_PLAIN, EXIT(SVM_EXIT_INVALID, G(0))),
};

START_TEST(virt)
{
    const struct virt_row *r = &virt_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "virt %s (test_svm.c:%d)", r->name, r->line);
    struct sv x;
    struct svm_caps caps;
    row_caps(&caps, r->caps, row);
    sv_create_caps(&x, host_code[r->host].b, host_code[r->host].n, row, 0, &caps);
    cpu_t *c = x.t.cpu;
    uint64_t at = r->at ? r->at : GUEST_PA;
    uint8_t guest[32];
    memcpy(guest, r->code, r->n);
    unsigned gn = r->n;
    if (!r->no_vmmcall) {
        memcpy(guest + gn, (const uint8_t[]){ 0x0F, 0x01, 0xD9 }, 3);
        gn += 3;
    }
    if (gn)
        put(&x, at, guest, gn);
    if (r->unmap_2m)
        tm_pde_modify(&x.t, r->unmap_2m, PTE_P, 0);
    struct vmcb v;
    vmcb_base(&x, &v, r->g32);
    v.rip = at;
    v.rax = r->rax;
    uint64_t cr0 = cpu_get(c, CPU_CR0);
    if (r->rax_from == RV_CR0)
        v.rax = cr0 & 0xFFFF;
    else if (r->rax_from == RV_CR0_TS)
        v.rax = cr0 ^ (1ull << 3);
    else if (r->rax_from == RV_CR0_AM)
        v.rax = cr0 ^ (1ull << 18);
    for (unsigned k = 0; k < 5; k++)
        apply_mod(&v, &r->m[k]);
    put(&x, VMCB_PA, &v, sizeof(v));
    if (r->intr || r->tpr_p1 || r->cr8_after_p1) {
        /* the local APIC in x2APIC mode, software-enabled (SVR 0x1FF) */
        uint64_t base = 0;
        ck_assert(cpu_msr_read(c, 0x1B, &base));
        ck_assert_msg(cpu_msr_write(c, 0x1B, base | (1ull << 10)), "%s: x2APIC mode refused", row);
        ck_assert_msg(cpu_msr_write(c, 0x80F, 0x1FF), "%s: SVR refused", row);
        if (r->tpr_p1)
            ck_assert(cpu_msr_write(c, 0x808, (uint64_t)(r->tpr_p1 - 1) << 4));
    }
    cpu_set(c, CPU_RAX, VMCB_PA);
    cpu_set(c, CPU_RBX, r->rbx);
    cpu_set(c, CPU_RCX, r->rcx);
    cpu_set(c, CPU_RDX, r->rdx);
    cpu_set(c, CPU_RSI, r->rsi);
    cpu_commit_state(c);
    if (host_code[r->host].phase1) {
        /* phase 1: CLGI (and STI), then HLT: the events become pending with GIF = 0 */
        sv_run(&x);
        ck_assert_msg(cpu_get(c, CPU_RIP) == CODE_PA + host_code[r->host].phase1, "%s: phase 1 ended at %#llx",
                      row, (unsigned long long)cpu_get(c, CPU_RIP));
        if (r->intr)
            cpu_apic_ipi_deliver(c, &(struct cpu_ipi){ .vector = (uint8_t)r->intr, .mode = 0, .shorthand = 1,
                                                       .time = cpu_cycles(c) });
        if (r->nmi)
            cpu_raise_nmi(c);
        if (r->smi)
            cpu_apic_ipi_deliver(c, &(struct cpu_ipi){ .mode = 2, .time = cpu_cycles(c) });
        cpu_leave_halt(c);
    }
    enum cpu_stop st = cpu_run(c, 10000);
    /* a halted LP whose wake time has come runs again, as the machine
     * runs it (a virtual interrupt pending at a guest's HLT) */
    for (unsigned k = 0; k < 4 && st == CPU_STOP_HALTED && cpu_next_wake(c) <= cpu_cycles(c); k++)
        st = cpu_run(c, 10000);
    if (r->stop) {
        ck_assert_msg(st == CPU_STOP_UNMODELLED, "%s: stop %s (%s), expected unmodelled", row, cpu_stop_name(st),
                      cpu_message(c));
        ck_assert_msg_contains(row, x.t.unmodelled_text, r->stop_text);
        return;
    }
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row, cpu_stop_name(st), cpu_message(c));
    if (r->no_exit) {
        ck_assert_msg(tm_count(&x.t, CPU_EV_SVM_EXIT, NULL) == 0 && cpu_get(c, CPU_RIP) == r->rip &&
                      cpu_next_wake(c) == ~0ull, "%s: %u VM exits, the guest at %#llx (wake %#llx), expected "
                      "halted at %#llx", row, tm_count(&x.t, CPU_EV_SVM_EXIT, NULL),
                      (unsigned long long)cpu_get(c, CPU_RIP), (unsigned long long)cpu_next_wake(c),
                      (unsigned long long)r->rip);
        if (r->frame_rip)
            ck_assert_msg(get64(&x, cpu_get(c, CPU_RSP)) == r->frame_rip, "%s: the interrupt frame's RIP %#llx", row,
                          (unsigned long long)get64(&x, cpu_get(c, CPU_RSP)));
        return;
    }
    uint64_t host_end = r->host_vec ? HANDLER(r->host_vec) + 1 : CODE_PA + host_code[r->host].n;
    ck_assert_msg(cpu_get(c, CPU_RIP) == host_end, "%s: the host ended at %#llx (vector %d), expected %#llx", row,
                  (unsigned long long)cpu_get(c, CPU_RIP), tm_vector(&x.t), (unsigned long long)host_end);
    uint64_t code = vmcb64(&x, VMCB_OFF(exitcode)), rip = vmcb64(&x, VMCB_OFF(rip));
    ck_assert_msg(code == r->exitcode && rip == r->rip, "%s: exit %#llx at %#llx (EXITINFO1 %#llx), expected %#llx "
                  "at %#llx", row, (unsigned long long)code, (unsigned long long)rip,
                  (unsigned long long)vmcb64(&x, VMCB_OFF(exitinfo1)), (unsigned long long)r->exitcode,
                  (unsigned long long)r->rip);
    ck_assert_msg(tm_count(&x.t, CPU_EV_SVM_EXIT, NULL) == 1, "%s: %u VM exits", row,
                  tm_count(&x.t, CPU_EV_SVM_EXIT, NULL));
    if (r->nrip) {
        uint64_t want = r->nrip == NRIP0 ? 0 : r->nrip, nrip = vmcb64(&x, VMCB_OFF(nrip));
        ck_assert_msg(nrip == want, "%s: nRIP %#llx, expected %#llx", row, (unsigned long long)nrip,
                      (unsigned long long)want);
    }
    if (r->frame_rip) {
        uint64_t f = get64(&x, vmcb64(&x, VMCB_OFF(rsp)));
        ck_assert_msg(f == r->frame_rip, "%s: the interrupt frame's RIP %#llx, expected %#llx", row,
                      (unsigned long long)f, (unsigned long long)r->frame_rip);
    }
    for (unsigned k = 0; k < 4 && r->chk[k].size; k++) {
        const struct vmcb_chk *k1 = &r->chk[k];
        uint64_t f = 0;
        ck_assert(cpu_phys_read(c, VMCB_PA + k1->off, &f, k1->size));
        ck_assert_msg((f & k1->mask) == k1->want, "%s: VMCB %#x = %#llx (mask %#llx), expected %#llx", row, k1->off,
                      (unsigned long long)f, (unsigned long long)k1->mask, (unsigned long long)k1->want);
    }
    if (r->cr8_after_p1) {
        uint64_t tpr = 0;
        ck_assert(cpu_msr_read(c, 0x808, &tpr));
        ck_assert_msg(tpr >> 4 == r->cr8_after_p1 - 1, "%s: the APIC's TPR %#llx, expected %#x", row,
                      (unsigned long long)tpr, (r->cr8_after_p1 - 1) << 4);
    }
    ck_assert_msg(cpu_nmi_pending(c) == r->nmi_after, "%s: NMI pending %d afterwards", row, cpu_nmi_pending(c));
    ck_assert_msg(cpu_smi_pending(c) == r->smi_after, "%s: SMI pending %d afterwards", row, cpu_smi_pending(c));
    if (r->mem_at)
        ck_assert_msg(get64(&x, r->mem_at) == r->mem_want, "%s: [%#llx] = %#llx, expected %#llx", row,
                      (unsigned long long)r->mem_at, (unsigned long long)get64(&x, r->mem_at),
                      (unsigned long long)r->mem_want);
}
END_TEST

/* GIF = 0 holds an NMI in the host (15.17, table 15-10): it does not end
 * HLT, and STGI lets it in. */
START_TEST(gif_holds_nmi)
{
    static const uint8_t host[] = { 0x0F, 0x01, 0xDD, 0xF4, 0x90, 0x0F, 0x01, 0xDC, 0xF4 };  /* clgi; hlt; nop; stgi; hlt */
    struct sv x;
    sv_create(&x, host, sizeof(host), "gif-holds-nmi (test_svm.c)", 0);
    cpu_t *c = x.t.cpu;
    sv_run(&x);
    ck_assert_uint_eq(cpu_get(c, CPU_RIP), CODE_PA + 4);
    cpu_raise_nmi(c);
    ck_assert_msg(!cpu_nmi_ready(c), "an NMI is ready with GIF = 0");
    ck_assert_msg(cpu_next_wake(c) == ~0ull, "the held NMI would end HLT (wake at %llu)",
                  (unsigned long long)cpu_next_wake(c));
    ck_assert_int_eq(cpu_run(c, 100), CPU_STOP_HALTED);
    ck_assert_msg(tm_vector(&x.t) == -1 && cpu_nmi_pending(c), "the NMI was taken with GIF = 0");
    cpu_leave_halt(c);
    sv_run(&x);
    ck_assert_msg(tm_vector(&x.t) == 2 && !cpu_nmi_pending(c), "after STGI: vector %d, NMI pending %d",
                  tm_vector(&x.t), cpu_nmi_pending(c));
    ck_assert_msg(tm_stack(&x.t, 0) == CODE_PA + 8, "the NMI's return RIP %#llx, expected after STGI",
                  (unsigned long long)tm_stack(&x.t, 0));
}
END_TEST

/* TSC_RATIO (APM 15.30.5): in the guest, RDTSC and RDMSR of the TSC read
 * (host TSC * ratio) + TSC_OFFSET, the offset not scaled; the host's TSC
 * is not scaled. Each row: the ratio, the guest instruction (then VMMCALL). */
static const struct { const char *name; uint64_t ratio; uint8_t code[2]; } tsc_rows[] = {
    { "rdtsc-ratio-2.0", 0x0200000000ull, { 0x0F, 0x31 } },
    { "rdtsc-ratio-0.5", 0x0080000000ull, { 0x0F, 0x31 } },
    { "rdtsc-ratio-1.0", 0x0100000000ull, { 0x0F, 0x31 } },
    { "rdtsc-ratio-3.25", 0x0340000000ull, { 0x0F, 0x31 } },
    { "rdmsr-tsc-ratio-2.0", 0x0200000000ull, { 0x0F, 0x32 } },
};

START_TEST(tsc_ratio)
{
    char row[200];
    snprintf(row, sizeof(row), "tsc-ratio %s (test_svm.c)", tsc_rows[_i].name);
    const uint64_t off = 1ull << 40;
    struct sv x;
    sv_create(&x, host_code[H_PLAIN].b, host_code[H_PLAIN].n, row, 0);
    cpu_t *c = x.t.cpu;
    uint8_t guest[5] = { tsc_rows[_i].code[0], tsc_rows[_i].code[1], 0x0F, 0x01, 0xD9 };
    put(&x, GUEST_PA, guest, sizeof(guest));
    struct vmcb v;
    vmcb_base(&x, &v, false);
    v.tsc_offset = off;
    put(&x, VMCB_PA, &v, sizeof(v));
    ck_assert(cpu_msr_write(c, 0xC0000104u, tsc_rows[_i].ratio));
    cpu_set(c, CPU_RAX, VMCB_PA);
    cpu_set(c, CPU_RCX, 0x10);
    cpu_commit_state(c);
    uint64_t t0 = 0, t1 = 0;
    ck_assert(cpu_msr_read(c, 0x10, &t0));
    sv_run(&x);
    ck_assert(cpu_msr_read(c, 0x10, &t1));
    ck_assert_msg(vmcb64(&x, VMCB_OFF(exitcode)) == SVM_EXIT_VMMCALL, "%s: exit %#llx", row,
                  (unsigned long long)vmcb64(&x, VMCB_OFF(exitcode)));
    uint64_t g = (vmcb64(&x, VMCB_OFF(rax)) & 0xFFFFFFFFull) | (cpu_get(c, CPU_RDX) << 32);
    uint64_t lo = (uint64_t)(((unsigned __int128)t0 * tsc_rows[_i].ratio) >> 32) + off;
    uint64_t hi = (uint64_t)(((unsigned __int128)t1 * tsc_rows[_i].ratio) >> 32) + off;
    ck_assert_msg(g >= lo && g <= hi, "%s: the guest read %#llx, expected host TSC * ratio + offset in %#llx..%#llx",
                  row, (unsigned long long)g, (unsigned long long)lo, (unsigned long long)hi);
    ck_assert_msg(t1 - t0 < 100000, "%s: the host's TSC went from %llu to %llu", row, (unsigned long long)t0,
                  (unsigned long long)t1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("svm");
    TCase *t = harness_tcase("vmrun");
    ADD_ROWS(t, vmrun_check, vmrun_rows);
    tcase_add_test(t, check_coverage);
    suite_add_tcase(s, t);

    t = harness_tcase("insn");
    ADD_ROWS(t, insn, insn_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("msr");
    ADD_ROWS(t, msr, msr_rows);
    ADD_ROWS(t, cpuid, cpuid_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("caps");
    ADD_ROWS(t, caps_override, ovr_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("intercept");
    ADD_ROWS(t, intercept, icpt_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("virt");
    ADD_ROWS(t, virt, virt_rows);
    tcase_add_test(t, gif_holds_nmi);
    tcase_add_loop_test(t, tsc_ratio, 0, sizeof(tsc_rows) / sizeof(tsc_rows[0]));
    suite_add_tcase(s, t);
    return harness_run(s);
}
