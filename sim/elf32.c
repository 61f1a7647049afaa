/*
 * elf32.c — ELF32 i386 executables for the Multiboot loader (System V gABI
 * "ELF Header" and "Program Header", i386 psABI: EM_386 = 3). Only what
 * Multiboot needs (MB 3.1.1: a kernel without the address fields is an ELF
 * executable): ET_EXEC, little-endian, PT_LOAD segments placed at their
 * physical addresses, an entry point inside an executable segment. Nothing
 * in the file is trusted; every refusal names the field.
 */
#include <stdio.h>
#include <string.h>

#include "elf.h"

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS32 1
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_386 3
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PF_X 1
#define EHDR32_SIZE 52
#define PHDR32_SIZE 32

static uint32_t rd(const uint8_t *p, unsigned w)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}


static bool inside(uint64_t v, uint64_t base, uint64_t len) { return v >= base && v - base < len; }

bool elf32_parse(const uint8_t *d, size_t size, uint64_t mem_size, struct elf_image *img, char *msg, size_t n)
{
    memset(img, 0, sizeof(*img));
    if (size < EHDR32_SIZE) {
        snprintf(msg, n, "file is %zu bytes, too short for an ELF32 header (%d)", size, EHDR32_SIZE);
        return false;
    }
    if (memcmp(d, "\x7f" "ELF", 4) != 0) {
        snprintf(msg, n, "not an ELF file (bad magic)");
        return false;
    }
    if (d[EI_CLASS] != ELFCLASS32) {
        snprintf(msg, n, "e_ident[EI_CLASS] is %u: not a 32-bit ELF", d[EI_CLASS]);
        return false;
    }
    if (d[EI_DATA] != ELFDATA2LSB) {
        snprintf(msg, n, "e_ident[EI_DATA] is %u: not little-endian", d[EI_DATA]);
        return false;
    }
    if (d[EI_VERSION] != 1) {
        snprintf(msg, n, "e_ident[EI_VERSION] is %u, expected 1", d[EI_VERSION]);
        return false;
    }
    unsigned type = rd(d + 16, 2), machine = rd(d + 18, 2);
    if (type == ET_DYN) {
        snprintf(msg, n, "e_type is ET_DYN (position-independent): link the kernel at a fixed address");
        return false;
    }
    if (type != ET_EXEC) {
        snprintf(msg, n, "e_type is %u, expected ET_EXEC (2)", type);
        return false;
    }
    if (machine != EM_386) {
        snprintf(msg, n, "e_machine is %u, expected EM_386 (3)", machine);
        return false;
    }
    uint32_t e_entry = rd(d + 24, 4), phoff = rd(d + 28, 4);
    unsigned phentsize = rd(d + 42, 2), phnum = rd(d + 44, 2);
    if (phnum == 0) {
        snprintf(msg, n, "no program headers (e_phnum = 0)");
        return false;
    }
    if (phentsize != PHDR32_SIZE) {
        snprintf(msg, n, "e_phentsize is %u, expected %d", phentsize, PHDR32_SIZE);
        return false;
    }
    if (!elf_fits(phoff, (uint64_t)phnum * PHDR32_SIZE, size)) {
        snprintf(msg, n, "program headers (e_phoff %#x, %u entries) extend past the end of the file", phoff, phnum);
        return false;
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = d + phoff + (uint64_t)i * PHDR32_SIZE;
        uint32_t pt = rd(ph, 4);
        if (pt == PT_INTERP || pt == PT_DYNAMIC) {
            snprintf(msg, n, "program header %u is %s: dynamically linked images are not supported",
                     i, pt == PT_INTERP ? "PT_INTERP" : "PT_DYNAMIC");
            return false;
        }
        if (pt != PT_LOAD)
            continue;
        /* Elf32_Phdr: type, offset, vaddr, paddr, filesz, memsz, flags, align */
        struct elf_segment s = {
            .offset = rd(ph + 4, 4), .vaddr = rd(ph + 8, 4), .paddr = rd(ph + 12, 4),
            .filesz = rd(ph + 16, 4), .memsz = rd(ph + 20, 4), .flags = rd(ph + 24, 4),
        };
        if (!elf_add_segment(img, i, &s, size, mem_size, 1ull << 32, msg, n))
            return false;
    }
    if (img->nseg == 0) {
        snprintf(msg, n, "no PT_LOAD segment with contents");
        return false;
    }
    /* The entry point. GRUB 2 translates an e_entry inside a segment's
     * virtual range to the physical address it was loaded at; GRUB Legacy
     * and QEMU jump to e_entry as it is, which works when it already is a
     * physical address. hvsim does the first when it applies, else the
     * second (docs/multiboot.md "ELF kernels"). */
    for (unsigned j = 0; j < img->nseg; j++) {
        const struct elf_segment *s = &img->seg[j];
        if (inside(e_entry, s->vaddr, s->memsz)) {
            if (!(s->flags & PF_X))
                break;
            img->entry = e_entry - s->vaddr + s->paddr;
            return true;
        }
    }
    for (unsigned j = 0; j < img->nseg; j++) {
        const struct elf_segment *s = &img->seg[j];
        if ((s->flags & PF_X) && inside(e_entry, s->paddr, s->memsz)) {
            img->entry = e_entry;
            return true;
        }
    }
    snprintf(msg, n, "entry point e_entry %#x is not inside an executable PT_LOAD segment (by virtual or by "
             "physical address)", e_entry);
    return false;
}
