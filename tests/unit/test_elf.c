/*
 * test_elf.c — ELF64 parsing (sim/elf.c) and the boot protocol's set-up of
 * guest RAM (sim/boot.c, docs/boot-protocol.md).
 *
 * ELF layout references: System V gABI "ELF Header" and "Program Header",
 * and the x86-64 psABI (EM_X86_64 = 62). Page-table and descriptor
 * formats: SDM 3A 4.5 (4-level paging) and 3.4.5 (segment descriptors).
 */
#include <stdint.h>

#include "boot.h"
#include "boot_protocol.h"
#include "elf.h"
#include "harness.h"
#include "paging.h"
#include "physmem.h"

/* ---- building ELF images in memory ---- */

#define PT_NULL    0
#define PT_LOAD    1
#define PT_DYNAMIC 2
#define PT_INTERP  3
#define PT_NOTE    4
#define PF_X 1
#define PF_W 2
#define PF_R 4

#define MAXPH 40
struct ph { uint32_t type, flags; uint64_t offset, vaddr, paddr, filesz, memsz; };
struct elf_spec {
    uint8_t cls, data, ver;
    uint16_t type, machine, phentsize;
    uint64_t entry, phoff;
    unsigned phnum;             /* e_phnum as written */
    unsigned nph;               /* program headers actually written */
    struct ph ph[MAXPH];
    size_t size;                /* file size */
};

#define TEXT_PA   0x100000ull
#define TEXT_OFF  0x1000ull
#define TEXT_LEN  0x20ull
#define DATA_PA   0x200000ull
#define DATA_OFF  0x1020ull
#define DATA_FLEN 0x10ull
#define DATA_MLEN 0x3000ull
#define FILE_SIZE 0x1030ull
#define MEM_SIZE  (64ull << 20)

/* A valid image: text (R X), data + .bss (R W), a PT_NOTE and an empty
 * PT_LOAD that the loader must skip. Virtual addresses differ from physical
 * ones on purpose: hvsim loads at p_paddr. */
static struct elf_spec valid_spec(void)
{
    struct elf_spec s = {
        .cls = 2, .data = 1, .ver = 1, .type = 2, .machine = 62, .phentsize = 56,
        .entry = TEXT_PA + 4, .phoff = 64, .phnum = 4, .nph = 4, .size = FILE_SIZE,
    };
    s.ph[0] = (struct ph){ PT_LOAD, PF_R | PF_X, TEXT_OFF, 0xFFFFFFFF80100000ull, TEXT_PA, TEXT_LEN, TEXT_LEN };
    s.ph[1] = (struct ph){ PT_NOTE, PF_R, 0x200, 0, 0, 0x10, 0x10 };
    s.ph[2] = (struct ph){ PT_LOAD, PF_R | PF_W, DATA_OFF, 0xFFFFFFFF80200000ull, DATA_PA, DATA_FLEN, DATA_MLEN };
    s.ph[3] = (struct ph){ PT_LOAD, PF_R, 0, 0x300000, 0x300000, 0, 0 };
    return s;
}

