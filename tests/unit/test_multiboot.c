/*
 * test_multiboot.c — the Multiboot v1 loader (sim/multiboot_header.c,
 * sim/multiboot.c, sim/elf32.c; docs/multiboot.md) against the Multiboot
 * Specification 0.6.96 ("MB"): the header search and flags (MB 3.1.1,
 * 3.1.2), the address fields of the a.out kludge (MB 3.1.3), ELF32 loading,
 * the information structure with its memory map and modules (MB 3.3), and
 * the recorded machine state at entry (MB 3.2). Kernels are built here as
 * byte arrays. The last test case drives machine_load_multiboot with files,
 * checks the state through the cpu.h accessors, and boots one small kernel
 * to its end (32-bit protected mode, cpu/engmode.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "machine.h"
#include "multiboot.h"
#include "physmem.h"

#define MEM_SIZE   (64ull << 20)
#define PT_LOAD 1
#define PT_NOTE 4
#define PF_X 1
#define PF_W 2
#define PF_R 4

static void w16(uint8_t *p, uint64_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint64_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void release_pm(void *p) { pmem_destroy(p); }

static physmem_t *new_pm(uint64_t size)
{
    physmem_t *m = NULL;
    ck_assert_int_eq(pmem_create(size, &m), PMEM_OK);
    return harness_own(release_pm, m);
}

/* ---- kernels as byte arrays ---- */

/* The Multiboot header: magic, flags, checksum and (flag 16) the address
 * fields, at `off` (MB 3.1.1). */
struct mbh {
    uint32_t off, flags;
    uint32_t header_addr, load_addr, load_end, bss_end, entry;
    int32_t checksum_delta;              /* != 0: a bad checksum */
};

static void put_header(uint8_t *b, size_t alloc, const struct mbh *h)
{
    if (h->off + 32 > alloc)
        return;
    uint8_t *p = b + h->off;
    w32(p, MB_HEADER_MAGIC);
    w32(p + 4, h->flags);
    w32(p + 8, (uint32_t)(0u - MB_HEADER_MAGIC - h->flags) + (uint32_t)h->checksum_delta);
    w32(p + 12, h->header_addr);
    w32(p + 16, h->load_addr);
    w32(p + 20, h->load_end);
    w32(p + 24, h->bss_end);
    w32(p + 28, h->entry);
}

/* An ELF32 EM_386 kernel: ELF header, program headers at 52, the Multiboot
 * header at the start of .text (offset 0x1000). The default is a higher-half
 * kernel: .text virtual 0xC0100000 at physical 0x100000, .data + .bss at
 * 0x101000 (0x800 bytes from the file, 0x3000 in memory), e_entry virtual. */
struct ph32 { uint32_t type, offset, vaddr, paddr, filesz, memsz, flags; };
struct k32 {
    uint8_t cls, data, ver;
    uint16_t type, machine, phentsize;
    uint32_t entry, phoff;
    unsigned phnum, nph;
    struct ph32 ph[8];
    size_t size;
    struct mbh h;
};

#define K_TEXT_PA   0x100000u
#define K_TEXT_VA   0xC0100000u
#define K_DATA_PA   0x101000u
#define K_END       0x104000u          /* end of .bss */

static struct k32 elf_kernel(void)
{
    struct k32 k = {
        .cls = 1, .data = 1, .ver = 1, .type = 2, .machine = 3, .phentsize = 32,
        .entry = K_TEXT_VA + 0x20, .phoff = 52, .phnum = 3, .nph = 3, .size = 0x3000,
        .h = { .off = 0x1000, .flags = MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO },
    };
    k.ph[0] = (struct ph32){ PT_LOAD, 0x1000, K_TEXT_VA, K_TEXT_PA, 0x1000, 0x1000, PF_R | PF_X };
    k.ph[1] = (struct ph32){ PT_NOTE, 0x200, 0, 0, 0x10, 0x10, PF_R };
    k.ph[2] = (struct ph32){ PT_LOAD, 0x2000, K_TEXT_VA + 0x1000, K_DATA_PA, 0x800, 0x3000, PF_R | PF_W };
    return k;
}

/* Serialized kernel, owned by the test; at least 16 KiB allocated so that
 * shorter files can be described. */
static uint8_t *emit_elf(const struct k32 *k)
{
    size_t alloc = k->size < 0x4000 ? 0x4000 : k->size;
    uint8_t *b = calloc(1, alloc);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    for (size_t i = 0x1000; i < alloc; i++)
        b[i] = (uint8_t)(i * 7 + 1);                 /* recognisable contents */
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = k->cls;
    b[5] = k->data;
    b[6] = k->ver;
    w16(b + 16, k->type);
    w16(b + 18, k->machine);
    w32(b + 20, 1);
    w32(b + 24, k->entry);
    w32(b + 28, k->phoff);
    w16(b + 40, 52);
    w16(b + 42, k->phentsize);
    w16(b + 44, k->phnum);
    for (unsigned i = 0; i < k->nph; i++) {
        uint64_t o = k->phoff + 32ull * i;
        if (o + 32 > alloc)
            break;
        uint8_t *p = b + o;
        w32(p, k->ph[i].type);
        w32(p + 4, k->ph[i].offset);
        w32(p + 8, k->ph[i].vaddr);
        w32(p + 12, k->ph[i].paddr);
        w32(p + 16, k->ph[i].filesz);
        w32(p + 20, k->ph[i].memsz);
        w32(p + 24, k->ph[i].flags);
        w32(p + 28, 0x1000);
    }
    put_header(b, alloc, &k->h);
    return b;
}

/* An a.out-kludge kernel (MB 3.1.3): the header at file offset 0x40 says
 * it sits at 0x200040, so loading starts at file offset 0 at 0x200000;
 * 0x1800 bytes are loaded, bss up to 0x205000, entry 0x200100. The file is
 * 0x2000 bytes: its last 0x800 are not loaded. */
#define A_LOAD  0x200000u
#define A_FILE  0x2000u
static struct mbh aout_header(void)
{
    return (struct mbh){ .off = 0x40, .flags = MB_HF_AOUT_KLUDGE | MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO,
                         .header_addr = A_LOAD + 0x40, .load_addr = A_LOAD, .load_end = A_LOAD + 0x1800,
                         .bss_end = A_LOAD + 0x5000, .entry = A_LOAD + 0x100 };
}

static uint8_t *emit_aout(const struct mbh *h, size_t size)
{
    size_t alloc = size < 0x4000 ? 0x4000 : size;
    uint8_t *b = calloc(1, alloc);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    for (size_t i = 0; i < alloc; i++)
        b[i] = (uint8_t)(i * 13 + 5);
    put_header(b, alloc, h);
    return b;
}

static struct mb_input input_for(const char *name, const uint8_t *data, size_t size)
{
    struct mb_input in = { .kernel = { .name = name, .data = data, .size = size } };
    return in;
}

static uint32_t rd32m(physmem_t *m, uint64_t pa)
{
    uint32_t v = 0;
    ck_assert_msg(pmem_read(m, pa, &v, 4), "read %#llx outside RAM", (unsigned long long)pa);
    return v;
}

static void read_str(physmem_t *m, uint64_t pa, char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(pmem_read(m, pa + i, &buf[i], 1), "string at %#llx leaves RAM", (unsigned long long)pa);
        if (!buf[i])
            return;
    }
    ck_abort_msg("string at %#llx is not NUL-terminated within %zu bytes", (unsigned long long)pa, n);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

/* What every successful mb_prepare must satisfy (multiboot.h struct
 * mb_layout invariants; MB 3.3: the structure lies outside the kernel and
 * modules). */
