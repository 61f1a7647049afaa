/*
 * shim.c — the boot shim's 64-bit half (docs/differential.md): loads the
 * ELF64 payload handed over as Multiboot module 0 and brings every logical
 * processor to the entry state of hvsim's boot protocol
 * (docs/boot-protocol.md), with the same boot-structure layout as
 * sim/boot.c, so that a payload sees the same addresses on QEMU and Bochs
 * as on hvsim.
 *
 * Execution context: freestanding, 64-bit mode on the shim's own page
 * tables (shim_entry.S), interrupts off, no IDT: any fault here is a triple
 * fault. The bootstrap processor runs shim_main(); application processors
 * arrive in shim_ap_main() after INIT-SIPI-SIPI and spin until released.
 * Errors print "hvsim-shim: ..." on port 0xE9 and exit through port 0xF4
 * with SHIM_EXIT_ERROR.
 */
#include <stddef.h>
#include <stdint.h>

#include "boot_protocol.h"
#include "shim_abi.h"

#define PG            4096ull
#define GIB           (1ull << 30)
#define STACK_SIZE    0x10000ull        /* BOOT_STACK_SIZE in sim/boot.h */
#define MAX_SEGS      32
#define MAX_LPS       64
#define TRAMP_ADDR    0x8000ull         /* shim_entry.S TRAMP_ADDR; SIPI vector 0x08 */
#define SHIM_EXIT_ERROR 0x7E            /* exit status (0x7E << 1) | 1 = 253 */
#define APIC_BASE     0xFEE00000ull
#define LEGACY_HOLE   0xA0000ull        /* [0xA0000, 1 MiB): VGA and firmware on QEMU and Bochs */

/* Multiboot information (MB 3.3): only the fields the shim reads. */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
};
struct mb_module {
    uint32_t start, end, string, reserved;
};

/* ELF64 (the fields the shim reads). */
struct elf64_ehdr {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF64 header");
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF64 program header");

/* What shim_enter_payload (shim_entry.S) reads; offsets fixed there. */
struct shim_entry {
    uint64_t entry;      /* +0 */
    uint64_t cr3;        /* +8 */
    uint64_t gdt;        /* +16 */
    uint64_t info;       /* +24 */
    uint64_t stacks;     /* +32 */
    uint64_t stack_size; /* +40 */
    uint64_t nlps;       /* +48 */
};
_Static_assert(offsetof(struct shim_entry, nlps) == 48, "shim_enter_payload reads nlps at +48");

struct seg { uint64_t paddr, memsz, filesz, offset; };

void shim_main(uint32_t mbi);
void shim_ap_main(uint32_t lp);
__attribute__((noreturn)) void shim_enter_payload(const struct shim_entry *e, unsigned lp);
extern char ap_tramp[], ap_tramp_end[], __shim_start[], __bss_end[];

static struct shim_entry entry_state;
static volatile uint32_t aps_arrived, release;
static char params[SHIM_PARAM_MAX];

/* ---- small freestanding helpers ---- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void copy(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
}

static void fill(void *dst, int c, size_t n)
{
    char *d = dst;
    while (n--)
        *d++ = (char)c;
}

static void puts_e9(const char *s)
{
    while (*s)
        outb(0xE9, (uint8_t)*s++);
}

static void put_hex(uint64_t v)
{
    char b[19] = "0x";
    int n = 2;
    for (int sh = 60; sh >= 0; sh -= 4) {
        unsigned d = (unsigned)(v >> sh) & 0xF;
        if (d || n > 2 || sh == 0)
            b[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    }
    b[n] = 0;
    puts_e9(b);
}

__attribute__((noreturn)) static void die(const char *what, uint64_t value)
{
    puts_e9("hvsim-shim: ");
    puts_e9(what);
    puts_e9(" ");
    put_hex(value);
    puts_e9("\n");
    outb(0xF4, SHIM_EXIT_ERROR);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

/* ---- the parameter string ---- */

static int word_is(const char *w, const char *key, const char **val)
{
    while (*key && *w == *key)
        w++, key++;
    if (*key || *w != '=')
        return 0;
    *val = w + 1;
    return 1;
}

static uint64_t parse_dec(const char *s)
{
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        die("parameter is not a decimal number at", (uint64_t)(uintptr_t)s);
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    if (*s && *s != ' ')
        die("parameter is not a decimal number at", (uint64_t)(uintptr_t)s);
    return v;
}

/* "hvsim-shim lps=N mem=BYTES [cmdline=...]" (shim_abi.h). */
static void parse_params(const char *src, uint64_t *nlps, uint64_t *mem, const char **cmdline)
{
    size_t n = 0;
    while (src[n] && n + 1 < sizeof(params))
        n++;
    copy(params, src, n);
    params[n] = 0;
    /* QEMU's module string starts with the file name: skip words up to
     * the magic one. */
    const char *p = params;
    for (;;) {
        const char *w = p, *magic = SHIM_PARAM_MAGIC;
        while (*magic && *w == *magic)
            w++, magic++;
        if (!*magic && (!*w || *w == ' ')) {
            p = w;
            break;
        }
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
        if (!*p)
            die("no \"" SHIM_PARAM_MAGIC "\" word in module 0's string; length", n);
    }
    *nlps = 0;
    *mem = 0;
    *cmdline = NULL;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *v;
        if (word_is(p, "cmdline", &v)) {
            *cmdline = v;
            break;
        }
        if (word_is(p, "lps", &v))
            *nlps = parse_dec(v);
        else if (word_is(p, "mem", &v))
            *mem = parse_dec(v);
        else if (*p)
            die("unknown word in the parameter string at offset", (uint64_t)(p - params));
        while (*p && *p != ' ')
            p++;
    }
    if (*nlps == 0 || *nlps > MAX_LPS)
        die("lps= missing or out of range:", *nlps);
    if (*mem < (2ull << 20) || (*mem & (PG - 1)))
        die("mem= missing or not whole pages:", *mem);
}

