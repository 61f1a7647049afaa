/*
 * entry_checks.c — the VM-entry checks of Intel SDM vol. 3C, "VM Entries"
 * ("Checks on VMX Controls", "Checks on the Host-State Area", "Checks on the
 * Guest-State Area"), one CHECK() line per row of entry_checks.def.
 *
 * Pure: reads the VMCS through env->field and guest memory through
 * env->phys_read; no state, no allocation. Called by the VMX model from
 * VMLAUNCH/VMRESUME, stage by stage (controls, host, guest).
 *
 * CHECK(ID, condition, detail format, ...) fails the stage with row ID when
 * the condition is false, recording the condition's text and the values
 * involved. Within a stage the checks run in the order of the .def (the
 * SDM's order); an assertion keeps it so. A check only runs when the SDM
 * says it applies, which is the `if` around it; what it tests is its line.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "entry_checks.h"
#include "vmx.h"
#include "vmx_bits.h"

/* ---- the table ---- */

static const struct {
    const char *name, *section, *text;
    enum vmentry_kind kind;
} rows[VMCHK_COUNT] = {
#define X(id, kind_, sec, text_) [VMCHK_##id] = { #id, sec, text_, VMCHK_KIND_##kind_ },
#include "entry_checks.def"
#undef X
};

const char *vmentry_check_name(enum vmentry_check c) { return (unsigned)c < VMCHK_COUNT ? rows[c].name : NULL; }
const char *vmentry_check_section(enum vmentry_check c) { return (unsigned)c < VMCHK_COUNT ? rows[c].section : NULL; }
const char *vmentry_check_text(enum vmentry_check c) { return (unsigned)c < VMCHK_COUNT ? rows[c].text : NULL; }
enum vmentry_kind vmentry_check_kind(enum vmentry_check c)
{
    return (unsigned)c < VMCHK_COUNT ? rows[c].kind : VMCHK_KIND_CONTROL;
}

