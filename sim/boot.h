/*
 * boot.h — hvsim's boot protocol v1 for ELF64 payloads (docs/boot-protocol.md):
 * loads the segments, builds identity page tables, a GDT, the boot
 * information block and per-LP stacks where the image is not, and puts each
 * logical processor in the documented 64-bit entry state.
 */
#ifndef HVSIM_SIM_BOOT_H
#define HVSIM_SIM_BOOT_H

#include "cpu.h"
#include "elf.h"
#include "physmem.h"

#define BOOT_STACK_SIZE (64u * 1024)
#define BOOT_SEL_CODE64 0x08
#define BOOT_SEL_DATA   0x10

struct boot_params {
    unsigned nlps;
    const char *cmdline;        /* may be NULL */
    uint64_t tsc_hz;
};

struct boot_layout {
    uint64_t base, size;        /* the whole boot region */
    uint64_t pml4;
    uint64_t gdt;
    uint64_t info;
    uint64_t stacks;
    uint64_t identity_limit;
    uint64_t entry;
};

/* Copy the image into RAM and build the boot structures. */
bool boot_prepare(physmem_t *m, const struct elf_image *img, const uint8_t *file, size_t file_size,
                  const struct boot_params *p, struct boot_layout *out, char *msg, size_t msglen)
    __attribute__((warn_unused_result));
/* Put logical processor `lp` in the entry state. */
void boot_cpu_state(cpu_t *cpu, const struct boot_layout *l, unsigned lp, unsigned nlps);

#endif
