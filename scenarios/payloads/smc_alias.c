/*
 * smc_alias — code rewritten through another linear alias of its frame.
 *
 * A page of code is mapped at CODE_LA and is also reachable through the
 * identity map (as a loader or a hypervisor writing a guest's code would
 * reach it). It is run at CODE_LA, rewritten through the identity alias,
 * and run again: the processor must run the new bytes (SDM 3A 11.6,
 * self-modifying code: a write to a code page is seen by instructions
 * fetched after it, whatever linear address the write used; the jump to
 * the code serializes fetches enough for the cross-modifying rules of 8.1.3
 * on a single processor). Also rewritten while it runs in a loop (the
 * caller's loop calls the code, then rewrites it through the alias), and
 * written through CODE_LA itself, which the engine always saw. Last, two
 * such pages: rewriting and running the first (whose translated code hvsim
 * then drops) must not make it forget what the second held, which is
 * rewritten next.
 */
#include "hvsim.h"

#define CODE_LA  0x50000000ull
#define CODE2_LA 0x50200000ull

typedef uint64_t (*fn_t)(void);

/* mov eax, imm32; ret */
static void put_ret(volatile uint8_t *p, uint32_t v)
{
    p[0] = 0xb8;
    p[1] = (uint8_t)v;
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)(v >> 16);
    p[4] = (uint8_t)(v >> 24);
    p[5] = 0xc3;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    volatile uint8_t *ident = hv_page_alloc();
    hv_map(CODE_LA, (uint64_t)(uintptr_t)ident, PTE_P | PTE_W);
    volatile fn_t f = (fn_t)(uintptr_t)CODE_LA;

    put_ret(ident, 0x1111);
    uint64_t a = f();
    put_ret(ident, 0x2222);                       /* through the identity alias */
    uint64_t b = f();
    hv_printf("written through the other alias: %#llx then %#llx\n", (unsigned long long)a,
              (unsigned long long)b);
    T_EQ(a, 0x1111);
    T_EQ(b, 0x2222);

    /* in a loop: each call sees the value written just before it */
    uint64_t bad = 0;
    for (uint32_t i = 0; i < 200; i++) {
        put_ret(ident, 0x10000 + i);
        if (f() != 0x10000 + i)
            bad++;
    }
    hv_printf("200 rewrites through the other alias, each run: %s\n", hv_yn(bad == 0));
    T_EQ(bad, 0);

    /* through the address it runs at (the engine's own alias) */
    put_ret((volatile uint8_t *)(uintptr_t)CODE_LA, 0x3333);
    uint64_t c = f();
    hv_printf("written through its own address: %#llx\n", (unsigned long long)c);
    T_EQ(c, 0x3333);

    volatile uint8_t *ident2 = hv_page_alloc();
    hv_map(CODE2_LA, (uint64_t)(uintptr_t)ident2, PTE_P | PTE_W);
    volatile fn_t g = (fn_t)(uintptr_t)CODE2_LA;
    put_ret(ident2, 0x4444);
    uint64_t d = g();
    put_ret(ident, 0x5555);                       /* the first page, then the second */
    uint64_t e = f();
    put_ret(ident2, 0x6666);
    uint64_t h = g();
    hv_printf("two pages, rewritten one after the other: %#llx %#llx %#llx\n", (unsigned long long)d,
              (unsigned long long)e, (unsigned long long)h);
    T_EQ(d, 0x4444);
    T_EQ(e, 0x5555);
    T_EQ(h, 0x6666);
    T_DONE();
}
