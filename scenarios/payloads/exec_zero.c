/*
 * exec_zero — code at linear address 0 runs like code anywhere else.
 *
 * hvsim ends its engine runs at linear 0 (docs/cpu-mmu.md, "Ending runs at
 * address 0"), so this is the address where that choice could show: a call
 * into page 0, a loop whose branch target is 0, code at 0 rewritten between
 * calls, a sensitive instruction (CPUID) at 0, and an IRETQ whose target is
 * 0 (a run that starts there). SDM 3A 4.5: linear page 0 is an ordinary
 * page when the paging structures map it.
 */
#include "hvsim.h"

typedef uint64_t (*fn0_t)(uint64_t);

static void put(uint8_t *page, const uint8_t *code, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        page[i] = code[i];
}

/* IRETQ to linear 0 with the current CS, SS, flags and a stack whose top is
 * the return address: the code at 0 ends with RET. */
static uint64_t iret_to_zero(uint64_t arg)
{
    uint64_t r;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\t"
                     "push %%rax\n\t"
                     "mov %%rsp, %%rax\n\t"
                     "mov %%ss, %%ecx\n\t"
                     "push %%rcx\n\t"
                     "push %%rax\n\t"
                     "pushfq\n\t"
                     "mov %%cs, %%ecx\n\t"
                     "push %%rcx\n\t"
                     "push $0\n\t"
                     "iretq\n"
                     "1:"
                     : "=a"(r), "+D"(arg)
                     :
                     : "rcx", "rdx", "rsi", "r8", "memory");
    return r;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    hv_map(0, (uint64_t)(uintptr_t)hv_page_alloc(), PTE_P | PTE_W);
    /* the code is written through linear 0 itself (writes through another
     * alias of the frame: scenarios/cpu/smc-alias) */
    uint8_t *page;
    __asm__("" : "=r"(page) : "0"((uint64_t)0));
    volatile fn0_t f = (fn0_t)(uintptr_t)0;

    /* lea rax, [rdi + 0x5a]; ret */
    static const uint8_t add5a[] = { 0x48, 0x8d, 0x47, 0x5a, 0xc3 };
    put(page, add5a, sizeof(add5a));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < 3; i++)
        sum += f(i);
    hv_printf("three calls to linear 0: sum %llu\n", (unsigned long long)sum);
    T_EQ(sum, 3 * 0x5a + 3);

    /* 0: inc rax; dec rdi; jnz 0; ret  (with rax = 0 first: xor eax, eax
     * would sit at 0 too, so the caller's value is counted from 0x100) */
    static const uint8_t loop[] = { 0x48, 0xff, 0xc0, 0x48, 0xff, 0xcf, 0x75, 0xf8, 0xc3 };
    put(page, loop, sizeof(loop));
    uint64_t n;
    __asm__ volatile("mov $0x100, %%eax\n\t"
                     "call *%%rdx"
                     : "=a"(n)
                     : "D"(1000ull), "d"((uint64_t)0)
                     : "rcx", "rsi", "memory", "cc");
    hv_printf("a loop whose branch target is 0: rax %#llx\n", (unsigned long long)n);
    T_EQ(n, 0x100 + 1000);

    /* rewritten in place: mov eax, 0x1234; ret */
    static const uint8_t mov1234[] = { 0xb8, 0x34, 0x12, 0x00, 0x00, 0xc3 };
    put(page, mov1234, sizeof(mov1234));
    uint64_t r1 = f(0);
    page[1] = 0x78;
    page[2] = 0x56;
    uint64_t r2 = f(0);
    hv_printf("code at 0 rewritten between calls: %#llx then %#llx\n", (unsigned long long)r1,
              (unsigned long long)r2);
    T_EQ(r1, 0x1234);
    T_EQ(r2, 0x5678);

    /* cpuid; ret with leaf 0: the vendor's first four letters in EBX */
    static const uint8_t cpuid0[] = { 0x0f, 0xa2, 0xc3 };
    put(page, cpuid0, sizeof(cpuid0));
    uint32_t a = 0, b, c = 0, d;
    __asm__ volatile("call *%%rsi" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : "S"((uint64_t)0) : "memory");
    uint32_t ra = 0, rb, rc = 0, rd;
    __asm__ volatile("cpuid" : "+a"(ra), "=b"(rb), "+c"(rc), "=d"(rd));
    hv_printf("CPUID at 0: same as elsewhere: %s\n", a == ra && b == rb && c == rc && d == rd ? "yes" : "no");
    T_EQ(b, rb);
    T_EQ(a, ra);

    /* IRETQ to 0: mov eax, 0x77; ret (back to after the IRETQ) */
    static const uint8_t mov77[] = { 0xb8, 0x77, 0x00, 0x00, 0x00, 0xc3 };
    put(page, mov77, sizeof(mov77));
    uint64_t r3 = iret_to_zero(0);
    uint64_t r4 = iret_to_zero(0);
    hv_printf("IRETQ to 0, twice: %#llx %#llx\n", (unsigned long long)r3, (unsigned long long)r4);
    T_EQ(r3, 0x77);
    T_EQ(r4, 0x77);
    T_DONE();
}
