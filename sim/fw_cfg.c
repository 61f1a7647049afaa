/*
 * fw_cfg.c — the items of hvsim's fw_cfg device (fw_cfg.h). Called from the
 * machine's port dispatch; the contents depend only on the machine's
 * configuration (RAM size, logical processors).
 */
#include <assert.h>
#include <string.h>

#include "fw_cfg.h"

static unsigned put_le(uint8_t *b, uint64_t v, unsigned w)
{
    for (unsigned i = 0; i < w; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return w;
}

static unsigned item_signature(const struct fw_cfg *f, uint8_t *b) { (void)f; memcpy(b, "QEMU", 4); return 4; }
static unsigned item_id(const struct fw_cfg *f, uint8_t *b) { (void)f; return put_le(b, 1, 4); }  /* bit 0 only: no DMA */
static unsigned item_ram_size(const struct fw_cfg *f, uint8_t *b) { return put_le(b, f->ram_size, 8); }
static unsigned item_nb_cpus(const struct fw_cfg *f, uint8_t *b) { return put_le(b, f->nb_cpus, 2); }
static unsigned item_file_dir(const struct fw_cfg *f, uint8_t *b)
{
    (void)f;
    memset(b, 0, 4);                /* struct FWCfgFiles: be32 count = 0, no entries */
    return 4;
}

/* The generic items hvsim provides (selector bit 15 clear); formats as QEMU
 * writes them (fw_cfg_add_i16/i32/i64: little-endian; the directory count is
 * big-endian). FW_CFG_MAX_CPUS equals FW_CFG_NB_CPUS: no hot-plug. */
static const struct item {
    uint16_t key;
    const char *name;
    unsigned (*fill)(const struct fw_cfg *f, uint8_t *b);
} items[] = {
    { FW_CFG_SIGNATURE, "FW_CFG_SIGNATURE", item_signature },
    { FW_CFG_ID,        "FW_CFG_ID",        item_id },
    { FW_CFG_RAM_SIZE,  "FW_CFG_RAM_SIZE",  item_ram_size },
    { FW_CFG_NB_CPUS,   "FW_CFG_NB_CPUS",   item_nb_cpus },
    { FW_CFG_MAX_CPUS,  "FW_CFG_MAX_CPUS",  item_nb_cpus },
    { FW_CFG_FILE_DIR,  "FW_CFG_FILE_DIR",  item_file_dir },
};

static const struct item *find(uint16_t key)
{
    if (key & FW_CFG_ARCH_LOCAL)
        return NULL;                /* no x86-specific items (ACPI, SMBIOS, e820, ...) */
    for (unsigned i = 0; i < sizeof(items) / sizeof(items[0]); i++)
        if (items[i].key == (key & FW_CFG_ENTRY_MASK))
            return &items[i];
    return NULL;
}

const char *fw_cfg_item_name(uint16_t key)
{
    const struct item *it = find(key);
    return it ? it->name : NULL;
}

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, unsigned nb_cpus)
{
    memset(f, 0, sizeof(*f));
    f->ram_size = ram_size;
    f->nb_cpus = (uint16_t)nb_cpus;
    fw_cfg_select(f, FW_CFG_SIGNATURE);
}

/* fw_cfg.rst "Selector (Control) Register": the offset returns to 0. Bit 14
 * (write channel) does not change what reads return (QEMU's fw_cfg_read
 * indexes by key & FW_CFG_ENTRY_MASK); keys naming no item read as 0
 * (fw_cfg_select makes them FW_CFG_INVALID, fw_cfg_read returns 0). */
void fw_cfg_select(struct fw_cfg *f, uint16_t key)
{
    const struct item *it = find(key);
    f->selector = key;
    f->offset = 0;
    f->len = it ? it->fill(f, f->data) : 0;
    assert(f->len <= FW_CFG_ITEM_MAX);
}

/* fw_cfg.rst "Data Register": each read returns the next byte; past the
 * item's end reads return 0 (and the offset stays). */
uint8_t fw_cfg_read(struct fw_cfg *f)
{
    assert(f->offset <= f->len);
    if (f->offset >= f->len)
        return 0;
    return f->data[f->offset++];
}
