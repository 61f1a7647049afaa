/*
 * vmtrans.c — VM entry and VM exit (SDM 3C chapters "VM Entries" and "VM
 * Exits").
 *
 * VM entry, after the VMLAUNCH/VMRESUME pre-checks of vmx.c:
 *   1. checks on the VMX controls (VMfailValid 7) and on the host-state
 *      area (VMfailValid 8): entry_checks.c, one named check each;
 *   2. checks on the guest-state area: a failure is a VM-entry failure, a
 *      VM exit with reason 33 (bit 31 set) that loads host state;
 *   3. loading guest state (control and debug registers, MSRs the entry
 *      controls name, segment registers with their hidden parts,
 *      descriptor tables, RIP/RSP/RFLAGS, PDPTEs for PAE guests), the
 *      VM-entry MSR-load list (failure: reason 34, the entry's index);
 *   4. launch state "launched", event injection, activity state.
 * VM exit: the exit-information fields, saving guest state, the VM-exit
 * MSR-store list, loading host state, the VM-exit MSR-load list (failure:
 * VMX abort).
 *
 * What hvsim does not model yet fails loudly at VM entry with the control
 * that asked for it (docs/vmx.md, "What VM entry accepts").
 */
#include <string.h>

#include "entry_checks.h"
#include "vmx_priv.h"

#define EXIT_REASON_ENTRY_FAIL (1u << 31)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_PCIDE (1ull << 17)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define MSR_DEBUGCTL 0x1D9
#define MSR_PAT 0x277
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101

static uint64_t F(vmx_t *v, enum vmcs_field_id id)
{
    uint64_t x = 0;
    field_read(v, id, &x);
    return x;
}

static void W(vmx_t *v, enum vmcs_field_id id, uint64_t x)
{
    unsigned w = vmcs_field_width_bits(id);
    uint64_t val = w == 64 ? x : x & ((1ull << w) - 1);
    if (v->w_host) {
        memcpy(v->w_host + VMCS_REGION_FIELDS_OFF + (unsigned)id * VMCS_FIELD_SLOT_BYTES, &val, 8);
        return;
    }
    field_write(v, id, val);
}

/* ---- the checks (entry_checks.c), with cpu/vmx state as their environment ---- */

static uint64_t env_field(void *ctx, enum vmcs_field_id id) { return F(ctx, id); }
static bool env_phys(void *ctx, uint64_t pa, void *buf, size_t n) { return cpu_phys_read(((vmx_t *)ctx)->cpu, pa, buf, n); }

/* Report a failing check in plain words: on the trace (the VMX record of
 * the instruction carries the check ID) and as a note hvsim run prints. */
static void note_check(vmx_t *v, const struct vmentry_failure *f, char *why, size_t n)
{
    (void)v;
    int k = vmentry_failure_format(f, why, n);
    if (k >= 0 && (size_t)k < n)
        snprintf(why + k, n - (size_t)k, " (check %s)", vmentry_check_name(f->check));
}

/* ---- MSR lists (SDM 3C "VM-Entry MSR-Load Area", "VM-Exit MSR-Store/Load") ---- */

/* An MSR that a load list may not name (SDM 3C "Loading MSRs"). */
static bool msr_list_forbidden(uint32_t idx)
{
    return idx == 0xC0000100 || idx == 0xC0000101 ||           /* FS/GS base */
           (idx >> 8) == 0x8 ||                                 /* x2APIC range */
           idx == 0x9E /* SMBASE */ || idx == 0x8B /* microcode update signature */ ||
           idx == 0x79 /* microcode update trigger */;
}

/* Load count entries of {index:4, reserved:4, value:8} from pa; returns the
 * 1-based number of the failing entry, 0 if all loaded. */
static unsigned msr_list_load(vmx_t *v, uint64_t pa, unsigned count, char *why, size_t n)
{
    for (unsigned i = 0; i < count; i++) {
        uint32_t e[4];
        if (!cpu_phys_read(v->cpu, pa + 16ull * i, e, 16)) {
            snprintf(why, n, "MSR-load entry %u at %#llx is not in RAM", i + 1, (unsigned long long)(pa + 16ull * i));
            return i + 1;
        }
        uint64_t val = e[2] | (uint64_t)e[3] << 32;
        if (e[1] != 0 || msr_list_forbidden(e[0]) || !cpu_msr_write(v->cpu, e[0], val)) {
            snprintf(why, n, "MSR-load entry %u: MSR %#x value %#llx %s", i + 1, e[0], (unsigned long long)val,
                     e[1] ? "has reserved bits 63:32 of its first quadword set"
                          : msr_list_forbidden(e[0]) ? "names an MSR a load list may not load"
                                                     : "would make WRMSR fault");
            return i + 1;
        }
    }
    return 0;
}

static bool msr_list_store(vmx_t *v, uint64_t pa, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        uint32_t idx;
        if (!cpu_phys_read(v->cpu, pa + 16ull * i, &idx, 4))
            return false;
        uint64_t val;
        if (!cpu_msr_read(v->cpu, idx, &val))
            return false;
        if (!cpu_phys_write(v->cpu, pa + 16ull * i + 8, &val, 8))
            return false;
    }
    return true;
}