const char *vmentry_kind_name(enum vmentry_kind k)
{
    static const char *const names[] = {
        [VMCHK_KIND_CONTROL] = "CONTROL", [VMCHK_KIND_HOST] = "HOST", [VMCHK_KIND_GUEST] = "GUEST",
        [VMCHK_KIND_GUEST_PDPTE] = "GUEST_PDPTE", [VMCHK_KIND_GUEST_LINK] = "GUEST_LINK",
        [VMCHK_KIND_GUEST_NMI] = "GUEST_NMI",
    };
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

int vmentry_check_by_name(const char *name)
{
    for (int i = 0; name && i < VMCHK_COUNT; i++)
        if (!strcmp(rows[i].name, name))
            return i;
    return -1;
}

/* Exit qualification of a VM-entry failure (SDM 3C "VM-Entry Failures
 * During or After Loading Guest State"). */
static uint32_t qualification_of(enum vmentry_kind k)
{
    switch (k) {
    case VMCHK_KIND_GUEST_PDPTE: return 2;
    case VMCHK_KIND_GUEST_NMI: return 3;
    case VMCHK_KIND_GUEST_LINK: return 4;
    default: return 0;
    }
}

int vmentry_failure_format(const struct vmentry_failure *f, char *buf, size_t len)
{
    const char *text = vmentry_check_text(f->check);
    if (!text)
        return snprintf(buf, len, "VM entry failed: unknown check %d", (int)f->check);
    if (f->detail[0])
        return snprintf(buf, len, "VM entry failed: %s (%s) [SDM 3C, %s]", text, f->detail,
                        vmentry_check_section(f->check));
    return snprintf(buf, len, "VM entry failed: %s [SDM 3C, %s]", text, vmentry_check_section(f->check));
}

/* ---- architectural bits the checks name (SDM 3A 2.5, 2.2.1, 17.4.1) ---- */

#define CR0_PE     (1ull << 0)
#define CR0_WP     (1ull << 16)
#define CR0_PG     (1ull << 31)
#define CR4_PAE    (1ull << 5)
#define CR4_LA57   (1ull << 12)
#define CR4_PCIDE  (1ull << 17)
#define CR4_CET    (1ull << 23)
#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define EFER_NXE   (1ull << 11)
#define EFER_VALID (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)   /* what Intel profiles implement */
#define RFLAGS_TF  (1ull << 8)
#define RFLAGS_IF  (1ull << 9)
#define RFLAGS_VM  (1ull << 17)
#define RFLAGS_RESERVED 0xFFFFFFFFFFC08028ull   /* 63:22, 15, 5, 3 */
#define DEBUGCTL_BTF (1ull << 1)
#define DEBUGCTL_RESERVED 0xFFFFFFFFFFFF003Cull /* 5:2 and 63:16 */
#define DR7_HIGH   0xFFFFFFFF00000000ull
#define S_CET_RESERVED 0x3C0ull                 /* 9:6 */

/* Controls vmx_bits.h does not name (SDM 3C tables 25-7, 25-13, 25-15). */
#define PROC2_SPP          (1u << 23)
#define PROC2_PT_GPA       (1u << 24)
#define EXIT_CLEAR_RTIT    (1u << 25)
#define EXIT_LOAD_CET      (1u << 28)
#define EXIT_LOAD_PKRS     (1u << 29)
#define EXIT_SECONDARY     (1u << 31)
#define ENTRY_LOAD_BNDCFGS (1u << 16)
#define ENTRY_LOAD_RTIT    (1u << 18)
#define ENTRY_LOAD_UINV    (1u << 19)
#define ENTRY_LOAD_CET     (1u << 20)
#define ENTRY_LOAD_PKRS    (1u << 22)

/*
 * VM-entry interruption-information field (SDM 3C table 25-17):
 *
 *   31  30        12 11  10    8 7        0
 *  +---+------------+---+-------+----------+
 *  | V |  reserved  |DEC| type  |  vector  |
 *  +---+------------+---+-------+----------+
 *   type: 0 external interrupt, 1 reserved, 2 NMI, 3 hardware exception,
 *         4 software interrupt, 5 privileged software exception,
 *         6 software exception, 7 other event
 */
#define INTR_VALID        (1u << 31)
#define INTR_DELIVER_EC   (1u << 11)
#define INTR_RESERVED     0x7FFFF000u
#define INTR_TYPE(i)      (((i) >> 8) & 7u)
#define INTR_VECTOR(i)    ((i) & 0xFFu)
enum { EV_EXT_INT = 0, EV_RESERVED = 1, EV_NMI = 2, EV_HW_EXC = 3, EV_SW_INT = 4, EV_PRIV_SW_EXC = 5,
       EV_SW_EXC = 6, EV_OTHER = 7 };

/* Guest interruptibility state (SDM 3C table 25-3). */
#define BLOCK_STI      (1u << 0)
#define BLOCK_MOV_SS   (1u << 1)
#define BLOCK_SMI      (1u << 2)
#define BLOCK_NMI      (1u << 3)
#define ENCLAVE_INTR   (1u << 4)

/* Guest pending debug exceptions (SDM 3C table 25-4). */
#define PDBG_BS        (1ull << 14)
#define PDBG_RTM       (1ull << 16)
#define PDBG_ENABLED_BP (1ull << 12)
#define PDBG_RESERVED  0xFFFFFFFFFFFEAFF0ull    /* 11:4, 13, 15, 63:17 */
#define PDBG_RTM_MBZ   0xFFFFFFFFFFFEEFFFull    /* with RTM: 11:0, 15:13, 63:17 */

/*
 * Segment access rights as the VMCS holds them (SDM 3C table 25-2):
 *
 *   31     17 16  15 14  13  12  11  8 7  6 5 4  3    0
 *  +---------+---+--+---+---+---+-----+--+---+--+------+
 *  |reserved |UNU|G |D/B| L |AVL| rsvd|P |DPL|S | type |
 *  +---------+---+--+---+---+---+-----+--+---+--+------+
 */
#define AR_TYPE(a)     ((a) & 0xFu)
#define AR_S           (1u << 4)
#define AR_DPL(a)      (((a) >> 5) & 3u)
#define AR_P           (1u << 7)
#define AR_RSVD_LOW    0xF00u
#define AR_L           (1u << 13)
#define AR_DB          (1u << 14)
#define AR_G           (1u << 15)
#define AR_UNUSABLE    (1u << 16)
#define AR_RSVD_HIGH   0xFFFE0000u

/* PAE PDPTE (SDM 3A 4.4.1): reserved 2:1 and 8:5, plus bits beyond MAXPHYADDR. */
#define PDPTE_P        1ull
#define PDPTE_RSVD     0x1E6ull

/* ---- plumbing ---- */

/* The VMX controls as VM entry sees them: secondary, tertiary and secondary
 * exit controls are 0 unless activated (SDM 3C 25.6.2, 25.7.1). */
struct ctls {
    uint32_t pin, proc, proc2, exit, entry;
    uint64_t proc3, exit2;
};

/* One stage's run. Invariant: last is the last row checked (order). */
struct ck {
    const struct vmentry_env *e;
    struct vmentry_failure *f;
    int last;
    struct ctls k;
};

static bool fail(struct ck *c, enum vmentry_check id, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(struct ck *c, enum vmentry_check id, const char *cond, const char *fmt, ...)
{
    struct vmentry_failure *f = c->f;
    memset(f, 0, sizeof(*f));
    f->check = id;
    f->kind = rows[id].kind;
    f->qualification = qualification_of(f->kind);
    f->condition = cond;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
    va_end(ap);
    return false;
}

static inline void order(struct ck *c, enum vmentry_check id)
{
    assert((int)id >= c->last && "a check ran out of entry_checks.def order");
    c->last = (int)id;
}

/* One check: the row, the condition that must hold, the detail. */
#define CHECK(id, cond, ...)                                          \
    do {                                                              \
        order(c, VMCHK_##id);                                         \
        if (!(cond))                                                  \
            return fail(c, VMCHK_##id, #cond, __VA_ARGS__);           \
    } while (0)

#define X64 "%#" PRIx64

static uint64_t rd(const struct ck *c, enum vmcs_field_id id)
{
    if (!vmcs_field_supported(id, c->e->features))
        return 0;
    if (c->e->vmcs) {
        uint64_t x;
        memcpy(&x, c->e->vmcs + vmcs_field_offset(id), 8);
        return x;
    }
    return c->e->field(c->e->ctx, id);
}

static uint64_t cap(const struct vmentry_env *e, unsigned msr)
{
    unsigned i = msr - MSR_VMX_BASIC;
    return i < VMX_NCAP_MSRS && e->cap_present[i] ? e->cap[i] : 0;
}

/* The control MSR VM entry checks against: the TRUE one when
 * IA32_VMX_BASIC[55] is 1 (SDM 3D A.2). */
static uint64_t ctl_cap(const struct vmentry_env *e, unsigned msr, unsigned true_msr)
{
    bool use_true = (cap(e, MSR_VMX_BASIC) >> 55) & 1;
    return cap(e, use_true && e->cap_present[true_msr - MSR_VMX_BASIC] ? true_msr : msr);
}

/* Width of the physical addresses in VMCS pointers: 32 when
 * IA32_VMX_BASIC[48] is 1 (SDM 3D A.1), else MAXPHYADDR. */
static unsigned ptr_width(const struct vmentry_env *e)
{
    return ((cap(e, MSR_VMX_BASIC) >> 48) & 1) && e->maxphyaddr > 32 ? 32 : e->maxphyaddr;
}

static bool within(uint64_t pa, unsigned width) { return width >= 64 || !(pa >> width); }

static bool ptr_ok(const struct vmentry_env *e, uint64_t pa, uint64_t align)
{
    return !(pa & (align - 1)) && within(pa, ptr_width(e));
}

/* Linear-address width "canonical" refers to: 57 if the processor supports
 * 5-level paging (CR4.LA57 may be set), else 48. */
static unsigned lin_bits(const struct vmentry_env *e) { return (cap(e, MSR_VMX_CR4_FIXED1) & CR4_LA57) ? 57 : 48; }

static bool canonical(uint64_t v, unsigned bits)
{
    return (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits)) == v;
}

/* Every byte a memory type IA32_PAT may hold: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB,
 * 7 UC- (SDM 3A 12.12.2). */
static bool pat_ok(uint64_t pat)
{
    for (unsigned i = 0; i < 8; i++) {
        unsigned t = (pat >> (8 * i)) & 0xFF;
        if (t > 7 || t == 2 || t == 3)
            return false;
    }
    return true;
}

/* G against the limit (same rule for every segment register). */
static bool g_ok(uint32_t limit, uint32_t ar)
{
    return (ar & AR_G) ? (limit & 0xFFF) == 0xFFF : !(limit & 0xFFF00000u);
}

static struct ctls read_ctls(const struct ck *c)
{
    struct ctls k = { 0 };
    k.pin = (uint32_t)rd(c, VMCS_PIN_BASED_VM_EXEC_CONTROL);
    k.proc = (uint32_t)rd(c, VMCS_PROC_BASED_VM_EXEC_CONTROL);
    k.exit = (uint32_t)rd(c, VMCS_VM_EXIT_CONTROLS);
    k.entry = (uint32_t)rd(c, VMCS_VM_ENTRY_CONTROLS);
    if (k.proc & PROC_SECONDARY)
        k.proc2 = (uint32_t)rd(c, VMCS_SECONDARY_VM_EXEC_CONTROL);
    if (k.proc & PROC_TERTIARY)
        k.proc3 = rd(c, VMCS_TERTIARY_VM_EXEC_CONTROL);
    if (k.exit & EXIT_SECONDARY)
        k.exit2 = rd(c, VMCS_SECONDARY_VM_EXIT_CONTROLS);
    return k;
}

static void begin(struct ck *c, const struct vmentry_env *e, struct vmentry_failure *f)
{
    c->e = e;
    c->f = f;
    c->last = -1;
    c->k = read_ctls(c);
}

/* ==== Checks on VMX Controls ==== */

/* SDM 3C "Checks on VM-Execution Control Fields". */
static bool exec_controls(struct ck *c)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    unsigned w = ptr_width(e);

    uint64_t m = ctl_cap(e, MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED_CTLS);
    uint32_t a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
    CHECK(CTL_PIN_ALLOWED0, (k->pin & a0) == a0, "pin-based controls %#x must set %#x", k->pin, a0 & ~k->pin);
    CHECK(CTL_PIN_ALLOWED1, !(k->pin & ~a1), "pin-based controls %#x set %#x, allowed-1 %#x", k->pin, k->pin & ~a1, a1);

    m = ctl_cap(e, MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED_CTLS);
    a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
    CHECK(CTL_PROC_ALLOWED0, (k->proc & a0) == a0, "primary controls %#x must set %#x", k->proc, a0 & ~k->proc);
    CHECK(CTL_PROC_ALLOWED1, !(k->proc & ~a1), "primary controls %#x set %#x, allowed-1 %#x", k->proc, k->proc & ~a1, a1);

    if (k->proc & PROC_SECONDARY) {
        m = cap(e, MSR_VMX_PROCBASED_CTLS2);
        a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
        CHECK(CTL_PROC2_ALLOWED0, (k->proc2 & a0) == a0, "secondary controls %#x must set %#x", k->proc2, a0 & ~k->proc2);
        CHECK(CTL_PROC2_ALLOWED1, !(k->proc2 & ~a1), "secondary controls %#x set %#x, allowed-1 %#x", k->proc2,
              k->proc2 & ~a1, a1);
    }
    if (k->proc & PROC_TERTIARY) {
        uint64_t t1 = cap(e, MSR_VMX_PROCBASED_CTLS3);
        CHECK(CTL_PROC3_ALLOWED1, !(k->proc3 & ~t1), "tertiary controls " X64 " set " X64 ", allowed-1 " X64,
              k->proc3, k->proc3 & ~t1, t1);
    }

    uint64_t count = rd(c, VMCS_CR3_TARGET_COUNT), max = (cap(e, MSR_VMX_MISC) >> 16) & 0x1FF;
    CHECK(CTL_CR3_TARGET_COUNT, count <= max, "CR3-target count %" PRIu64 ", IA32_VMX_MISC allows %" PRIu64, count, max);

    if (k->proc & PROC_IO_BITMAPS) {
        uint64_t a = rd(c, VMCS_IO_BITMAP_A), b = rd(c, VMCS_IO_BITMAP_B);
        CHECK(CTL_IO_BITMAP_A, ptr_ok(e, a, 4096), "I/O bitmap A address " X64 ", width %u", a, w);
        CHECK(CTL_IO_BITMAP_B, ptr_ok(e, b, 4096), "I/O bitmap B address " X64 ", width %u", b, w);
    }
    if (k->proc & PROC_MSR_BITMAPS) {
        uint64_t a = rd(c, VMCS_MSR_BITMAP);
        CHECK(CTL_MSR_BITMAP, ptr_ok(e, a, 4096), "MSR-bitmap address " X64 ", width %u", a, w);
    }
    if (k->proc & PROC_TPR_SHADOW) {
        uint64_t vapic = rd(c, VMCS_VIRTUAL_APIC_ADDR);
        uint32_t thr = (uint32_t)rd(c, VMCS_TPR_THRESHOLD);
        CHECK(CTL_VIRTUAL_APIC_ADDR, ptr_ok(e, vapic, 4096), "virtual-APIC address " X64 ", width %u", vapic, w);
        if (!(k->proc2 & PROC2_VIRT_INTR))
            CHECK(CTL_TPR_THRESHOLD_RSVD, !(thr & ~0xFu), "TPR threshold %#x", thr);
        if (!(k->proc2 & (PROC2_VIRT_INTR | PROC2_VIRT_APIC_ACCESS))) {
            uint8_t vtpr = 0xFF;                 /* no RAM reads as all ones */
            if (!e->phys_read(e->ctx, vapic + 0x80, &vtpr, 1))
                vtpr = 0xFF;
            CHECK(CTL_TPR_THRESHOLD_VTPR, (thr & 0xFu) <= (unsigned)(vtpr >> 4), "TPR threshold %#x, VTPR %#x",
                  thr, vtpr);
        }
    } else {
        CHECK(CTL_X2APIC_NEEDS_TPR_SHADOW, !(k->proc2 & PROC2_VIRT_X2APIC), "secondary controls %#x", k->proc2);
        CHECK(CTL_APIC_REG_VIRT_NEEDS_TPR_SHADOW, !(k->proc2 & PROC2_APIC_REG_VIRT), "secondary controls %#x", k->proc2);
        CHECK(CTL_VID_NEEDS_TPR_SHADOW, !(k->proc2 & PROC2_VIRT_INTR), "secondary controls %#x", k->proc2);
    }
    if (!(k->pin & PIN_NMI_EXITING))
        CHECK(CTL_VIRTUAL_NMIS_NEED_NMI_EXITING, !(k->pin & PIN_VIRTUAL_NMIS), "pin-based controls %#x", k->pin);
    if (!(k->pin & PIN_VIRTUAL_NMIS))
        CHECK(CTL_NMI_WINDOW_NEEDS_VIRTUAL_NMIS, !(k->proc & PROC_NMI_WINDOW), "pin-based %#x, primary %#x", k->pin,
              k->proc);
    if (k->proc2 & PROC2_VIRT_APIC_ACCESS) {
        uint64_t a = rd(c, VMCS_APIC_ACCESS_ADDR);
        CHECK(CTL_APIC_ACCESS_ADDR, ptr_ok(e, a, 4096), "APIC-access address " X64 ", width %u", a, w);
    }
    CHECK(CTL_X2APIC_EXCLUDES_APIC_ACCESS, (k->proc2 & (PROC2_VIRT_X2APIC | PROC2_VIRT_APIC_ACCESS)) !=
          (PROC2_VIRT_X2APIC | PROC2_VIRT_APIC_ACCESS), "secondary controls %#x", k->proc2);
    if (k->proc2 & PROC2_VIRT_INTR)
        CHECK(CTL_VID_NEEDS_EXT_INT_EXITING, k->pin & PIN_EXT_INT_EXITING, "pin-based controls %#x", k->pin);
    if (k->pin & PIN_POSTED_INTR) {
        uint64_t nv = rd(c, VMCS_POSTED_INTR_NV), desc = rd(c, VMCS_POSTED_INTR_DESC_ADDR);
        CHECK(CTL_POSTED_INTR_NEEDS_VID, k->proc2 & PROC2_VIRT_INTR, "secondary controls %#x", k->proc2);
        CHECK(CTL_POSTED_INTR_NEEDS_ACK_INT, k->exit & EXIT_ACK_INT, "VM-exit controls %#x", k->exit);
        CHECK(CTL_POSTED_INTR_VECTOR, !(nv & 0xFF00), "notification vector " X64, nv);
        CHECK(CTL_POSTED_INTR_DESC_ADDR, ptr_ok(e, desc, 64), "descriptor address " X64 ", width %u", desc, w);
    }
    if (k->proc2 & PROC2_VPID) {
        uint64_t vpid = rd(c, VMCS_VPID);
        CHECK(CTL_VPID_NONZERO, vpid != 0, "VPID " X64, vpid);
    }
    if (k->proc2 & PROC2_EPT) {
        uint64_t eptp = rd(c, VMCS_EPT_POINTER), ec = cap(e, MSR_VMX_EPT_VPID_CAP);
        unsigned mt = eptp & 7, walk = (eptp >> 3) & 7;
        CHECK(CTL_EPTP_MEMORY_TYPE, (mt == 0 && (ec >> 8) & 1) || (mt == 6 && (ec >> 14) & 1),
              "EPTP " X64 ": memory type %u, IA32_VMX_EPT_VPID_CAP " X64, eptp, mt, ec);
        CHECK(CTL_EPTP_WALK_LENGTH, (walk == 3 && (ec >> 6) & 1) || (walk == 4 && (ec >> 7) & 1),
              "EPTP " X64 ": page-walk length %u", eptp, walk + 1);
        CHECK(CTL_EPTP_AD, !(eptp & (1u << 6)) || (ec >> 21) & 1, "EPTP " X64 ", IA32_VMX_EPT_VPID_CAP " X64, eptp, ec);
        CHECK(CTL_EPTP_RESERVED, !(eptp & 0xF80), "EPTP " X64, eptp);
        CHECK(CTL_EPTP_WIDTH, within(eptp, w), "EPTP " X64 ", width %u", eptp, w);
    }
    if (k->proc2 & PROC2_PML) {
        uint64_t a = rd(c, VMCS_PML_ADDRESS);
        CHECK(CTL_PML_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
        CHECK(CTL_PML_ADDR, ptr_ok(e, a, 4096), "PML address " X64 ", width %u", a, w);
    }
    if (k->proc2 & PROC2_UNRESTRICTED)
        CHECK(CTL_UNRESTRICTED_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
    if (k->proc2 & PROC2_SPP) {
        uint64_t a = rd(c, VMCS_SPPTP);
        CHECK(CTL_SPP_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
        CHECK(CTL_SPPTP, ptr_ok(e, a, 4096), "SPPTP " X64 ", width %u", a, w);
    }
    if (k->proc2 & PROC2_MODE_BASED_EPT)
        CHECK(CTL_MODE_BASED_EPT_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
    if (k->proc2 & PROC2_VMFUNC) {
        uint64_t fn = rd(c, VMCS_VM_FUNCTION_CONTROLS), allowed = cap(e, MSR_VMX_VMFUNC);
        CHECK(CTL_VMFUNC_RESERVED, !(fn & ~allowed), "VM-function controls " X64 ", IA32_VMX_VMFUNC " X64, fn, allowed);
        if (fn & 1) {
            uint64_t a = rd(c, VMCS_EPTP_LIST_ADDR);
            CHECK(CTL_EPTP_SWITCHING_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
            CHECK(CTL_EPTP_LIST_ADDR, ptr_ok(e, a, 4096), "EPTP-list address " X64 ", width %u", a, w);
        }
    }
    if (k->proc2 & PROC2_VMCS_SHADOWING) {
        uint64_t r = rd(c, VMCS_VMREAD_BITMAP_ADDR), wr = rd(c, VMCS_VMWRITE_BITMAP_ADDR);
        CHECK(CTL_VMREAD_BITMAP_ADDR, ptr_ok(e, r, 4096), "VMREAD-bitmap address " X64 ", width %u", r, w);
        CHECK(CTL_VMWRITE_BITMAP_ADDR, ptr_ok(e, wr, 4096), "VMWRITE-bitmap address " X64 ", width %u", wr, w);
    }
    if (k->proc2 & PROC2_EPT_VE) {
        uint64_t a = rd(c, VMCS_VE_INFO_ADDR);
        CHECK(CTL_VE_INFO_ADDR, ptr_ok(e, a, 4096), "#VE information address " X64 ", width %u", a, w);
    }
    if (k->proc2 & PROC2_PT_GPA) {
        CHECK(CTL_PT_GPA_NEEDS_EPT, k->proc2 & PROC2_EPT, "secondary controls %#x", k->proc2);
        CHECK(CTL_PT_GPA_NEEDS_RTIT_CTL, (k->entry & ENTRY_LOAD_RTIT) && (k->exit & EXIT_CLEAR_RTIT),
              "VM-entry controls %#x, VM-exit controls %#x", k->entry, k->exit);
    }
    return true;
}

/* An MSR area of `count` 16-byte entries (SDM 3C "Checks on VM-Exit Control
 * Fields" / "Checks on VM-Entry Control Fields"): the last byte. */
static uint64_t area_end(uint64_t addr, uint64_t count) { return addr + count * 16 - 1; }

/* SDM 3C "Checks on VM-Exit Control Fields". */
static bool exit_controls(struct ck *c)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    unsigned w = ptr_width(e);

    uint64_t m = ctl_cap(e, MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT_CTLS);
    uint32_t a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
    CHECK(CTL_EXIT_ALLOWED0, (k->exit & a0) == a0, "VM-exit controls %#x must set %#x", k->exit, a0 & ~k->exit);
    CHECK(CTL_EXIT_ALLOWED1, !(k->exit & ~a1), "VM-exit controls %#x set %#x, allowed-1 %#x", k->exit, k->exit & ~a1, a1);
    if (k->exit & EXIT_SECONDARY) {
        uint64_t x1 = cap(e, MSR_VMX_EXIT_CTLS2);
        CHECK(CTL_EXIT2_ALLOWED1, !(k->exit2 & ~x1), "secondary VM-exit controls " X64 " set " X64, k->exit2,
              k->exit2 & ~x1);
    }
    if (!(k->pin & PIN_PREEMPTION_TIMER))
        CHECK(CTL_SAVE_TIMER_NEEDS_TIMER, !(k->exit & EXIT_SAVE_PREEMPTION_TIMER), "pin-based %#x, VM-exit %#x", k->pin,
              k->exit);
    uint64_t n = rd(c, VMCS_VM_EXIT_MSR_STORE_COUNT);
    if (n) {
        uint64_t a = rd(c, VMCS_VM_EXIT_MSR_STORE_ADDR);
        CHECK(CTL_EXIT_MSR_STORE_ADDR, ptr_ok(e, a, 16), "MSR-store address " X64 ", width %u", a, w);
        CHECK(CTL_EXIT_MSR_STORE_END, within(area_end(a, n), w), "MSR-store area " X64 "-" X64 ", width %u", a,
              area_end(a, n), w);
    }
    n = rd(c, VMCS_VM_EXIT_MSR_LOAD_COUNT);
    if (n) {
        uint64_t a = rd(c, VMCS_VM_EXIT_MSR_LOAD_ADDR);
        CHECK(CTL_EXIT_MSR_LOAD_ADDR, ptr_ok(e, a, 16), "MSR-load address " X64 ", width %u", a, w);
        CHECK(CTL_EXIT_MSR_LOAD_END, within(area_end(a, n), w), "MSR-load area " X64 "-" X64 ", width %u", a,
              area_end(a, n), w);
    }
    return true;
}

/* Vectors of the exceptions that push an error code: #DF, #TS, #NP, #SS,
 * #GP, #PF, #AC, #CP (SDM 3C "Checks on VM-Entry Control Fields"). */
static bool vector_has_ec(unsigned v) { return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21; }

/* SDM 3C "Checks on VM-Entry Control Fields". */
static bool entry_controls(struct ck *c)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    unsigned w = ptr_width(e);

    uint64_t m = ctl_cap(e, MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY_CTLS);
    uint32_t a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
    CHECK(CTL_ENTRY_ALLOWED0, (k->entry & a0) == a0, "VM-entry controls %#x must set %#x", k->entry, a0 & ~k->entry);
    CHECK(CTL_ENTRY_ALLOWED1, !(k->entry & ~a1), "VM-entry controls %#x set %#x, allowed-1 %#x", k->entry,
          k->entry & ~a1, a1);

    uint32_t info = (uint32_t)rd(c, VMCS_VM_ENTRY_INTR_INFO);
    if (info & INTR_VALID) {
        unsigned type = INTR_TYPE(info), vec = INTR_VECTOR(info);
        bool mtf = (cap(e, MSR_VMX_PROCBASED_CTLS) >> 32) & PROC_MTF;
        bool pe = rd(c, VMCS_GUEST_CR0) & CR0_PE, no_ec_check = (cap(e, MSR_VMX_BASIC) >> 56) & 1;
        bool dec = info & INTR_DELIVER_EC;
        CHECK(CTL_INJECT_TYPE_RESERVED, type != EV_RESERVED, "interruption information %#x", info);
        CHECK(CTL_INJECT_TYPE_OTHER, type != EV_OTHER || mtf, "interruption information %#x", info);
        if (type == EV_NMI)
            CHECK(CTL_INJECT_NMI_VECTOR, vec == 2, "interruption information %#x: NMI with vector %u", info, vec);
        if (type == EV_HW_EXC)
            CHECK(CTL_INJECT_HW_EXCEPTION_VECTOR, vec <= 31, "interruption information %#x: exception vector %u",
                  info, vec);
        if (type == EV_OTHER)
            CHECK(CTL_INJECT_OTHER_VECTOR, vec == 0, "interruption information %#x: other event vector %u", info, vec);
        CHECK(CTL_INJECT_EC_REQUIRED, dec || !(type == EV_HW_EXC && pe && !no_ec_check && vector_has_ec(vec)),
              "interruption information %#x (vector %u), guest CR0.PE=%d", info, vec, pe);
        CHECK(CTL_INJECT_EC_FORBIDDEN, !dec || (type == EV_HW_EXC && pe && (no_ec_check || vector_has_ec(vec))),
              "interruption information %#x (type %u, vector %u), guest CR0.PE=%d", info, type, vec, pe);
        CHECK(CTL_INJECT_RESERVED, !(info & INTR_RESERVED), "interruption information %#x", info);
        if (dec) {
            uint32_t ec = (uint32_t)rd(c, VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE);
            CHECK(CTL_INJECT_EC_RESERVED, !(ec & 0xFFFF0000u), "error code %#x", ec);
        }
        if (type == EV_SW_INT || type == EV_PRIV_SW_EXC || type == EV_SW_EXC) {
            uint32_t len = (uint32_t)rd(c, VMCS_VM_ENTRY_INSTRUCTION_LEN);
            bool len0 = (cap(e, MSR_VMX_MISC) >> 30) & 1;
            CHECK(CTL_INJECT_INSN_LEN_RANGE, len <= 15, "instruction length %u", len);
            CHECK(CTL_INJECT_INSN_LEN_ZERO, len != 0 || len0, "instruction length 0, IA32_VMX_MISC[30]=0");
        }
    }
    uint64_t n = rd(c, VMCS_VM_ENTRY_MSR_LOAD_COUNT);
    if (n) {
        uint64_t a = rd(c, VMCS_VM_ENTRY_MSR_LOAD_ADDR);
        CHECK(CTL_ENTRY_MSR_LOAD_ADDR, ptr_ok(e, a, 16), "MSR-load address " X64 ", width %u", a, w);
        CHECK(CTL_ENTRY_MSR_LOAD_END, within(area_end(a, n), w), "MSR-load area " X64 "-" X64 ", width %u", a,
              area_end(a, n), w);
    }
    if (!e->in_smm) {
        CHECK(CTL_ENTRY_SMM_OUTSIDE_SMM, !(k->entry & ENTRY_SMM), "VM-entry controls %#x", k->entry);
        CHECK(CTL_DEACT_DUAL_OUTSIDE_SMM, !(k->entry & ENTRY_DEACT_DUAL), "VM-entry controls %#x", k->entry);
    }
    return true;
}

bool vmentry_check_controls(const struct vmentry_env *e, struct vmentry_failure *f)
{
    struct ck c;
    begin(&c, e, f);
    return exec_controls(&c) && exit_controls(&c) && entry_controls(&c);
}

/* ==== Checks on the Host-State Area ==== */

static bool host_state(struct ck *c)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    unsigned lin = lin_bits(e);
    bool host64 = k->exit & EXIT_HOST_ADDR_SPACE, guest64 = k->entry & ENTRY_IA32E_GUEST;

    /* SDM 3C "Checks on Host Control Registers, MSRs, and SSP" */
    uint64_t cr0 = rd(c, VMCS_HOST_CR0), cr3 = rd(c, VMCS_HOST_CR3), cr4 = rd(c, VMCS_HOST_CR4);
    uint64_t f0 = cap(e, MSR_VMX_CR0_FIXED0), f1 = cap(e, MSR_VMX_CR0_FIXED1);
    CHECK(HOST_CR0_FIXED0, (cr0 & f0) == f0, "host CR0 " X64 " lacks " X64, cr0, f0 & ~cr0);
    CHECK(HOST_CR0_FIXED1, !(cr0 & ~f1), "host CR0 " X64 " sets " X64, cr0, cr0 & ~f1);
    f0 = cap(e, MSR_VMX_CR4_FIXED0), f1 = cap(e, MSR_VMX_CR4_FIXED1);
    CHECK(HOST_CR4_FIXED0, (cr4 & f0) == f0, "host CR4 " X64 " lacks " X64, cr4, f0 & ~cr4);
    CHECK(HOST_CR4_FIXED1, !(cr4 & ~f1), "host CR4 " X64 " sets " X64, cr4, cr4 & ~f1);
    CHECK(HOST_CR3_WIDTH, within(cr3, e->maxphyaddr), "host CR3 " X64 ", MAXPHYADDR %u", cr3, e->maxphyaddr);
    uint64_t v = rd(c, VMCS_HOST_IA32_SYSENTER_ESP);
    CHECK(HOST_SYSENTER_ESP_CANONICAL, canonical(v, lin), "host IA32_SYSENTER_ESP " X64, v);
    v = rd(c, VMCS_HOST_IA32_SYSENTER_EIP);
    CHECK(HOST_SYSENTER_EIP_CANONICAL, canonical(v, lin), "host IA32_SYSENTER_EIP " X64, v);
    if (k->exit & EXIT_LOAD_CET) {
        uint64_t scet = rd(c, VMCS_HOST_IA32_S_CET), sspt = rd(c, VMCS_HOST_INTR_SSP_TABLE_ADDR);
        CHECK(HOST_S_CET_CANONICAL, canonical(scet, lin), "host IA32_S_CET " X64, scet);
        CHECK(HOST_S_CET_RESERVED, !(scet & S_CET_RESERVED), "host IA32_S_CET " X64, scet);
        CHECK(HOST_SSP_TABLE_CANONICAL, canonical(sspt, lin), "host IA32_INTERRUPT_SSP_TABLE_ADDR " X64, sspt);
    }
    if (k->exit & EXIT_LOAD_PERF_GLOBAL) {
        v = rd(c, VMCS_HOST_IA32_PERF_GLOBAL_CTRL);
        CHECK(HOST_PERF_GLOBAL_CTRL, !(v & ~e->perf_global_ctrl_valid), "host IA32_PERF_GLOBAL_CTRL " X64 ", valid " X64,
              v, e->perf_global_ctrl_valid);
    }
    if (k->exit & EXIT_LOAD_PAT) {
        v = rd(c, VMCS_HOST_IA32_PAT);
        CHECK(HOST_PAT, pat_ok(v), "host IA32_PAT " X64, v);
    }
    if (k->exit & EXIT_LOAD_EFER) {
        v = rd(c, VMCS_HOST_IA32_EFER);
        CHECK(HOST_EFER_RESERVED, !(v & ~EFER_VALID), "host IA32_EFER " X64, v);
        CHECK(HOST_EFER_LMA, !!(v & EFER_LMA) == host64, "host IA32_EFER " X64 ", host address-space size %d", v, host64);
        CHECK(HOST_EFER_LME, !!(v & EFER_LME) == host64, "host IA32_EFER " X64 ", host address-space size %d", v, host64);
    }
    if (k->exit & EXIT_LOAD_PKRS) {
        v = rd(c, VMCS_HOST_IA32_PKRS);
        CHECK(HOST_PKRS_RESERVED, !(v >> 32), "host IA32_PKRS " X64, v);
    }

    /* SDM 3C "Checks on Host Segment and Descriptor-Table Registers" */
    uint64_t es = rd(c, VMCS_HOST_ES_SELECTOR), cs = rd(c, VMCS_HOST_CS_SELECTOR), ss = rd(c, VMCS_HOST_SS_SELECTOR);
    uint64_t ds = rd(c, VMCS_HOST_DS_SELECTOR), fs = rd(c, VMCS_HOST_FS_SELECTOR), gs = rd(c, VMCS_HOST_GS_SELECTOR);
    uint64_t tr = rd(c, VMCS_HOST_TR_SELECTOR);
    CHECK(HOST_ES_SELECTOR, !(es & 7), "host ES selector " X64, es);
    CHECK(HOST_CS_SELECTOR, !(cs & 7), "host CS selector " X64, cs);
    CHECK(HOST_SS_SELECTOR, !(ss & 7), "host SS selector " X64, ss);
    CHECK(HOST_DS_SELECTOR, !(ds & 7), "host DS selector " X64, ds);
    CHECK(HOST_FS_SELECTOR, !(fs & 7), "host FS selector " X64, fs);
    CHECK(HOST_GS_SELECTOR, !(gs & 7), "host GS selector " X64, gs);
    CHECK(HOST_TR_SELECTOR, !(tr & 7), "host TR selector " X64, tr);
    CHECK(HOST_CS_NONZERO, cs != 0, "host CS selector 0");
    CHECK(HOST_TR_NONZERO, tr != 0, "host TR selector 0");
    if (!host64)
        CHECK(HOST_SS_NONZERO, ss != 0, "host SS selector 0, host address-space size 0");
    v = rd(c, VMCS_HOST_FS_BASE);
    CHECK(HOST_FS_BASE_CANONICAL, canonical(v, lin), "host FS base " X64, v);
    v = rd(c, VMCS_HOST_GS_BASE);
    CHECK(HOST_GS_BASE_CANONICAL, canonical(v, lin), "host GS base " X64, v);
    v = rd(c, VMCS_HOST_GDTR_BASE);
    CHECK(HOST_GDTR_BASE_CANONICAL, canonical(v, lin), "host GDTR base " X64, v);
    v = rd(c, VMCS_HOST_IDTR_BASE);
    CHECK(HOST_IDTR_BASE_CANONICAL, canonical(v, lin), "host IDTR base " X64, v);
    v = rd(c, VMCS_HOST_TR_BASE);
    CHECK(HOST_TR_BASE_CANONICAL, canonical(v, lin), "host TR base " X64, v);

    /* SDM 3C "Checks Related to Address-Space Size" */
    CHECK(HOST_IA32E_NEEDS_HOST64, !e->ia32e_mode || host64, "VM-exit controls %#x", k->exit);
    CHECK(HOST_LEGACY_NO_GUEST64, e->ia32e_mode || !guest64, "VM-entry controls %#x", k->entry);
    CHECK(HOST_LEGACY_NO_HOST64, e->ia32e_mode || !host64, "VM-exit controls %#x", k->exit);
    uint64_t rip = rd(c, VMCS_HOST_RIP), ssp = rd(c, VMCS_HOST_SSP);
    if (!host64) {
        CHECK(HOST32_CR4_PCIDE, !(cr4 & CR4_PCIDE), "host CR4 " X64, cr4);
        CHECK(HOST32_RIP_HIGH, !(rip >> 32), "host RIP " X64, rip);
        if (k->exit & EXIT_LOAD_CET)
            CHECK(HOST32_SSP_HIGH, !(ssp >> 32), "host SSP " X64, ssp);
    } else {
        CHECK(HOST64_CR4_PAE, cr4 & CR4_PAE, "host CR4 " X64, cr4);
        CHECK(HOST64_RIP_CANONICAL, canonical(rip, lin), "host RIP " X64, rip);
        if (k->exit & EXIT_LOAD_CET)
            CHECK(HOST64_SSP_CANONICAL, canonical(ssp, lin), "host SSP " X64, ssp);
    }
    return true;
}

bool vmentry_check_host(const struct vmentry_env *e, struct vmentry_failure *f)
{
    struct ck c;
    begin(&c, e, f);
    return host_state(&c);
}

/* ==== Checks on the Guest-State Area ==== */

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, NSEG };
static const char *const seg_name[NSEG] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };
static const enum vmcs_field_id seg_fields[NSEG][4] = {
    { VMCS_GUEST_ES_SELECTOR, VMCS_GUEST_ES_BASE, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR_BYTES },
    { VMCS_GUEST_CS_SELECTOR, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR_BYTES },
    { VMCS_GUEST_SS_SELECTOR, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR_BYTES },
    { VMCS_GUEST_DS_SELECTOR, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR_BYTES },
    { VMCS_GUEST_FS_SELECTOR, VMCS_GUEST_FS_BASE, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR_BYTES },
    { VMCS_GUEST_GS_SELECTOR, VMCS_GUEST_GS_BASE, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR_BYTES },
    { VMCS_GUEST_LDTR_SELECTOR, VMCS_GUEST_LDTR_BASE, VMCS_GUEST_LDTR_LIMIT, VMCS_GUEST_LDTR_AR_BYTES },
    { VMCS_GUEST_TR_SELECTOR, VMCS_GUEST_TR_BASE, VMCS_GUEST_TR_LIMIT, VMCS_GUEST_TR_AR_BYTES },
};

struct seg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit, ar;
};

/* The guest state the checks share, read once. */
struct guest {
    uint64_t cr0, cr3, cr4, rflags, debugctl;
    struct seg s[NSEG];
    bool guest64, ug, v86, pe;
    uint32_t intr_info, interruptibility, activity;
};

static bool usable(const struct seg *s) { return !(s->ar & AR_UNUSABLE); }

/* SDM 3C "Checks on Guest Control Registers, Debug Registers, and MSRs". */
static bool guest_regs(struct ck *c, const struct guest *g)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    unsigned lin = lin_bits(e);

    uint64_t f0 = cap(e, MSR_VMX_CR0_FIXED0), f1 = cap(e, MSR_VMX_CR0_FIXED1);
    if (g->ug)
        f0 &= ~(CR0_PE | CR0_PG);
    CHECK(GUEST_CR0_FIXED0, (g->cr0 & f0) == f0, "guest CR0 " X64 " lacks " X64, g->cr0, f0 & ~g->cr0);
    CHECK(GUEST_CR0_FIXED1, !(g->cr0 & ~f1), "guest CR0 " X64 " sets " X64, g->cr0, g->cr0 & ~f1);
    CHECK(GUEST_CR0_PG_NEEDS_PE, !(g->cr0 & CR0_PG) || (g->cr0 & CR0_PE), "guest CR0 " X64, g->cr0);
    f0 = cap(e, MSR_VMX_CR4_FIXED0), f1 = cap(e, MSR_VMX_CR4_FIXED1);
    CHECK(GUEST_CR4_FIXED0, (g->cr4 & f0) == f0, "guest CR4 " X64 " lacks " X64, g->cr4, f0 & ~g->cr4);
    CHECK(GUEST_CR4_FIXED1, !(g->cr4 & ~f1), "guest CR4 " X64 " sets " X64, g->cr4, g->cr4 & ~f1);
    CHECK(GUEST_CR4_CET_NEEDS_WP, !(g->cr4 & CR4_CET) || (g->cr0 & CR0_WP), "guest CR0 " X64 ", CR4 " X64, g->cr0,
          g->cr4);
    if (k->entry & ENTRY_LOAD_DEBUG)
        CHECK(GUEST_DEBUGCTL_RESERVED, !(g->debugctl & DEBUGCTL_RESERVED), "guest IA32_DEBUGCTL " X64, g->debugctl);
    if (g->guest64) {
        CHECK(GUEST_IA32E_NEEDS_PG, g->cr0 & CR0_PG, "guest CR0 " X64 " with IA-32e mode guest", g->cr0);
        CHECK(GUEST_IA32E_NEEDS_PAE, g->cr4 & CR4_PAE, "guest CR4 " X64 " with IA-32e mode guest", g->cr4);
    } else {
        CHECK(GUEST_LEGACY_NO_PCIDE, !(g->cr4 & CR4_PCIDE), "guest CR4 " X64 " without IA-32e mode guest", g->cr4);
    }
    CHECK(GUEST_CR3_WIDTH, within(g->cr3, e->maxphyaddr), "guest CR3 " X64 ", MAXPHYADDR %u", g->cr3, e->maxphyaddr);
    if (k->entry & ENTRY_LOAD_DEBUG) {
        uint64_t dr7 = rd(c, VMCS_GUEST_DR7);
        CHECK(GUEST_DR7_HIGH, !(dr7 & DR7_HIGH), "guest DR7 " X64, dr7);
    }
    uint64_t v = rd(c, VMCS_GUEST_IA32_SYSENTER_ESP);
    CHECK(GUEST_SYSENTER_ESP_CANONICAL, canonical(v, lin), "guest IA32_SYSENTER_ESP " X64, v);
    v = rd(c, VMCS_GUEST_IA32_SYSENTER_EIP);
    CHECK(GUEST_SYSENTER_EIP_CANONICAL, canonical(v, lin), "guest IA32_SYSENTER_EIP " X64, v);
    if (k->entry & ENTRY_LOAD_CET) {
        uint64_t scet = rd(c, VMCS_GUEST_IA32_S_CET), sspt = rd(c, VMCS_GUEST_INTR_SSP_TABLE_ADDR);
        CHECK(GUEST_S_CET_CANONICAL, canonical(scet, lin), "guest IA32_S_CET " X64, scet);
        CHECK(GUEST_S_CET_RESERVED, !(scet & S_CET_RESERVED), "guest IA32_S_CET " X64, scet);
        CHECK(GUEST_SSP_TABLE_CANONICAL, canonical(sspt, lin), "guest IA32_INTERRUPT_SSP_TABLE_ADDR " X64, sspt);
    }
    if (k->entry & ENTRY_LOAD_PERF_GLOBAL) {
        v = rd(c, VMCS_GUEST_IA32_PERF_GLOBAL_CTRL);
        CHECK(GUEST_PERF_GLOBAL_CTRL, !(v & ~e->perf_global_ctrl_valid), "guest IA32_PERF_GLOBAL_CTRL " X64
              ", valid " X64, v, e->perf_global_ctrl_valid);
    }
    if (k->entry & ENTRY_LOAD_PAT) {
        v = rd(c, VMCS_GUEST_IA32_PAT);
        CHECK(GUEST_PAT, pat_ok(v), "guest IA32_PAT " X64, v);
    }
    if (k->entry & ENTRY_LOAD_EFER) {
        v = rd(c, VMCS_GUEST_IA32_EFER);
        CHECK(GUEST_EFER_RESERVED, !(v & ~EFER_VALID), "guest IA32_EFER " X64, v);
        CHECK(GUEST_EFER_LMA, !!(v & EFER_LMA) == g->guest64, "guest IA32_EFER " X64 ", IA-32e mode guest %d", v,
              g->guest64);
        if (g->cr0 & CR0_PG)
            CHECK(GUEST_EFER_LME, !!(v & EFER_LME) == !!(v & EFER_LMA), "guest IA32_EFER " X64 " with CR0.PG=1", v);
    }
    if (k->entry & ENTRY_LOAD_BNDCFGS) {
        v = rd(c, VMCS_GUEST_IA32_BNDCFGS);
        CHECK(GUEST_BNDCFGS_RESERVED, !(v & 0xFFCull), "guest IA32_BNDCFGS " X64, v);
        CHECK(GUEST_BNDCFGS_CANONICAL, canonical(v & ~0xFFFull, lin), "guest IA32_BNDCFGS " X64, v);
    }
    if (k->entry & ENTRY_LOAD_UINV) {
        v = rd(c, VMCS_GUEST_UINV);
        CHECK(GUEST_UINV_RESERVED, !(v & 0xFF00), "guest UINV " X64, v);
    }
    if (k->entry & ENTRY_LOAD_PKRS) {
        v = rd(c, VMCS_GUEST_IA32_PKRS);
        CHECK(GUEST_PKRS_RESERVED, !(v >> 32), "guest IA32_PKRS " X64, v);
    }
    return true;
}