static void w16(uint8_t *p, uint64_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint64_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void w64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Serialize; the returned buffer has `s->size` bytes (at least 16 KiB are
 * allocated so that short files can be described too). The test owns it
 * (harness.h): released at teardown or by harness_release(). */
static uint8_t *emit(const struct elf_spec *s)
{
    size_t alloc = s->size < 0x4000 ? 0x4000 : s->size;
    uint8_t *b = calloc(1, alloc);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = s->cls;
    b[5] = s->data;
    b[6] = s->ver;
    w16(b + 16, s->type);
    w16(b + 18, s->machine);
    w32(b + 20, 1);
    w64(b + 24, s->entry);
    w64(b + 32, s->phoff);
    w16(b + 52, 64);
    w16(b + 54, s->phentsize);
    w16(b + 56, s->phnum);
    for (unsigned i = 0; i < s->nph; i++) {
        uint64_t o = s->phoff + 56ull * i;
        if (o + 56 > alloc)
            break;
        uint8_t *p = b + o;
        w32(p, s->ph[i].type);
        w32(p + 4, s->ph[i].flags);
        w64(p + 8, s->ph[i].offset);
        w64(p + 16, s->ph[i].vaddr);
        w64(p + 24, s->ph[i].paddr);
        w64(p + 32, s->ph[i].filesz);
        w64(p + 40, s->ph[i].memsz);
        w64(p + 48, 0x1000);
    }
    /* recognisable contents */
    for (uint64_t i = 0; i < TEXT_LEN && TEXT_OFF + i < alloc; i++)
        b[TEXT_OFF + i] = (uint8_t)(0x90 + i);
    for (uint64_t i = 0; i < DATA_FLEN && DATA_OFF + i < alloc; i++)
        b[DATA_OFF + i] = (uint8_t)(0xD0 + i);
    return b;
}

START_TEST(valid_image)
{
    struct elf_spec s = valid_spec();
    uint8_t *f = emit(&s);
    struct elf_image img;
    char msg[256] = "";
    ck_assert_msg(elf_parse(f, s.size, MEM_SIZE, &img, msg, sizeof(msg)), "valid image refused: %s", msg);
    ck_assert_uint_eq(img.entry, TEXT_PA + 4);
    ck_assert_uint_eq(img.nseg, 2);                 /* PT_NOTE and the empty PT_LOAD are skipped */
    ck_assert_uint_eq(img.seg[0].paddr, TEXT_PA);
    ck_assert_uint_eq(img.seg[0].vaddr, 0xFFFFFFFF80100000ull);
    ck_assert_uint_eq(img.seg[0].offset, TEXT_OFF);
    ck_assert_uint_eq(img.seg[0].filesz, TEXT_LEN);
    ck_assert_uint_eq(img.seg[0].memsz, TEXT_LEN);
    ck_assert_uint_eq(img.seg[0].flags, PF_R | PF_X);
    ck_assert_uint_eq(img.seg[1].paddr, DATA_PA);
    ck_assert_uint_eq(img.seg[1].offset, DATA_OFF);
    ck_assert_uint_eq(img.seg[1].filesz, DATA_FLEN);
    ck_assert_uint_eq(img.seg[1].memsz, DATA_MLEN);
    ck_assert_uint_eq(img.seg[1].flags, PF_R | PF_W);
    harness_release(f);
}
END_TEST

/* Boundaries that are still valid. */
struct ok_row { const char *name; int tweak; };
enum { OK_ENTRY_LAST_BYTE, OK_SEG_ENDS_AT_EOF, OK_SEG_ENDS_AT_RAM_END, OK_ADJACENT_SEGMENTS, OK_32_SEGMENTS,
       OK_PHDRS_END_AT_EOF };
static const struct ok_row ok_rows[] = {
    { "ok/entry-at-last-byte-of-text", OK_ENTRY_LAST_BYTE },
    { "ok/segment-ends-at-end-of-file", OK_SEG_ENDS_AT_EOF },
    { "ok/segment-ends-at-end-of-ram", OK_SEG_ENDS_AT_RAM_END },
    { "ok/adjacent-segments", OK_ADJACENT_SEGMENTS },
    { "ok/32-segments", OK_32_SEGMENTS },
    { "ok/program-headers-end-at-eof", OK_PHDRS_END_AT_EOF },
};

START_TEST(valid_boundaries)
{
    const struct ok_row *row = &ok_rows[_i];
    struct elf_spec s = valid_spec();
    switch (row->tweak) {
    case OK_ENTRY_LAST_BYTE: s.entry = TEXT_PA + TEXT_LEN - 1; break;
    case OK_SEG_ENDS_AT_EOF: s.size = DATA_OFF + DATA_FLEN; break;
    case OK_SEG_ENDS_AT_RAM_END: s.ph[2].paddr = MEM_SIZE - DATA_MLEN; break;
    case OK_ADJACENT_SEGMENTS: s.ph[2].paddr = TEXT_PA + TEXT_LEN; break;
    case OK_32_SEGMENTS:                       /* text + data + 30 more = 32 */
        s.nph = s.phnum = 34;
        s.phoff = 0x2000;
        s.size = 0x3000;
        for (unsigned i = 4; i < 34; i++)
            s.ph[i] = (struct ph){ PT_LOAD, PF_R, 0, 0, 0x400000 + 0x1000ull * i, 0, 0x1000 };
        break;
    case OK_PHDRS_END_AT_EOF:
        s.phoff = 0x2000;
        s.size = 0x2000 + 4 * 56;
        break;
    }
    uint8_t *f = emit(&s);
    struct elf_image img;
    char msg[256] = "";
    ck_assert_msg(elf_parse(f, s.size, MEM_SIZE, &img, msg, sizeof(msg)), "%s: refused: %s", row->name, msg);
    harness_release(f);
}
END_TEST

/* One malformed variant per check in sim/elf.c. The message must name the
 * field at fault (docs/boot-protocol.md: "a message naming ... the field"). */
enum bad {
    B_SHORT, B_EMPTY, B_MAGIC, B_CLASS32, B_BIGENDIAN, B_EIVERSION, B_DYN, B_REL, B_MACHINE, B_PHNUM0,
    B_PHENTSIZE, B_PHOFF_PAST_EOF, B_PHOFF_OVERFLOW, B_PHDRS_CUT, B_INTERP, B_DYNAMIC, B_FILESZ_GT_MEMSZ,
    B_SEG_PAST_EOF, B_SEG_OFFSET_OVERFLOW, B_SEG_FILESZ_OVERFLOW, B_SEG_OUTSIDE_RAM, B_SEG_PADDR_OVERFLOW,
    B_SEG_STRADDLES_RAM_END, B_OVERLAP, B_OVERLAP_CONTAINED, B_NO_LOAD, B_ONLY_EMPTY_LOAD, B_ENTRY_IN_DATA,
    B_ENTRY_PAST_TEXT, B_ENTRY_BELOW_TEXT, B_ENTRY_IS_VADDR, B_TOO_MANY_SEGMENTS, B_FILESZ_GT_MEMSZ_ZERO,
};
struct bad_row { const char *name; enum bad kind; const char *needle1, *needle2; };
static const struct bad_row bad_rows[] = {
    { "bad/too-short-63",            B_SHORT,          "63 bytes", "too short" },
    { "bad/empty",                   B_EMPTY,          "0 bytes", "ELF header" },
    { "bad/magic",                   B_MAGIC,          "bad magic", "ELF" },
    { "bad/elfclass32",              B_CLASS32,        "EI_CLASS", "64-bit" },
    { "bad/big-endian",              B_BIGENDIAN,      "EI_DATA", "little-endian" },
    { "bad/ei-version-0",            B_EIVERSION,      "EI_VERSION", "expected 1" },
    { "bad/et-dyn",                  B_DYN,            "e_type", "ET_DYN" },
    { "bad/et-rel",                  B_REL,            "e_type is 1", "ET_EXEC" },
    { "bad/machine-i386",            B_MACHINE,        "e_machine is 3", "EM_X86_64" },
    { "bad/phnum-0",                 B_PHNUM0,         "e_phnum", "no program headers" },
    { "bad/phentsize-32",            B_PHENTSIZE,      "e_phentsize is 32", "56" },
    { "bad/phoff-past-eof",          B_PHOFF_PAST_EOF, "e_phoff", "end of the file" },
    { "bad/phoff-overflow",          B_PHOFF_OVERFLOW, "e_phoff", "end of the file" },
    { "bad/program-headers-cut",     B_PHDRS_CUT,      "e_phoff", "4 entries" },
    { "bad/pt-interp",               B_INTERP,         "program header 1", "PT_INTERP" },
    { "bad/pt-dynamic",              B_DYNAMIC,        "program header 2", "PT_DYNAMIC" },
    { "bad/filesz-gt-memsz",         B_FILESZ_GT_MEMSZ, "p_filesz 0x3001", "p_memsz 0x3000" },
    { "bad/segment-past-eof",        B_SEG_PAST_EOF,   "segment 2", "end of the file" },
    { "bad/segment-offset-overflow", B_SEG_OFFSET_OVERFLOW, "segment 0", "end of the file" },
    { "bad/segment-filesz-overflow", B_SEG_FILESZ_OVERFLOW, "segment 0", "end of the file" },
    { "bad/segment-outside-ram",     B_SEG_OUTSIDE_RAM, "segment 2", "outside the machine's 64 MiB" },
    { "bad/segment-paddr-overflow",  B_SEG_PADDR_OVERFLOW, "segment 2", "outside the machine's" },
    { "bad/segment-straddles-ram-end", B_SEG_STRADDLES_RAM_END, "segment 2", "outside the machine's" },
    { "bad/overlapping-segments",    B_OVERLAP,        "segment 2", "overlaps" },
    { "bad/segment-inside-another",  B_OVERLAP_CONTAINED, "segment 2", "overlaps" },
    { "bad/no-pt-load",              B_NO_LOAD,        "no PT_LOAD", "with contents" },
    { "bad/only-empty-pt-load",      B_ONLY_EMPTY_LOAD, "no PT_LOAD", "with contents" },
    { "bad/entry-in-data-segment",   B_ENTRY_IN_DATA,  "e_entry 0x200000", "executable" },
    { "bad/entry-one-past-text",     B_ENTRY_PAST_TEXT, "e_entry 0x100020", "executable" },
    { "bad/entry-below-text",        B_ENTRY_BELOW_TEXT, "e_entry 0xfffff", "executable" },
    { "bad/entry-is-virtual-address", B_ENTRY_IS_VADDR, "e_entry 0xffffffff80100000", "physical" },
    { "bad/33-segments",             B_TOO_MANY_SEGMENTS, "more than 32", "PT_LOAD" },
    /* gABI "Program Header": "The file size may not be larger than the memory
     * size." — also when p_memsz is 0 (such a segment used to be skipped
     * before the check). */
    { "bad/filesz-gt-zero-memsz",    B_FILESZ_GT_MEMSZ_ZERO, "p_filesz 0x10", "p_memsz 0" },
};

START_TEST(malformed)
{
    const struct bad_row *row = &bad_rows[_i];
    struct elf_spec s = valid_spec();
    switch (row->kind) {
    case B_SHORT: s.size = 63; break;
    case B_EMPTY: s.size = 0; break;
    case B_MAGIC: break;                                 /* patched after emit */
    case B_CLASS32: s.cls = 1; break;
    case B_BIGENDIAN: s.data = 2; break;
    case B_EIVERSION: s.ver = 0; break;
    case B_DYN: s.type = 3; break;
    case B_REL: s.type = 1; break;
    case B_MACHINE: s.machine = 3; break;
    case B_PHNUM0: s.phnum = 0; break;
    case B_PHENTSIZE: s.phentsize = 32; break;
    case B_PHOFF_PAST_EOF: s.phoff = FILE_SIZE + 8; s.nph = 0; break;
    case B_PHOFF_OVERFLOW: s.phoff = 0xFFFFFFFFFFFFFFC8ull; s.nph = 0; break;
    case B_PHDRS_CUT: s.phoff = FILE_SIZE - 4 * 56 + 1; break;
    case B_INTERP: s.ph[1].type = PT_INTERP; break;
    case B_DYNAMIC: s.ph[2].type = PT_DYNAMIC; break;
    case B_FILESZ_GT_MEMSZ: s.ph[2].filesz = DATA_MLEN + 1; s.size = 0x5000; break;
    case B_SEG_PAST_EOF: s.size = DATA_OFF + DATA_FLEN - 1; break;
    case B_SEG_OFFSET_OVERFLOW: s.ph[0].offset = 0xFFFFFFFFFFFFFFF0ull; break;
    case B_SEG_FILESZ_OVERFLOW: s.ph[0].filesz = 0xFFFFFFFFFFFFF000ull; s.ph[0].memsz = 0xFFFFFFFFFFFFF000ull; break;
    case B_SEG_OUTSIDE_RAM: s.ph[2].paddr = MEM_SIZE; break;
    case B_SEG_PADDR_OVERFLOW: s.ph[2].paddr = 0xFFFFFFFFFFFFF000ull; break;
    case B_SEG_STRADDLES_RAM_END: s.ph[2].paddr = MEM_SIZE - DATA_MLEN + 1; break;
    case B_OVERLAP: s.ph[2].paddr = TEXT_PA + TEXT_LEN - 1; break;
    case B_OVERLAP_CONTAINED: s.ph[2].paddr = TEXT_PA + 4; s.ph[2].memsz = 4; s.ph[2].filesz = 4; break;
    case B_NO_LOAD: s.ph[0].type = PT_NOTE; s.ph[2].type = PT_NULL; s.ph[3].type = PT_NOTE; break;
    case B_ONLY_EMPTY_LOAD: s.ph[0].memsz = s.ph[0].filesz = 0; s.ph[2].memsz = s.ph[2].filesz = 0; break;
    case B_ENTRY_IN_DATA: s.entry = DATA_PA; break;
    case B_ENTRY_PAST_TEXT: s.entry = TEXT_PA + TEXT_LEN; break;
    case B_ENTRY_BELOW_TEXT: s.entry = TEXT_PA - 1; break;
    case B_ENTRY_IS_VADDR: s.entry = 0xFFFFFFFF80100000ull; break;
    case B_TOO_MANY_SEGMENTS:                  /* text + data + 31 more = 33 */
        s.nph = s.phnum = 35;
        s.phoff = 0x2000;
        s.size = 0x3000;
        for (unsigned i = 4; i < 35; i++)
            s.ph[i] = (struct ph){ PT_LOAD, PF_R, 0, 0, 0x400000 + 0x1000ull * i, 0, 0x1000 };
        break;
    case B_FILESZ_GT_MEMSZ_ZERO: s.ph[3].filesz = 0x10; s.ph[3].offset = 0x100; break;
    }
    uint8_t *f = emit(&s);
    if (row->kind == B_MAGIC)
        f[1] = 'e';
    struct elf_image img;
    char msg[256] = "";
    bool ok = elf_parse(f, s.size, MEM_SIZE, &img, msg, sizeof(msg));
    ck_assert_msg(!ok, "%s: the malformed image was accepted", row->name);
    ck_assert_msg_contains(row->name, msg, row->needle1);
    ck_assert_msg_contains(row->name, msg, row->needle2);
    ck_assert_msg(strchr(msg, '\n') == NULL, "%s: message is not one line: %s", row->name, msg);
    harness_release(f);
}
END_TEST

/* A message that does not fit is cut, never overflows. */
START_TEST(message_buffer_is_bounded)
{
    struct elf_spec s = valid_spec();
    s.entry = DATA_PA;
    uint8_t *f = emit(&s);
    struct elf_image img;
    char msg[16];
    memset(msg, 'Z', sizeof(msg));
    ck_assert(!elf_parse(f, s.size, MEM_SIZE, &img, msg, 8));
    ck_assert_uint_eq(strlen(msg), 7);
    ck_assert_uint_eq((unsigned char)msg[8], 'Z');
    harness_release(f);
}
END_TEST

/* ---- boot_prepare ---- */

struct pm_walk { physmem_t *m; };
static bool pm_read64(void *ctx, uint64_t pa, uint64_t *v) { return pmem_read(((struct pm_walk *)ctx)->m, pa, v, 8); }
static bool pm_cas(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    (void)ctx; (void)pa; (void)old; (void)nv;
    return false;
}
static const struct pg_mem_ops pm_ops = { pm_read64, pm_cas };

static void release_pm(void *p) { pmem_destroy(p); }

/* pmem_create, owned by the test */
static physmem_t *new_pm(uint64_t size)
{
    physmem_t *m = NULL;
    ck_assert_int_eq(pmem_create(size, &m), PMEM_OK);
    return harness_own(release_pm, m);
}

struct booted {
    physmem_t *m;
    struct elf_image img;
    struct boot_layout l;
    uint8_t *file;
    size_t size;
};

static void boot_valid(struct booted *b, uint64_t mem, unsigned nlps, const char *cmdline)
{
    struct elf_spec s = valid_spec();
    b->file = emit(&s);
    b->size = s.size;
    char msg[256] = "";
    ck_assert_msg(elf_parse(b->file, b->size, mem, &b->img, msg, sizeof(msg)), "%s", msg);
    b->m = new_pm(mem);
    /* garbage where .bss goes: the loader must clear it */
    uint8_t junk[DATA_MLEN];
    memset(junk, 0xEE, sizeof(junk));
    ck_assert(pmem_write(b->m, DATA_PA, junk, sizeof(junk)));
    struct boot_params p = { nlps, cmdline, 2000000000ull };
    ck_assert_msg(boot_prepare(b->m, &b->img, b->file, b->size, &p, &b->l, msg, sizeof(msg)), "boot_prepare: %s", msg);
}

static void boot_free(struct booted *b)
{
    harness_release(b->m);
    harness_release(b->file);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t c, uint64_t clen) { return a < c + clen && c < a + alen; }

START_TEST(boot_info_block)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 3, "console=hvsim debug");
    const struct boot_layout *l = &b.l;
    struct hvsim_boot_info bi;
    ck_assert(pmem_read(b.m, l->info, &bi, sizeof(bi)));
    ck_assert_uint_eq(bi.magic, HVSIM_BOOT_MAGIC);
    ck_assert_uint_eq(bi.magic, 0x544F4F424D535648ull);
    ck_assert_uint_eq(bi.version, 1);
    ck_assert_uint_eq(bi.size, 128 + 24 * bi.mmap_count);
    ck_assert_uint_eq(bi.lp_count, 3);
    ck_assert_uint_eq(bi.mem_size, MEM_SIZE);
    ck_assert_uint_eq(bi.tsc_hz, 2000000000ull);
    ck_assert_uint_eq(bi.stack_size, BOOT_STACK_SIZE);
    ck_assert_uint_eq(bi.stack_size, 64 * 1024);
    ck_assert_uint_eq(bi.stacks, l->stacks);
    ck_assert_uint_eq(bi.boot_base, l->base);
    ck_assert_uint_eq(bi.boot_size, l->size);
    ck_assert_uint_eq(bi.identity_limit, 4ull << 30);
    ck_assert_uint_eq(l->identity_limit, 4ull << 30);
    ck_assert_uint_eq(l->entry, TEXT_PA + 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(bi.reserved1[i], 0);
    /* command line: NUL-terminated copy at bi.cmdline */
    ck_assert_uint_eq(bi.cmdline_len, strlen("console=hvsim debug"));
    char cmd[64] = "";
    ck_assert(pmem_read(b.m, bi.cmdline, cmd, bi.cmdline_len + 1));
    ck_assert_str_eq(cmd, "console=hvsim debug");
    ck_assert(bi.cmdline >= l->base && bi.cmdline + bi.cmdline_len + 1 <= l->base + l->size);
    boot_free(&b);
}
END_TEST

