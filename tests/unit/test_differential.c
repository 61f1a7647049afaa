/*
 * test_differential.c — the parts of `hvsim differential` (sim/differential.c,
 * docs/differential.md) that need neither QEMU nor Bochs: transcript
 * normalisation, the line-by-line comparison with each kind of <differs>
 * annotation, the Bochs disk image (boot-sector fields, layout, geometry),
 * the shim's Multiboot entry, and splitting Bochs's debugger output.
 */
#include <stdint.h>

#include "../differential/shim_abi.h"
#include "differential.h"
#include "harness.h"
#include "scenario.h"

#define HDR "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <payload elf=\"hello\"/>\n" \
            "  <expect/>\n  <differential>\n"
#define TAIL "  </differential>\n</scenario>\n"
#define REF " follows=\"hvsim\" ref=\"SDM-3A-10.4.7.2\""

static void own_scenario(void *p) { scenario_free(p); }

/* ---- normalisation ---- */

static const struct norm_row {
    const char *in, *out;
} norm_rows[] = {
    { "plain\n", "plain\n" },
    { "cr lf\r\n\r\n", "cr lf\n\n" },
    { "\x1b[2J\x1b[1;1Hclear", "clear" },
    { "a\x1b[0;31mred\x1b[0m b\n", "ared b\n" },
    { "\x1b" "cafter ESC c", "after ESC c" },
    { "tail escape \x1b[", "tail escape " },
    { "lone \x1b", "lone " },
};

START_TEST(normalise)
{
    const struct norm_row *r = &norm_rows[_i];
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", r->in);
    diff_normalise(buf);
    ck_assert_msg(!strcmp(buf, r->out), "row %d: \"%s\", expected \"%s\"", _i, buf, r->out);
}
END_TEST

/* ---- comparison: (annotations, hvsim, other, impl) -> verdict ---- */

