/*
 * vmx_sipi — INIT, the wait-for-SIPI activity state and start-up IPIs in
 * VMX non-root operation (run with --lps 2; `--cmdline NAME`, the table
 * at the end). LP 0 is the hypervisor, LP 1 sends the IPIs LP 0 asks for
 * (a mailbox: LP 1 sends once after a delay; a SIPI again and again until
 * LP 0 has seen its VM exit, since one that arrives while LP 0 is not yet
 * waiting is discarded).
 *
 *   init-then-sipi   INIT while the guest runs: exit 3; the host puts the
 *                    guest in wait-for-SIPI (activity state 3) and
 *                    resumes it; the SIPI: exit 4, its vector in the
 *                    qualification, activity state 3 saved, the guest RIP
 *                    unchanged, no guest instruction run
 *   wait-entry       VM entry straight into wait-for-SIPI, then the SIPI
 *   blocks-interrupt in wait-for-SIPI a fixed IPI (external-interrupt
 *                    exiting) causes no exit; after the SIPI's exit and a
 *                    VM entry in the active state it exits (reason 1)
 *   blocks-init      in wait-for-SIPI an INIT causes no exit; after the
 *                    SIPI's exit it is held (VMX root operation blocks
 *                    INIT too) and exits right after the next VM entry
 *   active-discarded a SIPI to a guest in the active state is discarded
 *   unsupported      with IA32_VMX_MISC[8] = 0 (a scenario override) VM
 *                    entry into wait-for-SIPI fails its checks (exit
 *                    reason 0x80000021)
 *
 * SDM 3C 26.2 "Other Causes of VM Exits" (INIT signals, start-up IPIs),
 * 27.7.2 "Activity State" (what each activity state blocks), 28.2.1
 * table "Exit Qualification for SIPI" (bits 7:0 the vector), 28.3.4 (the
 * activity state saved), 27.3.1.5 (the activity-state checks), 3D A.6
 * (IA32_VMX_MISC bit 8: wait-for-SIPI supported), 3D appendix C (exit
 * reasons 3 and 4).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

#define PIN_EXT_INT   (1u << 0)
#define EXIT_ACK_INT  (1u << 15)
#define SIPI_VECTOR   0x9A
#define FIXED_VECTOR  0x40

/* Mailbox commands: an INIT or a fixed IPI, then (CMD_SIPI) start-up IPIs. */
enum { CMD_INIT = 1, CMD_FIXED = 2, CMD_SIPI = 4 };
static volatile uint32_t cmd, cmd_done, sipi_seen;
static uint8_t guest_stack[4096] __attribute__((aligned(16)));
static volatile uint64_t guest_ran;
static struct vmx_regs g;
static bool launched;

static uint64_t A(const void *p) { return (uint64_t)(uintptr_t)p; }

/* The guest notes that it ran, spins for 20 million TSC cycles (LP 1 sends
 * after one million) and ends with VMCALL (exit 18), so that a lost INIT
 * or SIPI ends the run instead of hanging it. */
__attribute__((used)) static void guest_spin(void)
{
    guest_ran = 1;
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 20000000)
        __asm__ volatile("pause");
    for (;;)
        __asm__ volatile("vmcall");
}

/* LP 1: wait for a command; a million cycles later (LP 0 is in its guest
 * by then) send the INIT or the fixed IPI; a million cycles after that the
 * SIPI, again and again until LP 0 saw its VM exit. */
