/*
 * fw_cfg.h — QEMU's firmware configuration device, traditional I/O
 * interface only (QEMU docs/specs/fw_cfg.rst; hw/nvram/fw_cfg.c): a 16-bit
 * selector at port 0x510 and a byte-wide data port at 0x511 whose offset
 * advances with each read. The items are fixed at machine creation from the
 * machine's configuration, so the device is deterministic. No DMA interface
 * (FW_CFG_ID bit 1 clear) and no files (an empty FW_CFG_FILE_DIR).
 */
#ifndef HVSIM_SIM_FW_CFG_H
#define HVSIM_SIM_FW_CFG_H

#include <stdbool.h>
#include <stdint.h>

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511

/* Selector keys (fw_cfg.rst "Firmware Configuration Items"; QEMU's
 * include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_ID         0x0001
#define FW_CFG_RAM_SIZE   0x0003
#define FW_CFG_NB_CPUS    0x0005
#define FW_CFG_MAX_CPUS   0x000F
#define FW_CFG_FILE_DIR   0x0019
#define FW_CFG_WRITE_CHANNEL 0x4000   /* selector bit 14: write mode (writes are ignored anyway) */
#define FW_CFG_ARCH_LOCAL    0x8000   /* selector bit 15: architecture-specific item */
#define FW_CFG_ENTRY_MASK    0x3FFF

#define FW_CFG_ITEM_MAX   8           /* bytes of the longest item hvsim provides */

/* Invariant: offset <= len; data[0..len) is the selected item's contents
 * (len 0 for an absent item: every read returns 0). */
struct fw_cfg {
    uint64_t ram_size;
    uint16_t nb_cpus;
    uint16_t selector;                /* last selector written */
    uint32_t offset;                  /* data offset in the selected item */
    uint32_t len;                     /* the selected item's length */
    uint8_t data[FW_CFG_ITEM_MAX];
};

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, unsigned nb_cpus);
/* A selector write: selects the item and sets the offset to 0. */
void fw_cfg_select(struct fw_cfg *f, uint16_t key);
/* A data read: the byte at the offset, which then advances; 0 past the end. */
uint8_t fw_cfg_read(struct fw_cfg *f);
/* The name of the item a key selects (for messages and docs); NULL if absent. */
const char *fw_cfg_item_name(uint16_t key);

#endif