START_TEST(boot_no_cmdline)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 1, NULL);
    struct hvsim_boot_info bi;
    ck_assert(pmem_read(b.m, b.l.info, &bi, sizeof(bi)));
    ck_assert_uint_eq(bi.cmdline, 0);
    ck_assert_uint_eq(bi.cmdline_len, 0);
    boot_free(&b);
}
END_TEST

/* Region placement (docs/boot-protocol.md "Boot structures"). */
START_TEST(boot_region_placement)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 2, "x");
    const struct boot_layout *l = &b.l;
    ck_assert_uint_eq(l->base, 0x10000);       /* lowest page at or above 64 KiB clear of the image */
    ck_assert_uint_eq(l->base & 0xFFF, 0);
    ck_assert(l->base + l->size <= MEM_SIZE);
    for (unsigned i = 0; i < b.img.nseg; i++)
        ck_assert_msg(!overlaps(l->base, l->size, b.img.seg[i].paddr, b.img.seg[i].memsz),
                      "boot region [%#llx,+%#llx) overlaps segment %u", (unsigned long long)l->base,
                      (unsigned long long)l->size, i);
    /* every structure inside the region, in distinct pages */
    uint64_t parts[] = { l->pml4, l->gdt, l->info, l->stacks };
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_msg(parts[i] >= l->base && parts[i] < l->base + l->size, "part %u outside the region", i);
        ck_assert_msg((parts[i] & 0xFFF) == 0, "part %u not page-aligned", i);
        for (unsigned j = 0; j < i; j++)
            ck_assert_msg(parts[i] != parts[j], "parts %u and %u share a page", i, j);
    }
    /* the stacks of both LPs fit, 16-byte aligned tops */
    ck_assert(l->stacks + 2ull * BOOT_STACK_SIZE <= l->base + l->size);
    ck_assert_uint_eq((l->stacks + BOOT_STACK_SIZE) & 15, 0);
    boot_free(&b);
}
END_TEST

