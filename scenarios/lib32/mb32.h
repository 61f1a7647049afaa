/*
 * mb32.h — the freestanding runtime for 32-bit Multiboot v1 test kernels
 * (scenarios/kernels/, docs/multiboot.md): entry (entry.S calls
 * mb_main(magic, info) on the kernel's own stack), console (port 0xE9),
 * exit (port 0xF4), printf, the T_ASSERT/T_CHECK/T_DONE test style of
 * scenarios/lib/hvsim.h (same output), a GDT/IDT/TSS with exception
 * reporting and recovery, ring-3 entry, page-table builders (32-bit, PAE,
 * 4-level), the switch into IA-32e mode, a real-mode AP trampoline and the
 * xAPIC (mb_apic.h, included at the end).
 *
 * Execution context: 32-bit protected mode, CPL 0, IF = 0 throughout;
 * paging off unless a kernel turns it on. Built with gcc -m32 and no
 * libgcc: no 64-bit division or modulo anywhere (printf prints 64-bit
 * decimals by subtracting powers of ten).
 *
 * SDM references are to volume 3A, editions up to 2024 (paging chapter 4,
 * protection 5, interrupts 6, processor management 9, APIC 10).
 */
#ifndef HVSIM_MB32_H
#define HVSIM_MB32_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiboot_protocol.h"

/* ---- the kernel's entry point (entry.S) ---- */
void mb_main(uint32_t magic, const struct mb_info *info);
/* The machine state entry.S recorded before it touched anything (MB 3.2). */
struct mb_entry_state {
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp, esp;
    uint32_t eflags, cr0;
    uint16_t cs, ds, es, fs, gs, ss;
};
extern struct mb_entry_state mb_entry_state;
/* Linker-script symbols (kernel.ld). */
extern char __kernel_start[], __kernel_end[], __user_start[], __user_end[];
/* Kernel code and data that ring 3 may use go in the page-aligned user
 * region [__user_start, __user_end): paging kernels set U/S there and
 * nowhere else. User code must not call kernel functions. */
#define MB_USER      __attribute__((section(".user.text"), noinline, used))
#define MB_USER_DATA __attribute__((section(".user.data"), used))

/* ---- console and exit ---- */
void mb_putc(char c);
void mb_puts(const char *s);
int mb_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int mb_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writing v to port 0xF4 ends the run with status (v << 1) | 1. */
__attribute__((noreturn)) void mb_exit(int code);
static inline const char *mb_yn(bool b) { return b ? "yes" : "no"; }

/* ---- tests: the output format of scenarios/lib/hvsim.h ---- */
#define T_ASSERT(cond, ...)                                                     \
    do {                                                                        \
        if (!(cond)) {                                                          \
            mb_printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            mb_printf(__VA_ARGS__);                                             \
            mb_putc('\n');                                                      \
            mb_exit(1);                                                         \
        }                                                                       \
    } while (0)
#define T_EQ(a, b)                                                              \
    do {                                                                        \
        uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                        \
        T_ASSERT(_a == _b, "%s = %#llx, expected %#llx", #a,                    \
                 (unsigned long long)_a, (unsigned long long)_b);               \
    } while (0)
extern unsigned mb_check_failures;
#define T_CHECK(cond, ...)                                                      \
    do {                                                                        \
        if (!(cond)) {                                                          \
            mb_printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            mb_printf(__VA_ARGS__);                                             \
            mb_putc('\n');                                                      \
            mb_check_failures++;                                                \
        }                                                                       \
    } while (0)
#define T_CHECK_EQ(a, b)                                                        \
    do {                                                                        \
        uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                        \
        T_CHECK(_a == _b, "%s = %#llx, expected %#llx", #a,                     \
                (unsigned long long)_a, (unsigned long long)_b);                \
    } while (0)
#define T_DONE()                                                                \
    do {                                                                        \
        if (mb_check_failures) {                                                \
            mb_printf("FAILED %u check(s)\n", mb_check_failures);               \
            mb_exit(1);                                                         \
        }                                                                       \
        mb_puts("DONE\n");                                                      \
        mb_exit(0);                                                             \
    } while (0)

