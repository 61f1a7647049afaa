/*
 * pf_errors — page-fault error codes, CR2, the saved RIP, CR0.WP, and a
 * #PF handler that maps the page so that the faulting instruction retries.
 *
 * SDM 3A 4.7 (page-fault exceptions: error code bits P, W/R, U/S, RSVD, I/D;
 * CR2 holds the linear address), 4.6.1 (access rights: user accesses to
 * supervisor pages, writes to read-only pages with CR0.WP = 1 and = 0),
 * 4.5 (reserved bits: address bits at and above MAXPHYADDR, PS in a PML4E,
 * XD with IA32_EFER.NXE = 0), 6.15 "Interrupt 14—Page-Fault Exception (#PF)"
 * (a fault: the saved RIP is the faulting instruction, which is restarted).
 */
#include "hvsim.h"

#define LA_NP     0x0000040000000000ull   /* PML4 slot 8: nothing mapped */
#define LA_BASE   0x0000050000000000ull   /* PML4 slot 10: pages mapped below */
#define LA_DEMAND 0x0000060000000000ull   /* PML4 slot 12: mapped by the #PF handler */

/* Ring-0 accessors with a label on the accessing instruction. */
struct acc { uint64_t la, val; };
void pf_rd(void *a);
void pf_wr(void *a);
extern char pf_rd_insn[], pf_wr_insn[];
__asm__(".pushsection .text\n"
        ".globl pf_rd, pf_rd_insn, pf_wr, pf_wr_insn\n"
        "pf_rd:      mov (%rdi), %rax\n"
        "pf_rd_insn: mov (%rax), %rax\n"
        "            mov %rax, 8(%rdi)\n"
        "            ret\n"
        "pf_wr:      mov (%rdi), %rax\n"
        "            mov 8(%rdi), %rcx\n"
        "pf_wr_insn: mov %rcx, (%rax)\n"
        "            ret\n"
        ".popsection\n");

/* Ring-3 accessors: address in u_addr, result via hv_user_return. */
volatile uint64_t u_addr HV_USER_DATA;
volatile uint64_t u_val HV_USER_DATA;
void u_rd(void);
void u_wr(void);
extern char u_rd_insn[], u_wr_insn[];
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_rd, u_rd_insn, u_wr, u_wr_insn\n"
        "u_rd:      mov u_addr(%rip), %rax\n"
        "u_rd_insn: mov (%rax), %rax\n"
        "           mov %rax, u_val(%rip)\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        "u_wr:      mov u_addr(%rip), %rax\n"
        "           mov $0x5151, %ecx\n"
        "u_wr_insn: mov %rcx, (%rax)\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        ".popsection\n");

static void report(const char *what, bool faulted, uint64_t ec, uint64_t la, const void *rip)
{
    hv_printf("%-44s %s ec=0x%llx, CR2 %s, RIP %s\n", what, faulted ? "#PF" : "no fault",
              (unsigned long long)(faulted ? hv_last_ec : 0),
              faulted && hv_last_cr2 == la ? "= address" : "WRONG",
              faulted && hv_last_rip == (uint64_t)(uintptr_t)rip ? "= instruction" : "WRONG");
    T_CHECK(faulted, "%s: no #PF", what);
    if (faulted) {
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_cr2, la);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)rip);
    }
}

static void kread(const char *what, uint64_t la, uint64_t ec)
{
    struct acc a = { la, 0 };
    report(what, hv_call_expect(14, pf_rd, &a), ec, la, pf_rd_insn);
}

static void kwrite(const char *what, uint64_t la, uint64_t ec)
{
    struct acc a = { la, 0x77 };
    report(what, hv_call_expect(14, pf_wr, &a), ec, la, pf_wr_insn);
}

static void uaccess(const char *what, bool write, uint64_t la, uint64_t ec)
{
    u_addr = la;
    hv_expect(14, NULL);
    uint64_t r = hv_run_user(write ? u_wr : u_rd, hv_user_stack());
    hv_expect_cancel();
    report(what, r == ~0ull, ec, la, write ? u_wr_insn : u_rd_insn);
}

static volatile uint64_t secret = 0x5EC2E7;

