/*
 * modes_probe.c — can hvsim run 16-bit real-mode, 32-bit protected-mode and
 * compatibility-mode guest code in its UC_MODE_64 engine, with cpu/ keeping
 * the translation (engine paging on over 4-level shadow tables)?
 * docs/cpu-mmu.md, "Legacy modes: measurements (modes_probe)", records the
 * figures and the design chosen from them (issue #3).
 *
 * Build by hand:
 *   cc -O2 -Wall -o /tmp/modes_probe tests/probes/modes_probe.c \
 *      $(pkg-config --cflags --libs unicorn)
 *   /tmp/modes_probe            checks only (exit status 1 if any fails)
 *   /tmp/modes_probe --figures  also timings (pass/fail never depends on time)
 *
 * Self-contained on purpose, like unicorn_quirks.c: it talks to Unicorn
 * directly, not through cpu/. Sections:
 *   1  32-bit code in compatibility mode (CS/SS loaded by an in-engine lretq)
 *   2  16-bit code in compatibility mode with real-mode-like bases
 *   3  back to 64-bit mode; uc_context save/restore cost and what survives it
 *   4  candidate C: the uc_context image layout, and poking hidden state
 *   5  exceptions in compatibility mode (INTR hook, engine IDT not used)
 *   6  speed: the same ALU loop in 64-bit and compatibility mode (real: 7)
 *   7  real mode inside the IA-32e engine (CR0.PE=0 with paging kept on)
 *   8  candidate B: a separate UC_MODE_32 engine (its limits)
 *   9  interrupts delivered by the host: IVT (real mode), IDT + IRET (compat)
 *  10  the hflags model a poking hvsim needs, checked against the engine
 *
 * Every snippet below was assembled with nasm; the comments give the source.
 * Engine-internal facts used (QEMU 5 as bundled by Unicorn 2.0.1): hflags bit
 * numbers (CPL 0-1, CS32 4, SS32 5, ADDSEG 6, PE 7, MP/EM/TS 9-11, LMA 14,
 * CS64 15) and the segment cache layout {u32 selector; u64 base; u32 limit;
 * u32 flags = descriptor high dword}; section 10 checks the hflags rules
 * against the engine. All offsets into the uc_context image are found by
 * experiment (find_layout), as cpu/cpu.c finds the #DF tracker.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

/* ---- layout of the engine's address space (all linear = engine-physical) ---- */
#define POOL      0x000000FF00000000ull /* shadow page-table pool (engine-physical, < 2^40) */
#define POOL_PAGES 64
#define LOW_SIZE  0x1000000ull          /* guest-like memory: linear 0 .. 16 MiB */
#define HIGH      0x000000FFFF800000ull /* hvsim-reserved-like page block (> 4 GiB) */
#define HIGH_SIZE 0x10000ull
#define GDT_LA    (HIGH + 0x0000)       /* hidden GDT used by the trampolines */
#define IDT_LA    (HIGH + 0x1000)       /* an engine IDT (section 5 only) */
#define TRAMP_LA  (HIGH + 0x2000)       /* 64-bit iretq trampoline */
#define LRETQ_LA  (HIGH + 0x2100)       /* 64-bit lretq entry (section 1) */
#define HANDLER_LA (HIGH + 0x3000)      /* what an IDT gate would run */
#define MARK_LA   (HIGH + 0x3F00)       /* the handler's footprint */
#define FRAME_LA  (HIGH + 0x8000)       /* trampoline frame (RSP at entry) */
#define UNTIL_LA  (HIGH + 0xF800)       /* `until` of every run: present, never executed */
#define FLUSH_LA  (HIGH + HIGH_SIZE)    /* private region flipped to flush the engine TLB */
#define HOLE      0x300000ull           /* linear page without a shadow entry */
#define RHOLE     0x90000ull            /* same, below 1 MiB (real mode) */

/* GDT selectors (hidden GDT at GDT_LA) */
enum {
    S_CODE64 = 0x08, S_DATA32 = 0x10, S_CODE32 = 0x18, S_DATAB = 0x20, S_CODE16 = 0x28,
    S_DATA16 = 0x30, S_STACKB = 0x38, S_DATA16B = 0x40,
    /* distinct bases, for locating the segment caches in a uc_context (section 4) */
    S_XES = 0x48, S_XCS = 0x50, S_XSS = 0x58, S_XDS = 0x60, S_XFS = 0x68, S_XGS = 0x70,
    GDT_ENTRIES = 15
};

/* QEMU hflags bits (target/i386/cpu.h) */
#define HF_CS32   (1u << 4)
#define HF_SS32   (1u << 5)
#define HF_ADDSEG (1u << 6)
#define HF_PE     (1u << 7)
#define HF_MP     (1u << 9)
#define HF_EM     (1u << 10)
#define HF_TS     (1u << 11)
#define HF_LMA    (1u << 14)
#define HF_CS64   (1u << 15)