/* A segment where the region would go pushes it up, past the segment. */
struct place_row { const char *name; uint64_t seg_pa, seg_len; uint64_t want_base; };
static const struct place_row place_rows[] = {
    { "place/segment-at-64k",            0x10000, 0x10000, 0x20000 },
    { "place/segment-unaligned-end",     0x10000, 0x10001, 0x21000 },
    { "place/segment-just-above-region", 0x80000, 0x1000,  0x10000 },
    { "place/segment-below-64k",         0x1000,  0x2000,  0x10000 },
    { "place/segment-straddles-64k",     0xF000,  0x3000,  0x12000 },
};

START_TEST(boot_region_moves_past_segments)
{
    const struct place_row *row = &place_rows[_i];
    physmem_t *m = new_pm(MEM_SIZE);
    struct elf_image img = { .entry = row->seg_pa, .nseg = 1 };
    img.seg[0] = (struct elf_segment){ row->seg_pa, row->seg_pa, 0, 0, row->seg_len, PF_R | PF_X };
    uint8_t file[16] = { 0 };
    struct boot_params p = { 1, NULL, 1 };
    struct boot_layout l;
    char msg[256] = "";
    ck_assert_msg(boot_prepare(m, &img, file, sizeof(file), &p, &l, msg, sizeof(msg)), "%s: %s", row->name, msg);
    ck_assert_msg(l.base == row->want_base, "%s: base %#llx, expected %#llx", row->name,
                  (unsigned long long)l.base, (unsigned long long)row->want_base);
    ck_assert_msg(!overlaps(l.base, l.size, row->seg_pa, row->seg_len), "%s: overlap", row->name);
    harness_release(m);
}
END_TEST