/* ---- the ELF64 payload ---- */

static unsigned read_segments(const uint8_t *img, uint64_t size, struct seg *seg, uint64_t *entry)
{
    const struct elf64_ehdr *eh = (const void *)img;
    if (size < sizeof(*eh) || img[0] != 0x7F || img[1] != 'E' || img[2] != 'L' || img[3] != 'F' || img[4] != 2 ||
        img[5] != 1 || eh->type != 2 || eh->machine != 62)
        die("module 0 is not an ELF64 x86-64 executable; size", size);
    if (eh->phentsize != sizeof(struct elf64_phdr) || eh->phoff + (uint64_t)eh->phnum * sizeof(struct elf64_phdr) > size)
        die("bad ELF program headers at", eh->phoff);
    unsigned n = 0;
    for (unsigned i = 0; i < eh->phnum; i++) {
        const struct elf64_phdr *ph = (const void *)(img + eh->phoff + i * sizeof(*ph));
        if (ph->type != 1 || ph->memsz == 0)           /* PT_LOAD */
            continue;
        if (n == MAX_SEGS)
            die("too many PT_LOAD segments:", eh->phnum);
        if (ph->filesz > ph->memsz || ph->offset + ph->filesz > size || ph->paddr + ph->memsz > 4 * GIB)
            die("PT_LOAD segment cannot be loaded: p_paddr", ph->paddr);
        seg[n++] = (struct seg){ ph->paddr, ph->memsz, ph->filesz, ph->offset };
    }
    *entry = eh->entry;
    return n;
}

/* ---- the boot structures, laid out exactly as sim/boot.c does ---- */

struct layout {
    uint64_t base, size, limit, npd, npdpt, pml4, pdpt, pd, gdt, info, cmd, stacks;
};

static void plan(const struct seg *seg, unsigned nseg, uint64_t mem, uint64_t nlps, size_t cmdlen, int has_cmd,
                 struct layout *l)
{
    l->limit = align_up(mem > 4 * GIB ? mem : 4 * GIB, GIB);
    l->npd = l->limit / GIB;
    l->npdpt = align_up(l->npd, 512) / 512;
    uint64_t cmd_pages = has_cmd ? align_up(cmdlen + 1, PG) / PG : 0;
    l->size = (1 + l->npdpt + l->npd + 2 + cmd_pages) * PG + nlps * STACK_SIZE;
    l->base = 0x10000;
    for (int moved = 1; moved;) {
        moved = 0;
        for (unsigned i = 0; i < nseg; i++)
            if (overlaps(l->base, l->size, seg[i].paddr, seg[i].memsz)) {
                l->base = align_up(seg[i].paddr + seg[i].memsz, PG);
                moved = 1;
            }
    }
    if (l->base + l->size > mem || l->base + l->size > 4 * GIB)
        die("no room for the boot structures; bytes", l->size);
    l->pml4 = l->base;
    l->pdpt = l->base + PG;
    l->pd = l->pdpt + l->npdpt * PG;
    l->gdt = l->pd + l->npd * PG;
    l->info = l->gdt + PG;
    l->cmd = l->info + PG;
    l->stacks = l->cmd + cmd_pages * PG;
}