static void check_invariants(const char *row, physmem_t *m, const struct mb_layout *l)
{
    uint64_t mem = pmem_size(m), top = mem < (1ull << 32) ? mem : (1ull << 32);
    struct { uint64_t a, len; } r[ELF_MAX_SEGMENTS + MB_MAX_MODULES + 2];
    unsigned n = 0;
    for (unsigned i = 0; i < l->k.img.nseg; i++) {
        const struct elf_segment *s = &l->k.img.seg[i];
        ck_assert_msg(!overlaps(s->paddr, s->memsz, MB_HOLE_BASE, MB_HOLE_END - MB_HOLE_BASE),
                      "%s: kernel range %#llx in the legacy hole", row, (unsigned long long)s->paddr);
        r[n].a = s->paddr;
        r[n++].len = s->memsz;
    }
    for (unsigned i = 0; i < l->nmods; i++) {
        ck_assert_msg((l->mod_start[i] & 0xFFF) == 0, "%s: module %u not page-aligned", row, i);
        ck_assert_msg(l->mod_start[i] >= MB_HOLE_END, "%s: module %u below 1 MiB", row, i);
        r[n].a = l->mod_start[i];
        r[n++].len = l->mod_end[i] - l->mod_start[i];
    }
    r[n].a = l->info_base;
    r[n++].len = l->info_size;
    r[n].a = MB_FW_BASE;
    r[n++].len = MB_FW_END - MB_FW_BASE;
    for (unsigned i = 0; i < n; i++) {
        ck_assert_msg(r[i].a + r[i].len <= top, "%s: range %u [%#llx,+%#llx) beyond RAM below 4 GiB", row, i,
                      (unsigned long long)r[i].a, (unsigned long long)r[i].len);
        for (unsigned j = i + 1; j < n; j++)
            ck_assert_msg(!overlaps(r[i].a, r[i].len, r[j].a, r[j].len), "%s: ranges %u and %u overlap", row, i, j);
    }
    ck_assert_msg((l->info_base & 0xFFF) == 0 && (l->info_size & 0xFFF) == 0, "%s: info region not in pages", row);
    struct mb_info bi;
    ck_assert(pmem_read(m, l->info, &bi, sizeof(bi)));
    ck_assert_msg(bi.cmdline >= l->info_base && bi.cmdline < l->info_base + l->info_size, "%s: cmdline", row);
    ck_assert_msg(bi.mmap_addr >= l->info_base && bi.mmap_addr + bi.mmap_length <= l->info_base + l->info_size,
                  "%s: mmap", row);
    ck_assert_msg(l->bsp.eip == l->k.img.entry, "%s: EIP is not the entry", row);
}

/* ---- the header: search, checksum, flags (MB 3.1.1, 3.1.2) ---- */

/* Offsets where an a.out header is or is not found. A header must be
 * 4-byte aligned and wholly in the first 8192 bytes; with flag 16 it is 32
 * bytes long. */
struct where_row { const char *name; uint32_t off; int32_t bad_checksum; bool found; const char *needle; };
static const struct where_row where_rows[] = {
    { "header/at-0",                 0,      0, true,  NULL },
    { "header/at-4",                 4,      0, true,  NULL },
    { "header/last-aligned-slot",    8192 - 32, 0, true, NULL },
    { "header/fields-past-8192",     8192 - 28, 0, false, "first 8192 bytes" },
    { "header/magic-past-8192",      8192,   0, false, "no Multiboot header" },
    { "header/unaligned-2",          2,      0, false, "no Multiboot header" },
    { "header/bad-checksum",         0x40,   1, false, "checksum" },
};

START_TEST(header_search)
{
    const struct where_row *row = &where_rows[_i];
    size_t size = 0x3000;
    uint8_t *b = calloc(1, size);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    /* the image is loaded from its start: header_addr - load_addr = off */
    struct mbh h = { .off = row->off, .flags = MB_HF_AOUT_KLUDGE, .header_addr = A_LOAD + row->off,
                     .load_addr = A_LOAD, .load_end = 0, .bss_end = 0, .entry = A_LOAD,
                     .checksum_delta = row->bad_checksum };
    put_header(b, size, &h);
    struct mb_kernel k;
    char msg[400] = "";
    bool ok = mb_parse(b, size, MEM_SIZE, &k, msg, sizeof(msg));
    ck_assert_msg(ok == row->found, "%s: found %d: %s", row->name, ok, msg);
    if (ok) {
        ck_assert_uint_eq(k.header_offset, row->off);
        ck_assert(k.aout);
        ck_assert_uint_eq(k.img.seg[0].filesz, size);    /* load_end_addr 0: the whole file */
    } else {
        ck_assert_msg_contains(row->name, msg, row->needle);
        ck_assert_msg(strchr(msg, '\n') == NULL, "%s: not one line", row->name);
    }
}
END_TEST

/* A magic with a bad checksum is skipped; a later valid header is used (as
 * GRUB and QEMU search). The message for a lone bad one names its offset. */
START_TEST(header_bad_checksum_then_good)
{
    size_t size = 0x3000;
    uint8_t *b = calloc(1, size);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    struct mbh bad = { .off = 0x10, .flags = 0, .checksum_delta = 5 };
    struct mbh good = { .off = 0x100, .flags = MB_HF_AOUT_KLUDGE, .header_addr = A_LOAD + 0x100, .load_addr = A_LOAD,
                        .entry = A_LOAD + 0x200 };
    put_header(b, size, &bad);
    put_header(b, size, &good);
    struct mb_kernel k;
    char msg[400] = "";
    ck_assert_msg(mb_parse(b, size, MEM_SIZE, &k, msg, sizeof(msg)), "%s", msg);
    ck_assert_uint_eq(k.header_offset, 0x100);
    memset(b + 0x100, 0, 4);
    ck_assert(!mb_parse(b, size, MEM_SIZE, &k, msg, sizeof(msg)));
    ck_assert_msg_contains("lone-bad", msg, "offset 0x10");
    ck_assert_msg_contains("lone-bad", msg, "magic + flags + checksum = 0x5");
}
END_TEST

/* Flags (MB 3.1.2): bits 0 and 1 are met, bit 2 (video) is refused, any
 * other of bits 0-15 is unknown and refused naming the bit; bits 16-31 are
 * optional and ignored (but bit 16 selects the address fields). */
struct flag_row { const char *name; uint32_t flags; bool ok; const char *needle1, *needle2; };
static const struct flag_row flag_rows[] = {
    { "flags/none",            0,                           true,  NULL, NULL },
    { "flags/page-align",      MB_HF_PAGE_ALIGN,            true,  NULL, NULL },
    { "flags/memory-info",     MB_HF_MEMORY_INFO,           true,  NULL, NULL },
    { "flags/optional-17-31",  0xFFFE0003u,                 true,  NULL, NULL },
    { "flags/video-bit-2",     MB_HF_VIDEO_MODE,            false, "bit 2", "framebuffer" },
    { "flags/video-and-more",  MB_HF_VIDEO_MODE | 0x8,      false, "bit 2", "video" },
    { "flags/unknown-bit-3",   1u << 3,                     false, "bit 3", "0-15" },
    { "flags/unknown-bit-7",   (1u << 7) | 3,               false, "bit 7", "flags 0x83" },
    { "flags/unknown-bit-15",  1u << 15,                    false, "bit 15", "requirement" },
};

START_TEST(header_flags)
{
    const struct flag_row *row = &flag_rows[_i];
    struct k32 ks = elf_kernel();
    ks.h.flags = row->flags;
    uint8_t *b = emit_elf(&ks);
    struct mb_kernel k;
    char msg[400] = "";
    bool ok = mb_parse(b, ks.size, MEM_SIZE, &k, msg, sizeof(msg));
    ck_assert_msg(ok == row->ok, "%s: %s", row->name, msg);
    if (ok) {
        ck_assert_uint_eq(k.flags, row->flags);
        ck_assert(!k.aout);
    } else {
        ck_assert_msg_contains(row->name, msg, row->needle1);
        ck_assert_msg_contains(row->name, msg, row->needle2);
    }
}
END_TEST

/* ---- a.out kludge (MB 3.1.3) ---- */

START_TEST(aout_load)
{
    struct mbh h = aout_header();
    uint8_t *b = emit_aout(&h, A_FILE);
    physmem_t *m = new_pm(MEM_SIZE);
    uint8_t junk[0x5000];
    memset(junk, 0xEE, sizeof(junk));
    ck_assert(pmem_write(m, A_LOAD, junk, sizeof(junk)));      /* bss must be cleared */
    struct mb_input in = input_for("aout.bin", b, A_FILE);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert(l.k.aout);
    ck_assert_uint_eq(l.k.img.nseg, 1);
    ck_assert_uint_eq(l.k.img.entry, A_LOAD + 0x100);
    ck_assert_uint_eq(l.kernel_end, A_LOAD + 0x5000);
    uint8_t got[0x5000];
    ck_assert(pmem_read(m, A_LOAD, got, sizeof(got)));
    ck_assert_msg(!memcmp(got, b, 0x1800), "loaded bytes differ from file offset 0");
    for (unsigned i = 0x1800; i < 0x5000; i++)
        ck_assert_msg(got[i] == 0, "bss byte %#x is %#x", i, got[i]);
    ck_assert_uint_eq(l.bsp.eip, A_LOAD + 0x100);
    check_invariants("aout", m, &l);
}
END_TEST