static int failures;
static bool figures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s  ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok)
        failures++;
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("      ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- snippets (nasm; offsets are from the snippet start) ---- */

/* 64-bit, at TRAMP_LA. Frame at RSP: ds, es, fs, gs, then an iretq frame
 * (rip, cs, rflags, rsp, ss). Loads all six segment caches from the hidden
 * GDT and keeps every general register: the candidate entry mechanism. */
static const uint8_t tramp_iretq[] = {
    0x8e, 0x1c, 0x24,                            /* +000 mov ds, [rsp] */
    0x8e, 0x44, 0x24, 0x08,                      /* +003 mov es, [rsp+8] */
    0x8e, 0x64, 0x24, 0x10,                      /* +007 mov fs, [rsp+16] */
    0x8e, 0x6c, 0x24, 0x18,                      /* +00b mov gs, [rsp+24] */
    0x48, 0x83, 0xc4, 0x20,                      /* +00f add rsp, 32 */
    0x48, 0xcf,                                  /* +013 iretq */
};

/* 64-bit, at LRETQ_LA: the brief's far-return entry into 32-bit code. */
static const uint8_t enter32_lretq[] = {
    0x66, 0xb8, 0x10, 0x00,                      /* +000 mov ax, 0x10 */
    0x8e, 0xd0,                                  /* +004 mov ss, ax */
    0x66, 0xb8, 0x20, 0x00,                      /* +006 mov ax, 0x20 */
    0x8e, 0xc0,                                  /* +00a mov es, ax */
    0xb8, 0x41, 0x00, 0x00, 0x00,                /* +00c mov eax, 0x41 */
    0x6a, 0x18,                                  /* +011 push 0x18 */
    0x68, 0x00, 0x00, 0x10, 0x00,                /* +013 push 0x100000 */
    0x48, 0xcb,                                  /* +018 o64 retf */
};

/* 32-bit, at 0x100000 (section 1). */
static const uint8_t t32[] = {
    0x40,                                        /* +000 inc eax */
    0x89, 0xc6,                                  /* +001 mov esi, eax */
    0x89, 0xe3,                                  /* +003 mov ebx, esp */
    0x50,                                        /* +005 push eax */
    0x29, 0xe3,                                  /* +006 sub ebx, esp */
    0x66, 0xb8, 0x20, 0x00,                      /* +008 mov ax, 0x20 */
    0x8e, 0xd8,                                  /* +00c mov ds, ax   ; base 0x200000, limit 0xfff */
    0x8b, 0x0d, 0x10, 0x00, 0x00, 0x00,          /* +00e mov ecx, [0x10] */
    0x8b, 0x15, 0x00, 0x20, 0x00, 0x00,          /* +014 mov edx, [0x2000] ; beyond DS.limit */
    0xbf, 0x20, 0x00, 0x00, 0x00,                /* +01a mov edi, 0x20 */
    0xb8, 0x5a, 0x5a, 0x5a, 0x5a,                /* +01f mov eax, 0x5a5a5a5a */
    0xab,                                        /* +024 stosd        ; ES:EDI */
    0x66, 0xb8, 0x38, 0x00,                      /* +025 mov ax, 0x38 */
    0x8e, 0xd0,                                  /* +029 mov ss, ax   ; base 0x30000, B=1 */
    0xbc, 0x00, 0x10, 0x00, 0x00,                /* +02b mov esp, 0x1000 */
    0x68, 0x6b, 0x6b, 0x6b, 0x6b,                /* +030 push 0x6b6b6b6b */
    0xcc,                                        /* +035 int3 */
};

/* 16-bit, CS base 0x10000, at offset 0x100 (section 2). */
static const uint8_t t16[] = {
    0x40,                                        /* +000 inc ax */
    0xbc, 0x00, 0x00,                            /* +001 mov sp, 0 */
    0x50,                                        /* +004 push ax */
    0xbb, 0xff, 0xff,                            /* +005 mov bx, 0xffff */
    0xbe, 0x02, 0x00,                            /* +008 mov si, 2 */
    0x8b, 0x08,                                  /* +00b mov cx, [bx+si] ; 16-bit wrap */
    0xcd, 0x21,                                  /* +00d int 0x21 */
};
static const uint8_t t16_iret[] = {             /* at offset 0x200 */
    0x68, 0x02, 0x02,                            /* +000 push word 0x0202 */
    0x68, 0x00, 0x10,                            /* +003 push word 0x1000 */
    0x68, 0x10, 0x02,                            /* +006 push word 0x0210 */
    0xcf,                                        /* +009 iret */
};
static const uint8_t t16_movds[] = {            /* at offset 0x280 */
    0xb8, 0x34, 0x12,                            /* +000 mov ax, 0x1234 */
    0x8e, 0xd8,                                  /* +003 mov ds, ax */
    0xcc,                                        /* +005 int3 */
};
static const uint8_t t16_retf[] = {             /* at offset 0x2c0 */
    0x68, 0x00, 0x10,                            /* +000 push word 0x1000 */
    0x68, 0x20, 0x02,                            /* +003 push word 0x0220 */
    0xcb,                                        /* +006 retf */
};

/* Section 3: leaving compatibility mode. */
static const uint8_t t32_jmp64[] = {            /* 32-bit, at 0x100400 */
    0xff, 0x2d, 0x00, 0x05, 0x10, 0x00,          /* +000 jmp far [0x100500] ; m16:32 = 0x08:0x100600 */
};
static const uint8_t t32_retf64[] = {           /* 32-bit, at 0x100410 */
    0x6a, 0x08,                                  /* +000 push 0x08 */
    0x68, 0x00, 0x06, 0x10, 0x00,                /* +002 push 0x100600 */
    0xcb,                                        /* +007 retf */
};
static const uint8_t t64_low[] = {              /* 64-bit, at 0x100600 */
    0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* +000 mov rax, 0x1122334455667788 */
    0xcc,                                        /* +00a int3 */
};
static const uint8_t t64_tb[] = {               /* 64-bit, at 0x100800 */
    0xb8, 0x01, 0x00, 0x00, 0x00,                /* +000 mov eax, 1 */
    0xcc,                                        /* +005 int3 */
};
static const uint8_t t64_div0[] = {             /* 64-bit, at 0x100d00 */
    0x48, 0x31, 0xc9,                            /* +000 xor rcx, rcx */
    0x48, 0xf7, 0xf1,                            /* +003 div rcx */
    0xcc,                                        /* +006 int3 */
};
static const uint8_t t64_rd[] = {               /* 64-bit, at 0x100d40 */
    0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x20, 0x00, /* +000 mov rbx, [0x200000] */
    0xcc,                                        /* +008 int3 */
};

/* Section 4: code run after poking hidden state. */
static const uint8_t t32_poke[] = {             /* 32-bit, at 0x100a00 */
    0x40,                                        /* +000 inc eax */
    0x89, 0xe3,                                  /* +001 mov ebx, esp */
    0x50,                                        /* +003 push eax */
    0x29, 0xe3,                                  /* +004 sub ebx, esp */
    0xcc,                                        /* +006 int3 */
};
static const uint8_t t32_rd[] = {               /* 32-bit, at 0x100a40 */
    0x8b, 0x1d, 0x00, 0x00, 0x20, 0x00,          /* +000 mov ebx, [0x200000] */
    0xcc,                                        /* +006 int3 */
};
static const uint8_t t32_rdhole[] = {           /* 32-bit, at 0x100a60 */
    0x8b, 0x1d, 0x00, 0x00, 0x30, 0x00,          /* +000 mov ebx, [0x300000] */
    0xcc,                                        /* +006 int3 */
};
static const uint8_t t32_fld1[] = {             /* 32-bit, at 0x100a80 */
    0xd9, 0xe8,                                  /* +000 fld1 */
    0xcc,                                        /* +002 int3 */
};
static const uint8_t t32_stop[] = {             /* 32-bit, at 0xC5D000 (CS base 0xC5C000 + 0x1000) */
    0xcc,                                        /* +000 int3 */
};

/* Section 5: exceptions in compatibility mode (32-bit). */
static const uint8_t t32_gp[] = {               /* at 0x100900 */
    0x66, 0xb8, 0x38, 0x12,                      /* +000 mov ax, 0x1238 */
    0x8e, 0xd8,                                  /* +004 mov ds, ax   ; beyond the GDT limit */
    0xcc,                                        /* +006 int3 */
};
static const uint8_t t32_pf[] = {               /* at 0x100920 */
    0x66, 0xb8, 0x20, 0x00,                      /* +000 mov ax, 0x20 */
    0x8e, 0xd8,                                  /* +004 mov ds, ax   ; base 0x200000 */
    0xa1, 0x00, 0x00, 0x10, 0x00,                /* +006 mov eax, [0x100000] ; linear 0x300000 */
    0xcc,                                        /* +00b int3 */
};
static const uint8_t t32_de[] = {               /* at 0x100940 */
    0x31, 0xc9,                                  /* +000 xor ecx, ecx */
    0xf7, 0xf1,                                  /* +002 div ecx */
    0xcc,                                        /* +004 int3 */
};
static const uint8_t t32_int[] = {              /* at 0x100960 */
    0xcd, 0x80,                                  /* +000 int 0x80 */
    0xcc,                                        /* +002 int3 */
};
static const uint8_t t32_ud[] = {               /* at 0x100970 */
    0x0f, 0x0b,                                  /* +000 ud2 */
};
static const uint8_t t32_legacy[] = {           /* at 0x100980: opcodes invalid in 64-bit mode */
    0x89, 0xe3,                                  /* +000 mov ebx, esp */
    0x60,                                        /* +002 pusha */
    0x29, 0xe3,                                  /* +003 sub ebx, esp */
    0xb8, 0x0f, 0x00, 0x00, 0x00,                /* +005 mov eax, 0x0f */
    0x37,                                        /* +00a aaa */
    0xcc,                                        /* +00b int3 */
};
static const uint8_t handler64[] = {            /* 64-bit, at HANDLER_LA */
    0x48, 0xb8, 0x00, 0x3f, 0x80, 0xff, 0xff, 0x00, 0x00, 0x00, /* +000 mov rax, 0xffff803f00 */
    0xc6, 0x00, 0x01,                            /* +00a mov byte [rax], 1 */
    0xcc,                                        /* +00d int3 */
};

/* Section 6: the same bytes run as 32- and 64-bit code (at 0x100c00). */
static const uint8_t loop_alu[] = {
    0x01, 0xc8,                                  /* +000 l: add eax, ecx */
    0x31, 0xc2,                                  /* +002 xor edx, eax */
    0xff, 0xc9,                                  /* +004 dec ecx */
    0x75, 0xf8,                                  /* +006 jnz l */
    0xcc,                                        /* +008 int3 */
};
static const uint8_t loop_alu16[] = {           /* 16-bit, at offset 0x400 */
    0x66, 0x01, 0xc8,                            /* +000 l: add eax, ecx */
    0x66, 0x31, 0xc2,                            /* +003 xor edx, eax */
    0x66, 0x49,                                  /* +006 dec ecx */
    0x75, 0xf6,                                  /* +008 jnz l */
    0xcc,                                        /* +00a int3 */
};

/* Section 7: real mode inside the IA-32e engine (16-bit, CS base 0x10000). */
static const uint8_t t16_toreal[] = {           /* at offset 0x300 */
    0x0f, 0x20, 0xc0,                            /* +000 mov eax, cr0 */
    0x66, 0x83, 0xe0, 0xfe,                      /* +003 and eax, 0xfffffffe */
    0x0f, 0x22, 0xc0,                            /* +007 mov cr0, eax ; PE=0, PG stays 1 */
    0xea, 0x0f, 0x03, 0x00, 0x10,                /* +00a jmp 0x1000:real */
    /* real: (+00f) */
    0xb8, 0x00, 0x50,                            /* +00f mov ax, 0x5000 */
    0x8e, 0xd8,                                  /* +012 mov ds, ax */
    0x8b, 0x1e, 0x10, 0x00,                      /* +014 mov bx, [0x10] */
    0xb8, 0x00, 0x20,                            /* +018 mov ax, 0x2000 */
    0x8e, 0xd0,                                  /* +01b mov ss, ax */
    0xbc, 0x00, 0x01,                            /* +01d mov sp, 0x100 */
    0x68, 0x34, 0x12,                            /* +020 push word 0x1234 */
    0x9a, 0x33, 0x03, 0x00, 0x10,                /* +023 call 0x1000:farsub */
    0x9c,                                        /* +028 pushf */
    0x0e,                                        /* +029 push cs */
    0x68, 0x2e, 0x03,                            /* +02a push word after */
    0xcf,                                        /* +02d iret */
    /* after: (+02e) */
    0xb9, 0x77, 0x77,                            /* +02e mov cx, 0x7777 */
    0xcd, 0x30,                                  /* +031 int 0x30 */
    /* farsub: (+033) */
    0xba, 0x44, 0x44,                            /* +033 mov dx, 0x4444 */
    0xcb,                                        /* +036 retf */
};
static const uint8_t t16_realpf[] = {           /* at offset 0x380 */
    0xb8, 0x00, 0x90,                            /* +000 mov ax, 0x9000 */
    0x8e, 0xd8,                                  /* +003 mov ds, ax */
    0xa1, 0x10, 0x00,                            /* +005 mov ax, [0x10] ; linear 0x90010 */
    0xcc,                                        /* +008 int3 */
};
static const uint8_t t16_bigoff[] = {           /* at offset 0x3a0 */
    0xb8, 0x00, 0x50,                            /* +000 mov ax, 0x5000 */
    0x8e, 0xd8,                                  /* +003 mov ds, ax */
    0x66, 0x67, 0x8b, 0x1d, 0x40, 0x23, 0x01, 0x00, /* +005 mov ebx, [dword 0x12340] ; offset > 0xffff */
    0xcc,                                        /* +00d int3 */
};
static const uint8_t t16_toprot[] = {           /* at offset 0x3c0 */
    0x0f, 0x20, 0xc0,                            /* +000 mov eax, cr0 */
    0x0c, 0x01,                                  /* +003 or al, 1 */
    0x0f, 0x22, 0xc0,                            /* +005 mov cr0, eax */
    0x66, 0xea, 0x00, 0x0a, 0x10, 0x00, 0x18, 0x00, /* +008 jmp dword 0x18:0x100a00 */
};
static const uint8_t t32_nolma[] = {            /* 32-bit, at 0x100b00 */
    0x0f, 0x20, 0xc0,                            /* +000 mov eax, cr0 */
    0x25, 0xff, 0xff, 0xff, 0x7f,                /* +003 and eax, 0x7fffffff */
    0x0f, 0x22, 0xc0,                            /* +008 mov cr0, eax ; PG=0 */
    0x8b, 0x1d, 0x00, 0x00, 0x30, 0x00,          /* +00b mov ebx, [0x300000] */
    0xcc,                                        /* +011 int3 */
};

/* Section 9: interrupts delivered by the probe the way hvsim would. */
static const uint8_t loop_int16[] = {           /* 16-bit, at offset 0x500 (CS 0x1000) */
    0xcd, 0x30,                                  /* +000 l: int 0x30 */
    0x49,                                        /* +002 dec cx */
    0x75, 0xfb,                                  /* +003 jnz l */
    0xcc,                                        /* +005 int3 */
};
static const uint8_t handler16[] = {            /* 16-bit, at 0x2000:0x0100 */
    0x42,                                        /* +000 inc dx */
    0xcf,                                        /* +001 iret   ; real mode: runs natively */
};
static const uint8_t loop_int32[] = {           /* 32-bit, at 0x100e00 */
    0xcd, 0x80,                                  /* +000 l: int 0x80 */
    0x49,                                        /* +002 dec ecx */
    0x75, 0xfb,                                  /* +003 jnz l */
    0xcc,                                        /* +005 int3 */
};
static const uint8_t handler32[] = {            /* 32-bit, at 0x100f00 */
    0x42,                                        /* +000 inc edx */
    0xcf,                                        /* +001 iret   ; compat mode: must be emulated */
};

/* ---- engine set-up ---- */

struct eng {
    uc_engine *uc;
    uint64_t *pool;
    int next;
    uint8_t *low, *high;
    int vec;                 /* last INTR vector, -1 if none */
    uint64_t rip, cr2;       /* at the last INTR */
    uint16_t cs;             /* CS selector at the last INTR */
    int invalid;             /* UC_HOOK_INSN_INVALID calls */
    uint64_t inv_rip;
    bool flush_rw;           /* state of the FLUSH_LA region */
    uc_context *ctx[8];      /* context images, freed with the engine */
    int nctx;
};

static void on_intr(uc_engine *uc, uint32_t n, void *ud)
{
    struct eng *e = ud;
    uint64_t cs = 0;
    e->vec = (int)n;
    uc_reg_read(uc, UC_X86_REG_RIP, &e->rip);
    uc_reg_read(uc, UC_X86_REG_CR2, &e->cr2);
    uc_reg_read(uc, UC_X86_REG_CS, &cs);
    e->cs = (uint16_t)cs;
    uc_emu_stop(uc);
}

static bool on_invalid(uc_engine *uc, void *ud)
{
    struct eng *e = ud;
    e->invalid++;
    uc_reg_read(uc, UC_X86_REG_RIP, &e->inv_rip);
    return false;
}

/* Shadow entry for linear page la (4-level), frame 0 (the engine takes data
 * from the linear address anyway); flags 0 removes it. */
static void shadow_map(struct eng *e, uint64_t la, uint64_t flags)
{
    int cur = 0;
    for (int l = 3; l >= 1; l--) {
        unsigned i = (la >> (12 + 9 * l)) & 511;
        uint64_t *t = e->pool + 512 * cur;
        if (!(t[i] & 1)) {
            int n = ++e->next;
            t[i] = (POOL + 4096ull * n) | 7;
        }
        cur = (int)(((t[i] & ~0xFFFull) - POOL) / 4096);
    }
    e->pool[512 * cur + ((la >> 12) & 511)] = flags;
}

/* A segment descriptor; attr = access byte | flags nibble << 12 (0xC09A ...). */
static uint64_t desc(uint32_t base, uint32_t limit, unsigned attr)
{
    uint32_t lo = (base << 16) | (limit & 0xFFFF);
    uint32_t hi = (base & 0xFF000000u) | ((attr & 0xF0FFu) << 8) | (limit & 0xF0000u) | ((base >> 16) & 0xFF);
    return ((uint64_t)hi << 32) | lo;
}

static const struct { unsigned sel; uint32_t base, limit; unsigned attr; } gdt_init[] = {
    { S_CODE64, 0, 0xFFFFF, 0xA09A },          /* 64-bit code (L=1) */
    { S_DATA32, 0, 0xFFFFF, 0xC092 },          /* flat data, B=1 */
    { S_CODE32, 0, 0xFFFFF, 0xC09A },          /* flat 32-bit code */
    { S_DATAB, 0x200000, 0xFFF, 0x4092 },      /* data, base 0x200000, limit 0xfff */
    { S_CODE16, 0x10000, 0xFFFF, 0x009B },     /* 16-bit code, base 0x1000*16 */
    { S_DATA16, 0x20000, 0xFFFF, 0x0093 },     /* 16-bit data/stack, base 0x2000*16, B=0 */
    { S_STACKB, 0x30000, 0xFFFFF, 0x4093 },    /* 32-bit stack, base 0x30000 */
    { S_DATA16B, 0x40000, 0xFFFF, 0x0093 },    /* 16-bit data, base 0x4000*16 */
    { S_XES, 0x0E5E5000, 0xFFFF, 0x4093 },
    { S_XCS, 0x00C5C000, 0xABCDE, 0x409B },    /* 32-bit code, base 0xC5C000 */
    { S_XSS, 0x05555000, 0xFFFF, 0x4093 },
    { S_XDS, 0x0D5D5000, 0x1234, 0x4093 },
    { S_XFS, 0x0F5F5000, 0xFFFF, 0x4093 },
    { S_XGS, 0x06565000, 0xFFFF, 0x4093 },
};

static uint64_t gdt_desc(unsigned sel)
{
    for (unsigned i = 0; i < sizeof(gdt_init) / sizeof(gdt_init[0]); i++)
        if (gdt_init[i].sel == sel)
            return desc(gdt_init[i].base, gdt_init[i].limit, gdt_init[i].attr);
    return 0;
}

static void put(struct eng *e, uint64_t la, const void *p, size_t n)
{
    if (la < LOW_SIZE)
        memcpy(e->low + la, p, n);
    else
        memcpy(e->high + (la - HIGH), p, n);
}

static void put32(struct eng *e, uint64_t la, uint32_t v) { put(e, la, &v, 4); }
static uint32_t get32(struct eng *e, uint64_t la) { uint32_t v; memcpy(&v, e->low + la, 4); return v; }
static uint16_t get16(struct eng *e, uint64_t la) { uint16_t v; memcpy(&v, e->low + la, 2); return v; }

#define PUT(e, la, arr) put((e), (la), (arr), sizeof(arr))

static void eng_open(struct eng *e)
{
    memset(e, 0, sizeof(*e));
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &e->uc) != UC_ERR_OK) {
        fprintf(stderr, "uc_open failed\n");
        exit(2);
    }
    e->pool = aligned_alloc(4096, POOL_PAGES * 4096);
    e->low = aligned_alloc(4096, LOW_SIZE);
    e->high = aligned_alloc(4096, HIGH_SIZE);
    memset(e->pool, 0, POOL_PAGES * 4096);
    memset(e->low, 0, LOW_SIZE);
    memset(e->high, 0, HIGH_SIZE);
    uc_mem_map_ptr(e->uc, POOL, POOL_PAGES * 4096, UC_PROT_READ | UC_PROT_WRITE, e->pool);
    uc_mem_map_ptr(e->uc, 0, LOW_SIZE, UC_PROT_ALL, e->low);
    uc_mem_map_ptr(e->uc, HIGH, HIGH_SIZE, UC_PROT_ALL, e->high);
    uc_mem_map(e->uc, FLUSH_LA, 0x1000, UC_PROT_READ);
    for (uint64_t la = 0; la < LOW_SIZE; la += 4096)
        if (la != HOLE && la != RHOLE)
            shadow_map(e, la, la | 0x63);
    for (uint64_t la = HIGH; la < HIGH + HIGH_SIZE; la += 4096)
        shadow_map(e, la, la | 0x63);
    uint64_t *gdt = (uint64_t *)(e->high + (GDT_LA - HIGH));
    for (unsigned i = 0; i < sizeof(gdt_init) / sizeof(gdt_init[0]); i++)
        gdt[gdt_init[i].sel / 8] = gdt_desc(gdt_init[i].sel);
    PUT(e, TRAMP_LA, tramp_iretq);
    PUT(e, LRETQ_LA, enter32_lretq);
    PUT(e, HANDLER_LA, handler64);
    /* hvsim's engine set-up: paging on over the shadow tables, IDT empty. */
    uint64_t cr4 = 0x620, cr3 = POOL, cr0 = 0x80010031;
    uc_reg_write(e->uc, UC_X86_REG_CR4, &cr4);
    uc_reg_write(e->uc, UC_X86_REG_CR3, &cr3);
    uc_reg_write(e->uc, UC_X86_REG_CR0, &cr0);
    uc_x86_mmr gdtr = { 0, GDT_LA, GDT_ENTRIES * 8 - 1, 0 }, idtr = { 0, 0, 0, 0 };
    uc_reg_write(e->uc, UC_X86_REG_GDTR, &gdtr);
    uc_reg_write(e->uc, UC_X86_REG_IDTR, &idtr);
    uc_hook h;
    uc_hook_add(e->uc, &h, UC_HOOK_INTR, (void *)on_intr, e, 1, 0);
    uc_hook_add(e->uc, &h, UC_HOOK_INSN_INVALID, (void *)on_invalid, e, 1, 0);
    e->vec = -1;
}