/* Memory map: sorted, non-overlapping, no holes, covering [0, RAM), with
 * the image and boot ranges marked exactly. */
static void check_mmap(const char *name, physmem_t *m, const struct boot_layout *l, const struct elf_image *img)
{
    struct hvsim_boot_info bi;
    ck_assert(pmem_read(m, l->info, &bi, sizeof(bi)));
    ck_assert_msg(bi.mmap_count >= 1 && bi.mmap_count <= (4096 - 128) / 24, "%s: %u entries", name, bi.mmap_count);
    struct hvsim_mmap_entry e[170];
    ck_assert(pmem_read(m, l->info + 128, e, sizeof(e[0]) * bi.mmap_count));
    uint64_t at = 0;
    unsigned nimage = 0, nboot = 0;
    for (unsigned i = 0; i < bi.mmap_count; i++) {
        ck_assert_msg(e[i].base == at, "%s: entry %u starts at %#llx, expected %#llx (hole or overlap)", name, i,
                      (unsigned long long)e[i].base, (unsigned long long)at);
        ck_assert_msg(e[i].length > 0, "%s: entry %u is empty", name, i);
        ck_assert_msg(e[i].reserved == 0, "%s: entry %u reserved field", name, i);
        switch (e[i].type) {
        case HVSIM_MEM_USABLE:
            break;
        case HVSIM_MEM_BOOT:
            nboot++;
            ck_assert_msg(e[i].base == l->base && e[i].length == l->size, "%s: boot entry %u", name, i);
            break;
        case HVSIM_MEM_IMAGE: {
            bool found = false;
            for (unsigned k = 0; k < img->nseg; k++)
                found |= img->seg[k].paddr == e[i].base && img->seg[k].memsz == e[i].length;
            ck_assert_msg(found, "%s: image entry %u [%#llx,+%#llx) matches no segment", name, i,
                          (unsigned long long)e[i].base, (unsigned long long)e[i].length);
            nimage++;
            break;
        }
        default:
            ck_abort_msg("%s: entry %u has type %#x", name, i, e[i].type);
        }
        if (i > 0 && e[i].type == HVSIM_MEM_USABLE)
            ck_assert_msg(e[i - 1].type != HVSIM_MEM_USABLE, "%s: two adjacent usable entries", name);
        at = e[i].base + e[i].length;
    }
    ck_assert_msg(at == pmem_size(m), "%s: map ends at %#llx, RAM at %#llx", name, (unsigned long long)at,
                  (unsigned long long)pmem_size(m));
    ck_assert_msg(nimage == img->nseg, "%s: %u image entries for %u segments", name, nimage, img->nseg);
    ck_assert_msg(nboot == 1, "%s: %u boot entries", name, nboot);
}

