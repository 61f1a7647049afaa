/*
 * svm.c — AMD-V for one logical processor (AMD APM vol. 2, chapter 15;
 * docs/svm.md): enabling (CPUID Fn8000_0001 ECX.SVM and Fn8000_000A,
 * whose capabilities svm_caps_override changes per run; VM_CR,
 * VM_HSAVE_PA, EFER.SVME), the SVM instructions with their #UD and
 * #GP rules, VMRUN (host save, the consistency checks of svm_checks.def,
 * guest state, ASID and TLB_CONTROL, EVENTINJ), intercepts in the guest
 * and #VMEXIT (EXITCODE, EXITINFO1/2 with decode assists, EXITINTINFO,
 * nRIP, guest state saved, host state reloaded, GIF cleared); virtual
 * interrupts (V_IRQ, V_TPR, V_INTR_MASKING, the VINTR intercept, vGIF),
 * the NMI intercept, the PAUSE filter and the task-switch intercept.
 *
 * Called from cpu/'s hooks (struct cpu_virt_ops): instructions, guest
 * instructions and events, instruction boundaries in the guest (the
 * virtual interrupt), task switches (after cpu/task.c's checks), MSRs,
 * CPUID. Intercepts and controls whose behaviour
 * is not modelled stop the run at VMRUN, naming them (unmodelled_intercept);
 * the VMCB lives in guest memory and is read at VMRUN and written at
 * #VMEXIT.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "svm.h"
#include "vmcb.h"

#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define EFER_NXE   (1ull << 11)
#define EFER_SVME  (1ull << 12)
#define CR0_PE     (1ull << 0)
#define CR0_NW     (1ull << 29)
#define CR0_CD     (1ull << 30)
#define CR0_PG     (1ull << 31)
#define CR4_PAE    (1ull << 5)
#define CR4_DE     (1ull << 3)
#define RF_IF      (1ull << 9)
#define RF_RF      (1ull << 16)
#define RF_VM      (1ull << 17)
#define DR7_GD     (1ull << 13)
#define MSR_EFER        0xC0000080u
#define MSR_STAR        0xC0000081u
#define MSR_LSTAR       0xC0000082u
#define MSR_CSTAR       0xC0000083u
#define MSR_SFMASK      0xC0000084u
#define MSR_FS_BASE     0xC0000100u
#define MSR_GS_BASE     0xC0000101u
#define MSR_KERNEL_GS   0xC0000102u
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_TSC         0x10u
#define MSR_PAT         0x277u
#define MSR_VM_CR       0xC0010114u
#define MSR_VM_HSAVE_PA 0xC0010117u
#define MSR_TSC_RATIO   0xC0000104u
#define TSC_RATIO_RESET 0x0100000000ull    /* 1.0 in 8.32 fixed point */
#define TSC_RATIO_MBZ   (~0ull << 40)      /* bits 63:40 reserved (APM 15.30.5) */
#define CR0_NE     (1ull << 5)
#define VM_CR_LOCK      (1ull << 3)
#define VM_CR_SVMDIS    (1ull << 4)

struct host_state {
    uint64_t cr0, cr3, cr4, efer, rflags, rip, rsp, rax;
    struct cpu_seg seg[4];             /* ES, CS, SS, DS */
    struct cpu_dtr gdtr, idtr;
};

/* One LP's SVM state. Invariants: guest implies gif (the guest runs with
 * GIF = 1; vGIF virtualizes it in v_gif); the virtual-interrupt fields
 * and the PAUSE filter mean something only while guest; v_irq is the
 * processor's copy of V_IRQ, and cpu/'s interrupt window is open exactly
 * while it is set (guest_boundary then decides at each boundary). */
struct svm {
    cpu_t *cpu;
    struct svm_caps caps;
    uint64_t vm_cr, hsave_pa;
    uint64_t tsc_ratio;                /* TSC_RATIO (C000_0104): 8.32 fixed point, bits 63:40 0 */
    bool gif;                          /* global interrupt flag (APM 15.17) */
    bool guest;                        /* a guest runs (between VMRUN and #VMEXIT) */
    uint64_t vmcb;                     /* its VMCB (physical) */
    /* the intercepts and controls of the VMRUN in effect */
    uint32_t cr_icpt, dr_icpt, exc_icpt, i3, i4;
    uint64_t iopm, msrpm, tsc_offset;
    uint32_t asid;
    struct host_state host;
    uint64_t exits;
    bool np;                           /* nested paging on for the guest in effect */
    struct npt npt;
    uint64_t host_pat;                 /* the host's PAT while G_PAT is the guest's (15.25.8) */
    /* virtual interrupts (15.21.4), loaded by VMRUN from VMCB 0x060 */
    uint8_t v_tpr;                     /* V_TPR[3:0]; written back at #VMEXIT */
    bool v_irq;                        /* V_IRQ: pending; written back */
    unsigned v_prio, v_vector;         /* V_INTR_PRIO, V_INTR_VECTOR */
    bool v_ign_tpr;                    /* V_IGN_TPR */
    bool v_masking;                    /* V_INTR_MASKING (15.21.1, 15.21.2) */
    bool vgif_on, v_gif;               /* V_GIF_ENABLE and the virtual GIF (15.33.2) */
    bool halt_check;                   /* the guest halted with V_IRQ set: guest_boundary due now */
    /* the PAUSE filter (15.14.4): the internal counter, VMCB values, the
     * cycle of the last PAUSE (none since VMRUN: !pause_seen) */
    uint16_t pause_count, pause_count0, pause_thresh;
    bool pause_seen;
    uint64_t pause_last;
};

/* amd-server offers exactly the features hvsim models */
static const struct svm_caps amd_server_svm = { .revision = 1, .nasid = 32768, .features = SVM_FEAT_MODELLED };

const struct svm_caps *svm_caps_for_profile(const char *profile_name)
{
    return profile_name && !strcmp(profile_name, "amd-server") ? &amd_server_svm : NULL;
}

/* CPUID Fn8000_000A EDX (APM vol. 3 appendix E.4.9 and the feature's own
 * section); bits without a name are reserved or not named here. */
static const char *const feature_names[32] = {
    [0] = "nested paging", [1] = "LBR virtualization", [2] = "SVM lock", [3] = "NRIP save",
    [4] = "TSC rate MSR", [5] = "VMCB clean bits", [6] = "flush by ASID", [7] = "decode assists",
    [10] = "PAUSE filter", [12] = "PAUSE filter threshold", [13] = "AVIC", [15] = "VMSAVE/VMLOAD virtualization",
    [16] = "vGIF", [17] = "guest mode execute trap", [18] = "x2AVIC", [19] = "supervisor shadow stack check",
    [20] = "SPEC_CTRL virtualization", [21] = "read-only guest page tables", [23] = "host MCE override",
    [24] = "INVLPGB/TLBSYNC control", [25] = "NMI virtualization", [26] = "IBS virtualization",
    [27] = "extended LVT AVIC access change", [28] = "guest VMCB address check", [29] = "bus lock threshold",
    [30] = "idle HLT intercept",
};

bool svm_caps_override(struct svm_caps *c, const char *name, uint64_t value, char *why, size_t n)
{
    unsigned long long v = value;
    if (!strcmp(name, "revision")) {
        if (value > 0xFF) {
            snprintf(why, n, "revision=%#llx: the SVM revision is CPUID Fn8000_000A EAX bits 7:0 (0..0xff); "
                     "bits 31:8 are reserved", v);
            return false;
        }
        c->revision = (uint32_t)value;
        return true;
    }
    if (!strcmp(name, "asids")) {
        if (value < 2) {
            snprintf(why, n, "asids=%llu: at least 2 are needed: ASID 0 is the host's and VMRUN refuses it "
                     "for a guest (APM 15.5.1)", v);
            return false;
        }
        if (value > SVM_MAX_NASID) {
            snprintf(why, n, "asids=%llu: at most %u (hvsim tags translations with 16-bit ASIDs)", v,
                     SVM_MAX_NASID);
            return false;
        }
        c->nasid = (uint32_t)value;
        return true;
    }
    if (!strcmp(name, "features")) {
        if (value >> 32) {
            snprintf(why, n, "features=%#llx: CPUID Fn8000_000A EDX has 32 bits; bit %d is beyond it", v,
                     63 - __builtin_clzll(value));
            return false;
        }
        uint32_t extra = (uint32_t)value & ~SVM_FEAT_MODELLED;
        if (extra) {
            unsigned b = (unsigned)__builtin_ctz(extra);
            char list[300] = "";
            size_t used = 0;
            for (unsigned k = 0; k < 32; k++)
                if (((SVM_FEAT_MODELLED >> k) & 1) && used < sizeof(list))
                    used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u %s", used ? ", " : "", k,
                                             feature_names[k]);
            snprintf(why, n, "features=%#llx: bit %u (%s) is a feature hvsim does not model; features may only "
                     "clear bits of %#x (bits %s)", v, b, feature_names[b] ? feature_names[b] : "reserved or unnamed",
                     SVM_FEAT_MODELLED, list);
            return false;
        }
        c->features = (uint32_t)value;
        return true;
    }
    snprintf(why, n, "'%s' is not an AMD-V capability: the names are revision (CPUID Fn8000_000A EAX), asids "
             "(EBX) and features (EDX)", name);
    return false;
}

static const char *const check_names[] = {
#define X(name, sec, rule) #name,
#include "svm_checks.def"
#undef X
};
static const char *const check_rules[] = {
#define X(name, sec, rule) rule " [APM vol. 2, " sec "]",
#include "svm_checks.def"
#undef X
};
const char *svm_check_name(enum svm_check c) { return (unsigned)c < SVMCHK_COUNT ? check_names[c] : "?"; }
const char *svm_check_rule(enum svm_check c) { return (unsigned)c < SVMCHK_COUNT ? check_rules[c] : "?"; }

/* ---- the VMCB in memory ---- */

static uint64_t rd(svm_t *s, uint64_t pa, unsigned off, unsigned size)
{
    uint64_t v = 0;
    cpu_phys_read(s->cpu, pa + off, &v, size);
    return v;
}

static void wr(svm_t *s, uint64_t pa, unsigned off, unsigned size, uint64_t v)
{
    cpu_phys_write(s->cpu, pa + off, &v, size);
}