static uc_context *ctx_new(struct eng *e)
{
    uc_context *c = NULL;
    if (e->nctx == 8 || uc_context_alloc(e->uc, &c) != UC_ERR_OK) {
        fprintf(stderr, "uc_context_alloc failed\n");
        exit(2);
    }
    return e->ctx[e->nctx++] = c;
}

static void eng_close(struct eng *e)
{
    for (int i = 0; i < e->nctx; i++)
        uc_context_free(e->ctx[i]);
    uc_close(e->uc);
    free(e->pool);
    free(e->low);
    free(e->high);
}

static uint64_t reg(struct eng *e, int r)
{
    uint64_t v = 0;
    uc_reg_read(e->uc, r, &v);
    return v;
}

static void set(struct eng *e, int r, uint64_t v)
{
    uc_reg_write(e->uc, r, &v);
}

static uint64_t until_la = UNTIL_LA;

static uc_err run(struct eng *e, uint64_t begin)
{
    e->vec = -1;
    return uc_emu_start(e->uc, begin, until_la, 0, 0);
}

/* Engine TLB flush the way cpu/view.c does it: flip a private region
 * between read-only and read-write (one uc_mem_protect per flush). */
static void tlb_flush(struct eng *e)
{
    e->flush_rw = !e->flush_rw;
    uc_mem_protect(e->uc, FLUSH_LA, 0x1000, e->flush_rw ? (UC_PROT_READ | UC_PROT_WRITE) : UC_PROT_READ);
}

/* Candidate A's entry: from 64-bit mode, the iretq trampoline loads the six
 * segment caches from the hidden GDT and continues at cs:rip (same run). */
struct target { uint64_t rip; unsigned cs, ss; uint64_t rsp; unsigned ds, es, fs, gs; uint64_t rflags; };

static uc_err enter(struct eng *e, const struct target *t)
{
    uint64_t f[9] = { t->ds, t->es, t->fs, t->gs, t->rip, t->cs, t->rflags ? t->rflags : 2, t->rsp, t->ss };
    put(e, FRAME_LA, f, sizeof(f));
    set(e, UC_X86_REG_RSP, FRAME_LA);
    return run(e, TRAMP_LA);
}

/* ---- the uc_context image (section 4): offsets found by find_layout() ---- */

struct layout {
    size_t size;              /* uc_context_size() */
    long rax, rip, efer;      /* byte offsets into the image, -1 if unknown */
    long seg[6];              /* base field of ES, CS, SS, DS, FS, GS */
    long hflags, cr0, df;
};
static struct layout L = { 0, -1, -1, -1, { -1, -1, -1, -1, -1, -1 }, -1, -1, -1 };

static uint32_t img32(uc_context *c, long off) { uint32_t v; memcpy(&v, (char *)c + off, 4); return v; }
static uint64_t img64(uc_context *c, long off) { uint64_t v; memcpy(&v, (char *)c + off, 8); return v; }
static void pok32(uc_context *c, long off, uint32_t v) { memcpy((char *)c + off, &v, 4); }
static void pok64(uc_context *c, long off, uint64_t v) { memcpy((char *)c + off, &v, 8); }

/* Offset of the only 8-aligned u64 equal to v, -1 if none or several. */
static long find64(uc_context *c, uint64_t v)
{
    long found = -1;
    int n = 0;
    for (size_t i = 0; i + 8 <= L.size; i += 8)
        if (img64(c, (long)i) == v) {
            found = (long)i;
            n++;
        }
    return n == 1 ? found : -1;
}

enum { R_ES, R_CS, R_SS, R_DS, R_FS, R_GS };

/* Write a segment cache into an image: selector, base, limit, flags (QEMU's
 * flags = the descriptor's high dword). */
static void poke_seg(uc_context *c, int s, unsigned sel, uint64_t base, uint32_t limit, uint32_t flags)
{
    pok32(c, L.seg[s] - 8, sel);
    pok64(c, L.seg[s], base);
    pok32(c, L.seg[s] + 8, limit);
    pok32(c, L.seg[s] + 12, flags);
}

static void poke_seg_desc(uc_context *c, int s, unsigned sel)
{
    uint64_t d = gdt_desc(sel);
    uint32_t base = (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 32) & 0xFF000000u);
    uint32_t limit = (uint32_t)(d & 0xFFFF) | (uint32_t)((d >> 32) & 0xF0000);
    if (d & (1ull << 55))
        limit = (limit << 12) | 0xFFF;
    poke_seg(c, s, sel, base, limit, (uint32_t)(d >> 32) | 0x100 /* accessed */);
}

static void df_reset(struct eng *e, uc_context *scratch)
{
    uc_context_save(e->uc, scratch);
    pok32(scratch, L.df, 0xFFFFFFFFu);
    uc_context_restore(e->uc, scratch);
}

/* median ns per call of f over `reps` batches of `batch` calls */
static double time_median(void (*f)(void *), void *arg, int reps, int batch)
{
    double *s = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < batch; i++)
            f(arg);
        s[r] = (now() - t0) / batch * 1e9;
    }
    qsort(s, (size_t)reps, sizeof(double), cmp_d);
    double m = s[reps / 2];
    free(s);
    return m;
}

