/*
 * elf.h — ELF executable parsing: ELF64 x86-64 for `hvsim run` (elf.c) and
 * ELF32 i386 for Multiboot kernels (elf32.c): the PT_LOAD segments and the
 * entry point. Every malformed file gets a message that names the field at
 * fault; nothing in the file is trusted.
 */
#ifndef HVSIM_SIM_ELF_H
#define HVSIM_SIM_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_SEGMENTS 32

struct elf_segment {
    uint64_t paddr, vaddr;
    uint64_t offset;            /* in the file */
    uint64_t filesz, memsz;
    uint32_t flags;             /* PF_X 1, PF_W 2, PF_R 4 */
};

struct elf_image {
    uint64_t entry;
    unsigned nseg;
    struct elf_segment seg[ELF_MAX_SEGMENTS];
};

/* Parse and check an image of `size` bytes. On failure returns false with a
 * one-line reason in msg (without the file name). */
/* a + b <= limit, without overflow */
bool elf_fits(uint64_t a, uint64_t b, uint64_t limit);
/* Check one PT_LOAD segment (index i, for messages) against the file size,
 * phys_limit (0: none) and RAM, and the segments img already holds, then
 * append it; a segment with p_memsz 0 is skipped. Shared by the ELF64 and
 * ELF32 parsers. */
bool elf_add_segment(struct elf_image *img, unsigned i, const struct elf_segment *s, size_t file_size,
                     uint64_t mem_size, uint64_t phys_limit, char *msg, size_t n);
bool elf_parse(const uint8_t *data, size_t size, uint64_t mem_size, struct elf_image *img,
               char *msg, size_t msglen) __attribute__((warn_unused_result));

/* The same for an ELF32 EM_386 executable (every address below 4 GiB).
 * img->entry is the physical entry point: e_entry translated through the
 * executable segment whose virtual range holds it, else e_entry itself if
 * an executable segment's physical range holds it (docs/multiboot.md). */
bool elf32_parse(const uint8_t *data, size_t size, uint64_t mem_size, struct elf_image *img,
                 char *msg, size_t msglen) __attribute__((warn_unused_result));

#endif
