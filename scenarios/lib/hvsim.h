/*
 * hvsim.h — the freestanding runtime for hvsim payloads: console (port 0xE9),
 * exit (port 0xF4), printf, CPU helpers, IDT/GDT/TSS set-up with exception
 * reporting and recovery (hv_expect, hv_call_expect), 4-KiB page-table
 * helpers, ring-3 entry and user regions, SYSCALL, and the
 * T_ASSERT/T_CHECK/T_DONE test style whose output scenarios match.
 * Local APIC helpers (xAPIC, x2APIC, IPIs, timer, bounded waits) are in
 * apic.h, included at the end.
 */
#ifndef HVSIM_PAYLOAD_H
#define HVSIM_PAYLOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot_protocol.h"

/* ---- the payload's entry point ---- */
int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps);
/* RSP and RFLAGS of LP i at its first instruction, recorded by crt0.S. */
extern uint64_t hv_entry_rsp[64], hv_entry_rflags[64];

/* ---- console and exit ---- */
void hv_putc(char c);
void hv_puts(const char *s);
int hv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int hv_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int hv_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void hv_serial_puts(const char *s);              /* COM1 */
__attribute__((noreturn)) void hv_exit(int code);
static inline const char *hv_yn(bool b) { return b ? "yes" : "no"; }
/* STI; NOP; CLI: a one-instruction interrupt window (a pending interrupt is
 * taken after the NOP, SDM 2B STI). */
void hv_sti_nop_cli(void);

/* ---- tests: output that scenarios match ---- */
#define T_ASSERT(cond, ...)                                                     \
    do {                                                                        \
        if (!(cond)) {                                                          \
            hv_printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            hv_printf(__VA_ARGS__);                                             \
            hv_putc('\n');                                                      \
            hv_exit(1);                                                         \
        }                                                                       \
    } while (0)
#define T_EQ(a, b)                                                              \
    do {                                                                        \
        uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                        \
        T_ASSERT(_a == _b, "%s = %#llx, expected %#llx", #a,                    \
                 (unsigned long long)_a, (unsigned long long)_b);               \
    } while (0)
/* T_CHECK: like T_ASSERT but the run goes on (for payloads that report
 * several independent facts); T_DONE then fails the run if any check did. */
extern unsigned hv_check_failures;
#define T_CHECK(cond, ...)                                                      \
    do {                                                                        \
        if (!(cond)) {                                                          \
            hv_printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            hv_printf(__VA_ARGS__);                                             \
            hv_putc('\n');                                                      \
            hv_check_failures++;                                                \
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
        if (hv_check_failures) {                                                \
            hv_printf("FAILED %u check(s)\n", hv_check_failures);               \
            hv_exit(1);                                                         \
        }                                                                       \
        hv_puts("DONE\n");                                                      \
        hv_exit(0);                                                             \
    } while (0)

/* ---- port I/O and instructions ---- */
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void hv_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
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
/* A trace marker: WRMSR IA32_TSC_AUX = v writes an "msr" trace record
 * (msr 0xc0000103, write 1, value v) that a scenario can anchor its
 * <event> and <absent scope="between"> patterns on. Harmless on hardware:
 * only RDTSCP reads IA32_TSC_AUX. */
static inline void hv_mark(uint32_t v) { wrmsr(0xC0000103, v); }
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}
#define DEF_CR(n)                                                               \
    static inline uint64_t read_cr##n(void) { uint64_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
