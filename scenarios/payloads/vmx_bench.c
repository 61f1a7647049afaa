/*
 * vmx_bench — VM exit round trips for `make bench`: a 64-bit guest executes
 * CPUID in a loop; each CPUID exits (reason 10), the host reads the exit
 * reason, instruction length and guest RIP, advances the guest RIP and
 * resumes. The payload prints the count and a checksum of the exit reasons
 * so that a run that did not do the work cannot pass as fast.
 *
 * Command line: the number of round trips (default 1000), then any of
 *   vpid   the guest runs with VPID 1, so VM entries and exits need not
 *          invalidate cached translations (SDM 3C 29.4.3), as hypervisors
 *          run guests where the processor has VPIDs;
 *   flags  the exit path of the conformance payloads instead of a
 *          hypervisor's: every VMREAD/VMWRITE between PUSHF/POPF (all six
 *          flags set before, RFLAGS saved after: vmread_flags) and HOST_RSP
 *          and HOST_RIP written before every VMRESUME (vmx_enter); the
 *          figures before 2026-11-27 were taken with it.
 * By default the exit path is the one hypervisors use (KVM's vmcs_readl,
 * Xen's __vmread): the instruction and one branch on CF/ZF (SDM 3C 31.2),
 * HOST_RIP written once, HOST_RSP when the stack pointer changed.
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));

__attribute__((used)) static void bench_guest(void)
{
    for (;;)
        __asm__ volatile("cpuid" ::: "rax", "rbx", "rcx", "rdx", "memory");
}

static uint64_t parse_count(const struct hvsim_boot_info *bi)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    uint64_t n = 0;
    if (!c || !*c)
        return 1000;
    for (; *c >= '0' && *c <= '9'; c++)
        n = n * 10 + (uint64_t)(*c - '0');
    return n ? n : 1000;
}

/* a word of the command line after the count */
static bool has_word(const struct hvsim_boot_info *bi, const char *w)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    size_t n = strlen(w);
    for (; c && *c; c++)
        if (c[0] == ' ' && !memcmp(c + 1, w, n) && (c[n + 1] == 0 || c[n + 1] == ' '))
            return true;
    return false;
}

/* The exit path as a hypervisor writes it (KVM's vmcs_readl/vmcs_writel, Xen's
 * __vmread): the instruction, then one branch on CF/ZF (SDM 3C 31.2). */
static inline uint64_t hv_vmread(uint64_t enc)
{
    uint64_t v;
    uint8_t fail;
    __asm__ volatile("vmread %2, %0; setna %1" : "=r"(v), "=q"(fail) : "r"(enc) : "cc");
    T_ASSERT(!fail, "VMREAD %#llx failed", (unsigned long long)enc);
    return v;
}
static inline void hv_vmwrite(uint64_t enc, uint64_t val)
{
    uint8_t fail;
    __asm__ volatile("vmwrite %2, %1; setna %0" : "=q"(fail) : "r"(enc), "r"(val) : "cc");
    T_ASSERT(!fail, "VMWRITE %#llx failed", (unsigned long long)enc);
}

/* bench_run(g): the guest's general registers loaded from *g, VMRESUME; the
 * VM exit lands in bench_exit (HOST_RIP, written once), which saves them
 * back and returns 0; a failed VMRESUME returns RFLAGS with bit 63 set.
 * HOST_RSP is written only when this frame's RSP differs from the last one
 * written (what a hypervisor keeps per VMCS). */