static const struct cmp_row {
    const char *what;
    const char *ann;             /* children of <differential>, or NULL for no scenario */
    const char *hvsim, *other;
    unsigned impl;
    enum diff_kind kind;
    unsigned documented;
    unsigned line;               /* DIFF_DIFFERS: the line named */
    const char *hline, *oline;   /* DIFF_DIFFERS: the lines shown */
} cmp_rows[] = {
    { "same", NULL, "a\nb\n[end] exit-device 0\n", "a\nb\n[end] exit-device 0\n", SCN_IMPL_QEMU, DIFF_SAME, 0, 0, NULL, NULL },
    { "last-line-without-newline", NULL, "a\nb", "a\nb\n", SCN_IMPL_QEMU, DIFF_SAME, 0, 0, NULL, NULL },
    { "differs", NULL, "a\nb\nc\n", "a\nB\nc\n", SCN_IMPL_QEMU, DIFF_DIFFERS, 0, 2, "b", "B" },
    { "other-shorter", NULL, "a\nb\n", "a\n", SCN_IMPL_BOCHS, DIFF_DIFFERS, 0, 2, "b", "(end of transcript)" },
    { "other-longer", NULL, "a\n", "a\nz\n", SCN_IMPL_BOCHS, DIFF_DIFFERS, 0, 2, "(end of transcript)", "z" },
    { "match-covers",
      "<differs impl=\"qemu\" match=\"b[0-9]\" reason=\"r\"" REF "/>", "a\nb1\nc\n", "a\nxx\nc\n", SCN_IMPL_QEMU,
      DIFF_DOCUMENTED, 1, 0, NULL, NULL },
    { "match-other-impl-only",
      "<differs impl=\"qemu\" match=\"b[0-9]\" reason=\"r\"" REF "/>", "a\nb1\n", "a\nxx\n", SCN_IMPL_BOCHS,
      DIFF_DIFFERS, 0, 2, "b1", "xx" },
    { "match-all",
      "<differs impl=\"all\" match=\"b[0-9]\" reason=\"r\"" REF "/>", "a\nb1\n", "a\nxx\n", SCN_IMPL_SHIM,
      DIFF_DOCUMENTED, 1, 0, NULL, NULL },
    { "match-is-anchored",
      "<differs impl=\"qemu\" match=\"b\" reason=\"r\"" REF "/>", "a\nb1\n", "a\nxx\n", SCN_IMPL_QEMU, DIFF_DIFFERS, 0,
      2, "b1", "xx" },
    { "other-must-match",
      "<differs impl=\"qemu\" match=\"v=.*\" other=\"v=0x30\" reason=\"r\"" REF "/>", "v=0x10030\n", "v=0x31\n",
      SCN_IMPL_QEMU, DIFF_DIFFERS, 0, 1, "v=0x10030", "v=0x31" },
    { "other-matches",
      "<differs impl=\"qemu\" match=\"v=.*\" other=\"v=0x30\" reason=\"r\"" REF "/>", "v=0x10030\nend\n",
      "v=0x30\nend\n", SCN_IMPL_QEMU, DIFF_DOCUMENTED, 1, 0, NULL, NULL },
    { "other-absent-line-never-matches",
      "<differs impl=\"qemu\" match=\"v=.*\" other=\".*\" reason=\"r\"" REF "/>", "a\nv=1\n", "a\n", SCN_IMPL_QEMU,
      DIFF_DIFFERS, 0, 2, "v=1", "(end of transcript)" },
    { "match-alone-covers-absent-line",
      "<differs impl=\"qemu\" match=\"\\[end\\] .*\" reason=\"r\"" REF "/>", "a\n[end] halted\n", "a\n", SCN_IMPL_QEMU,
      DIFF_DOCUMENTED, 1, 0, NULL, NULL },
    { "extra-lines-set-aside",
      "<differs impl=\"bochs\" extra=\"FAIL .*\" reason=\"r\"" REF "/>", "a\nb\nc\n", "a\nFAIL x\nb\nFAIL y\nc\n",
      SCN_IMPL_BOCHS, DIFF_DOCUMENTED, 2, 0, NULL, NULL },
    { "missing-lines-set-aside",
      "<differs impl=\"bochs\" missing=\"hello on COM1\" reason=\"r\"" REF "/>", "a\nhello on COM1\nb\n", "a\nb\n",
      SCN_IMPL_BOCHS, DIFF_DOCUMENTED, 1, 0, NULL, NULL },
    { "extra-does-not-cover-hvsim-lines",
      "<differs impl=\"bochs\" extra=\"b\" reason=\"r\"" REF "/>", "a\nb\n", "a\n", SCN_IMPL_BOCHS, DIFF_DIFFERS, 0, 2,
      "b", "(end of transcript)" },
    { "documented-then-differs",
      "<differs impl=\"qemu\" match=\"x\" reason=\"r\"" REF "/>", "x\ny\n", "X\nY\n", SCN_IMPL_QEMU, DIFF_DIFFERS, 1,
      2, "y", "Y" },
};

START_TEST(compare)
{
    const struct cmp_row *r = &cmp_rows[_i];
    struct scenario *s = NULL;
    if (r->ann) {
        char xml[4096], err[512];
        snprintf(xml, sizeof(xml), HDR "    %s\n" TAIL, r->ann);
        s = scenario_load_buffer(xml, strlen(xml), "dir/d.xml", err, sizeof(err));
        ck_assert_msg(s != NULL, "%s: %s", r->what, err);
        harness_own(own_scenario, s);
    }
    struct diff_verdict v;
    diff_compare(s, r->impl, r->hvsim, r->other, &v);
    ck_assert_msg(v.kind == r->kind, "%s: verdict %d, expected %d", r->what, v.kind, r->kind);
    ck_assert_msg(v.documented == r->documented, "%s: %u documented lines, expected %u", r->what, v.documented,
                  r->documented);
    if (r->kind == DIFF_DIFFERS) {
        ck_assert_msg(v.line == r->line, "%s: line %u, expected %u", r->what, v.line, r->line);
        ck_assert_msg(!strcmp(v.hvsim, r->hline) && !strcmp(v.other, r->oline), "%s: lines \"%s\" / \"%s\"", r->what,
                      v.hvsim, v.other);
    }
    if (r->kind == DIFF_DOCUMENTED)
        ck_assert_msg(v.used & 1, "%s: annotation 0 not marked used", r->what);
}
END_TEST