static void sender(void)
{
    for (;;) {
        while (!__atomic_load_n(&cmd, __ATOMIC_ACQUIRE))
            cpu_pause();
        uint32_t c = cmd;
        hv_spin_cycles(1000000);
        if (c & CMD_INIT)
            apic_send_ipi(0, (5u << 8) | ICR_ASSERT | ICR_PHYSICAL | ICR_SH_NONE);
        if (c & CMD_FIXED)
            apic_send_ipi(0, FIXED_VECTOR | ICR_FIXED | ICR_ASSERT | ICR_PHYSICAL | ICR_SH_NONE);
        if (c & CMD_SIPI) {
            if (c & (CMD_INIT | CMD_FIXED))
                hv_spin_cycles(1000000);
            while (!__atomic_load_n(&sipi_seen, __ATOMIC_ACQUIRE)) {
                apic_send_ipi(0, (6u << 8) | SIPI_VECTOR | ICR_ASSERT | ICR_PHYSICAL | ICR_SH_NONE);
                hv_spin_cycles(1000000);
            }
        }
        __atomic_store_n(&cmd, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&cmd_done, cmd_done + 1, __ATOMIC_RELEASE);
    }
}

/* Ask LP 1 for IPIs; wait until it has sent n commands' worth. */
static void ask(uint32_t c)
{
    __atomic_store_n(&sipi_seen, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&cmd, c, __ATOMIC_RELEASE);
}
static void wait_done(uint32_t n)
{
    while (__atomic_load_n(&cmd_done, __ATOMIC_ACQUIRE) < n)
        cpu_pause();
}