#define R64(s, f) rd(s, (s)->vmcb, VMCB_OFF(f), 8)
#define R32(s, f) rd(s, (s)->vmcb, VMCB_OFF(f), 4)
#define W64(s, f, v) wr(s, (s)->vmcb, VMCB_OFF(f), 8, v)

/* VMCB segment attributes (descriptor bits 47:40 and 55:52 packed into 12
 * bits) <-> cpu/'s attributes (the VMX access-rights layout). */
static uint32_t attr_from_vmcb(uint16_t a, bool is_cs)
{
    uint32_t r = (a & 0xFFu) | ((uint32_t)((a >> 8) & 0xF) << 12);
    if (!is_cs && !(r & SEG_ATTR_P))
        r |= SEG_ATTR_UNUSABLE;       /* a not-present data segment: unusable, as a null selector is */
    return r;
}

static uint16_t attr_to_vmcb(uint32_t a)
{
    if (a & SEG_ATTR_UNUSABLE)
        return 0;
    return (uint16_t)((a & 0xFFu) | (((a >> 12) & 0xF) << 8));
}

static void seg_read(svm_t *s, unsigned off, struct cpu_seg *seg, bool is_cs)
{
    struct vmcb_seg v;
    cpu_phys_read(s->cpu, s->vmcb + off, &v, sizeof(v));
    *seg = (struct cpu_seg){ .sel = v.sel, .attr = attr_from_vmcb(v.attrib, is_cs), .limit = v.limit, .base = v.base };
}

static void seg_write(svm_t *s, uint64_t pa, unsigned off, const struct cpu_seg *seg)
{
    struct vmcb_seg v = { .sel = seg->sel, .attrib = attr_to_vmcb(seg->attr), .limit = seg->limit, .base = seg->base };
    cpu_phys_write(s->cpu, pa + off, &v, sizeof(v));
}

/* ---- results of an instruction ---- */

