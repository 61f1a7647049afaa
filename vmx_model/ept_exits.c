/*
 * ept_exits.c — "enable EPT" in VMX non-root operation: every guest-physical
 * address the guest uses (its paging-structure entries, the translations of
 * its linear addresses, the PAE PDPTEs a MOV to CR loads) goes through the
 * EPT walk of ept_model/, and a refused access becomes an EPT violation
 * (exit reason 48) or an EPT misconfiguration (49) (SDM 3C 29.3.3, 28.2.1
 * "Basic VM-Exit Information": exit qualification, guest-linear address,
 * guest-physical address).
 *
 * The cpu/ seam: cpu_virt_ops.slat translates, cpu_virt_ops.slat_exit
 * performs the exit once cpu/ knows the access (docs/ept.md).
 */
#include <stdio.h>

#include "ept.h"
#include "vmx_priv.h"

enum { EXIT_EPT_VIOLATION = 48, EXIT_EPT_MISCONFIG = 49 };

static void ept_ctx_of(vmx_t *v, struct ept_ctx *e)
{
    *e = (struct ept_ctx){ .eptp = v->eptp, .cap = CAP(v, MSR_VMX_EPT_VPID_CAP),
                           .maxphyaddr = cpu_maxphyaddr(v->cpu), .mbec = (v->proc2 & PROC2_MODE_BASED_EPT) != 0 };
}

static bool read_hpa(void *ctx, uint64_t hpa, uint64_t *val)
{
    return cpu_phys_read(ctx, hpa, val, 8);
}

static bool cmpxchg_hpa(void *ctx, uint64_t hpa, uint64_t old, uint64_t nv)
{
    uint64_t cur;
    if (!cpu_phys_read(ctx, hpa, &cur, 8) || cur != old)
        return false;
    return cpu_phys_write(ctx, hpa, &nv, 8);
}

static const struct ept_mem_ops ept_mem = { read_hpa, cmpxchg_hpa };

/* ---- guest-physical mappings (SDM 3C 29.4.1): gpa -> hpa with the EPT
 * rights, tagged by EPTRTA; kept until INVEPT (VM entries and exits do not
 * invalidate them), dropped for the address of an EPT violation or
 * misconfiguration. Kept in a cpu/tlb.h cache whose "linear address" is the
 * guest-physical address and whose tag is (VPID 0, PCID 0, EPTRTA). ---- */

static void gpa_tag(const vmx_t *v, struct tlb_tag *t)
{
    *t = (struct tlb_tag){ .vpid = 0, .pcid = 0, .eptrta = v->eptp & 0x000FFFFFFFFFF000ull };
}

/* The rights the cpu/ seam reports: X for a supervisor-mode fetch, XU for
 * a user-mode fetch (the same bit without mode-based execute control). */
static unsigned seam_perm(const vmx_t *v, unsigned perm)
{
    unsigned p = perm & (CPU_SLAT_PERM_R | CPU_SLAT_PERM_W | CPU_SLAT_PERM_X);
    if ((v->proc2 & PROC2_MODE_BASED_EPT) ? (perm & EPT_PERM_XU) : (perm & EPT_PERM_X))
        p |= CPU_SLAT_PERM_XU;
    return p;
}

static bool cached_allows(const vmx_t *v, const struct tlb_entry *e, unsigned acc)
{
    bool ad = (v->eptp & EPTP_AD) != 0;
    unsigned need = acc;
    if (ad && (acc & CPU_SLAT_PAGING))
        need |= CPU_SLAT_WRITE;
    if ((need & CPU_SLAT_READ) && !(e->flags & TLB_SLAT_R))
        return false;
    if ((need & CPU_SLAT_WRITE) && (!(e->flags & TLB_SLAT_W) || !(e->flags & TLB_SLAT_D)))
        return false;                       /* also a write that must set EPT D first: walk */
    if ((need & CPU_SLAT_FETCH) && !(e->flags & ((acc & CPU_SLAT_USER) ? TLB_SLAT_XU : TLB_SLAT_X)))
        return false;
    return true;
}