/* ---- the Bochs disk image ---- */

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

START_TEST(disk_image)
{
    uint8_t boot[512] = { 0xFA }, shim[700], payload[3000];
    boot[510] = 0x55;
    boot[511] = 0xAA;
    memset(shim, 0x5A, sizeof(shim));
    memset(payload, 0x7E, sizeof(payload));
    struct diff_disk d = { boot, sizeof(boot), shim, sizeof(shim), 0x100020, payload, sizeof(payload),
                           "hvsim-shim lps=2 mem=268435456 cmdline=a b", 256ull << 20 };
    uint8_t *img;
    size_t len;
    unsigned cyl;
    char err[256];
    ck_assert_msg(diff_disk_image(&d, &img, &len, &cyl, err, sizeof(err)), "%s", err);
    harness_own(harness_free, img);
    ck_assert_uint_eq(cyl, 1);
    ck_assert_uint_eq(len, 16 * 63 * 512);
    ck_assert_uint_eq(img[0], 0xFA);
    ck_assert_uint_eq(img[510], 0x55);
    ck_assert_uint_eq(img[511], 0xAA);
    size_t shim_pad = 1024, mod_off = SHIM_PARAM_MAX + shim_pad;
    size_t sectors = (mod_off + sizeof(payload) + 511) / 512;
    ck_assert_uint_eq(img[BOOT_F_SECTORS] | img[BOOT_F_SECTORS + 1] << 8, sectors);
    ck_assert_uint_eq(rd32(img + BOOT_F_SHIM_SIZE), sizeof(shim));
    ck_assert_uint_eq(rd32(img + BOOT_F_SHIM_ENTRY), 0x100020);
    ck_assert_uint_eq(rd32(img + BOOT_F_MOD_OFFSET), mod_off);
    ck_assert_uint_eq(rd32(img + BOOT_F_MOD_SIZE), sizeof(payload));
    ck_assert_uint_eq(rd32(img + BOOT_F_MEM_UPPER), 256 * 1024 - 1024);
    ck_assert_str_eq((const char *)img + 512, "hvsim-shim lps=2 mem=268435456 cmdline=a b");
    ck_assert_uint_eq(img[512 + SHIM_PARAM_MAX], 0x5A);
    ck_assert_uint_eq(img[512 + SHIM_PARAM_MAX + sizeof(shim) - 1], 0x5A);
    ck_assert_uint_eq(img[512 + SHIM_PARAM_MAX + sizeof(shim)], 0);        /* padding */
    ck_assert_uint_eq(img[512 + mod_off], 0x7E);
    ck_assert_uint_eq(img[512 + mod_off + sizeof(payload) - 1], 0x7E);
    ck_assert_uint_eq(img[512 + mod_off + sizeof(payload)], 0);

    /* refused: a bad boot sector, a payload too large to load, RAM out of range */
    boot[511] = 0;
    ck_assert(!diff_disk_image(&d, &img, &len, &cyl, err, sizeof(err)));
    ck_assert_msg(strstr(err, "55 AA") != NULL, "%s", err);
    boot[511] = 0xAA;
    d.payload_len = BOOT_LOAD_MAX;
    ck_assert(!diff_disk_image(&d, &img, &len, &cyl, err, sizeof(err)));
    ck_assert_msg(strstr(err, "at most") != NULL, "%s", err);
    d.payload_len = sizeof(payload);
    d.mem = 1u << 20;
    ck_assert(!diff_disk_image(&d, &img, &len, &cyl, err, sizeof(err)));
    ck_assert_msg(strstr(err, "RAM") != NULL, "%s", err);
}
END_TEST

