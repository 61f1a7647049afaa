/*
 * vmx_loop — a hypervisor-shaped payload: a 64-bit guest (sharing the
 * payload's address space, GDT and IDT) runs 50 iterations of the work a
 * real guest does, and the host handles every VM exit and resumes:
 *
 *   CPUID leaf 40000000H + (i mod 4)   exit 10: the host answers from its own table
 *   OUT/IN DX = 0x1234 (dword)        exit 30 (bit 0x1234 of I/O bitmap A):
 *                                      an emulated device register; a read
 *                                      returns the last value written XOR A5A5A5A5H
 *   WRMSR/RDMSR 0x1ff0                exits 32/31 (its read- and write-low
 *                                      bits set): an emulated MSR; a read
 *                                      returns the last value written + 1
 *   HLT when i mod 10 = 9             exit 12: the host skips it and injects
 *                                      external interrupt 0x40, delivered
 *                                      through the guest IDT
 *   UD2 when i mod 7 = 6              exit 0 (bit 6 of the exception bitmap):
 *                                      the host counts a fix-up and skips it
 *   some arithmetic between the exits (longer as i mod 5 grows)
 *   VMCALL at the end                 exit 18, the guest's checksum in RAX
 *
 * With the command line "timer" (or "timer N") the VMX-preemption timer
 * (value 100 or N, saved
 * on exit so that it measures guest time only) interrupts the guest too
 * (exit 52, re-armed each time); hvsim counts it in virtual time, so the
 * number of timer exits is the same on every run.
 *
 * The guest checks each emulated result against the device's rules and
 * folds everything it saw into a checksum; the host folds every non-timer
 * exit (reason, qualification, length) into its own and also recomputes
 * the guest's checksum from the rules. Both print their checksums and the
 * host prints the count of each exit reason.
 *
 * SDM 3C "Instructions That Cause VM Exits" (CPUID, HLT, IN/OUT, RDMSR,
 * WRMSR), "VM-Execution Control Fields" (I/O and MSR bitmaps, exception
 * bitmap), "VMX-Preemption Timer", "Event Injection", "Basic VM-Exit
 * Information", 3D appendix C.
 */
#include "hvsim.h"
#include "vmx.h"

#define PIN_TIMER     (1u << 6)
#define X_SAVE_TIMER  (1u << 22)
#define DEV_PORT      0x1234u
#define EMU_MSR       0x1ff0u
#define ITER          50u
#define TIMER_VALUE   100u

static uint8_t guest_stack[16384] __attribute__((aligned(16)));
static uint8_t io_a[4096] __attribute__((aligned(4096)));
static uint8_t io_b[4096] __attribute__((aligned(4096)));
static uint8_t msr_bm[4096] __attribute__((aligned(4096)));

/* shared between host and guest (the same memory) */
static volatile uint64_t guest_irqs, host_fixups, guest_sum, guest_errors, guest_done;