#define SEG_AR_FMT "guest %s access rights %#x"

/* SDM 3C "Checks on Guest Segment Registers". The rules for CS, SS, DS, ES,
 * FS and GS run register by register within each rule (the SDM lists them
 * rule by rule). */
static bool guest_segments(struct ck *c, const struct guest *g)
{
    const struct vmentry_env *e = c->e;
    const struct seg *s = g->s, *cs = &s[SEG_CS], *ss = &s[SEG_SS], *tr = &s[SEG_TR], *ldtr = &s[SEG_LDTR];
    unsigned lin = lin_bits(e);
    static const int data_segs[] = { SEG_DS, SEG_ES, SEG_FS, SEG_GS };
    static const int code_data_segs[] = { SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS };
#define FOR_DATA(i, r) for (unsigned i = 0, r; i < 4 && ((r = (unsigned)data_segs[i]), 1); i++)
#define FOR_SEGS(i, r) for (unsigned i = 0, r; i < 6 && ((r = (unsigned)code_data_segs[i]), 1); i++)
/* CS always, the others when usable */
#define APPLIES(r) ((r) == SEG_CS || usable(&s[r]))

    /* selectors */
    CHECK(GUEST_TR_SELECTOR_TI, !(tr->sel & 4), "guest TR selector %#x", tr->sel);
    if (usable(ldtr))
        CHECK(GUEST_LDTR_SELECTOR_TI, !(ldtr->sel & 4), "guest LDTR selector %#x", ldtr->sel);
    if (!g->v86 && !g->ug)
        CHECK(GUEST_SS_RPL_EQ_CS_RPL, (ss->sel & 3) == (cs->sel & 3), "guest SS selector %#x, CS selector %#x", ss->sel,
              cs->sel);

    /* bases */
    if (g->v86)
        FOR_SEGS(i, r)
            CHECK(GUEST_V86_BASE, s[r].base == (uint64_t)s[r].sel << 4, "guest %s selector %#x, base " X64,
                  seg_name[r], s[r].sel, s[r].base);
    CHECK(GUEST_TR_BASE_CANONICAL, canonical(tr->base, lin), "guest TR base " X64, tr->base);
    CHECK(GUEST_FS_GS_BASE_CANONICAL, canonical(s[SEG_FS].base, lin), "guest FS base " X64, s[SEG_FS].base);
    CHECK(GUEST_FS_GS_BASE_CANONICAL, canonical(s[SEG_GS].base, lin), "guest GS base " X64, s[SEG_GS].base);
    if (usable(ldtr))
        CHECK(GUEST_LDTR_BASE_CANONICAL, canonical(ldtr->base, lin), "guest LDTR base " X64, ldtr->base);
    CHECK(GUEST_CS_BASE_HIGH, !(cs->base >> 32), "guest CS base " X64, cs->base);
    static const int ssdses[] = { SEG_SS, SEG_DS, SEG_ES };
    for (unsigned i = 0; i < 3; i++) {
        const struct seg *x = &s[ssdses[i]];
        if (usable(x))
            CHECK(GUEST_SS_DS_ES_BASE_HIGH, !(x->base >> 32), "guest %s base " X64, seg_name[ssdses[i]], x->base);
    }

    /* limits and access rights: virtual-8086 */
    if (g->v86) {
        FOR_SEGS(i, r)
            CHECK(GUEST_V86_LIMIT, s[r].limit == 0xFFFF, "guest %s limit %#x", seg_name[r], s[r].limit);
        FOR_SEGS(i, r)
            CHECK(GUEST_V86_AR, s[r].ar == 0xF3, SEG_AR_FMT, seg_name[r], s[r].ar);
    } else {
        /* access rights outside virtual-8086 mode */
        unsigned cst = AR_TYPE(cs->ar);
        CHECK(GUEST_CS_TYPE, cst == 9 || cst == 11 || cst == 13 || cst == 15 || (g->ug && cst == 3),
              SEG_AR_FMT ", type %u", "CS", cs->ar, cst);
        if (usable(ss))
            CHECK(GUEST_SS_TYPE, AR_TYPE(ss->ar) == 3 || AR_TYPE(ss->ar) == 7, SEG_AR_FMT ", type %u", "SS", ss->ar,
                  AR_TYPE(ss->ar));
        FOR_DATA(i, r)
            if (usable(&s[r]))
                CHECK(GUEST_DATA_SEG_ACCESSED, s[r].ar & 1, SEG_AR_FMT ", type %u", seg_name[r], s[r].ar,
                      AR_TYPE(s[r].ar));
        FOR_DATA(i, r)
            if (usable(&s[r]))
                CHECK(GUEST_DATA_SEG_READABLE, !(s[r].ar & 8) || (s[r].ar & 2), SEG_AR_FMT ", type %u", seg_name[r],
                      s[r].ar, AR_TYPE(s[r].ar));
        FOR_SEGS(i, r)
            if (APPLIES(r))
                CHECK(GUEST_SEG_S, s[r].ar & AR_S, SEG_AR_FMT ", S=0", seg_name[r], s[r].ar);
        unsigned csdpl = AR_DPL(cs->ar), ssdpl = AR_DPL(ss->ar);
        if (cst == 3)
            CHECK(GUEST_CS_DPL_TYPE3, csdpl == 0, SEG_AR_FMT ", type 3, DPL %u", "CS", cs->ar, csdpl);
        if (cst == 9 || cst == 11)
            CHECK(GUEST_CS_DPL_NONCONFORMING, csdpl == ssdpl, "guest CS access rights %#x (DPL %u), SS DPL %u", cs->ar,
                  csdpl, ssdpl);
        if (cst == 13 || cst == 15)
            CHECK(GUEST_CS_DPL_CONFORMING, csdpl <= ssdpl, "guest CS access rights %#x (DPL %u), SS DPL %u", cs->ar,
                  csdpl, ssdpl);
        if (!g->ug)
            CHECK(GUEST_SS_DPL_EQ_RPL, ssdpl == (ss->sel & 3u), "guest SS access rights %#x (DPL %u), selector %#x",
                  ss->ar, ssdpl, ss->sel);
        if (cst == 3 || !g->pe)
            CHECK(GUEST_SS_DPL_ZERO, ssdpl == 0, "guest SS DPL %u, CS type %u, CR0.PE=%d", ssdpl, cst, g->pe);
        if (!g->ug)
            FOR_DATA(i, r)
                if (usable(&s[r]) && AR_TYPE(s[r].ar) <= 11)
                    CHECK(GUEST_DATA_SEG_DPL, AR_DPL(s[r].ar) >= (s[r].sel & 3u),
                          "guest %s access rights %#x (DPL %u), selector %#x", seg_name[r], s[r].ar, AR_DPL(s[r].ar),
                          s[r].sel);
        FOR_SEGS(i, r)
            if (APPLIES(r))
                CHECK(GUEST_SEG_P, s[r].ar & AR_P, SEG_AR_FMT ", P=0", seg_name[r], s[r].ar);
        FOR_SEGS(i, r)
            if (APPLIES(r))
                CHECK(GUEST_SEG_AR_RESERVED_LOW, !(s[r].ar & AR_RSVD_LOW), SEG_AR_FMT, seg_name[r], s[r].ar);
        if (g->guest64 && (cs->ar & AR_L))
            CHECK(GUEST_CS_DB_WITH_L, !(cs->ar & AR_DB), SEG_AR_FMT ", L=1 D=1", "CS", cs->ar);
        FOR_SEGS(i, r)
            if (APPLIES(r))
                CHECK(GUEST_SEG_G_LIMIT, g_ok(s[r].limit, s[r].ar), SEG_AR_FMT " (G=%d), limit %#x", seg_name[r],
                      s[r].ar, !!(s[r].ar & AR_G), s[r].limit);
        FOR_SEGS(i, r)
            if (APPLIES(r))
                CHECK(GUEST_SEG_AR_RESERVED_HIGH, !(s[r].ar & AR_RSVD_HIGH), SEG_AR_FMT, seg_name[r], s[r].ar);
    }

    /* TR */
    unsigned trt = AR_TYPE(tr->ar);
    CHECK(GUEST_TR_TYPE, trt == 11 || (!g->guest64 && trt == 3), SEG_AR_FMT ", type %u%s", "TR", tr->ar, trt,
          g->guest64 ? " (IA-32e mode guest)" : "");
    CHECK(GUEST_TR_S, !(tr->ar & AR_S), SEG_AR_FMT ", S=1", "TR", tr->ar);
    CHECK(GUEST_TR_P, tr->ar & AR_P, SEG_AR_FMT ", P=0", "TR", tr->ar);
    CHECK(GUEST_TR_AR_RESERVED_LOW, !(tr->ar & AR_RSVD_LOW), SEG_AR_FMT, "TR", tr->ar);
    CHECK(GUEST_TR_G_LIMIT, g_ok(tr->limit, tr->ar), SEG_AR_FMT ", limit %#x", "TR", tr->ar, tr->limit);
    CHECK(GUEST_TR_UNUSABLE, !(tr->ar & AR_UNUSABLE), SEG_AR_FMT, "TR", tr->ar);
    CHECK(GUEST_TR_AR_RESERVED_HIGH, !(tr->ar & AR_RSVD_HIGH), SEG_AR_FMT, "TR", tr->ar);

    /* LDTR */
    if (usable(ldtr)) {
        CHECK(GUEST_LDTR_TYPE, AR_TYPE(ldtr->ar) == 2, SEG_AR_FMT ", type %u", "LDTR", ldtr->ar, AR_TYPE(ldtr->ar));
        CHECK(GUEST_LDTR_S, !(ldtr->ar & AR_S), SEG_AR_FMT ", S=1", "LDTR", ldtr->ar);
        CHECK(GUEST_LDTR_P, ldtr->ar & AR_P, SEG_AR_FMT ", P=0", "LDTR", ldtr->ar);
        CHECK(GUEST_LDTR_AR_RESERVED_LOW, !(ldtr->ar & AR_RSVD_LOW), SEG_AR_FMT, "LDTR", ldtr->ar);
        CHECK(GUEST_LDTR_G_LIMIT, g_ok(ldtr->limit, ldtr->ar), SEG_AR_FMT ", limit %#x", "LDTR", ldtr->ar, ldtr->limit);
        CHECK(GUEST_LDTR_AR_RESERVED_HIGH, !(ldtr->ar & AR_RSVD_HIGH), SEG_AR_FMT, "LDTR", ldtr->ar);
    }
#undef FOR_DATA
#undef FOR_SEGS
#undef APPLIES
    return true;
}