struct range { uint64_t base, len; uint32_t type; };

static void build(const struct layout *l, const struct seg *seg, unsigned nseg, uint64_t mem, uint64_t nlps,
                  const char *cmdline, size_t cmdlen)
{
    fill((void *)(uintptr_t)l->base, 0, l->size);
    uint64_t *pml4 = (uint64_t *)(uintptr_t)l->pml4, *pdpt = (uint64_t *)(uintptr_t)l->pdpt,
             *pd = (uint64_t *)(uintptr_t)l->pd;
    for (uint64_t i = 0; i < l->npdpt; i++)
        pml4[i] = (l->pdpt + i * PG) | 0x3;                /* P RW (SDM 3A 4.5) */
    for (uint64_t i = 0; i < l->npd; i++)
        pdpt[i] = (l->pd + i * PG) | 0x3;
    for (uint64_t i = 0; i < l->npd * 512; i++)
        pd[i] = (i << 21) | 0x83;                          /* P RW PS */
    uint64_t *gdt = (uint64_t *)(uintptr_t)l->gdt;
    gdt[0] = 0;
    gdt[1] = 0x00AF9B000000FFFFull;                        /* 0x08: 64-bit code, DPL 0 */
    gdt[2] = 0x00CF93000000FFFFull;                        /* 0x10: data, DPL 0 */
    if (cmdline)
        copy((void *)(uintptr_t)l->cmd, cmdline, cmdlen + 1);

    /* Memory map: the image's segments, the boot range, usable RAM between. */
    struct range r[MAX_SEGS + 1];
    unsigned nr = 0;
    for (unsigned i = 0; i < nseg; i++)
        r[nr++] = (struct range){ seg[i].paddr, seg[i].memsz, HVSIM_MEM_IMAGE };
    r[nr++] = (struct range){ l->base, l->size, HVSIM_MEM_BOOT };
    for (unsigned i = 1; i < nr; i++)
        for (unsigned j = i; j > 0 && r[j].base < r[j - 1].base; j--) {
            struct range t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
    struct hvsim_boot_info *bi = (struct hvsim_boot_info *)(uintptr_t)l->info;
    unsigned cnt = 0, max = (unsigned)((PG - sizeof(*bi)) / sizeof(struct hvsim_mmap_entry));
    uint64_t at = 0;
    for (unsigned i = 0; i <= nr && cnt < max; i++) {
        uint64_t next = i < nr ? r[i].base : mem;
        if (next > at && cnt < max)
            bi->mmap[cnt++] = (struct hvsim_mmap_entry){ at, next - at, HVSIM_MEM_USABLE, 0 };
        if (i < nr && cnt < max) {
            bi->mmap[cnt++] = (struct hvsim_mmap_entry){ r[i].base, r[i].len, r[i].type, 0 };
            at = r[i].base + r[i].len;
        }
    }
    /* tsc_hz: hvsim reports its virtual TSC frequency, which its CPUID.15H
     * describes; here what CPUID.15H says on this implementation (ECX x
     * EBX / EAX, 0 when EAX is 0), read as a payload reads it: above the
     * maximum basic leaf an Intel CPU answers with the highest basic leaf
     * (SDM 2A CPUID), and so does this. */
    uint32_t c[4];
    cpuid(0x15, c);
    uint64_t tsc_hz = c[0] ? (uint64_t)c[2] * c[1] / c[0] : 0;
    bi->magic = HVSIM_BOOT_MAGIC;
    bi->version = HVSIM_BOOT_VERSION;
    bi->size = (uint32_t)(sizeof(*bi) + cnt * sizeof(struct hvsim_mmap_entry));
    bi->lp_count = (uint32_t)nlps;
    bi->mem_size = mem;
    bi->cmdline = cmdline ? l->cmd : 0;
    bi->cmdline_len = (uint32_t)cmdlen;
    bi->mmap_count = cnt;
    bi->boot_base = l->base;
    bi->boot_size = l->size;
    bi->tsc_hz = tsc_hz;
    bi->stack_size = STACK_SIZE;
    bi->stacks = l->stacks;
    bi->identity_limit = l->limit;
}

/* ---- the local APIC (xAPIC MMIO, SDM 3A 10.4.1) ---- */

static volatile uint32_t *apic_reg(uint32_t off) { return (volatile uint32_t *)(uintptr_t)(APIC_BASE + off); }

/* Busy-wait about `cycles` TSC cycles (the firmware has no timer we trust). */
static void delay(uint64_t cycles)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < cycles)
        __asm__ volatile("pause");
}