static bool fault(svm_t *s, unsigned vec, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fault(svm_t *s, unsigned vec, const char *fmt, ...)
{
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu_insn_note(s->cpu, buf);
    cpu_insn_report(s->cpu, 3, 0, vec, 0, 0);
    cpu_insn_fault(s->cpu, vec, vec == 13, 0);
    return true;
}

static bool stop(svm_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool stop(svm_t *s, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu_insn_unmodelled(s->cpu, "AMD-V: %s", buf);
    return false;
}

/* ---- #VMEXIT (APM 15.6) ---- */

struct exit_info {
    uint64_t code, info1, info2, intinfo;
    bool insn_bytes;                   /* decode assists: record the instruction bytes at linear insn_la
                                          (a data #PF or #NPF, 15.8.4); otherwise the count is 0 */
    uint64_t insn_la;
};

/* EXITINTINFO (APM 15.7.2, figure 15-1) of an event being delivered:
 * vector 7:0, type 10:8 (0 INTR, 2 NMI, 3 exception, 4 INTn), EV 11,
 * V 31, error code 63:32. cpu/'s types are the VMX ones (cpu_inject_event):
 * INT3/INTO (software exceptions) and INT1 (privileged) are exceptions. */
static uint64_t exitintinfo(bool vectoring, unsigned type, unsigned vector, bool has_ec, uint32_t ec)
{
    static const unsigned amd_type[8] = { 0, 0, 2, 3, 4, 3, 3, 0 };
    if (!vectoring)
        return 0;
    return (1ull << 31) | ((uint64_t)amd_type[type & 7] << 8) | (vector & 0xFF) |
           (has_ec ? (1ull << 11) | ((uint64_t)ec << 32) : 0);
}

/* Decode assists for a data #PF or #NPF (APM 15.8.4 "Nested and
 * Intercepted #PF"): up to 15 bytes read from guest CS:RIP, fewer when a
 * fetch would fault or leave the CS limit; the count in the low nibble of
 * 0x0D0 (0: none could be read), the bytes from 0x0D1. The rest of the
 * field is left alone ("implementations may leave the other bytes
 * untouched"). Called with the guest state still loaded. */
static void record_insn_bytes(svm_t *s, uint64_t la)
{
    cpu_t *c = s->cpu;
    uint8_t b[15];
    size_t max = sizeof(b);
    if (cpu_mode(c) != CPU_MODE_64) {
        struct cpu_seg cs;
        cpu_get_seg(c, CPU_CS, &cs);
        uint64_t eip = (la - cs.base) & 0xFFFFFFFFull;
        max = eip > cs.limit ? 0 : (cs.limit - eip + 1 < max ? (size_t)(cs.limit - eip + 1) : max);
    }
    size_t n = max ? cpu_peek_code(c, la, b, max) : 0;
    uint8_t cnt = (uint8_t)n;
    cpu_phys_write(c, s->vmcb + VMCB_OFF(insn_len), &cnt, 1);
    if (n)
        cpu_phys_write(c, s->vmcb + VMCB_OFF(insn_bytes), b, n);
}

static void save_guest_state(svm_t *s)
{
    cpu_t *c = s->cpu;
    static const unsigned segoff[4] = { VMCB_OFF(es), VMCB_OFF(cs), VMCB_OFF(ss), VMCB_OFF(ds) };
    for (int i = 0; i < 4; i++) {
        struct cpu_seg seg;
        cpu_get_seg(c, (enum cpu_segreg)i, &seg);
        seg_write(s, s->vmcb, segoff[i], &seg);
    }
    struct cpu_dtr g, i;
    cpu_get_dtr(c, false, &g);
    cpu_get_dtr(c, true, &i);
    struct vmcb_seg gd = { .limit = g.limit, .base = g.base }, id = { .limit = i.limit, .base = i.base };
    cpu_phys_write(c, s->vmcb + VMCB_OFF(gdtr), &gd, sizeof(gd));
    cpu_phys_write(c, s->vmcb + VMCB_OFF(idtr), &id, sizeof(id));
    wr(s, s->vmcb, VMCB_OFF(cpl), 1, cpu_cpl(c));
    W64(s, efer, cpu_get(c, CPU_EFER));
    W64(s, cr0, cpu_get(c, CPU_CR0));
    W64(s, cr2, cpu_get(c, CPU_CR2));
    W64(s, cr3, cpu_get(c, CPU_CR3));
    W64(s, cr4, cpu_get(c, CPU_CR4));
    W64(s, dr6, cpu_get_dr(c, 6));
    W64(s, dr7, cpu_get_dr(c, 7));
    W64(s, rflags, cpu_get(c, CPU_RFLAGS));
    W64(s, rip, cpu_get(c, CPU_RIP));
    W64(s, rsp, cpu_get(c, CPU_RSP));
    W64(s, rax, cpu_get(c, CPU_RAX));
    W64(s, interrupt_shadow, (cpu_blocking_by_sti(c) || cpu_blocking_by_mov_ss(c)) ? 1 : 0);
    uint64_t pat;
    if (s->np && cpu_msr_read(c, MSR_PAT, &pat))
        W64(s, g_pat, pat);                    /* the guest's PAT is G_PAT under nested paging (15.25.8) */
}

static void load_host_state(svm_t *s)
{
    cpu_t *c = s->cpu;
    struct host_state *h = &s->host;
    cpu_set(c, CPU_EFER, h->efer);
    cpu_set(c, CPU_CR0, h->cr0 | CR0_PE);
    cpu_set(c, CPU_CR4, h->cr4);
    cpu_set(c, CPU_CR3, h->cr3);
    for (int i = 0; i < 4; i++)
        cpu_set_seg(c, (enum cpu_segreg)i, &h->seg[i]);
    cpu_set_dtr(c, false, &h->gdtr);
    cpu_set_dtr(c, true, &h->idtr);
    cpu_set(c, CPU_RFLAGS, h->rflags);
    cpu_set(c, CPU_RIP, h->rip);
    cpu_set(c, CPU_RSP, h->rsp);
    cpu_set(c, CPU_RAX, h->rax);
    cpu_set_dr(c, 7, 0x400);
    cpu_set_guest_mode(c, false);
    cpu_set_slat(c, false);
    if (s->np)
        cpu_msr_write(c, MSR_PAT, s->host_pat);
    s->np = false;
    cpu_tlb_set_tag(c, 0, 0);                  /* the host's ASID 0; a world switch flushes nothing */
    cpu_reload_context(c);
}

/* #VMEXIT: the exit information and guest state to the VMCB, host state
 * back, GIF = 0 (APM 15.6 "#VMEXIT"). The guest RIP is the current one. */
static void vmexit(svm_t *s, const struct exit_info *x, uint64_t nrip)
{
    cpu_t *c = s->cpu;
    s->exits++;
    uint64_t guest_rip = cpu_get(c, CPU_RIP);
    if (s->caps.features & SVM_FEAT_DECODE) {
        /* 15.8.4: "All other intercepts clear bits 7:0 in this field" */
        if (x->insn_bytes)
            record_insn_bytes(s, x->insn_la);
        else
            wr(s, s->vmcb, VMCB_OFF(insn_len), 1, 0);
    }
    save_guest_state(s);
    /* V_TPR and V_IRQ (and the virtual GIF) written back (15.6, 15.21.4,
     * 15.33.2); the processor's copies of V_IRQ and V_INTR_MASKING are
     * cleared: interrupt control reverts to normal */
    uint64_t vintr = R64(s, vintr) & ~(VINTR_TPR_MASK | VINTR_V_IRQ);
    vintr |= s->v_tpr | (s->v_irq ? VINTR_V_IRQ : 0);
    if (s->vgif_on)
        vintr = (vintr & ~VINTR_V_GIF) | (s->v_gif ? VINTR_V_GIF : 0);
    W64(s, vintr, vintr);
    s->v_irq = s->v_masking = s->vgif_on = s->halt_check = false;
    cpu_set_guest_window(c, false);
    cpu_set_guest_virtual_if(c, false, false);
    cpu_set_guest_deadline(c, ~0ull);
    W64(s, exitcode, x->code);
    W64(s, exitinfo1, x->info1);
    W64(s, exitinfo2, x->info2);
    W64(s, exitintinfo, x->intinfo);
    W64(s, eventinj, R64(s, eventinj) & ~(1ull << 31));
    if (s->caps.features & SVM_FEAT_NRIPS)
        W64(s, nrip, nrip);
    cpu_report_svm_exit(c, x->code, x->info1, x->info2, x->intinfo, -1, guest_rip);
    cpu_leave_halt(c);
    s->guest = false;
    s->gif = false;
    cpu_set_interrupts_held(c, true);
    load_host_state(s);
}

/* ---- VMRUN (APM 15.5) ---- */

static int check_guest(svm_t *s)
{
    cpu_t *c = s->cpu;
    unsigned maxpa = cpu_maxphyaddr(c);
    uint64_t efer = R64(s, efer), cr0 = R64(s, cr0), cr3 = R64(s, cr3), cr4 = R64(s, cr4);
    uint16_t csattr = (uint16_t)rd(s, s->vmcb, VMCB_OFF(cs) + 2, 2);
    bool cs_l = (csattr >> 9) & 1, cs_d = (csattr >> 10) & 1;
    uint64_t efer_ok = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME;
#define FAIL_IF(cond, name) do { if (cond) return SVMCHK_##name; } while (0)
    FAIL_IF(!(efer & EFER_SVME), EFER_SVME);
    FAIL_IF(!(cr0 & CR0_CD) && (cr0 & CR0_NW), CR0_CD_NW);
    FAIL_IF(cr0 >> 32, CR0_HIGH);
    FAIL_IF((efer & EFER_LME) && (cr3 >> maxpa), CR3_MBZ);
    FAIL_IF(cr4 & ~cpu_cr4_supported(c), CR4_MBZ);
    FAIL_IF(R64(s, dr6) >> 32, DR6_HIGH);
    FAIL_IF(R64(s, dr7) >> 32, DR7_HIGH);
    FAIL_IF(efer & ~efer_ok, EFER_MBZ);
    /* every AMD profile has long mode: LONG_MODE cannot fail here */
    FAIL_IF((efer & EFER_LME) && (cr0 & CR0_PG) && !(cr4 & CR4_PAE), LME_PG_PAE);
    FAIL_IF((efer & EFER_LME) && (cr0 & CR0_PG) && !(cr0 & CR0_PE), LME_PG_PE);
    FAIL_IF((efer & EFER_LME) && (cr0 & CR0_PG) && (cr4 & CR4_PAE) && cs_l && cs_d, LME_PG_CS_LD);
    FAIL_IF(!((R32(s, intercept4) >> I4_VMRUN) & 1), VMRUN_INTERCEPT);
    uint64_t limit = 1ull << maxpa;
    /* base > limit - size, not base + size > limit: a base near 2^64 must not wrap */
    FAIL_IF((R64(s, msrpm_base_pa) & ~0xFFFull) > limit - 0x2000, MSRPM_RANGE);
    FAIL_IF((R64(s, iopm_base_pa) & ~0xFFFull) > limit - 0x3000, IOPM_RANGE);
    FAIL_IF(R32(s, guest_asid) == 0, ASID_ZERO);
    uint64_t inj = R64(s, eventinj);
    if (inj >> 31 & 1) {
        unsigned type = (inj >> 8) & 7, vec = inj & 0xFF;
        FAIL_IF(type != 0 && type != 2 && type != 3 && type != 4, EVENTINJ_TYPE);
        FAIL_IF(type == 3 && (vec == 2 || vec > 31), EVENTINJ_VECTOR);
        /* bits 30:12 are reserved, but the APM does not list them among the
         * illegal injections: hvsim ignores them (docs/svm.md) */
    }
#undef FAIL_IF
    return -1;
}

/* Intercepts and controls whose behaviour hvsim does not model (the run
 * stops at VMRUN naming them). Every bit of intercept vector 3 is modelled:
 * SMI (smi_signal), RSM (guest_insn), FERR_FREEZE (guest_event). */
static const char *unmodelled_intercept(svm_t *s)
{
    if (s->i4 >> 14)
        return "intercept vector 4 bits 31:14 (RDPRU, EFER and CR write traps)";
    if (R32(s, intercept5))
        return "intercept vector 5 (INVLPGB, INVPCID, ...)";
    if ((R64(s, np_enable) & 1) && !(s->caps.features & SVM_FEAT_NP))
        return "nested paging (NP_ENABLE) on a profile without it";
    if (R64(s, np_enable) & ~1ull)
        return "NP_ENABLE bits other than nested paging (SEV, ...)";
    /* the virtual-interrupt field (table B-1, 15.21): V_TPR bits 7:4 are
     * SBZ and the APM does not say what a processor makes of them; NMI
     * virtualization, AVIC and (on a profile without it) vGIF are not
     * modelled. Other SBZ bits are ignored, as EVENTINJ's are. */
    uint64_t vintr = R64(s, vintr);
    if (vintr & 0xF0)
        return "V_TPR bits 7:4 set (SBZ: only a 4-bit virtual TPR is defined, APM table B-1)";
    if (vintr & VINTR_NMI_ENABLE)
        return "V_NMI_ENABLE (NMI virtualization, APM 15.21.10)";
    if (vintr & (VINTR_AVIC | VINTR_X2AVIC))
        return "AVIC / x2AVIC enable (APM 15.29)";
    if ((vintr & VINTR_GIF_ENABLE) && !(s->caps.features & SVM_FEAT_VGIF))
        return "V_GIF_ENABLE on a profile without vGIF";
    if (R64(s, lbr_virt) & 0xF)
        return "VMCB 0x0B8 bits 3:0 (LBR, VMSAVE/VMLOAD, IBS or PMC virtualization)";
    return NULL;
}

static bool op_vmrun(svm_t *s, const struct cpu_virt_insn *in)
{
    cpu_t *c = s->cpu;
    uint64_t pa = cpu_get(c, CPU_RAX);
    if (cpu_mode(c) != CPU_MODE_64)
        pa &= 0xFFFFFFFFu;
    if ((pa & 0xFFF) || (pa >> cpu_maxphyaddr(c)))
        return fault(s, 13, "VMRUN with rAX %#llx: not 4-KiB aligned or beyond the physical-address width: #GP(0) "
                     "[APM vol. 3, VMRUN]", (unsigned long long)pa);
    if (!s->hsave_pa)
        return stop(s, "VMRUN with VM_HSAVE_PA = 0: the host state would be saved nowhere (set VM_HSAVE_PA first)");
    /* the host state, resumed at the instruction after VMRUN (APM 15.5.1):
     * kept here and written to the host save area */
    struct host_state *h = &s->host;
    h->cr0 = cpu_get(c, CPU_CR0);
    h->cr3 = cpu_get(c, CPU_CR3);
    h->cr4 = cpu_get(c, CPU_CR4);
    h->efer = cpu_get(c, CPU_EFER);
    h->rflags = cpu_get(c, CPU_RFLAGS);
    h->rip = cpu_get(c, CPU_RIP) + in->len;
    h->rsp = cpu_get(c, CPU_RSP);
    h->rax = cpu_get(c, CPU_RAX);
    for (int i = 0; i < 4; i++)
        cpu_get_seg(c, (enum cpu_segreg)i, &h->seg[i]);
    cpu_get_dtr(c, false, &h->gdtr);
    cpu_get_dtr(c, true, &h->idtr);
    static const unsigned segoff[4] = { VMCB_OFF(es), VMCB_OFF(cs), VMCB_OFF(ss), VMCB_OFF(ds) };
    for (int i = 0; i < 4; i++)
        seg_write(s, s->hsave_pa, segoff[i], &h->seg[i]);
    wr(s, s->hsave_pa, VMCB_OFF(cr0), 8, h->cr0);
    wr(s, s->hsave_pa, VMCB_OFF(cr3), 8, h->cr3);
    wr(s, s->hsave_pa, VMCB_OFF(cr4), 8, h->cr4);
    wr(s, s->hsave_pa, VMCB_OFF(efer), 8, h->efer);
    wr(s, s->hsave_pa, VMCB_OFF(rflags), 8, h->rflags);
    wr(s, s->hsave_pa, VMCB_OFF(rip), 8, h->rip);
    wr(s, s->hsave_pa, VMCB_OFF(rsp), 8, h->rsp);
    wr(s, s->hsave_pa, VMCB_OFF(rax), 8, h->rax);

    s->vmcb = pa;
    s->cr_icpt = R32(s, cr_intercepts);
    s->dr_icpt = R32(s, dr_intercepts);
    s->exc_icpt = R32(s, exception_intercepts);
    s->i3 = R32(s, intercept3);
    s->i4 = R32(s, intercept4);
    s->iopm = R64(s, iopm_base_pa) & ~0xFFFull;
    s->msrpm = R64(s, msrpm_base_pa) & ~0xFFFull;
    s->tsc_offset = R64(s, tsc_offset);
    s->asid = R32(s, guest_asid);

    cpu_insn_report(c, 0, 0, 0, pa, 0);
    cpu_set(c, CPU_RIP, h->rip);
    int bad = check_guest(s);
    if (bad >= 0) {
        cpu_insn_retire_jump(c, CPU_VCOST_NONE);
        /* VMEXIT_INVALID: nothing of the guest was loaded; the host goes on
         * after VMRUN with EXITCODE -1 in the VMCB */
        char note[300];
        snprintf(note, sizeof(note), "VMRUN failed check %s: %s: #VMEXIT(VMEXIT_INVALID)",
                 svm_check_name((enum svm_check)bad), svm_check_rule((enum svm_check)bad));
        cpu_insn_note(c, note);
        W64(s, exitcode, SVM_EXIT_INVALID);
        W64(s, exitinfo1, 0);
        W64(s, exitinfo2, 0);
        cpu_report_svm_exit(c, SVM_EXIT_INVALID, 0, 0, 0, bad, h->rip);
        s->gif = false;
        cpu_set_interrupts_held(c, true);
        return true;
    }
    const char *um = unmodelled_intercept(s);
    if (um)
        return stop(s, "VMRUN with %s: hvsim does not model it yet", um);
    /* CPUID Fn8000_000A EBX is the number of ASIDs: a guest's are
     * 1..NASID-1. The APM's illegal states (15.5.1) name only ASID 0, and
     * it does not say what a processor does with a larger one. */
    if (s->asid >= s->caps.nasid)
        return stop(s, "VMRUN with guest ASID %u, but the processor has %u ASIDs (CPUID Fn8000_000A EBX; the "
                    "largest is %u): the APM does not say what happens, hvsim does not model it", s->asid,
                    s->caps.nasid, s->caps.nasid - 1);

    /* load guest state (APM 15.5.1) */
    cpu_set(c, CPU_EFER, R64(s, efer));
    cpu_set(c, CPU_CR0, R64(s, cr0));
    cpu_set(c, CPU_CR4, R64(s, cr4));
    cpu_set(c, CPU_CR3, R64(s, cr3));
    cpu_set(c, CPU_CR2, R64(s, cr2));
    static const unsigned segoff2[4] = { VMCB_OFF(es), VMCB_OFF(cs), VMCB_OFF(ss), VMCB_OFF(ds) };
    for (int i = 0; i < 4; i++) {
        struct cpu_seg seg;
        seg_read(s, segoff2[i], &seg, i == CPU_CS);
        cpu_set_seg(c, (enum cpu_segreg)i, &seg);
    }
    struct vmcb_seg gd, id;
    cpu_phys_read(c, s->vmcb + VMCB_OFF(gdtr), &gd, sizeof(gd));
    cpu_phys_read(c, s->vmcb + VMCB_OFF(idtr), &id, sizeof(id));
    struct cpu_dtr g = { gd.base, (uint16_t)gd.limit }, i = { id.base, (uint16_t)id.limit };
    cpu_set_dtr(c, false, &g);
    cpu_set_dtr(c, true, &i);
    cpu_set(c, CPU_RFLAGS, R64(s, rflags) | 2);
    cpu_set(c, CPU_RIP, R64(s, rip));
    cpu_set(c, CPU_RSP, R64(s, rsp));
    cpu_set(c, CPU_RAX, R64(s, rax));
    cpu_set_dr(c, 6, R64(s, dr6));
    cpu_set_dr(c, 7, R64(s, dr7));
    s->guest = true;
    s->gif = true;
    cpu_set_interrupts_held(c, false);
    cpu_set_guest_mode(c, true);
    /* nested paging (APM 15.25): guest-physical addresses through the
     * tables at N_CR3, in the host's 4-level format */
    s->np = R64(s, np_enable) & 1;
    if (s->np) {
        if (!(h->efer & (1ull << 10)))
            return stop(s, "nested paging with a host outside long mode: the legacy nested formats are not modelled");
        s->npt = (struct npt){ .ncr3 = R64(s, n_cr3), .host_efer = h->efer };
        /* G_PAT becomes the guest's PAT; the host's is kept for #VMEXIT
         * (15.25.8). The APM's illegal-state list does not name G_PAT, so a
         * reserved memory type in it is not modelled rather than guessed. */
        uint64_t gpat = R64(s, g_pat);
        if (!cpu_msr_read(c, MSR_PAT, &s->host_pat) || !cpu_msr_write(c, MSR_PAT, gpat)) {
            s->np = false;
            return stop(s, "VMRUN with nested paging and G_PAT %#llx, which holds a reserved memory type: "
                           "not modelled (APM 15.5.1 does not list it as an illegal state)",
                        (unsigned long long)gpat);
        }
    }
    cpu_set_slat(c, s->np);
    /* ASID-tagged translations (APM 15.16): TLB_CONTROL 1 flushes every
     * ASID, 3 this guest's, 7 this guest's non-global ones (3 and 7 only
     * with flush by ASID, 15.16.2) */
    unsigned tlbc = (unsigned)rd(s, s->vmcb, VMCB_OFF(tlb_control), 1);
    if ((tlbc == 3 || tlbc == 7) && !(s->caps.features & SVM_FEAT_FLUSH_ASID))
        return stop(s, "VMRUN with TLB_CONTROL = %u on a profile without flush by ASID (CPUID Fn8000_000A EDX "
                       "bit 6): the value is reserved there; not modelled", tlbc);
    if (tlbc == 1 || tlbc == 3 || tlbc == 7 || cpu_tlb_flush_always(c)) {
        struct cpu_tlb_inval inv = { .vpid = (tlbc == 1 || cpu_tlb_flush_always(c)) ? -1 : (int)s->asid,
                                     .eptrta = ~0ull, .keep_global = tlbc == 7 };
        cpu_tlb_invalidate(c, &inv, CPU_INVAL_VM_ENTRY, tlbc == 1 ? 2 : 1, s->asid, 0);
    } else if (tlbc != 0) {
        return stop(s, "VMRUN with TLB_CONTROL = %u (reserved)", tlbc);
    }
    /* The TLB is tagged by ASID alone (15.16): translations made through
     * one set of nested tables survive a change of N_CR3 or of the tables
     * until a TLB_CONTROL flush or INVLPGA, as on the processor. Mappings
     * made with and without nested paging are kept apart (tag 1 vs 0, never
     * an EPTRTA), which the APM leaves unspecified. */
    cpu_tlb_set_tag(c, (uint16_t)s->asid, s->np ? 1 : 0);
    cpu_reload_context(c);
    if (rd(s, s->vmcb, VMCB_OFF(interrupt_shadow), 8) & 1)
        cpu_set_interrupt_shadow(c, true);
    /* virtual interrupts (15.21): V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR,
     * V_INTR_VECTOR; with V_INTR_MASKING the host's RFLAGS.IF masks
     * physical interrupts while the guest runs (15.21.1); vGIF (15.33.2) */
    uint64_t vintr = R64(s, vintr);
    s->v_tpr = vintr & 0xF;
    s->v_irq = vintr & VINTR_V_IRQ;
    s->v_prio = (vintr >> VINTR_PRIO_SHIFT) & 0xF;
    s->v_ign_tpr = vintr & VINTR_IGN_TPR;
    s->v_vector = (vintr >> VINTR_VECTOR_SHIFT) & 0xFF;
    s->v_masking = vintr & VINTR_MASKING;
    s->vgif_on = (vintr & VINTR_GIF_ENABLE) && (s->caps.features & SVM_FEAT_VGIF);
    s->v_gif = vintr & VINTR_V_GIF;
    s->halt_check = false;
    cpu_set_guest_virtual_if(c, s->v_masking, h->rflags & RF_IF);
    cpu_set_guest_window(c, s->v_irq);
    /* the PAUSE filter (15.14.4): the count, and the threshold, if the
     * profile has them */
    s->pause_count0 = (s->caps.features & SVM_FEAT_PAUSE_FILTER) ? (uint16_t)rd(s, s->vmcb,
                      VMCB_OFF(pause_filter_count), 2) : 0;
    s->pause_count = s->pause_count0;
    s->pause_thresh = (s->caps.features & SVM_FEAT_PAUSE_THRESH) ? (uint16_t)rd(s, s->vmcb,
                      VMCB_OFF(pause_filter_threshold), 2) : 0;
    s->pause_seen = false;
    cpu_report_vm_entry(c, R64(s, rip));
    /* EVENTINJ (APM 15.20): delivered through the guest's IDT before its
     * first instruction */
    uint64_t inj = R64(s, eventinj);
    if (inj >> 31 & 1) {
        unsigned type = (inj >> 8) & 7;
        static const unsigned cpu_type[5] = { 0, 0, 2, 3, 4 };   /* INTR, -, NMI, exception, software int */
        W64(s, eventinj, inj & ~(1ull << 31));
        /* "An injected NMI does not block delivery of further NMIs" (15.20) */
        bool nmi_blocked = cpu_nmi_blocked(c);
        cpu_inject_event(c, inj & 0xFF, cpu_type[type], (inj >> 11) & 1, (uint32_t)(inj >> 32), 0);
        if (type == 2)
            cpu_set_nmi_blocked(c, nmi_blocked);
    }
    /* VMRUN retires last, as VM entry does (vmx.c): the interrupt shadow
     * set above covers the first guest instruction */
    cpu_insn_retire_jump(c, CPU_VCOST_ENTRY);
    /* an INIT that GIF = 0 held is recognized now (15.17, table 15-12) */
    cpu_release_init(c);
    return true;
}

/* ---- VMLOAD / VMSAVE (APM 15.5.2) ---- */

static bool op_vmload_save(svm_t *s, bool save, const struct cpu_virt_insn *in)
{
    cpu_t *c = s->cpu;
    uint64_t pa = cpu_get(c, CPU_RAX);
    if (cpu_mode(c) != CPU_MODE_64)
        pa &= 0xFFFFFFFFu;
    if ((pa & 0xFFF) || (pa >> cpu_maxphyaddr(c)))
        return fault(s, 13, "%s with rAX %#llx: not 4-KiB aligned or beyond the physical-address width: #GP(0)",
                     in->mnemonic, (unsigned long long)pa);
    static const struct { enum cpu_segreg seg; unsigned off; } segs[] = {
        { CPU_FS, VMCB_OFF(fs) }, { CPU_GS, VMCB_OFF(gs) }, { CPU_TR, VMCB_OFF(tr) }, { CPU_LDTR, VMCB_OFF(ldtr) },
    };
    static const struct { uint32_t msr; unsigned off; } msrs[] = {
        { MSR_KERNEL_GS, VMCB_OFF(kernel_gs_base) }, { MSR_STAR, VMCB_OFF(star) }, { MSR_LSTAR, VMCB_OFF(lstar) },
        { MSR_CSTAR, VMCB_OFF(cstar) }, { MSR_SFMASK, VMCB_OFF(sfmask) }, { MSR_SYSENTER_CS, VMCB_OFF(sysenter_cs) },
        { MSR_SYSENTER_ESP, VMCB_OFF(sysenter_esp) }, { MSR_SYSENTER_EIP, VMCB_OFF(sysenter_eip) },
    };
    uint64_t saved = s->vmcb;
    s->vmcb = pa;
    for (unsigned k = 0; k < 4; k++) {
        struct cpu_seg seg;
        if (save) {
            cpu_get_seg(c, segs[k].seg, &seg);
            seg_write(s, pa, segs[k].off, &seg);
        } else {
            seg_read(s, segs[k].off, &seg, false);
            cpu_set_seg(c, segs[k].seg, &seg);
        }
    }
    for (unsigned k = 0; k < sizeof(msrs) / sizeof(msrs[0]); k++) {
        uint64_t v = 0;
        if (save) {
            if (cpu_msr_read(c, msrs[k].msr, &v))
                wr(s, pa, msrs[k].off, 8, v);
        } else {
            v = rd(s, pa, msrs[k].off, 8);
            cpu_msr_write(c, msrs[k].msr, v);
        }
    }
    s->vmcb = saved;
    if (!save)
        cpu_reload_context(c);
    cpu_insn_report(c, 0, 0, 0, pa, 0);
    cpu_insn_retire(c);
    return true;
}

/* ---- the SVM instructions ---- */

static bool svm_insn(void *ctx, cpu_t *c, const struct cpu_virt_insn *in)
{
    svm_t *s = ctx;
    if (in->id < CPU_VI_VMRUN)
        return fault(s, 6, "%s on an AMD processor: #UD", in->mnemonic);
    enum cpu_mode m = cpu_mode(c);
    if (in->id == CPU_VI_VMMCALL) {
        /* "The intercept takes priority over exceptions. VMMCALL causes
         * #UD in the guest if it is not intercepted." (15.9, 15.18) */
        if (s->guest && ((s->i4 >> I4_VMMCALL) & 1)) {
            struct exit_info x = { .code = SVM_EXIT_VMMCALL };
            vmexit(s, &x, in->rip + in->len);
            cpu_insn_retire_jump(c, CPU_VCOST_EXIT);
            return true;
        }
        return fault(s, 6, "VMMCALL %s: #UD [APM vol. 3, VMMCALL]",
                     s->guest ? "in a guest without the VMMCALL intercept" : "outside a guest");
    }
    /* EFER.SVME, the mode, CPL (APM vol. 3, each instruction); in a guest
     * these come before the intercept ("Checks exceptions (#GP) before the
     * intercept", 15.9 table 15-7). SKINIT is not modelled: #UD, unless a
     * guest's SKINIT intercept takes it. */
    if (in->id == CPU_VI_SKINIT && !s->guest)
        return fault(s, 6, "SKINIT: secure initialization is not modelled on hvsim's AMD profiles: #UD");
    if (!(cpu_get(c, CPU_EFER) & EFER_SVME))
        return fault(s, 6, "%s with EFER.SVME = 0: #UD [APM vol. 3, %s]", in->mnemonic, in->mnemonic);
    if (m == CPU_MODE_REAL || m == CPU_MODE_V86)
        return fault(s, 6, "%s in %s: #UD", in->mnemonic, cpu_mode_name(m));
    if (cpu_cpl(c) != 0)
        return fault(s, 13, "%s at CPL %u: #GP(0)", in->mnemonic, cpu_cpl(c));
    if (s->guest) {
        /* in the guest: the intercepts of vectors 3 and 4 (15.9) */
        static const struct { enum cpu_virt_id id; int vec, bit; uint64_t code; } g[] = {
            { CPU_VI_VMRUN, 4, I4_VMRUN, SVM_EXIT_VMRUN }, { CPU_VI_VMLOAD, 4, I4_VMLOAD, SVM_EXIT_VMLOAD },
            { CPU_VI_VMSAVE, 4, I4_VMSAVE, SVM_EXIT_VMSAVE }, { CPU_VI_STGI, 4, I4_STGI, SVM_EXIT_STGI },
            { CPU_VI_CLGI, 4, I4_CLGI, SVM_EXIT_CLGI }, { CPU_VI_SKINIT, 4, I4_SKINIT, SVM_EXIT_SKINIT },
            { CPU_VI_INVLPGA, 3, I3_INVLPGA, SVM_EXIT_INVLPGA },
        };
        for (unsigned k = 0; k < sizeof(g) / sizeof(g[0]); k++)
            if (g[k].id == in->id && (((g[k].vec == 3 ? s->i3 : s->i4) >> g[k].bit) & 1)) {
                struct exit_info x = { .code = g[k].code };
                vmexit(s, &x, in->rip + in->len);
                cpu_insn_retire_jump(c, CPU_VCOST_EXIT);
                return true;
            }
        if ((in->id == CPU_VI_STGI || in->id == CPU_VI_CLGI) && s->vgif_on) {
            /* vGIF (15.33.2): STGI and CLGI set and clear the virtual GIF,
             * which masks virtual interrupts; physical interrupts are not
             * affected */
            s->v_gif = in->id == CPU_VI_STGI;
            cpu_insn_report(c, 0, 0, 0, s->v_gif, 0);
            cpu_insn_retire(c);
            return true;
        }
        if (in->id == CPU_VI_SKINIT)
            return fault(s, 6, "SKINIT: secure initialization is not modelled on hvsim's AMD profiles: #UD");
        return stop(s, "%s in a guest without its intercept%s: nested SVM is not modelled", in->mnemonic,
                    in->id == CPU_VI_STGI || in->id == CPU_VI_CLGI ? " or vGIF" : "");
    }
    switch (in->id) {
    case CPU_VI_VMRUN:
        return op_vmrun(s, in);
    case CPU_VI_VMLOAD:
        return op_vmload_save(s, false, in);
    case CPU_VI_VMSAVE:
        return op_vmload_save(s, true, in);
    case CPU_VI_STGI:
    case CPU_VI_CLGI:
        /* GIF = 0 holds INTR, NMI and INIT pending until STGI (15.17,
         * table 15-10) */
        s->gif = in->id == CPU_VI_STGI;
        cpu_set_interrupts_held(c, !s->gif);
        if (s->gif)
            cpu_release_init(c);
        cpu_insn_report(c, 0, 0, 0, s->gif, 0);
        cpu_insn_retire(c);
        return true;
    case CPU_VI_INVLPGA: {
        /* the mapping of linear rAX in ASID ECX (APM vol. 3, INVLPGA). No
         * translation is tagged with an ASID at or above the number of
         * ASIDs (VMRUN refuses them), so there is nothing to drop; the
         * tags are 16 bits, so such an ASID must not reach them. */
        uint64_t la = cpu_get(c, CPU_RAX);
        uint32_t asid = (uint32_t)cpu_get(c, CPU_RCX);
        if (asid < s->caps.nasid) {
            struct cpu_tlb_inval inv = { .vpid = (int)asid, .eptrta = ~0ull, .has_la = true, .la = la };
            cpu_tlb_invalidate(c, &inv, CPU_INVAL_INVVPID, 0, asid, la);
        }
        cpu_insn_report(c, 0, 0, 0, la, asid);
        cpu_insn_retire(c);
        return true;
    }
    default:
        return stop(s, "%s: not an SVM instruction hvsim knows", in->mnemonic);
    }
}

/* ---- intercepts in the guest (APM 15.8 - 15.15) ---- */

static enum cpu_guest_action exit_now(svm_t *s, uint64_t code, uint64_t info1, uint64_t info2, uint64_t nrip)
{
    struct exit_info x = { .code = code, .info1 = info1, .info2 = info2 };
    vmexit(s, &x, nrip);
    cpu_account_exit(s->cpu, true);
    return CPU_GUEST_EXITED;
}

static bool bit_at(svm_t *s, uint64_t base, uint64_t bit)
{
    uint8_t b = 0;
    cpu_phys_read(s->cpu, base + bit / 8, &b, 1);
    return (b >> (bit % 8)) & 1;
}

static bool msr_intercepted(svm_t *s, uint32_t msr, bool write)
{
    /* APM 15.11: 2 bits per MSR (read, write) in three 2-KiB vectors */
    uint64_t base;
    if (msr <= 0x1FFF) base = 0;
    else if (msr >= 0xC0000000u && msr <= 0xC0001FFFu) base = 0x800 * 8, msr -= 0xC0000000u;
    else if (msr >= 0xC0010000u && msr <= 0xC0011FFFu) base = 0x1000 * 8, msr -= 0xC0010000u;
    else return true;
    return bit_at(s, s->msrpm, base + 2ull * msr + (write ? 1 : 0));
}

/* No exit: execute gi with a value the guest sees instead (struct
 * cpu_guest_insn, out). */
static enum cpu_guest_action execute_with(struct cpu_guest_insn *gi, uint64_t value)
{
    gi->out.use_value = true;
    gi->out.value = value;
    return CPU_GUEST_EXECUTE;
}

/* A linear address as decode assists record it (15.8.3: "after segment
 * base addition and address size masking"): 32 bits outside 64-bit mode. */
static uint64_t linear(svm_t *s, uint64_t la)
{
    return cpu_mode(s->cpu) == CPU_MODE_64 ? la : la & 0xFFFFFFFFull;
}

/* EXITINFO1 of a CR or DR intercept with decode assists (15.8.1, tables
 * 15-2 and 15-3; EXITINFO1_MOV_CR): MOV CRx sets bit 63 and names its GPR,
 * CLTS, LMSW and SMSW record nothing; MOV DRx names its GPR. */
static uint64_t crdr_info(const svm_t *s, const struct cpu_guest_insn *gi)
{
    if (!(s->caps.features & SVM_FEAT_DECODE))
        return 0;
    switch (gi->cls) {
    case IC_MOV_FROM_CR: case IC_MOV_TO_CR:
        return EXITINFO1_MOV_CR | (gi->gpr & 0xF);
    case IC_MOV_FROM_DR: case IC_MOV_TO_DR:
        return gi->gpr & 0xF;
    default:
        return 0;
    }
}

/* MOV to/from CR8 that no CR8 intercept took (15.21.2 "Virtualizing
 * APIC.TPR"): with V_INTR_MASKING, reads return V_TPR and writes change
 * V_TPR only; without it, writes change both the APIC's TPR and V_TPR
 * and reads are as without SVM. A source with bits 63:4 set is #GP(0)
 * either way: cpu/ raises it, and nothing is written. */
static enum cpu_guest_action cr8_access(svm_t *s, struct cpu_guest_insn *gi)
{
    if (!gi->write)
        return s->v_masking ? execute_with(gi, s->v_tpr) : CPU_GUEST_EXECUTE;
    if (gi->src >> 4)
        return CPU_GUEST_EXECUTE;
    s->v_tpr = (uint8_t)(gi->src & 0xF);
    if (s->v_masking)
        gi->out.done = true;                       /* the APIC's TPR is not touched */
    return CPU_GUEST_EXECUTE;
}

/* PAUSE with the PAUSE intercept (15.9 table 15-7, 15.14.4 "Pause
 * Intercept Filtering"). VMRUN loads PAUSE_FILTER_COUNT into an internal
 * counter: each PAUSE decrements it "until it reaches zero at which time a
 * #VMEXIT is generated"; a count of 0 (or a profile without the filter)
 * makes every PAUSE exit. With a PAUSE_FILTER_THRESHOLD, a PAUSE more than
 * that many cycles after the previous one reloads the counter from the
 * VMCB instead and does not exit. Cycles are hvsim's virtual clock at the
 * start of each PAUSE (deterministic); the first PAUSE after VMRUN has no
 * predecessor and counts (the APM does not say). */
static enum cpu_guest_action pause_decision(svm_t *s, uint64_t nrip);

/* Data #PF and #NPF carry the instruction bytes with decode assists
 * (15.8.4): "This field is filled in only during data page faults.
 * Instruction-fetch page faults provide no additional information." */
static void want_insn_bytes(const svm_t *s, struct exit_info *x, uint64_t pf_code, uint64_t la)
{
    if ((s->caps.features & SVM_FEAT_DECODE) && !(pf_code & 0x10)) {
        x->insn_bytes = true;
        x->insn_la = la;
    }
}

/* RDTSC, RDTSCP and RDMSR of the TSC in the guest, not intercepted: the
 * guest's TSC is (host TSC * TSC_RATIO) + TSC_OFFSET (APM 15.30.5 "TSC
 * Ratio MSR": the ratio scales the host's TSC, including the value last
 * written to it, and TSC_OFFSET is added unscaled). TSC_RATIO is 8.32 fixed
 * point; cpu/'s scaling is VT-x's 16.48 (SDM 3C 26.3), so the ratio shifted
 * left by 16 gives the same product: (tsc * (ratio << 16)) >> 48 =
 * (tsc * ratio) >> 32, exact (the ratio has 40 bits). */
static enum cpu_guest_action guest_tsc(const svm_t *s, struct cpu_guest_insn *gi)
{
    if (s->tsc_ratio != TSC_RATIO_RESET) {
        gi->out.tsc_scale = true;
        gi->out.tsc_multiplier = s->tsc_ratio << 16;
    }
    return execute_with(gi, s->tsc_offset);
}

static enum cpu_guest_action guest_insn(void *ctx, cpu_t *c, struct cpu_guest_insn *gi)
{
    svm_t *s = ctx;
    if (!s->guest || gi->fault_first)
        return CPU_GUEST_EXECUTE;
    uint64_t nrip = gi->rip + gi->len;
    bool da = s->caps.features & SVM_FEAT_DECODE;
    struct { enum insn_class cls; int vec, bit; uint64_t code; } simple[] = {
        { IC_CPUID, 3, I3_CPUID, SVM_EXIT_CPUID }, { IC_HLT, 3, I3_HLT, SVM_EXIT_HLT },
        { IC_RDPMC, 3, I3_RDPMC, SVM_EXIT_RDPMC }, { IC_INVD, 3, I3_INVD, SVM_EXIT_INVD },
        { IC_IRET, 3, I3_IRET, SVM_EXIT_IRET },
        { IC_PUSHF, 3, I3_PUSHF, SVM_EXIT_PUSHF }, { IC_POPF, 3, I3_POPF, SVM_EXIT_POPF },
        { IC_WBINVD, 4, I4_WBINVD, SVM_EXIT_WBINVD }, { IC_MONITOR, 4, I4_MONITOR, SVM_EXIT_MONITOR },
        { IC_MWAIT, 4, I4_MWAIT, SVM_EXIT_MWAIT }, { IC_XSETBV, 4, I4_XSETBV, SVM_EXIT_XSETBV },
        { IC_INT1, 4, I4_ICEBP, SVM_EXIT_ICEBP }, { IC_RDTSC, 3, I3_RDTSC, SVM_EXIT_RDTSC },
        { IC_RDTSCP, 4, I4_RDTSCP, SVM_EXIT_RDTSCP },
        /* RSM: the intercept comes before RSM's #UD outside SMM (hvsim has
         * no SMM, so every RSM would be #UD): a VMM that emulates SMM for its
         * guest (KVM's rsm_interception) relies on the exit for a guest the
         * processor does not run in SMM; QEMU TCG checks the intercept first
         * too; Bochs 2.7 raises the #UD first (docs/differential.md) */
        { IC_RSM, 3, I3_RSM, SVM_EXIT_RSM },
        { IC_SIDT, 3, I3_IDTR_READ, 0x66 }, { IC_SGDT, 3, I3_GDTR_READ, 0x67 }, { IC_SLDT, 3, I3_LDTR_READ, 0x68 },
        { IC_STR, 3, I3_TR_READ, 0x69 }, { IC_LIDT, 3, I3_IDTR_WRITE, 0x6A }, { IC_LGDT, 3, I3_GDTR_WRITE, 0x6B },
        { IC_LLDT, 3, I3_LDTR_WRITE, 0x6C }, { IC_LTR, 3, I3_TR_WRITE, 0x6D },
    };
    for (unsigned k = 0; k < sizeof(simple) / sizeof(simple[0]); k++) {
        if (simple[k].cls != gi->cls)
            continue;
        uint32_t v = simple[k].vec == 3 ? s->i3 : s->i4;
        if ((v >> simple[k].bit) & 1)
            return exit_now(s, simple[k].code, 0, 0, nrip);
        break;
    }
    switch (gi->cls) {
    case IC_INT:
        /* INTn (15.9: before any exception); decode assists: EXITINFO1 is
         * the vector (15.8.2, table 15-4) */
        if ((s->i3 >> I3_INTN) & 1)
            return exit_now(s, SVM_EXIT_SWINT, da ? gi->src & 0xFF : 0, 0, nrip);
        break;
    case IC_INVLPG:
        /* decode assists: EXITINFO1 is the linear address (15.8.3, table 15-5) */
        if ((s->i3 >> I3_INVLPG) & 1)
            return exit_now(s, SVM_EXIT_INVLPG, da ? linear(s, gi->la) : 0, 0, nrip);
        break;
    case IC_PAUSE:
        return pause_decision(s, nrip);
    case IC_HLT:
        /* not intercepted: a pending virtual interrupt may end the HLT
         * state (15.21.4): have guest_boundary called at once */
        if (s->v_irq) {
            s->halt_check = true;
            cpu_set_guest_deadline(c, cpu_cycles(c));
        }
        return CPU_GUEST_EXECUTE;
    case IC_RDTSC:
    case IC_RDTSCP:
        return guest_tsc(s, gi);
    case IC_IN: case IC_OUT: case IC_INS: case IC_OUTS: {
        if (!((s->i3 >> I3_IOIO) & 1))
            return CPU_GUEST_EXECUTE;
        unsigned port = gi->port == ~0u ? (unsigned)(cpu_get(c, CPU_RDX) & 0xFFFF) : gi->port;
        bool hit = false;
        for (unsigned b = 0; b < gi->size; b++)
            hit = hit || bit_at(s, s->iopm, port + b);
        if (!hit)
            return CPU_GUEST_EXECUTE;
        /* EXITINFO1 (APM 15.10.2): port 31:16, segment 12:10, address size
         * 9:7, operand size 6:4, REP 3, STR 2, IN 0; EXITINFO2: next RIP */
        unsigned asz = gi->string ? gi->form.addr_size : (cpu_mode(c) == CPU_MODE_64 ? 8 : 4);
        uint64_t info = ((uint64_t)port << 16) | (gi->write ? 0 : 1) | (gi->string ? 4 : 0) | (gi->rep ? 8 : 0) |
                        ((uint64_t)(gi->size == 1 ? 1 : gi->size == 2 ? 2 : 4) << 4) |
                        ((uint64_t)(asz == 2 ? 1 : asz == 4 ? 2 : 4) << 7) |
                        (gi->string && gi->write ? (uint64_t)(gi->form.seg & 7) << 10 : 0);   /* OUTS: its segment */
        return exit_now(s, SVM_EXIT_IOIO, info, nrip, nrip);
    }
    case IC_RDMSR: case IC_WRMSR: {
        if (!((s->i3 >> I3_MSR) & 1))
            break;
        bool write = gi->cls == IC_WRMSR;
        uint32_t msr = (uint32_t)cpu_get(c, CPU_RCX);
        if (msr_intercepted(s, msr, write))
            return exit_now(s, SVM_EXIT_MSR, write ? 1 : 0, 0, nrip);
        break;
    }
    case IC_MOV_FROM_CR: case IC_SMSW:
        if ((s->cr_icpt >> (gi->cls == IC_SMSW ? 0 : gi->cr)) & 1)
            return exit_now(s, SVM_EXIT_READ_CR0 + (gi->cls == IC_SMSW ? 0 : gi->cr), crdr_info(s, gi), 0, nrip);
        if (gi->cls == IC_MOV_FROM_CR && gi->cr == 8)
            return cr8_access(s, gi);
        break;
    case IC_MOV_TO_CR: case IC_CLTS: case IC_LMSW: {
        unsigned cr = gi->cls == IC_MOV_TO_CR ? gi->cr : 0;
        if ((s->cr_icpt >> (16 + cr)) & 1)
            return exit_now(s, SVM_EXIT_WRITE_CR0 + cr, crdr_info(s, gi), 0, nrip);
        if (cr == 0 && gi->cls != IC_CLTS && ((s->i3 >> I3_CR0_SEL) & 1)) {
            /* selective CR0 write: a change of a bit other than TS and MP;
             * LMSW treats it as non-selective (15.9 table 15-7) */
            uint64_t old = cpu_get(c, CPU_CR0);
            if (gi->cls == IC_LMSW || ((gi->src ^ old) & ~0xAull))
                return exit_now(s, SVM_EXIT_CR0_SEL_WRITE, crdr_info(s, gi), 0, nrip);
        }
        if (gi->cls == IC_MOV_TO_CR && gi->cr == 8)
            return cr8_access(s, gi);
        break;
    }
    case IC_MOV_FROM_DR: case IC_MOV_TO_DR: {
        /* DR0-15 read/write intercepts, exit codes 0x20 + n / 0x30 + n
         * (15.9 table 15-7): "All normal exception checks take precedence
         * over the SVM intercepts": #GP(0) at CPL > 0, #UD for DR4/DR5 with
         * CR4.DE, #DB with DR7.GD, #GP(0) for a DR6/DR7 value with bits
         * 63:32 set; cpu/ raises them. DR4/DR5 without CR4.DE check the
         * intercept bit of the register as encoded (4/5). */
        unsigned n = gi->cr & 15;
        bool write = gi->cls == IC_MOV_TO_DR;
        if (cpu_cpl(c) != 0 || ((n == 4 || n == 5) && (cpu_get(c, CPU_CR4) & CR4_DE)) ||
            (cpu_get_dr(c, 7) & DR7_GD) || (write && (n == 4 || n == 5 || n == 6 || n == 7) && (gi->src >> 32)))
            return CPU_GUEST_EXECUTE;
        if ((s->dr_icpt >> (n + (write ? 16 : 0))) & 1)
            return exit_now(s, (write ? SVM_EXIT_WRITE_DR0 : SVM_EXIT_READ_DR0) + n, crdr_info(s, gi), 0, nrip);
        break;
    }
    default:
        break;
    }
    if (gi->cls == IC_RDMSR && (uint32_t)cpu_get(c, CPU_RCX) == MSR_TSC)
        return guest_tsc(s, gi);                   /* RDMSR of IA32_TSC: as RDTSC */
    return CPU_GUEST_EXECUTE;
}

static enum cpu_guest_action pause_decision(svm_t *s, uint64_t nrip)
{
    if (!((s->i3 >> I3_PAUSE) & 1))
        return CPU_GUEST_EXECUTE;
    bool exits = true;
    if (s->pause_count0) {
        uint64_t now = cpu_cycles(s->cpu);
        if (s->pause_thresh && s->pause_seen && now - s->pause_last > s->pause_thresh) {
            s->pause_count = s->pause_count0;      /* far apart: reloaded, execution continues */
            exits = false;
        } else {
            exits = --s->pause_count == 0;
        }
        s->pause_seen = true;
        s->pause_last = now;
    }
    return exits ? exit_now(s, SVM_EXIT_PAUSE, 0, 0, nrip) : CPU_GUEST_EXECUTE;
}

/* An unmasked x87 exception with CR0.NE = 0 in the guest. The engine
 * raises #MF where an x87 instruction meets the pending error (the next
 * waiting x87 instruction); with CR0.NE = 0 the processor reports it the
 * legacy way instead (SDM 1 8.7, "Handling x87 FPU Exceptions in
 * Software"; APM 2 8.2.15 "x87 Floating-Point Exception-Pending"): it
 * asserts FERR# and, IGNNE# being deasserted (hvsim models no chipset that
 * asserts it, and no IRQ 13), freezes at that instruction until an
 * interrupt. The FERR_FREEZE intercept (vector 3 bit 30, exit code 0x7E,
 * APM 2 table B-1 "intercept processor 'freezing' during legacy FERR
 * handling") exits instead: the guest RIP is the instruction that froze,
 * EXITINFO1/2 are 0, nRIP 0 (not an instruction intercept, 15.7.1).
 * Without the intercept the freeze and FERR# are not modelled: the run
 * stops. */
static enum cpu_guest_action ferr_freeze(svm_t *s, const struct cpu_guest_event *e)
{
    cpu_t *c = s->cpu;
    if (!((s->i3 >> I3_FERR) & 1)) {
        stop(s, "an unmasked x87 exception at RIP %#llx in a guest with CR0.NE = 0 and no FERR_FREEZE intercept: "
             "legacy x87 error reporting (FERR#, IGNNE#, the freeze) is not modelled",
             (unsigned long long)e->fault_rip);
        return CPU_GUEST_STOP;
    }
    struct exit_info x = { .code = SVM_EXIT_FERR_FREEZE };
    cpu_set_rip_linear(c, e->fault_rip);
    vmexit(s, &x, 0);
    cpu_account_exit(c, false);
    return CPU_GUEST_EXITED;
}

static enum cpu_guest_action guest_event(void *ctx, cpu_t *c, const struct cpu_guest_event *e)
{
    svm_t *s = ctx;
    if (!s->guest)
        return CPU_GUEST_EXECUTE;
    /* EXITINTINFO: the event being delivered when the intercept happened (APM 15.7.2) */
    uint64_t intinfo = exitintinfo(e->vectoring, e->orig_type, e->orig_vector, e->orig_has_ec, e->orig_ec);
    if (e->type == 0) {
        if (!((s->i3 >> I3_INTR) & 1))
            return CPU_GUEST_EXECUTE;
        /* physical INTR intercept: the interrupt stays pending (APM 15.13.1);
         * nRIP 0: not an instruction intercept (15.7.1) */
        struct exit_info x = { .code = SVM_EXIT_INTR, .intinfo = intinfo };
        vmexit(s, &x, 0);
        cpu_account_exit(c, false);
        return CPU_GUEST_EXITED;
    }
    if (e->type == 2) {
        /* NMI intercept (15.13.2, 15.21.9 table 15-13): #VMEXIT(NMI) with
         * the NMI still pending; after the exit GIF = 0 holds it until the
         * host's STGI, and the host takes it through its own IDT. nRIP is
         * 0: not an instruction intercept (15.7.1). */
        if (!((s->i3 >> I3_NMI) & 1))
            return CPU_GUEST_EXECUTE;
        struct exit_info x = { .code = SVM_EXIT_NMI, .intinfo = intinfo };
        vmexit(s, &x, 0);
        cpu_raise_nmi(c);
        cpu_account_exit(c, false);
        return CPU_GUEST_EXITED;
    }
    if (e->type == 4)
        return CPU_GUEST_EXECUTE;                  /* INT n: the INTn intercept decided before delivery */
    if (e->type == 3 && e->vector == 16 && !e->vectoring && !(cpu_get(c, CPU_CR0) & CR0_NE))
        return ferr_freeze(s, e);
    if (!((s->exc_icpt >> (e->vector & 31)) & 1))
        return CPU_GUEST_EXECUTE;
    /* exception intercept: EXITINFO1 the error code, EXITINFO2 the #PF
     * address (CR2 not written) (APM 15.12); a data #PF records the
     * instruction bytes with decode assists (15.12.15, 15.8.4) */
    struct exit_info x = { .code = SVM_EXIT_EXCP0 + (e->vector & 31), .info1 = e->has_ec ? e->ec : 0,
                           .intinfo = intinfo };
    if (e->vector == 14) {
        x.info2 = cpu_get(c, CPU_CR2);
        cpu_set(c, CPU_CR2, e->cr2_before);
        want_insn_bytes(s, &x, x.info1, e->fault_rip);
    }
    /* nRIP (15.7.1): the next instruction for the exceptions of INT3 and
     * INTO (cpu/'s software exceptions); 0 for every other exception (a
     * #BR, which only BOUND raises, too: cpu/ does not give its length) */
    cpu_set_rip_linear(c, e->fault_rip);
    vmexit(s, &x, e->type == 6 ? e->next_rip : 0);
    cpu_account_exit(c, false);
    return CPU_GUEST_EXITED;
}

/* At an instruction boundary of the guest while V_IRQ is set (cpu/'s
 * interrupt window: RFLAGS.IF = 1 and no interrupt shadow), or right after
 * a HLT with V_IRQ set: the virtual interrupt (15.21.4). It is taken if its
 * priority V_INTR_PRIO is above V_TPR (or V_IGN_TPR), RFLAGS.IF = 1, the
 * (virtual, with vGIF) GIF is 1 and there is no interrupt shadow; physical
 * NMIs and interrupts come first, taken or intercepted. The VINTR
 * intercept (exit code 0x64, 15.13.5) is checked "just before a guest
 * takes a virtual interrupt", which then stays pending in V_IRQ.
 * Otherwise V_IRQ is cleared and the interrupt is delivered through the
 * guest's IDT with vector V_INTR_VECTOR, as an external interrupt (an
 * intercept during the delivery reports it in EXITINTINFO, type 0). */
static enum cpu_guest_action guest_boundary(void *ctx, cpu_t *c)
{
    svm_t *s = ctx;
    if (!s->guest)
        return CPU_GUEST_EXECUTE;
    if (s->halt_check) {
        s->halt_check = false;
        cpu_set_guest_deadline(c, ~0ull);
    }
    if (!s->v_irq || !(cpu_get(c, CPU_RFLAGS) & RF_IF) || cpu_blocking_by_sti(c) || cpu_blocking_by_mov_ss(c) ||
        (s->vgif_on && !s->v_gif) || (!s->v_ign_tpr && s->v_prio <= s->v_tpr))
        return CPU_GUEST_EXECUTE;
    if (cpu_nmi_ready(c) || cpu_intr_ready(c))
        return CPU_GUEST_EXECUTE;                  /* "Physical interrupts take priority over virtual interrupts" */
    if (!s->guest)
        return CPU_GUEST_EXITED;                   /* the APIC poll behind them took an SMI or INIT intercept */
    if ((s->i3 >> I3_VINTR) & 1) {
        struct exit_info x = { .code = SVM_EXIT_VINTR };
        vmexit(s, &x, 0);                          /* nRIP 0: not an instruction intercept (15.7.1) */
        cpu_account_exit(c, false);
        return CPU_GUEST_EXITED;
    }
    s->v_irq = false;
    cpu_set_guest_window(c, false);
    cpu_leave_halt(c);                             /* HLT resumes after the HLT */
    cpu_inject_event(c, s->v_vector, 0, false, 0, 0);
    return s->guest ? CPU_GUEST_EXECUTE : CPU_GUEST_EXITED;
}

/* The task-switch intercept (vector 3 bit 29; APM 15.14.1 "Task Switch
 * Intercept", exit code 0x7D VMEXIT_TASK_SWITCH in appendix C). cpu/task.c
 * calls this once a task switch (far JMP or CALL to a TSS or a task gate,
 * IRET with NT = 1, an event through a task gate in the IDT) has passed
 * the checks on the gate and the new TSS descriptor (a fault there comes
 * first, and meets the exception intercepts); nothing of the switch has
 * happened. Without the intercept the switch goes on in cpu/, which does
 * not model it (the run stops, naming it).
 *
 *   EXITINFO1: 15:0 the selector of the TSS being switched to (RPL kept)
 *   EXITINFO2:
 *    63    49 48 47  45 44 43  39 38 37 36 35   32 31             0
 *   +--------+--+------+--+------+--+--+--+------+----------------+
 *   |   0    |RF|  0   |EV|  0   |J |0 |I |  0   |   error code   |
 *   +--------+--+------+--+------+--+--+--+------+----------------+
 *    I  (36) the switch is an IRET's     J  (38) a far JMP's
 *    EV (44) an error code is pushed (an exception through a task gate),
 *            bits 31:0 hold it
 *    RF (48) the EFLAGS.RF the outgoing TSS would receive: 1 for a
 *            fault-class exception other than #DB, which saves RF = 1 in
 *            the EFLAGS image (SDM 3A 6.12.1 "Exception- or Interrupt-
 *            Handler Procedures"), else the current RF
 *   (bit positions: the APM's table in 15.14.1, as KVM's
 *   SVM_EXITINFOSHIFT_TS_* and Bochs's SvmInterceptTaskSwitch use them;
 *   a CALL is none of I and J.)
 *
 * A task gate in the IDT records the event being delivered in EXITINTINFO
 * (15.7.2). The guest RIP is the CALL, JMP, IRET, INTn, INT3 or INTO, or
 * for other events what the old TSS would have received; nRIP is 0: this
 * is not an instruction intercept of 15.9 (15.7.1). */
static enum cpu_guest_action guest_task_switch(void *ctx, cpu_t *c, const struct cpu_task_switch *t)
{
    svm_t *s = ctx;
    if (!s->guest || !((s->i3 >> I3_TASK_SWITCH) & 1))
        return CPU_GUEST_EXECUTE;
    /* fault-class exceptions (SDM 3A table 6-1; #DB is left out: it saves RF as it is) */
    static const uint32_t fault_vectors = 1u << 0 | 1u << 5 | 1u << 6 | 1u << 7 | 1u << 10 | 1u << 11 | 1u << 12 |
                                          1u << 13 | 1u << 14 | 1u << 16 | 1u << 17 | 1u << 19 | 1u << 20 | 1u << 21;
    bool idt = t->source == CPU_TASK_IDT;
    bool rf = (cpu_get(c, CPU_RFLAGS) & RF_RF) ||
              (idt && t->type == 3 && t->vector < 32 && ((fault_vectors >> t->vector) & 1));
    struct exit_info x = {
        .code = SVM_EXIT_TASK_SWITCH, .info1 = t->tss_sel,
        .info2 = (t->source == CPU_TASK_IRET ? TS_INFO2_IRET : 0) | (t->source == CPU_TASK_JMP ? TS_INFO2_JMP : 0) |
                 (idt && t->has_ec ? TS_INFO2_HAS_EC | t->ec : 0) | (rf ? TS_INFO2_RF : 0),
        .intinfo = exitintinfo(idt, t->type, t->vector, t->has_ec, t->ec),
    };
    cpu_set_rip_linear(c, t->rip);
    vmexit(s, &x, 0);
    /* CALL, JMP and IRET count as executed, like other instruction exits;
     * an INTn that met the gate was counted by cpu/ */
    cpu_account_exit(c, !idt);
    return CPU_GUEST_EXITED;
}

static bool guest_shutdown(void *ctx, cpu_t *c)
{
    svm_t *s = ctx;
    (void)c;
    if (!s->guest || !((s->i3 >> I3_SHUTDOWN) & 1))
        return false;
    struct exit_info x = { .code = SVM_EXIT_SHUTDOWN };
    vmexit(s, &x, 0);
    cpu_account_exit(s->cpu, false);
    return true;
}

/* An SMI at an instruction boundary (cpu_virt_ops.smi_signal; it comes
 * from a local-APIC IPI with delivery mode SMI, apic.c). GIF = 0 holds it
 * pending (APM 2 15.17, table 15-10). In a guest with the SMI intercept
 * (vector 3 bit 2, 15.13.3) it is #VMEXIT(SMI), exit code 0x62, and stays
 * pending: GIF = 0 after the exit holds it until the host's STGI, which
 * lets it into SMM (as KVM's smi_interception expects: it does nothing,
 * and the host's STGI takes the SMI). EXITINFO1 (15.13.3): bit 0, the SMI
 * source, 1 for an SMI from outside the core (an APIC message is one);
 * bits 63:32 describe an I/O-trap SMI (none: the core raises no SMIs of
 * its own here), so 0; EXITINFO2 0; nRIP 0 (not an instruction intercept,
 * 15.7.1); the guest RIP is the next instruction (a HLT is left).
 * Anywhere else the SMI would enter SMM, which hvsim does not model: the
 * run stops (apic.c). */
#define SMI_INFO1_EXTERNAL 1ull
static int smi_signal(void *ctx, cpu_t *c)
{
    svm_t *s = ctx;
    if (!s->gif)
        return CPU_SMI_HELD;
    if (!s->guest || !((s->i3 >> I3_SMI) & 1))
        return CPU_SMI_SMM;
    struct exit_info x = { .code = SVM_EXIT_SMI, .info1 = SMI_INFO1_EXTERNAL };
    vmexit(s, &x, 0);
    cpu_account_exit(c, false);
    return CPU_SMI_EXITED;
}

static int init_signal(void *ctx, cpu_t *c)
{
    svm_t *s = ctx;
    (void)c;
    if (s->guest && ((s->i3 >> I3_INIT) & 1)) {
        struct exit_info x = { .code = SVM_EXIT_INIT };
        vmexit(s, &x, 0);
        cpu_account_exit(s->cpu, false);
        return CPU_INIT_CONSUMED;
    }
    if (s->guest)
        return CPU_INIT_DELIVER;
    return s->gif ? CPU_INIT_DELIVER : CPU_INIT_BLOCKED;   /* GIF = 0 holds INIT (APM 15.17) */
}

/* ---- nested paging: the cpu/ seam (npt.c) ---- */

static int svm_slat(void *ctx, cpu_t *c, uint64_t gpa, unsigned acc, struct cpu_slat *out)
{
    svm_t *s = ctx;
    return npt_translate(&s->npt, c, gpa, acc, out);
}

/* #NPF (exit code 0x400, APM 15.25.6): EXITINFO1 the error code, EXITINFO2
 * the guest-physical address; the guest RIP is the faulting instruction. */
static enum cpu_guest_action svm_slat_exit(void *ctx, cpu_t *c, const struct cpu_slat_fault *f)
{
    svm_t *s = ctx;
    uint64_t info1;
    if (!s->guest || !npt_fault_info(&s->npt, c, f, &info1)) {
        stop(s, "a nested page fault at guest-physical %#llx that did not recur", (unsigned long long)f->gpa);
        return CPU_GUEST_STOP;
    }
    uint64_t intinfo = exitintinfo(f->vectoring, f->orig_type, f->orig_vector, f->orig_has_ec, f->orig_ec);
    cpu_set_rip_linear(c, f->rip);
    struct exit_info x = { .code = SVM_EXIT_NPF, .info1 = info1, .info2 = f->gpa, .intinfo = intinfo };
    want_insn_bytes(s, &x, info1, f->rip);         /* decode assists: a data #NPF (15.8.4) */
    vmexit(s, &x, 0);                              /* nRIP 0: not an instruction intercept (15.7.1) */
    cpu_account_exit(c, false);
    return CPU_GUEST_EXITED;
}

/* ---- MSRs and CPUID (APM 15.4, 15.30) ---- */

static int svm_msr(void *ctx, cpu_t *c, uint32_t index, bool write, uint64_t *val)
{
    svm_t *s = ctx;
    switch (index) {
    case MSR_VM_CR:
        if (!write) {
            *val = s->vm_cr;
            return 1;
        }
        if (*val & ~(VM_CR_LOCK | VM_CR_SVMDIS))
            return 0;
        if ((*val & VM_CR_SVMDIS) && (cpu_get(c, CPU_EFER) & EFER_SVME))
            return 0;                          /* SVMDIS with EFER.SVME = 1: #GP, whatever LOCK is (APM 15.30.1) */
        if (!(s->vm_cr & VM_CR_LOCK))
            s->vm_cr = *val;                   /* locked: writes to LOCK and SVMDIS are silently ignored (15.30.1) */
        return 1;
    case MSR_VM_HSAVE_PA:
        if (!write) {
            *val = s->hsave_pa;
            return 1;
        }
        if ((*val & 0xFFF) || (*val >> cpu_maxphyaddr(c)))
            return 0;                          /* must be 4-KiB aligned and inside the physical space */
        s->hsave_pa = *val;
        return 1;
    case MSR_TSC_RATIO:
        /* APM 15.30.5: the guest's TSC rate, 8.32 fixed point (integer part
         * 39:32, fraction 31:0), reset 1.0; bits 63:40 are reserved (#GP).
         * Without CPUID Fn8000_000A EDX bit 4 (TscRateMsr) the MSR does not
         * exist: #GP. It applies only in guest mode (guest_tsc). */
        if (!(s->caps.features & SVM_FEAT_TSC_RATE))
            return 0;
        if (!write) {
            *val = s->tsc_ratio;
            return 1;
        }
        if (*val & TSC_RATIO_MBZ)
            return 0;
        s->tsc_ratio = *val;
        return 1;
    case MSR_EFER:
        if (write && (*val & EFER_SVME) && (s->vm_cr & VM_CR_SVMDIS))
            return 0;                          /* SVM disabled by VM_CR.SVMDIS (APM 15.4) */
        return -1;
    default:
        return -1;
    }
}

static void svm_cpuid(void *ctx, cpu_t *c, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    svm_t *s = ctx;
    (void)c; (void)sub;
    if (leaf == 0x80000000 && r[0] < 0x8000000A)
        r[0] = 0x8000000A;
    if (leaf == 0x80000001)
        r[2] |= 1u << 2;                       /* SVM */
    if (leaf == 0x8000000A) {
        r[0] = s->caps.revision;
        r[1] = s->caps.nasid;
        r[2] = 0;
        r[3] = s->caps.features;
    }
}

svm_t *svm_attach(cpu_t *cpu, const struct svm_caps *caps)
{
    svm_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cpu = cpu;
    s->caps = *caps;
    s->gif = true;
    s->tsc_ratio = TSC_RATIO_RESET;
    static const struct cpu_virt_ops proto = {
        .insn = svm_insn, .msr = svm_msr, .cpuid = svm_cpuid, .guest_insn = guest_insn, .guest_event = guest_event,
        .guest_boundary = guest_boundary, .guest_shutdown = guest_shutdown, .init_signal = init_signal,
        .smi_signal = smi_signal,
        .slat = svm_slat, .slat_exit = svm_slat_exit, .guest_task_switch = guest_task_switch,
    };
    struct cpu_virt_ops ops = proto;
    ops.ctx = s;
    cpu_set_virt_ops(cpu, &ops);
    return s;
}

void svm_detach(svm_t *s)
{
    if (!s)
        return;
    cpu_set_virt_ops(s->cpu, NULL);
    free(s);
}