struct ctxarg { struct eng *e; uc_context *c; };
static void do_save(void *p) { struct ctxarg *a = p; uc_context_save(a->e->uc, a->c); }
static void do_restore(void *p) { struct ctxarg *a = p; uc_context_restore(a->e->uc, a->c); }
static void do_flush(void *p) { tlb_flush(p); }
static void do_regs(void *p)
{
    /* what a register-level world switch of the GPRs costs, for comparison */
    struct eng *e = p;
    static int ids[18] = { UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RSI,
                           UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8, UC_X86_REG_R9,
                           UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
                           UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_RFLAGS };
    static uint64_t v[18];
    static void *pv[18];
    for (int i = 0; i < 18; i++)
        pv[i] = &v[i];
    uc_reg_read_batch(e->uc, ids, pv, 18);
    uc_reg_write_batch(e->uc, ids, pv, 18);
}


/* The hflags model hvsim would use when it pokes hidden state: QEMU's
 * cpu_x86_load_seg_cache() / cpu_x86_update_cr0() / cpu_load_efer() rules
 * (CPL from SS.DPL; PE = CR0.PE; MP/EM/TS = CR0.MP/EM/TS; LMA = EFER.LMA;
 * CS64 = LMA && CS.L; CS32 = CS.D; SS32 = SS.B; ADDSEG unless a 32-bit CS
 * in protected mode with zero DS/ES/SS bases). Checked against the engine's
 * own result after in-engine segment loads and mode changes (model_sample). */
#define HF_MODEL (HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_MP | HF_EM | HF_TS | HF_LMA | HF_CS64 | 3u)

static uint32_t hflags_model(uc_context *c)
{
    uint32_t hf = img32(c, L.hflags) & ~HF_MODEL;
    uint64_t cr0 = img64(c, L.cr0), efer = img64(c, L.efer);
    uint32_t csf = img32(c, L.seg[R_CS] + 12), ssf = img32(c, L.seg[R_SS] + 12);
    hf |= (ssf >> 13) & 3;
    hf |= (uint32_t)(cr0 << 8) & (HF_MP | HF_EM | HF_TS);
    if (cr0 & 1)
        hf |= HF_PE;
    if (efer & 0x400)
        hf |= HF_LMA;
    if (ssf & (1u << 22))
        hf |= HF_SS32;
    if ((efer & 0x400) && (csf & (1u << 21))) {
        hf |= HF_CS32 | HF_CS64;
    } else {
        if (csf & (1u << 22))
            hf |= HF_CS32;
        if (!(cr0 & 1) || !(hf & HF_CS32) ||
            (img64(c, L.seg[R_DS]) | img64(c, L.seg[R_ES]) | img64(c, L.seg[R_SS])) != 0)
            hf |= HF_ADDSEG;
    }
    return hf;
}

static int model_n, model_bad;
static bool layout_ok;

static void model_sample(struct eng *e, const char *what)
{
    if (!layout_ok)
        return;
    uc_context *c;
    uc_context_alloc(e->uc, &c);
    uc_context_save(e->uc, c);
    uint32_t hf = img32(c, L.hflags), m = hflags_model(c), mask = HF_MODEL;
    if (hf & HF_CS64)
        mask &= ~(HF_SS32 | HF_ADDSEG);      /* not used in 64-bit mode */
    model_n++;
    if ((hf ^ m) & mask) {
        model_bad++;
        info("hflags model mismatch after %s: engine %#x, model %#x", what, hf, m);
    }
    uc_context_free(c);
}

static bool find_layout(void);

/* a mode switch by poking: 32-bit CS and SS caches + recomputed hflags */
static void do_poke_switch(void *p)
{
    struct ctxarg *a = p;
    uc_context_save(a->e->uc, a->c);
    poke_seg_desc(a->c, R_CS, S_CODE32);
    poke_seg_desc(a->c, R_SS, S_DATA32);
    pok32(a->c, L.hflags, hflags_model(a->c));
    uc_context_restore(a->e->uc, a->c);
}

/* ================================================================= */

static struct target T32_FLAT = { 0, S_CODE32, S_DATA32, 0x180000, S_DATA32, S_DATA32, 0, 0, 0 };

static void section1(void)
{
    printf("\n== 1. 32-bit code in compatibility mode ==\n");
    for (int how = 0; how < 2; how++) {
        struct eng e;
        eng_open(&e);
        PUT(&e, 0x100000, t32);
        put32(&e, 0x10, 0x22222222);       /* what [0x10] reads if DS.base were ignored */
        put32(&e, 0x200010, 0x11111111);
        put32(&e, 0x202000, 0x33333333);
        set(&e, UC_X86_REG_RSP, 0x180000);
        uc_err err;
        if (how == 0) {
            err = run(&e, LRETQ_LA);       /* mov ss; mov es; lretq to 0x18:0x100000 */
        } else {
            struct target t = { 0x100000, S_CODE32, S_DATA32, 0x180000, S_DATA32, S_DATAB, 0, 0, 0 };
            set(&e, UC_X86_REG_RAX, 0x41);
            err = enter(&e, &t);
        }
        const char *m = how == 0 ? "lretq" : "iretq trampoline";
        uint64_t esi = reg(&e, UC_X86_REG_RSI), ebx = reg(&e, UC_X86_REG_RBX);
        uint64_t ecx = reg(&e, UC_X86_REG_RCX), edx = reg(&e, UC_X86_REG_RDX);
        uint64_t rsp = reg(&e, UC_X86_REG_RSP);
        check(err == UC_ERR_OK && e.vec == 3 && e.rip == 0x100036 && e.cs == S_CODE32,
              "[%s] 32-bit code ran to its int3 (vector %d, EIP %#llx, CS %#x)", m, e.vec,
              (unsigned long long)e.rip, e.cs);
        check(esi == 0x42, "[%s] inc eax (0x40) incremented EAX: 0x41 -> %#llx", m, (unsigned long long)esi);
        check(ebx == 4, "[%s] push eax with SS.B=1 moved ESP by %llu bytes (4 expected)", m,
              (unsigned long long)ebx);
        check(ecx == 0x11111111, "[%s] DS.base 0x200000 (mov ds executed in compat mode) applied: [0x10] = %#llx",
              m, (unsigned long long)ecx);
        check(get32(&e, 0x200020) == 0x5a5a5a5a, "[%s] ES.base (loaded in 64-bit mode) applied to stosd", m);
        check(get32(&e, 0x30ffc) == 0x6b6b6b6b && rsp == 0xffc,
              "[%s] SS.base 0x30000 applied to push: [0x30ffc] = %#x, ESP = %#llx", m, get32(&e, 0x30ffc),
              (unsigned long long)rsp);
        check(edx == 0x33333333, "[%s] segment limits are NOT enforced: [DS:0x2000] beyond limit 0xfff read %#llx",
              m, (unsigned long long)edx);
        model_sample(&e, m);
        eng_close(&e);
    }
}

static uint64_t blk_addr[16], blk_rip[16], code_hook_rip;
static int blk_n;

static void on_block(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    (void)size; (void)ud;
    if (blk_n < 16) {
        uc_reg_read(uc, UC_X86_REG_RIP, &blk_rip[blk_n]);
        blk_addr[blk_n++] = addr;
    }
}

static void on_code_nop(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    uint64_t r;
    (void)addr; (void)size; (void)ud;
    uc_reg_read(uc, UC_X86_REG_RIP, &r);
}

static void on_code_stop(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    (void)addr; (void)size; (void)ud;
    uc_reg_read(uc, UC_X86_REG_RIP, &code_hook_rip);
    uc_emu_stop(uc);
}

static struct target T16 = { 0x100, S_CODE16, S_DATA16, 0x12340000, S_DATA16B, S_DATA16B, 0, 0, 0 };

static void section2(void)
{
    printf("\n== 2. 16-bit code in compatibility mode (CS.base = 0x1000*16) ==\n");
    struct eng e;
    eng_open(&e);
    PUT(&e, 0x10000 + 0x100, t16);
    put32(&e, 0x40001, 0xbeef);            /* DS.base + ((0xffff + 2) & 0xffff) */
    put32(&e, 0x50001, 0xdead);            /* DS.base + 0x10001 (no 16-bit wrap) */
    set(&e, UC_X86_REG_RAX, 0x12340041);
    uc_err err = enter(&e, &T16);
    uint64_t rax = reg(&e, UC_X86_REG_RAX), rsp = reg(&e, UC_X86_REG_RSP), rcx = reg(&e, UC_X86_REG_RCX);
    check(err == UC_ERR_OK && e.vec == 0x21 && e.rip == 0x10f,
          "int 0x21 in 16-bit code reaches the INTR hook: vector %#x, EIP %#llx (offset past the int; linear %#llx)",
          e.vec, (unsigned long long)e.rip, 0x10000ull + e.rip);
    check(rax == 0x12340042, "inc ax (0x40) is a 16-bit increment: RAX %#llx", (unsigned long long)rax);
    check((rsp & 0xffff) == 0xfffe && get16(&e, 0x2fffe) == 0x42,
          "push ax with SS.B=0: SP 0 -> %#llx, written at SS.base+0xfffe (%#x)", (unsigned long long)(rsp & 0xffff),
          get16(&e, 0x2fffe));
    check((rsp >> 16) == ((FRAME_LA + 0x48) >> 16),
          "iretq into a 16-bit SS sets only SP: RSP[63:16] after the push = %#llx, the trampoline's, not the frame's "
          "0x1234 (a guest ESP[31:16] would be lost)", (unsigned long long)(rsp >> 16));
    check((rcx & 0xffff) == 0xbeef, "16-bit addressing wraps: [bx+si] with bx=0xffff, si=2 read DS.base+1 (%#llx)",
          (unsigned long long)(rcx & 0xffff));
    model_sample(&e, "iretq to 16-bit");
    eng_close(&e);

    /* Addresses the API uses when CS.base != 0: begin is the IP (offset),
     * hooks and `until` see linear addresses (CS.base + IP). */
    eng_open(&e);
    PUT(&e, 0x10000 + 0x100, t16);
    uc_hook h;
    blk_n = 0;
    uc_hook_add(e.uc, &h, UC_HOOK_BLOCK, (void *)on_block, NULL, 1, 0);
    enter(&e, &T16);
    bool blk_linear = false;
    uint64_t blk_r = 0;
    for (int i = 0; i < blk_n; i++)
        if (blk_addr[i] == 0x10100) {
            blk_linear = true;
            blk_r = blk_rip[i];
        }
    eng_close(&e);
    eng_open(&e);                              /* hooks are compiled into new translations only */
    PUT(&e, 0x10000 + 0x100, t16);
    uc_hook_add(e.uc, &h, UC_HOOK_CODE, (void *)on_code_stop, NULL, 0x1010d, 0x1010d);
    enter(&e, &T16);
    int code_vec = e.vec;
    uint64_t code_rip = reg(&e, UC_X86_REG_RIP);
    eng_close(&e);
    eng_open(&e);
    PUT(&e, 0x10000 + 0x100, t16);
    until_la = 0x1010d;
    enter(&e, &T16);
    until_la = UNTIL_LA;
    check(blk_linear && code_vec == -1 && e.vec == -1 && reg(&e, UC_X86_REG_RIP) == 0x10d,
          "with CS.base 0x10000: begin is the IP; block/code hooks and until take linear addresses (block at 0x10100, "
          "a code hook on 0x1010d stops before int 0x21, until = 0x1010d stops there with IP %#llx)",
          (unsigned long long)reg(&e, UC_X86_REG_RIP));
    check(blk_r == 0x100 && code_hook_rip == 0x1010d && code_rip == 0x1010d,
          "QUIRK: RIP read inside a code hook (%#llx) and after a stop from it (%#llx) is CS.base + IP, not IP "
          "(block hook: %#llx; INTR hook and until stops: the IP)", (unsigned long long)code_hook_rip,
          (unsigned long long)code_rip, (unsigned long long)blk_r);
    eng_close(&e);
    /* ...but a code hook that lets the instruction run does not corrupt it:
     * a fault right after still reports the IP */
    eng_open(&e);
    PUT(&e, 0x10000 + 0x280, t16_movds);
    uc_hook_add(e.uc, &h, UC_HOOK_CODE, (void *)on_code_nop, NULL, 1, 0);
    struct target tm = T16;
    tm.rip = 0x280;
    enter(&e, &tm);
    check(e.vec == 13 && e.rip == 0x283, "with a code hook on every instruction, #GP at mov ds still reports IP %#llx",
          (unsigned long long)e.rip);
    eng_close(&e);

    static const struct { const char *what; uint64_t off; const uint8_t *code; size_t n; int vec; uint64_t rip; } f[] = {
        { "iret (real-mode frame) in 16-bit compat code", 0x200, t16_iret, sizeof(t16_iret), 13, 0x209 },
        { "mov ds, ax (ax = 0x1234) in 16-bit compat code", 0x280, t16_movds, sizeof(t16_movds), 13, 0x283 },
        { "retf to 0x1000:0x220 in 16-bit compat code", 0x2c0, t16_retf, sizeof(t16_retf), 13, 0x2c6 },
    };
    for (unsigned i = 0; i < 3; i++) {
        eng_open(&e);
        put(&e, 0x10000 + f[i].off, f[i].code, f[i].n);
        struct target t = T16;
        t.rip = f[i].off;
        t.rsp = 0x8000;
        enter(&e, &t);
        check(e.vec == f[i].vec && e.rip == f[i].rip,
              "%s: protected-mode semantics, INTR vector %d at EIP %#llx (hvsim must intercept it)", f[i].what,
              e.vec, (unsigned long long)e.rip);
        eng_close(&e);
    }
}