/* ---- loading host state (SDM 3C "Loading Host State"); shared by VM exits
 * and VM-entry failures ---- */

static void vmx_abort(vmx_t *v, uint32_t indicator, const char *why)
{
    cpu_phys_write(v->cpu, v->current + 4, &indicator, 4);
    char msg[300];
    snprintf(msg, sizeof(msg), "VMX abort %u: %s [SDM 3C, VMX Aborts]", indicator, why);
    cpu_shutdown(v->cpu, msg);
}

static void load_host_state(vmx_t *v)
{
    cpu_t *c = v->cpu;
    bool host64 = v->exit_ctls & EXIT_HOST_ADDR_SPACE;
    /* CR0: ET, CD, NW, bits 63:32, 28:19, 17, 15:6 and the fixed bits keep
     * their values; the rest come from the host field. */
    uint64_t keep0 = (1ull << 4) | (1ull << 29) | (1ull << 30) | 0xFFFFFFFF00000000ull | (0x3FFull << 19) |
                     (1ull << 17) | (0x3FFull << 6);
    uint64_t cr0 = (cpu_get(c, CPU_CR0) & keep0) | (F(v, VMCS_HOST_CR0) & ~keep0);
    cr0 |= CAP(v, MSR_VMX_CR0_FIXED0);
    uint64_t cr4 = F(v, VMCS_HOST_CR4) | CAP(v, MSR_VMX_CR4_FIXED0);
    if (host64)
        cr4 |= CR4_PAE;
    else
        cr4 &= ~CR4_PCIDE;
    cpu_set(c, CPU_CR0, cr0);
    cpu_set(c, CPU_CR4, cr4);
    cpu_set(c, CPU_CR3, F(v, VMCS_HOST_CR3));
    cpu_set_dr(c, 7, 0x400);
    cpu_msr_write(c, MSR_SYSENTER_CS, F(v, VMCS_HOST_IA32_SYSENTER_CS));
    cpu_msr_write(c, MSR_SYSENTER_ESP, F(v, VMCS_HOST_IA32_SYSENTER_ESP));
    cpu_msr_write(c, MSR_SYSENTER_EIP, F(v, VMCS_HOST_IA32_SYSENTER_EIP));
    if (v->exit_ctls & EXIT_LOAD_PAT)
        cpu_msr_write(c, MSR_PAT, F(v, VMCS_HOST_IA32_PAT));
    uint64_t efer = cpu_get(c, CPU_EFER);
    if (v->exit_ctls & EXIT_LOAD_EFER)
        efer = F(v, VMCS_HOST_IA32_EFER);
    else
        efer = host64 ? efer | EFER_LMA | EFER_LME : efer & ~(EFER_LMA | EFER_LME);
    cpu_set(c, CPU_EFER, efer);
    /* Segments: flat, accessed, present, DPL 0; a null selector (other than
     * CS) makes the register unusable (SDM 3C "Loading Host Segment and
     * Descriptor-Table Registers"). */
    static const enum vmcs_field_id hsel[] = { VMCS_HOST_ES_SELECTOR, VMCS_HOST_CS_SELECTOR, VMCS_HOST_SS_SELECTOR,
                                               VMCS_HOST_DS_SELECTOR, VMCS_HOST_FS_SELECTOR, VMCS_HOST_GS_SELECTOR };
    for (int s = CPU_ES; s <= CPU_GS; s++) {
        struct cpu_seg seg = { .sel = (uint16_t)F(v, hsel[s]), .base = 0, .limit = 0xFFFFFFFFu };
        if (s == CPU_CS)
            seg.attr = 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_G | (host64 ? SEG_ATTR_L : SEG_ATTR_DB);
        else
            seg.attr = 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_G | SEG_ATTR_DB;
        if (s != CPU_CS && seg.sel == 0)
            seg.attr |= SEG_ATTR_UNUSABLE;
        if (s == CPU_FS)
            seg.base = F(v, VMCS_HOST_FS_BASE);
        if (s == CPU_GS)
            seg.base = F(v, VMCS_HOST_GS_BASE);
        cpu_set_seg(c, (enum cpu_segreg)s, &seg);
    }
    struct cpu_seg ldtr = { .sel = 0, .attr = SEG_ATTR_UNUSABLE };
    cpu_set_seg(c, CPU_LDTR, &ldtr);
    struct cpu_seg tr = { .sel = (uint16_t)F(v, VMCS_HOST_TR_SELECTOR), .base = F(v, VMCS_HOST_TR_BASE),
                          .limit = 0x67, .attr = 0xB | SEG_ATTR_P };
    cpu_set_seg(c, CPU_TR, &tr);
    struct cpu_dtr g = { F(v, VMCS_HOST_GDTR_BASE), 0xFFFF }, i = { F(v, VMCS_HOST_IDTR_BASE), 0xFFFF };
    cpu_set_dtr(c, false, &g);
    cpu_set_dtr(c, true, &i);
    cpu_set(c, CPU_RSP, F(v, VMCS_HOST_RSP));
    cpu_set(c, CPU_RIP, F(v, VMCS_HOST_RIP));
    cpu_set(c, CPU_RFLAGS, 0x2);
    v->nonroot = false;
    cpu_set_guest_mode(c, false);
    cpu_set_apic_access(c, false, 0);
    cpu_set_slat(c, false);
    vmx_tlb_transition(v, false);
    cpu_reload_context(c);
    /* The VM-exit MSR-load list; a failure is a VMX abort (indicator 4). */
    char why[200];
    if (msr_list_load(v, F(v, VMCS_VM_EXIT_MSR_LOAD_ADDR), (unsigned)F(v, VMCS_VM_EXIT_MSR_LOAD_COUNT), why,
                      sizeof(why)))
        vmx_abort(v, 4, why);
}

