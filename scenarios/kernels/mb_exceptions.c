/*
 * mb_exceptions — the protected-mode exceptions a 32-bit kernel meets,
 * with their vector, error code and saved EIP (SDM 3A 6.15 gives each
 * vector's class and error code; 6.13 the selector error-code format:
 * bits 15:3 index, 2 TI, 1 IDT, 0 EXT).
 *
 *   #DE  DIV by zero, DIV whose quotient does not fit (fault: EIP = DIV)
 *   #BP  INT3 (trap: EIP = the next instruction)
 *   #OF  INTO with OF = 1 (trap); nothing with OF = 0
 *   #BR  BOUND with the index outside the bounds (fault)
 *   #UD  UD2; LOCK on an instruction that cannot be locked (SDM 2A LOCK)
 *   #NM  x87 instruction with CR0.TS = 1; WAIT with TS = 1 faults only
 *        when CR0.MP = 1 (SDM 3A 2.5, table 2-2)
 *   #GP  MOV DS/SS with a selector beyond the GDT limit, in a null LDT, of
 *        an execute-only code segment, of a TSS; MOV SS with RPL != CPL,
 *        a read-only segment or null (SDM 2B MOV, "Protected Mode
 *        Exceptions"): error code = the selector with RPL replaced by
 *        EXT/IDT = 0, or 0 for null
 *   #NP  MOV DS of a not-present segment (error code the selector); INT n
 *        through a not-present gate (vector * 8 + 2)
 *   #SS  MOV SS of a not-present segment (error code the selector)
 *   #TS  INT n from ring 3 when TSS.SS0 is unusable (SDM 2A INT n:
 *        #TS(selector + EXT), null SS0: #TS(EXT)); the #TS handler is a
 *        ring-3 handler (a gate to SEL_UCODE: no stack switch, so no second
 *        #TS), which repairs SS0 and returns through INT 0x80.
 *
 * Limit checks (#GP/#SS for offsets beyond a segment limit) are left out:
 * hvsim does not check segment limits on data accesses (docs/cpu-mmu.md).
 */
#include "mb32.h"

/* GDT entries of this kernel (MB_GDT_FIRST_FREE = 9) */
#define SEL_NP_DATA   0x48   /* data, read/write, P = 0 */
#define SEL_XONLY     0x50   /* code, execute-only */
#define SEL_RO_DATA   0x58   /* data, read-only */

/* Each probe is a function fn(void *arg) that mb_call_expect() runs; the
 * *_at labels mark the faulting instruction, *_next the one after a trap. */
void ex_div0(void *), ex_div_big(void *), ex_int3(void *), ex_into(void *), ex_into_clear(void *);
void ex_bound(void *), ex_ud2(void *), ex_lock(void *), ex_fld1(void *), ex_fwait(void *);
void ex_load_ds(void *), ex_load_ss(void *), ex_int83(void *);
extern const char ex_div0_at[], ex_div_big_at[], ex_int3_next[], ex_into_next[], ex_bound_at[], ex_ud2_at[];
extern const char ex_lock_at[], ex_fld1_at[], ex_fwait_at[], ex_load_ds_at[], ex_load_ss_at[], ex_int83_at[];
__asm__(".pushsection .text\n"
        "ex_div0: xor %ecx, %ecx; mov $1, %eax; xor %edx, %edx\n"
        "ex_div0_at: div %ecx\n ret\n"
        "ex_div_big: mov $1, %edx; xor %eax, %eax; mov $1, %ecx\n"
        "ex_div_big_at: div %ecx\n ret\n"          /* 2^32 / 1 does not fit in EAX */
        "ex_int3: int3\n"
        "ex_int3_next: ret\n"
        "ex_into: mov $0x7fffffff, %eax; add $1, %eax; into\n"
        "ex_into_next: ret\n"
        "ex_into_clear: xor %eax, %eax; add $1, %eax; into\n ret\n"
        "ex_bound: mov $5, %eax\n"
        "ex_bound_at: bound %eax, ex_bounds\n ret\n"
        "ex_ud2:\n"
        "ex_ud2_at: ud2\n ret\n"
        "ex_lock:\n"
        "ex_lock_at: .byte 0xf0, 0x90\n ret\n"       /* LOCK NOP */
        "ex_fld1:\n"
        "ex_fld1_at: fld1\n fstp %st(0)\n ret\n"
        "ex_fwait:\n"
        "ex_fwait_at: fwait\n ret\n"
        "ex_load_ds: mov 4(%esp), %eax\n"
        "ex_load_ds_at: mov %eax, %ds\n mov $0x10, %eax\n mov %eax, %ds\n ret\n"
        "ex_load_ss: mov 4(%esp), %eax\n"
        "ex_load_ss_at: mov %eax, %ss\n ret\n"     /* only ever called with a selector that faults */
        "ex_int83:\n"
        "ex_int83_at: int $0x83\n ret\n"
        ".popsection\n"
        ".pushsection .data\n"
        ".align 8\n"
        "ex_bounds: .long 0, 4\n"
        ".popsection\n");