START_TEST(boot_memory_map)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 2, "abc");
    check_mmap("mmap/valid-image", b.m, &b.l, &b.img);
    boot_free(&b);
}
END_TEST

/* Segments given out of address order, one ending exactly at the end of RAM. */
START_TEST(boot_memory_map_unsorted_segments)
{
    const uint64_t mem = 16ull << 20;
    physmem_t *m = new_pm(mem);
    struct elf_image img = { .entry = 0x500000, .nseg = 3 };
    img.seg[0] = (struct elf_segment){ mem - 0x3000, 0, 0, 0, 0x3000, PF_R };
    img.seg[1] = (struct elf_segment){ 0x500000, 0, 0, 0x10, 0x1234, PF_R | PF_X };
    img.seg[2] = (struct elf_segment){ 0x10000, 0, 0, 0, 0x800, PF_R | PF_W };
    uint8_t file[16] = { 0 };
    struct boot_params p = { 4, "k", 1 };
    struct boot_layout l;
    char msg[256] = "";
    ck_assert_msg(boot_prepare(m, &img, file, sizeof(file), &p, &l, msg, sizeof(msg)), "%s", msg);
    ck_assert_uint_eq(l.base, 0x11000);
    check_mmap("mmap/unsorted-segments", m, &l, &img);
    harness_release(m);
}
END_TEST

START_TEST(boot_segments_loaded)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 1, NULL);
    uint8_t text[TEXT_LEN], data[DATA_MLEN];
    ck_assert(pmem_read(b.m, TEXT_PA, text, sizeof(text)));
    ck_assert(pmem_read(b.m, DATA_PA, data, sizeof(data)));
    for (unsigned i = 0; i < TEXT_LEN; i++)
        ck_assert_msg(text[i] == 0x90 + i, "text byte %u is %#x", i, text[i]);
    for (unsigned i = 0; i < DATA_FLEN; i++)
        ck_assert_msg(data[i] == 0xD0 + i, "data byte %u is %#x", i, data[i]);
    for (unsigned i = DATA_FLEN; i < DATA_MLEN; i++)
        ck_assert_msg(data[i] == 0, ".bss byte %u is %#x (not cleared)", i, data[i]);
    boot_free(&b);
}
END_TEST

/* Page tables (SDM 3A 4.5): walk them with the model's own walker. */
struct ident_row { const char *name; uint64_t la; bool present; };
static const struct ident_row ident_rows[] = {
    { "ident/zero",           0,                   true },
    { "ident/last-of-first-2m", 0x1FFFFF,          true },
    { "ident/second-2m",      0x200000,            true },
    { "ident/last-of-1g",     0x3FFFFFFF,          true },
    { "ident/second-1g",      0x40000000,          true },
    { "ident/beyond-ram",     0x80001234,          true },
    { "ident/last-byte-4g",   0xFFFFFFFF,          true },
    { "ident/4g-not-mapped",  0x100000000ull,      false },
    { "ident/512g-not-mapped", 0x8000000000ull,    false },
};

