/*
 * nx — execute-disable (XD) and instruction-fetch page faults.
 *
 * SDM 3A 4.6.1 (instruction fetches are not allowed from a page with XD = 1
 * at any level when IA32_EFER.NXE = 1; user-mode fetches need U/S = 1),
 * 4.7 (error code: I/D = 1 for instruction fetches when NXE = 1; CR2 holds
 * the linear address of the byte that could not be fetched), 4.10.4.1
 * (INVLPG after changing XD), 6.15 "Interrupt 14" (RIP of the faulting
 * instruction is saved, also for an instruction that crosses into the
 * faulting page).
 */
#include "hvsim.h"

#define LA_BASE 0x0000050000000000ull     /* PML4 slot 10 */
#define LA_NP   0x0000040000000000ull     /* PML4 slot 8: not present */

typedef int (*fn_t)(void);
struct call { uint64_t la; int ret; };
static void do_call(void *p)
{
    struct call *c = p;
    c->ret = ((fn_t)(uintptr_t)c->la)();
}

/* Ring 3: jump to u_target; the code there ends with INT 0x81 (return). */
volatile uint64_t u_target HV_USER_DATA;
void u_jump(void);
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_jump\n"
        "u_jump: jmp *u_target(%rip)\n"
        ".popsection\n");

/* Kernel code that returns to its caller in ring 0 and hands 0x44 back
 * through INT 0x81 if it ever runs in ring 3. */
int k_fn(void);
__asm__(".pushsection .text\n"
        ".globl k_fn\n"
        "k_fn: mov $0x44, %eax\n"
        "      mov %cs, %ecx\n"
        "      test $3, %cl\n"
        "      jz 1f\n"
        "      int $0x81\n"
        "1:    ret\n"
        ".popsection\n");

static const uint8_t code_ret42[] = { 0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3 };       /* mov $42,%eax; ret */
static const uint8_t code_user43[] = { 0xB8, 0x2B, 0x00, 0x00, 0x00, 0xCD, 0x81 }; /* mov $43,%eax; int $0x81 */

static void kfetch(const char *what, uint64_t la, uint64_t ec, uint64_t cr2)
{
    struct call c = { la, 0 };
    bool f = hv_call_expect(14, do_call, &c);
    hv_printf("%-50s %s", what, f ? "#PF" : "no fault");
    if (f)
        hv_printf(" ec=0x%llx, CR2 %s, RIP %s", (unsigned long long)hv_last_ec,
                  hv_last_cr2 == cr2 ? "ok" : "WRONG", hv_last_rip == la ? "= target" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "%s: returned %d", what, c.ret);
    if (f) {
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_cr2, cr2);
        T_CHECK_EQ(hv_last_rip, la);
    }
}

static void ufetch(const char *what, uint64_t la, uint64_t ec)
{
    u_target = la;
    hv_expect(14, NULL);
    uint64_t r = hv_run_user(u_jump, hv_user_stack());
    hv_expect_cancel();
    bool f = r == ~0ull;
    hv_printf("%-50s %s", what, f ? "#PF" : "no fault");
    if (f)
        hv_printf(" ec=0x%llx, CR2 %s, RIP %s", (unsigned long long)hv_last_ec,
                  hv_last_cr2 == la ? "ok" : "WRONG", hv_last_rip == la ? "= target" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "%s: returned %#llx", what, (unsigned long long)r);
    if (f) {
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_cr2, la);
        T_CHECK_EQ(hv_last_rip, la);
    }
}

