/*
 * umip — User-Mode Instruction Prevention, and the descriptor instructions
 * ring 3 may use.
 *
 * SDM 3A 2.5 (CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR raise #GP(0) at
 * CPL > 0), 2B SGDT/SIDT/SLDT/SMSW/STR ("#GP(0) if CR4.UMIP = 1 and
 * CPL > 0"; otherwise not privileged), 2A CPUID leaf 7 ECX[2] (UMIP),
 * 2A LAR and 2B VERR/VERW at CPL 3 (a DPL-0 descriptor is not visible:
 * ZF = 0; DPL-3 ones are).
 */
#include "hvsim.h"

struct hv_dtr u_dtr HV_USER_DATA;
volatile uint64_t u_out HV_USER_DATA;
volatile uint64_t u_zf HV_USER_DATA;
#define UI(name, insn) "u_" #name ":\n" "u_" #name "_i: " insn "\n" "mov $1, %eax\n" "int $0x81\n"
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        UI(sgdt, "sgdt u_dtr(%rip)")
        UI(sidt, "sidt u_dtr(%rip)")
        UI(sldt, "sldt u_out(%rip)")
        UI(str, "str u_out(%rip)")
        UI(smsw, "smsw %eax; mov %rax, u_out(%rip)")
        ".popsection\n");
extern char u_sgdt[], u_sgdt_i[], u_sidt[], u_sidt_i[], u_sldt[], u_sldt_i[], u_str[], u_str_i[], u_smsw[],
    u_smsw_i[];

/* LAR / VERR / VERW at CPL 3: ZF of each in u_zf bits 0..4. */
HV_USER static void u_desc(void)
{
    uint64_t zf = 0;
    uint8_t z;
    uint32_t v = 0;
    __asm__ volatile("lar %k2, %k0; setz %1" : "+r"(v), "=q"(z) : "r"((uint32_t)SEL_KCODE) : "cc");
    zf |= (uint64_t)z << 0;
    __asm__ volatile("lar %k2, %k0; setz %1" : "+r"(v), "=q"(z) : "r"((uint32_t)(SEL_UCODE | 3)) : "cc");
    zf |= (uint64_t)z << 1;
    __asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"((uint16_t)(SEL_UDATA | 3)) : "cc");
    zf |= (uint64_t)z << 2;
    __asm__ volatile("verw %w1; setz %0" : "=q"(z) : "r"((uint16_t)(SEL_UDATA | 3)) : "cc");
    zf |= (uint64_t)z << 3;
    __asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"((uint16_t)SEL_KDATA) : "cc");
    zf |= (uint64_t)z << 4;
    u_zf = zf;
    hv_user_return(1);
}

static void run(const char *what, char *fn, char *insn, bool umip)
{
    if (umip)
        hv_expect(13, NULL);
    uint64_t r = hv_run_user((void (*)(void))fn, hv_user_stack());
    hv_expect_cancel();
    if (umip) {
        hv_printf("UMIP=1: ring 3 %-5s #GP: %s, error code 0x%llx, RIP %s\n", what, r == ~0ull ? "yes" : "no",
                  (unsigned long long)hv_last_ec, hv_last_rip == (uint64_t)(uintptr_t)insn ? "= instruction" : "WRONG");
        T_CHECK_EQ(r, ~0ull);
        T_CHECK_EQ(hv_last_vector, 13);
        T_CHECK_EQ(hv_last_ec, 0);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)insn);
    } else {
        T_CHECK_EQ(r, 1);
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    uint32_t r[4];
    hv_cpuid(7, 0, r);
    hv_printf("CPUID.7.0:ECX.UMIP = %u\n", (r[2] >> 2) & 1);
    T_ASSERT(r[2] & 4, "no UMIP");
    struct hv_dtr g, i;
    sgdt(&g);
    sidt(&i);

    /* UMIP = 0: ring 3 may store the registers. */
    run("SGDT", u_sgdt, u_sgdt_i, false);
    bool gok = u_dtr.base == g.base && u_dtr.limit == g.limit;
    run("SIDT", u_sidt, u_sidt_i, false);
    bool iok = u_dtr.base == i.base && u_dtr.limit == i.limit;
    u_out = ~0ull;
    run("SLDT", u_sldt, u_sldt_i, false);
    uint16_t ldtr = (uint16_t)u_out;
    run("STR", u_str, u_str_i, false);
    uint16_t tr = (uint16_t)u_out;
    run("SMSW", u_smsw, u_smsw_i, false);
    uint16_t msw = (uint16_t)u_out;
    hv_printf("UMIP=0: ring 3 SGDT = GDTR: %s, SIDT = IDTR: %s, SLDT %#x, STR %#x, SMSW = CR0[15:0]: %s\n",
              gok ? "yes" : "no", iok ? "yes" : "no", ldtr, tr, msw == (uint16_t)read_cr0() ? "yes" : "no");
    T_CHECK(gok && iok, "SGDT/SIDT values");
    T_CHECK_EQ(ldtr, 0);
    T_CHECK_EQ(tr, SEL_TSS);
    T_CHECK_EQ(msw, (uint16_t)read_cr0());

    /* LAR/VERR/VERW from ring 3. */
    uint64_t ur = hv_run_user(u_desc, hv_user_stack());
    T_CHECK_EQ(ur, 1);
    uint64_t zf = u_zf;
    hv_printf("ring 3: LAR 0x08 (DPL 0) ZF=%llu, LAR 0x2b (DPL 3) ZF=%llu, VERR/VERW 0x23 %llu/%llu, VERR 0x10 ZF=%llu\n",
              (unsigned long long)(zf & 1), (unsigned long long)((zf >> 1) & 1), (unsigned long long)((zf >> 2) & 1),
              (unsigned long long)((zf >> 3) & 1), (unsigned long long)((zf >> 4) & 1));
    T_CHECK_EQ(zf, 0xE);

    /* UMIP = 1. */
    write_cr4(read_cr4() | CR4_UMIP);
    run("SGDT", u_sgdt, u_sgdt_i, true);
    run("SIDT", u_sidt, u_sidt_i, true);
    run("SLDT", u_sldt, u_sldt_i, true);
    run("STR", u_str, u_str_i, true);
    run("SMSW", u_smsw, u_smsw_i, true);
    struct hv_dtr g2;
    sgdt(&g2);
    hv_printf("UMIP=1: ring 0 SGDT still works: %s\n", g2.base == g.base && g2.limit == g.limit ? "yes" : "no");
    T_CHECK(g2.base == g.base && g2.limit == g.limit, "ring 0 SGDT");
    write_cr4(read_cr4() & ~CR4_UMIP);
    T_DONE();
}
