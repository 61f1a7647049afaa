/*
 * hvsim.h — the freestanding runtime for hvsim payloads: console (port 0xE9),
 * exit (port 0xF4), printf, CPU helpers, IDT/GDT/TSS set-up with exception
 * reporting and recovery, 4-KiB page-table helpers, ring-3 entry, and the
 * T_ASSERT/T_DONE test style whose output scenarios match.
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

/* ---- console and exit ---- */
void hv_putc(char c);
void hv_puts(const char *s);
int hv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int hv_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int hv_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void hv_serial_puts(const char *s);              /* COM1 */
__attribute__((noreturn)) void hv_exit(int code);

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
#define T_DONE()                                                                \
    do {                                                                        \
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
 * `resume` and records error code, RIP and CR2 in hv_last_*. */
void hv_expect(unsigned vector, void *resume);
extern volatile uint64_t hv_last_vector, hv_last_ec, hv_last_rip, hv_last_cr2, hv_exception_count;
/* Run fn in ring 3 on `stack` (top); returns when the user code executes
 * hv_user_return() (INT 0x81) with that value. */
uint64_t hv_run_user(void (*fn)(void), void *stack_top);
#define HV_USER_RETURN_VECTOR 0x81
static inline void hv_user_return(uint64_t v) { __asm__ volatile("int $0x81" :: "a"(v) : "memory"); }

/* SYSCALL/SYSRET: STAR, LSTAR, FMASK (TF, IF, DF) and EFER.SCE. The
 * handler gets RAX (number), RDI and RSI; its result returns in RAX. */
void hv_syscall_init(uint64_t (*fn)(uint64_t nr, uint64_t a1, uint64_t a2));
static inline uint64_t hv_syscall(uint64_t nr, uint64_t a1, uint64_t a2)
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

/* ---- tiny libc ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