static void section3(void)
{
    printf("\n== 3. Back to 64-bit mode; uc_context save/restore ==\n");
    struct eng e;
    /* a) far jump and far return executed in compatibility mode */
    for (int how = 0; how < 2; how++) {
        eng_open(&e);
        PUT(&e, 0x100400, t32_jmp64);
        PUT(&e, 0x100410, t32_retf64);
        PUT(&e, 0x100600, t64_low);
        put32(&e, 0x100500, 0x100600);
        put32(&e, 0x100504, S_CODE64);
        struct target t = T32_FLAT;
        t.rip = how == 0 ? 0x100400 : 0x100410;
        enter(&e, &t);
        check(reg(&e, UC_X86_REG_RAX) == 0x1122334455667788ull && e.cs == S_CODE64,
              "%s to the 64-bit selector from compat code below 4 GiB: 64-bit code ran (RAX %#llx)",
              how == 0 ? "jmp far [m16:32]" : "retf", (unsigned long long)reg(&e, UC_X86_REG_RAX));
        model_sample(&e, how == 0 ? "far jmp to 64-bit" : "retf to 64-bit");
        eng_close(&e);
    }

    /* b) uc_context_restore of an image saved in 64-bit mode */
    eng_open(&e);
    PUT(&e, 0x100600, t64_low);
    PUT(&e, 0x100a00, t32_poke);
    uc_context *c64, *tmp;
    c64 = ctx_new(&e);
    tmp = ctx_new(&e);
    uc_context_save(e.uc, c64);
    struct target t = T32_FLAT;
    t.rip = 0x100a00;
    enter(&e, &t);
    bool in_compat = reg(&e, UC_X86_REG_RBX) == 4;
    uc_context_restore(e.uc, c64);
    run(&e, 0x100600);
    check(in_compat && reg(&e, UC_X86_REG_RAX) == 0x1122334455667788ull,
          "uc_context_restore of a 64-bit image leaves compatibility mode (then RIP/GPRs are written)");

    /* c) costs */
    struct ctxarg a = { &e, tmp };
    size_t csz = uc_context_size(e.uc);
    check(csz > 0, "uc_context_size = %zu bytes", csz);
    if (figures) {
        double ts = time_median(do_save, &a, 301, 200), tr = time_median(do_restore, &a, 301, 200);
        double tf = time_median(do_flush, &e, 101, 50), tg = time_median(do_regs, &e, 301, 200);
        printf("figure: uc_context_save %.0f ns, uc_context_restore %.0f ns (median, %zu-byte image)\n", ts, tr, csz);
        printf("figure: read+write of 18 GPRs/RIP/RFLAGS by uc_reg_*_batch %.0f ns; engine TLB flush (region flip) %.0f ns\n",
               tg, tf);
    }
    eng_close(&e);

    /* d) does translated code survive a restore? The code page is patched
     *    behind the engine's back (host pointer): a retranslation would
     *    see the new immediate, a surviving block still returns the old. */
    eng_open(&e);
    PUT(&e, 0x100800, t64_tb);
    PUT(&e, 0x100a00, t32_poke);
    c64 = ctx_new(&e);
    uc_context_save(e.uc, c64);
    run(&e, 0x100800);
    uint64_t v1 = reg(&e, UC_X86_REG_RAX);
    e.low[0x100801] = 2;                      /* mov eax, 2 — invisible to the engine */
    run(&e, 0x100800);
    uint64_t v2 = reg(&e, UC_X86_REG_RAX);
    uc_context_restore(e.uc, c64);
    run(&e, 0x100800);
    uint64_t v3 = reg(&e, UC_X86_REG_RAX);
    t.rip = 0x100a00;
    enter(&e, &t);                            /* to compatibility mode and back by restore */
    uc_context_restore(e.uc, c64);
    run(&e, 0x100800);
    uint64_t v4 = reg(&e, UC_X86_REG_RAX);
    check(v1 == 1 && v2 == 1 && v3 == 1 && v4 == 1,
          "translated code survives uc_context_restore and a compat round trip (EAX %llu %llu %llu %llu; 2 = retranslated)",
          (unsigned long long)v1, (unsigned long long)v2, (unsigned long long)v3, (unsigned long long)v4);
    eng_close(&e);

    /* e) the engine's TLB is not part of the image either */
    eng_open(&e);
    PUT(&e, 0x100d40, t64_rd);
    c64 = ctx_new(&e);
    uc_context_save(e.uc, c64);
    run(&e, 0x100d40);                        /* caches 0x200000 in the engine TLB */
    shadow_map(&e, 0x200000, 0);              /* remove the translation, no flush */
    uc_context_restore(e.uc, c64);
    run(&e, 0x100d40);
    int after_restore = e.vec;
    tlb_flush(&e);
    run(&e, 0x100d40);
    check(after_restore == 3 && e.vec == 14,
          "uc_context_restore does not flush the engine TLB (stale entry used: vector %d; after a flush: %d)",
          after_restore, e.vec);
    eng_close(&e);

    /* f) hot loop before/after a restore (time per run, translated code kept) */
    if (figures) {
        eng_open(&e);
        PUT(&e, 0x100c00, loop_alu);
        c64 = ctx_new(&e);
        uc_context_save(e.uc, c64);
        double best[3] = { 1e9, 1e9, 1e9 };
        for (int k = 0; k < 3; k++)
            for (int r = 0; r < 200; r++) {
                if (k == 2)
                    uc_context_restore(e.uc, c64);
                set(&e, UC_X86_REG_RCX, 1000);
                double t0 = now();
                run(&e, 0x100c00);
                double dt = (now() - t0) * 1e9;
                if (k > 0 && dt < best[k])
                    best[k] = dt;
            }
        printf("figure: 1000-iteration loop: %.0f ns per run hot, %.0f ns right after a uc_context_restore\n",
               best[1], best[2]);
        eng_close(&e);
    }
}

/* Section 4: layout of the uc_context image, found by experiment. */
static bool find_layout(void)
{
    struct eng e;
    eng_open(&e);
    L.size = uc_context_size(e.uc);
    uc_context *a = ctx_new(&e), *b = ctx_new(&e);

    /* general registers and RIP: distinctive values */
    set(&e, UC_X86_REG_RAX, 0x5EE5C0DE00000001ull);
    set(&e, UC_X86_REG_RCX, 0x5EE5C0DE00000002ull);
    set(&e, UC_X86_REG_RIP, 0x5EE5C0DE00000003ull);
    uc_context_save(e.uc, a);
    L.rax = find64(a, 0x5EE5C0DE00000001ull);
    L.rip = find64(a, 0x5EE5C0DE00000003ull);
    bool ok = L.rax >= 0 && L.rip >= 0 && img64(a, L.rax + 8) == 0x5EE5C0DE00000002ull;
    int n;

    /* CR0..CR4: CR3 holds POOL */
    L.cr0 = find64(a, POOL) - 24;
    ok = ok && L.cr0 >= 0 && img64(a, L.cr0) == 0x80010031;

    /* EFER: clear LME through the MSR interface (SCE does not stick) and diff */
    uc_x86_msr m = { 0xC0000080, 0 };
    uc_reg_read(e.uc, UC_X86_REG_MSR, &m);
    uint64_t efer0 = m.value;
    m.value &= ~0x100ull;
    uc_reg_write(e.uc, UC_X86_REG_MSR, &m);
    uc_context_save(e.uc, b);
    n = 0;
    for (size_t i = 0; i + 8 <= L.size; i += 8)
        if (img64(a, (long)i) == efer0 && img64(b, (long)i) == (efer0 & ~0x100ull)) {
            L.efer = (long)i;
            n++;
        }
    ok = ok && efer0 == 0x500 && n == 1;
    m.value = efer0;
    uc_reg_write(e.uc, UC_X86_REG_MSR, &m);

    /* segment caches and hflags: load six caches with distinct bases through
     * the trampoline, then diff against the 64-bit image */
    PUT(&e, 0xC5D000, t32_stop);
    uc_context_save(e.uc, a);
    struct target t = { 0x1000, S_XCS, S_XSS, 0x2000, S_XDS, S_XES, S_XFS, S_XGS, 0 };
    enter(&e, &t);
    ok = ok && e.vec == 3;
    uc_context_save(e.uc, b);
    static const unsigned xsel[6] = { S_XES, S_XCS, S_XSS, S_XDS, S_XFS, S_XGS };
    for (int s = 0; s < 6; s++) {
        uint64_t d = gdt_desc(xsel[s]);
        uint32_t base = (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 32) & 0xFF000000u);
        L.seg[s] = find64(b, base);
        ok = ok && L.seg[s] >= 8 && (img32(b, L.seg[s] - 8) & 0xFFFF) == xsel[s];
        ok = ok && (img32(b, L.seg[s] + 12) | 0x100u) == ((uint32_t)(d >> 32) | 0x100u); /* flags = high dword */
    }
    ok = ok && L.seg[R_CS] == L.seg[R_ES] + 24 && L.seg[R_GS] == L.seg[R_ES] + 120;
    ok = ok && img32(b, L.seg[R_DS] + 8) == 0x1234;
    n = 0;
    for (size_t i = 0; i + 4 <= L.size; i += 4) {
        uint32_t x = img32(a, (long)i), y = img32(b, (long)i);
        uint32_t need = HF_LMA | HF_CS64 | HF_CS32 | HF_SS32 | HF_PE;
        if ((x & need) == need && (y & (HF_LMA | HF_CS32 | HF_SS32 | HF_PE)) == (HF_LMA | HF_CS32 | HF_SS32 | HF_PE) &&
            !(y & HF_CS64) && ((x ^ y) & ~(HF_CS64 | HF_ADDSEG)) == 0) {
            L.hflags = (long)i;
            n++;
        }
    }
    ok = ok && n == 1;

    /* #DF tracker (as cpu/cpu.c find_df_tracker does) */
    eng_close(&e);
    eng_open(&e);
    PUT(&e, 0x100d00, t64_div0);
    a = ctx_new(&e);
    b = ctx_new(&e);
    uc_context_save(e.uc, a);
    run(&e, 0x100d00);
    uc_context_save(e.uc, b);
    n = 0;
    for (size_t i = 0; i + 4 <= L.size; i += 4)
        if (img32(a, (long)i) == 0xFFFFFFFFu && img32(b, (long)i) == 0) {
            L.df = (long)i;
            n++;
        }
    ok = ok && n == 1 && e.vec == 0;
    eng_close(&e);
    return ok;
}