/* Demand paging: map a fresh page for any fault in the demand window. */
static volatile unsigned demand_faults;
static bool demand_handler(struct hv_frame *f)
{
    uint64_t la = read_cr2();
    if (la - LA_DEMAND >= (1ull << 30))
        return false;
    uint64_t *p = hv_page_alloc();
    p[0x100] = 0x600D0000 + ((la - LA_DEMAND) >> 12);
    hv_map(la & ~0xFFFull, (uint64_t)(uintptr_t)p, PTE_P | PTE_W);
    demand_faults++;
    return true;                            /* IRET to the faulting instruction */
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    uint32_t r[4];
    hv_cpuid(0x80000008, 0, r);
    unsigned maxphy = r[0] & 0xFF;

    uint64_t *page = hv_page_alloc();
    uint64_t pa = (uint64_t)(uintptr_t)page;
    page[1] = 0x1111;

    /* Not present: no PML4E, and a present table with a clear PTE. */
    kread("not-present PML4E, read:", LA_NP + 0x10, 0x0);
    kwrite("not-present PML4E, write:", LA_NP + 0x18, 0x2);
    hv_map(LA_BASE, pa, 0);
    kread("not-present PTE, read:", LA_BASE + 0x20, 0x0);
    kwrite("not-present PTE, write:", LA_BASE + 0x28, 0x2);

    /* Read-only page: CR0.WP = 1 faults supervisor writes, WP = 0 allows them. */
    hv_map(LA_BASE + 0x1000, pa, PTE_P);
    kwrite("read-only page, supervisor write, WP=1:", LA_BASE + 0x1008, 0x3);
    write_cr0(read_cr0() & ~CR0_WP);
    struct acc w = { LA_BASE + 0x1008, 0x2222 };
    bool f = hv_call_expect(14, pf_wr, &w);
    hv_printf("%-44s %s, page holds 0x%llx\n", "read-only page, supervisor write, WP=0:",
              f ? "#PF" : "no fault", (unsigned long long)page[1]);
    T_CHECK(!f, "WP=0 write faulted (ec %#llx)", (unsigned long long)hv_last_ec);
    T_CHECK_EQ(page[1], 0x2222);
    write_cr0(read_cr0() | CR0_WP);

    /* User accesses (U/S = 1 is set on the upper levels by hv_make_user). */
    hv_make_user(LA_BASE + 0x3000);                         /* U on the PML4E, PDPTE, PDE */
    hv_map(LA_BASE + 0x2000, pa, PTE_P | PTE_W);            /* supervisor page */
    hv_map(LA_BASE + 0x3000, pa, PTE_P | PTE_U);            /* user, read-only */
    uaccess("user read of a supervisor page:", false, LA_BASE + 0x2010, 0x5);
    uaccess("user write to a supervisor page:", true, LA_BASE + 0x2018, 0x7);
    uaccess("user write to a read-only user page:", true, LA_BASE + 0x3018, 0x7);
    uaccess("user read of a not-present page:", false, LA_NP + 0x30, 0x4);
    /* Kernel data that ring 0 has just used: its PTE has U/S = 0 (the upper
     * levels have U/S = 1 because the user region shares them). */
    secret = secret + 1;
    uaccess("user read of kernel data ring 0 just used:", false, (uint64_t)(uintptr_t)&secret, 0x5);
    uaccess("user write to kernel data ring 0 just used:", true, (uint64_t)(uintptr_t)&secret, 0x7);
    hv_printf("%-44s %s\n", "kernel data after the user write:", secret == 0x5EC2E8 ? "unchanged" : "MODIFIED");
    T_CHECK_EQ(secret, 0x5EC2E8);
    u_addr = LA_BASE + 0x3008;
    uint64_t ur = hv_run_user(u_rd, hv_user_stack());
    hv_printf("%-44s %s, read 0x%llx\n", "user read of a read-only user page:", ur == 1 ? "ok" : "FAULT",
              (unsigned long long)u_val);
    T_CHECK_EQ(ur, 1);
    T_CHECK_EQ(u_val, 0x2222);

    /* Reserved bits: P = 1 and RSVD = 1 in the error code. */
    hv_map(LA_BASE + 0x4000, pa | (1ull << maxphy), PTE_P | PTE_W);
    kread("PTE bit MAXPHYADDR set, read:", LA_BASE + 0x4000, 0x9);
    kwrite("PTE bit MAXPHYADDR set, write:", LA_BASE + 0x4008, 0xB);
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    uint64_t *pdpt = hv_page_alloc();
    pdpt[0] = PTE_P | PTE_W | PTE_PS;
    pml4[14] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W | PTE_PS;   /* PS in a PML4E: reserved */
    kread("PML4E with PS set, read:", 14ull << 39, 0x9);
    pml4[14] = 0;
    hv_map(LA_BASE + 0x5000, pa, PTE_P | PTE_W | PTE_NX);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(1ull << 11));             /* NXE = 0: XD is reserved */
    kread("XD set while EFER.NXE=0, read:", LA_BASE + 0x5000, 0x9);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | (1ull << 11));
    struct acc x = { LA_BASE + 0x5008, 0 };
    f = hv_call_expect(14, pf_rd, &x);
    hv_printf("%-44s %s, read 0x%llx\n", "XD set, EFER.NXE=1 again, read:", f ? "#PF" : "ok",
              (unsigned long long)x.val);
    T_CHECK(!f, "read of an XD page faulted (ec %#llx)", (unsigned long long)hv_last_ec);

    /* Demand paging: the handler maps the page and returns; the instruction
     * is restarted and completes. */
    hv_set_handler(14, demand_handler);
    volatile uint64_t *d = (volatile uint64_t *)(uintptr_t)(LA_DEMAND + 0x3000);
    uint64_t v1 = d[0x100];
    uint64_t v2 = d[0x100];
    hv_printf("demand paging: read 0x%llx after %u fault, again 0x%llx (%u fault)\n", (unsigned long long)v1,
              demand_faults, (unsigned long long)v2, demand_faults);
    T_CHECK_EQ(v1, 0x600D0003);
    T_CHECK_EQ(v2, 0x600D0003);
    T_CHECK_EQ(demand_faults, 1);
    volatile uint64_t *e = (volatile uint64_t *)(uintptr_t)(LA_DEMAND + 0x7000);
    e[5] = 0xD00D;
    hv_printf("demand paging: a write to a new page completes after %u faults: 0x%llx\n", demand_faults,
              (unsigned long long)e[5]);
    T_CHECK_EQ(e[5], 0xD00D);
    T_CHECK_EQ(demand_faults, 2);
    T_DONE();
}