/* SDM 3C "Checks on Guest Descriptor-Table Registers", "Checks on Guest
 * RIP, RFLAGS, and SSP". */
static bool guest_dt_rip_rflags(struct ck *c, const struct guest *g)
{
    unsigned lin = lin_bits(c->e);
    uint64_t gdtb = rd(c, VMCS_GUEST_GDTR_BASE), idtb = rd(c, VMCS_GUEST_IDTR_BASE);
    uint64_t gdtl = rd(c, VMCS_GUEST_GDTR_LIMIT), idtl = rd(c, VMCS_GUEST_IDTR_LIMIT);
    CHECK(GUEST_GDTR_BASE_CANONICAL, canonical(gdtb, lin), "guest GDTR base " X64, gdtb);
    CHECK(GUEST_IDTR_BASE_CANONICAL, canonical(idtb, lin), "guest IDTR base " X64, idtb);
    CHECK(GUEST_GDTR_LIMIT, !(gdtl >> 16), "guest GDTR limit " X64, gdtl);
    CHECK(GUEST_IDTR_LIMIT, !(idtl >> 16), "guest IDTR limit " X64, idtl);

    uint64_t rip = rd(c, VMCS_GUEST_RIP);
    bool cs_l = g->s[SEG_CS].ar & AR_L;
    if (!g->guest64 || !cs_l)
        CHECK(GUEST_RIP_HIGH, !(rip >> 32), "guest RIP " X64 ", IA-32e mode guest %d, CS.L=%d", rip, g->guest64, cs_l);
    else
        /* bits 63:N identical, N the linear-address width: bit N-1 may
         * differ (SDM 3C 27.3.1.4: RIP need not be canonical) */
        CHECK(GUEST_RIP_CANONICAL, canonical(rip, lin + 1), "guest RIP " X64, rip);
    CHECK(GUEST_RFLAGS_RESERVED, !(g->rflags & RFLAGS_RESERVED), "guest RFLAGS " X64, g->rflags);
    CHECK(GUEST_RFLAGS_BIT1, g->rflags & 2, "guest RFLAGS " X64, g->rflags);
    if (g->guest64 || !g->pe)
        CHECK(GUEST_RFLAGS_VM, !g->v86, "guest RFLAGS " X64 ", IA-32e mode guest %d, CR0.PE=%d", g->rflags, g->guest64,
              g->pe);
    if ((g->intr_info & INTR_VALID) && INTR_TYPE(g->intr_info) == EV_EXT_INT)
        CHECK(GUEST_RFLAGS_IF_FOR_EXT_INT, g->rflags & RFLAGS_IF, "guest RFLAGS " X64 ", injecting vector %u",
              g->rflags, INTR_VECTOR(g->intr_info));
    return true;
}