static void send_ipi(uint32_t icr_low)
{
    *apic_reg(0x310) = 0;
    *apic_reg(0x300) = icr_low;
    for (unsigned i = 0; i < 1000000 && (*apic_reg(0x300) & (1u << 12)); i++)
        __asm__ volatile("pause");
}

/* INIT-SIPI-SIPI to all APs (SDM 3A 9.4.4.1), then wait for nlps - 1 of them. */
static void start_aps(uint64_t nlps)
{
    copy((void *)(uintptr_t)TRAMP_ADDR, ap_tramp, (size_t)(ap_tramp_end - ap_tramp));
    *apic_reg(0xF0) = 0x1FF;                                       /* SVR: software-enabled */
    send_ipi(0x000C4500);                                          /* INIT, all excluding self */
    delay(10000000);
    send_ipi(0x000C4600 | (uint32_t)(TRAMP_ADDR >> 12));           /* start-up */
    delay(1000000);
    send_ipi(0x000C4600 | (uint32_t)(TRAMP_ADDR >> 12));
    uint64_t t0 = rdtsc();
    while (aps_arrived < nlps - 1) {
        if (rdtsc() - t0 > 50000000000ull)
            die("application processors did not arrive; arrived:", aps_arrived);
        __asm__ volatile("pause");
    }
}

/* As close to the power-on state of docs/boot-protocol.md as software can
 * bring the local APIC: software-disabled (SVR 0xFF), LVT entries masked,
 * TPR 0, timer stopped, ESR cleared. ICR keeps the last IPI the firmware or
 * the shim sent (writing it would send another). */
static void apic_quiesce(void)
{
    *apic_reg(0x80) = 0;                                           /* TPR */
    *apic_reg(0x380) = 0;                                          /* timer initial count */
    *apic_reg(0x3E0) = 0;                                          /* divide configuration */
    for (uint32_t off = 0x320; off <= 0x370; off += 0x10)
        *apic_reg(off) = 0x10000;                                  /* LVT timer .. error: masked */
    *apic_reg(0xE0) = 0xFFFFFFFF;                                  /* DFR: flat */
    *apic_reg(0xD0) = 0;                                           /* LDR */
    *apic_reg(0x280) = 0;                                          /* ESR: write, then it reads 0 */
    *apic_reg(0x280) = 0;
    *apic_reg(0xF0) = 0xFF;                                        /* SVR: software-disabled */
}

/* Boot-protocol MSRs on this LP, then the jump (shim_entry.S). */
__attribute__((noreturn)) static void enter(unsigned lp)
{
    apic_quiesce();
    wrmsr(0x277, 0x0007040600070406ull);                           /* IA32_PAT: power-on value */
    wrmsr(0x2FF, 0x806);                                           /* IA32_MTRR_DEF_TYPE */
    wrmsr(0xC0000100, 0);                                          /* FS.base */
    wrmsr(0xC0000101, 0);                                          /* GS.base */
    wrmsr(0xC0000102, 0);                                          /* IA32_KERNEL_GS_BASE */
    shim_enter_payload(&entry_state, lp);
}

/* slot: order of arrival, which only chose this AP's shim stack. The LP
 * index is the initial APIC ID (CPUID.01H:EBX[31:24]), as on hvsim, where LP
 * i has APIC ID i; QEMU and Bochs number their CPUs the same way, but the
 * APs arrive in any order. */