uint64_t bench_run(struct vmx_regs *g);
uint64_t bench_host_rsp;
struct vmx_regs *bench_regs;
__asm__(".intel_syntax noprefix\n"
        ".text\n"
        ".globl bench_run\n"
        "bench_run:\n"
        "    push rbp\n push rbx\n push r12\n push r13\n push r14\n push r15\n"
        "    mov [rip + bench_regs], rdi\n"
        "    cmp rsp, [rip + bench_host_rsp]\n"
        "    je 1f\n"
        "    mov [rip + bench_host_rsp], rsp\n"
        "    mov eax, 0x6C14\n"
        "    vmwrite rax, rsp\n"
        "1:  mov rax, [rdi + 0]\n mov rcx, [rdi + 8]\n mov rdx, [rdi + 16]\n mov rbx, [rdi + 24]\n"
        "    mov rbp, [rdi + 40]\n mov rsi, [rdi + 48]\n mov r8, [rdi + 64]\n mov r9, [rdi + 72]\n"
        "    mov r10, [rdi + 80]\n mov r11, [rdi + 88]\n mov r12, [rdi + 96]\n mov r13, [rdi + 104]\n"
        "    mov r14, [rdi + 112]\n mov r15, [rdi + 120]\n mov rdi, [rdi + 56]\n"
        "    vmresume\n"
        "    pushfq\n pop rax\n bts rax, 63\n"
        "    pop r15\n pop r14\n pop r13\n pop r12\n pop rbx\n pop rbp\n ret\n"
        ".globl bench_exit\n"
        "bench_exit:\n"
        "    push rdi\n mov rdi, [rip + bench_regs]\n"
        "    mov [rdi + 0], rax\n mov [rdi + 8], rcx\n mov [rdi + 16], rdx\n mov [rdi + 24], rbx\n"
        "    mov [rdi + 40], rbp\n mov [rdi + 48], rsi\n pop rax\n mov [rdi + 56], rax\n"
        "    mov [rdi + 64], r8\n mov [rdi + 72], r9\n mov [rdi + 80], r10\n mov [rdi + 88], r11\n"
        "    mov [rdi + 96], r12\n mov [rdi + 104], r13\n mov [rdi + 112], r14\n mov [rdi + 120], r15\n"
        "    xor eax, eax\n"
        "    pop r15\n pop r14\n pop r13\n pop r12\n pop rbx\n pop rbp\n ret\n"
        ".att_syntax prefix\n");
void bench_exit(void);

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_on_with_vmcs();
    bool vpid = has_word(bi, "vpid"), flags = has_word(bi, "flags");
    vmx_init_controls(0, 0, vpid ? (1u << 5) : 0, 0, 0);
    if (vpid)
        vmw(F_VPID, 1);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)bench_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    uint64_t n = parse_count(bi), sum = 0;
    struct vmx_regs g = { 0 };
    if (flags) {
        for (uint64_t i = 0; i < n; i++) {
            uint64_t r = vmx_enter(&g, i != 0);
            T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry %llu failed: error %llu", (unsigned long long)i,
                     (unsigned long long)vmx_insn_error());
            uint64_t reason, len, rip;
            vmread_flags(F_EXIT_REASON, &reason);
            vmread_flags(F_EXIT_INSN_LEN, &len);
            vmread_flags(F_GUEST_RIP, &rip);
            sum += reason;
            vmwrite_flags(F_GUEST_RIP, rip + len);
        }
    } else {
        /* the first entry is a VMLAUNCH (vmx_enter); the loop resumes */
        for (uint64_t i = 0; i < n; i++) {
            uint64_t r = i ? bench_run(&g) : vmx_enter(&g, 0);
            T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry %llu failed: error %llu", (unsigned long long)i,
                     (unsigned long long)vmx_insn_error());
            if (!i)
                vmw(F_HOST_RIP, (uint64_t)(uintptr_t)bench_exit);
            uint64_t reason = hv_vmread(F_EXIT_REASON), len = hv_vmread(F_EXIT_INSN_LEN);
            uint64_t rip = hv_vmread(F_GUEST_RIP);
            sum += reason;
            hv_vmwrite(F_GUEST_RIP, rip + len);
        }
    }
    hv_printf("BENCH vmexit %llu round trips, reason sum %llu\n", (unsigned long long)n, (unsigned long long)sum);
    T_CHECK_EQ(sum, 10 * n);
    T_DONE();
}
