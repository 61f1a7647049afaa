/*
 * cpu_setup.c — GDT, TSS, IDT and exception dispatch; page-table helpers;
 * SYSCALL set-up. One runtime state for the payload (payloads are single
 * programs; the SMP payloads use only the console from other LPs).
 */
#include "hvsim.h"

struct tss64 {
    uint32_t rsvd0;
    uint64_t rsp[3];
    uint64_t rsvd1;
    uint64_t ist[7];
    uint64_t rsvd2;
    uint16_t rsvd3;
    uint16_t iomap;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS is 104 bytes (SDM 3A 8.7)");

static uint64_t gdt[8] __attribute__((aligned(16)));
static uint64_t idt[512] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint8_t iststack[16384] __attribute__((aligned(16)));
static uint8_t sysstack[16384] __attribute__((aligned(16)));
static hv_handler_fn handlers[256];

extern char hv_stubs[];
extern char hv_user_landing[];
extern char hv_syscall_entry[];
extern uint64_t hv_kernel_resume_rsp, hv_syscall_stack_top;

volatile uint64_t hv_last_vector, hv_last_ec, hv_last_rip, hv_last_cr2, hv_exception_count;
volatile uint64_t hv_last_cs, hv_last_frame;
static volatile int expect_vector = -1;
static void *volatile expect_resume;

struct dtr { uint16_t limit; uint64_t base; } __attribute__((packed));

void hv_set_gate(unsigned v, unsigned dpl, unsigned ist, bool present)
{
    uint64_t off = (uint64_t)(uintptr_t)(hv_stubs + 16 * v);
    idt[2 * v] = (off & 0xFFFF) | ((uint64_t)SEL_KCODE << 16) | ((uint64_t)(ist & 7) << 32) |
                 (0xEull << 40) | ((uint64_t)(dpl & 3) << 45) | ((uint64_t)(present ? 1 : 0) << 47) |
                 (((off >> 16) & 0xFFFF) << 48);
    idt[2 * v + 1] = off >> 32;
}

void hv_set_handler(unsigned vector, hv_handler_fn fn)
{
    handlers[vector & 255] = fn;
}

void hv_cpu_init(void)
{
    gdt[0] = 0;
    gdt[1] = 0x00AF9B000000FFFFull;      /* 0x08 kernel code, 64-bit */
    gdt[2] = 0x00CF93000000FFFFull;      /* 0x10 kernel data */
    gdt[3] = 0x00CFFB000000FFFFull;      /* 0x18 user code, 32-bit (for SYSRET's layout) */
    gdt[4] = 0x00CFF3000000FFFFull;      /* 0x20 user data */
    gdt[5] = 0x00AFFB000000FFFFull;      /* 0x28 user code, 64-bit */
    uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
    gdt[6] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xF) << 48) |
             (((base >> 24) & 0xFF) << 56);
    gdt[7] = base >> 32;
    tss.rsp[0] = (uint64_t)(uintptr_t)(kstack + sizeof(kstack));
    tss.ist[0] = (uint64_t)(uintptr_t)(iststack + sizeof(iststack));
    tss.iomap = sizeof(tss);             /* no I/O bitmap: ring 3 port access faults */
    struct dtr g = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
    __asm__ volatile("lgdt %0" :: "m"(g));
    __asm__ volatile("pushq %0; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:"
                     :: "i"(SEL_KCODE) : "rax", "memory");
    __asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss" :: "r"((uint16_t)SEL_KDATA));
    __asm__ volatile("ltr %0" :: "r"((uint16_t)SEL_TSS));
    for (unsigned v = 0; v < 256; v++)
        hv_set_gate(v, 0, 0, true);
    hv_set_gate(8, 0, 1, true);          /* #DF on its own stack */
    hv_set_gate(3, 3, 0, true);          /* INT3 from ring 3 */
    hv_set_gate(HV_USER_RETURN_VECTOR, 3, 0, true);
    struct dtr i = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(i));
}

void hv_expect(unsigned vector, void *resume)
{
    expect_vector = (int)vector;
    expect_resume = resume;
}

void hv_expect_cancel(void)
{
    expect_vector = -1;
    expect_resume = 0;
}

bool hv_on_ist_stack(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)iststack && a < (uintptr_t)(iststack + sizeof(iststack));
}

bool hv_on_rsp0_stack(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)kstack && a < (uintptr_t)(kstack + sizeof(kstack));
}

/* ---- the ring-3 regions (payload.ld: .hvuser_text, .hvuser_data) ---- */
extern char __hv_user_text_start[], __hv_user_text_end[], __hv_user_data_start[], __hv_user_data_end[];
static uint8_t user_stack[16384] HV_USER_DATA __attribute__((aligned(16)));

void hv_user_init(void)
{
    for (char *p = __hv_user_text_start; p < __hv_user_text_end; p += 4096)
        hv_make_user((uint64_t)(uintptr_t)p);
    for (char *p = __hv_user_data_start; p < __hv_user_data_end; p += 4096)
        hv_make_user((uint64_t)(uintptr_t)p);
}

void *hv_user_stack(void)
{
    return user_stack + sizeof(user_stack);
}

static void to_kernel(struct hv_frame *f, uint64_t value)
{
    f->rip = (uint64_t)(uintptr_t)hv_user_landing;
    f->cs = SEL_KCODE;
    f->ss = SEL_KDATA;
    f->rsp = hv_kernel_resume_rsp;
    f->rflags = 0x2;
    f->rax = value;
}