/* The header not at file offset 0 and load_addr < header_addr: loading
 * starts (header_addr - load_addr) bytes before the header; load_end_addr 0
 * loads the rest of the file; bss_end_addr 0 means no bss. */
START_TEST(aout_offset_and_zero_fields)
{
    struct mbh h = { .off = 0x800, .flags = MB_HF_AOUT_KLUDGE, .header_addr = 0x300400, .load_addr = 0x300000,
                     .load_end = 0, .bss_end = 0, .entry = 0x300500 };
    uint8_t *b = emit_aout(&h, 0x1800);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("aout.bin", b, 0x1800);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert_uint_eq(l.k.img.seg[0].offset, 0x400);          /* 0x800 - (0x300400 - 0x300000) */
    ck_assert_uint_eq(l.k.img.seg[0].filesz, 0x1800 - 0x400);
    ck_assert_uint_eq(l.k.img.seg[0].memsz, 0x1800 - 0x400);
    ck_assert_uint_eq(l.kernel_end, 0x300000 + 0x1400);
    uint8_t got[0x1400];
    ck_assert(pmem_read(m, 0x300000, got, sizeof(got)));
    ck_assert(!memcmp(got, b + 0x400, sizeof(got)));
    uint32_t magic = rd32m(m, 0x300400);                       /* the header is where header_addr says */
    ck_assert_uint_eq(magic, MB_HEADER_MAGIC);
    check_invariants("aout-offset", m, &l);
}
END_TEST

/* One malformed variant per check of the address fields; the message names
 * the field (docs/multiboot.md "What fails loudly"). */
enum aout_bad { AB_HDR_BELOW_LOAD, AB_BEFORE_FILE, AB_END_BELOW_LOAD, AB_END_PAST_EOF, AB_BSS_BELOW_END,
                AB_ENTRY_BELOW, AB_ENTRY_IN_BSS, AB_IN_HOLE, AB_BSS_IN_HOLE, AB_OUTSIDE_RAM, AB_PAST_4G,
                AB_NOTHING_LOADED, AB_HEADER_CUT };
struct aout_row { const char *name; enum aout_bad kind; const char *needle1, *needle2; };
static const struct aout_row aout_rows[] = {
    { "aout/header-addr-below-load-addr", AB_HDR_BELOW_LOAD, "header_addr 0x1fffff", "load_addr" },
    { "aout/load-starts-before-file",    AB_BEFORE_FILE,    "header_addr", "before the beginning of the file" },
    { "aout/load-end-below-load-addr",   AB_END_BELOW_LOAD, "load_end_addr 0x1ff000", "below load_addr" },
    { "aout/load-end-past-eof",          AB_END_PAST_EOF,   "load_end_addr 0x202001", "end of the file" },
    { "aout/bss-end-below-load-end",     AB_BSS_BELOW_END,  "bss_end_addr 0x2017ff", "below the end" },
    { "aout/entry-below-load-addr",      AB_ENTRY_BELOW,    "entry_addr 0x1ffffc", "outside the loaded" },
    { "aout/entry-in-bss",               AB_ENTRY_IN_BSS,   "entry_addr 0x201800", "outside the loaded" },
    { "aout/in-legacy-hole",             AB_IN_HOLE,        "load_addr 0xb0000", "legacy hole" },
    { "aout/bss-reaches-hole",           AB_BSS_IN_HOLE,    "load_addr 0x90000", "legacy hole" },
    { "aout/outside-ram",                AB_OUTSIDE_RAM,    "load_addr 0x3ffff00", "64 MiB" },
    { "aout/past-4g",                    AB_PAST_4G,        "load_addr 0xfffff800", "4 GiB" },
    { "aout/nothing-loaded",             AB_NOTHING_LOADED, "entry_addr", "outside the loaded bytes [0x200000, 0x200000)" },
    { "aout/header-cut-by-eof",          AB_HEADER_CUT,     "bit 16", "end of the file" },
};

