/*
 * elf.h — ELF64 x86-64 executable parsing for `hvsim run` (the PT_LOAD
 * segments and the entry point). Every malformed file gets a message that
 * names the field at fault; nothing in the file is trusted.
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
bool elf_parse(const uint8_t *data, size_t size, uint64_t mem_size, struct elf_image *img,
               char *msg, size_t msglen) __attribute__((warn_unused_result));

#endif