START_TEST(boot_identity_map)
{
    const struct ident_row *row = &ident_rows[_i];
    struct booted b;
    boot_valid(&b, MEM_SIZE, 1, NULL);
    struct pm_walk w = { b.m };
    struct pg_ctx c = { .cr0 = 0x80010033, .cr3 = b.l.pml4, .cr4 = 0x620, .efer = 0xD00, .cpl = 0,
                        .maxphyaddr = 46, .has_1g_pages = true };
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &pm_ops, &w, row->la, PG_ACC_FETCH, false, &r);
    if (!row->present) {
        ck_assert_msg(st == PG_FAULT, "%s: status %d", row->name, st);
        ck_assert_msg(!(r.error_code & PF_EC_P), "%s: not a not-present fault (ec %#x)", row->name, r.error_code);
    } else {
        ck_assert_msg(st == PG_OK, "%s: status %d ec %#x", row->name, st, r.error_code);
        ck_assert_msg(r.pa == row->la, "%s: pa %#llx", row->name, (unsigned long long)r.pa);
        ck_assert_msg(r.page_size == (2u << 20), "%s: page size %#llx", row->name, (unsigned long long)r.page_size);
        ck_assert_msg(r.writable && !r.user && !r.nx && !r.global, "%s: rights w%d u%d nx%d g%d", row->name,
                      r.writable, r.user, r.nx, r.global);
        /* supervisor writes also allowed */
        ck_assert_msg(pg_walk(&c, &pm_ops, &w, row->la, PG_ACC_WRITE, false, &r) == PG_OK, "%s: write", row->name);
    }
    boot_free(&b);
}
END_TEST

/* Every PDE of the 4-GiB identity map: 2-MiB page i maps physical i << 21,
 * P | R/W | PS, supervisor, not global, no reserved bits. */
START_TEST(boot_page_table_entries)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 1, NULL);
    uint64_t pml4[512], pdpt[512];
    ck_assert(pmem_read(b.m, b.l.pml4, pml4, sizeof(pml4)));
    ck_assert_uint_eq(pml4[0] & 0xFFF, PTE_P | PTE_RW);
    for (int i = 1; i < 512; i++)
        ck_assert_msg(pml4[i] == 0, "PML4E %d is %#llx", i, (unsigned long long)pml4[i]);
    ck_assert(pmem_read(b.m, pml4[0] & ~0xFFFull, pdpt, sizeof(pdpt)));
    for (int i = 0; i < 512; i++) {
        if (i >= 4) {
            ck_assert_msg(pdpt[i] == 0, "PDPTE %d is %#llx", i, (unsigned long long)pdpt[i]);
            continue;
        }
        ck_assert_msg((pdpt[i] & 0xFFF) == (PTE_P | PTE_RW), "PDPTE %d flags %#llx", i,
                      (unsigned long long)(pdpt[i] & 0xFFF));
        uint64_t pd[512];
        ck_assert(pmem_read(b.m, pdpt[i] & ~0xFFFull, pd, sizeof(pd)));
        for (int k = 0; k < 512; k++) {
            uint64_t want = ((uint64_t)(i * 512 + k) << 21) | PTE_P | PTE_RW | PTE_PS;
            ck_assert_msg(pd[k] == want, "PDE %d/%d is %#llx, expected %#llx", i, k, (unsigned long long)pd[k],
                          (unsigned long long)want);
        }
    }
    boot_free(&b);
}
END_TEST

/* More RAM than 4 GiB: the map covers RAM rounded up to 1 GiB. */
START_TEST(boot_identity_limit_above_4g)
{
    struct booted b;
    const uint64_t mem = (4ull << 30) + (512ull << 20);
    boot_valid(&b, mem, 1, NULL);
    ck_assert_uint_eq(b.l.identity_limit, 5ull << 30);
    struct pm_walk w = { b.m };
    struct pg_ctx c = { .cr0 = 0x80010033, .cr3 = b.l.pml4, .cr4 = 0x620, .efer = 0xD00, .maxphyaddr = 46,
                        .has_1g_pages = true };
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &pm_ops, &w, (5ull << 30) - 1, PG_ACC_READ, false, &r), PG_OK);
    ck_assert_uint_eq(r.pa, (5ull << 30) - 1);
    ck_assert_int_eq(pg_walk(&c, &pm_ops, &w, 5ull << 30, PG_ACC_READ, false, &r), PG_FAULT);
    check_mmap("mmap/above-4g", b.m, &b.l, &b.img);
    boot_free(&b);
}
END_TEST