/* The translation cache at VM entry and exit (SDM 3C 29.4.3.3 "Guidelines
 * for Use of the INVVPID Instruction", 29.4.3.1): with "enable VPID" = 0 a
 * VM entry and a VM exit invalidate every linear and combined mapping of
 * VPID 0000H (all PCIDs, all EPTRTAs); with it, nothing. The guest's
 * mappings are cached under its VPID (0 without "enable VPID") and its
 * EPTRTA, the host's under VPID 0 without EPT. Under the "flush-always"
 * policy (docs/ept.md) every transition empties the whole cache. */
void vmx_tlb_transition(vmx_t *v, bool entry)
{
    cpu_t *c = v->cpu;
    bool vpid = (v->proc2 & PROC2_VPID) != 0;
    uint16_t guest_vpid = vpid ? (uint16_t)F(v, VMCS_VPID) : 0;
    uint64_t rta = (v->proc2 & PROC2_EPT) ? (v->eptp & 0x000FFFFFFFFFF000ull) : 0;
    enum cpu_inval_kind kind = entry ? CPU_INVAL_VM_ENTRY : CPU_INVAL_VM_EXIT;
    if (cpu_tlb_flush_always(c)) {
        struct cpu_tlb_inval all = { .vpid = -1, .eptrta = ~0ull };
        vmx_gpa_cache_invalidate(v, true, 0);
        cpu_tlb_invalidate(c, &all, kind, 2, 0, 0);
    } else if (!vpid) {
        struct cpu_tlb_inval vpid0 = { .vpid = 0, .eptrta = ~0ull };
        cpu_tlb_invalidate(c, &vpid0, kind, 1, 0, 0);
    }
    if (entry)
        cpu_tlb_set_tag(c, guest_vpid, rta);
    else
        cpu_tlb_set_tag(c, 0, 0);
}

/* ---- VM exit ---- */

