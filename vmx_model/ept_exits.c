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

int vmx_slat(void *ctx, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out)
{
    vmx_t *v = ctx;
    struct ept_ctx e;
    struct ept_result r;
    ept_ctx_of(v, &e);
    bool probe = acc & CPU_SLAT_PROBE;
    /* CPU_SLAT_* and EPT_ACC_* share their values */
    enum ept_status st = ept_walk(&e, &ept_mem, cpu, gpa, acc & ~CPU_SLAT_PROBE, !probe, &r);
    switch (st) {
    case EPT_OK:
        *out = (struct cpu_slat){ .hpa = r.hpa, .page_base_gpa = r.page_base_gpa, .page_base_hpa = r.page_base_hpa,
                                  .page_size = r.page_size, .perm = r.perm, .dirty = r.dirty };
        return CPU_SLAT_OK;
    case EPT_VIOLATION:
    case EPT_MISCONFIG:
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
                                 .guest_nx = f->guest_nx };
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
    cpu_set(cpu, CPU_RIP, f->rip);
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}
