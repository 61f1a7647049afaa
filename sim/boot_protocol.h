/*
 * boot_protocol.h — the boot information block hvsim hands to an ELF64
 * payload (docs/boot-protocol.md, version 1). Shared by the simulator and by
 * freestanding payloads: plain C, fixed-width types, no host headers beyond
 * <stdint.h>.
 *
 * At entry: RDI = physical (= linear) address of struct hvsim_boot_info,
 * RSI = logical-processor index, RDX = number of logical processors.
 */
#ifndef HVSIM_BOOT_PROTOCOL_H
#define HVSIM_BOOT_PROTOCOL_H

#include <stdint.h>

#define HVSIM_BOOT_MAGIC    0x544F4F424D535648ull   /* "HVSMBOOT" */
#define HVSIM_BOOT_VERSION  1

/* Memory-map entry types. */
#define HVSIM_MEM_USABLE    1u        /* RAM the payload may use freely */
#define HVSIM_MEM_BOOT      0x10000u  /* page tables, GDT, this block, stacks */
#define HVSIM_MEM_IMAGE     0x10001u  /* the payload's loaded segments */

struct hvsim_mmap_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
    uint32_t reserved;
};

struct hvsim_boot_info {
    uint64_t magic;             /*   0: HVSIM_BOOT_MAGIC */
    uint32_t version;           /*   8: HVSIM_BOOT_VERSION */
    uint32_t size;              /*  12: bytes, including the memory map */
    uint32_t lp_count;          /*  16 */
    uint32_t reserved0;         /*  20 */
    uint64_t mem_size;          /*  24: bytes of RAM from physical 0 */
    uint64_t cmdline;           /*  32: physical address of a NUL-terminated string, 0 if none */
    uint32_t cmdline_len;       /*  40: without the NUL */
    uint32_t mmap_count;        /*  44 */
    uint64_t boot_base;         /*  48: start of hvsim's boot structures */
    uint64_t boot_size;         /*  56 */
    uint64_t tsc_hz;            /*  64: virtual TSC frequency */
    uint64_t stack_size;        /*  72: per logical processor */
    uint64_t stacks;            /*  80: LP i's stack top is stacks + (i + 1) * stack_size */
    uint64_t identity_limit;    /*  88: [0, identity_limit) is identity-mapped at entry */
    uint64_t reserved1[4];      /*  96 */
    struct hvsim_mmap_entry mmap[]; /* 128: sorted by base, non-overlapping */
};

_Static_assert(sizeof(struct hvsim_boot_info) == 128, "boot info header is 128 bytes");
_Static_assert(sizeof(struct hvsim_mmap_entry) == 24, "memory-map entry is 24 bytes");

#endif