static void cross(const char *what, uint64_t la, uint8_t *first, uint8_t *second, uint64_t flags2,
                  uint64_t ec)
{
    hv_map(la, (uint64_t)(uintptr_t)first, PTE_P | PTE_W);
    hv_map(la + 0x1000, (uint64_t)(uintptr_t)second, flags2);
    struct call c = { la + 4094, 0 };
    bool f = hv_call_expect(14, do_call, &c);
    hv_printf("%-50s %s", what, f ? "#PF" : "no fault");
    if (f)
        hv_printf(" ec=0x%llx, CR2 %s, RIP %s", (unsigned long long)hv_last_ec,
                  hv_last_cr2 == la + 0x1000 ? "= second page" : "WRONG",
                  hv_last_rip == la + 4094 ? "= instruction" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "crossing fetch did not fault (returned %d)", c.ret);
    if (f) {
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_cr2, la + 0x1000);
        T_CHECK_EQ(hv_last_rip, la + 4094);
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    uint32_t r[4];
    hv_cpuid(0x80000001, 0, r);
    hv_printf("CPUID.80000001H:EDX.NX = %u, EFER.NXE = %llu\n", (r[3] >> 20) & 1,
              (unsigned long long)((rdmsr(MSR_EFER) >> 11) & 1));
    T_ASSERT(r[3] & (1u << 20), "no NX");

    uint8_t *code = hv_page_alloc();
    memcpy(code, code_ret42, sizeof(code_ret42));
    uint64_t pa = (uint64_t)(uintptr_t)code, la = LA_BASE;

    /* XD page: fetch faults, data reads work. */
    hv_map(la, pa, PTE_P | PTE_W | PTE_NX);
    kfetch("supervisor fetch from an XD page:", la, 0x11, la);
    uint8_t b0 = *(volatile uint8_t *)(uintptr_t)la;
    hv_printf("%-50s ok, first byte 0x%x\n", "supervisor data read of the XD page:", b0);
    T_CHECK_EQ(b0, 0xB8);

    /* XD cleared (PTE + INVLPG): the same code runs. */
    hv_map(la, pa, PTE_P | PTE_W);
    struct call c = { la, 0 };
    bool f = hv_call_expect(14, do_call, &c);
    hv_printf("%-50s %s, returned %d\n", "XD cleared, call:", f ? "#PF" : "ok", c.ret);
    T_CHECK(!f && c.ret == 42, "call after clearing XD");

    /* XD set again after the code has run (and was translated). */
    hv_map(la, pa, PTE_P | PTE_W | PTE_NX);
    kfetch("XD set again after running, call:", la, 0x11, la);

    /* XD in a non-leaf entry (the PDE) applies to every page below it. */
    hv_map(la + 0x200000, pa, PTE_P | PTE_W);
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[(la >> 39) & 511] & 0x000FFFFFFFFFF000ull);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[(la >> 30) & 511] & 0x000FFFFFFFFFF000ull);
    pd[1] |= PTE_NX;
    invlpg((void *)(uintptr_t)(la + 0x200000));
    kfetch("XD in the PDE only, call:", la + 0x200000, 0x11, la + 0x200000);

    /* Not present: I/D is set for a fetch (NXE = 1). */
    kfetch("supervisor fetch from a not-present page:", LA_NP, 0x10, LA_NP);

    /* Ring 3. */
    uint8_t *ucode = hv_page_alloc();
    memcpy(ucode, code_user43, sizeof(code_user43));
    uint64_t ula = LA_BASE + 0x400000;
    hv_make_user(ula);
    hv_map(ula, (uint64_t)(uintptr_t)ucode, PTE_P | PTE_U);
    u_target = ula;
    uint64_t ur = hv_run_user(u_jump, hv_user_stack());
    hv_printf("%-50s %s, returned %llu\n", "user fetch from a user page:", ur == 43 ? "ok" : "FAULT",
              (unsigned long long)ur);
    T_CHECK_EQ(ur, 43);
    hv_map(ula, (uint64_t)(uintptr_t)ucode, PTE_P | PTE_U | PTE_NX);
    ufetch("user fetch from an XD user page:", ula, 0x15);
    hv_make_user(ula + 0x1000);
    hv_map(ula + 0x1000, (uint64_t)(uintptr_t)ucode, PTE_P);     /* supervisor, executable */
    ufetch("user fetch from a supervisor page:", ula + 0x1000, 0x15);
    /* Supervisor code that ring 0 has just executed: still not for ring 3
     * (its PTE has U/S = 0; the upper levels have U/S = 1 because of the
     * user region next to it; SDM 3A 4.6.1). */
    T_CHECK_EQ(k_fn(), 0x44);
    ufetch("user fetch of kernel code ring 0 just ran:", (uint64_t)(uintptr_t)k_fn, 0x15);

    /* An instruction that starts on an executable page and ends on a page
     * it cannot be fetched from: CR2 = the first byte on that page, RIP =
     * the instruction (SDM 3A 6.15: faults report the faulting instruction). */
    uint8_t *two = hv_page_alloc(), *three = hv_page_alloc();
    T_ASSERT(three == two + 4096, "pool pages not contiguous");
    two[4094] = 0xB8;                       /* mov $imm32, %eax: 5 bytes */
    two[4095] = 0x2C;
    three[0] = 0; three[1] = 0; three[2] = 0; three[3] = 0xC3;
    cross("instruction crossing into an XD page:", la + 0x10000, two, three, PTE_P | PTE_W | PTE_NX, 0x11);
    cross("instruction crossing into a not-present page:", la + 0x20000, two, three, 0, 0x10);
    T_DONE();
}