void shim_ap_main(uint32_t slot)
{
    (void)slot;
    uint32_t c[4];
    cpuid(1, c);
    uint32_t lp = c[1] >> 24;
    __atomic_add_fetch(&aps_arrived, 1, __ATOMIC_SEQ_CST);
    while (!release)
        __asm__ volatile("pause");
    if (lp == 0 || lp >= entry_state.nlps)                         /* not an LP of lps=: park */
        for (;;)
            __asm__ volatile("cli; hlt");
    enter(lp);
}

void shim_main(uint32_t mbi_addr)
{
    const struct mb_info *mbi = (const void *)(uintptr_t)mbi_addr;
    if (!(mbi->flags & (1u << 3)) || mbi->mods_count < 1)
        die("no Multiboot module: the payload must be module 0; mods_count", mbi->mods_count);
    const struct mb_module *mod = (const void *)(uintptr_t)mbi->mods_addr;
    if (!mod->string)
        die("module 0 has no string (the parameters); module at", mod->start);
    uint64_t nlps, mem;
    const char *cmdline;
    parse_params((const char *)(uintptr_t)mod->string, &nlps, &mem, &cmdline);
    size_t cmdlen = 0;
    while (cmdline && cmdline[cmdlen])
        cmdlen++;

    uint8_t *img = (uint8_t *)(uintptr_t)mod->start;
    uint64_t img_size = mod->end - mod->start;
    struct seg seg[MAX_SEGS];
    uint64_t entry;
    unsigned nseg = read_segments(img, img_size, seg, &entry);
    struct layout l;
    plan(seg, nseg, mem, nlps, cmdlen, cmdline != NULL, &l);

    /* Everything that is about to be written must stay clear of the shim
     * itself, and of the legacy hole (firmware and VGA live there). */
    uint64_t shim_lo = (uint64_t)(uintptr_t)__shim_start, shim_hi = (uint64_t)(uintptr_t)__bss_end;
    uint64_t top = shim_hi;
    for (unsigned i = 0; i < nseg; i++) {
        if (overlaps(seg[i].paddr, seg[i].memsz, shim_lo, shim_hi - shim_lo) ||
            overlaps(seg[i].paddr, seg[i].memsz, LEGACY_HOLE, 0x100000 - LEGACY_HOLE) ||
            overlaps(seg[i].paddr, seg[i].memsz, TRAMP_ADDR, PG))
            die("payload segment overlaps the shim, its trampoline or the legacy hole: p_paddr", seg[i].paddr);
        if (seg[i].paddr + seg[i].memsz > top)
            top = seg[i].paddr + seg[i].memsz;
    }
    if (overlaps(l.base, l.size, shim_lo, shim_hi - shim_lo) ||
        overlaps(l.base, l.size, LEGACY_HOLE, 0x100000 - LEGACY_HOLE))
        die("boot structures would overlap the shim or the legacy hole: base", l.base);
    if (l.base + l.size > top)
        top = l.base + l.size;

    /* The module may sit where a segment or the boot range goes: move it
     * above everything first. */
    int clash = overlaps(mod->start, img_size, l.base, l.size);
    for (unsigned i = 0; i < nseg; i++)
        clash |= overlaps(mod->start, img_size, seg[i].paddr, seg[i].memsz);
    if (clash) {
        uint64_t to = align_up(top, PG);
        if (to + img_size > mem || to + img_size > 4 * GIB)
            die("no room to move the payload file out of the way; size", img_size);
        copy((void *)(uintptr_t)to, img, img_size);
        img = (uint8_t *)(uintptr_t)to;
    }
    for (unsigned i = 0; i < nseg; i++) {
        copy((void *)(uintptr_t)seg[i].paddr, img + seg[i].offset, seg[i].filesz);
        fill((void *)(uintptr_t)(seg[i].paddr + seg[i].filesz), 0, seg[i].memsz - seg[i].filesz);
    }
    build(&l, seg, nseg, mem, nlps, cmdline, cmdlen);
    entry_state = (struct shim_entry){ entry, l.pml4, l.gdt, l.info, l.stacks, STACK_SIZE, nlps };
    if (nlps > 1)
        start_aps(nlps);
    /* Mask both 8259s: on Bochs the master's output reaches the BSP's INTR
     * whatever LVT LINT0 says, and the BIOS left IRQ0 (the PIT, vector 8)
     * unmasked. hvsim never raises a PIC interrupt (docs/multiboot.md). */
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
    __atomic_store_n(&release, 1, __ATOMIC_SEQ_CST);
    enter(0);
}