/* May an event of this type and vector be injected into this activity
 * state? (SDM 3C "Checks on Guest Non-Register State") */
static bool inject_allowed(unsigned activity, unsigned type, unsigned vec)
{
    switch (activity) {
    case 0: return true;
    case 1: return type == EV_EXT_INT || type == EV_NMI || (type == EV_HW_EXC && (vec == 1 || vec == 18)) ||
                   (type == EV_OTHER && vec == 0);
    case 2: return type == EV_NMI || (type == EV_HW_EXC && vec == 18);
    default: return false;
    }
}

/* SDM 3C "Checks on Guest Non-Register State". */
static bool guest_nonreg(struct ck *c, const struct guest *g)
{
    const struct vmentry_env *e = c->e;
    const struct ctls *k = &c->k;
    uint32_t act = g->activity, intr = g->interruptibility, info = g->intr_info;
    bool inject = info & INTR_VALID;
    unsigned type = INTR_TYPE(info), vec = INTR_VECTOR(info);
    uint64_t misc = cap(e, MSR_VMX_MISC);

    /* activity state */
    CHECK(GUEST_ACTIVITY_RANGE, act <= 3, "guest activity state %u", act);
    CHECK(GUEST_ACTIVITY_SUPPORTED, act == 0 || (misc >> (5 + act)) & 1, "guest activity state %u, IA32_VMX_MISC " X64,
          act, misc);
    if (act == 1)
        CHECK(GUEST_ACTIVITY_HLT_SS_DPL, AR_DPL(g->s[SEG_SS].ar) == 0, "HLT with guest SS access rights %#x",
              g->s[SEG_SS].ar);
    if (intr & (BLOCK_STI | BLOCK_MOV_SS))
        CHECK(GUEST_ACTIVITY_BLOCKING, act == 0, "guest activity state %u, interruptibility %#x", act, intr);
    if (inject)
        CHECK(GUEST_ACTIVITY_INJECT, inject_allowed(act, type, vec),
              "guest activity state %u, injecting type %u vector %u", act, type, vec);

    /* interruptibility state */
    CHECK(GUEST_INTR_RESERVED, !(intr & ~0x1Fu), "guest interruptibility state %#x", intr);
    CHECK(GUEST_INTR_STI_AND_MOV_SS, (intr & (BLOCK_STI | BLOCK_MOV_SS)) != (BLOCK_STI | BLOCK_MOV_SS),
          "guest interruptibility state %#x", intr);
    if (intr & BLOCK_STI)
        CHECK(GUEST_INTR_STI_NEEDS_IF, g->rflags & RFLAGS_IF, "guest interruptibility state %#x, RFLAGS " X64, intr,
              g->rflags);
    if (inject && type == EV_EXT_INT)
        CHECK(GUEST_INTR_EXT_INT_BLOCKED, !(intr & (BLOCK_STI | BLOCK_MOV_SS)),
              "guest interruptibility state %#x, injecting vector %u", intr, vec);
    if (inject && type == EV_NMI)
        CHECK(GUEST_INTR_NMI_MOV_SS, !(intr & BLOCK_MOV_SS), "guest interruptibility state %#x, injecting an NMI", intr);
    if (!e->in_smm)
        CHECK(GUEST_INTR_SMI_OUTSIDE_SMM, !(intr & BLOCK_SMI), "guest interruptibility state %#x", intr);
    if (inject && type == EV_NMI)
        CHECK(GUEST_INTR_NMI_STI, !(intr & BLOCK_STI), "guest interruptibility state %#x, injecting an NMI", intr);
    if ((k->pin & PIN_VIRTUAL_NMIS) && inject && type == EV_NMI)
        CHECK(GUEST_INTR_VIRTUAL_NMI_BLOCKED, !(intr & BLOCK_NMI),
              "guest interruptibility state %#x, injecting an NMI with virtual NMIs", intr);
    if (intr & ENCLAVE_INTR)
        CHECK(GUEST_INTR_ENCLAVE, e->sgx && !(intr & BLOCK_MOV_SS), "guest interruptibility state %#x, SGX %s", intr,
              e->sgx ? "supported" : "not supported");

    /* pending debug exceptions */
    uint64_t pd = rd(c, VMCS_GUEST_PENDING_DBG_EXCEPTIONS);
    CHECK(GUEST_PENDING_DBG_RESERVED, !(pd & PDBG_RESERVED), "guest pending debug exceptions " X64, pd);
    if ((intr & (BLOCK_STI | BLOCK_MOV_SS)) || act == 1) {
        bool tf = g->rflags & RFLAGS_TF, btf = g->debugctl & DEBUGCTL_BTF;
        if (tf && !btf)
            CHECK(GUEST_PENDING_DBG_BS_SET, pd & PDBG_BS, "pending debug exceptions " X64 ", RFLAGS.TF=1, BTF=0", pd);
        else
            CHECK(GUEST_PENDING_DBG_BS_CLEAR, !(pd & PDBG_BS), "pending debug exceptions " X64 ", RFLAGS.TF=%d, BTF=%d",
                  pd, tf, btf);
    }
    if (pd & PDBG_RTM)
        CHECK(GUEST_PENDING_DBG_RTM, e->rtm && !(pd & PDBG_RTM_MBZ) && (pd & PDBG_ENABLED_BP) && !(intr & BLOCK_MOV_SS),
              "pending debug exceptions " X64 ", RTM %s, interruptibility %#x", pd,
              e->rtm ? "supported" : "not supported", intr);

    /* VMCS link pointer (qualification 4) */
    uint64_t link = rd(c, VMCS_VMCS_LINK_POINTER);
    if (link != ~0ull) {
        unsigned w = ptr_width(e);
        CHECK(GUEST_LINK_ALIGNED, !(link & 0xFFF), "VMCS link pointer " X64, link);
        CHECK(GUEST_LINK_WIDTH, within(link, w), "VMCS link pointer " X64 ", width %u", link, w);
        uint32_t rev = 0xFFFFFFFFu, want = (uint32_t)cap(e, MSR_VMX_BASIC) & VMCS_REVISION_MASK;
        bool ram = e->phys_read(e->ctx, link, &rev, sizeof(rev));
        if (!ram)
            rev = 0xFFFFFFFFu;
        CHECK(GUEST_LINK_REVISION, (rev & VMCS_REVISION_MASK) == want,
              "VMCS link pointer " X64 ": revision %#x%s, expected %#x", link, rev & VMCS_REVISION_MASK,
              ram ? "" : " (no RAM)", want);
        bool shadow = k->proc2 & PROC2_VMCS_SHADOWING;
        CHECK(GUEST_LINK_SHADOW, !!(rev & VMCS_SHADOW_INDICATOR) == shadow,
              "VMCS link pointer " X64 ": shadow-VMCS indicator %d, VMCS shadowing %d", link,
              !!(rev & VMCS_SHADOW_INDICATOR), shadow);
        if (!e->in_smm || (k->entry & ENTRY_SMM))
            CHECK(GUEST_LINK_NOT_CURRENT, link != e->current_vmcs, "VMCS link pointer " X64 " is the current VMCS", link);
    }
    return true;
}

