/*
 * elf.c — ELF64 parsing (System V gABI; x86-64 psABI for EM_X86_64).
 * Only what the boot protocol needs: ET_EXEC, little-endian, PT_LOAD
 * segments placed at their physical addresses, entry inside one of them.
 */
#include <stdio.h>
#include <string.h>

#include "elf.h"

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PF_X 1

static uint64_t rd(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool elf_fits(uint64_t a, uint64_t b, uint64_t limit)
{
    return a <= limit && b <= limit - a;
}

bool elf_add_segment(struct elf_image *img, unsigned i, const struct elf_segment *sp, size_t file_size,
                     uint64_t mem_size, uint64_t phys_limit, char *msg, size_t n)
{
    struct elf_segment s = *sp;
    if (s.filesz > s.memsz) {
        snprintf(msg, n, "segment %u: p_filesz %#llx exceeds p_memsz %#llx", i,
                 (unsigned long long)s.filesz, (unsigned long long)s.memsz);
        return false;
    }
    if (s.memsz == 0)
        return true;
    if (img->nseg == ELF_MAX_SEGMENTS) {
        snprintf(msg, n, "more than %d PT_LOAD segments", ELF_MAX_SEGMENTS);
        return false;
    }
    if (!elf_fits(s.offset, s.filesz, file_size)) {
        snprintf(msg, n, "segment %u: file bytes [%#llx, +%#llx) extend past the end of the file (%zu bytes)",
                 i, (unsigned long long)s.offset, (unsigned long long)s.filesz, file_size);
        return false;
    }
    if (phys_limit && !elf_fits(s.paddr, s.memsz, phys_limit)) {
        snprintf(msg, n, "segment %u: physical range [%#llx, +%#llx) extends past %llu GiB", i,
                 (unsigned long long)s.paddr, (unsigned long long)s.memsz, (unsigned long long)(phys_limit >> 30));
        return false;
    }
    if (!elf_fits(s.paddr, s.memsz, mem_size)) {
        snprintf(msg, n, "segment %u: physical range [%#llx, +%#llx) is outside the machine's %llu MiB "
                 "of RAM", i, (unsigned long long)s.paddr, (unsigned long long)s.memsz,
                 (unsigned long long)(mem_size >> 20));
        return false;
    }
    for (unsigned j = 0; j < img->nseg; j++) {
        const struct elf_segment *o = &img->seg[j];
        if (s.paddr < o->paddr + o->memsz && o->paddr < s.paddr + s.memsz) {
            snprintf(msg, n, "segment %u: physical range [%#llx, +%#llx) overlaps another segment", i,
                     (unsigned long long)s.paddr, (unsigned long long)s.memsz);
            return false;
        }
    }
    img->seg[img->nseg++] = s;
    return true;
}

bool elf_parse(const uint8_t *d, size_t size, uint64_t mem_size, struct elf_image *img, char *msg, size_t n)
{
    memset(img, 0, sizeof(*img));
    if (size < 64) {
        snprintf(msg, n, "file is %zu bytes, too short for an ELF header (64)", size);
        return false;
    }
    if (memcmp(d, "\x7f" "ELF", 4) != 0) {
        snprintf(msg, n, "not an ELF file (bad magic)");
        return false;
    }
    if (d[EI_CLASS] != ELFCLASS64) {
        snprintf(msg, n, "e_ident[EI_CLASS] is %u: not a 64-bit ELF (hvsim boots ELF64; boot 32-bit "
                 "Multiboot kernels with --multiboot)", d[EI_CLASS]);
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
    unsigned type = (unsigned)rd(d + 16, 2), machine = (unsigned)rd(d + 18, 2);
    if (type == ET_DYN) {
        snprintf(msg, n, "e_type is ET_DYN (position-independent): link the payload at a fixed "
                 "address (-static -no-pie)");
        return false;
    }
    if (type != ET_EXEC) {
        snprintf(msg, n, "e_type is %u, expected ET_EXEC (2)", type);
        return false;
    }
    if (machine != EM_X86_64) {
        snprintf(msg, n, "e_machine is %u, expected EM_X86_64 (62)", machine);
        return false;
    }
    img->entry = rd(d + 24, 8);
    uint64_t phoff = rd(d + 32, 8);
    unsigned phentsize = (unsigned)rd(d + 54, 2), phnum = (unsigned)rd(d + 56, 2);
    if (phnum == 0) {
        snprintf(msg, n, "no program headers (e_phnum = 0)");
        return false;
    }
    if (phentsize != 56) {
        snprintf(msg, n, "e_phentsize is %u, expected 56", phentsize);
        return false;
    }
    if (!elf_fits(phoff, (uint64_t)phnum * 56, size)) {
        snprintf(msg, n, "program headers (e_phoff %#llx, %u entries) extend past the end of the file",
                 (unsigned long long)phoff, phnum);
        return false;
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = d + phoff + (uint64_t)i * 56;
        uint32_t pt = (uint32_t)rd(ph, 4);
        if (pt == PT_INTERP || pt == PT_DYNAMIC) {
            snprintf(msg, n, "program header %u is %s: dynamically linked images are not supported",
                     i, pt == PT_INTERP ? "PT_INTERP" : "PT_DYNAMIC");
            return false;
        }
        if (pt != PT_LOAD)
            continue;
        struct elf_segment s = {
            .flags = (uint32_t)rd(ph + 4, 4), .offset = rd(ph + 8, 8), .vaddr = rd(ph + 16, 8),
            .paddr = rd(ph + 24, 8), .filesz = rd(ph + 32, 8), .memsz = rd(ph + 40, 8),
        };
        if (!elf_add_segment(img, i, &s, size, mem_size, 0, msg, n))
            return false;
    }
    if (img->nseg == 0) {
        snprintf(msg, n, "no PT_LOAD segment with contents");
        return false;
    }
    for (unsigned j = 0; j < img->nseg; j++) {
        const struct elf_segment *s = &img->seg[j];
        if ((s->flags & PF_X) && img->entry >= s->paddr && img->entry - s->paddr < s->memsz)
            return true;
    }
    snprintf(msg, n, "entry point e_entry %#llx is not inside an executable PT_LOAD segment (the entry is "
             "reached through the identity map, so it is a physical address)", (unsigned long long)img->entry);
    return false;
}