/* ---- the emulated hardware's rules (used by both sides) ---- */
static void cpuid_rule(uint32_t leaf, uint32_t r[4])
{
    r[0] = leaf * 3u;
    r[1] = 0x6876736d;
    r[2] = leaf >> 1;
    r[3] = ~leaf;
}
static uint32_t dev_rule(uint32_t written) { return written ^ 0xA5A5A5A5u; }
static uint64_t msr_rule(uint64_t written) { return written + 1; }
static uint64_t work(unsigned i, uint64_t x)
{
    for (unsigned k = 0; k < (i % 5) * 200; k++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}
/* The guest's checksum, as the rules say it must come out. */
static uint64_t model_sum(void)
{
    uint64_t sum = 0, x = 1;
    unsigned irqs = 0, ud = 0;
    for (unsigned i = 0; i < ITER; i++) {
        uint32_t r[4];
        cpuid_rule(0x40000000u + (i & 3), r);
        sum = sum * 31 + r[0] + r[1] + r[2] + r[3];
        sum = sum * 31 + dev_rule(0x1000u * i + 7);
        sum = sum * 31 + msr_rule(((uint64_t)i << 32) | (0x1000u * i + 7));
        x = work(i, x);
        sum = sum * 31 + x;
        irqs += i % 10 == 9;
        ud += i % 7 == 6;
    }
    return sum * 31 + irqs * 1000 + ud;
}

/* ---- the guest (VMX non-root operation) ---- */
static inline void dev_out(uint16_t port, uint32_t v) { __asm__ volatile("out %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline uint32_t dev_in(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("in %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static bool guest_irq40(struct hv_frame *f)
{
    (void)f;
    guest_irqs++;
    return true;
}

static void guest_main(void)
{
    uint64_t sum = 0, x = 1, errors = 0;
    for (unsigned i = 0; i < ITER; i++) {
        uint32_t leaf = 0x40000000u + (i & 3), r[4], want[4];
        hv_cpuid(leaf, 0, r);
        cpuid_rule(leaf, want);
        errors += r[0] != want[0] || r[1] != want[1] || r[2] != want[2] || r[3] != want[3];
        sum = sum * 31 + r[0] + r[1] + r[2] + r[3];
        uint32_t val = 0x1000u * i + 7;
        dev_out(DEV_PORT, val);
        uint32_t back = dev_in(DEV_PORT);
        errors += back != dev_rule(val);
        sum = sum * 31 + back;
        uint64_t mv = ((uint64_t)i << 32) | val;
        wrmsr(EMU_MSR, mv);
        uint64_t m = rdmsr(EMU_MSR);
        errors += m != msr_rule(mv);
        sum = sum * 31 + m;
        x = work(i, x);
        sum = sum * 31 + x;
        if (i % 10 == 9) {
            uint64_t before = guest_irqs;
            __asm__ volatile("hlt" ::: "memory");
            errors += guest_irqs != before + 1;
        }
        if (i % 7 == 6) {
            uint64_t before = host_fixups;
            __asm__ volatile("ud2" ::: "memory");
            errors += host_fixups != before + 1;
        }
    }
    sum = sum * 31 + guest_irqs * 1000 + host_fixups;
    guest_sum = sum;
    guest_errors = errors;
    guest_done = 1;
    __asm__ volatile("vmcall" : : "a"(sum), "b"(errors) : "memory");
    for (;;)
        __asm__ volatile("hlt");
}

/* ---- the host ---- */
static struct vmx_regs g;
static unsigned counts[64];

static void skip(void) { vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN)); }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    const char *cl = (const char *)(uintptr_t)bi->cmdline;
    /* "timer" or "timer N": the VMX-preemption timer with value N (default TIMER_VALUE) */
    bool timer = cl && !memcmp(cl, "timer", 5) && (cl[5] == 0 || cl[5] == ' ');
    uint64_t tval = TIMER_VALUE;
    if (timer && cl[5] == ' ')
        for (tval = 0, cl += 6; *cl >= '0' && *cl <= '9'; cl++)
            tval = tval * 10 + (uint64_t)(*cl - '0');
    hv_cpu_init();
    hv_set_handler(0x40, guest_irq40);
    vmx_on_with_vmcs();
    io_a[DEV_PORT / 8] |= 1u << (DEV_PORT % 8);
    msr_bm[EMU_MSR / 8] |= 1u << (EMU_MSR % 8);                 /* read, low MSRs */
    msr_bm[2048 + EMU_MSR / 8] |= 1u << (EMU_MSR % 8);          /* write, low MSRs */
    vmx_init_controls(timer ? PIN_TIMER : 0, PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS, 0,
                      timer ? X_SAVE_TIMER : 0, 0);
    vmw(F_IO_BITMAP_A, (uint64_t)(uintptr_t)io_a);
    vmw(F_IO_BITMAP_B, (uint64_t)(uintptr_t)io_b);
    vmw(F_MSR_BITMAP, (uint64_t)(uintptr_t)msr_bm);
    vmw(F_EXCEPTION_BITMAP, 1u << 6);
    if (timer)
        vmw(F_PREEMPTION_TIMER, tval);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)guest_main, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    vmw(F_GUEST_RFLAGS, 0x202);                                  /* IF = 1: injected interrupts are accepted */

    uint64_t hsum = 0, msr_val = 0, dev_reg = 0;
    unsigned dev_w = 0, dev_r = 0, msr_w = 0, msr_r = 0, exits = 0, bad = 0;
    bool launched = false;
    for (;;) {
        uint64_t r = vmx_enter(&g, launched);
        T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
                 (unsigned long long)vmx_insn_error());
        launched = true;
        exits++;
        T_ASSERT(exits < 100000, "the guest does not finish");
        uint64_t reason = vmr(F_EXIT_REASON) & 0xFFFF, q = vmr(F_EXIT_QUALIFICATION), len = vmr(F_EXIT_INSN_LEN);
        counts[reason < 64 ? reason : 63]++;
        if (reason != 52)
            hsum = hsum * 31 + (reason << 16) + (q & 0xFFFFFFFFu) + (reason == 0 ? 0 : len);
        if (reason == 18)
            break;
        switch (reason) {
        case 10: {                                               /* CPUID */
            uint32_t leaf = (uint32_t)g.rax, v[4];
            if (leaf >= 0x40000000u && leaf <= 0x40000003u)
                cpuid_rule(leaf, v);
            else
                hv_cpuid(leaf, (uint32_t)g.rcx, v);
            hsum = hsum * 31 + leaf;
            g.rax = v[0];
            g.rbx = v[1];
            g.rcx = v[2];
            g.rdx = v[3];
            skip();
            break;
        }
        case 30: {                                               /* I/O: the device register */
            unsigned port = (unsigned)(q >> 16), size = (unsigned)(q & 7) + 1;
            bool in = q & 8;
            if (port != DEV_PORT || size != 4 || (q & 0x30)) {
                bad++;
            } else if (in) {
                g.rax = dev_rule((uint32_t)dev_reg);            /* a 32-bit IN zero-extends into RAX */
                dev_r++;
            } else {
                dev_reg = (uint32_t)g.rax;
                dev_w++;
            }
            skip();
            break;
        }
        case 31:                                                 /* RDMSR of the emulated MSR */
            if ((uint32_t)g.rcx != EMU_MSR)
                bad++;
            g.rax = (uint32_t)msr_rule(msr_val);
            g.rdx = msr_rule(msr_val) >> 32;
            msr_r++;
            skip();
            break;
        case 32:                                                 /* WRMSR */
            if ((uint32_t)g.rcx != EMU_MSR)
                bad++;
            msr_val = ((g.rdx & 0xFFFFFFFFu) << 32) | (g.rax & 0xFFFFFFFFu);
            msr_w++;
            skip();
            break;
        case 12:                                                 /* HLT: skip it, inject vector 0x40 */
            skip();
            vmw(F_ENTRY_INTR_INFO, (1u << 31) | (0u << 8) | 0x40);
            break;
        case 0: {                                                /* #UD through the exception bitmap */
            uint64_t ii = vmr(F_EXIT_INTR_INFO);
            if (ii != 0x80000306)
                bad++;
            host_fixups++;
            vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + 2);              /* UD2 */
            break;
        }
        case 52:                                                 /* VMX-preemption timer: re-arm */
            vmw(F_PREEMPTION_TIMER, tval);
            break;
        default:
            T_ASSERT(false, "unexpected exit reason %llu, qualification %#llx", (unsigned long long)reason,
                     (unsigned long long)q);
        }
    }
    uint64_t want = model_sum();
    hv_printf("guest: %u iterations done: %s, checks failed: %llu, interrupts taken: %llu, #UD fix-ups seen: %llu\n",
              ITER, hv_yn(guest_done), (unsigned long long)g.rbx, (unsigned long long)guest_irqs,
              (unsigned long long)host_fixups);
    hv_printf("guest checksum %#llx, as the device rules give it: %s\n", (unsigned long long)g.rax, hv_yn(g.rax == want));
    hv_printf("exits: CPUID (10) %u, I/O (30) %u, RDMSR (31) %u, WRMSR (32) %u, HLT (12) %u, exception (0) %u, "
              "VMCALL (18) %u, other %u\n", counts[10], counts[30], counts[31], counts[32], counts[12], counts[0],
              counts[18], exits - counts[10] - counts[30] - counts[31] - counts[32] - counts[12] - counts[0] -
              counts[18] - counts[52]);
    hv_printf("device: %u writes, %u reads, last register value %#llx; MSR %#x: %u writes, %u reads, last value %#llx; "
              "unexpected exits: %u\n", dev_w, dev_r, (unsigned long long)dev_reg, EMU_MSR, msr_w, msr_r,
              (unsigned long long)msr_val, bad);
    hv_printf("host checksum of the non-timer exits: %#llx\n", (unsigned long long)hsum);
    if (timer)
        hv_printf("VMX-preemption timer exits (52): %u of %u exits\n", counts[52], exits);
    T_CHECK_EQ(g.rbx, 0);
    T_CHECK_EQ(g.rax, want);
    T_CHECK_EQ(bad, 0);
    T_CHECK_EQ(counts[10], ITER);
    T_CHECK_EQ(counts[30], 2 * ITER);
    T_CHECK_EQ(counts[31], ITER);
    T_CHECK_EQ(counts[32], ITER);
    T_CHECK_EQ(counts[12], 5);
    T_CHECK_EQ(counts[0], 7);
    T_CHECK_EQ(counts[18], 1);
    T_CHECK(timer ? counts[52] > 0 : counts[52] == 0, "timer exits %u", counts[52]);
    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    T_DONE();
}
