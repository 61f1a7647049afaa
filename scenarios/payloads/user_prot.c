/*
 * user_prot — protection from ring 3 and of ring 3: privileged instructions
 * at CPL 3 raise #GP(0); SMEP stops ring 0 executing user pages; SMAP stops
 * ring 0 reading and writing user pages unless RFLAGS.AC = 1 (STAC/CLAC).
 *
 * SDM 3A 5.9 (privileged instructions: #GP(0) at CPL > 0), 2A/2B for each
 * instruction's "#GP(0) if the CPL is greater than 0" (HLT, MOV CRn, RDMSR,
 * WRMSR, LGDT, LIDT, LTR, INVLPG, WBINVD, CLTS, SWAPGS) and IOPL-sensitive
 * ones (CLI, IN/OUT with no I/O permission bitmap: 19.5; POPF leaves IF and
 * IOPL unchanged at CPL > IOPL; CLI allowed when IOPL = 3), 2B STAC (#UD at
 * CPL > 0), 3A 4.6.1 (SMEP: supervisor fetches from user pages fault; SMAP:
 * explicit supervisor data accesses to user pages fault when AC = 0),
 * 4.7 (error codes: P, W/R, I/D; U/S = 0 for supervisor accesses).
 */
#include "hvsim.h"

/* ---- ring 3: one privileged instruction each, labelled ---- */
#define PRIV(name, insn) \
    "u_" #name ":\n" "u_" #name "_i: " insn "\n" "mov $1, %eax\n" "int $0x81\n"
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        PRIV(hlt, "hlt")
        PRIV(cli, "cli")
        PRIV(rdcr0, "mov %cr0, %rax")
        PRIV(wrcr3, "mov %rax, %cr3")
        PRIV(rdmsr, "rdmsr")
        PRIV(wrmsr, "wrmsr")
        PRIV(lgdt, "lgdt (%rsp)")
        PRIV(lidt, "lidt (%rsp)")
        PRIV(ltr, "ltr %ax")
        PRIV(invlpg, "invlpg (%rsp)")
        PRIV(wbinvd, "wbinvd")
        PRIV(clts, "clts")
        PRIV(swapgs, "swapgs")
        PRIV(out, "out %al, $0xe9")
        PRIV(in, "in $0xe9, %al")
        PRIV(stac, "stac")
        "u_popf: pushfq\n"
        "        orq $0x3200, (%rsp)\n"        /* IF = 1, IOPL = 3 */
        "        popfq\n"
        "        pushfq\n"
        "        popq %rax\n"
        "        int $0x81\n"
        ".popsection\n");
extern char u_popf[];
#define DECL(name) extern char u_##name[], u_##name##_i[];
DECL(hlt) DECL(cli) DECL(rdcr0) DECL(wrcr3) DECL(rdmsr) DECL(wrmsr) DECL(lgdt) DECL(lidt) DECL(ltr)
DECL(invlpg) DECL(wbinvd) DECL(clts) DECL(swapgs) DECL(out) DECL(in) DECL(stac)

static void priv(const char *what, char *fn, char *insn, unsigned vec)
{
    hv_expect(vec, NULL);
    uint64_t r = hv_run_user((void (*)(void))fn, hv_user_stack());
    hv_expect_cancel();
    bool f = r == ~0ull;
    hv_printf("ring 3 %-16s %s", what, f ? (vec == 13 ? "#GP" : "#UD") : "executed");
    if (f)
        hv_printf(" error code 0x%llx, RIP %s", (unsigned long long)hv_last_ec,
                  hv_last_rip == (uint64_t)(uintptr_t)insn ? "= instruction" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "%s executed in ring 3", what);
    if (f) {
        T_CHECK_EQ(hv_last_vector, vec);
        T_CHECK_EQ(hv_last_ec, 0);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)insn);
    }
}

/* ---- SMEP: a function on a user page, called from ring 3 and ring 0 ---- */
int u_ret7(void);
void u_call7(void);
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_ret7, u_call7\n"
        "u_ret7:  mov $7, %eax\n"
        "         ret\n"
        "u_call7: call u_ret7\n"
        "         int $0x81\n"
        ".popsection\n");
struct call { int ret; };
static void k_call7(void *p) { ((struct call *)p)->ret = u_ret7(); }

/* ---- SMAP: ring-0 accesses to a user variable ---- */
volatile uint64_t u_data HV_USER_DATA = 0xDA7A;
struct acc { uint64_t la, val; };
void k_rd(void *), k_wr(void *);
extern char k_rd_i[], k_wr_i[];
__asm__(".pushsection .text\n"
        ".globl k_rd, k_rd_i, k_wr, k_wr_i\n"
        "k_rd:   mov (%rdi), %rax\n"
        "k_rd_i: mov (%rax), %rax\n"
        "        mov %rax, 8(%rdi)\n"
        "        ret\n"
        "k_wr:   mov (%rdi), %rax\n"
        "        mov 8(%rdi), %rcx\n"
        "k_wr_i: mov %rcx, (%rax)\n"
        "        ret\n"
        ".popsection\n");

