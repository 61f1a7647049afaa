/*
 * cpu32.c — the 32-bit GDT, TSS and IDT of the runtime, and mb_dispatch(),
 * which every exception stub (isr.S) calls: handlers, expectations, the
 * ring-3 return gate, and a report for anything else.
 *
 * Runs at CPL 0 in 32-bit protected mode; the IDT is 32-bit format and is
 * useless in IA-32e mode (mb_lm_activate drops it).
 */
#include "mb32.h"

uint64_t mb_gdt[MB_GDT_ENTRIES] __attribute__((aligned(8)));
static uint64_t idt[256] __attribute__((aligned(8)));
struct mb_dtr mb_gdtr, mb_idtr;
struct mb_tss mb_tss __attribute__((aligned(128)));
uint8_t mb_ring0_stack[MB_RING0_STACK_SIZE] __attribute__((aligned(16)));
static mb_handler_fn handlers[256];

extern char mb_stubs[], mb_ce_resume[], mb_user_resume[];
extern volatile int32_t mb_expect_vector;
extern volatile uint32_t mb_user_active;

volatile uint32_t mb_last_vector, mb_last_ec, mb_last_eip, mb_last_cs, mb_last_cr2;
volatile uint32_t mb_last_frame, mb_last_esp, mb_last_ss, mb_exception_count;

void mb_gdt_set(unsigned i, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    uint32_t lo = (base << 16) | (limit & 0xFFFF);
    uint32_t hi = (base & 0xFF000000u) | ((uint32_t)(flags & 0xF) << 20) | (limit & 0xF0000u) |
                  ((uint32_t)access << 8) | ((base >> 16) & 0xFF);
    mb_gdt[i] = (uint64_t)hi << 32 | lo;
}

uint64_t mb_gdt_get(unsigned i) { return mb_gdt[i]; }

void mb_set_gate(unsigned vector, unsigned type, unsigned dpl, bool present)
{
    uint32_t off = (uint32_t)(uintptr_t)(mb_stubs + 16 * vector);
    uint32_t lo = ((uint32_t)SEL_KCODE << 16) | (off & 0xFFFF);
    uint32_t hi = (off & 0xFFFF0000u) | (present ? 0x8000u : 0) | ((dpl & 3) << 13) | ((type & 0xF) << 8);
    idt[vector] = (uint64_t)hi << 32 | lo;
}

void mb_set_handler(unsigned vector, mb_handler_fn fn) { handlers[vector & 0xFF] = fn; }

static bool user_return(struct mb_frame *f)
{
    if ((f->cs & 3) != 3 || !mb_user_active)
        return false;
    f->eip = (uint32_t)(uintptr_t)mb_user_resume;      /* EAX is the value */
    f->cs = SEL_KCODE;
    return true;
}

void mb_cpu_init(void)
{
    mb_gdt[0] = 0;
    mb_gdt_set(SEL_KCODE >> 3, 0, 0xFFFFF, DESC_CODE_XR, DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_KDATA >> 3, 0, 0xFFFFF, DESC_DATA_RW, DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_UCODE >> 3, 0, 0xFFFFF, DESC_CODE_XR | DESC_DPL(3), DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_UDATA >> 3, 0, 0xFFFFF, DESC_DATA_RW | DESC_DPL(3), DESC_F_G | DESC_F_DB);
    mb_gdt_set(SEL_TSS >> 3, (uint32_t)(uintptr_t)&mb_tss, sizeof(mb_tss) - 1, DESC_TSS32, 0);
    mb_gdt_set(SEL_KCODE64 >> 3, 0, 0xFFFFF, DESC_CODE_XR, DESC_F_G | DESC_F_L);
    mb_gdt_set(SEL_KCODE16 >> 3, 0, 0xFFFF, DESC_CODE_XR, 0);
    mb_gdt_set(SEL_KDATA16 >> 3, 0, 0xFFFF, DESC_DATA_RW, 0);
    mb_gdtr.limit = sizeof(mb_gdt) - 1;
    mb_gdtr.base = (uint32_t)(uintptr_t)mb_gdt;
    lgdt(&mb_gdtr);
    /* Reload every segment register from the new table (MB 3.2: the
     * loader's GDT may be gone). CS by a far return. */
    __asm__ volatile("pushl %0\n\t"
                     "pushl $1f\n\t"
                     "lret\n"
                     "1:\n\t"
                     "mov %1, %%ds\n\t"
                     "mov %1, %%es\n\t"
                     "mov %1, %%fs\n\t"
                     "mov %1, %%gs\n\t"
                     "mov %1, %%ss"
                     :: "i"(SEL_KCODE), "r"((uint32_t)SEL_KDATA) : "memory");

    memset(&mb_tss, 0, sizeof(mb_tss));
    mb_tss.esp0 = (uint32_t)(uintptr_t)(mb_ring0_stack + MB_RING0_STACK_SIZE);
    mb_tss.ss0 = SEL_KDATA;
    mb_tss.iomap_base = sizeof(mb_tss);          /* no I/O permission bitmap */
    ltr(SEL_TSS);

    for (unsigned v = 0; v < 256; v++)
        mb_set_gate(v, GATE_INT32, 0, true);
    mb_set_gate(MB_USER_RETURN_VECTOR, GATE_TRAP32, 3, true);
    mb_set_handler(MB_USER_RETURN_VECTOR, user_return);
    mb_idtr.limit = sizeof(idt) - 1;
    mb_idtr.base = (uint32_t)(uintptr_t)idt;
    lidt(&mb_idtr);
}

void mb_expect(unsigned vector) { mb_expect_vector = (int32_t)vector; }
void mb_expect_cancel(void) { mb_expect_vector = -1; }

static const char *vname(uint32_t v)
{
    static const char *const n[] = { "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?",
                                     "#TS", "#NP", "#SS", "#GP", "#PF", "?", "#MF", "#AC", "#MC", "#XM" };
    return v < 20 ? n[v] : v == 20 ? "#VE" : v == 21 ? "#CP" : "INT";
}

void mb_dispatch(struct mb_frame *f);
void mb_dispatch(struct mb_frame *f)
{
    mb_exception_count++;
    if ((int32_t)f->vector == mb_expect_vector) {
        mb_last_vector = f->vector;
        mb_last_ec = f->error_code;
        mb_last_eip = f->eip;
        mb_last_cs = f->cs;
        mb_last_cr2 = f->vector == 14 ? read_cr2() : 0;
        mb_last_frame = (uint32_t)(uintptr_t)f;
        mb_last_esp = (f->cs & 3) ? f->esp : 0;
        mb_last_ss = (f->cs & 3) ? f->ss : 0;
        mb_expect_vector = -1;
        if ((f->cs & 3) == 3 && mb_user_active) {
            f->eip = (uint32_t)(uintptr_t)mb_user_resume;
            f->eax = ~0u;
        } else {
            f->eip = (uint32_t)(uintptr_t)mb_ce_resume;
        }
        f->cs = SEL_KCODE;
        return;
    }
    if (handlers[f->vector] && handlers[f->vector](f))
        return;
    mb_printf("UNEXPECTED %s vector=%u ec=%#x eip=%#x cs=%#x cr2=%#x\n", vname(f->vector), f->vector,
              f->error_code, f->eip, f->cs, f->vector == 14 ? read_cr2() : 0);
    mb_exit(3);
}

bool mb_wait_eq(const volatile uint32_t *p, uint32_t want, uint32_t spins)
{
    for (uint32_t i = 0; i < spins; i++) {
        if (*p == want)
            return true;
        cpu_pause();
    }
    return *p == want;
}