static void save_guest_state(vmx_t *v)
{
    cpu_t *c = v->cpu;
    W(v, VMCS_GUEST_CR0, cpu_get(c, CPU_CR0));
    W(v, VMCS_GUEST_CR3, cpu_get(c, CPU_CR3));
    W(v, VMCS_GUEST_CR4, cpu_get(c, CPU_CR4));
    if (v->exit_ctls & EXIT_SAVE_DEBUG) {
        W(v, VMCS_GUEST_DR7, cpu_get_dr(c, 7));
        W(v, VMCS_GUEST_IA32_DEBUGCTL, 0);         /* IA32_DEBUGCTL is not modelled: always 0 */
    }
    W(v, VMCS_GUEST_RSP, cpu_get(c, CPU_RSP));
    W(v, VMCS_GUEST_RIP, cpu_get(c, CPU_RIP));
    W(v, VMCS_GUEST_RFLAGS, cpu_get(c, CPU_RFLAGS));
    for (int s = CPU_ES; s <= CPU_TR; s++) {
        struct cpu_seg seg;
        cpu_get_seg(c, (enum cpu_segreg)s, &seg);
        W(v, VMCS_GUEST_ES_SELECTOR + s, seg.sel);
        W(v, VMCS_GUEST_ES_BASE + s, seg.base);
        W(v, VMCS_GUEST_ES_LIMIT + s, seg.limit);
        W(v, VMCS_GUEST_ES_AR_BYTES + s, seg.attr & 0x1F0FF);
    }
    struct cpu_dtr g, i;
    cpu_get_dtr(c, false, &g);
    cpu_get_dtr(c, true, &i);
    W(v, VMCS_GUEST_GDTR_BASE, g.base);
    W(v, VMCS_GUEST_GDTR_LIMIT, g.limit);
    W(v, VMCS_GUEST_IDTR_BASE, i.base);
    W(v, VMCS_GUEST_IDTR_LIMIT, i.limit);
    uint64_t x;
    if (cpu_msr_read(c, MSR_SYSENTER_CS, &x)) W(v, VMCS_GUEST_IA32_SYSENTER_CS, x);
    if (cpu_msr_read(c, MSR_SYSENTER_ESP, &x)) W(v, VMCS_GUEST_IA32_SYSENTER_ESP, x);
    if (cpu_msr_read(c, MSR_SYSENTER_EIP, &x)) W(v, VMCS_GUEST_IA32_SYSENTER_EIP, x);
    if ((v->exit_ctls & EXIT_SAVE_PAT) && cpu_msr_read(c, MSR_PAT, &x))
        W(v, VMCS_GUEST_IA32_PAT, x);
    if (v->exit_ctls & EXIT_SAVE_EFER)
        W(v, VMCS_GUEST_IA32_EFER, cpu_get(c, CPU_EFER));
    /* "IA-32e mode guest" follows EFER.LMA (IA32_VMX_MISC[5]). */
    uint64_t entry = F(v, VMCS_VM_ENTRY_CONTROLS);
    entry = (cpu_get(c, CPU_EFER) & EFER_LMA) ? entry | ENTRY_IA32E_GUEST : entry & ~(uint64_t)ENTRY_IA32E_GUEST;
    W(v, VMCS_VM_ENTRY_CONTROLS, entry);
    /* the activity state before the VM exit (SDM 3C 28.3.4): 3 for a SIPI in wait-for-SIPI */
    W(v, VMCS_GUEST_ACTIVITY_STATE, cpu_waiting_for_sipi(c) ? 3 : cpu_halted(c) ? 1 : 0);
    /* bit 3: blocking by NMI, or with "virtual NMIs" virtual-NMI blocking
     * (SDM 3C 28.3.4); for an exit caused by an NMI the state before it */
    bool nmi_block = (v->pin & PIN_VIRTUAL_NMIS) ? cpu_virtual_nmi_blocked(c) : cpu_nmi_blocked(c);
    W(v, VMCS_GUEST_INTERRUPTIBILITY_INFO, (cpu_blocking_by_sti(c) ? 1 : 0) | (cpu_blocking_by_mov_ss(c) ? 2 : 0) |
                                           (nmi_block ? 8 : 0));
    /* a #DB still held by blocking by MOV SS stays pending in the field */
    W(v, VMCS_GUEST_PENDING_DBG_EXCEPTIONS, v->pdbg_held);
    v->pdbg_held = 0;
    /* With EPT, a PAE guest's PDPTE registers are saved (SDM 3C "Saving
     * Control Registers, Debug Registers, and MSRs" / "Saving Non-Register
     * State"); otherwise the fields are left alone. */
    uint64_t cr0 = cpu_get(c, CPU_CR0), cr4 = cpu_get(c, CPU_CR4);
    if ((v->proc2 & PROC2_EPT) && (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(cpu_get(c, CPU_EFER) & EFER_LMA)) {
        uint64_t pd[4];
        cpu_get_pdptes(c, pd);
        for (int k = 0; k < 4; k++)
            W(v, VMCS_GUEST_PDPTE0 + k, pd[k]);
    }
}

static void vm_exit_body(vmx_t *v, const struct vm_exit_info *x);

/* The exit's ~60 field writes go straight into the current VMCS region
 * (when it is RAM) and are reported written once (cpu_phys_written: code
 * translated from that page, if any, is dropped). */
void vm_exit(vmx_t *v, const struct vm_exit_info *x)
{
    v->w_host = vmcs_region_host(v);
    uint64_t pa = v->current;
    vm_exit_body(v, x);
    if (v->w_host) {
        v->w_host = NULL;
        cpu_phys_written(v->cpu, pa, VMCS_REGION_USED);
    }
}

static void vm_exit_body(vmx_t *v, const struct vm_exit_info *x)
{
    cpu_t *c = v->cpu;
    v->exits++;
    /* exit-information fields (SDM 3C "Recording VM-Exit Information") */
    W(v, VMCS_EXIT_REASON, x->reason);
    W(v, VMCS_EXIT_QUALIFICATION, x->qualification);
    W(v, VMCS_VM_EXIT_INSTRUCTION_LEN, x->insn_len);
    W(v, VMCS_VM_EXIT_INSTRUCTION_INFO, x->insn_info);
    W(v, VMCS_VM_EXIT_INTR_INFO, x->intr_info);
    W(v, VMCS_VM_EXIT_INTR_ERROR_CODE, x->intr_ec);
    W(v, VMCS_IDT_VECTORING_INFO, x->idt_info);
    W(v, VMCS_IDT_VECTORING_ERROR_CODE, x->idt_ec);
    W(v, VMCS_GUEST_LINEAR_ADDRESS, x->guest_linear);
    if (x->has_guest_physical)
        W(v, VMCS_GUEST_PHYSICAL_ADDRESS, x->guest_physical);
    /* the valid bit of the VM-entry interruption information is cleared */
    W(v, VMCS_VM_ENTRY_INTR_INFO, F(v, VMCS_VM_ENTRY_INTR_INFO) & ~(1ull << 31));
    uint64_t guest_rip = cpu_get(c, CPU_RIP);
    if (!(x->reason & EXIT_REASON_ENTRY_FAIL)) {
        save_guest_state(v);
        if ((v->pin & PIN_PREEMPTION_TIMER) && (v->exit_ctls & EXIT_SAVE_PREEMPTION_TIMER)) {
            /* the value left (SDM 3C "Saving Guest State": 0 if the timer caused the exit) */
            uint64_t now = cpu_cycles(c), rate = CAP(v, MSR_VMX_MISC) & 0x1F;
            W(v, VMCS_VMX_PREEMPTION_TIMER_VALUE, v->timer_deadline > now ? (v->timer_deadline - now) >> rate : 0);
        }
        if (!msr_list_store(v, F(v, VMCS_VM_EXIT_MSR_STORE_ADDR), (unsigned)F(v, VMCS_VM_EXIT_MSR_STORE_COUNT))) {
            vmx_abort(v, 2, "an entry of the VM-exit MSR-store list could not be stored");
            return;
        }
    }
    cpu_report_vm_exit(c, x->reason, x->qualification, x->insn_len, x->intr_info ? x->intr_info : x->insn_info,
                       guest_rip);
    cpu_set_guest_deadline(c, ~0ull);
    cpu_set_guest_window(c, false);
    cpu_set_guest_nmi_window(c, false);
    cpu_set_guest_intr_exiting(c, false);
    cpu_set_guest_step(c, false);
    /* blocking by NMI stays as it was (an exit caused by an NMI sets it:
     * events.c); virtual-NMI blocking ends with non-root operation */
    cpu_set_guest_nmi(c, false, false);
    cpu_set_virtual_nmi_blocked(c, false);
    v->mtf = v->mtf_pending = v->mtf_armed = v->boundary_due = false;
    v->timer_deadline = ~0ull;
    cpu_leave_halt(c);
    load_host_state(v);
}

/* ---- VM entry ---- */

static void load_seg(vmx_t *v, int s)
{
    struct cpu_seg seg = { .sel = (uint16_t)F(v, VMCS_GUEST_ES_SELECTOR + s), .base = F(v, VMCS_GUEST_ES_BASE + s),
                           .limit = (uint32_t)F(v, VMCS_GUEST_ES_LIMIT + s),
                           .attr = (uint32_t)F(v, VMCS_GUEST_ES_AR_BYTES + s) & 0x1F0FF };
    cpu_set_seg(v->cpu, (enum cpu_segreg)s, &seg);
}

/* Controls whose behaviour VMX non-root operation does not model yet: a VM
 * entry that sets one stops the run, naming it. */
static const char *unmodelled_control(const vmx_t *v)
{
    if (v->pin & PIN_POSTED_INTR) return "pin-based 'process posted interrupts'";
    if (v->proc2 & PROC2_VIRT_X2APIC) return "secondary 'virtualize x2APIC mode'";
    if (v->proc2 & PROC2_APIC_REG_VIRT) return "secondary 'APIC-register virtualization'";
    if (v->proc2 & PROC2_VIRT_INTR) return "secondary 'virtual-interrupt delivery'";
    return NULL;
}

struct vmx_result vm_entry(vmx_t *v, bool launch, unsigned insn_len)
{
    cpu_t *c = v->cpu;
    (void)insn_len;
    struct vmentry_env env = { .cap = v->msr, .cap_present = v->present, .features = v->features,
                               .maxphyaddr = cpu_maxphyaddr(c), .cr4_supported = cpu_cr4_supported(c),
                               .launch = launch, .vmxon_ptr = v->vmxon_ptr, .current_vmcs = v->current,
                               .ia32e_mode = (cpu_get(c, CPU_EFER) & EFER_LMA) != 0,
                               .in_smm = false, .sgx = false, .rtm = false, .perf_global_ctrl_valid = 0,
                               .ctx = v, .field = env_field, .phys_read = env_phys,
                               .vmcs = vmcs_region_host(v) };
    struct vmentry_failure f;
    char why[400];
    if (!vmentry_check_controls(&env, &f)) {
        note_check(v, &f, why, sizeof(why));
        struct vmx_result r = vmfail(v, VMXERR_ENTRY_INVALID_CONTROLS, why);
        r.check = (int)f.check;
        return r;
    }
    if (!vmentry_check_host(&env, &f)) {
        note_check(v, &f, why, sizeof(why));
        struct vmx_result r = vmfail(v, VMXERR_ENTRY_INVALID_HOST_STATE, why);
        r.check = (int)f.check;
        return r;
    }
    v->pin = (uint32_t)F(v, VMCS_PIN_BASED_VM_EXEC_CONTROL);
    v->proc = (uint32_t)F(v, VMCS_PROC_BASED_VM_EXEC_CONTROL);
    v->proc2 = (v->proc & PROC_SECONDARY) ? (uint32_t)F(v, VMCS_SECONDARY_VM_EXEC_CONTROL) : 0;
    v->exit_ctls = (uint32_t)F(v, VMCS_VM_EXIT_CONTROLS);
    v->entry_ctls = (uint32_t)F(v, VMCS_VM_ENTRY_CONTROLS);
    if (!vmentry_check_guest(&env, &f)) {
        note_check(v, &f, why, sizeof(why));
        report_transition(v, (int)f.check, true);
        struct vm_exit_info x = { .reason = EXIT_REASON_ENTRY_FAIL | 33, .qualification = f.qualification };
        vm_exit(v, &x);
        struct vmx_result r = res(VMX_SUCCEED, 0, "%s: VM-entry failure, exit reason 0x80000021, qualification %u",
                                  why, f.qualification);
        r.entry_failed = true;
        r.check = (int)f.check;
        return r;
    }
    const char *um = unmodelled_control(v);
    if (um)
        return res(VMX_UNMODELLED, 0, "VM entry with %s = 1: hvsim does not model that control yet", um);

    /* Pending debug exceptions (SDM 3C 27.7.3 "Delivery of Pending Debug
     * Exceptions after VM Entry"): valid when BS (bit 14) or the enabled-
     * breakpoint bit (12) is set. Ignored when the entry injects an external
     * interrupt, NMI, hardware exception or privileged software exception;
     * the cases hvsim does not model stop here. */
    uint64_t pdbg = F(v, VMCS_GUEST_PENDING_DBG_EXCEPTIONS);
    uint64_t pinj = F(v, VMCS_VM_ENTRY_INTR_INFO);
    unsigned ptype = (unsigned)((pinj >> 8) & 7);
    bool pdbg_valid = (pdbg & ((1ull << 14) | (1ull << 12))) != 0;
    bool pdbg_deliver = false;
    if (pdbg_valid) {
        if (pinj >> 31) {
            if (ptype == 4 || ptype == 6 || ptype == 7)
                return res(VMX_UNMODELLED, 0, "VM entry injecting an event of type %u with pending debug exceptions "
                           "%#llx: not modelled", ptype, (unsigned long long)pdbg);
        } else if (F(v, VMCS_GUEST_ACTIVITY_STATE) != 0) {
            return res(VMX_UNMODELLED, 0, "VM entry into activity state %llu with pending debug exceptions %#llx: not "
                       "modelled", (unsigned long long)F(v, VMCS_GUEST_ACTIVITY_STATE), (unsigned long long)pdbg);
        } else {
            /* blocking by MOV SS: "held pending or lost as would normally be
             * the case": hvsim holds them until the first guest instruction
             * has completed, as after a MOV SS that hit a debug trap */
            pdbg_deliver = true;
        }
    }
    uint64_t intr_state = F(v, VMCS_GUEST_INTERRUPTIBILITY_INFO);
    if (intr_state & 4)        /* the entry checks refuse it outside SMM (GUEST_INTR_SMI_OUTSIDE_SMM) */
        return res(VMX_UNMODELLED, 0, "VM entry with interruptibility state %#llx: blocking by SMI is not modelled "
                   "(hvsim has no SMIs or SMM)", (unsigned long long)intr_state);
    uint64_t dbgctl = F(v, VMCS_GUEST_IA32_DEBUGCTL);
    if ((v->entry_ctls & ENTRY_LOAD_DEBUG) && dbgctl)
        return res(VMX_UNMODELLED, 0, "VM entry loading guest IA32_DEBUGCTL = %#llx: hvsim does not model "
                   "IA32_DEBUGCTL", (unsigned long long)dbgctl);

    /* ---- load guest state (SDM 3C "Loading Guest State") ---- */
    cpu_set(c, CPU_CR0, F(v, VMCS_GUEST_CR0));
    cpu_set(c, CPU_CR4, F(v, VMCS_GUEST_CR4));
    cpu_set(c, CPU_CR3, F(v, VMCS_GUEST_CR3));
    if (v->entry_ctls & ENTRY_LOAD_DEBUG)
        cpu_set_dr(c, 7, F(v, VMCS_GUEST_DR7));
    cpu_msr_write(c, MSR_SYSENTER_CS, F(v, VMCS_GUEST_IA32_SYSENTER_CS));
    cpu_msr_write(c, MSR_SYSENTER_ESP, F(v, VMCS_GUEST_IA32_SYSENTER_ESP));
    cpu_msr_write(c, MSR_SYSENTER_EIP, F(v, VMCS_GUEST_IA32_SYSENTER_EIP));
    if (v->entry_ctls & ENTRY_LOAD_PAT)
        cpu_msr_write(c, MSR_PAT, F(v, VMCS_GUEST_IA32_PAT));
    uint64_t efer = cpu_get(c, CPU_EFER);
    if (v->entry_ctls & ENTRY_LOAD_EFER) {
        efer = F(v, VMCS_GUEST_IA32_EFER);
    } else {
        bool ia32e = v->entry_ctls & ENTRY_IA32E_GUEST;
        efer = ia32e ? efer | EFER_LMA : efer & ~EFER_LMA;
        if (F(v, VMCS_GUEST_CR0) & CR0_PG)
            efer = ia32e ? efer | EFER_LME : efer & ~EFER_LME;
    }
    cpu_set(c, CPU_EFER, efer);
    for (int s = CPU_ES; s <= CPU_TR; s++)
        load_seg(v, s);
    struct cpu_dtr g = { F(v, VMCS_GUEST_GDTR_BASE), (uint16_t)F(v, VMCS_GUEST_GDTR_LIMIT) };
    struct cpu_dtr i = { F(v, VMCS_GUEST_IDTR_BASE), (uint16_t)F(v, VMCS_GUEST_IDTR_LIMIT) };
    cpu_set_dtr(c, false, &g);
    cpu_set_dtr(c, true, &i);
    cpu_set(c, CPU_RSP, F(v, VMCS_GUEST_RSP));
    cpu_set(c, CPU_RIP, F(v, VMCS_GUEST_RIP));
    cpu_set(c, CPU_RFLAGS, F(v, VMCS_GUEST_RFLAGS));
    v->nonroot = true;
    cpu_set_guest_mode(c, true);
    /* "enable EPT": guest-physical addresses go through the EPT from now
     * on; a PAE guest's PDPTE registers come from the VMCS (SDM 3C
     * "Loading Guest State": "Loading Page-Directory-Pointer-Table
     * Entries"). */
    v->eptp = (v->proc2 & PROC2_EPT) ? F(v, VMCS_EPT_POINTER) : 0;
    cpu_set_slat(c, (v->proc2 & PROC2_EPT) != 0);
    v->tpr_entry_due = vmx_apic_access_entry(v);   /* SDM 3C 30.4, 27.7.7 (apic_access.c) */
    if (v->tpr_entry_due && ((v->proc & PROC_MTF) || F(v, VMCS_GUEST_ACTIVITY_STATE) != 0 ||
                             ((F(v, VMCS_VM_ENTRY_INTR_INFO) >> 31) && ((F(v, VMCS_VM_ENTRY_INTR_INFO) >> 8) & 7) == 7)))
        return res(VMX_UNMODELLED, 0, "VM entry with a VM exit induced by the TPR threshold (SDM 3C 27.7.7) due together "
                   "with the monitor trap flag, a pending MTF VM exit or a non-active activity state: their order is "
                   "not modelled");
    vmx_tlb_transition(v, true);
    if ((v->proc2 & PROC2_EPT) && (F(v, VMCS_GUEST_CR0) & CR0_PG) && (F(v, VMCS_GUEST_CR4) & CR4_PAE) &&
        !(v->entry_ctls & ENTRY_IA32E_GUEST)) {
        uint64_t pd[4];
        for (int k = 0; k < 4; k++)
            pd[k] = F(v, VMCS_GUEST_PDPTE0 + k);
        cpu_set_pdptes(c, pd);
    }
    cpu_reload_context(c);

    /* The VM-entry MSR-load list (failure: reason 34, qualification = the
     * failing entry's number, and host state is loaded). */
    unsigned bad = msr_list_load(v, F(v, VMCS_VM_ENTRY_MSR_LOAD_ADDR), (unsigned)F(v, VMCS_VM_ENTRY_MSR_LOAD_COUNT),
                                 why, sizeof(why));
    if (bad) {
        report_transition(v, -1, true);
        struct vm_exit_info x = { .reason = EXIT_REASON_ENTRY_FAIL | 34, .qualification = bad };
        vm_exit(v, &x);
        struct vmx_result r = res(VMX_SUCCEED, 0, "VM entry failed loading MSRs: %s [SDM 3C, VM Entries: Loading "
                                  "MSRs]: exit reason 0x80000022, qualification %u", why, bad);
        r.entry_failed = true;
        return r;
    }
    if (launch) {
        uint32_t launched = LAUNCH_LAUNCHED;
        cpu_phys_write(c, v->current + REGION_LAUNCH, &launched, 4);
    }
    report_transition(v, -1, false);
    cpu_report_vm_entry(c, F(v, VMCS_GUEST_RIP));
    /* what VMX non-root operation watches for (events.c) */
    if (v->pin & PIN_PREEMPTION_TIMER) {
        /* counts down by 1 every 2^X TSC cycles, X = IA32_VMX_MISC[4:0];
         * hvsim starts the count at VM entry (SDM 3C "VMX-Preemption Timer") */
        uint64_t val = F(v, VMCS_VMX_PREEMPTION_TIMER_VALUE) & 0xFFFFFFFFu, rate = CAP(v, MSR_VMX_MISC) & 0x1F;
        v->timer_deadline = cpu_cycles(c) + (val << rate);
        cpu_set_guest_deadline(c, v->timer_deadline);
    }
    cpu_set_guest_window(c, v->proc & PROC_INT_WINDOW);
    cpu_set_guest_intr_exiting(c, v->pin & PIN_EXT_INT_EXITING);
    cpu_release_init(c);                   /* an INIT held in VMX root operation now causes a VM exit */
    /* the monitor trap flag: cpu/ steps the guest and asks at every
     * boundary (events.c); PAUSE-loop exiting starts afresh (nonroot.c) */
    v->mtf = v->proc & PROC_MTF;
    v->mtf_pending = v->mtf_armed = v->boundary_due = false;
    v->ple_seen = false;
    cpu_set_guest_step(c, v->mtf || v->tpr_entry_due);

    /* Interruptibility and activity state, then event injection (SDM 3C
     * "Event Injection": injection happens after guest state is loaded; an
     * injected event ends the HLT activity state). */
    uint64_t intr = F(v, VMCS_GUEST_INTERRUPTIBILITY_INFO);
    if (intr & 3)
        cpu_set_interrupt_shadow(c, intr & 1);
    /* Blocking of NMIs (SDM 3C 27.7.1 "Interruptibility State"): without
     * "virtual NMIs", bit 3 is blocking by NMI, which a guest IRET removes
     * unless "NMI exiting" is 1 (then it lasts while the guest runs); with
     * "virtual NMIs", NMIs are not blocked in VMX non-root operation and
     * bit 3 is virtual-NMI blocking. An injected NMI sets the one that
     * applies (cpu/ on delivery). */
    cpu_set_guest_nmi(c, v->pin & PIN_NMI_EXITING, v->pin & PIN_VIRTUAL_NMIS);
    if (v->pin & PIN_VIRTUAL_NMIS) {
        cpu_set_nmi_blocked(c, false);
        cpu_set_virtual_nmi_blocked(c, intr & 8);
    } else {
        cpu_set_nmi_blocked(c, intr & 8);
        cpu_set_virtual_nmi_blocked(c, false);
    }
    cpu_set_guest_nmi_window(c, v->proc & PROC_NMI_WINDOW);
    uint64_t inj = F(v, VMCS_VM_ENTRY_INTR_INFO);
    if (inj >> 31) {
        unsigned type = (inj >> 8) & 7;
        W(v, VMCS_VM_ENTRY_INTR_INFO, inj & ~(1ull << 31));
        if (type == 7) {
            /* "other event" vector 0 (the entry checks allow no other): a
             * pending MTF VM exit, before the first instruction, whatever
             * the control says; nothing is delivered and the activity
             * state stays (SDM 3C "Injection of Pending MTF VM Exits") */
            v->mtf_pending = true;
            cpu_set_guest_step(c, true);
        } else {
            cpu_inject_event(c, inj & 0xFF, type, (inj >> 11) & 1, (uint32_t)F(v, VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE),
                             (unsigned)F(v, VMCS_VM_ENTRY_INSTRUCTION_LEN));
            /* with the monitor trap flag, an MTF VM exit is pending before
             * the first instruction, i.e. at the handler (SDM 3C "Monitor
             * Trap Flag") */
            v->mtf_pending = v->mtf && v->nonroot;
            return res(VMX_SUCCEED, 0, "VM entry, event %#llx injected", (unsigned long long)inj);
        }
    }
    uint64_t act = F(v, VMCS_GUEST_ACTIVITY_STATE);
    if (act == 1) {
        cpu_enter_halt(c);
        if (v->mtf_pending || ((v->proc & PROC_NMI_WINDOW) && !(intr & 8)))
            nonroot_boundary_due(v);               /* MTF and NMI-window VM exits wake the LP from HLT */
        struct vmx_result r = res(VMX_SUCCEED, 0, "VM entry into the HLT activity state");
        r.halted = true;
        return r;
    }
    if (act == 3) {
        /* wait-for-SIPI (SDM 3C 27.7.2 "Activity State"; the entry checks
         * allowed it: IA32_VMX_MISC[8], nothing injected, no blocking by STI
         * or MOV SS): external interrupts, NMIs, INIT and SMIs are blocked,
         * the guest runs nothing until a SIPI, which is a VM exit (reason 4,
         * events.c). No INIT reset happens: the guest state is the one
         * loaded. */
        cpu_enter_wait_for_sipi(c);
        struct vmx_result r = res(VMX_SUCCEED, 0, "VM entry into the wait-for-SIPI activity state");
        r.halted = true;
        return r;
    }
    if (act != 0)
        return res(VMX_UNMODELLED, 0, "VM entry into activity state %llu (%s): not modelled", (unsigned long long)act,
                   act == 2 ? "shutdown" : "?");
    v->pdbg_held = 0;
    if (pdbg_deliver && (F(v, VMCS_GUEST_INTERRUPTIBILITY_INFO) & 2)) {
        if (v->mtf)
            return res(VMX_UNMODELLED, 0, "VM entry with the monitor trap flag, blocking by MOV SS and pending debug "
                       "exceptions %#llx: the order of the held #DB and the MTF VM exit is not modelled",
                       (unsigned long long)pdbg);
        v->pdbg_held = pdbg;
        v->pdbg_armed = false;
        cpu_set_guest_step(c, true);
        return res(VMX_SUCCEED, 0, "VM entry, pending debug exceptions %#llx held by blocking by MOV SS",
                   (unsigned long long)pdbg);
    }
    if (pdbg_deliver) {
        /* a #DB trap after VM entry, with the priority of traps on the
         * previous instruction: a VM exit through the exception bitmap, or
         * DR6 |= B3-B0 and BS and delivery through the guest's IDT */
        cpu_raise_debug_trap(c, pdbg & 0x400F);
        return res(VMX_SUCCEED, 0, "VM entry, pending debug exceptions %#llx delivered", (unsigned long long)pdbg);
    }
    return res_s(VMX_SUCCEED, "VM entry");
}