static const char *vname(uint64_t v)
{
    static const char *const n[] = { "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?",
                                     "#TS", "#NP", "#SS", "#GP", "#PF", "?", "#MF", "#AC", "#MC", "#XM" };
    return v < 20 ? n[v] : v == 20 ? "#VE" : v == 21 ? "#CP" : "INT";
}

void hv_dispatch(struct hv_frame *f);
void hv_dispatch(struct hv_frame *f)
{
    hv_exception_count++;
    if (f->vector == HV_USER_RETURN_VECTOR && (f->cs & 3) == 3) {
        to_kernel(f, f->rax);
        return;
    }
    if ((int)f->vector == expect_vector) {
        hv_last_vector = f->vector;
        hv_last_ec = f->error_code;
        hv_last_rip = f->rip;
        hv_last_cr2 = (f->vector == 14 || f->vector == 8) ? read_cr2() : 0;
        hv_last_cs = f->cs;
        hv_last_frame = (uint64_t)(uintptr_t)f;
        expect_vector = -1;
        if ((f->cs & 3) == 3)
            to_kernel(f, ~0ull);
        else if (expect_resume)
            f->rip = (uint64_t)(uintptr_t)expect_resume;
        return;
    }
    if (handlers[f->vector] && handlers[f->vector](f))
        return;
    hv_printf("UNEXPECTED %s vector=%llu ec=%#llx rip=%#llx cs=%#llx cr2=%#llx\n", vname(f->vector),
              (unsigned long long)f->vector, (unsigned long long)f->error_code, (unsigned long long)f->rip,
              (unsigned long long)f->cs, (unsigned long long)(f->vector == 14 ? read_cr2() : 0));
    hv_exit(3);
}

/* ---- SYSCALL ---- */
uint64_t (*hv_syscall_handler)(uint64_t nr, uint64_t a1, uint64_t a2);
uint64_t hv_syscall_dispatch(uint64_t nr, uint64_t a1, uint64_t a2);
uint64_t hv_syscall_dispatch(uint64_t nr, uint64_t a1, uint64_t a2)
{
    return hv_syscall_handler ? hv_syscall_handler(nr, a1, a2) : ~0ull;
}

void hv_syscall_init(uint64_t (*fn)(uint64_t, uint64_t, uint64_t));
void hv_syscall_init(uint64_t (*fn)(uint64_t, uint64_t, uint64_t))
{
    hv_syscall_handler = fn;
    hv_syscall_stack_top = (uint64_t)(uintptr_t)(sysstack + sizeof(sysstack));
    wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)hv_syscall_entry);
    wrmsr(MSR_FMASK, 0x700);             /* TF, IF, DF */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);
}

/* ---- paging ---- */
static uint8_t pool[256 * 4096] __attribute__((aligned(4096)));
static unsigned pool_used;

void *hv_page_alloc(void)
{
    if (pool_used >= 256) {
        hv_puts("FAIL: page pool exhausted\n");
        hv_exit(1);
    }
    void *p = pool + 4096 * pool_used++;
    memset(p, 0, 4096);
    return p;
}

#define ADDR(e) ((e) & 0x000FFFFFFFFFF000ull)

static uint64_t *table_for(uint64_t *entry, uint64_t child_size)
{
    uint64_t e = *entry;
    if (!(e & PTE_P)) {
        uint64_t *t = hv_page_alloc();
        *entry = (uint64_t)(uintptr_t)t | PTE_P | PTE_W;
        return t;
    }
    if (e & PTE_PS) {
        /* Split a large page into 512 smaller ones with the same flags. */
        uint64_t *t = hv_page_alloc();
        uint64_t base = e & 0x000FFFFFFFFFE000ull & ~(child_size * 512 - 1);
        uint64_t flags = e & (0xFFFull & ~0x1000ull) & ~PTE_PS;
        uint64_t nx = e & PTE_NX;
        for (int i = 0; i < 512; i++)
            t[i] = (base + (uint64_t)i * child_size) | flags | nx | (child_size > 4096 ? PTE_PS : 0);
        *entry = (uint64_t)(uintptr_t)t | PTE_P | PTE_W | (e & PTE_U);
        return t;
    }
    return (uint64_t *)(uintptr_t)ADDR(e);
}

uint64_t *hv_pte(uint64_t la)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)ADDR(read_cr3());
    uint64_t *pdpt = table_for(&pml4[(la >> 39) & 511], 1ull << 30);
    uint64_t *pd = table_for(&pdpt[(la >> 30) & 511], 1ull << 21);
    uint64_t *pt = table_for(&pd[(la >> 21) & 511], 4096);
    return &pt[(la >> 12) & 511];
}

void hv_map(uint64_t la, uint64_t pa, uint64_t flags)
{
    *hv_pte(la) = (pa & ~0xFFFull & ~PTE_NX) | flags;
    invlpg((void *)(uintptr_t)la);
}

void hv_make_user(uint64_t la)
{
    uint64_t *pte = hv_pte(la);
    uint64_t *pml4 = (uint64_t *)(uintptr_t)ADDR(read_cr3());
    uint64_t *e4 = &pml4[(la >> 39) & 511];
    uint64_t *pdpt = (uint64_t *)(uintptr_t)ADDR(*e4);
    uint64_t *e3 = &pdpt[(la >> 30) & 511];
    uint64_t *pd = (uint64_t *)(uintptr_t)ADDR(*e3);
    uint64_t *e2 = &pd[(la >> 21) & 511];
    *e4 |= PTE_U;
    *e3 |= PTE_U;
    *e2 |= PTE_U;
    *pte |= PTE_U;
    invlpg((void *)(uintptr_t)la);
}
