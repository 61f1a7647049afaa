/*
 * boot.c — the ELF64 boot protocol (docs/boot-protocol.md). Pure set-up
 * work on guest RAM and on the CPU's state before the first instruction.
 */
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "boot_protocol.h"

#define PG 4096ull
#define GIB (1ull << 30)

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

struct range { uint64_t base, len; uint32_t type; };

static void sort_ranges(struct range *r, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && r[j].base < r[j - 1].base; j--) {
            struct range t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
}

bool boot_prepare(physmem_t *m, const struct elf_image *img, const uint8_t *file, size_t file_size,
                  const struct boot_params *p, struct boot_layout *out, char *msg, size_t n)
{
    uint64_t mem = pmem_size(m);
    memset(out, 0, sizeof(*out));
    out->entry = img->entry;

    /* Identity map [0, max(4 GiB, RAM)) in 2-MiB pages. */
    uint64_t limit = align_up(mem > 4 * GIB ? mem : 4 * GIB, GIB);
    uint64_t npd = limit / GIB, npdpt = align_up(npd, 512) / 512;
    size_t cmdlen = p->cmdline ? strlen(p->cmdline) : 0;
    if (cmdlen > 65536) {
        snprintf(msg, n, "command line is %zu bytes (at most 65536)", cmdlen);
        return false;
    }
    uint64_t cmd_pages = p->cmdline ? align_up(cmdlen + 1, PG) / PG : 0;
    uint64_t tables = 1 + npdpt + npd;
    uint64_t size = (tables + 2 + cmd_pages) * PG + (uint64_t)p->nlps * BOOT_STACK_SIZE;

    /* Lowest place at or above 64 KiB, below 4 GiB, clear of every segment. */
    uint64_t base = 0x10000;
    for (bool moved = true; moved;) {
        moved = false;
        for (unsigned i = 0; i < img->nseg; i++) {
            const struct elf_segment *s = &img->seg[i];
            if (overlaps(base, size, s->paddr, s->memsz)) {
                base = align_up(s->paddr + s->memsz, PG);
                moved = true;
            }
        }
    }
    if (base + size > mem || base + size > 4 * GIB) {
        snprintf(msg, n, "no room for hvsim's boot structures (%llu KiB) in the first 4 GiB of RAM outside "
                 "the payload's segments", (unsigned long long)(size >> 10));
        return false;
    }

    /* Load the segments (the memfd starts zeroed; .bss is cleared anyway). */
    for (unsigned i = 0; i < img->nseg; i++) {
        const struct elf_segment *s = &img->seg[i];
        uint8_t *dst = pmem_host(m, s->paddr, s->memsz);
        if (!dst || s->offset + s->filesz > file_size) {
            snprintf(msg, n, "segment at physical %#llx cannot be loaded", (unsigned long long)s->paddr);
            return false;
        }
        memcpy(dst, file + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }

    out->base = base;
    out->size = size;
    out->identity_limit = limit;
    out->pml4 = base;
    uint64_t pdpt = base + PG, pd = pdpt + npdpt * PG;
    out->gdt = pd + npd * PG;
    out->info = out->gdt + PG;
    uint64_t cmd = out->info + PG;
    out->stacks = cmd + cmd_pages * PG;
    uint8_t *zero = pmem_host(m, base, size);
    memset(zero, 0, size);

    /* Page tables (SDM 3A 4.5): P | R/W, supervisor, executable; PS in PDEs. */
    uint64_t *pml4 = (uint64_t *)pmem_host(m, out->pml4, PG);
    for (uint64_t i = 0; i < npdpt; i++)
        pml4[i] = (pdpt + i * PG) | 0x3;
    uint64_t *pdpte = (uint64_t *)pmem_host(m, pdpt, npdpt * PG);
    for (uint64_t i = 0; i < npd; i++)
        pdpte[i] = (pd + i * PG) | 0x3;
    uint64_t *pde = (uint64_t *)pmem_host(m, pd, npd * PG);
    for (uint64_t i = 0; i < npd * 512; i++)
        pde[i] = (i << 21) | 0x83;

    /* GDT: null, 0x08 64-bit code, 0x10 data (SDM 3A 3.4.5). */
    uint64_t *gdt = (uint64_t *)pmem_host(m, out->gdt, 24);
    gdt[0] = 0;
    gdt[1] = 0x00AF9B000000FFFFull;
    gdt[2] = 0x00CF93000000FFFFull;

    /* Command line. */
    if (p->cmdline)
        memcpy(pmem_host(m, cmd, cmdlen + 1), p->cmdline, cmdlen + 1);

    /* Memory map: image and boot ranges, and usable RAM between them. */
    struct range res[ELF_MAX_SEGMENTS + 1];
    unsigned nres = 0;
    for (unsigned i = 0; i < img->nseg; i++)
        res[nres++] = (struct range){ img->seg[i].paddr, img->seg[i].memsz, HVSIM_MEM_IMAGE };
    res[nres++] = (struct range){ base, size, HVSIM_MEM_BOOT };
    sort_ranges(res, nres);
    struct hvsim_boot_info *bi = (struct hvsim_boot_info *)pmem_host(m, out->info, PG);
    unsigned cnt = 0, max = (PG - sizeof(*bi)) / sizeof(struct hvsim_mmap_entry);
    uint64_t at = 0;
    for (unsigned i = 0; i <= nres && cnt < max; i++) {
        uint64_t next = i < nres ? res[i].base : mem;
        if (next > at && cnt < max)
            bi->mmap[cnt++] = (struct hvsim_mmap_entry){ at, next - at, HVSIM_MEM_USABLE, 0 };
        if (i < nres && cnt < max) {
            bi->mmap[cnt++] = (struct hvsim_mmap_entry){ res[i].base, res[i].len, res[i].type, 0 };
            at = res[i].base + res[i].len;
        }
    }
    bi->magic = HVSIM_BOOT_MAGIC;
    bi->version = HVSIM_BOOT_VERSION;
    bi->size = (uint32_t)(sizeof(*bi) + cnt * sizeof(struct hvsim_mmap_entry));
    bi->lp_count = p->nlps;
    bi->mem_size = mem;
    bi->cmdline = p->cmdline ? cmd : 0;
    bi->cmdline_len = (uint32_t)cmdlen;
    bi->mmap_count = cnt;
    bi->boot_base = base;
    bi->boot_size = size;
    bi->tsc_hz = p->tsc_hz;
    bi->stack_size = BOOT_STACK_SIZE;
    bi->stacks = out->stacks;
    bi->identity_limit = limit;
    return true;
}

void boot_cpu_state(cpu_t *cpu, const struct boot_layout *l, unsigned lp, unsigned nlps)
{
    for (int r = CPU_RAX; r <= CPU_R15; r++)
        cpu_set(cpu, r, 0);
    cpu_set(cpu, CPU_RDI, l->info);
    cpu_set(cpu, CPU_RSI, lp);
    cpu_set(cpu, CPU_RDX, nlps);
    cpu_set(cpu, CPU_RSP, l->stacks + (uint64_t)(lp + 1) * BOOT_STACK_SIZE);
    cpu_set(cpu, CPU_RIP, l->entry);
    cpu_set(cpu, CPU_RFLAGS, 0x2);
    cpu_set(cpu, CPU_CR0, 0x80010033);           /* PE MP ET NE WP PG */
    cpu_set(cpu, CPU_CR3, l->pml4);
    cpu_set(cpu, CPU_CR4, 0x620);                /* PAE OSFXSR OSXMMEXCPT */
    cpu_msr_write(cpu, 0xC0000080, 0xD00);       /* EFER: LME LMA NXE */
    struct cpu_seg code = { BOOT_SEL_CODE64, 0, 0xFFFFFFFF,
                            0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G };
    struct cpu_seg data = { BOOT_SEL_DATA, 0, 0xFFFFFFFF,
                            0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    struct cpu_seg none = { 0, 0, 0, SEG_ATTR_UNUSABLE };
    cpu_set_seg(cpu, CPU_CS, &code);
    cpu_set_seg(cpu, CPU_SS, &data);
    cpu_set_seg(cpu, CPU_DS, &data);
    cpu_set_seg(cpu, CPU_ES, &data);
    cpu_set_seg(cpu, CPU_FS, &data);
    cpu_set_seg(cpu, CPU_GS, &data);
    cpu_set_seg(cpu, CPU_LDTR, &none);
    cpu_set_seg(cpu, CPU_TR, &none);
    struct cpu_dtr gdtr = { l->gdt, 23 }, idtr = { 0, 0 };
    cpu_set_dtr(cpu, false, &gdtr);
    cpu_set_dtr(cpu, true, &idtr);
    cpu_msr_write(cpu, 0x2FF, 0x806);            /* MTRR default type: enabled, write-back */
    cpu_commit_state(cpu);
}