/* ---- #TS: ring-3 code and the ring-3 #TS handler ---- */
static MB_USER_DATA uint8_t user_stack[4096] __attribute__((aligned(16)));
MB_USER_DATA volatile uint32_t u_ts_ec, u_ts_cs, u_ts_eip;
void ts_user_handler(void);
void user_int81(void);
extern const char user_int81_at[];
__asm__(".pushsection .user.text, \"ax\"\n"
        "user_int81:\n"
        "user_int81_at: int $0x81\n"
        "    mov $0, %eax\n"
        "    int $0x80\n"
        "ts_user_handler:\n"                         /* CPL 3, on the user stack: EC, EIP, CS, EFLAGS */
        "    mov 0(%esp), %eax\n"
        "    mov %eax, u_ts_ec\n"
        "    mov 4(%esp), %eax\n"
        "    mov %eax, u_ts_eip\n"
        "    mov 8(%esp), %eax\n"
        "    mov %eax, u_ts_cs\n"
        "    movw $0x10, mb_tss + 8\n"               /* repair TSS.SS0 (paging is off) */
        "    mov $0x7777, %eax\n"
        "    int $0x80\n"
        ".popsection\n");

static uint32_t addr(const void *p) { return (uint32_t)(uintptr_t)p; }

/* Expect `vector` from fn(arg): print the facts, check error code (or
 * none, want_ec = ~0) and the saved EIP. */
static void expect(const char *what, unsigned vector, const char *name, void (*fn)(void *), uint32_t arg,
                   uint32_t want_ec, const void *want_eip, const char *eip_is)
{
    mb_last_ec = mb_last_eip = ~0u;
    bool hit = mb_call_expect(vector, fn, (void *)(uintptr_t)arg);
    if (!hit) {
        mb_printf("%s: no %s\n", what, name);
        T_CHECK(hit, "%s: no %s", what, name);
        return;
    }
    bool eip_ok = mb_last_eip == addr(want_eip);
    if (want_ec == ~0u)
        mb_printf("%s: %s, saved EIP = %s: %s\n", what, name, eip_is, mb_yn(eip_ok));
    else
        mb_printf("%s: %s(%#x), saved EIP = %s: %s\n", what, name, mb_last_ec, eip_is, mb_yn(eip_ok));
    if (want_ec != ~0u)
        T_CHECK_EQ(mb_last_ec, want_ec);
    else
        T_CHECK_EQ(mb_last_ec, 0);          /* the stub's placeholder: the CPU pushed none */
    T_CHECK_EQ(mb_last_eip, addr(want_eip));
}

static void arithmetic(void)
{
    expect("DIV by zero", 0, "#DE", ex_div0, 0, ~0u, ex_div0_at, "the DIV");
    expect("DIV with a quotient over 32 bits", 0, "#DE", ex_div_big, 0, ~0u, ex_div_big_at, "the DIV");
    expect("INT3", 3, "#BP", ex_int3, 0, ~0u, ex_int3_next, "the next instruction");
    expect("INTO with OF = 1", 4, "#OF", ex_into, 0, ~0u, ex_into_next, "the next instruction");
    bool none = !mb_call_expect(4, ex_into_clear, NULL);
    mb_printf("INTO with OF = 0: no exception: %s\n", mb_yn(none));
    T_CHECK(none, "INTO with OF = 0 raised #OF");
    expect("BOUND with index 5 outside [0, 4]", 5, "#BR", ex_bound, 0, ~0u, ex_bound_at, "the BOUND");
    expect("UD2", 6, "#UD", ex_ud2, 0, ~0u, ex_ud2_at, "the UD2");
    expect("LOCK NOP", 6, "#UD", ex_lock, 0, ~0u, ex_lock_at, "the LOCK NOP");
}

static void device_not_available(void)
{
    uint32_t cr0 = read_cr0();
    write_cr0(cr0 | (1u << 3));                   /* TS */
    expect("FLD1 with CR0.TS = 1", 7, "#NM", ex_fld1, 0, ~0u, ex_fld1_at, "the FLD1");
    bool none = !mb_call_expect(7, ex_fwait, NULL);
    mb_printf("WAIT with CR0.TS = 1, CR0.MP = 0: no exception: %s\n", mb_yn(none));
    T_CHECK(none, "WAIT raised #NM with MP = 0");
    write_cr0(cr0 | (1u << 3) | (1u << 1));       /* TS, MP */
    expect("WAIT with CR0.TS = 1, CR0.MP = 1", 7, "#NM", ex_fwait, 0, ~0u, ex_fwait_at, "the WAIT");
    __asm__ volatile("clts");
    write_cr0(cr0);
    bool ok = !mb_call_expect(7, ex_fld1, NULL);
    mb_printf("FLD1 after CLTS: no exception: %s\n", mb_yn(ok));
    T_CHECK(ok, "FLD1 faulted after CLTS");
}