static void section4(void)
{
    printf("\n== 4. Candidate C: poking hidden state into a uc_context image ==\n");
    bool ok = layout_ok;
    check(ok, "image layout found by experiment (%zu bytes): RAX @%ld, RIP @%ld, hflags @%ld, CR0 @%ld, EFER @%ld, "
              "#DF tracker @%ld, ES/CS/SS/DS/FS/GS base @%ld/%ld/%ld/%ld/%ld/%ld",
          L.size, L.rax, L.rip, L.hflags, L.cr0, L.efer, L.df, L.seg[0], L.seg[1], L.seg[2], L.seg[3], L.seg[4],
          L.seg[5]);
    if (!ok)
        return;
    info("relative to RAX (QEMU's env start): RIP +%ld, hflags +%ld, segs +%ld (stride 24), CR0 +%ld, EFER +%ld",
         L.rip - L.rax, L.hflags - L.rax, L.seg[0] - 8 - L.rax, L.cr0 - L.rax, L.efer - L.rax);

    struct eng e;
    uc_context *c, *scratch;

    /* C1: 32-bit CS and SS by poking (no in-engine far transfer) */
    for (int variant = 0; variant < 3; variant++) {
        eng_open(&e);
        PUT(&e, 0x100a00, t32_poke);
        c = ctx_new(&e);
        uc_context_save(e.uc, c);
        uint32_t hf = img32(c, L.hflags);
        if (variant != 2) {
            poke_seg_desc(c, R_CS, S_CODE32);
            poke_seg_desc(c, R_SS, S_DATA32);
        }
        if (variant != 1)
            pok32(c, L.hflags, (hf & ~HF_CS64) | HF_CS32 | HF_SS32);
        uc_context_restore(e.uc, c);
        set(&e, UC_X86_REG_RAX, 0x41);
        set(&e, UC_X86_REG_RSP, 0x180000);
        run(&e, 0x100a00);
        uint64_t rax = reg(&e, UC_X86_REG_RAX), rbx = reg(&e, UC_X86_REG_RBX);
        if (variant == 0)
            check(rax == 0x42 && rbx == 4 && e.vec == 3,
                  "poked 32-bit CS/SS caches + hflags (CS64 cleared) + restore: code runs as 32-bit (EAX %#llx, push %llu bytes)",
                  (unsigned long long)rax, (unsigned long long)rbx);
        else if (variant == 1)
            check(rax == 0x41 && rbx == 8,
                  "poked CS/SS caches WITHOUT hflags: still decoded as 64-bit (EAX %#llx, push %llu bytes): hflags decide",
                  (unsigned long long)rax, (unsigned long long)rbx);
        else
            check(rax == 0x42 && rbx == 4,
                  "poked hflags only (CS cache still L=1): decoded as 32-bit (EAX %#llx, push %llu) — caches and hflags can disagree silently",
                  (unsigned long long)rax, (unsigned long long)rbx);
        eng_close(&e);
    }

    /* Blocks translated for one mode are not reused in another (the engine
     * keys its translation cache by pc, CS.base and hflags): the same
     * bytes run as 64-bit, then as 32-bit after a poke, then as 64-bit again. */
    eng_open(&e);
    PUT(&e, 0x100a00, t32_poke);
    uc_context *c64;
    c64 = ctx_new(&e);
    c = ctx_new(&e);
    uc_context_save(e.uc, c64);
    uint64_t pushed[3];
    for (int k = 0; k < 3; k++) {
        if (k == 1) {
            uc_context_save(e.uc, c);
            poke_seg_desc(c, R_CS, S_CODE32);
            poke_seg_desc(c, R_SS, S_DATA32);
            pok32(c, L.hflags, hflags_model(c));
            uc_context_restore(e.uc, c);
        } else if (k == 2) {
            uc_context_restore(e.uc, c64);
        }
        set(&e, UC_X86_REG_RSP, 0x180000);
        run(&e, 0x100a00);
        pushed[k] = reg(&e, UC_X86_REG_RBX);
    }
    check(pushed[0] == 8 && pushed[1] == 4 && pushed[2] == 8,
          "same address, three runs: 64-bit, poked 32-bit, restored 64-bit (push moved RSP by %llu, %llu, %llu)",
          (unsigned long long)pushed[0], (unsigned long long)pushed[1], (unsigned long long)pushed[2]);
    if (figures) {
        struct ctxarg pa = { &e, c };
        printf("figure: mode switch by poking (save + 2 segment caches + hflags + restore): %.0f ns\n",
               time_median(do_poke_switch, &pa, 301, 200));
    }
    eng_close(&e);

    /* CR0.TS without the in-engine MOV CR0 trampoline (unreachable from
     * compat/real mode: it lives above 4 GiB): CR0 and hflags.TS poked */
    int nm[2];
    for (int k = 0; k < 2; k++) {
        eng_open(&e);
        PUT(&e, 0x100a80, t32_fld1);
        c = ctx_new(&e);
        uc_context_save(e.uc, c);
        poke_seg_desc(c, R_CS, S_CODE32);
        poke_seg_desc(c, R_SS, S_DATA32);
        uint32_t hf_before = hflags_model(c);  /* with CR0.TS clear */
        pok64(c, L.cr0, img64(c, L.cr0) | 8);
        pok32(c, L.hflags, k ? hflags_model(c) : hf_before);
        uc_context_restore(e.uc, c);
        run(&e, 0x100a80);
        nm[k] = e.vec;
        eng_close(&e);
    }
    check(nm[0] == 3 && nm[1] == 7,
          "CR0.TS by poking: fld1 in compat mode raises #NM only if hflags.TS follows (vectors %d, %d)", nm[0],
          nm[1]);

    /* C2: 16-bit compat with real-mode-like bases, by poking */
    eng_open(&e);
    PUT(&e, 0x10000 + 0x100, t16);
    put32(&e, 0x40001, 0xbeef);
    c = ctx_new(&e);
    uc_context_save(e.uc, c);
    poke_seg(c, R_CS, 0x1000, 0x10000, 0xFFFF, 0x9B00);
    poke_seg(c, R_SS, 0x2000, 0x20000, 0xFFFF, 0x9300);
    poke_seg(c, R_DS, 0x4000, 0x40000, 0xFFFF, 0x9300);
    pok32(c, L.hflags, (img32(c, L.hflags) & ~(HF_CS64 | HF_CS32 | HF_SS32)) | HF_ADDSEG);
    uc_context_restore(e.uc, c);
    set(&e, UC_X86_REG_RAX, 0x12340041);
    set(&e, UC_X86_REG_RSP, 0x12340000);
    run(&e, 0x100);
    check(e.vec == 0x21 && reg(&e, UC_X86_REG_RAX) == 0x12340042 && get16(&e, 0x2fffe) == 0x42 &&
              (reg(&e, UC_X86_REG_RCX) & 0xffff) == 0xbeef && reg(&e, UC_X86_REG_RSP) == 0x1234fffe,
          "poked 16-bit CS/SS/DS (bases 0x10000/0x20000/0x40000) + hflags: same results as section 2, and "
          "ESP[31:16] kept (RSP %#llx)", (unsigned long long)reg(&e, UC_X86_REG_RSP));
    eng_close(&e);

    /* C3: real mode by poking (CR0.PE=0, hflags PE=0), engine paging kept */
    eng_open(&e);
    PUT(&e, 0x10000 + 0x300, t16_toreal);
    put32(&e, 0x50010, 0x5555);
    c = ctx_new(&e);
    uc_context_save(e.uc, c);
    poke_seg(c, R_CS, 0x1000, 0x10000, 0xFFFF, 0x9B00);
    poke_seg(c, R_SS, 0x2000, 0x20000, 0xFFFF, 0x9300);
    poke_seg(c, R_DS, 0x4000, 0x40000, 0xFFFF, 0x9300);
    pok64(c, L.cr0, img64(c, L.cr0) & ~1ull);
    pok32(c, L.hflags, (img32(c, L.hflags) & ~(HF_CS64 | HF_CS32 | HF_SS32 | HF_PE)) | HF_ADDSEG);
    uc_context_restore(e.uc, c);
    run(&e, 0x30f);                            /* the real-mode part of t16_toreal */
    check(e.vec == 0x30 && e.rip == 0x333 && (reg(&e, UC_X86_REG_RBX) & 0xffff) == 0x5555 &&
              (reg(&e, UC_X86_REG_RDX) & 0xffff) == 0x4444 && (reg(&e, UC_X86_REG_RCX) & 0xffff) == 0x7777,
          "poked real mode (PE=0): mov ds / far call / retf / iret run natively, int 0x30 -> vector %#x at IP %#llx",
          e.vec, (unsigned long long)e.rip);
    eng_close(&e);

    /* C4: leave IA-32e by poking (EFER.LMA=0, CR0.PG=0): legacy protected
     *     mode without paging — data comes from regions at linear addresses */
    eng_open(&e);
    PUT(&e, 0x100a60, t32_rdhole);
    put32(&e, HOLE, 0x484f4c45);
    c = ctx_new(&e);
    uc_context_save(e.uc, c);
    poke_seg_desc(c, R_CS, S_CODE32);
    poke_seg_desc(c, R_SS, S_DATA32);
    pok64(c, L.cr0, img64(c, L.cr0) & ~0x80000000ull);
    pok64(c, L.efer, img64(c, L.efer) & ~0x400ull);
    pok32(c, L.hflags, (img32(c, L.hflags) & ~(HF_CS64 | HF_LMA)) | HF_CS32 | HF_SS32);
    uc_context_restore(e.uc, c);
    tlb_flush(&e);
    set(&e, UC_X86_REG_RSP, 0x180000);
    run(&e, 0x100a60);
    check(e.vec == 3 && reg(&e, UC_X86_REG_RBX) == 0x484f4c45,
          "poked LMA=0, PG=0: legacy protected mode without paging (read of a page with no shadow entry: vector %d, EBX %#llx)",
          e.vec, (unsigned long long)reg(&e, UC_X86_REG_RBX));
    eng_close(&e);

    /* C5: legacy PAE paging by poking (LMA=0, PG=1, PAE=1): does the engine
     *     walk 3-level PAE tables? PDPT in the pool (above 4 GiB). */
    for (int low_cr3 = 0; low_cr3 < 2; low_cr3++) {
        eng_open(&e);
        PUT(&e, 0x100a40, t32_rd);
        put32(&e, 0x200000, 0x50414521);
        uint64_t pdpt_pa = low_cr3 ? 0xE00000 : POOL + 40 * 4096;
        uint64_t *pdpt = low_cr3 ? (uint64_t *)(e.low + 0xE00000) : e.pool + 40 * 512;
        uint64_t *pd = e.pool + 41 * 512, *pt = e.pool + 42 * 512;
        memset(pdpt, 0, 4096);
        pdpt[0] = (POOL + 41 * 4096) | 1;
        pd[0] = (POOL + 42 * 4096) | 0x63;
        pt[0x100] = 0x100000 | 0x63;          /* the code page only; 0x200000 is absent */
        c = ctx_new(&e);
        scratch = ctx_new(&e);
        uc_context_save(e.uc, c);
        poke_seg_desc(c, R_CS, S_CODE32);
        poke_seg_desc(c, R_SS, S_DATA32);
        pok64(c, L.cr0 + 24, pdpt_pa);        /* CR3 */
        pok64(c, L.efer, img64(c, L.efer) & ~0x500ull);
        pok32(c, L.hflags, (img32(c, L.hflags) & ~(HF_CS64 | HF_LMA)) | HF_CS32 | HF_SS32);
        uc_context_restore(e.uc, c);
        tlb_flush(&e);
        set(&e, UC_X86_REG_RSP, 0x180000);
        run(&e, 0x100a40);
        int v1 = e.vec;
        uint64_t cr2 = e.cr2;
        df_reset(&e, scratch);
        pd[1] = 0x200000 | 0xE3;               /* now map 0x200000 as a 2-MiB PAE page */
        tlb_flush(&e);
        run(&e, 0x100a40);
        check(v1 == 14 && cr2 == 0x200000 && e.vec == 3 && reg(&e, UC_X86_REG_RBX) == 0x50414521,
              "poked LMA=0, PG=1, PAE=1 (CR3 = %#llx): the engine walks PAE tables (#PF CR2 %#llx, then mapped: EBX %#llx)",
              (unsigned long long)pdpt_pa, (unsigned long long)cr2, (unsigned long long)reg(&e, UC_X86_REG_RBX));
        eng_close(&e);
    }
}