void vmx_gpa_cache_invalidate(vmx_t *v, bool all, uint64_t eptrta)
{
    struct tlb_sel sel = { .vpid = TLB_ANY_VPID, .pcid = TLB_ANY_PCID, .eptrta = all ? TLB_ANY_EPTRTA : eptrta };
    tlb_invalidate(v->gpa_cache, &sel);
}

int vmx_slat(void *ctx, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out)
{
    vmx_t *v = ctx;
    struct ept_ctx e;
    struct ept_result r;
    struct tlb_tag tag;
    struct tlb_entry ce;
    ept_ctx_of(v, &e);
    gpa_tag(v, &tag);
    bool probe = acc & CPU_SLAT_PROBE;
    if (tlb_lookup(v->gpa_cache, &tag, gpa, &ce)) {
        if (cached_allows(v, &ce, acc & ~CPU_SLAT_PROBE)) {
            uint64_t size = 1ull << ce.size_log2;
            unsigned perm = ((ce.flags & TLB_SLAT_R) ? CPU_SLAT_PERM_R : 0) | ((ce.flags & TLB_SLAT_W) ? CPU_SLAT_PERM_W : 0) |
                            ((ce.flags & TLB_SLAT_X) ? CPU_SLAT_PERM_X : 0) | ((ce.flags & TLB_SLAT_XU) ? CPU_SLAT_PERM_XU : 0);
            *out = (struct cpu_slat){ .hpa = ce.pa + (gpa & (size - 1)), .page_base_gpa = ce.la, .page_base_hpa = ce.pa,
                                      .page_size = size, .perm = perm, .dirty = (ce.flags & TLB_SLAT_D) != 0 };
            return CPU_SLAT_OK;
        }
        if (!probe)
            tlb_remove(v->gpa_cache, &tag, gpa);   /* the walk decides (hvsim re-walks: docs/ept.md) */
    }
    /* CPU_SLAT_* and EPT_ACC_* share their values */
    enum ept_status st = ept_walk(&e, &ept_mem, cpu, gpa, acc & ~CPU_SLAT_PROBE, !probe, &r);
    out->walked = true;
    switch (st) {
    case EPT_OK: {
        unsigned perm = seam_perm(v, r.perm);
        uint64_t piece = r.page_size > (2ull << 20) ? (2ull << 20) : r.page_size;
        *out = (struct cpu_slat){ .hpa = r.hpa, .page_base_gpa = r.page_base_gpa, .page_base_hpa = r.page_base_hpa,
                                  .page_size = r.page_size, .perm = perm, .dirty = r.dirty, .walked = true };
        if (!probe) {
            ce = (struct tlb_entry){ .la = gpa & ~(piece - 1), .pa = r.hpa & ~(piece - 1), .gpa = gpa & ~(piece - 1),
                                     .guest_la = gpa & ~(piece - 1), .size_log2 = piece == 4096 ? 12 : 21,
                                     .guest_size_log2 = piece == 4096 ? 12 : 21,
                                     .flags = (uint16_t)(((perm & CPU_SLAT_PERM_R) ? TLB_SLAT_R : 0) |
                                                         ((perm & CPU_SLAT_PERM_W) ? TLB_SLAT_W : 0) |
                                                         ((perm & CPU_SLAT_PERM_X) ? TLB_SLAT_X : 0) |
                                                         ((perm & CPU_SLAT_PERM_XU) ? TLB_SLAT_XU : 0) |
                                                         (r.dirty ? TLB_SLAT_D : 0)) };
            tlb_insert(v->gpa_cache, &tag, &ce);
        }
        return CPU_SLAT_OK;
    }
    case EPT_VIOLATION:
    case EPT_MISCONFIG:
        if (!probe)
            tlb_remove(v->gpa_cache, &tag, gpa);   /* SDM 3C 29.4.3.1: the faulting address's mappings go */
        return CPU_SLAT_FAULT;
    case EPT_BUS_ERROR:
        if (probe)
            return CPU_SLAT_FAULT;
        cpu_insn_unmodelled(cpu, "EPT walk for guest-physical %#llx reads an EPT entry at %#llx, which is not RAM",
                            (unsigned long long)gpa, (unsigned long long)r.entry_hpa);
        return CPU_SLAT_STOP;
    case EPT_UNSUPPORTED:
    default:
        if (probe)
            return CPU_SLAT_FAULT;
        cpu_insn_unmodelled(cpu, "EPT walk with EPTP %#llx: %s", (unsigned long long)v->eptp,
                            r.why ? r.why : "unsupported");
        return CPU_SLAT_STOP;
    }
}