/* ---- port I/O and instructions ---- */
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void mb_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}
/* A trace marker, as hv_mark(): WRMSR IA32_TSC_AUX = v. */
static inline void mb_mark(uint32_t v) { wrmsr(0xC0000103, v); }
#define DEF_CR(n)                                                               \
    static inline uint32_t read_cr##n(void) { uint32_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint32_t v) { __asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR
static inline void invlpg(const volatile void *p) { __asm__ volatile("invlpg (%0)" :: "r"(p) : "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint32_t read_eflags(void) { uint32_t v; __asm__ volatile("pushfl; popl %0" : "=r"(v)); return v; }
#define DEF_SREG(n)                                                             \
    static inline uint16_t read_##n(void) { uint16_t v; __asm__ volatile("mov %%" #n ", %0" : "=r"(v)); return v; }
DEF_SREG(cs)
DEF_SREG(ds)
DEF_SREG(es)
DEF_SREG(fs)
DEF_SREG(gs)
DEF_SREG(ss)
#undef DEF_SREG
/* Data-segment loads use MOV Sreg (never POP Sreg). */
static inline void load_ds(uint16_t s) { __asm__ volatile("mov %0, %%ds" :: "r"(s) : "memory"); }
static inline void load_es(uint16_t s) { __asm__ volatile("mov %0, %%es" :: "r"(s) : "memory"); }
static inline void load_fs(uint16_t s) { __asm__ volatile("mov %0, %%fs" :: "r"(s) : "memory"); }
static inline void load_gs(uint16_t s) { __asm__ volatile("mov %0, %%gs" :: "r"(s) : "memory"); }

/* Descriptor-table registers (SDM 3A 2.4): 6-byte pseudo-descriptors. */
struct mb_dtr { uint16_t limit; uint32_t base; } __attribute__((packed));
static inline void sgdt(struct mb_dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct mb_dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static inline void lgdt(const struct mb_dtr *d) { __asm__ volatile("lgdt %0" :: "m"(*d) : "memory"); }
static inline void lidt(const struct mb_dtr *d) { __asm__ volatile("lidt %0" :: "m"(*d) : "memory"); }
static inline uint16_t str(void) { uint16_t v; __asm__ volatile("str %0" : "=r"(v)); return v; }
static inline void ltr(uint16_t sel) { __asm__ volatile("ltr %0" :: "r"(sel) : "memory"); }

#define EFLAGS_CF  (1u << 0)
#define EFLAGS_IF  (1u << 9)
#define EFLAGS_NT  (1u << 14)
#define EFLAGS_VM  (1u << 17)
#define EFLAGS_IOPL_MASK (3u << 12)

/* CR0 and CR4 (SDM 3A 2.5). */
#define CR0_PE   (1u << 0)
#define CR0_ET   (1u << 4)
#define CR0_NE   (1u << 5)
#define CR0_WP   (1u << 16)
#define CR0_NW   (1u << 29)
#define CR0_CD   (1u << 30)
#define CR0_PG   (1u << 31)
#define CR4_PSE  (1u << 4)
#define CR4_PAE  (1u << 5)
#define CR4_PGE  (1u << 7)

#define MSR_APIC_BASE 0x1B
#define MSR_EFER      0xC0000080
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* ---- descriptors (SDM 3A 3.4.5, 5.2, 6.11, 7.2.2) ----
 *
 * Segment descriptor, two dwords:
 *   lo: base[15:0] << 16 | limit[15:0]
 *   hi: base[31:24] | G D/B L AVL | limit[19:16] | P DPL(2) S type(4) | base[23:16]
 *        31     24   23 22 21 20   19        16  15 14-13  12  11-8     7       0
 *
 * Selectors installed by mb_cpu_init(); 0x08 and 0x10 are also the ones
 * hvsim's boot GDT uses (docs/multiboot.md), so the segment registers the
 * loader left stay valid across the LGDT. */
#define SEL_KCODE   0x08    /* 32-bit code, DPL 0 */
#define SEL_KDATA   0x10    /* 32-bit data, DPL 0 */
#define SEL_UCODE   0x1B    /* 32-bit code, DPL 3 (0x18 | RPL 3) */
#define SEL_UDATA   0x23    /* 32-bit data, DPL 3 (0x20 | RPL 3) */
#define SEL_TSS     0x28    /* 32-bit TSS */
#define SEL_KCODE64 0x30    /* 64-bit code (L = 1, D = 0), DPL 0 */
#define SEL_KCODE16 0x38    /* 16-bit code, limit 0xFFFF, base set by the kernel */
#define SEL_KDATA16 0x40    /* 16-bit data, limit 0xFFFF, base 0 */
#define MB_GDT_FIRST_FREE 9 /* entries 9..15 are the kernels' own */
#define MB_GDT_ENTRIES 16

/* access byte (bits 15:8 of hi) */
#define DESC_CODE_XR   0x9A  /* P, DPL 0, S, execute/read */
#define DESC_CODE_X    0x98  /* P, DPL 0, S, execute-only */
#define DESC_DATA_RW   0x92  /* P, DPL 0, S, read/write */
#define DESC_DATA_R    0x90  /* P, DPL 0, S, read-only */
#define DESC_TSS32     0x89  /* P, DPL 0, available 32-bit TSS */
#define DESC_DPL(n)    ((n) << 5)
#define DESC_P         0x80
/* flags nibble (bits 23:20 of hi) */
#define DESC_F_G   0x8
#define DESC_F_DB  0x4
#define DESC_F_L   0x2

/* Set GDT entry i (not a selector). */
void mb_gdt_set(unsigned i, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
/* The raw descriptor of entry i. */
uint64_t mb_gdt_get(unsigned i);
extern uint64_t mb_gdt[MB_GDT_ENTRIES];

/* Decoded segment descriptor fields. */
static inline uint32_t desc_base(uint64_t d) { return (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 56) << 24); }
static inline uint32_t desc_limit(uint64_t d)
{
    uint32_t l = (uint32_t)(d & 0xFFFF) | (uint32_t)((d >> 32) & 0xF0000);
    return (d >> 55) & 1 ? (l << 12) | 0xFFF : l;
}
static inline unsigned desc_type(uint64_t d) { return (unsigned)(d >> 40) & 0xF; }
static inline unsigned desc_dpl(uint64_t d) { return (unsigned)(d >> 45) & 3; }
static inline bool desc_s(uint64_t d) { return (d >> 44) & 1; }
static inline bool desc_p(uint64_t d) { return (d >> 47) & 1; }
static inline bool desc_l(uint64_t d) { return (d >> 53) & 1; }
static inline bool desc_db(uint64_t d) { return (d >> 54) & 1; }
static inline bool desc_g(uint64_t d) { return (d >> 55) & 1; }

/* The 32-bit TSS (SDM 3A 7.2.1, figure 7-2); only the fields a TSS-based
 * stack switch uses are named. */
struct mb_tss {
    uint16_t link, _r0;
    uint32_t esp0;
    uint16_t ss0, _r1;
    uint32_t esp1;
    uint16_t ss1, _r2;
    uint32_t esp2;
    uint16_t ss2, _r3;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint16_t es, _r4, cs, _r5, ss, _r6, ds, _r7, fs, _r8, gs, _r9, ldt, _r10;
    uint16_t trap, iomap_base;
};
_Static_assert(sizeof(struct mb_tss) == 104, "SDM 3A 7.2.1: a 32-bit TSS is 104 bytes");
_Static_assert(__builtin_offsetof(struct mb_tss, esp0) == 4, "SDM 3A 7.2.1: ESP0 at 4");
_Static_assert(__builtin_offsetof(struct mb_tss, ss0) == 8, "SDM 3A 7.2.1: SS0 at 8");
_Static_assert(__builtin_offsetof(struct mb_tss, iomap_base) == 102, "SDM 3A 7.2.1: I/O map base at 102");
extern struct mb_tss mb_tss;
/* The ring-0 stack: TSS.ESP0 = mb_ring0_stack + MB_RING0_STACK_SIZE. */
#define MB_RING0_STACK_SIZE 16384
extern uint8_t mb_ring0_stack[MB_RING0_STACK_SIZE];

/* IDT gate (SDM 3A 6.11, figure 6-2):
 *   lo: selector << 16 | offset[15:0]
 *   hi: offset[31:16] << 16 | P DPL(2) 0 D 1 1 T(0 interrupt, 1 trap) | 000 reserved
 */
#define GATE_INT32  0xE
#define GATE_TRAP32 0xF

/* What an exception stub saves (isr.S: PUSHAD after the vector and error
 * code); handlers may change it. esp/ss are valid only when the event came
 * from ring 3 (a privilege change, SDM 3A 6.12.1 figure 6-4). */
struct mb_frame {
    uint32_t edi, esi, ebp, esp_pushad, ebx, edx, ecx, eax;
    uint32_t vector, error_code;
    uint32_t eip, cs, eflags;        /* pushed by the CPU */
    uint32_t esp, ss;                /* pushed on a privilege change only */
};

/* A handler returns true when it dealt with the event (the stub IRETs to
 * frame->eip); false reports it and ends the run with status 3. */
typedef bool (*mb_handler_fn)(struct mb_frame *f);

/* Load the runtime's GDT (the selectors above) and TSS (LTR), and an IDT
 * with 32-bit interrupt gates (DPL 0, present) for all 256 vectors, except
 * vector MB_USER_RETURN_VECTOR: a DPL-3 trap gate. Every vector reports
 * and exits unless a handler or an expectation takes it. */
void mb_cpu_init(void);
void mb_set_handler(unsigned vector, mb_handler_fn fn);
/* Rewrite gate `vector` (type GATE_INT32 or GATE_TRAP32). */
void mb_set_gate(unsigned vector, unsigned type, unsigned dpl, bool present);
/* The runtime's IDT pseudo-descriptor, for reloading after a mode switch. */
extern struct mb_dtr mb_idtr, mb_gdtr;

/* Call fn(arg) at CPL 0 expecting exception `vector`: true when it was
 * raised (fn is abandoned; ESP and the callee-saved registers are those of
 * the call; DS and ES are reloaded with SEL_KDATA; mb_last_* hold the
 * details), false when fn returned. Not reentrant. */
bool mb_call_expect(unsigned vector, void (*fn)(void *), void *arg);
/* Arm an expectation for the next ring-3 run (mb_run_user returns ~0). */
void mb_expect(unsigned vector);
void mb_expect_cancel(void);
extern volatile uint32_t mb_last_vector, mb_last_ec, mb_last_eip, mb_last_cs, mb_last_cr2;
extern volatile uint32_t mb_last_frame, mb_last_esp, mb_last_ss, mb_exception_count;

/* Enter ring 3 with IRET (SDM 3A 6.12.1: a return to an outer privilege
 * level pops SS:ESP) at fn with ESP = stack_top, CS = SEL_UCODE, SS = DS
 * = ES = SEL_UDATA and EFLAGS = 0x2; returns the EAX of the INT
 * MB_USER_RETURN_VECTOR that comes back (through the DPL-3 trap gate, on
 * TSS.SS0:ESP0), or ~0 if an expected exception ended the run in ring 3. */
uint32_t mb_run_user(void (*fn)(void), void *stack_top);
#define MB_USER_RETURN_VECTOR 0x80
static inline __attribute__((always_inline)) void mb_user_return(uint32_t v)
{
    __asm__ volatile("int $0x80" :: "a"(v) : "memory");
}

/* ---- paging (SDM 3A 4.3 32-bit, 4.4 PAE, 4.5 4-level) ---- */
#define PTE_P   (1u << 0)
#define PTE_W   (1u << 1)
#define PTE_U   (1u << 2)
#define PTE_PWT (1u << 3)
#define PTE_PCD (1u << 4)
#define PTE_A   (1u << 5)
#define PTE_D   (1u << 6)
#define PTE_PS  (1u << 7)
#define PTE_G   (1u << 8)
#define PTE_XD  (1ull << 63)        /* PAE and 4-level only, with EFER.NXE */

/* A zeroed 4-KiB page from the runtime's pool (below 16 MiB). */
void *mb_page_alloc(void);

/* 32-bit paging: a page directory of 1024 4-byte PDEs. */
uint32_t *pg32_new(void);
/* Map a 4-KiB page (allocating the page table, whose PDE gets
 * P|W|U plus `pde_flags`), or a 4-MiB page (CR4.PSE, PDE.PS). */
void pg32_map4k(uint32_t *pd, uint32_t la, uint32_t pa, uint32_t flags);
void pg32_map4m(uint32_t *pd, uint32_t la, uint32_t pa, uint32_t flags);
/* The PDE and (4-KiB pages) PTE for la, or NULL. */
uint32_t *pg32_pde(uint32_t *pd, uint32_t la);
uint32_t *pg32_pte(uint32_t *pd, uint32_t la);

/* PAE paging: a 32-byte aligned PDPT of 4 8-byte PDPTEs (only P, PWT,
 * PCD and the address may be set: SDM 3A 4.4.1, table 4-8). */
uint64_t *pae_new(void);
void pae_map4k(uint64_t *pdpt, uint32_t la, uint64_t pa, uint64_t flags);
void pae_map2m(uint64_t *pdpt, uint32_t la, uint64_t pa, uint64_t flags);
uint64_t *pae_pde(uint64_t *pdpt, uint32_t la);
uint64_t *pae_pte(uint64_t *pdpt, uint32_t la);

/* 4-level paging: identity-map [0, bytes) with 2-MiB pages. */
uint64_t *lm_new_identity(uint64_t bytes);

/* ---- IA-32e mode (SDM 3A 9.8.5) ----
 * mb_lm_activate: with paging off, set CR4.PAE, CR3 = pml4, EFER.LME and
 * then CR0.PG: the processor is in IA-32e mode, compatibility mode, and the
 * caller keeps running as 32-bit code. (No IDT is usable from here on: a
 * 32-bit IDT is the wrong format in IA-32e mode; the runtime loads IDTR
 * limit 0 first so that any exception is a visible triple fault.)
 * mb_lm_call64: far JMP to SEL_KCODE64 and call fn (64-bit code, System V
 * arguments: arg in RDI), then a far return to SEL_KCODE (compatibility
 * mode); returns fn's RAX. */
void mb_lm_activate(uint32_t pml4);
uint64_t mb_lm_call64(const void *fn64, uint32_t arg);

/* ---- application processors (SDM 3A 9.4.4) ----
 * The trampoline (trampoline.S) runs at V000:0000 after a start-up IPI with
 * vector V: it loads the kernel's GDT, sets CR0.PE and far-jumps to
 * 32-bit code that loads the data segments, takes a 4-KiB stack (one per
 * AP, by arrival order) and calls mb_ap_entry(arrival index); when that
 * returns the AP halts with IF = 0.
 * mb_tramp_install copies it to `phys` (4-KiB aligned, below 1 MiB) with
 * the current GDTR and returns the start-up vector (phys >> 12). The copy's
 * word at offset mb_tramp_cs - mb_tramp_start receives the real-mode CS
 * the APs started with (SDM 3A 9.4.4: vector << 8). */
#define MB_AP_MAX 63
extern void (*volatile mb_ap_entry)(unsigned index);
extern volatile uint32_t mb_ap_arrivals;
unsigned mb_tramp_install(uint32_t phys);
extern const char mb_tramp_start[], mb_tramp_end[], mb_tramp_gdtr[], mb_tramp_cs[];

/* Bounded spin: false (and no hang) if *p never reaches want. */
bool mb_wait_eq(const volatile uint32_t *p, uint32_t want, uint32_t spins);

/* ---- tiny libc ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
const char *strrchr(const char *s, int c);

/* Physical memory, paging off or identity-mapped. */
static inline volatile uint32_t *phys32(uint32_t pa) { return (volatile uint32_t *)(uintptr_t)pa; }
static inline volatile uint8_t *phys8(uint32_t pa) { return (volatile uint8_t *)(uintptr_t)pa; }

#include "mb_apic.h"

#endif