/* SDM 3C "Checks on Guest Page-Directory-Pointer-Table Entries": a PAE
 * guest (CR0.PG, CR4.PAE, not IA-32e mode) has its four PDPTEs checked, from
 * memory through CR3 without EPT, from the VMCS PDPTE fields with EPT. */
static bool guest_pdptes(struct ck *c, const struct guest *g)
{
    const struct vmentry_env *e = c->e;
    if (!(g->cr0 & CR0_PG) || !(g->cr4 & CR4_PAE) || g->guest64)
        return true;
    uint64_t rsvd = PDPTE_RSVD | (e->maxphyaddr >= 64 ? 0 : ~0ull << e->maxphyaddr);
    if (!(c->k.proc2 & PROC2_EPT)) {
        uint64_t pdpt = (uint32_t)g->cr3 & ~0x1Full, pdpte[4];
        bool ram = e->phys_read(e->ctx, pdpt, pdpte, sizeof(pdpte));
        if (!ram)
            memset(pdpte, 0xFF, sizeof(pdpte));         /* no RAM reads as all ones */
        for (unsigned i = 0; i < 4; i++)
            if (pdpte[i] & PDPTE_P)
                CHECK(GUEST_PDPTE_RESERVED, !(pdpte[i] & rsvd), "PDPTE%u at " X64 ": " X64 "%s", i, pdpt + 8 * i,
                      pdpte[i], ram ? "" : " (no RAM)");
    } else {
        static const enum vmcs_field_id pf[4] = { VMCS_GUEST_PDPTE0, VMCS_GUEST_PDPTE1, VMCS_GUEST_PDPTE2,
                                                  VMCS_GUEST_PDPTE3 };
        for (unsigned i = 0; i < 4; i++) {
            uint64_t p = rd(c, pf[i]);
            if (p & PDPTE_P)
                CHECK(GUEST_PDPTE_FIELD_RESERVED, !(p & rsvd), "guest PDPTE%u field " X64, i, p);
        }
    }
    return true;
}