static void section5(void)
{
    printf("\n== 5. Exceptions in compatibility mode ==\n");
    static const struct { const char *what; uint64_t la; const uint8_t *code; size_t n; int vec; uint64_t rip; uint64_t cr2; } x[] = {
        { "#GP (mov ds, selector beyond the GDT limit)", 0x100900, t32_gp, sizeof(t32_gp), 13, 0x100904, 0 },
        { "#PF (DS.base 0x200000 + 0x100000 = hole)", 0x100920, t32_pf, sizeof(t32_pf), 14, 0x100926, HOLE },
        { "#DE (div by 0)", 0x100940, t32_de, sizeof(t32_de), 0, 0x100942, 0 },
        { "int 0x80", 0x100960, t32_int, sizeof(t32_int), 0x80, 0x100962, 0 },
    };
    for (int idt = 0; idt < 2; idt++)
        for (unsigned i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
            struct eng e;
            eng_open(&e);
            put(&e, x[i].la, x[i].code, x[i].n);
            if (idt) {
                /* a valid 64-bit IDT whose every gate leads to handler64 */
                uint64_t *g = (uint64_t *)(e.high + (IDT_LA - HIGH));
                for (int v = 0; v < 256; v++) {
                    g[2 * v] = (HANDLER_LA & 0xFFFF) | ((uint64_t)S_CODE64 << 16) | (0x8Eull << 40) |
                               (((HANDLER_LA >> 16) & 0xFFFF) << 48);
                    g[2 * v + 1] = HANDLER_LA >> 32;
                }
                uc_x86_mmr idtr = { 0, IDT_LA, 0xFFF, 0 };
                uc_reg_write(e.uc, UC_X86_REG_IDTR, &idtr);
            }
            struct target t = T32_FLAT;
            t.rip = x[i].la;
            enter(&e, &t);
            bool ok = e.vec == x[i].vec && e.rip == x[i].rip && e.cs == S_CODE32 && (!x[i].cr2 || e.cr2 == x[i].cr2) &&
                      e.high[MARK_LA - HIGH] == 0;
            check(ok, "%s %s: vector %d, EIP %#llx%s, CS %#x%s", idt ? "[valid engine IDT]" : "[IDT limit 0]", x[i].what,
                  e.vec, (unsigned long long)e.rip, x[i].cr2 ? (e.cr2 == x[i].cr2 ? ", CR2 exact" : ", CR2 WRONG") : "",
                  e.cs, e.high[MARK_LA - HIGH] ? ", IDT handler RAN" : ", IDT not used");
            model_sample(&e, x[i].what);
            eng_close(&e);
        }
    struct eng e;
    eng_open(&e);
    PUT(&e, 0x100970, t32_ud);
    struct target t = T32_FLAT;
    t.rip = 0x100970;
    uc_err err = enter(&e, &t);
    check(e.invalid == 1 && e.inv_rip == 0x100970 && e.vec == -1,
          "ud2 in compat mode: UC_HOOK_INSN_INVALID at EIP %#llx (run ends %s), no INTR",
          (unsigned long long)e.inv_rip, uc_strerror(err));
    eng_close(&e);

    eng_open(&e);
    PUT(&e, 0x100980, t32_legacy);
    t.rip = 0x100980;
    enter(&e, &t);
    check(e.vec == 3 && reg(&e, UC_X86_REG_RBX) == 32 && (reg(&e, UC_X86_REG_RAX) & 0xffff) == 0x0105,
          "opcodes invalid in 64-bit mode execute in compat mode (pusha: %llu bytes, aaa: AX %#llx)",
          (unsigned long long)reg(&e, UC_X86_REG_RBX), (unsigned long long)(reg(&e, UC_X86_REG_RAX) & 0xffff));
    eng_close(&e);
}

static double mips_64, mips_compat, mips_real;

/* MIPS of the 4-instruction loop, best of 3 runs of n iterations */
static double time_loop(struct eng *e, uint64_t n, uc_err (*go)(struct eng *, void *), void *arg)
{
    double best = 0;
    for (int k = 0; k < 3; k++) {
        set(e, UC_X86_REG_RCX, n);
        double t0 = now();
        go(e, arg);
        double mips = (double)(n * 4) / (now() - t0) / 1e6;
        if (mips > best)
            best = mips;
    }
    return best;
}

/* the engine stays in the mode it stopped in; begin is the EIP/IP */
static uc_err go_alu(struct eng *e, void *arg) { (void)arg; return run(e, 0x100c00); }
static uc_err go_alu16(struct eng *e, void *arg) { (void)arg; return run(e, 0x400); }

static void section6(void)
{
    printf("\n== 6. Speed: the same ALU loop in 64-bit and compatibility mode ==\n");
    const uint64_t N = figures ? 50000000 : 1000000;   /* 4 instructions per iteration */
    struct eng e;
    eng_open(&e);
    PUT(&e, 0x100c00, loop_alu);
    set(&e, UC_X86_REG_RCX, 1000);
    run(&e, 0x100c00);                      /* translate */
    mips_64 = time_loop(&e, N, go_alu, NULL);
    bool ok64 = e.vec == 3 && reg(&e, UC_X86_REG_RCX) == 0 && e.cs == 0;
    eng_close(&e);
    eng_open(&e);
    PUT(&e, 0x100c00, loop_alu);
    struct target t = T32_FLAT;
    t.rip = 0x100c00;
    set(&e, UC_X86_REG_RCX, 1000);
    enter(&e, &t);                          /* to compatibility mode, and translate */
    mips_compat = time_loop(&e, N, go_alu, NULL);
    bool okc = e.vec == 3 && reg(&e, UC_X86_REG_RCX) == 0 && e.cs == S_CODE32;
    eng_close(&e);
    check(ok64 && okc, "ALU loop ran to completion in both modes");
    if (figures)
        printf("figure: ALU loop (add/xor/dec/jnz) %.0f MIPS in 64-bit mode, %.0f MIPS in compatibility mode\n",
               mips_64, mips_compat);
}

static void section7(void)
{
    printf("\n== 7. Real mode inside the IA-32e engine (in-engine MOV CR0, PE=0, paging kept) ==\n");
    /* The architectural way in, executed by the engine: from 16-bit compat
     * code (CS/SS/DS already 16-bit), clear CR0.PE, then a far jump loads
     * CS the real-mode way. EFER.LMA and CR0.PG stay set. */
    struct eng e;
    eng_open(&e);
    uc_context *c, *scratch;
    c = ctx_new(&e);
    scratch = ctx_new(&e);
    PUT(&e, 0x10000 + 0x300, t16_toreal);
    PUT(&e, 0x10000 + 0x380, t16_realpf);
    PUT(&e, 0x10000 + 0x3a0, t16_bigoff);
    PUT(&e, 0x10000 + 0x3c0, t16_toprot);
    put32(&e, 0x50000 + 0x12340, 0x0FF5E7);
    PUT(&e, 0x10000 + 0x400, loop_alu16);
    PUT(&e, 0x100a00, t32_poke);
    put32(&e, 0x50010, 0x5555);
    struct target t = T16;
    t.rip = 0x300;
    t.rsp = 0xfff0;
    enter(&e, &t);
    uc_context_save(e.uc, c);
    uint32_t hf = img32(c, L.hflags);
    uint64_t cr0 = img64(c, L.cr0), efer = img64(c, L.efer);
    check(e.vec == 0x30 && e.rip == 0x333 && e.cs == 0x1000,
          "16-bit compat -> MOV CR0 (PE=0) -> jmp 0x1000:real: real-mode code reached int 0x30 (vector %#x, IP %#llx, CS %#x)",
          e.vec, (unsigned long long)e.rip, e.cs);
    check((reg(&e, UC_X86_REG_RBX) & 0xffff) == 0x5555 && get16(&e, 0x200fe) == 0x1234 &&
              (reg(&e, UC_X86_REG_RDX) & 0xffff) == 0x4444 && (reg(&e, UC_X86_REG_RCX) & 0xffff) == 0x7777 &&
              (reg(&e, UC_X86_REG_RSP) & 0xffff) == 0xfe,
          "real-mode mov ds/ss (base = sel*16), push, far call, retf and iret all run natively in the engine");
    check(!(cr0 & 1) && (cr0 & 0x80000000u) && (efer & 0x400) && (hf & HF_LMA) && !(hf & (HF_PE | HF_CS32 | HF_CS64)),
          "engine state: CR0 %#llx (PE=0, PG=1), EFER %#llx (LMA=1), hflags %#x (PE=0, LMA=1, CS32=CS64=0)",
          (unsigned long long)cr0, (unsigned long long)efer, hf);
    model_sample(&e, "MOV CR0 (PE=0) + real-mode far jmp");
    run(&e, 0x380);
    check(e.vec == 14 && e.cr2 == RHOLE + 0x10 && e.rip == 0x385,
          "real mode keeps the engine's 4-level walk: precise #PF (vector %d, CR2 %#llx, IP %#llx)", e.vec,
          (unsigned long long)e.cr2, (unsigned long long)e.rip);
    df_reset(&e, scratch);
    run(&e, 0x3a0);
    check(e.vec == 3 && reg(&e, UC_X86_REG_RBX) == 0x0FF5E7,
          "real mode: a 32-bit offset above 0xffff (DS:0x12340) is not a #GP, the read succeeds (EBX %#llx)",
          (unsigned long long)reg(&e, UC_X86_REG_RBX));
    if (figures) {
        set(&e, UC_X86_REG_RCX, 1000);
        run(&e, 0x400);
        mips_real = time_loop(&e, 50000000, go_alu16, NULL);
        printf("figure: ALU loop %.0f MIPS in real mode (66-prefixed 32-bit operations)\n", mips_real);
    }
    run(&e, 0x3c0);                          /* MOV CR0 (PE=1) + jmp dword 0x18:0x100a00 */
    uc_context_save(e.uc, c);
    hf = img32(c, L.hflags);
    check(e.vec == 3 && e.cs == S_CODE32 && reg(&e, UC_X86_REG_RBX) == 4 && (hf & HF_PE) && (hf & HF_CS32),
          "back: MOV CR0 (PE=1) + far jmp to a 32-bit selector returns to compatibility mode (push %llu bytes, hflags %#x)",
          (unsigned long long)reg(&e, UC_X86_REG_RBX), hf);
    model_sample(&e, "MOV CR0 (PE=1) + far jmp to 32-bit");
    eng_close(&e);

    /* in-engine exit from IA-32e: MOV CR0 with PG=0 in compat code */
    eng_open(&e);
    PUT(&e, 0x100b00, t32_nolma);
    put32(&e, HOLE, 0x484f4c45);
    c = ctx_new(&e);
    t = T32_FLAT;
    t.rip = 0x100b00;
    enter(&e, &t);
    uc_context_save(e.uc, c);
    check(e.vec == 3 && reg(&e, UC_X86_REG_RBX) == 0x484f4c45 && !(img64(c, L.efer) & 0x400) &&
              !(img32(c, L.hflags) & HF_LMA),
          "MOV CR0 (PG=0) executed in compat mode leaves IA-32e (EFER %#llx): no paging afterwards (hole read %#llx)",
          (unsigned long long)img64(c, L.efer), (unsigned long long)reg(&e, UC_X86_REG_RBX));
    model_sample(&e, "MOV CR0 (PG=0)");
    eng_close(&e);
}

