/*
 * vmx_debug — debug exceptions and VMX: the pending debug exceptions field
 * at VM entry (SDM 3C 27.7.3 "Delivery of Pending Debug Exceptions after VM
 * Entry") and #DB VM exits with their exit qualification (SDM 3C 28.2.1,
 * table "Exit Qualification for Debug Exceptions"). The command line picks
 * a group:
 *   pending-exit     BS pending, #DB in the exception bitmap: exit 0 before
 *                    the first guest instruction, qualification = the pending
 *                    bits, DR6 untouched, the field saved as 0
 *   pending-deliver  BS and B0 pending (with the enabled-breakpoint bit), no
 *                    bitmap bit: the guest's #DB handler runs first and sees
 *                    DR6.BS and DR6.B0
 *   pending-movss    a pending enabled breakpoint with blocking by MOV SS:
 *                    held pending (as after a MOV SS that hit a debug trap):
 *                    the #DB exit comes after the first guest instruction
 *   pending-inject   BS pending while the entry injects a hardware exception:
 *                    the field is ignored
 *   single-step      RFLAGS.TF in the guest with #DB in the exception bitmap:
 *                    exit 0 after the first instruction, qualification BS
 */
#include "hvsim.h"
#include "vmx.h"

#define DR6_BS (1ull << 14)
#define F_PENDING_DBG 0x6822u

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static volatile uint64_t db_seen, db_dr6, ud_seen;

extern char g_body[], g_second[];
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(".globl g_body\ng_body: nop\n"
                     ".globl g_second\ng_second: nop\n vmcall\n" ::: "memory");
}

static uint64_t read_dr6(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr6, %0" : "=r"(v));
    return v;
}
static void write_dr6(uint64_t v) { __asm__ volatile("mov %0, %%dr6" ::"r"(v)); }

/* the guest shares the payload's IDT: #DB and #UD handlers run in the guest */
static bool on_db(struct hv_frame *f)
{
    (void)f;
    db_seen++;
    db_dr6 = read_dr6();
    return true;
}
static bool on_ud(struct hv_frame *f)
{
    (void)f;
    ud_seen++;
    return true;
}

static uint64_t enter(void)
{
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, 0);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    return vmr(F_EXIT_REASON);
}

static void report(const char *what, uint64_t reason)
{
    hv_printf("%s: exit %llu, interruption information %#llx, qualification %#llx, at %s\n", what,
              (unsigned long long)reason, (unsigned long long)vmr(F_EXIT_INTR_INFO),
              (unsigned long long)vmr(F_EXIT_QUALIFICATION),
              vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)g_body ? "g_body" :
              vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)g_second ? "g_second" : "elsewhere");
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    hv_set_handler(1, on_db);
    hv_set_handler(6, on_ud);
    (void)vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_body, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    write_dr6(0xFFFF0FF0);
    if (hv_cmdline_is(bi, "pending-exit")) {
        vmw(F_EXCEPTION_BITMAP, 1u << 1);
        vmw(F_PENDING_DBG, DR6_BS);
        uint64_t r = enter();
        report("pending BS, #DB in the exception bitmap", r);
        hv_printf("pending debug exceptions saved %#llx; DR6 %#llx\n", (unsigned long long)vmr(F_PENDING_DBG),
                  (unsigned long long)read_dr6());
        T_CHECK_EQ(r, 0);
        T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000301ull);
        T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), DR6_BS);
        T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_body);
        T_CHECK_EQ(read_dr6(), 0xFFFF0FF0ull);
    } else if (hv_cmdline_is(bi, "pending-deliver")) {
        vmw(F_PENDING_DBG, DR6_BS | (1u << 12) | 1u);
        uint64_t r = enter();
        report("pending BS and B0, no exception-bitmap bit", r);
        hv_printf("guest #DB handler ran %llu time(s), DR6 in the handler %#llx\n", (unsigned long long)db_seen,
                  (unsigned long long)db_dr6);
        T_CHECK_EQ(r, 18);
        T_CHECK_EQ(db_seen, 1);
        T_CHECK_EQ(db_dr6 & (DR6_BS | 0xF), DR6_BS | 1);
    } else if (hv_cmdline_is(bi, "pending-movss")) {
        vmw(F_EXCEPTION_BITMAP, 1u << 1);
        vmw(F_GUEST_INTERRUPTIBILITY, 2);              /* blocking by MOV SS */
        vmw(F_PENDING_DBG, (1u << 12) | 1u);           /* enabled breakpoint B0 (BS 0: TF is 0) */
        uint64_t r = enter();
        report("pending enabled breakpoint with blocking by MOV SS", r);
        T_CHECK_EQ(r, 0);
        T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000301ull);
        T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 1);
        T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_second);
    } else if (hv_cmdline_is(bi, "pending-inject")) {
        vmw(F_EXCEPTION_BITMAP, 1u << 1);
        vmw(F_PENDING_DBG, DR6_BS);
        vmw(F_ENTRY_INTR_INFO, 0x80000306u);           /* inject #UD (hardware exception) */
        uint64_t r = enter();
        report("pending BS while injecting #UD", r);
        hv_printf("guest #UD handler ran %llu time(s), #DB %llu time(s)\n", (unsigned long long)ud_seen,
                  (unsigned long long)db_seen);
        T_CHECK_EQ(r, 18);
        T_CHECK_EQ(ud_seen, 1);
        T_CHECK_EQ(db_seen, 0);
    } else if (hv_cmdline_is(bi, "single-step")) {
        vmw(F_EXCEPTION_BITMAP, 1u << 1);
        vmw(F_GUEST_RFLAGS, 0x102);                    /* TF */
        uint64_t r = enter();
        report("RFLAGS.TF = 1, #DB in the exception bitmap", r);
        hv_printf("DR6 %#llx\n", (unsigned long long)read_dr6());
        T_CHECK_EQ(r, 0);
        T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000301ull);
        T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), DR6_BS);
        T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_second);
        T_CHECK_EQ(read_dr6(), 0xFFFF0FF0ull);
    } else {
        hv_printf("usage: --cmdline pending-exit|pending-deliver|pending-movss|pending-inject|single-step\n");
        hv_exit(1);
    }
    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    T_DONE();
}