START_TEST(aout_malformed)
{
    const struct aout_row *row = &aout_rows[_i];
    struct mbh h = aout_header();
    size_t size = A_FILE;
    switch (row->kind) {
    case AB_HDR_BELOW_LOAD: h.header_addr = A_LOAD - 1; break;
    case AB_BEFORE_FILE: h.header_addr = A_LOAD + 0x44; break;          /* 0x44 bytes before a header at 0x40 */
    case AB_END_BELOW_LOAD: h.load_end = A_LOAD - 0x1000; break;
    case AB_END_PAST_EOF: h.load_end = A_LOAD + A_FILE + 1; h.bss_end = 0; break;
    case AB_BSS_BELOW_END: h.bss_end = A_LOAD + 0x17FF; break;
    case AB_ENTRY_BELOW: h.entry = A_LOAD - 4; break;
    case AB_ENTRY_IN_BSS: h.entry = A_LOAD + 0x1800; break;
    case AB_IN_HOLE:
        h.load_addr = 0xB0000; h.header_addr = 0xB0040; h.load_end = 0xB1800; h.bss_end = 0; h.entry = 0xB0100;
        break;
    case AB_BSS_IN_HOLE:
        h.load_addr = 0x90000; h.header_addr = 0x90040; h.load_end = 0x91800; h.bss_end = 0xA0001; h.entry = 0x90100;
        break;
    case AB_OUTSIDE_RAM:
        h.load_addr = (uint32_t)MEM_SIZE - 0x100; h.header_addr = h.load_addr + 0x40; h.load_end = 0;
        h.bss_end = 0; h.entry = h.load_addr + 0x80;
        break;
    case AB_PAST_4G:
        h.load_addr = 0xFFFFF800u; h.header_addr = 0xFFFFF840u; h.load_end = 0; h.bss_end = 0; h.entry = 0xFFFFF900u;
        break;
    case AB_NOTHING_LOADED: h.load_end = A_LOAD; h.bss_end = 0; break;
    case AB_HEADER_CUT: h.off = 0x1FE0; h.header_addr = A_LOAD + 0x1FE0; size = 0x1FF0; break;
    }
    uint8_t *b = emit_aout(&h, size);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("bad-aout.bin", b, size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(!mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s: accepted", row->name);
    ck_assert_msg_contains(row->name, msg, "bad-aout.bin: ");
    ck_assert_msg_contains(row->name, msg, row->needle1);
    ck_assert_msg_contains(row->name, msg, row->needle2);
    ck_assert_msg(strchr(msg, '\n') == NULL, "%s: not one line", row->name);
}
END_TEST

/* ---- ELF32 kernels ---- */

START_TEST(elf_load)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    uint8_t junk[0x3000];
    memset(junk, 0xEE, sizeof(junk));
    ck_assert(pmem_write(m, K_DATA_PA, junk, sizeof(junk)));
    struct mb_input in = input_for("kernel.elf", b, ks.size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert(!l.k.aout);
    ck_assert_uint_eq(l.k.header_offset, 0x1000);
    ck_assert_uint_eq(l.k.img.nseg, 2);                            /* PT_NOTE skipped */
    ck_assert_uint_eq(l.kernel_end, K_END);
    uint8_t text[0x1000], data[0x3000];
    ck_assert(pmem_read(m, K_TEXT_PA, text, sizeof(text)));
    ck_assert(pmem_read(m, K_DATA_PA, data, sizeof(data)));
    ck_assert_msg(!memcmp(text, b + 0x1000, sizeof(text)), ".text not at p_paddr");
    ck_assert_msg(!memcmp(data, b + 0x2000, 0x800), ".data not at p_paddr");
    for (unsigned i = 0x800; i < sizeof(data); i++)
        ck_assert_msg(data[i] == 0, "bss byte %#x is %#x", i, data[i]);
    /* e_entry 0xC0100020 is in .text's virtual range: translated (GRUB 2) */
    ck_assert_uint_eq(l.k.img.entry, K_TEXT_PA + 0x20);
    ck_assert_uint_eq(l.bsp.eip, K_TEXT_PA + 0x20);
    check_invariants("elf", m, &l);
}
END_TEST

/* e_entry resolution (docs/multiboot.md "ELF kernels"). */
struct entry_row { const char *name; bool identity; uint32_t e_entry; bool ok; uint32_t want; };
static const struct entry_row entry_rows[] = {
    { "entry/virtual-translated",      false, K_TEXT_VA + 0x20,  true,  K_TEXT_PA + 0x20 },
    { "entry/physical-as-is",          false, K_TEXT_PA + 0x30,  true,  K_TEXT_PA + 0x30 },
    { "entry/identity",                true,  K_TEXT_PA + 0x40,  true,  K_TEXT_PA + 0x40 },
    { "entry/last-text-byte",          true,  K_TEXT_PA + 0xFFF, true,  K_TEXT_PA + 0xFFF },
    { "entry/in-data-virtual",         false, K_TEXT_VA + 0x1000, false, 0 },
    { "entry/in-data-physical",        false, K_DATA_PA,         false, 0 },
    { "entry/nowhere",                 false, 0x12345678,        false, 0 },
};

START_TEST(elf_entry)
{
    const struct entry_row *row = &entry_rows[_i];
    struct k32 ks = elf_kernel();
    if (row->identity) {
        ks.ph[0].vaddr = K_TEXT_PA;
        ks.ph[2].vaddr = K_DATA_PA;
    }
    ks.entry = row->e_entry;
    uint8_t *b = emit_elf(&ks);
    struct mb_kernel k;
    char msg[400] = "";
    bool ok = mb_parse(b, ks.size, MEM_SIZE, &k, msg, sizeof(msg));
    ck_assert_msg(ok == row->ok, "%s: %s", row->name, msg);
    if (ok)
        ck_assert_msg(k.img.entry == row->want, "%s: entry %#llx", row->name, (unsigned long long)k.img.entry);
    else
        ck_assert_msg_contains(row->name, msg, "e_entry");
}
END_TEST

enum elf_bad { EB_ELF64, EB_ELF64_NOHDR, EB_NOT_ELF, EB_MACHINE_X86_64, EB_DYN, EB_BIGENDIAN, EB_PHENTSIZE,
               EB_PHNUM0, EB_PHOFF_PAST_EOF, EB_SEG_PAST_EOF, EB_FILESZ_GT_MEMSZ, EB_OUTSIDE_RAM, EB_PAST_4G,
               EB_IN_HOLE, EB_OVERLAP, EB_NO_LOAD };
struct elf_row { const char *name; enum elf_bad kind; const char *needle1, *needle2; };
static const struct elf_row elf_rows[] = {
    { "elf/elf64-with-header",     EB_ELF64,          "ELF64", "native protocol" },
    { "elf/elf64-without-header",  EB_ELF64_NOHDR,    "no Multiboot header", "native protocol" },
    { "elf/not-elf-no-kludge",     EB_NOT_ELF,        "bit 16", "not an ELF" },
    { "elf/machine-x86-64",        EB_MACHINE_X86_64, "e_machine is 62", "EM_386" },
    { "elf/et-dyn",                EB_DYN,            "e_type", "ET_DYN" },
    { "elf/big-endian",            EB_BIGENDIAN,      "EI_DATA", "little-endian" },
    { "elf/phentsize-56",          EB_PHENTSIZE,      "e_phentsize is 56", "32" },
    { "elf/phnum-0",               EB_PHNUM0,         "e_phnum", "no program headers" },
    { "elf/phoff-past-eof",        EB_PHOFF_PAST_EOF, "e_phoff", "end of the file" },
    { "elf/segment-past-eof",      EB_SEG_PAST_EOF,   "segment 2", "end of the file" },
    { "elf/filesz-gt-memsz",       EB_FILESZ_GT_MEMSZ, "p_filesz 0x3001", "p_memsz 0x3000" },
    { "elf/segment-outside-ram",   EB_OUTSIDE_RAM,    "segment 2", "64 MiB" },
    { "elf/segment-past-4g",       EB_PAST_4G,        "segment 2", "4 GiB" },
    { "elf/segment-in-hole",       EB_IN_HOLE,        "p_paddr 0xb8000", "legacy hole" },
    { "elf/overlapping-segments",  EB_OVERLAP,        "segment 2", "overlaps" },
    { "elf/no-pt-load",            EB_NO_LOAD,        "no PT_LOAD", "contents" },
};

START_TEST(elf_malformed)
{
    const struct elf_row *row = &elf_rows[_i];
    struct k32 ks = elf_kernel();
    switch (row->kind) {
    case EB_ELF64: ks.cls = 2; break;
    case EB_ELF64_NOHDR: ks.cls = 2; ks.h.off = 0x4000; break;     /* past the allocation: no header */
    case EB_NOT_ELF: break;                                        /* patched after emit */
    case EB_MACHINE_X86_64: ks.machine = 62; break;
    case EB_DYN: ks.type = 3; break;
    case EB_BIGENDIAN: ks.data = 2; break;
    case EB_PHENTSIZE: ks.phentsize = 56; break;
    case EB_PHNUM0: ks.phnum = 0; break;
    case EB_PHOFF_PAST_EOF: ks.phoff = 0x2FF0; ks.nph = 0; break;
    case EB_SEG_PAST_EOF: ks.ph[2].filesz = 0x1001; break;
    case EB_FILESZ_GT_MEMSZ: ks.ph[2].filesz = 0x3001; ks.size = 0x6000; break;
    case EB_OUTSIDE_RAM: ks.ph[2].paddr = (uint32_t)MEM_SIZE - 0x1000; break;
    case EB_PAST_4G: ks.ph[2].paddr = 0xFFFFF000u; break;
    case EB_IN_HOLE: ks.ph[2].paddr = 0xB8000; break;
    case EB_OVERLAP: ks.ph[2].paddr = K_TEXT_PA + 0x800; break;
    case EB_NO_LOAD: ks.ph[0].type = PT_NOTE; ks.ph[2].type = PT_NOTE; break;
    }
    uint8_t *b = emit_elf(&ks);
    if (row->kind == EB_NOT_ELF)
        b[0] = 'M';
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("bad.elf", b, ks.size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(!mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s: accepted", row->name);
    ck_assert_msg_contains(row->name, msg, "bad.elf: ");
    ck_assert_msg_contains(row->name, msg, row->needle1);
    ck_assert_msg_contains(row->name, msg, row->needle2);
    ck_assert_msg(strchr(msg, '\n') == NULL, "%s: not one line", row->name);
}
END_TEST

/* ---- the information structure (MB 3.3) ---- */

START_TEST(info_block)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("/boot/kernel.elf", b, ks.size);
    in.append = "console=ttyS0 debug";
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert_uint_eq(l.info, MB_INFO_LOWEST);                     /* lower memory, at 0x9000 */
    struct mb_info bi;
    ck_assert(pmem_read(m, l.info, &bi, sizeof(bi)));
    ck_assert_uint_eq(bi.flags, MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP | MB_INFO_BOOT_LOADER);
    ck_assert_uint_eq(bi.flags, 0x24D);
    ck_assert_uint_eq(bi.mem_lower, 640);
    ck_assert_uint_eq(bi.mem_upper, (MEM_SIZE - (1u << 20)) / 1024);
    ck_assert_uint_eq(bi.boot_device, 0);                          /* flag 1 clear */
    ck_assert_uint_eq(bi.mods_count, 0);
    ck_assert_uint_eq(bi.mods_addr, l.mods);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(bi.syms[i], 0);
    ck_assert_uint_eq(bi.drives_length, 0);
    ck_assert_uint_eq(bi.config_table, 0);
    ck_assert_uint_eq(bi.apm_table, 0);
    ck_assert_uint_eq(bi.vbe_control_info, 0);
    ck_assert_uint_eq(bi.framebuffer_addr_lo | bi.framebuffer_addr_hi, 0);
    char s[256];
    read_str(m, bi.cmdline, s, sizeof(s));
    ck_assert_str_eq(s, "/boot/kernel.elf console=ttyS0 debug");
    read_str(m, bi.boot_loader_name, s, sizeof(s));
    ck_assert_str_eq(s, "hvsim " HVSIM_VERSION);
    check_invariants("info", m, &l);
}
END_TEST

START_TEST(info_cmdline_without_append)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("k.elf", b, ks.size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    char s[64];
    read_str(m, rd32m(m, l.info + 16), s, sizeof(s));
    ck_assert_str_eq(s, "k.elf");
    /* an empty --append still adds the separating space, as QEMU does */
    in.append = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    read_str(m, rd32m(m, l.info + 16), s, sizeof(s));
    ck_assert_str_eq(s, "k.elf ");
}
END_TEST

/* Memory map (MB 3.3): entries of `size` 20 followed by base, length,
 * type; mmap_addr points at the first `size`; lower memory and RAM from
 * 1 MiB available, the legacy hole reserved; mem_upper counts RAM below
 * 4 GiB. */
struct mmap_row { const char *name; uint64_t mem; uint32_t mem_upper; };
static const struct mmap_row mmap_rows[] = {
    { "mmap/2m",    2ull << 20,              1024 },
    { "mmap/64m",   64ull << 20,             63 * 1024 },
    { "mmap/4g",    4ull << 30,              4 * 1024 * 1024 - 1024 },
    { "mmap/6g",    6ull << 30,              4 * 1024 * 1024 - 1024 },
};

START_TEST(info_memory_map)
{
    const struct mmap_row *row = &mmap_rows[_i];
    struct mbh h = aout_header();
    uint8_t *b = emit_aout(&h, A_FILE);
    if (row->mem == (2ull << 20)) {               /* a kernel that fits in 2 MiB: load it at 1 MiB */
        h.load_addr = 0x100000; h.header_addr = 0x100040; h.load_end = 0x101800; h.bss_end = 0x102000;
        h.entry = 0x100100;
        b = emit_aout(&h, A_FILE);
    }
    physmem_t *m = new_pm(row->mem);
    struct mb_input in = input_for("k", b, A_FILE);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s: %s", row->name, msg);
    struct mb_info bi;
    ck_assert(pmem_read(m, l.info, &bi, sizeof(bi)));
    ck_assert_msg(bi.mem_upper == row->mem_upper, "%s: mem_upper %u", row->name, bi.mem_upper);
    ck_assert_uint_eq(bi.mem_lower, 640);
    ck_assert_uint_eq(bi.mmap_length, 72);
    ck_assert_uint_eq(bi.mmap_addr, l.mmap);
    struct { uint64_t base, len; uint32_t type; } want[3] = {
        { 0, 0xA0000, 1 }, { 0xA0000, 0x60000, 2 }, { 0x100000, row->mem - 0x100000, 1 },
    };
    /* walk as a kernel does: next = this + size + 4 */
    uint64_t at = bi.mmap_addr;
    for (unsigned i = 0; at < (uint64_t)bi.mmap_addr + bi.mmap_length; i++) {
        ck_assert_msg(i < 3, "%s: more than 3 entries", row->name);
        struct mb_mmap_entry e;
        ck_assert(pmem_read(m, at, &e, sizeof(e)));
        ck_assert_msg(e.size == 20, "%s: entry %u size %u", row->name, i, e.size);
        ck_assert_msg(e.base_addr == want[i].base && e.length == want[i].len && e.type == want[i].type,
                      "%s: entry %u is [%#llx,+%#llx) type %u", row->name, i, (unsigned long long)e.base_addr,
                      (unsigned long long)e.length, e.type);
        at += e.size + 4;
    }
    /* the firmware area (GDT, parking loop, stack) is inside the reserved entry */
    ck_assert(MB_FW_BASE >= want[1].base && MB_FW_END <= want[1].base + want[1].len);
    check_invariants(row->name, m, &l);
}
END_TEST

/* Modules (MB 3.3): page-aligned after the kernel's end (bss included),
 * in the order given, mod_end exclusive, the string as given or the file
 * name, reserved 0; the file bytes at mod_start. */
START_TEST(modules)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    static uint8_t m1[5000], m2[4096], m3[1];
    for (unsigned i = 0; i < sizeof(m1); i++)
        m1[i] = (uint8_t)(i ^ 0x5A);
    memset(m2, 0x22, sizeof(m2));
    m3[0] = 0x33;
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("kernel", b, ks.size);
    in.nmods = 5;
    in.mods[0] = (struct mb_blob){ "initrd.img", m1, sizeof(m1), "initrd.img root=/dev/ram0" };
    in.mods[1] = (struct mb_blob){ "two.bin", m2, sizeof(m2), NULL };
    in.mods[2] = (struct mb_blob){ "empty.bin", m2, 0, "" };
    in.mods[3] = (struct mb_blob){ "three.bin", m3, 1, "a,b" };
    in.mods[4] = (struct mb_blob){ "dir/x", m3, 1, NULL };
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    const uint64_t want_start[5] = { K_END, K_END + 0x2000, K_END + 0x3000, K_END + 0x3000, K_END + 0x4000 };
    const char *want_str[5] = { "initrd.img root=/dev/ram0", "two.bin", "", "a,b", "dir/x" };
    struct mb_info bi;
    ck_assert(pmem_read(m, l.info, &bi, sizeof(bi)));
    ck_assert_uint_eq(bi.mods_count, 5);
    for (unsigned i = 0; i < 5; i++) {
        struct mb_module e;
        ck_assert(pmem_read(m, bi.mods_addr + 16 * i, &e, sizeof(e)));
        ck_assert_msg(e.mod_start == want_start[i], "module %u at %#x", i, e.mod_start);
        ck_assert_msg(e.mod_end == e.mod_start + in.mods[i].size, "module %u end %#x", i, e.mod_end);
        ck_assert_uint_eq(e.reserved, 0);
        char s[64];
        read_str(m, e.string, s, sizeof(s));
        ck_assert_msg(!strcmp(s, want_str[i]), "module %u string '%s'", i, s);
        uint8_t got[5000];
        ck_assert(pmem_read(m, e.mod_start, got, in.mods[i].size));
        ck_assert_msg(!memcmp(got, in.mods[i].data, in.mods[i].size), "module %u contents", i);
        ck_assert_uint_eq(l.mod_start[i], e.mod_start);
        ck_assert_uint_eq(l.mod_end[i], e.mod_end);
    }
    check_invariants("modules", m, &l);
}
END_TEST

/* A kernel wholly below 1 MiB: the modules still start at 1 MiB; the
 * information region moves past the kernel in lower memory, or above the
 * modules when lower memory has no room. */
struct place_row { const char *name; uint32_t load, end; uint64_t info; uint64_t mod0; };
static const struct place_row place_rows[] = {
    { "place/kernel-above-1m",          0x200000, 0x205000, 0x9000,  0x205000 },
    { "place/kernel-at-0x8000",         0x8000,   0x20000,  0x20000, 0x100000 },
    { "place/kernel-fills-lower-memory", 0x1000,  0x9F800,  0x101000, 0x100000 },
    { "place/kernel-0x9000-to-640k",    0x9000,   0xA0000,  0x101000, 0x100000 },
    { "place/kernel-from-0x10000",      0x10000,  0xA0000,  0x9000,   0x100000 },
};

START_TEST(info_placement)
{
    const struct place_row *row = &place_rows[_i];
    struct mbh h = { .off = 0, .flags = MB_HF_AOUT_KLUDGE, .header_addr = row->load, .load_addr = row->load,
                     .load_end = row->load + 0x800, .bss_end = row->end, .entry = row->load + 0x40 };
    uint8_t *b = emit_aout(&h, 0x800);
    physmem_t *m = new_pm(MEM_SIZE);
    static uint8_t mod[0x1000];
    struct mb_input in = input_for("k", b, 0x800);
    in.nmods = 1;
    in.mods[0] = (struct mb_blob){ "m", mod, sizeof(mod), NULL };
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s: %s", row->name, msg);
    ck_assert_msg(l.info_base == row->info, "%s: info at %#llx", row->name, (unsigned long long)l.info_base);
    ck_assert_msg(l.mod_start[0] == row->mod0, "%s: module at %#llx", row->name, (unsigned long long)l.mod_start[0]);
    ck_assert_uint_eq(l.bsp.gpr[CPU_RBX], l.info);
    check_invariants(row->name, m, &l);
}
END_TEST

/* Limits and room (docs/multiboot.md "What fails loudly"). */
START_TEST(limits)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_layout l;
    char msg[400] = "";
    struct mb_input in = input_for("kernel", b, ks.size);
    /* command line: file name + ' ' + append, at most 65536 bytes */
    char *big = harness_own(harness_free, malloc(70000));
    memset(big, 'a', 70000);
    big[65536 - 7] = 0;                                  /* "kernel " + 65529 = 65536 */
    in.append = big;
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "65536 bytes: %s", msg);
    big[65536 - 7] = 'a';
    big[65536 - 6] = 0;
    ck_assert(!mb_prepare(m, &in, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("cmdline", msg, "65537 bytes");
    ck_assert_msg_contains("cmdline", msg, "kernel: ");
    in.append = NULL;
    /* a module string of 4097 bytes */
    big[4097] = 0;
    static uint8_t one[1];
    in.nmods = 1;
    in.mods[0] = (struct mb_blob){ "mod.bin", one, 1, big };
    ck_assert(!mb_prepare(m, &in, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("modstring", msg, "mod.bin: module string is 4097 bytes");
    big[4096] = 0;
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "4096-byte string: %s", msg);
    /* 65 modules */
    in.nmods = MB_MAX_MODULES + 1;
    for (unsigned i = 0; i < in.nmods; i++)
        in.mods[i < MB_MAX_MODULES ? i : 0] = (struct mb_blob){ "m", one, 1, NULL };
    ck_assert(!mb_prepare(m, &in, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("65-modules", msg, "at most 64");
    /* 64 modules fit */
    in.nmods = MB_MAX_MODULES;
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "64 modules: %s", msg);
    check_invariants("64-modules", m, &l);
}
END_TEST

START_TEST(module_does_not_fit)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(4ull << 20);
    size_t big = (4ull << 20) - K_END + 1;
    uint8_t *mod = harness_own(harness_free, calloc(1, big));
    struct mb_input in = input_for("kernel", b, ks.size);
    in.nmods = 1;
    in.mods[0] = (struct mb_blob){ "huge.img", mod, big, NULL };
    struct mb_layout l;
    char msg[400] = "";
    ck_assert(!mb_prepare(m, &in, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("huge", msg, "huge.img: module 0");
    ck_assert_msg_contains("huge", msg, "does not fit");
    in.mods[0].size = big - 1;                            /* exactly up to the end of RAM */
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert_uint_eq(l.mod_end[0], 4ull << 20);
    check_invariants("module-to-ram-end", m, &l);
}
END_TEST

START_TEST(too_little_ram)
{
    struct mbh h = aout_header();
    h.load_addr = 0x1000; h.header_addr = 0x1040; h.load_end = 0x2800; h.bss_end = 0; h.entry = 0x1100;
    uint8_t *b = emit_aout(&h, A_FILE);
    physmem_t *m = new_pm(1ull << 20);
    struct mb_input in = input_for("k", b, A_FILE);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert(!mb_prepare(m, &in, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("1m", msg, "at least 2 MiB");
}
END_TEST

/* ---- the machine state at entry (MB 3.2) as recorded ---- */

static void check_seg(const char *what, const struct cpu_seg *s, uint16_t sel, unsigned type)
{
    ck_assert_msg(s->sel == sel, "%s: selector %#x", what, s->sel);
    ck_assert_msg(s->base == 0 && s->limit == 0xFFFFFFFF, "%s: base %#llx limit %#x", what,
                  (unsigned long long)s->base, s->limit);
    ck_assert_msg((s->attr & 0xF) == type, "%s: type %#x", what, s->attr & 0xF);
    ck_assert_msg((s->attr & SEG_ATTR_S) && (s->attr & SEG_ATTR_P), "%s: not a present code/data segment", what);
    ck_assert_msg(SEG_ATTR_DPL(s->attr) == 0, "%s: DPL %u", what, SEG_ATTR_DPL(s->attr));
    ck_assert_msg((s->attr & SEG_ATTR_DB) && (s->attr & SEG_ATTR_G), "%s: not 32-bit with 4-KiB granularity", what);
    ck_assert_msg(!(s->attr & SEG_ATTR_L) && !(s->attr & SEG_ATTR_UNUSABLE), "%s: L or unusable", what);
}

static void check_entry_state(const char *row, const struct mb_cpu_state *s, uint32_t eip, uint32_t eax,
                              uint32_t ebx, uint32_t esp)
{
    ck_assert_msg(s->gpr[CPU_RAX] == eax, "%s: EAX %#x", row, s->gpr[CPU_RAX]);
    ck_assert_msg(s->gpr[CPU_RBX] == ebx, "%s: EBX %#x", row, s->gpr[CPU_RBX]);
    ck_assert_msg(s->gpr[CPU_RSP] == esp, "%s: ESP %#x", row, s->gpr[CPU_RSP]);
    ck_assert_msg(s->gpr[CPU_RCX] == 0 && s->gpr[CPU_RDX] == 0 && s->gpr[CPU_RBP] == 0 && s->gpr[CPU_RSI] == 0 &&
                  s->gpr[CPU_RDI] == 0, "%s: other GPRs not 0", row);
    ck_assert_msg(s->eip == eip, "%s: EIP %#x", row, s->eip);
    ck_assert_msg(!(s->eflags & (1u << 17)) && !(s->eflags & (1u << 9)), "%s: VM or IF set", row);
    ck_assert_msg(s->eflags == 0x2, "%s: EFLAGS %#x", row, s->eflags);
    ck_assert_msg((s->cr0 & 1) && !(s->cr0 & 0x80000000u), "%s: CR0 %#x (PE=1, PG=0)", row, s->cr0);
    ck_assert_msg(s->cr0 == 0x11, "%s: CR0 %#x", row, s->cr0);
    ck_assert_msg(s->cr4 == 0 && s->cr3 == 0 && s->efer == 0, "%s: CR3/CR4/EFER not 0", row);
    check_seg("CS", &s->seg[CPU_CS], MB_SEL_CODE32, 0xB);
    const enum cpu_segreg data[] = { CPU_DS, CPU_ES, CPU_FS, CPU_GS, CPU_SS };
    for (unsigned i = 0; i < 5; i++)
        check_seg("data", &s->seg[data[i]], MB_SEL_DATA32, 0x3);
    ck_assert_msg(s->seg[CPU_LDTR].attr & SEG_ATTR_UNUSABLE, "%s: LDTR usable", row);
    ck_assert_msg(s->seg[CPU_TR].attr & SEG_ATTR_UNUSABLE, "%s: TR usable", row);
    ck_assert_msg(s->gdtr.base == MB_FW_GDT && s->gdtr.limit == 23, "%s: GDTR", row);
    ck_assert_msg(s->idtr.base == 0 && s->idtr.limit == 0, "%s: IDTR", row);
    ck_assert_msg(s->mtrr_def_type == 0x806, "%s: MTRR default type", row);
}

START_TEST(entry_state_recorded)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("kernel", b, ks.size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    check_entry_state("bsp", &l.bsp, K_TEXT_PA + 0x20, 0x2BADB002, (uint32_t)l.info, 0xF8000);
}
END_TEST

/* The GDT hvsim installs (SDM 3A 3.4.5): null, 0x08 32-bit code, 0x10
 * 32-bit data, each describing exactly the hidden part loaded at entry. */
START_TEST(entry_gdt)
{
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    physmem_t *m = new_pm(MEM_SIZE);
    struct mb_input in = input_for("kernel", b, ks.size);
    struct mb_layout l;
    char msg[400] = "";
    ck_assert_msg(mb_prepare(m, &in, &l, msg, sizeof(msg)), "%s", msg);
    uint64_t g[3];
    ck_assert(pmem_read(m, l.bsp.gdtr.base, g, sizeof(g)));
    ck_assert_uint_eq(g[0], 0);
    const enum cpu_segreg which[2] = { CPU_CS, CPU_DS };
    for (unsigned i = 1; i <= 2; i++) {
        uint64_t d = g[i];
        const struct cpu_seg *s = &l.bsp.seg[which[i - 1]];
        ck_assert_uint_eq(s->sel, 8 * i);
        uint64_t base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
        uint64_t limit = (d & 0xFFFF) | (((d >> 48) & 0xF) << 16);
        bool g4k = (d >> 55) & 1;
        ck_assert_msg(base == s->base, "descriptor %u base", i);
        ck_assert_msg((g4k ? (limit << 12) | 0xFFF : limit) == s->limit, "descriptor %u limit", i);
        uint32_t attr = (uint32_t)((d >> 40) & 0xFF) | (uint32_t)(((d >> 52) & 0xF) << 12);
        ck_assert_msg(attr == s->attr, "descriptor %u attributes %#x, hidden %#x", i, attr, s->attr);
    }
}
END_TEST

/* ---- robustness: truncated and garbage kernels never crash ---- */

static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void try_kernel(const char *row, physmem_t *m, const uint8_t *b, size_t size)
{
    struct mb_input in = input_for("fuzz.bin", b, size);
    static uint8_t mod[100];
    in.nmods = 1;
    in.mods[0] = (struct mb_blob){ "mod", mod, sizeof(mod), NULL };
    struct mb_layout l;
    char msg[400] = "";
    if (mb_prepare(m, &in, &l, msg, sizeof(msg))) {
        check_invariants(row, m, &l);
    } else {
        ck_assert_msg(!strncmp(msg, "fuzz.bin: ", 10), "%s (%zu bytes): message does not name the file: %s", row,
                      size, msg);
        ck_assert_msg(strchr(msg, '\n') == NULL, "%s: not one line", row);
    }
}

/* Every prefix of a valid ELF32 and of a valid a.out kernel. */
START_TEST(truncated_kernels)
{
    physmem_t *m = new_pm(8ull << 20);
    struct k32 ks = elf_kernel();
    uint8_t *e = emit_elf(&ks);
    unsigned ok = 0;
    for (size_t n = 0; n <= ks.size; n++) {
        uint8_t *copy = malloc(n ? n : 1);           /* exact size: ASan sees any over-read */
        memcpy(copy, e, n);
        try_kernel("elf-prefix", m, copy, n);
        free(copy);
    }
    struct mbh h = aout_header();
    h.load_end = 0;
    uint8_t *a = emit_aout(&h, A_FILE);
    for (size_t n = 0; n <= A_FILE; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, a, n);
        struct mb_kernel k;
        char msg[400];
        ok += mb_parse(copy, n, 8ull << 20, &k, msg, sizeof(msg));
        try_kernel("aout-prefix", m, copy, n);
        free(copy);
    }
    /* the a.out kernel (load_end 0) is valid once the file reaches its entry */
    ck_assert_uint_eq(ok, A_FILE - 0x100);
}
END_TEST

/* Random bytes with a header at a random aligned offset, random flags among
 * the interesting ones and random address fields near and across RAM,
 * against 4 MiB of RAM. */
START_TEST(garbage_kernels)
{
    physmem_t *m = new_pm(4ull << 20);
    rng_state = 42;
    static const uint32_t flagset[] = { 0, 1, 2, 3, 4, 8, 0x10000, 0x10001, 0x10003, 0x10004, 0x80010000u, 0x20003 };
    unsigned accepted = 0;
    for (unsigned it = 0; it < 3000; it++) {
        size_t size = 12 + rng() % 0x2400;
        uint8_t *b = malloc(size);
        for (size_t i = 0; i < size; i++)
            b[i] = (uint8_t)rng();
        if (rng() % 4 == 0 && size >= 52) {                   /* sometimes an ELF32 header */
            memcpy(b, "\x7f" "ELF\x01\x01\x01", 7);
            w16(b + 16, 2);
            w16(b + 18, 3);
            w16(b + 42, 32);
            w16(b + 44, 1 + rng() % 4);
            w32(b + 28, 52);
        }
        size_t lim = size < 8192 ? size : 8192;
        if (lim >= 12) {
            uint32_t off = (uint32_t)((rng() % ((lim - 12) / 4 + 1)) * 4);
            /* mostly plausible fields (above 1 MiB, loading from near the
             * start of the file), sometimes anywhere up to 6 MiB */
            uint32_t base = rng() % 8 ? 0x100000u + ((uint32_t)(rng() % (3u << 20)) & ~3u)
                                      : (uint32_t)(rng() % (6u << 20)) & ~3u;
            uint32_t before = (uint32_t)(rng() % (off + 65));
            struct mbh h = { .off = off, .flags = flagset[rng() % (sizeof(flagset) / sizeof(flagset[0]))],
                             .header_addr = base + before, .load_addr = base,
                             .load_end = rng() % 3 ? base + (uint32_t)(rng() % (size + 64)) : 0,
                             .bss_end = rng() % 2 ? base + (uint32_t)(rng() % 0x8000) : 0,
                             .entry = base + (uint32_t)(rng() % 0x800) };
            if (off + 32 <= size) {
                put_header(b, size, &h);
            } else {                                           /* only magic, flags, checksum fit */
                w32(b + off, MB_HEADER_MAGIC);
                w32(b + off + 4, h.flags);
                w32(b + off + 8, 0u - MB_HEADER_MAGIC - h.flags);
            }
        }
        struct mb_kernel k;
        char msg[400];
        accepted += mb_parse(b, size, 4ull << 20, &k, msg, sizeof(msg));
        try_kernel("garbage", m, b, size);
        free(b);
    }
    ck_assert_msg(accepted > 200, "only %u garbage kernels were accepted: the generator is too hostile", accepted);
}
END_TEST

/* ---- machine_load_multiboot: files, and the state through cpu.h ---- */

static const char *tmp_dir(void) { return harness_tmp_dir("/tmp/hvsim-test-multiboot-"); }

static char *write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char *path = harness_own(harness_free, malloc(600));
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void release_machine(void *p) { machine_destroy(p); }

START_TEST(machine_load)
{
    const char *dir = tmp_dir();
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    char *kpath = write_file(dir, "kernel.elf", b, ks.size);
    char *mpath = write_file(dir, "initrd", "module bytes", 12);
    struct machine_config cfg = { .nlps = 3, .mem_size = MEM_SIZE };
    machine_t *mach;
    char msg[600] = "";
    ck_assert_msg(machine_create(&cfg, &mach, msg, sizeof(msg)), "%s", msg);
    harness_own(release_machine, mach);
    static struct mb_options o;
    memset(&o, 0, sizeof(o));
    o.kernel = kpath;
    o.append = "quiet";
    o.nmods = 1;
    o.mods[0].path = mpath;
    o.mods[0].string = "initrd arg";
    ck_assert_msg(machine_load_multiboot(mach, &o, msg, sizeof(msg)), "%s", msg);
    const struct mb_layout *l = machine_multiboot_layout(mach);
    ck_assert_ptr_nonnull(l);
    physmem_t *m = machine_physmem(mach);
    char s[700];
    read_str(m, l->cmdline, s, sizeof(s));
    char want[700];
    snprintf(want, sizeof(want), "%s quiet", kpath);
    ck_assert_str_eq(s, want);
    read_str(m, l->mod_string[0], s, sizeof(s));
    ck_assert_str_eq(s, "initrd arg");
    uint8_t got[12];
    ck_assert(pmem_read(m, l->mod_start[0], got, 12));
    ck_assert(!memcmp(got, "module bytes", 12));

    /* the bootstrap processor, read back through cpu.h */
    cpu_t *c = machine_cpu(mach, 0);
    ck_assert_uint_eq(cpu_get(c, CPU_RAX), 0x2BADB002);
    ck_assert_uint_eq(cpu_get(c, CPU_RBX), l->info);
    ck_assert_uint_eq(cpu_get(c, CPU_RSP), MB_FW_STACK_TOP);
    ck_assert_uint_eq(cpu_get(c, CPU_RIP), K_TEXT_PA + 0x20);
    ck_assert_uint_eq(cpu_get(c, CPU_RFLAGS) & ((1u << 9) | (1u << 17)), 0);
    ck_assert_uint_eq(cpu_get(c, CPU_CR0) & 0x80000001u, 1);
    ck_assert_uint_eq(cpu_get(c, CPU_EFER), 0);
    for (int r = CPU_RCX; r <= CPU_R15; r++)
        if (r != CPU_RBX && r != CPU_RSP)
            ck_assert_msg(cpu_get(c, r) == 0, "%s is %#llx", cpu_reg_name(r), (unsigned long long)cpu_get(c, r));
    struct cpu_seg sg;
    cpu_get_seg(c, CPU_CS, &sg);
    check_seg("cpu CS", &sg, MB_SEL_CODE32, 0xB);
    const enum cpu_segreg data[] = { CPU_DS, CPU_ES, CPU_FS, CPU_GS, CPU_SS };
    for (unsigned i = 0; i < 5; i++) {
        cpu_get_seg(c, data[i], &sg);
        check_seg("cpu data", &sg, MB_SEL_DATA32, 0x3);
    }
    struct cpu_dtr dt;
    cpu_get_dtr(c, false, &dt);
    ck_assert(dt.base == MB_FW_GDT && dt.limit == 23);
    cpu_get_dtr(c, true, &dt);
    ck_assert(dt.base == 0 && dt.limit == 0);
    ck_assert_uint_eq(cpu_cpl(c), 0);
    uint64_t v;
    ck_assert(cpu_msr_read(c, 0x2FF, &v));
    ck_assert_uint_eq(v, 0x806);
    /* application processors: in the INIT state, waiting for a start-up IPI */
    for (unsigned lp = 1; lp < 3; lp++) {
        cpu_t *a = machine_cpu(mach, lp);
        ck_assert(cpu_waiting_for_sipi(a));
        ck_assert(cpu_halted(a));
        ck_assert_uint_eq(cpu_get(a, CPU_RIP), 0xFFF0);
        ck_assert_uint_eq(cpu_get(a, CPU_CR0), 0x60000010);
        cpu_get_seg(a, CPU_CS, &sg);
        ck_assert_uint_eq(sg.sel, 0xF000);
    }
}
END_TEST

START_TEST(machine_load_errors)
{
    const char *dir = tmp_dir();
    struct k32 ks = elf_kernel();
    uint8_t *b = emit_elf(&ks);
    char *kpath = write_file(dir, "kernel.elf", b, ks.size);
    struct machine_config cfg = { .nlps = 1, .mem_size = MEM_SIZE };
    machine_t *mach;
    char msg[600] = "";
    ck_assert_msg(machine_create(&cfg, &mach, msg, sizeof(msg)), "%s", msg);
    harness_own(release_machine, mach);
    static struct mb_options o;
    memset(&o, 0, sizeof(o));
    o.kernel = kpath;
    o.nmods = 1;
    o.mods[0].path = "/nonexistent/module.img";
    ck_assert(!machine_load_multiboot(mach, &o, msg, sizeof(msg)));
    ck_assert_msg_contains("missing-module", msg, "/nonexistent/module.img: ");
    ck_assert(machine_multiboot_layout(mach) == NULL);
    o.nmods = 0;
    o.kernel = "/nonexistent/kernel";
    ck_assert(!machine_load_multiboot(mach, &o, msg, sizeof(msg)));
    ck_assert_msg_contains("missing-kernel", msg, "/nonexistent/kernel: ");
    ks.cls = 2;
    o.kernel = write_file(dir, "k64.elf", emit_elf(&ks), ks.size);
    ck_assert(!machine_load_multiboot(mach, &o, msg, sizeof(msg)));
    ck_assert_msg_contains("elf64", msg, "k64.elf: ELF64");
}
END_TEST

/* A whole boot: a hand-assembled a.out-kludge kernel checks EAX, prints
 * its command line (EBX->cmdline) to port 0xE9 and writes "Shutdown" to
 * port 0x8900. Its loop uses `inc esi` (0x46), a REX prefix in 64-bit
 * mode, so the output is right only if the code runs as 32-bit code. With
 * two LPs, LP 1 stays parked on its HLT. */
static const uint8_t run_code[] = {
    0x3D, 0x02, 0xB0, 0xAD, 0x2B,       /* 0x20 cmp eax, 0x2BADB002 */
    0x75, 0x2A,                         /* 0x25 jne bad (0x51) */
    0x8B, 0x73, 0x10,                   /* 0x27 mov esi, [ebx + 16]: cmdline */
    0x8A, 0x06,                         /* 0x2A loop: mov al, [esi] */
    0x84, 0xC0,                         /* 0x2C test al, al */
    0x74, 0x05,                         /* 0x2E jz done (0x35) */
    0xE6, 0xE9,                         /* 0x30 out 0xE9, al */
    0x46,                               /* 0x32 inc esi */
    0xEB, 0xF5,                         /* 0x33 jmp loop */
    0x66, 0xBA, 0x00, 0x89,             /* 0x35 done: mov dx, 0x8900 */
    0xB0, 'S', 0xEE, 0xB0, 'h', 0xEE, 0xB0, 'u', 0xEE, 0xB0, 't', 0xEE,    /* mov al, c; out dx, al */
    0xB0, 'd', 0xEE, 0xB0, 'o', 0xEE, 0xB0, 'w', 0xEE, 0xB0, 'n', 0xEE,
    0xB0, 0x09, 0xE6, 0xF4, 0xF4,       /* 0x51 bad: mov al, 9; out 0xF4, al; hlt */
};

struct memcon { FILE *f; char *buf; size_t n; };

static void release_memcon(void *p)
{
    struct memcon *c = p;
    fclose(c->f);
    free(c->buf);
    free(c);
}

START_TEST(run_kernel)
{
    const char *dir = tmp_dir();
    struct mbh h = { .off = 0, .flags = MB_HF_AOUT_KLUDGE | MB_HF_MEMORY_INFO, .header_addr = 0x100000,
                     .load_addr = 0x100000, .load_end = 0, .bss_end = 0, .entry = 0x100020 };
    uint8_t img[0x20 + sizeof(run_code)];
    memset(img, 0, sizeof(img));
    put_header(img, sizeof(img), &h);
    memcpy(img + 0x20, run_code, sizeof(run_code));
    char *kpath = write_file(dir, "k.bin", img, sizeof(img));
    struct memcon *con = harness_own(release_memcon, calloc(1, sizeof(*con)));
    con->f = open_memstream(&con->buf, &con->n);
    ck_assert_ptr_nonnull(con->f);
    struct machine_config cfg = { .nlps = 2, .mem_size = MEM_SIZE, .quantum = 10, .max_insns = 100000,
                                  .console = con->f };
    machine_t *mach;
    char msg[600] = "";
    ck_assert_msg(machine_create(&cfg, &mach, msg, sizeof(msg)), "%s", msg);
    harness_own(release_machine, mach);
    static struct mb_options o;
    memset(&o, 0, sizeof(o));
    o.kernel = kpath;
    o.append = "x=1";
    ck_assert_msg(machine_load_multiboot(mach, &o, msg, sizeof(msg)), "%s", msg);
    struct machine_result r;
    machine_run(mach, &r);
    fflush(con->f);
    char want[700];
    snprintf(want, sizeof(want), "%s x=1", kpath);
    ck_assert_msg(r.end == MEND_EXIT_DEVICE && r.status == 1, "end %d status %d: %s", r.end, r.status, r.reason);
    ck_assert_msg(con->n == strlen(want) && !memcmp(con->buf, want, con->n), "console '%.*s'", (int)con->n,
                  con->buf);
    cpu_t *ap = machine_cpu(mach, 1);            /* never started: no start-up IPI was sent */
    ck_assert(cpu_waiting_for_sipi(ap));
    ck_assert_uint_eq(cpu_insns(ap), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("multiboot");
    TCase *t = harness_tcase("header");
    ADD_ROWS(t, header_search, where_rows);
    tcase_add_test(t, header_bad_checksum_then_good);
    ADD_ROWS(t, header_flags, flag_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("aout");
    tcase_add_test(t, aout_load);
    tcase_add_test(t, aout_offset_and_zero_fields);
    ADD_ROWS(t, aout_malformed, aout_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("elf32");
    tcase_add_test(t, elf_load);
    ADD_ROWS(t, elf_entry, entry_rows);
    ADD_ROWS(t, elf_malformed, elf_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("info");
    tcase_add_test(t, info_block);
    tcase_add_test(t, info_cmdline_without_append);
    ADD_ROWS(t, info_memory_map, mmap_rows);
    tcase_add_test(t, modules);
    ADD_ROWS(t, info_placement, place_rows);
    tcase_add_test(t, limits);
    tcase_add_test(t, module_does_not_fit);
    tcase_add_test(t, too_little_ram);
    suite_add_tcase(s, t);

    t = harness_tcase("entry");
    tcase_add_test(t, entry_state_recorded);
    tcase_add_test(t, entry_gdt);
    suite_add_tcase(s, t);

    t = harness_tcase("robustness");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, truncated_kernels);
    tcase_add_test(t, garbage_kernels);
    suite_add_tcase(s, t);

    t = harness_tcase("machine");
    tcase_add_test(t, machine_load);
    tcase_add_test(t, machine_load_errors);
    tcase_add_test(t, run_kernel);
    suite_add_tcase(s, t);
    return harness_run(s);
}