/* GDT (SDM 3A 3.4.5, 5.2.1): null, 64-bit code DPL 0, data DPL 0. */
START_TEST(boot_gdt)
{
    struct booted b;
    boot_valid(&b, MEM_SIZE, 1, NULL);
    uint64_t g[3];
    ck_assert(pmem_read(b.m, b.l.gdt, g, sizeof(g)));
    ck_assert_uint_eq(g[0], 0);
    struct { const char *name; uint64_t d; unsigned type; bool l, db; } rows[] = {
        { "gdt/code64-0x08", g[BOOT_SEL_CODE64 / 8], 0xB, true, false },
        { "gdt/data-0x10",   g[BOOT_SEL_DATA / 8],   0x3, false, true },
    };
    for (unsigned i = 0; i < 2; i++) {
        uint64_t d = rows[i].d;
        ck_assert_msg(((d >> 40) & 0xF) == rows[i].type, "%s: type %llu", rows[i].name,
                      (unsigned long long)((d >> 40) & 0xF));
        ck_assert_msg((d >> 44) & 1, "%s: S = 0", rows[i].name);
        ck_assert_msg(((d >> 45) & 3) == 0, "%s: DPL %llu", rows[i].name, (unsigned long long)((d >> 45) & 3));
        ck_assert_msg((d >> 47) & 1, "%s: not present", rows[i].name);
        ck_assert_msg(((d >> 53) & 1) == rows[i].l, "%s: L", rows[i].name);
        ck_assert_msg(((d >> 54) & 1) == rows[i].db, "%s: D/B", rows[i].name);
        ck_assert_msg((d >> 55) & 1, "%s: G = 0", rows[i].name);
        uint64_t base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
        uint64_t limit = (d & 0xFFFF) | (((d >> 48) & 0xF) << 16);
        ck_assert_msg(base == 0 && limit == 0xFFFFF, "%s: base %#llx limit %#llx", rows[i].name,
                      (unsigned long long)base, (unsigned long long)limit);
    }
    boot_free(&b);
}
END_TEST

/* No room for the boot structures: status "no room" (docs/boot-protocol.md). */
struct noroom_row { const char *name; uint64_t mem; uint64_t seg_pa, seg_len; unsigned nlps; };
static const struct noroom_row noroom_rows[] = {
    { "noroom/image-fills-ram",       4ull << 20,  0x10000, (4ull << 20) - 0x10000, 1 },
    { "noroom/stacks-do-not-fit",     1ull << 20,  0x100000 - 0x1000, 0x1000, 64 },
    { "noroom/only-gap-too-small",    2ull << 20,  0x18000, (2ull << 20) - 0x18000, 1 },
};

START_TEST(boot_no_room)
{
    const struct noroom_row *row = &noroom_rows[_i];
    physmem_t *m = new_pm(row->mem);
    struct elf_image img = { .entry = row->seg_pa, .nseg = 1 };
    img.seg[0] = (struct elf_segment){ row->seg_pa, row->seg_pa, 0, 0, row->seg_len, PF_R | PF_X };
    uint8_t file[16] = { 0 };
    struct boot_params p = { row->nlps, NULL, 1 };
    struct boot_layout l;
    char msg[256] = "";
    ck_assert_msg(!boot_prepare(m, &img, file, sizeof(file), &p, &l, msg, sizeof(msg)), "%s: accepted", row->name);
    ck_assert_msg_contains(row->name, msg, "no room");
    harness_release(m);
}
END_TEST

START_TEST(boot_cmdline_too_long)
{
    physmem_t *m = new_pm(MEM_SIZE);
    struct elf_image img = { .entry = TEXT_PA, .nseg = 1 };
    img.seg[0] = (struct elf_segment){ TEXT_PA, TEXT_PA, 0, 0, 0x1000, PF_R | PF_X };
    char *cmd = harness_own(harness_free, malloc(65538));
    memset(cmd, 'c', 65537);
    cmd[65537] = 0;
    uint8_t file[16] = { 0 };
    struct boot_params p = { 1, cmd, 1 };
    struct boot_layout l;
    char msg[256] = "";
    ck_assert(!boot_prepare(m, &img, file, sizeof(file), &p, &l, msg, sizeof(msg)));
    ck_assert_msg_contains("cmdline-65537", msg, "command line");
    /* exactly 65536 bytes is allowed */
    cmd[65536] = 0;
    ck_assert_msg(boot_prepare(m, &img, file, sizeof(file), &p, &l, msg, sizeof(msg)), "65536 bytes: %s", msg);
    struct hvsim_boot_info bi;
    ck_assert(pmem_read(m, l.info, &bi, sizeof(bi)));
    ck_assert_uint_eq(bi.cmdline_len, 65536);
    uint8_t last[2];
    ck_assert(pmem_read(m, bi.cmdline + 65535, last, 2));
    ck_assert_uint_eq(last[0], 'c');
    ck_assert_uint_eq(last[1], 0);
    harness_release(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elf");
    TCase *t = harness_tcase("parse");
    tcase_add_test(t, valid_image);
    ADD_ROWS(t, valid_boundaries, ok_rows);
    ADD_ROWS(t, malformed, bad_rows);
    tcase_add_test(t, message_buffer_is_bounded);
    suite_add_tcase(s, t);

    t = harness_tcase("boot");
    tcase_add_test(t, boot_info_block);
    tcase_add_test(t, boot_no_cmdline);
    tcase_add_test(t, boot_region_placement);
    ADD_ROWS(t, boot_region_moves_past_segments, place_rows);
    tcase_add_test(t, boot_memory_map);
    tcase_add_test(t, boot_memory_map_unsorted_segments);
    tcase_add_test(t, boot_segments_loaded);
    ADD_ROWS(t, boot_identity_map, ident_rows);
    tcase_add_test(t, boot_page_table_entries);
    tcase_add_test(t, boot_identity_limit_above_4g);
    tcase_add_test(t, boot_gdt);
    ADD_ROWS(t, boot_no_room, noroom_rows);
    tcase_add_test(t, boot_cmdline_too_long);
    suite_add_tcase(s, t);
    return harness_run(s);
}
