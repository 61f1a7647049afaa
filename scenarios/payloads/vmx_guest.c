/*
 * vmx_guest — a hypervisor-shaped payload: VMXON, a VMCS built from the
 * capability MSRs, VMLAUNCH of a 64-bit guest that shares the payload's
 * address space, and a loop handling its exits: VMCALL (18), CPUID (10),
 * I/O through the I/O bitmaps (30), RDMSR through the MSR bitmap (31), HLT
 * (12), an injected external interrupt delivered through the guest's IDT,
 * and a triple fault (2). Each exit's reason, qualification, instruction
 * length and guest RIP is printed and checked.
 *
 * SDM 3C 25 (VMCS), 27 (VM entries: loading guest state, event
 * injection), 28 (VM exits: exit information, loading host state), 26
 * (instructions that cause VM exits), 3D appendix C (exit reasons).
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static uint8_t io_bitmap_a[4096] __attribute__((aligned(4096)));
static uint8_t io_bitmap_b[4096] __attribute__((aligned(4096)));
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096)));
static volatile uint64_t guest_irq_seen, guest_step;

/* ---- the guest (runs in VMX non-root operation) ---- */
extern char guest_vmcall1[], guest_cpuid[], guest_out80[], guest_rdmsr[], guest_hlt[], guest_vmcall2[];
__attribute__((used)) static void guest_body(void)
{
    __asm__ volatile(
        ".globl guest_vmcall1\nguest_vmcall1: vmcall\n"
        "mov $0x4, %%eax\n xor %%ecx, %%ecx\n"
        ".globl guest_cpuid\nguest_cpuid: cpuid\n"
        "mov %%ebx, %%r12d\n"
        "mov $0x5a, %%al\n"
        ".globl guest_out80\nguest_out80: outb %%al, $0x80\n"
        "mov $0x174, %%ecx\n"
        ".globl guest_rdmsr\nguest_rdmsr: rdmsr\n"
        "mov %%eax, %%r13d\n"
        ".globl guest_hlt\nguest_hlt: hlt\n"
        ".globl guest_vmcall2\nguest_vmcall2: vmcall\n"
        "1: jmp 1b\n" ::: "memory");
}

/* The guest prints straight to the console: port 0xE9 is clear in the I/O bitmap. */
static void guest_print_entry(void);
__attribute__((used)) static void guest_print(void)
{
    hv_puts("guest: running in VMX non-root operation, printing through port 0xE9 without an exit\n");
    guest_step = 1;
    guest_body();
}
static void guest_print_entry(void) { guest_print(); }

/* Vector 0x30 in the shared IDT: an external interrupt injected at VM entry. */
static bool irq30(struct hv_frame *f)
{
    (void)f;
    guest_irq_seen++;
    return true;
}

/* A guest that triple-faults: an IDT with no valid gate, then #UD. */
static void guest_triple(void)
{
    struct hv_dtr none = { 0, 0 };
    lidt(&none);
    __asm__ volatile("ud2");
}

static uint64_t exit_reason(void) { return vmr(F_EXIT_REASON); }

static void show_exit(const char *what, uint64_t want_reason, uint64_t want_len, const void *want_rip)
{
    uint64_t reason = exit_reason(), len = vmr(F_EXIT_INSN_LEN), rip = vmr(F_GUEST_RIP), q = vmr(F_EXIT_QUALIFICATION);
    hv_printf("exit: %s: reason %llu, qualification %#llx, instruction length %llu, at the expected RIP: %s\n", what,
              (unsigned long long)reason, (unsigned long long)q, (unsigned long long)len,
              hv_yn(!want_rip || rip == (uint64_t)(uintptr_t)want_rip));
    T_CHECK_EQ(reason, want_reason);
    if (want_len)
        T_CHECK_EQ(len, want_len);
    if (want_rip)
        T_CHECK_EQ(rip, (uint64_t)(uintptr_t)want_rip);
}