bool vmentry_check_guest(const struct vmentry_env *e, struct vmentry_failure *f)
{
    struct ck c;
    begin(&c, e, f);
    struct guest g = { 0 };
    g.cr0 = rd(&c, VMCS_GUEST_CR0);
    g.cr3 = rd(&c, VMCS_GUEST_CR3);
    g.cr4 = rd(&c, VMCS_GUEST_CR4);
    g.rflags = rd(&c, VMCS_GUEST_RFLAGS);
    g.debugctl = rd(&c, VMCS_GUEST_IA32_DEBUGCTL);
    for (unsigned r = 0; r < NSEG; r++) {
        g.s[r].sel = (uint16_t)rd(&c, seg_fields[r][0]);
        g.s[r].base = rd(&c, seg_fields[r][1]);
        g.s[r].limit = (uint32_t)rd(&c, seg_fields[r][2]);
        g.s[r].ar = (uint32_t)rd(&c, seg_fields[r][3]);
    }
    g.guest64 = c.k.entry & ENTRY_IA32E_GUEST;
    g.ug = c.k.proc2 & PROC2_UNRESTRICTED;
    g.v86 = g.rflags & RFLAGS_VM;
    g.pe = g.cr0 & CR0_PE;
    g.intr_info = (uint32_t)rd(&c, VMCS_VM_ENTRY_INTR_INFO);
    g.interruptibility = (uint32_t)rd(&c, VMCS_GUEST_INTERRUPTIBILITY_INFO);
    g.activity = (uint32_t)rd(&c, VMCS_GUEST_ACTIVITY_STATE);
    return guest_regs(&c, &g) && guest_segments(&c, &g) && guest_dt_rip_rflags(&c, &g) && guest_nonreg(&c, &g) &&
           guest_pdptes(&c, &g);
}