static void section8(void)
{
    printf("\n== 8. Candidate B: a separate UC_MODE_32 engine ==\n");
    uc_engine *uc;
    uc_open(UC_ARCH_X86, UC_MODE_32, &uc);
    uint64_t cr3 = POOL, back = 0;
    uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
    uc_reg_read(uc, UC_X86_REG_CR3, &back);
    check(back != POOL, "a UC_MODE_32 engine truncates CR3 to 32 bits (wrote %#llx, read %#llx): its shadow tables "
                        "would have to live below 4 GiB, inside the guest's linear space",
          (unsigned long long)POOL, (unsigned long long)back);
    /* segment-register writes in a 32-bit engine do a descriptor load from the engine's GDT */
    uint8_t *g = aligned_alloc(4096, 4096);
    memset(g, 0, 4096);
    uint64_t d = desc(0x200000, 0xFFF, 0x4093);
    memcpy(g + 0x20, &d, 8);
    uc_mem_map_ptr(uc, 0x1000, 0x1000, UC_PROT_ALL, g);
    uc_x86_mmr gdtr = { 0, 0x1000, 0x7F, 0 };
    uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
    uint32_t sel = 0x20;
    uc_err err = uc_reg_write(uc, UC_X86_REG_DS, &sel);
    check(err == UC_ERR_OK, "UC_MODE_32: uc_reg_write(DS) loads a descriptor from the engine's GDT (returns %s)",
          uc_strerror(err));
    uc_close(uc);
    free(g);
}

/* Section 9: interrupt delivery the way hvsim would do it (mechanism c):
 * the INTR hook stops the engine, the host builds the frame in guest
 * memory, pokes the new CS cache (and resets the #DF tracker in the same
 * image), restores, and restarts at the handler. */
static void section9(void)
{
    printf("\n== 9. Interrupts delivered by the host (IVT in real mode; IDT + emulated IRET in compat mode) ==\n");
    const int N = figures ? 100000 : 10000;
    const int N16 = figures ? 60000 : 10000;     /* the 16-bit loop counts in CX */
    struct eng e;
    uc_context *c;

    /* real mode: INT n via the IVT; the handler's IRET runs natively */
    eng_open(&e);
    c = ctx_new(&e);
    PUT(&e, 0x10000 + 0x500, loop_int16);
    PUT(&e, 0x20000 + 0x100, handler16);
    put32(&e, 0x30 * 4, 0x20000100);          /* IVT[0x30] = 0x2000:0x0100 */
    uc_context_save(e.uc, c);
    poke_seg(c, R_CS, 0x1000, 0x10000, 0xFFFF, 0x9B00);
    poke_seg(c, R_SS, 0x7000, 0x70000, 0xFFFF, 0x9300);
    poke_seg(c, R_DS, 0, 0, 0xFFFF, 0x9300);
    poke_seg(c, R_ES, 0, 0, 0xFFFF, 0x9300);
    pok64(c, L.cr0, img64(c, L.cr0) & ~1ull);
    pok32(c, L.hflags, hflags_model(c));
    uc_context_restore(e.uc, c);
    set(&e, UC_X86_REG_RSP, 0xfffe);
    set(&e, UC_X86_REG_RCX, (uint64_t)N16);
    set(&e, UC_X86_REG_RDX, 0);
    set(&e, UC_X86_REG_EFLAGS, 0x202);
    uint64_t ip = 0x500;
    int delivered = 0;
    double t0 = now();
    for (;;) {
        run(&e, ip);
        if (e.vec != 0x30)
            break;
        uint64_t rsp = reg(&e, UC_X86_REG_RSP), fl = reg(&e, UC_X86_REG_EFLAGS);
        uint16_t sp = (uint16_t)rsp, w[3] = { (uint16_t)fl, e.cs, (uint16_t)e.rip };
        for (int i = 0; i < 3; i++) {           /* push FLAGS, CS, IP (16-bit wrap) */
            sp = (uint16_t)(sp - 2);
            memcpy(e.low + 0x70000 + sp, &w[i], 2);
        }
        uint32_t vec = get32(&e, (uint64_t)e.vec * 4);
        uc_context_save(e.uc, c);
        poke_seg(c, R_CS, vec >> 16, (uint64_t)(vec >> 16) << 4, 0xFFFF, 0x9B00);
        pok32(c, L.df, 0xFFFFFFFFu);
        uc_context_restore(e.uc, c);
        set(&e, UC_X86_REG_RSP, (rsp & ~0xFFFFull) | sp);
        set(&e, UC_X86_REG_EFLAGS, fl & ~0x40300ull);   /* clear IF, TF, AC */
        ip = vec & 0xFFFF;
        delivered++;
    }
    double dt = now() - t0;
    check(e.vec == 3 && delivered == N16 && (reg(&e, UC_X86_REG_RDX) & 0xffff) == (uint64_t)N16 &&
              (reg(&e, UC_X86_REG_RCX) & 0xffff) == 0 && e.cs == 0x1000 && (reg(&e, UC_X86_REG_RSP) & 0xffff) == 0xfffe,
          "real mode: %d x (int 0x30 -> host IVT delivery -> handler -> native iret) completed", delivered);
    if (figures)
        printf("figure: real-mode INT n delivered by the host + native IRET: %.0f ns per round trip\n", dt / N16 * 1e9);
    eng_close(&e);

    /* compatibility mode: INT n through a (host-side) 32-bit IDT; the
     * handler's IRET faults (#GP: the engine's GDT is empty, as in hvsim)
     * and is emulated by the host */
    eng_open(&e);
    c = ctx_new(&e);
    uc_x86_mmr empty = { 0, 0, 0, 0 };
    uc_reg_write(e.uc, UC_X86_REG_GDTR, &empty);
    PUT(&e, 0x100e00, loop_int32);
    PUT(&e, 0x100f00, handler32);
    uc_context_save(e.uc, c);
    poke_seg_desc(c, R_CS, S_CODE32);
    poke_seg_desc(c, R_SS, S_DATA32);
    poke_seg_desc(c, R_DS, S_DATA32);
    poke_seg_desc(c, R_ES, S_DATA32);
    pok32(c, L.hflags, hflags_model(c));
    uc_context_restore(e.uc, c);
    set(&e, UC_X86_REG_RSP, 0x180000);
    set(&e, UC_X86_REG_RCX, (uint64_t)N);
    set(&e, UC_X86_REG_RDX, 0);
    set(&e, UC_X86_REG_EFLAGS, 0x202);
    ip = 0x100e00;
    int ints = 0, irets = 0;
    t0 = now();
    for (;;) {
        run(&e, ip);
        uint64_t esp = reg(&e, UC_X86_REG_RSP) & 0xFFFFFFFF, fl = reg(&e, UC_X86_REG_EFLAGS);
        uint32_t f[3];
        if (e.vec == 0x80) {                      /* push EFLAGS, CS, EIP; CS:EIP from the gate */
            f[0] = (uint32_t)e.rip;
            f[1] = S_CODE32;
            f[2] = (uint32_t)fl;
            esp -= 12;
            memcpy(e.low + esp, f, 12);
            ip = 0x100f00;
            fl &= ~0x4300ull;                     /* interrupt gate: clear IF, TF, NT */
            ints++;
        } else if (e.vec == 13 && e.rip == 0x100f01) {   /* the handler's iret */
            memcpy(f, e.low + esp, 12);
            esp += 12;
            ip = f[0];
            fl = f[2];
            irets++;
        } else {
            break;
        }
        uc_context_save(e.uc, c);
        poke_seg_desc(c, R_CS, S_CODE32);         /* the gate's / popped CS */
        pok32(c, L.df, 0xFFFFFFFFu);
        uc_context_restore(e.uc, c);
        set(&e, UC_X86_REG_RSP, esp);
        set(&e, UC_X86_REG_EFLAGS, fl);
    }
    dt = now() - t0;
    check(e.vec == 3 && ints == N && irets == N && reg(&e, UC_X86_REG_RDX) == (uint64_t)N && reg(&e, UC_X86_REG_RCX) == 0 &&
              reg(&e, UC_X86_REG_RSP) == 0x180000,
          "compat mode: %d x (int 0x80 -> host IDT delivery -> handler -> iret #GP -> host IRET) completed", ints);
    if (figures)
        printf("figure: compat-mode INT n + emulated IRET (two exits): %.0f ns per round trip\n", dt / N * 1e9);
    eng_close(&e);
}

int main(int argc, char **argv)
{
    figures = argc > 1 && !strcmp(argv[1], "--figures");
    layout_ok = find_layout();             /* reported in section 4 */
    section1();
    section2();
    section3();
    section4();
    section5();
    section6();
    if (layout_ok)
        section7();
    section8();
    if (layout_ok) {
        section9();
        printf("\n== 10. The hflags model (what a poking hvsim computes) against the engine ==\n");
        check(model_n >= 15 && model_bad == 0,
              "hflags computed from CR0/EFER/segment caches match the engine's after %d in-engine transitions "
              "(%d mismatches)", model_n, model_bad);
    }
    printf("\n%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