static void smap(const char *what, bool write, bool expect_fault, uint64_t ec)
{
    struct acc a = { (uint64_t)(uintptr_t)&u_data, 0x5EED };
    bool f = hv_call_expect(14, write ? k_wr : k_rd, &a);
    hv_printf("SMAP: %-40s %s", what, f ? "#PF" : "ok");
    if (f)
        hv_printf(" ec=0x%llx, CR2 %s", (unsigned long long)hv_last_ec,
                  hv_last_cr2 == (uint64_t)(uintptr_t)&u_data ? "= address" : "WRONG");
    else if (!write)
        hv_printf(", read 0x%llx", (unsigned long long)a.val);
    hv_putc('\n');
    T_CHECK(f == expect_fault, "%s", what);
    if (f && expect_fault) {
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_cr2, (uint64_t)(uintptr_t)&u_data);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)(write ? k_wr_i : k_rd_i));
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();

    priv("HLT:", u_hlt, u_hlt_i, 13);
    priv("CLI (IOPL 0):", u_cli, u_cli_i, 13);
    priv("MOV from CR0:", u_rdcr0, u_rdcr0_i, 13);
    priv("MOV to CR3:", u_wrcr3, u_wrcr3_i, 13);
    priv("RDMSR:", u_rdmsr, u_rdmsr_i, 13);
    priv("WRMSR:", u_wrmsr, u_wrmsr_i, 13);
    priv("LGDT:", u_lgdt, u_lgdt_i, 13);
    priv("LIDT:", u_lidt, u_lidt_i, 13);
    priv("LTR:", u_ltr, u_ltr_i, 13);
    priv("INVLPG:", u_invlpg, u_invlpg_i, 13);
    priv("WBINVD:", u_wbinvd, u_wbinvd_i, 13);
    priv("CLTS:", u_clts, u_clts_i, 13);
    priv("SWAPGS:", u_swapgs, u_swapgs_i, 13);
    priv("OUT (IOPL 0):", u_out, u_out_i, 13);
    priv("IN (IOPL 0):", u_in, u_in_i, 13);
    priv("STAC:", u_stac, u_stac_i, 6);

    /* POPF at CPL 3 > IOPL: IF and IOPL are silently left alone (SDM 2B POPF). */
    uint64_t fl = hv_run_user((void (*)(void))u_popf, hv_user_stack());
    hv_printf("ring 3 POPF setting IF and IOPL=3 (IOPL 0): no fault, IF=%llu IOPL=%llu\n",
              (unsigned long long)((fl >> 9) & 1), (unsigned long long)((fl >> 12) & 3));
    T_CHECK_EQ(fl & 0x3200, 0);
    /* With IOPL = 3, CLI is allowed in ring 3 (SDM 2A CLI). */
    uint64_t r3 = hv_run_user_flags((void (*)(void))u_cli, hv_user_stack(), 0x3202);
    hv_printf("ring 3 CLI with IOPL=3: %s\n", r3 == 1 ? "executed" : "#GP");
    T_CHECK_EQ(r3, 1);

    /* SMEP. */
    uint32_t r[4];
    hv_cpuid(7, 0, r);
    hv_printf("CPUID.7.0:EBX: SMEP=%u SMAP=%u\n", (r[1] >> 7) & 1, (r[1] >> 20) & 1);
    T_ASSERT((r[1] & (1u << 7)) && (r[1] & (1u << 20)), "SMEP/SMAP not offered");
    struct call c = { 0 };
    bool f = hv_call_expect(14, k_call7, &c);
    hv_printf("SMEP off: ring 0 calls a user-page function: %s, returned %d\n", f ? "#PF" : "ok", c.ret);
    T_CHECK(!f && c.ret == 7, "SMEP off");
    write_cr4(read_cr4() | CR4_SMEP);
    uint64_t ur = hv_run_user(u_call7, hv_user_stack());
    hv_printf("SMEP on: ring 3 runs it: %s, returned %llu\n", ur == 7 ? "ok" : "FAIL", (unsigned long long)ur);
    T_CHECK_EQ(ur, 7);
    c.ret = 0;
    f = hv_call_expect(14, k_call7, &c);
    hv_printf("SMEP on: ring 0 calls it: %s", f ? "#PF" : "no fault");
    if (f)
        hv_printf(" ec=0x%llx, CR2 %s", (unsigned long long)hv_last_ec,
                  hv_last_cr2 == (uint64_t)(uintptr_t)u_ret7 ? "= function" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "SMEP: ring 0 executed a user page (returned %d)", c.ret);
    if (f) {
        T_CHECK_EQ(hv_last_ec, 0x11);
        T_CHECK_EQ(hv_last_cr2, (uint64_t)(uintptr_t)u_ret7);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)u_ret7);
    }
    write_cr4(read_cr4() & ~CR4_SMEP);
    c.ret = 0;
    f = hv_call_expect(14, k_call7, &c);
    hv_printf("SMEP off again: ring 0 calls it: %s, returned %d\n", f ? "#PF" : "ok", c.ret);
    T_CHECK(!f && c.ret == 7, "SMEP off again");

    /* SMAP. */
    smap("off: ring 0 reads a user page:", false, false, 0);
    write_cr4(read_cr4() | CR4_SMAP);
    smap("on, AC=0: ring 0 reads a user page:", false, true, 0x1);
    smap("on, AC=0: ring 0 writes a user page:", true, true, 0x3);
    stac();
    smap("on, after STAC: ring 0 reads:", false, false, 0);
    smap("on, after STAC: ring 0 writes:", true, false, 0);
    clac();
    smap("on, after CLAC: ring 0 reads:", false, true, 0x1);
    write_rflags(read_rflags() | RFLAGS_AC);
    smap("on, AC=1 set by POPF: ring 0 reads:", false, false, 0);
    clac();
    ur = hv_run_user(u_call7, hv_user_stack());
    hv_printf("SMAP on: ring 3 still runs its code and uses its stack: %s\n", ur == 7 ? "ok" : "FAIL");
    T_CHECK_EQ(ur, 7);
    write_cr4(read_cr4() & ~CR4_SMAP);
    T_DONE();
}