START_TEST(shim_entry)
{
    uint8_t img[64] = { 0 };
    uint32_t hdr[8] = { 0x1BADB002, 0x10000, (uint32_t)-(0x1BADB002u + 0x10000u), 0x100010, 0x100000, 0, 0, 0x100044 };
    memcpy(img + 16, hdr, sizeof(hdr));
    uint32_t entry = 0;
    ck_assert(diff_shim_entry(img, sizeof(img), &entry));
    ck_assert_uint_eq(entry, 0x100044);
    hdr[2]++;                                              /* bad checksum */
    memcpy(img + 16, hdr, sizeof(hdr));
    ck_assert(!diff_shim_entry(img, sizeof(img), &entry));
    hdr[1] = 0;                                            /* no address fields */
    hdr[2] = (uint32_t)-0x1BADB002u;
    memcpy(img + 16, hdr, sizeof(hdr));
    ck_assert(!diff_shim_entry(img, sizeof(img), &entry));
}
END_TEST

/* ---- Bochs's output ---- */

START_TEST(bochs_console)
{
    static const char out[] =
        "=====\nBochs x86 Emulator 2.7\n=====\nNext at t=0\n"
        "(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0\n"
        "(1) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0\n"
        "(line with parentheses)\nDONE\n"
        "(1) Breakpoint 1, 0x0000000000201be2 in ?? ()\nNext at t=22150855\n"
        "CPU1:\nrax: 00000000_00000003\nrbx: 00000000_00000000\n";
    bool exited;
    unsigned v;
    char *con = diff_bochs_console(out, 2, &exited, &v);
    harness_own(harness_free, con);
    ck_assert_str_eq(con, "(line with parentheses)\nDONE\n");
    ck_assert(exited);
    ck_assert_uint_eq(v, 3);

    /* a last line without a newline; no breakpoint reached (timeout) */
    static const char partial[] = "Next at t=0\n(0) [0x0000fffffff0] f000:fff0 ...\nabc(0) Breakpoint 2, 0x1 in ?? ()\n"
                                  "rax: 00000000_000000ff\n";
    con = diff_bochs_console(partial, 1, &exited, &v);
    harness_own(harness_free, con);
    ck_assert_str_eq(con, "abc");
    ck_assert(exited);
    ck_assert_uint_eq(v, 0xFF);
    static const char hang[] = "Next at t=0\n(0) [0x0000fffffff0] f000:fff0 ...\nstill running\n";
    con = diff_bochs_console(hang, 1, &exited, &v);
    harness_own(harness_free, con);
    ck_assert_str_eq(con, "still running\n");
    ck_assert(!exited);
    /* a panic (triple fault): the debugger shows the current instruction */
    static const char panic[] = "Next at t=0\n(0) [0x0000fffffff0] f000:fff0 ...\nreading (unmapped)\n"
                                "(0).[21444105] [0x00000020006b] 0008:000000000020006b (unk. ctxt): mov rax\n"
                                "rax: 00000000_00000001\n";
    con = diff_bochs_console(panic, 1, &exited, &v);
    harness_own(harness_free, con);
    ck_assert_str_eq(con, "reading (unmapped)\n");
    ck_assert(!exited);
    con = diff_bochs_console("Bochs is exiting with the following message: ...\n", 1, &exited, &v);
    harness_own(harness_free, con);
    ck_assert_str_eq(con, "");
    ck_assert(!exited);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("differential");
    TCase *t = harness_tcase("transcripts");
    ADD_ROWS(t, normalise, norm_rows);
    ADD_ROWS(t, compare, cmp_rows);
    tcase_add_test(t, bochs_console);
    suite_add_tcase(s, t);
    t = harness_tcase("images");
    tcase_add_test(t, disk_image);
    tcase_add_test(t, shim_entry);
    suite_add_tcase(s, t);
    return harness_run(s);
}