static void segments(void)
{
    mb_gdt_set(SEL_NP_DATA >> 3, 0, 0xFFFFF, DESC_DATA_RW & ~DESC_P, DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_XONLY >> 3, 0, 0xFFFFF, DESC_CODE_X, DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_RO_DATA >> 3, 0, 0xFFFFF, DESC_DATA_R, DESC_F_G | DESC_F_DB);
    struct mb_dtr g;
    sgdt(&g);
    mb_printf("GDT limit %#x (%u entries)\n", g.limit, (g.limit + 1) / 8);

    expect("MOV DS, 0x1fb (index beyond the GDT limit, RPL 3)", 13, "#GP", ex_load_ds, 0x1FB, 0x1F8, ex_load_ds_at,
           "the MOV");
    /* LLDT with a null selector marks the LDTR invalid (SDM 2A LLDT); QEMU
     * enters Multiboot kernels with the reset LDTR cache (base 0, limit
     * 0xFFFF, SDM 3A table 9-1), hvsim with a null one (docs/multiboot.md) */
    __asm__ volatile("lldt %w0" :: "r"(0));
    expect("LLDT 0, then MOV DS, 0xc (TI = 1, no LDT)", 13, "#GP", ex_load_ds, 0xC, 0xC, ex_load_ds_at, "the MOV");
    expect("MOV DS, 0x50 (execute-only code)", 13, "#GP", ex_load_ds, SEL_XONLY, SEL_XONLY, ex_load_ds_at, "the MOV");
    expect("MOV DS, 0x28 (a TSS)", 13, "#GP", ex_load_ds, SEL_TSS, SEL_TSS, ex_load_ds_at, "the MOV");
    expect("MOV DS, 0x48 (not present)", 11, "#NP", ex_load_ds, SEL_NP_DATA, SEL_NP_DATA, ex_load_ds_at, "the MOV");
    bool ok = !mb_call_expect(13, ex_load_ds, (void *)0);
    mb_printf("MOV DS, 0 (null): no exception: %s\n", mb_yn(ok));
    T_CHECK(ok, "loading a null DS faulted");
    expect("MOV SS, 0 (null)", 13, "#GP", ex_load_ss, 0, 0, ex_load_ss_at, "the MOV");
    expect("MOV SS, 0x23 (RPL 3 != CPL 0)", 13, "#GP", ex_load_ss, SEL_UDATA, SEL_UDATA & ~3u, ex_load_ss_at,
           "the MOV");
    expect("MOV SS, 0x58 (read-only data)", 13, "#GP", ex_load_ss, SEL_RO_DATA, SEL_RO_DATA, ex_load_ss_at,
           "the MOV");
    expect("MOV SS, 0x48 (not present)", 12, "#SS", ex_load_ss, SEL_NP_DATA, SEL_NP_DATA, ex_load_ss_at, "the MOV");

    mb_set_gate(0x83, GATE_INT32, 0, false);
    expect("INT 0x83 through a not-present gate", 11, "#NP", ex_int83, 0, 0x83 * 8 + 2, ex_int83_at, "the INT");
}

static void invalid_tss(void)
{
    /* gate 0x81: DPL 3, to ring 0; gate 10 (#TS): to SEL_UCODE, no stack switch */
    mb_set_gate(0x81, GATE_INT32, 3, true);
    struct mb_dtr i;
    sidt(&i);
    uint32_t off = addr(ts_user_handler);
    volatile uint64_t *idt = (volatile uint64_t *)(uintptr_t)i.base;
    idt[10] = (uint64_t)((off & 0xFFFF0000u) | 0x8000u | (GATE_INT32 << 8)) << 32 |
              ((uint32_t)SEL_UCODE << 16 | (off & 0xFFFF));
    static const struct { uint16_t ss0; uint32_t ec; const char *why; } cases[] = {
        { SEL_UDATA, SEL_UDATA & ~3u, "0x23: RPL 3 != the new CPL 0" },
        { SEL_RO_DATA, SEL_RO_DATA, "0x58: not writable" },
        { 0, 0, "0: null" },
    };
    for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mb_tss.ss0 = cases[k].ss0;
        u_ts_ec = u_ts_cs = u_ts_eip = ~0u;
        uint32_t r = mb_run_user(user_int81, user_stack + sizeof user_stack);
        mb_printf("INT 0x81 from ring 3 with TSS.SS0 = %s: #TS(%#x) (handled at CS = %#x), saved EIP = the INT: %s\n",
                  cases[k].why, u_ts_ec, u_ts_cs, mb_yn(u_ts_eip == addr(user_int81_at)));
        T_CHECK_EQ(r, 0x7777);
        T_CHECK_EQ(u_ts_ec, cases[k].ec);
        T_CHECK_EQ(u_ts_cs, SEL_UCODE);
        T_CHECK_EQ(u_ts_eip, addr(user_int81_at));
        T_CHECK_EQ(mb_tss.ss0, SEL_KDATA);
    }
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)mbi;
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    mb_cpu_init();
    arithmetic();
    device_not_available();
    segments();
    invalid_tss();
    mb_printf("exceptions taken: %u\n", mb_exception_count);
    T_DONE();
}