enum cpu_guest_action vmx_slat_exit(void *ctx, cpu_t *cpu, const struct cpu_slat_fault *f)
{
    vmx_t *v = ctx;
    if (f->apic_access)
        return vmx_apic_access_exit(v, cpu, f);     /* not an EPT fault: SDM 3C 30.4 (apic_access.c) */
    if (!v->nonroot)
        return nonroot_stop(v, "an EPT fault outside VMX non-root operation (guest-physical %#llx)",
                            (unsigned long long)f->gpa);
    struct ept_ctx e;
    struct ept_result r;
    ept_ctx_of(v, &e);
    /* The walk again, without side effects, for what the exit reports. */
    enum ept_status st = ept_walk(&e, &ept_mem, cpu, f->gpa, f->acc, false, &r);
    struct vm_exit_info x = { 0 };
    if (st == EPT_MISCONFIG) {
        /* exit 49: the qualification is undefined (hvsim writes 0) */
        x.reason = EXIT_EPT_MISCONFIG;
        char note[300];
        snprintf(note, sizeof(note), "EPT misconfiguration for guest-physical %#llx: the level-%u entry %#llx at "
                 "host-physical %#llx: %s [SDM 3C 29.3.3.1]", (unsigned long long)f->gpa, r.level,
                 (unsigned long long)r.entry, (unsigned long long)r.entry_hpa, r.why);
        cpu_insn_note(cpu, note);
    } else if (st == EPT_VIOLATION) {
        x.reason = EXIT_EPT_VIOLATION;
        struct ept_qual_in q = { .acc = f->acc, .gla_valid = f->gla_valid, .gla_translation = f->gla_translation,
                                 .guest_user = f->guest_user, .guest_writable = f->guest_writable,
                                 .guest_nx = f->guest_nx,
                                 /* bit 12, "NMI unblocking due to IRET" (SDM 3C 28.2.3): cpu/ sets it
                                  * for an access of an IRET that removed (virtual-)NMI blocking */
                                 .nmi_unblocked = f->nmi_unblocked };
        x.qualification = ept_violation_qual(&e, &r, &q);
    } else {
        return nonroot_stop(v, "the EPT fault at guest-physical %#llx did not recur (walk status %d)",
                            (unsigned long long)f->gpa, (int)st);
    }
    x.guest_physical = f->gpa;
    x.has_guest_physical = true;
    /* SDM 28.2.1: the guest-linear address is saved when qualification
     * bit 7 is set (EPT violations; hvsim saves it for misconfigurations
     * as well, where the field is undefined); bits 63:32 are cleared
     * outside 64-bit mode. */
    if (f->gla_valid)
        x.guest_linear = cpu_mode(cpu) == CPU_MODE_64 ? f->gla : (uint32_t)f->gla;
    if (f->vectoring) {
        x.idt_info = (1u << 31) | ((uint32_t)f->orig_has_ec << 11) | ((f->orig_type & 7) << 8) | (f->orig_vector & 0xFF);
        x.idt_ec = f->orig_has_ec ? f->orig_ec : 0;
        if (f->orig_type >= 4 && f->orig_type <= 6)
            x.insn_len = (unsigned)f->orig_len;
    }
    cpu_set_rip_linear(cpu, f->rip);
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}