DEF_CR(8)
#undef DEF_CR
static inline void invlpg(const volatile void *p) { __asm__ volatile("invlpg (%0)" :: "r"(p) : "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t read_rflags(void) { uint64_t v; __asm__ volatile("pushfq; popq %0" : "=r"(v)); return v; }
static inline uint16_t read_cs(void) { uint16_t v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline uint16_t read_ss(void) { uint16_t v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline uint16_t read_ds(void) { uint16_t v; __asm__ volatile("mov %%ds, %0" : "=r"(v)); return v; }
static inline void write_rflags(uint64_t v) { __asm__ volatile("pushq %0; popfq" :: "r"(v) : "memory", "cc"); }
static inline void stac(void) { __asm__ volatile("stac" ::: "memory"); }
static inline void clac(void) { __asm__ volatile("clac" ::: "memory"); }
static inline void swapgs(void) { __asm__ volatile("swapgs" ::: "memory"); }

/* Descriptor-table registers (SDM 3A 2.4). */
struct hv_dtr { uint16_t limit; uint64_t base; } __attribute__((packed));
static inline void sgdt(struct hv_dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct hv_dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static inline void lgdt(const struct hv_dtr *d) { __asm__ volatile("lgdt %0" :: "m"(*d) : "memory"); }
static inline void lidt(const struct hv_dtr *d) { __asm__ volatile("lidt %0" :: "m"(*d) : "memory"); }
static inline uint16_t str(void) { uint16_t v; __asm__ volatile("str %0" : "=r"(v)); return v; }
static inline void ltr(uint16_t sel) { __asm__ volatile("ltr %0" :: "r"(sel) : "memory"); }

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_AC (1ull << 18)

#define CR0_WP   (1ull << 16)
#define CR4_PGE  (1ull << 7)
#define CR4_UMIP (1ull << 11)
#define CR4_FSGSBASE (1ull << 16)
#define CR4_PCIDE (1ull << 17)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

#define MSR_EFER           0xC0000080
#define MSR_STAR           0xC0000081
#define MSR_LSTAR          0xC0000082
#define MSR_FMASK          0xC0000084
#define MSR_FS_BASE        0xC0000100
#define MSR_GS_BASE        0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_TSC_AUX        0xC0000103
#define MSR_PAT            0x277
#define MSR_TSC            0x10

/* ---- descriptor tables and exceptions ---- */

/* Selectors installed by hv_cpu_init() (a Linux-like layout so that
 * SYSCALL/SYSRET work with STAR = 0x0018_0008 << 32). */
#define SEL_KCODE  0x08
#define SEL_KDATA  0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA  0x20
#define SEL_UCODE  0x28
#define SEL_TSS    0x30

/* What an exception stub saves; handlers may change it to resume elsewhere. */
struct hv_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;            /* pushed by the CPU */
};

/* A handler returns true when it dealt with the exception (the stub then
 * IRETs to frame->rip); false reports it and ends the run with status 1. */
typedef bool (*hv_handler_fn)(struct hv_frame *f);

/* Install GDT (with user segments and a TSS: RSP0 and IST1 stacks) and an
 * IDT whose 256 vectors report and exit unless a handler is set. */
void hv_cpu_init(void);
void hv_set_handler(unsigned vector, hv_handler_fn fn);
void hv_set_gate(unsigned vector, unsigned dpl, unsigned ist, bool present);
/* Expect one exception: the next one with this vector resumes at
 * `resume` and records error code, RIP, CS, CR2 (for #PF and #DF) and the
 * address of the saved frame (which stack it was delivered on) in
 * hv_last_*. */
void hv_expect(unsigned vector, void *resume);
extern volatile uint64_t hv_last_vector, hv_last_ec, hv_last_rip, hv_last_cr2, hv_exception_count;
extern volatile uint64_t hv_last_cs, hv_last_frame;
/* Cancel an hv_expect() that did not fire. */
void hv_expect_cancel(void);
/* Call fn(arg) expecting exception `vector` (ring 0): returns true when it
 * was raised (fn is abandoned, the caller's stack and callee-saved registers
 * are restored, hv_last_* hold the details), false when fn returned
 * normally. Not reentrant. */
bool hv_call_expect(unsigned vector, void (*fn)(void *), void *arg);
/* True if p lies on the IST1 stack (the #DF stack hv_cpu_init installs),
 * or on the TSS.RSP0 stack (used when an event arrives from ring 3). */
bool hv_on_ist_stack(const void *p);
bool hv_on_rsp0_stack(const void *p);

/* Run fn in ring 3 on `stack` (top); returns when the user code executes
 * hv_user_return() (INT 0x81) with that value. An exception armed with
 * hv_expect() that fires in ring 3 returns ~0 instead. */
uint64_t hv_run_user(void (*fn)(void), void *stack_top);
/* The same with the given initial RFLAGS (e.g. 0x202 for IF = 1). */
uint64_t hv_run_user_flags(void (*fn)(void), void *stack_top, uint64_t rflags);

/* Code and data that ring 3 uses go in the page-aligned .hvuser_text and
 * .hvuser_data regions (payload.ld), separate from the kernel's: mark C
 * functions HV_USER and variables HV_USER_DATA (assembly: sections
 * .hvuser.text, "ax" and .hvuser.data), and call hv_user_init() after
 * hv_cpu_init() to set U/S on exactly those pages (and the upper-level
 * entries above them). User code must not call kernel functions (printf,
 * T_ASSERT): keep it to inline code and hv_user_return(). */
#define HV_USER      __attribute__((section(".hvuser.text"), noinline, used))
#define HV_USER_DATA __attribute__((section(".hvuser.data"), used))
void hv_user_init(void);
/* Top of a 16-KiB stack inside the user region. */
void *hv_user_stack(void);
#define HV_USER_RETURN_VECTOR 0x81
static inline __attribute__((always_inline)) void hv_user_return(uint64_t v) { __asm__ volatile("int $0x81" :: "a"(v) : "memory"); }

/* SYSCALL/SYSRET: STAR, LSTAR, FMASK (TF, IF, DF) and EFER.SCE. The
 * handler gets RAX (number), RDI and RSI; its result returns in RAX. */
void hv_syscall_init(uint64_t (*fn)(uint64_t nr, uint64_t a1, uint64_t a2));
static inline __attribute__((always_inline)) uint64_t hv_syscall(uint64_t nr, uint64_t a1, uint64_t a2)
{
    uint64_t r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
    return r;
}

/* ---- paging (the boot identity map uses 2-MiB pages) ---- */
#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_U   (1ull << 2)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_G   (1ull << 8)
#define PTE_NX  (1ull << 63)
/* Pointer to the 4-KiB PTE for la, splitting its 2-MiB page if needed
 * (the split keeps the old mapping and flags). */
uint64_t *hv_pte(uint64_t la);
/* Map la -> pa with flags (P is not implied) and INVLPG it. */
void hv_map(uint64_t la, uint64_t pa, uint64_t flags);
/* A zeroed 4-KiB page from the runtime's pool (identity-mapped). */
void *hv_page_alloc(void);
/* Set/clear U on every level for la (needed for user access). */
void hv_make_user(uint64_t la);

/* ---- descriptors for the GDT/LDT/IDT a payload builds (SDM 3A 3.4.5,
 * 7.2.2, 7.2.5, 6.11) ---- */
/* a code/data or system segment descriptor: type bits 44:40 (S and the
 * type), flags bits 55:52 (G, D/B, L, AVL); present */
static inline uint64_t hv_seg_desc(uint64_t base, uint32_t limit, unsigned type, unsigned flags)
{
    return (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | ((uint64_t)type << 40) | (1ull << 47) |
           ((uint64_t)((limit >> 16) & 0xF) << 48) | ((uint64_t)flags << 52) | (((base >> 24) & 0xFF) << 56);
}
/* a task gate (type 5) naming TSS selector tss */
static inline uint64_t hv_task_gate(uint16_t tss, bool present)
{
    return ((uint64_t)tss << 16) | (5ull << 40) | ((uint64_t)present << 47);
}
/* a 32-bit interrupt gate (type 14, DPL 0) to sel:off */
static inline uint64_t hv_int_gate32(uint32_t off, uint16_t sel)
{
    return (off & 0xFFFF) | ((uint64_t)sel << 16) | (0xEull << 40) | (1ull << 47) | ((uint64_t)(off >> 16) << 48);
}
static inline unsigned hv_desc_type(uint64_t d) { return (unsigned)(d >> 40) & 0xF; }

/* ---- tiny libc ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* The payload's command line (boot information) starts with word, followed
 * by a space or its end: how payloads pick a group. */
static inline bool hv_cmdline_is(const struct hvsim_boot_info *bi, const char *word)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    size_t n = strlen(word);
    return c && !memcmp(c, word, n) && (c[n] == 0 || c[n] == ' ');
}

#include "apic.h"

#endif