static void skip_insn(void) { vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + vmr(F_EXIT_INSN_LEN)); }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    hv_set_handler(0x30, irq30);
    vmx_on_with_vmcs();

    /* I/O bitmaps: port 0x80 exits, 0xE9 does not; MSR bitmap: reads of
     * IA32_SYSENTER_CS (0x174) exit, the rest of the MSRs do not. */
    io_bitmap_a[0x80 / 8] |= 1u << (0x80 % 8);
    msr_bitmap[0x174 / 8] |= 1u << (0x174 % 8);
    vmx_init_controls(0, PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS, 0, 0, 0);
    vmw(F_IO_BITMAP_A, (uint64_t)(uintptr_t)io_bitmap_a);
    vmw(F_IO_BITMAP_B, (uint64_t)(uintptr_t)io_bitmap_b);
    vmw(F_MSR_BITMAP, (uint64_t)(uintptr_t)msr_bitmap);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)guest_print_entry, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    hv_printf("VMCS: pin %#llx, primary %#llx, exit %#llx, entry %#llx\n", (unsigned long long)vmr(F_PIN),
              (unsigned long long)vmr(F_PROC), (unsigned long long)vmr(F_EXIT_CTLS), (unsigned long long)vmr(F_ENTRY_CTLS));

    struct vmx_regs g = { 0 };
    g.r14 = 0x1111;
    uint64_t r = vmx_enter(&g, 0);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMLAUNCH failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    hv_printf("back in VMX root operation after VMLAUNCH; the guest ran: %s\n", hv_yn(guest_step == 1));
    show_exit("VMCALL", 18, 3, guest_vmcall1);
    hv_printf("guest R14 at the VMCALL = %#llx (loaded before VMLAUNCH, callee-saved in the guest's C code)\n",
              (unsigned long long)g.r14);
    T_CHECK_EQ(g.r14, 0x1111);
    skip_insn();

    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME");
    show_exit("CPUID", 10, 2, guest_cpuid);
    hv_printf("guest asked CPUID leaf %#llx; the host answers EBX = 0x6876736d\n", (unsigned long long)g.rax);
    T_CHECK_EQ(g.rax, 4);
    g.rbx = 0x6876736d;
    skip_insn();

    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME");
    show_exit("OUT to port 0x80", 30, 2, guest_out80);
    uint64_t q = vmr(F_EXIT_QUALIFICATION);
    hv_printf("I/O qualification: size %llu, %s, immediate operand: %s, port %#llx; guest AL = %#llx\n",
              (unsigned long long)(q & 7) + 1, (q & 8) ? "IN" : "OUT", hv_yn(q & 0x40),
              (unsigned long long)(q >> 16), (unsigned long long)(g.rax & 0xFF));
    T_CHECK_EQ(q, 0x00800040);
    skip_insn();

    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME");
    show_exit("RDMSR 0x174", 31, 2, guest_rdmsr);
    hv_printf("guest R12 = %#llx (EBX from the emulated CPUID)\n", (unsigned long long)g.r12);
    T_CHECK_EQ(g.r12, 0x6876736d);
    g.rax = 0xABCD;
    g.rdx = 0;
    skip_insn();

    /* Resume with an external interrupt injected: vector 0x30 goes through
     * the guest's IDT before the guest's next instruction (SDM 3C 27.6). */
    vmw(F_ENTRY_INTR_INFO, (1u << 31) | (0u << 8) | 0x30);
    vmw(F_GUEST_RFLAGS, vmr(F_GUEST_RFLAGS) | RFLAGS_IF);
    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME with injection: error %llu", (unsigned long long)vmx_insn_error());
    show_exit("HLT", 12, 1, guest_hlt);
    hv_printf("the injected interrupt reached the guest handler: %s; the valid bit was cleared: %s\n",
              hv_yn(guest_irq_seen == 1), hv_yn(!(vmr(F_ENTRY_INTR_INFO) >> 31)));
    T_CHECK_EQ(guest_irq_seen, 1);
    T_CHECK(!(vmr(F_ENTRY_INTR_INFO) >> 31), "entry interruption information still valid");
    hv_printf("guest R13 = %#llx (EAX from the emulated RDMSR)\n", (unsigned long long)g.r13);
    T_CHECK_EQ(g.r13, 0xABCD);
    skip_insn();

    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME");
    show_exit("second VMCALL", 18, 3, guest_vmcall2);

    /* A guest that triple-faults: exit reason 2, no instruction length. */
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)guest_triple);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    vmw(F_GUEST_RFLAGS, 0x2);
    r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME");
    show_exit("triple fault", 2, 0, NULL);
    struct hv_dtr idt;
    sidt(&idt);
    hv_printf("host IDTR limit after the exit = %#x (loaded as 0xffff), guest IDTR limit saved = %llu\n", idt.limit,
              (unsigned long long)vmr(F_GUEST_IDTR_LIMIT));
    T_CHECK_EQ(idt.limit, 0xFFFF);
    T_CHECK_EQ(vmr(F_GUEST_IDTR_LIMIT), 0);

    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    hv_printf("VMXOFF\n");
    T_DONE();
}