static uint64_t enter(uint64_t activity)
{
    vmw(F_GUEST_ACTIVITY, activity);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

static void setup(uint32_t pin, uint32_t exitc)
{
    vmx_init_controls(pin, 0, 0, exitc, 0);
    vmx_init_host();
    vmx_init_guest64(A(guest_spin), A(guest_stack + sizeof(guest_stack) - 8));
    guest_ran = 0;
}

/* The SIPI's VM exit, from the wait-for-SIPI state entered at rip. */
static void expect_sipi(uint64_t r, uint64_t rip)
{
    __atomic_store_n(&sipi_seen, 1, __ATOMIC_RELEASE);
    uint64_t q = vmr(F_EXIT_QUALIFICATION), act = vmr(F_GUEST_ACTIVITY), grip = vmr(F_GUEST_RIP);
    hv_printf("SIPI with vector %#x: exit %llu, qualification %#llx, activity state saved %llu, guest RIP unchanged: "
              "%s, a guest instruction ran: %s\n", SIPI_VECTOR, (unsigned long long)r, (unsigned long long)(q & 0xFF),
              (unsigned long long)act, hv_yn(grip == rip), hv_yn(guest_ran));
    T_CHECK_EQ(r, 4);
    T_CHECK_EQ(q & 0xFF, SIPI_VECTOR);
    T_CHECK_EQ(act, 3);
    T_CHECK_EQ(grip, rip);
    T_CHECK_EQ(guest_ran, 0);
}

static void init_then_sipi(void)
{
    setup(0, 0);
    ask(CMD_INIT);
    uint64_t r = enter(0);
    wait_done(1);
    uint64_t q = vmr(F_EXIT_QUALIFICATION), act = vmr(F_GUEST_ACTIVITY), rip = vmr(F_GUEST_RIP);
    hv_printf("INIT while the guest runs: exit %llu, qualification %llu, activity state saved %llu, the guest ran: %s\n",
              (unsigned long long)r, (unsigned long long)q, (unsigned long long)act, hv_yn(guest_ran));
    T_CHECK_EQ(r, 3);
    T_CHECK_EQ(q, 0);
    T_CHECK_EQ(act, 0);
    /* the host keeps the guest for its SIPI: wait-for-SIPI, as a VMM does
     * for the MP start-up algorithm (SDM 3C 33.5) */
    guest_ran = 0;
    ask(CMD_SIPI);
    hv_printf("the host resumes the guest in the wait-for-SIPI activity state\n");
    r = enter(3);
    expect_sipi(r, rip);
    wait_done(2);
}

static void wait_entry(void)
{
    setup(0, 0);
    ask(CMD_SIPI);
    hv_printf("VMLAUNCH with activity state 3 (wait-for-SIPI)\n");
    uint64_t r = enter(3);
    expect_sipi(r, A(guest_spin));
    wait_done(1);
}

static void blocks_interrupt(void)
{
    apic_sw_enable(0xFF);
    setup(PIN_EXT_INT, EXIT_ACK_INT);
    ask(CMD_FIXED | CMD_SIPI);
    hv_printf("VMLAUNCH into wait-for-SIPI with external-interrupt exiting; LP 1 sends a fixed IPI (vector %#x), "
              "then the SIPI\n", FIXED_VECTOR);
    uint64_t r = enter(3);
    expect_sipi(r, A(guest_spin));
    wait_done(1);
    /* held in the IRR, not discarded: it exits once the guest is active */
    r = enter(0);
    uint64_t ii = vmr(F_EXIT_INTR_INFO);
    hv_printf("VMRESUME in the active state: exit %llu, interruption information %#llx, the guest ran: %s\n",
              (unsigned long long)r, (unsigned long long)ii, hv_yn(guest_ran));
    T_CHECK_EQ(r, 1);
    T_CHECK_EQ(ii, 0x80000000u | FIXED_VECTOR);
    apic_eoi();
}

static void blocks_init(void)
{
    setup(0, 0);
    ask(CMD_INIT | CMD_SIPI);
    hv_printf("VMLAUNCH into wait-for-SIPI; LP 1 sends an INIT, then the SIPI\n");
    uint64_t r = enter(3);
    expect_sipi(r, A(guest_spin));
    wait_done(1);
    /* held (VMX root operation blocks INIT as well): the next VM entry exits */
    r = enter(0);
    hv_printf("VMRESUME in the active state: exit %llu (%s), the guest ran: %s\n", (unsigned long long)r,
              r == 3 ? "the INIT held since wait-for-SIPI" : r == 18 ? "its VMCALL: the INIT was lost" : "?",
              hv_yn(guest_ran));
    T_CHECK_EQ(r, 3);
    T_CHECK_EQ(guest_ran, 0);
}

static void active_discarded(void)
{
    setup(0, 0);
    ask(CMD_SIPI);
    uint64_t r = enter(0);
    __atomic_store_n(&sipi_seen, 1, __ATOMIC_RELEASE);
    wait_done(1);
    hv_printf("SIPI to the guest in the active state: exit %llu (%s), the guest ran: %s\n", (unsigned long long)r,
              r == 18 ? "its VMCALL: the SIPI was discarded" : r == 4 ? "a SIPI exit" : "?", hv_yn(guest_ran));
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(guest_ran, 1);
}

static void unsupported(void)
{
    setup(0, 0);
    uint64_t misc = rdmsr(MSR_VMX_MISC);
    hv_printf("IA32_VMX_MISC[8] (wait-for-SIPI supported) = %llu\n", (unsigned long long)((misc >> 8) & 1));
    T_ASSERT(!((misc >> 8) & 1), "run with IA32_VMX_MISC[8] = 0 (the scenario overrides IA32_VMX_MISC)");
    uint64_t r = enter(3);
    hv_printf("VMLAUNCH with activity state 3: exit reason %#llx, qualification %llu, the guest ran: %s\n",
              (unsigned long long)r, (unsigned long long)vmr(F_EXIT_QUALIFICATION), hv_yn(guest_ran));
    T_CHECK_EQ(r, 0x80000021);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp == 1)
        sender();
    hv_cpu_init();
    T_ASSERT(nlps == 2, "run with --lps 2 (got %u)", nlps);
    vmx_on_with_vmcs();
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "init-then-sipi", init_then_sipi }, { "wait-entry", wait_entry }, { "blocks-interrupt", blocks_interrupt },
        { "blocks-init", blocks_init }, { "active-discarded", active_discarded }, { "unsupported", unsupported },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hv_cmdline_is(bi, cases[i].name)) {
            cases[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline CASE (see the table in vmx_sipi.c)\n");
    hv_exit(1);
}
