/*
 * test_scenario.c — scenario files (sim/scenario.c, sim/scenario_run.c,
 * scenarios/scenario.xsd): the loader's rejection of every kind of bad input
 * with "FILE:LINE: reason" (XML, schema, hvsim's own range and name checks,
 * hostile documents: huge, deep, entity bombs, external entities), the
 * struct scenario it fills from good input, and scenario_run() against the
 * built hello payload: a correct scenario passes deterministically and each
 * kind of wrong expectation fails with a message naming it and its line.
 *
 * Loader rows are named "dir/x.xml" so that errors start "dir/x.xml:LINE:".
 * Run tests need the payloads (HVSIM_PAYLOAD_DIR, the build's payloads/).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "harness.h"
#include "machine.h"
#include "scenario.h"
#include "trace.h"

#ifndef HVSIM_PAYLOAD_DIR
#error "tests/CMakeLists.txt must define HVSIM_PAYLOAD_DIR for the unit tests"
#endif

#define HELLO_OUT HVSIM_SOURCE_DIR "/scenarios/payloads/hello.out"
#define CPUID_OUT HVSIM_SOURCE_DIR "/scenarios/payloads/cpuid.out"

/* Every test document starts with these two lines, so the first element of
 * a row's body is on line 3. */
#define HDR "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\">\n"
#define PAYLOAD "  <payload elf=\"hello\"/>\n"
#define TAIL "</scenario>\n"

/* ---- helpers ---- */

static void own_scenario(void *p) { scenario_free(p); }

static struct scenario *load_as(const char *name, const char *xml, size_t len, char *err, size_t errlen)
{
    struct scenario *s = scenario_load_buffer(xml, len, name, err, errlen);
    if (s)
        harness_own(own_scenario, s);
    return s;
}

/* A valid scenario or fail the test with the loader's message. */
static struct scenario *load_ok(const char *row, const char *name, const char *xml)
{
    char err[1024];
    struct scenario *s = load_as(name, xml, strlen(xml), err, sizeof(err));
    ck_assert_msg(s != NULL, "%s: the loader rejected a valid scenario: %s", row, err);
    ck_assert_msg(err[0] == 0, "%s: loaded, but left an error message \"%s\"", row, err);
    return s;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Does msg name scenario line n, as "line N" or "FILE:N:"? */
static bool mentions_line(const char *msg, int n)
{
    char a[32], b[32];
    snprintf(a, sizeof(a), "line %d", n);
    snprintf(b, sizeof(b), ".xml:%d", n);
    for (const char *p = msg; (p = strstr(p, a)) != NULL; p++)
        if (p[strlen(a)] < '0' || p[strlen(a)] > '9')
            return true;
    for (const char *p = msg; (p = strstr(p, b)) != NULL; p++)
        if (p[strlen(b)] < '0' || p[strlen(b)] > '9')
            return true;
    return false;
}

/* The error must start "dir/x.xml:LINE: " (LINE > 0), or for file-wide
 * problems (LINE == FILE_LEVEL) "dir/x.xml: " or "dir/x.xml:1: "; and it
 * must contain needle. */
#define FILE_LEVEL (-1)
static void check_error(const char *row, const char *err, int line, const char *needle)
{
    char want[64];
    if (line == FILE_LEVEL) {
        ck_assert_msg(!strncmp(err, "dir/x.xml: ", 11) || !strncmp(err, "dir/x.xml:1: ", 13),
                      "%s: error \"%s\" does not start with \"dir/x.xml: \" or \"dir/x.xml:1: \"", row, err);
    } else if (line > 65535) {
        /* Past line 65535 libxml2 keeps no line in element nodes and
         * xmlGetLineNo() estimates it from the neighbouring text node:
         * the element's line or the next (docs/scenario-schema.md). */
        int got = 0;
        ck_assert_msg(sscanf(err, "dir/x.xml:%d: ", &got) == 1 && (got == line || got == line + 1),
                      "%s: error \"%s\" does not name line %d (or %d)", row, err, line, line + 1);
    } else {
        snprintf(want, sizeof(want), "dir/x.xml:%d: ", line);
        ck_assert_msg(!strncmp(err, want, strlen(want)), "%s: error \"%s\" does not start with \"%s\"", row, err,
                      want);
    }
    ck_assert_msg_contains(row, err, needle);
}


/* Replace every "{KEY}" in tmpl; the result is owned by the test. */
static char *subst(const char *tmpl, const char *key, const char *val)
{
    char k[32];
    snprintf(k, sizeof(k), "{%s}", key);
    size_t kl = strlen(k), vl = strlen(val), n = 0;
    for (const char *p = tmpl; (p = strstr(p, k)) != NULL; p += kl)
        n++;
    char *out = malloc(strlen(tmpl) + n * vl + 1);
    ck_assert_ptr_nonnull(out);
    harness_own(harness_free, out);
    char *o = out;
    for (const char *p = tmpl;;) {
        const char *q = strstr(p, k);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, val, vl);
        o += vl;
        p = q + kl;
    }
    return out;
}

static const char *tmp_dir(void) { return harness_tmp_dir("/tmp/hvsim-test-scenario-"); }

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* ================================================================ */
/* ---- loader: bad input, one row per kind of mistake ---- */

struct bad_row {
    const char *what;
    const char *xml;
    int line;                 /* the line the error must name */
    const char *needle;       /* a telling part of the message */
};

static const struct bad_row bad_rows[] = {
    /* not well-formed XML: the parser's line, not 0 */
    { "xml/unclosed-tag",
      HDR PAYLOAD "  <expect>\n    <exit status=\"1\">\n  </expect>\n" TAIL, 6, "exit line 5" },
    { "xml/truncated",
      HDR PAYLOAD "  <expect>\n", 5, "expect" },
    { "xml/unquoted-attribute",
      HDR "  <machine lps=1/>\n" PAYLOAD "<expect/>\n" TAIL, 3, "AttValue" },
    { "xml/bare-ampersand",
      HDR "  <description>a & b</description>\n" PAYLOAD "<expect/>\n" TAIL, 3, "EntityRef" },
    { "xml/two-roots",
      HDR PAYLOAD "<expect/>\n" TAIL "<scenario/>\n", 6, "Extra content" },
    /* a VM-entry check named in a vmx event pattern must exist (docs/vmx.md) */
    { "vmx-event/unknown-check",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"vmx\" check=\"NO_SUCH_CHECK\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "is not a VM-entry check" },
    /* VMX capability overrides (docs/vmx.md) */
    { "vmx-cap/not-a-cap-msr",
      HDR "  <machine>\n    <vmx-cap msr=\"0x494\" value=\"1\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 4,
      "not a VMX capability MSR" },
    { "vmx-cap/allowed0-not-allowed1",
      HDR "  <machine>\n    <vmx-cap msr=\"0x481\" value=\"0x1600000017\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL,
      4, "allowed-0 bits 0x1" },
    { "vmx-cap/value-and-absent",
      HDR "  <machine>\n    <vmx-cap msr=\"0x48b\" value=\"0\" absent=\"true\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "exactly one of" },
    { "vmx-cap/basic-removed",
      HDR "  <machine>\n    <vmx-cap msr=\"0x480\" absent=\"true\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 4,
      "cannot be removed" },
    { "vmx-cap/inconsistent",
      HDR "  <machine>\n    <vmx-cap msr=\"0x48b\" absent=\"true\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 4,
      "IA32_VMX_PROCBASED_CTLS2 exists exactly when" },
    { "vmx-cap/amd-profile",
      HDR "  <machine cpu=\"amd\">\n    <vmx-cap msr=\"0x48b\" absent=\"true\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "has no VMX" },
    /* AMD-V capability overrides (docs/svm.md "Enabling") */
    { "svm-cap/intel-profile",
      HDR "  <machine>\n    <svm-cap name=\"features\" value=\"0x9\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 4,
      "CPU profile intel-server has no SVM" },
    { "svm-cap/unknown-name",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"nasid\" value=\"16\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "'nasid' is not an AMD-V capability" },
    { "svm-cap/unmodelled-feature",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"features\" value=\"0x2\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "bit 1 (LBR virtualization) is a feature hvsim does not model" },
    { "svm-cap/too-many-asids",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"asids\" value=\"16\"/>\n"
      "    <svm-cap name=\"asids\" value=\"70000\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 5,
      "asids=70000: at most 65536" },
    { "svm-cap/revision-too-wide",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"revision\" value=\"0x1ff\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "revision=0x1ff" },
    { "svm-cap/value-not-a-number",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"asids\" value=\"many\"/>\n  </machine>\n" PAYLOAD
      "<expect/>\n" TAIL, 4, "value" },
    { "svm-cap/value-missing",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"asids\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 4,
      "value" },
    { "svm-cap/before-vmx-cap",
      HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"asids\" value=\"16\"/>\n"
      "    <vmx-cap msr=\"0x48b\" absent=\"true\"/>\n  </machine>\n" PAYLOAD "<expect/>\n" TAIL, 5, "vmx-cap" },
    /* Multiboot payloads */
    { "multiboot/module-without-multiboot",
      HDR "  <payload elf=\"hello\">\n    <module path=\"m.bin\"/>\n  </payload>\n<expect/>\n" TAIL, 4,
      "Multiboot kernels only" },
    { "multiboot/bad-boot-value",
      HDR "  <payload elf=\"hello\" boot=\"pxe\"/>\n<expect/>\n" TAIL, 3, "boot" },
    { "multiboot/module-without-path",
      HDR "  <payload elf=\"k\" boot=\"multiboot\">\n    <module string=\"x\"/>\n  </payload>\n<expect/>\n" TAIL,
      4, "path" },
    /* the root */
    { "root/wrong-element",
      "<?xml version=\"1.0\"?>\n\n<senario xmlns=\"urn:hvsim:scenario:1\"><payload elf=\"hello\"/><expect/></senario>\n",
      3, "root element" },
    { "root/wrong-namespace",
      "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:2\">\n" PAYLOAD "<expect/>\n" TAIL, 2,
      "urn:hvsim:scenario:1" },
    { "root/no-namespace",
      "<?xml version=\"1.0\"?>\n<scenario>\n" PAYLOAD "<expect/>\n" TAIL, 2, "urn:hvsim:scenario:1" },
    /* schema violations */
    { "schema/unknown-element",
      HDR PAYLOAD "  <expect>\n    <bogus/>\n  </expect>\n" TAIL, 5, "bogus" },
    { "schema/unknown-attribute-on-machine",
      HDR "  <machine lps=\"1\" colour=\"red\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "colour" },
    { "schema/missing-payload-before-expect",
      HDR "  <machine lps=\"1\"/>\n  <expect/>\n" TAIL, 4, "payload" },
    { "schema/missing-payload-at-end",
      HDR "  <machine lps=\"1\"/>\n" TAIL, 2, "payload" },
    { "schema/missing-expect",
      HDR PAYLOAD TAIL, 2, "expect" },
    { "schema/register-without-name",
      HDR PAYLOAD "  <expect>\n    <register value=\"1\"/>\n  </expect>\n" TAIL, 5, "'name'" },
    { "schema/event-without-type",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event vector=\"1\"/>\n    </trace>\n  </expect>\n" TAIL, 6, "'type'" },
    { "schema/evidence-without-ref",
      HDR "  <evidence/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "'ref'" },
    { "schema/memory-without-bytes",
      HDR PAYLOAD "  <expect>\n    <memory address=\"0\"/>\n  </expect>\n" TAIL, 5, "'bytes'" },
    { "schema/evidence-ref-pattern",
      HDR "  <evidence ref=\"RFC-1234\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "RFC-1234" },
    { "schema/evidence-ref-lowercase",
      HDR "  <evidence ref=\"sdm-3A-4.7\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "sdm-3A-4.7" },
    { "schema/number-with-junk",
      HDR "  <machine lps=\"12abc\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "12abc" },
    { "schema/negative-number",
      HDR "  <machine seed=\"-1\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "-1" },
    { "schema/negative-status",
      HDR PAYLOAD "  <expect>\n    <exit status=\"-2\"/>\n  </expect>\n" TAIL, 5, "-2" },
    { "schema/size-bad-suffix",
      HDR "  <machine memory=\"256X\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "256X" },
    { "schema/version-2",
      "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\" version=\"2\">\n" PAYLOAD "<expect/>\n" TAIL,
      2, "version" },
    { "schema/unknown-end-reason",
      HDR PAYLOAD "  <expect>\n    <exit end=\"crashed\"/>\n  </expect>\n" TAIL, 5, "crashed" },
    { "schema/unknown-event-type",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"page-fault\"/>\n    </trace>\n  </expect>\n" TAIL, 6,
      "page-fault" },
    { "schema/console-mode",
      HDR PAYLOAD "  <expect>\n    <console mode=\"fuzzy\"/>\n  </expect>\n" TAIL, 5, "fuzzy" },
    { "schema/expect-order",
      HDR PAYLOAD "  <expect>\n    <console/>\n    <exit status=\"1\"/>\n  </expect>\n" TAIL, 6, "exit" },
    { "schema/empty-trace",
      HDR PAYLOAD "  <expect>\n    <trace>\n    </trace>\n  </expect>\n" TAIL, 5, "trace" },
    { "schema/bad-cpu-name",
      HDR "  <machine cpu=\"intel server\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "intel server" },
    { "schema/bad-deterministic",
      "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\" deterministic=\"maybe\">\n" PAYLOAD
      "<expect/>\n" TAIL, 2, "maybe" },
    /* numbers out of range (hvsim's own checks) */
    { "range/lps-0",
      HDR "  <machine lps=\"0\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "lps" },
    { "range/lps-65",
      HDR "  <machine lps=\"65\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "lps=\"65\"" },
    { "range/lps-overflow",
      HDR "  <machine lps=\"99999999999999999999999\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3,
      "lps=\"99999999999999999999999\"" },
    { "range/seed-2^64",
      HDR "  <machine seed=\"18446744073709551616\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "seed" },
    { "range/seed-hex-65-bits",
      HDR "  <machine seed=\"0x1ffffffffffffffff\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "seed" },
    { "range/memory-1K",
      HDR "  <machine memory=\"1K\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "memory" },
    { "range/memory-not-page-multiple",
      HDR "  <machine memory=\"0x200800\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "4-KiB" },
    { "range/memory-2T",
      HDR "  <machine memory=\"2T\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "memory" },
    { "range/memory-suffix-overflow",
      HDR "  <machine memory=\"99999999999T\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "memory" },
    { "range/quantum-too-big",
      HDR "  <machine quantum=\"4294967297\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "quantum" },
    { "range/status-256",
      HDR PAYLOAD "  <expect>\n    <exit status=\"256\"/>\n  </expect>\n" TAIL, 5, "status" },
    /* names and combinations */
    { "machine/unknown-cpu",
      HDR "  <machine cpu=\"pentium-pro\"/>\n" PAYLOAD "  <expect/>\n" TAIL, 3, "pentium-pro" },
    { "payload/elf-and-path",
      HDR "  <payload elf=\"hello\" path=\"hello.elf\"/>\n  <expect/>\n" TAIL, 3, "exactly one" },
    { "payload/neither",
      HDR "  <payload cmdline=\"x\"/>\n  <expect/>\n" TAIL, 3, "exactly one" },
    { "console/file-and-lines",
      HDR PAYLOAD "  <expect>\n    <console file=\"" HELLO_OUT "\">\n      <line>x</line>\n    </console>\n  </expect>\n"
      TAIL, 5, "not both" },
    { "console/missing-file",
      HDR PAYLOAD "  <expect>\n    <console file=\"nope.out\"/>\n  </expect>\n" TAIL, 5, "dir/nope.out" },
    { "console/bad-regex",
      HDR PAYLOAD "  <expect>\n    <console>\n      <line>ok</line>\n      <match>a(b</match>\n    </console>\n"
      "  </expect>\n" TAIL, 7, "a(b" },
    { "console/bad-regex-bracket",
      HDR PAYLOAD "  <expect>\n    <console>\n      <match>[z-a]</match>\n    </console>\n  </expect>\n" TAIL, 6,
      "regular expression" },
    { "console/regex-too-costly",
      HDR PAYLOAD "  <expect>\n    <console>\n      <match>((a{1,255}){1,255}){1,255}</match>\n    </console>\n"
      "  </expect>\n" TAIL, 6, "regular expression" },
    /* glibc copies the operand of + once per +: 2^40 copies (found by fuzz-smoke) */
    { "console/regex-plus-pileup",
      HDR PAYLOAD "  <expect>\n    <console>\n      <match>a++++++++++++++++++++++++++++++++++++++++</match>\n"
      "    </console>\n  </expect>\n" TAIL, 6, "too costly" },
    { "console/regex-nested-plus",
      HDR PAYLOAD "  <expect>\n    <console>\n      <match>((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+</match>\n"
      "    </console>\n  </expect>\n" TAIL, 6, "too costly" },
    /* trace patterns */
    { "event/unknown-field",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"exception\" foo=\"1\"/>\n    </trace>\n  </expect>\n"
      TAIL, 6, "foo" },
    { "event/field-of-another-type",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"halt\" port=\"1\"/>\n    </trace>\n  </expect>\n" TAIL,
      6, "port" },
    { "event/svm-exit-vm-exit-field",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"svm-exit\" reason=\"0x81\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "reason" },
    { "event/svm-exit-code-not-a-number",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"svm-exit\" code=\"NPF\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "code" },
    { "event/padding-field",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"io\" _=\"0\"/>\n    </trace>\n  </expect>\n" TAIL, 6,
      "\"_\"" },
    { "event/field-not-a-number",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"exception\" vector=\"abc\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "abc" },
    { "event/field-with-suffix",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"io\" port=\"1K\"/>\n    </trace>\n  </expect>\n" TAIL,
      6, "1K" },
    { "event/field-empty",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"io\" port=\"\"/>\n    </trace>\n  </expect>\n" TAIL,
      6, "port" },
    { "event/field-negative",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"exception\" vector=\"-1\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "-1" },
    { "event/field-negative-after-tab",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"exception\" vector=\"&#9;-1\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "vector" },
    { "event/field-overflow",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"msr\" value=\"0x10000000000000000\"/>\n    </trace>\n"
      "  </expect>\n" TAIL, 6, "value" },
    { "event/lp-256",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"halt\" lp=\"256\"/>\n    </trace>\n  </expect>\n" TAIL,
      6, "lp" },
    { "event/lp-beyond-machine",
      HDR "  <machine lps=\"2\"/>\n" PAYLOAD "  <expect>\n    <trace>\n      <event type=\"halt\" lp=\"2\"/>\n"
      "    </trace>\n  </expect>\n" TAIL, 7, "2 logical processor" },
    { "absent/lp-beyond-default-machine",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <absent type=\"halt\" lp=\"1\"/>\n    </trace>\n  </expect>\n"
      TAIL, 6, "1 logical processor" },
    { "absent/unknown-field",
      HDR PAYLOAD "  <expect>\n    <trace>\n      <event type=\"halt\"/>\n      <absent type=\"cr-write\" reg=\"3\"/>\n"
      "    </trace>\n  </expect>\n" TAIL, 7, "reg" },
    /* registers and memory */
    { "register/unknown-name",
      HDR PAYLOAD "  <expect>\n    <register name=\"rxx\" value=\"0\"/>\n  </expect>\n" TAIL, 5, "rxx" },
    { "register/lp-256",
      HDR PAYLOAD "  <expect>\n    <register name=\"rax\" value=\"0\" lp=\"256\"/>\n  </expect>\n" TAIL, 5, "lp" },
    { "register/lp-beyond-machine",
      HDR PAYLOAD "  <expect>\n    <register name=\"rax\" value=\"0\" lp=\"3\"/>\n  </expect>\n" TAIL, 5,
      "1 logical processor" },
    { "register/value-overflow",
      HDR PAYLOAD "  <expect>\n    <register name=\"rax\" value=\"18446744073709551616\"/>\n  </expect>\n" TAIL, 5,
      "value" },
    { "memory/odd-digit-count",
      HDR PAYLOAD "  <expect>\n    <memory address=\"0x1000\" bytes=\"abc\"/>\n  </expect>\n" TAIL, 5, "abc" },
    { "memory/split-pair",
      HDR PAYLOAD "  <expect>\n    <memory address=\"0x1000\" bytes=\"a bc\"/>\n  </expect>\n" TAIL, 5, "a bc" },
    { "memory/not-hex",
      HDR PAYLOAD "  <expect>\n    <memory address=\"0x1000\" bytes=\"0g\"/>\n  </expect>\n" TAIL, 5, "0g" },
    { "memory/address-overflow",
      HDR PAYLOAD "  <expect>\n    <memory address=\"0x10000000000000000\" bytes=\"00\"/>\n  </expect>\n" TAIL, 5,
      "address" },
    /* <differential> (docs/differential.md): after <expect>. libxml2 gives an
     * element the line its start tag ends on. */
    { "differential/before-expect",
      HDR PAYLOAD "  <differential/>\n  <expect/>\n" TAIL, 4, "differential" },
    { "differential/unknown-impl",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <skip impl=\"kvm\" reason=\"r\"/>\n  </differential>\n" TAIL, 6,
      "kvm" },
    { "differential/impl-all-in-list",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <skip impl=\"qemu,all\" reason=\"r\"/>\n  </differential>\n"
      TAIL, 6, "impl" },
    { "differential/skip-without-reason",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <skip impl=\"bochs\"/>\n  </differential>\n" TAIL, 6,
      "reason" },
    { "differential/skip-empty-reason",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <skip impl=\"bochs\" reason=\"\"/>\n  </differential>\n" TAIL, 6,
      "reason" },
    { "differential/differs-without-regex",
      HDR PAYLOAD "  <expect/>\n  <differential>\n"
      "    <differs impl=\"qemu\" reason=\"r\" follows=\"hvsim\" ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 6,
      "match=" },
    { "differential/differs-two-kinds",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" match=\"a\" extra=\"b\" reason=\"r\"\n"
      "             follows=\"hvsim\" ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 7, "not both match= and extra=" },
    { "differential/other-with-missing",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" missing=\"a\" other=\"b\" reason=\"r\"\n"
      "             follows=\"hvsim\" ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 7, "other= goes with match=" },
    { "differential/bad-regex",
      HDR PAYLOAD "  <expect/>\n  <differential>\n\n    <differs impl=\"qemu\" match=\"(a\" reason=\"r\" follows=\"hvsim\"\n"
      "             ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 8, "(a" },
    { "differential/bad-other-regex",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" match=\"a\" other=\"[b\" reason=\"r\"\n"
      "             follows=\"hvsim\" ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 7, "[b" },
    { "differential/costly-regex",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" extra=\"a++++++++++++++++++++++++++++++++++++++++\""
      " reason=\"r\"\n             follows=\"hvsim\" ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 7, "too costly" },
    { "differential/bad-follows",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" match=\"a\" reason=\"r\" follows=\"qemu\"\n"
      "             ref=\"SDM-3A-10.4.7\"/>\n  </differential>\n" TAIL, 7, "follows" },
    { "differential/missing-ref",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <differs impl=\"qemu\" match=\"a\" reason=\"r\" follows=\"hvsim\"/>\n"
      "  </differential>\n" TAIL, 6, "ref" },
    { "differential/bad-ref",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <skip impl=\"all\" reason=\"r\" ref=\"Intel manual\"/>\n"
      "  </differential>\n" TAIL, 6, "ref" },
    { "differential/unknown-child",
      HDR PAYLOAD "  <expect/>\n  <differential>\n    <same impl=\"all\"/>\n  </differential>\n" TAIL, 6, "same" },
};

START_TEST(bad_input)
{
    const struct bad_row *row = &bad_rows[_i];
    char err[1024];
    memset(err, 'Z', sizeof(err));
    struct scenario *s = load_as("dir/x.xml", row->xml, strlen(row->xml), err, sizeof(err));
    ck_assert_msg(s == NULL, "%s: the loader accepted it", row->what);
    ck_assert_msg(memchr(err, 0, sizeof(err)) != NULL, "%s: error not terminated", row->what);
    check_error(row->what, err, row->line, row->needle);
}
END_TEST

/* ---- loader: generated hostile input ---- */

struct gen_row {
    const char *what;
    char *(*gen)(size_t *len, int *line);   /* builds the document and says its error line */
    const char *needle;
};

static char *owned_alloc(size_t n)
{
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    return harness_own(harness_free, p);
}

static char *gen_empty(size_t *len, int *line)
{
    *len = 0;
    *line = FILE_LEVEL;
    char *b = owned_alloc(1);
    b[0] = 0;
    return b;
}

static char *gen_blank(size_t *len, int *line)
{
    char *b = owned_alloc(8);
    strcpy(b, "\n\n  \n");
    *len = strlen(b);
    *line = 4;                                   /* where the parser gave up */
    return b;
}

/* A valid document padded past 1 MiB inside the description. */
static char *gen_huge(size_t *len, int *line)
{
    size_t n = (1u << 20) + 4096;
    char *b = owned_alloc(n + 1);
    size_t o = (size_t)sprintf(b, HDR "  <description>");
    const char *tail = "</description>\n" PAYLOAD "  <expect/>\n" TAIL;
    memset(b + o, 'x', n - o - strlen(tail));
    strcpy(b + n - strlen(tail), tail);
    *len = n;
    *line = FILE_LEVEL;
    return b;
}

/* 100000 unclosed <a> on line 4. */
static char *gen_deep_junk(size_t *len, int *line)
{
    size_t depth = 100000;
    char *b = owned_alloc(depth * 3 + 256);
    size_t o = (size_t)sprintf(b, HDR PAYLOAD);
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(b + o, "<a>");
    *len = o;
    *line = 4;
    return b;
}

/* 200 nested, closed <a> in <expect>: well-formed, within libxml2's depth
 * limit, rejected by the schema at the first <a> (line 5). */
static char *gen_deep_valid_xml(size_t *len, int *line)
{
    char *b = owned_alloc(4096);
    size_t o = (size_t)sprintf(b, HDR PAYLOAD "  <expect>\n");
    for (int i = 0; i < 200; i++)
        o += (size_t)sprintf(b + o, "<a>");
    for (int i = 0; i < 200; i++)
        o += (size_t)sprintf(b + o, "</a>");
    o += (size_t)sprintf(b + o, "\n  </expect>\n" TAIL);
    *len = o;
    *line = 5;
    return b;
}

#define LAUGHS                                                                     \
    "<!DOCTYPE scenario [\n"                                                       \
    " <!ENTITY lol \"lol\">\n"                                                     \
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"     \
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n" \
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n" \
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n" \
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n" \
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n" \
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n" \
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n" \
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n" \
    "]>\n"

/* A DOCTYPE the loader refuses (any DOCTYPE: scenarios never need one), or
 * whose entities it refuses to expand; either way an error that names a
 * line of the document. The test checks time and result. */
static char *gen_laughs_content(size_t *len, int *line)
{
    static const char doc[] = "<?xml version=\"1.0\"?>\n" LAUGHS
                              "<scenario xmlns=\"urn:hvsim:scenario:1\">\n"
                              "  <description>&lol9;</description>\n" PAYLOAD "  <expect/>\n" TAIL;
    *len = strlen(doc);
    *line = 0;                                   /* any line of the document */
    char *b = owned_alloc(sizeof(doc));
    memcpy(b, doc, sizeof(doc));
    return b;
}

static char *gen_laughs_attribute(size_t *len, int *line)
{
    static const char doc[] = "<?xml version=\"1.0\"?>\n" LAUGHS
                              "<scenario xmlns=\"urn:hvsim:scenario:1\">\n"
                              "  <payload elf=\"hello\" cmdline=\"&lol9;\"/>\n  <expect/>\n" TAIL;
    *len = strlen(doc);
    *line = 0;
    char *b = owned_alloc(sizeof(doc));
    memcpy(b, doc, sizeof(doc));
    return b;
}

/* Quadratic blowup: one 200-KB entity referenced 4000 times (800 MB). */
static char *gen_quadratic(size_t *len, int *line)
{
    size_t ent = 200000, refs = 4000;
    char *b = owned_alloc(ent + refs * 4 + 1024);
    size_t o = (size_t)sprintf(b, "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario [\n <!ENTITY a \"");
    memset(b + o, 'a', ent);
    o += ent;
    o += (size_t)sprintf(b + o, "\">\n]>\n<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <description>");
    for (size_t i = 0; i < refs; i++)
        o += (size_t)sprintf(b + o, "&a;");
    o += (size_t)sprintf(b + o, "</description>\n" PAYLOAD "  <expect/>\n" TAIL);
    *len = o;
    *line = 0;
    return b;
}

/* Error lines past 65535 (libxml2 keeps 16-bit line numbers in nodes
 * unless asked for more). */
static char *gen_far(size_t *len, int *line, const char *what)
{
    size_t pad = 70000;
    char *b = owned_alloc(pad + 1024);
    size_t o = (size_t)sprintf(b, HDR "  <description>");
    memset(b + o, '\n', pad);
    o += pad;
    o += (size_t)sprintf(b + o, "</description>\n");
    *line = 3 + (int)pad + 1;
    o += (size_t)sprintf(b + o, "%s", what);
    *len = o;
    return b;
}

static char *gen_far_range(size_t *len, int *line)
{
    return gen_far(len, line, "  <machine lps=\"0\"/>\n" PAYLOAD "  <expect/>\n" TAIL);
}

static char *gen_far_schema(size_t *len, int *line)
{
    return gen_far(len, line, "  <machine lps=\"x\"/>\n" PAYLOAD "  <expect/>\n" TAIL);
}

/* the unclosed <machine> is found at </scenario>, three lines on */
static char *gen_far_xml(size_t *len, int *line)
{
    char *b = gen_far(len, line, "  <machine lps=\"1\">\n" PAYLOAD "  <expect/>\n" TAIL);
    *line += 3;
    return b;
}

static char *gen_far_event(size_t *len, int *line)
{
    char *b = gen_far(len, line, PAYLOAD "  <expect>\n    <trace>\n      <event type=\"io\" bogus=\"1\"/>\n"
                                         "    </trace>\n  </expect>\n" TAIL);
    *line += 3;
    return b;
}

static const struct gen_row gen_rows[] = {
    { "file/empty", gen_empty, "empty" },
    { "file/blank", gen_blank, "Start tag" },
    { "file/over-1MiB", gen_huge, "1 MiB" },
    { "hostile/deep-unclosed", gen_deep_junk, "depth" },
    { "hostile/deep-closed", gen_deep_valid_xml, "'a'" },
    { "hostile/billion-laughs-content", gen_laughs_content, "" },
    { "hostile/billion-laughs-attribute", gen_laughs_attribute, "" },
    { "hostile/quadratic-blowup", gen_quadratic, "" },
    { "lines/past-65535-range-check", gen_far_range, "lps" },
    { "lines/past-65535-schema", gen_far_schema, "lps" },
    { "lines/past-65535-xml", gen_far_xml, "machine line 70004" },
    { "lines/past-65535-event", gen_far_event, "bogus" },
};

START_TEST(bad_generated)
{
    const struct gen_row *row = &gen_rows[_i];
    size_t len;
    int line;
    char *doc = row->gen(&len, &line);
    char err[1024];
    double t0 = now_seconds();
    struct scenario *s = load_as("dir/x.xml", doc, len, err, sizeof(err));
    double dt = now_seconds() - t0;
    ck_assert_msg(s == NULL, "%s: the loader accepted it (description of %zu bytes)", row->what,
                  s && s->description ? strlen(s->description) : 0);
    ck_assert_msg(dt < 10.0, "%s: took %.1f s", row->what, dt);
    if (line == 0) {
        /* somewhere in the document: "dir/x.xml:N: " with 1 <= N <= its lines */
        int lines = 1, n = 0;
        for (size_t i = 0; i < len; i++)
            lines += doc[i] == '\n';
        ck_assert_msg(sscanf(err, "dir/x.xml:%d: ", &n) == 1 && n >= 1 && n <= lines,
                      "%s: error \"%s\" does not name a line of the document (1..%d)", row->what, err, lines);
    } else {
        check_error(row->what, err, line, row->needle);
    }
    ck_assert_msg_contains(row->what, err, row->needle);
}
END_TEST

/* ---- loader: external entities and DTDs are never read ---- */

struct xxe_row {
    const char *what;
    const char *tmpl;         /* {SECRET}, {DTD}: absolute paths of files the loader must not open */
};

static const struct xxe_row xxe_rows[] = {
    { "general-entity-file-uri",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario [\n <!ENTITY xxe SYSTEM \"file://{SECRET}\">\n]>\n"
      "<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <description>&xxe;</description>\n" PAYLOAD "  <expect/>\n"
      TAIL },
    { "general-entity-path",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario [\n <!ENTITY xxe SYSTEM \"{SECRET}\">\n]>\n"
      "<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <description>&xxe;</description>\n"
      "  <payload elf=\"hello\"/>\n  <expect>\n    <console>\n      <line>&xxe;</line>\n    </console>\n"
      "  </expect>\n" TAIL },
    { "external-dtd-subset",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario SYSTEM \"{DTD}\">\n"
      "<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <description>&m;</description>\n" PAYLOAD "  <expect/>\n"
      TAIL },
    { "parameter-entity",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario [\n <!ENTITY % p SYSTEM \"{DTD}\">\n %p;\n]>\n"
      "<scenario xmlns=\"urn:hvsim:scenario:1\">\n  <description>&m;</description>\n" PAYLOAD "  <expect/>\n"
      TAIL },
    { "xinclude",
      "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n"
      "  <description><xi:include href=\"{SECRET}\" parse=\"text\"/></description>\n" PAYLOAD "  <expect/>\n" TAIL },
};

#define MARKER "SECRET-MARKER-3f9a1c"

static void close_fd(void *p)
{
    close((int)(intptr_t)p - 1);
}

START_TEST(external_entities_not_read)
{
    const struct xxe_row *row = &xxe_rows[_i];
    const char *dir = tmp_dir();
    char secret[300], dtd[300];
    snprintf(secret, sizeof(secret), "%s/secret.txt", dir);
    snprintf(dtd, sizeof(dtd), "%s/ext.dtd", dir);
    write_file(secret, MARKER "\n");
    write_file(dtd, "<!ENTITY m \"" MARKER "\">\n");
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ck_assert_msg(in >= 0, "inotify_init1: %s", strerror(errno));
    harness_own(close_fd, (void *)(intptr_t)(in + 1));
    ck_assert_int_ge(inotify_add_watch(in, secret, IN_OPEN | IN_ACCESS), 0);
    ck_assert_int_ge(inotify_add_watch(in, dtd, IN_OPEN | IN_ACCESS), 0);

    const char *xml = subst(subst(row->tmpl, "SECRET", secret), "DTD", dtd);
    char err[1024];
    struct scenario *s = load_as("dir/x.xml", xml, strlen(xml), err, sizeof(err));

    char ev[4096];
    ssize_t n = read(in, ev, sizeof(ev));
    ck_assert_msg(n < 0 && errno == EAGAIN, "%s: the loader opened a file the document names (%zd bytes of "
                  "inotify events)", row->what, n);
    ck_assert_msg(!strstr(err, MARKER), "%s: the error quotes the file: %s", row->what, err);
    if (s) {
        ck_assert_msg(!s->description || !strstr(s->description, MARKER), "%s: description holds the file",
                      row->what);
        for (unsigned i = 0; i < s->nlines; i++)
            ck_assert_msg(!strstr(s->lines[i].text, MARKER), "%s: console line holds the file", row->what);
    } else {
        ck_assert_msg(!strncmp(err, "dir/x.xml:", 10), "%s: error \"%s\"", row->what, err);
    }
    /* the watch works: reading the file ourselves is seen */
    FILE *f = fopen(secret, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ne(fgetc(f), EOF);
    fclose(f);
    ck_assert_msg(read(in, ev, sizeof(ev)) > 0, "inotify does not see opens of %s", secret);
}
END_TEST

START_TEST(etc_passwd_not_read)
{
    static const char xml[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE scenario [\n <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n"
        "<scenario xmlns=\"urn:hvsim:scenario:1\" name=\"x\">\n  <description>&xxe;</description>\n"
        "  <payload elf=\"hello\" cmdline=\"x\"/>\n  <expect>\n    <console mode=\"contains\">\n"
        "      <line>&xxe;</line>\n    </console>\n  </expect>\n" TAIL;
    char err[1024];
    struct scenario *s = load_as("dir/x.xml", xml, strlen(xml), err, sizeof(err));
    ck_assert_msg(!strstr(err, "root:"), "the error quotes /etc/passwd: %s", err);
    if (s) {
        ck_assert_msg(!s->description || !strstr(s->description, "root:"), "the description holds /etc/passwd");
        for (unsigned i = 0; i < s->nlines; i++)
            ck_assert_msg(!strstr(s->lines[i].text, "root:"), "a console line holds /etc/passwd");
    }
}
END_TEST

/* ================================================================ */
/* ---- loader: good input ---- */

static const char full_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<scenario xmlns=\"urn:hvsim:scenario:1\" name=\"full-1\" version=\"1\" deterministic=\"false\">\n"  /* 2 */
    "  <description>Every field, once.</description>\n"                                                  /* 3 */
    "  <evidence ref=\"SDM-3A-4.7\" note=\"paging\"/>\n"                                                 /* 4 */
    "  <evidence ref=\"TLFS-7.8\"/>\n"                                                                   /* 5 */
    "  <machine lps=\"4\" memory=\"512M\" cpu=\"amd-server\" seed=\"0x1234\" max-insns=\"1000000\"\n"    /* 6 */
    "           max-cycles=\"2000000\" quantum=\"5000\" sched-seed=\"99\"/>\n"                          /* 7 */
    "  <payload elf=\"hello\" cmdline=\"a b=c\"/>\n"                                                     /* 8 */
    "  <expect>\n"                                                                                       /* 9 */
    "    <exit status=\"3\" end=\"triple-fault\"/>\n"                                                    /* 10 */
    "    <console mode=\"contains\">\n"                                                                  /* 11 */
    "      <line>  spaced  &lt;&amp;&gt;</line>\n"                                                      /* 12 */
    "      <match>ab</match>\n"                                                                          /* 13 */
    "    </console>\n"                                                                                   /* 14 */
    "    <trace>\n"                                                                                      /* 15 */
    "      <event type=\"exception\" vector=\"14\" ec=\"0x2\" lp=\"1\"/>\n"                              /* 16 */
    "      <absent type=\"msr\" msr=\"0xc0000080\" write=\"1\"/>\n"                                      /* 17 */
    "      <event type=\"halt\"/>\n"                                                                     /* 18 */
    "    </trace>\n"                                                                                     /* 19 */
    "    <register name=\"rax\" value=\"0xffffffffffffffff\"/>\n"                                        /* 20 */
    "    <register name=\"cr3\" value=\"4096\" lp=\"3\"/>\n"                                             /* 21 */
    "    <memory address=\"0x1000\" bytes=\"0f 1E2d ff\"/>\n"                                            /* 22 */
    "    <memory address=\"0\" bytes=\"00\"/>\n"                                                         /* 23 */
    "  </expect>\n"
    "</scenario>\n";

static uint64_t event_field(const struct scn_event *e, const char *name, bool *found)
{
    int fi = trace_field_index(e->type, name);
    ck_assert_msg(fi >= 0, "type %u has no field %s", e->type, name);
    for (unsigned i = 0; i < e->nfields; i++)
        if (e->field[i] == fi) {
            *found = true;
            return e->value[i];
        }
    *found = false;
    return 0;
}

START_TEST(every_field)
{
    struct scenario *s = load_ok("full", "dir/full.xml", full_xml);
    ck_assert_str_eq(s->path, "dir/full.xml");
    ck_assert_str_eq(s->name, "full-1");
    ck_assert_str_eq(s->description, "Every field, once.");
    ck_assert_uint_eq(s->nevidence, 2);
    ck_assert_str_eq(s->evidence[0], "SDM-3A-4.7");
    ck_assert_str_eq(s->evidence[1], "TLFS-7.8");
    ck_assert(!s->deterministic);
    /* machine */
    ck_assert_uint_eq(s->lps, 4);
    ck_assert_uint_eq(s->memory, 512ull << 20);
    ck_assert_str_eq(s->cpu, "amd-server");
    ck_assert(s->has_seed);
    ck_assert_uint_eq(s->seed, 0x1234);
    ck_assert_uint_eq(s->max_insns, 1000000);
    ck_assert_uint_eq(s->max_cycles, 2000000);
    ck_assert_uint_eq(s->quantum, 5000);
    ck_assert(s->has_sched_seed);
    ck_assert_uint_eq(s->sched_seed, 99);
    /* payload */
    ck_assert_str_eq(s->payload_elf, "hello");
    ck_assert_ptr_null(s->payload_path);
    ck_assert_str_eq(s->cmdline, "a b=c");
    ck_assert_int_eq(s->payload_line, 8);
    /* exit */
    ck_assert(s->has_status);
    ck_assert_int_eq(s->status, 3);
    ck_assert(s->has_end);
    ck_assert_int_eq(s->end, TEND_TRIPLE_FAULT);
    /* console */
    ck_assert(s->has_console);
    ck_assert(s->console_contains);
    ck_assert_ptr_null(s->console_file);
    ck_assert_ptr_null(s->console_file_text);
    ck_assert_uint_eq(s->nlines, 2);
    ck_assert(!s->lines[0].regex);
    ck_assert_str_eq(s->lines[0].text, "  spaced  <&>");
    ck_assert_int_eq(s->lines[0].line, 12);
    ck_assert(s->lines[1].regex);
    ck_assert_str_eq(s->lines[1].text, "ab");
    ck_assert_int_eq(s->lines[1].line, 13);
    /* trace */
    ck_assert_uint_eq(s->nevents, 3);
    const struct scn_event *e = &s->events[0];
    bool f;
    ck_assert(!e->absent);
    ck_assert_uint_eq(e->type, TREC_EXCEPTION);
    ck_assert_int_eq(e->lp, 1);
    ck_assert_uint_eq(event_field(e, "vector", &f), 14);
    ck_assert(f);
    ck_assert_uint_eq(event_field(e, "ec", &f), 2);
    ck_assert(f);
    /* ec="N" implies has_ec=1 (an error code was pushed); nothing else */
    uint64_t has_ec = event_field(e, "has_ec", &f);
    ck_assert_msg(f && has_ec == 1, "has_ec %s, = %llu", f ? "present" : "absent", (unsigned long long)has_ec);
    ck_assert_uint_eq(e->nfields, 3);
    event_field(e, "cr2", &f);
    ck_assert(!f);
    ck_assert_int_eq(e->line, 16);
    ck_assert_msg(strstr(e->text, "exception") && strstr(e->text, "vector=14"), "text \"%s\"", e->text);
    e = &s->events[1];
    ck_assert(e->absent);
    ck_assert(!e->between);
    ck_assert_uint_eq(e->slot, 1);
    ck_assert_uint_eq(e->type, TREC_MSR);
    ck_assert_int_eq(e->lp, -1);
    ck_assert_uint_eq(e->nfields, 2);
    ck_assert_uint_eq(event_field(e, "msr", &f), 0xC0000080u);
    ck_assert_uint_eq(event_field(e, "write", &f), 1);
    ck_assert_int_eq(e->line, 17);
    e = &s->events[2];
    ck_assert(!e->absent);
    ck_assert_uint_eq(e->type, TREC_HALT);
    ck_assert_int_eq(e->lp, -1);
    ck_assert_uint_eq(e->nfields, 0);
    ck_assert_int_eq(e->line, 18);
    /* registers */
    ck_assert_uint_eq(s->nregs, 2);
    ck_assert_int_eq(s->regs[0].reg, CPU_RAX);
    ck_assert_uint_eq(s->regs[0].lp, 0);
    ck_assert_uint_eq(s->regs[0].value, UINT64_MAX);
    ck_assert_int_eq(s->regs[0].line, 20);
    ck_assert_int_eq(s->regs[1].reg, CPU_CR3);
    ck_assert_uint_eq(s->regs[1].lp, 3);
    ck_assert_uint_eq(s->regs[1].value, 4096);
    ck_assert_int_eq(s->regs[1].line, 21);
    /* memory */
    ck_assert_uint_eq(s->nmems, 2);
    ck_assert_uint_eq(s->mems[0].address, 0x1000);
    ck_assert_uint_eq(s->mems[0].n, 4);
    static const uint8_t want[4] = { 0x0f, 0x1e, 0x2d, 0xff };
    ck_assert_mem_eq(s->mems[0].bytes, want, 4);
    ck_assert_int_eq(s->mems[0].line, 22);
    ck_assert_uint_eq(s->mems[1].address, 0);
    ck_assert_uint_eq(s->mems[1].n, 1);
    ck_assert_uint_eq(s->mems[1].bytes[0], 0);
}
END_TEST

/* <differential>: every kind of annotation, every attribute. */
static const char differential_xml[] =
    HDR PAYLOAD "  <expect/>\n"                                                                        /* 3, 4 */
    "  <differential>\n"                                                                                /* 5 */
    "    <differs impl=\"qemu,bochs\" match=\"ICR low += 0x[0-9a-f]+\" other=\"ICR .*\"\n"            /* 6 */
    "             reason=\"firmware IPIs\" follows=\"either\" ref=\"DOC-differential\"/>\n"             /* 7 */
    "    <differs impl=\"all\" extra=\"FAIL .*\" reason=\"gap\" follows=\"hvsim\" ref=\"SDM-3A-10.4.7.2\"/>\n" /* 8 */
    "    <skip impl=\"bochs\" reason=\"no instruction limit\" ref=\"DOC-exit-status\"/>\n"             /* 9 */
    "    <differs impl=\"shim\" missing=\"hello on COM1\" reason=\"not captured\" follows=\"other\"\n" /* 10 */
    "             ref=\"DOC-differential\"/>\n"                                                          /* 11 */
    "    <skip impl=\"qemu\" reason=\"hangs\"/>\n"                                                       /* 12 */
    "  </differential>\n" TAIL;

START_TEST(differential_fields)
{
    struct scenario *s = load_ok("differential", "dir/d.xml", differential_xml);
    ck_assert_uint_eq(s->ndiffers, 3);
    const struct scn_differs *d = &s->differs[0];
    ck_assert_uint_eq(d->impls, SCN_IMPL_QEMU | SCN_IMPL_BOCHS);
    ck_assert_int_eq(d->kind, SCN_DIFFERS_LINE);
    ck_assert(d->has_re && d->has_other);
    ck_assert_str_eq(d->re_text, "ICR low += 0x[0-9a-f]+");
    ck_assert_str_eq(d->other_text, "ICR .*");
    ck_assert_int_eq(regexec(&d->re, "ICR low  = 0x1f", 0, NULL, 0), 0);
    ck_assert_int_ne(regexec(&d->re, "x ICR low = 0x1f", 0, NULL, 0), 0);       /* anchored */
    ck_assert_str_eq(d->reason, "firmware IPIs");
    ck_assert_int_eq(d->follows, SCN_FOLLOWS_EITHER);
    ck_assert_str_eq(d->ref, "DOC-differential");
    ck_assert_int_eq(d->line, 7);                 /* where the start tag ends (libxml2) */
    d = &s->differs[1];
    ck_assert_uint_eq(d->impls, SCN_IMPL_ALL);
    ck_assert_int_eq(d->kind, SCN_DIFFERS_EXTRA);
    ck_assert(d->has_re && !d->has_other);
    ck_assert_ptr_null(d->other_text);
    ck_assert_int_eq(d->follows, SCN_FOLLOWS_HVSIM);
    ck_assert_str_eq(d->ref, "SDM-3A-10.4.7.2");
    ck_assert_int_eq(d->line, 8);
    d = &s->differs[2];
    ck_assert_uint_eq(d->impls, SCN_IMPL_SHIM);
    ck_assert_int_eq(d->kind, SCN_DIFFERS_MISSING);
    ck_assert_str_eq(d->re_text, "hello on COM1");
    ck_assert_int_eq(d->follows, SCN_FOLLOWS_OTHER);
    ck_assert_int_eq(d->line, 11);
    ck_assert_uint_eq(s->ndskips, 2);
    ck_assert_uint_eq(s->dskips[0].impls, SCN_IMPL_BOCHS);
    ck_assert_str_eq(s->dskips[0].reason, "no instruction limit");
    ck_assert_str_eq(s->dskips[0].ref, "DOC-exit-status");
    ck_assert_int_eq(s->dskips[0].line, 9);
    ck_assert_uint_eq(s->dskips[1].impls, SCN_IMPL_QEMU);
    ck_assert_ptr_null(s->dskips[1].ref);
    ck_assert_int_eq(s->dskips[1].line, 12);
    /* and none without the element */
    s = load_ok("no-differential", "dir/n.xml", HDR PAYLOAD "  <expect/>\n" TAIL);
    ck_assert_uint_eq(s->ndiffers, 0);
    ck_assert_uint_eq(s->ndskips, 0);
    ck_assert_ptr_null(s->differs);
}
END_TEST

START_TEST(defaults)
{
    struct scenario *s = load_ok("minimal", "dir/min.xml", HDR PAYLOAD "  <expect/>\n" TAIL);
    ck_assert_str_eq(s->name, "min");
    ck_assert_ptr_null(s->description);
    ck_assert_uint_eq(s->nevidence, 0);
    ck_assert(s->deterministic);
    ck_assert_uint_eq(s->lps, 0);
    ck_assert_uint_eq(s->memory, 0);
    ck_assert_ptr_null(s->cpu);
    ck_assert(!s->has_seed);
    ck_assert(!s->has_sched_seed);
    ck_assert_uint_eq(s->max_insns, 0);
    ck_assert_uint_eq(s->quantum, 0);
    ck_assert_ptr_null(s->cmdline);
    ck_assert_int_eq(s->payload_line, 3);
    ck_assert(!s->has_status);
    ck_assert(!s->has_end);
    ck_assert(!s->has_console);
    ck_assert_uint_eq(s->nlines + s->nevents + s->nregs + s->nmems, 0);
}
END_TEST

/* <svm-cap>: kept in order, with the names and values written */
START_TEST(svm_caps_loaded)
{
    struct scenario *s = load_ok("svm-cap", "dir/caps.xml",
                                 HDR "  <machine cpu=\"amd\">\n    <svm-cap name=\"features\" value=\"0x9\"/>\n"
                                 "    <svm-cap name=\"asids\" value=\"16\"/>\n"
                                 "    <svm-cap name=\"features\" value=\"8\"/>\n  </machine>\n" PAYLOAD
                                 "  <expect/>\n" TAIL);
    ck_assert_uint_eq(s->nsvm_caps, 3);
    ck_assert_str_eq(s->svm_caps[0].name, "features");
    ck_assert_uint_eq(s->svm_caps[0].value, 9);
    ck_assert_str_eq(s->svm_caps[1].name, "asids");
    ck_assert_uint_eq(s->svm_caps[1].value, 16);
    ck_assert_str_eq(s->svm_caps[2].name, "features");
    ck_assert_uint_eq(s->svm_caps[2].value, 8);
    struct machine_config mc;
    scenario_machine_config(s, &mc);
    ck_assert_uint_eq(mc.nsvm_caps, 3);
    ck_assert_str_eq(mc.svm_caps[1].name, "asids");
    ck_assert_uint_eq(mc.svm_caps[1].value, 16);
    ck_assert_uint_eq(mc.nvmx_caps, 0);
}
END_TEST

/* machine attributes: sizes and numbers */
struct attr_row { const char *what; const char *attr; uint64_t want; };

static const struct attr_row memory_rows[] = {
    { "size/256M", "memory=\"256M\"", 256ull << 20 },
    { "size/1GiB", "memory=\"1GiB\"", 1ull << 30 },
    { "size/1G", "memory=\"1G\"", 1ull << 30 },
    { "size/512MB", "memory=\"512MB\"", 512ull << 20 },
    { "size/4096K", "memory=\"4096K\"", 4096ull << 10 },
    { "size/hex", "memory=\"0x10000000\"", 0x10000000 },
    { "size/hex-with-suffix", "memory=\"0x10M\"", 16ull << 20 },
    { "size/decimal-2M", "memory=\"2097152\"", 2ull << 20 },
    { "size/1T-the-maximum", "memory=\"1T\"", 1ull << 40 },
};

START_TEST(memory_sizes)
{
    const struct attr_row *row = &memory_rows[_i];
    char xml[512];
    snprintf(xml, sizeof(xml), HDR "  <machine %s/>\n" PAYLOAD "  <expect/>\n" TAIL, row->attr);
    struct scenario *s = load_ok(row->what, "dir/x.xml", xml);
    ck_assert_msg(s->memory == row->want, "%s: memory %#llx, expected %#llx", row->what,
                  (unsigned long long)s->memory, (unsigned long long)row->want);
}
END_TEST

/* Numbers are "decimal or 0x-prefixed hexadecimal" (scenario.xsd): a
 * leading zero does not make a decimal number octal. */
static const struct attr_row number_rows[] = {
    { "number/decimal", "seed=\"12345\"", 12345 },
    { "number/hex-lower", "seed=\"0xdeadbeef\"", 0xdeadbeef },
    { "number/hex-upper-X", "seed=\"0X1F\"", 0x1f },
    { "number/zero", "seed=\"0\"", 0 },
    { "number/max", "seed=\"18446744073709551615\"", UINT64_MAX },
    { "number/max-hex", "seed=\"0xFFFFFFFFFFFFFFFF\"", UINT64_MAX },
    { "number/leading-zero-decimal", "seed=\"010\"", 10 },
    { "number/leading-zero-with-8", "seed=\"08\"", 8 },
};

START_TEST(number_formats)
{
    const struct attr_row *row = &number_rows[_i];
    char xml[512];
    snprintf(xml, sizeof(xml), HDR "  <machine %s/>\n" PAYLOAD "  <expect/>\n" TAIL, row->attr);
    char err[1024];
    struct scenario *s = load_as("dir/x.xml", xml, strlen(xml), err, sizeof(err));
    ck_assert_msg(s != NULL, "%s: rejected: %s", row->what, err);
    ck_assert(s->has_seed);
    ck_assert_msg(s->seed == row->want, "%s: seed %#llx, expected %#llx", row->what, (unsigned long long)s->seed,
                  (unsigned long long)row->want);
}
END_TEST

/* the lps/quantum range ends are inclusive */
START_TEST(range_edges)
{
    struct scenario *s = load_ok("edges", "dir/x.xml",
                                 HDR "  <machine lps=\"64\" quantum=\"4294967296\" memory=\"2M\"/>\n" PAYLOAD
                                     "  <expect>\n    <exit status=\"255\"/>\n"
                                     "    <register name=\"r15\" value=\"1\" lp=\"63\"/>\n  </expect>\n" TAIL);
    ck_assert_uint_eq(s->lps, 64);
    ck_assert_uint_eq(s->quantum, 1ull << 32);
    ck_assert_uint_eq(s->memory, 2ull << 20);
    ck_assert_int_eq(s->status, 255);
    ck_assert_uint_eq(s->regs[0].lp, 63);
    ck_assert_int_eq(s->regs[0].reg, CPU_R15);
}
END_TEST

struct name_row { const char *what; const char *file; const char *name_attr; const char *want; };

static const struct name_row name_rows[] = {
    { "name/from-file", "dir/x.xml", NULL, "x" },
    { "name/no-dir", "hello.xml", NULL, "hello" },
    { "name/dots", "a/b/pf.errors.xml", NULL, "pf.errors" },
    { "name/no-extension", "dir/plain", NULL, "plain" },
    { "name/absolute", "/abs/dir/y.xml", NULL, "y" },
    { "name/attribute-wins", "dir/x.xml", "given_name-1", "given_name-1" },
};

START_TEST(name_default)
{
    const struct name_row *row = &name_rows[_i];
    char xml[512];
    char attr[64] = "";
    if (row->name_attr)
        snprintf(attr, sizeof(attr), " name=\"%s\"", row->name_attr);
    snprintf(xml, sizeof(xml), "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\"%s>\n" PAYLOAD
             "  <expect/>\n" TAIL, attr);
    struct scenario *s = load_ok(row->what, row->file, xml);
    ck_assert_msg(!strcmp(s->name, row->want), "%s: name \"%s\", expected \"%s\"", row->what, s->name, row->want);
}
END_TEST

struct path_row { const char *what; const char *file; const char *path; const char *want, *alt; };

static const struct path_row path_rows[] = {
    { "path/relative", "dir/x.xml", "p.elf", "dir/p.elf", NULL },
    { "path/relative-subdir", "a/b/x.xml", "sub/p.elf", "a/b/sub/p.elf", NULL },
    { "path/parent", "/abs/dir/x.xml", "../q/p.elf", "/abs/dir/../q/p.elf", NULL },
    { "path/absolute", "dir/x.xml", "/abs/p.elf", "/abs/p.elf", NULL },
    { "path/scenario-in-cwd", "x.xml", "p.elf", "./p.elf", "p.elf" },
    { "path/scenario-in-root", "/x.xml", "p.elf", "/p.elf", NULL },
};

START_TEST(payload_paths)
{
    const struct path_row *row = &path_rows[_i];
    char xml[512];
    snprintf(xml, sizeof(xml), HDR "  <payload path=\"%s\" cmdline=\"\"/>\n  <expect/>\n" TAIL, row->path);
    struct scenario *s = load_ok(row->what, row->file, xml);
    ck_assert_ptr_null(s->payload_elf);
    ck_assert_msg(s->payload_path && (!strcmp(s->payload_path, row->want) ||
                                      (row->alt && !strcmp(s->payload_path, row->alt))),
                  "%s: payload path \"%s\", expected \"%s\"", row->what, s->payload_path ? s->payload_path : "(null)",
                  row->want);
    ck_assert_str_eq(s->cmdline, "");
}
END_TEST

/* boot="multiboot": modules in order, paths relative to the scenario file,
 * the string optional; cmdline is the kernel's append string. */
START_TEST(multiboot_payload)
{
    struct scenario *s = load_ok("multiboot", "a/b/x.xml",
                                 HDR "  <payload elf=\"mb_entry\" boot=\"multiboot\" cmdline=\"c d\">\n"
                                     "    <module path=\"data/one.txt\" string=\"first one\"/>\n"
                                     "    <module path=\"/abs/two.bin\"/>\n"
                                     "  </payload>\n  <expect/>\n" TAIL);
    ck_assert(s->multiboot);
    ck_assert_str_eq(s->payload_elf, "mb_entry");
    ck_assert_str_eq(s->cmdline, "c d");
    ck_assert_uint_eq(s->nmods, 2);
    ck_assert_str_eq(s->mods[0].path, "a/b/data/one.txt");
    ck_assert_str_eq(s->mods[0].string, "first one");
    ck_assert_str_eq(s->mods[1].path, "/abs/two.bin");
    ck_assert_ptr_null(s->mods[1].string);

    s = load_ok("native", "x.xml", HDR PAYLOAD "  <expect/>\n" TAIL);
    ck_assert(!s->multiboot);
    ck_assert_uint_eq(s->nmods, 0);
}
END_TEST

/* deterministic is an xs:boolean: true, false, 1, 0 */
struct det_row { const char *what; const char *attr; bool want; };

static const struct det_row det_rows[] = {
    { "deterministic/absent", "", true },
    { "deterministic/true", " deterministic=\"true\"", true },
    { "deterministic/false", " deterministic=\"false\"", false },
    { "deterministic/1", " deterministic=\"1\"", true },
    { "deterministic/0", " deterministic=\"0\"", false },
};

START_TEST(deterministic_values)
{
    const struct det_row *row = &det_rows[_i];
    char xml[512];
    snprintf(xml, sizeof(xml), "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\"%s>\n" PAYLOAD
             "  <expect/>\n" TAIL, row->attr);
    struct scenario *s = load_ok(row->what, "dir/x.xml", xml);
    ck_assert_msg(s->deterministic == row->want, "%s: deterministic = %d", row->what, s->deterministic);
}
END_TEST

/* <console file=> is relative to the scenario and read at load time */
START_TEST(console_file_relative)
{
    struct scenario *s = load_ok("console-file", HVSIM_SOURCE_DIR "/scenarios/cpu/x.xml",
                                 HDR PAYLOAD "  <expect>\n    <console file=\"../payloads/hello.out\"/>\n  </expect>\n" TAIL);
    ck_assert(s->has_console);
    ck_assert(!s->console_contains);
    ck_assert_str_eq(s->console_file, HVSIM_SOURCE_DIR "/scenarios/cpu/../payloads/hello.out");
    ck_assert_str_eq(s->console_file_text, harness_slurp(HELLO_OUT, NULL));
    ck_assert_uint_eq(s->nlines, 0);
}
END_TEST

/* <match> must match the whole line */
struct match_row { const char *what; const char *re, *subject; bool want; };

static const struct match_row match_rows[] = {
    { "match/exact", "ab", "ab", true },
    { "match/not-inside", "ab", "xaby", false },
    { "match/not-prefix", "ab", "abc", false },
    { "match/not-suffix", "ab", "cab", false },
    { "match/alternation-anchored", "a|b", "ab", false },
    { "match/alternation", "a|b", "b", true },
    { "match/class", "lp [0-9]+ of [0-9]+", "lp 12 of 64", true },
    { "match/dot-star", "hello.*", "hello from hvsim", true },
    { "match/empty-line", "x*", "", true },
};

START_TEST(match_anchoring)
{
    const struct match_row *row = &match_rows[_i];
    char xml[512];
    snprintf(xml, sizeof(xml), HDR PAYLOAD "  <expect>\n    <console>\n      <match>%s</match>\n    </console>\n"
             "  </expect>\n" TAIL, row->re);
    struct scenario *s = load_ok(row->what, "dir/x.xml", xml);
    ck_assert_uint_eq(s->nlines, 1);
    ck_assert(s->lines[0].regex);
    ck_assert_str_eq(s->lines[0].text, row->re);
    bool got = regexec(&s->lines[0].re, row->subject, 0, NULL, 0) == 0;
    ck_assert_msg(got == row->want, "%s: /%s/ %s \"%s\"", row->what, row->re, got ? "matches" : "does not match",
                  row->subject);
}
END_TEST

START_TEST(utf8_bom)
{
    static const char xml[] = "\xEF\xBB\xBF" HDR "  <description>caf\xC3\xA9</description>\n" PAYLOAD
                              "  <expect/>\n" TAIL;
    struct scenario *s = load_ok("bom", "dir/bom.xml", xml);
    ck_assert_str_eq(s->name, "bom");
    ck_assert_str_eq(s->description, "caf\xC3\xA9");
    ck_assert_str_eq(s->payload_elf, "hello");
    ck_assert_int_eq(s->payload_line, 4);      /* the BOM does not shift lines */
}
END_TEST

/* a load from a file: the same loader, the file's path in messages */
START_TEST(load_from_file)
{
    const char *dir = tmp_dir();
    char path[300], err[1024];
    snprintf(path, sizeof(path), "%s/good.xml", dir);
    write_file(path, HDR PAYLOAD "  <expect>\n    <console file=\"t.out\"/>\n  </expect>\n" TAIL);
    char tpath[300];
    snprintf(tpath, sizeof(tpath), "%s/t.out", dir);
    write_file(tpath, "one\ntwo\n");
    struct scenario *s = scenario_load(path, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    harness_own(own_scenario, s);
    ck_assert_str_eq(s->name, "good");
    ck_assert_str_eq(s->path, path);
    ck_assert_str_eq(s->console_file, tpath);
    ck_assert_str_eq(s->console_file_text, "one\ntwo\n");

    snprintf(path, sizeof(path), "%s/bad.xml", dir);
    write_file(path, HDR "  <machine lps=\"0\"/>\n" PAYLOAD "  <expect/>\n" TAIL);
    ck_assert_ptr_null(scenario_load(path, err, sizeof(err)));
    char want[320];
    snprintf(want, sizeof(want), "%s:3: ", path);
    ck_assert_msg(!strncmp(err, want, strlen(want)), "error \"%s\"", err);

    snprintf(path, sizeof(path), "%s/missing.xml", dir);
    ck_assert_ptr_null(scenario_load(path, err, sizeof(err)));
    ck_assert_msg(!strncmp(err, path, strlen(path)) && strstr(err, "No such file"), "error \"%s\"", err);
}
END_TEST

/* A small error buffer truncates; it never overflows. */
START_TEST(small_error_buffer)
{
    char err[16];
    memset(err, 'Z', sizeof(err));
    static const char xml[] = HDR "  <machine lps=\"0\"/>\n" PAYLOAD "  <expect/>\n" TAIL;
    ck_assert_ptr_null(load_as("dir/x.xml", xml, strlen(xml), err, 12));
    ck_assert_msg(memchr(err, 0, 12) != NULL, "not terminated inside the buffer");
    ck_assert_msg(err[12] == 'Z' && err[15] == 'Z', "wrote past errlen");
}
END_TEST

/* ================================================================ */
/* ---- running against the built hello payload ---- */

/* The first 16 bytes at hello.elf's entry point and their physical
 * address, from the ELF file itself: the text segment is loaded at its
 * p_paddr (docs/boot-protocol.md) and the payload does not write it. */
struct hello_text { uint64_t addr; char hex[64], bad_hex[64]; };

static uint64_t rd_le(const char *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)(uint8_t)p[i] << (8 * i);
    return v;
}

/* ELF64 offsets (System V gABI): e_entry 24, e_phoff 32, e_phentsize 54,
 * e_phnum 56; p_type 0, p_offset 8, p_vaddr 16, p_paddr 24, p_filesz 32.
 * Read by hand: sim/elf.h shadows <elf.h> on this include path. */
static void hello_text(struct hello_text *t)
{
    size_t n;
    const char *f = harness_slurp(HVSIM_PAYLOAD_DIR "/hello.elf", &n);
    ck_assert_uint_ge(n, 64);
    ck_assert_msg(!memcmp(f, "\x7f" "ELF", 4) && f[4] == 2, "hello.elf is not ELF64");
    uint64_t entry = rd_le(f + 24, 8), phoff = rd_le(f + 32, 8);
    unsigned phentsize = (unsigned)rd_le(f + 54, 2), phnum = (unsigned)rd_le(f + 56, 2);
    for (unsigned i = 0; i < phnum; i++) {
        ck_assert_uint_le(phoff + (uint64_t)(i + 1) * phentsize, n);
        const char *ph = f + phoff + (uint64_t)i * phentsize;
        uint64_t type = rd_le(ph, 4), offset = rd_le(ph + 8, 8), vaddr = rd_le(ph + 16, 8),
                 paddr = rd_le(ph + 24, 8), filesz = rd_le(ph + 32, 8);
        if (type != 1 /* PT_LOAD */ || entry < vaddr || entry + 16 > vaddr + filesz)
            continue;
        uint64_t off = offset + (entry - vaddr);
        ck_assert_uint_le(off + 16, n);
        t->addr = paddr + (entry - vaddr);
        size_t o = 0, ob = 0;
        for (int k = 0; k < 16; k++) {
            uint8_t b = (uint8_t)f[off + (uint64_t)k];
            o += (size_t)snprintf(t->hex + o, sizeof(t->hex) - o, k % 4 == 3 ? "%02x " : "%02X", b);
            /* the last byte differs */
            ob += (size_t)snprintf(t->bad_hex + ob, sizeof(t->bad_hex) - ob, "%02x ", k == 15 ? b ^ 0x5a : b);
        }
        t->hex[o - 1] = 0;       /* no trailing space */
        t->bad_hex[ob - 1] = 0;
        return;
    }
    ck_abort_msg("hello.elf: no loadable segment holds the entry point");
}

/* The scenario for the run tests: lines 1-4 are fixed, BODY starts at
 * line 5 (PAYLOAD_LINE replaces line 3). {ADDR}, {BYTES} and {BAD} are the
 * entry-point bytes from hello_text(). */
#define RUN_HEAD "<?xml version=\"1.0\"?>\n<scenario xmlns=\"urn:hvsim:scenario:1\">\n"
#define RUN_PAYLOAD "  <payload elf=\"hello\"/>"

static const char *run_xml(const char *payload_line, const char *body)
{
    struct hello_text t;
    hello_text(&t);
    char addr[32];
    snprintf(addr, sizeof(addr), "%#llx", (unsigned long long)t.addr);
    size_t n = strlen(RUN_HEAD) + strlen(payload_line) + strlen(body) + 64;
    char *x = owned_alloc(n);
    snprintf(x, n, RUN_HEAD "%s\n  <expect>\n%s  </expect>\n" TAIL, payload_line, body);
    return subst(subst(subst(x, "ADDR", addr), "BYTES", t.hex), "BAD", t.bad_hex);
}

static void run(const struct scenario *s, struct scn_result *r, const char *trace_path)
{
    struct scn_options o = { .payload_dir = HVSIM_PAYLOAD_DIR, .trace_path = trace_path };
    scenario_run(s, &o, r);
}

static bool is_hex64(const char *d)
{
    if (strlen(d) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return false;
    return true;
}

/* Everything hello does, as documented: its transcript
 * (scenarios/payloads/hello.out), exit status 1 for exit code 0 (the exit
 * port's (code << 1) | 1), and the boot register state of
 * docs/boot-protocol.md, which hello does not change. */
#define GOOD_BODY                                                                \
    "    <exit status=\"1\" end=\"exit-device\"/>\n"                            \
    "    <console>\n"                                                            \
    "      <line>hello from hvsim: lp 0 of 1, 256 MiB</line>\n"                 \
    "      <line>hello on COM1</line>\n"                                         \
    "      <match>-42 42 beef 0x10 +7\\|7 +\\|00007 str c%</match>\n"           \
    "      <line>DONE</line>\n"                                                  \
    "    </console>\n"                                                           \
    "    <trace>\n"                                                              \
    "      <event type=\"console\" port=\"0xe9\"/>\n"                            \
    "      <event type=\"console\" port=\"0x3f8\" lp=\"0\"/>\n"                  \
    "      <event type=\"io\" port=\"0xf4\" dir=\"1\" size=\"1\" value=\"0\"/>\n" \
    "      <absent type=\"triple-fault\"/>\n"                                    \
    "      <absent type=\"exception\"/>\n"                                       \
    "    </trace>\n"                                                             \
    "    <register name=\"cr0\" value=\"0x80010033\"/>\n"                        \
    "    <register name=\"cr4\" value=\"0x620\"/>\n"                             \
    "    <register name=\"efer\" value=\"0xd00\" lp=\"0\"/>\n"                   \
    "    <memory address=\"{ADDR}\" bytes=\"{BYTES}\"/>\n"

START_TEST(good_run_passes)
{
    struct scenario *s = load_ok("good", "dir/good.xml", run_xml(RUN_PAYLOAD, GOOD_BODY));
    ck_assert_uint_eq(s->nmems, 1);
    ck_assert_uint_eq(s->mems[0].n, 16);
    struct scn_result r;
    run(s, &r, NULL);
    ck_assert_msg(r.pass, "the correct scenario failed: %s\n%s", r.message, r.excerpt);
    ck_assert(!r.setup_error);
    ck_assert_int_eq(r.status, 1);
    ck_assert_int_eq(r.end, TEND_EXIT_DEVICE);
    ck_assert_msg(r.end_text[0] != 0, "no end text");
    ck_assert_msg(is_hex64(r.digest), "digest \"%s\" is not 64 lowercase hex digits", r.digest);
    ck_assert_uint_gt(r.insns, 0);
    ck_assert_uint_gt(r.cycles, 0);

    /* console file= holding the same transcript also passes */
    s = load_ok("good-file", "dir/good.xml",
                run_xml(RUN_PAYLOAD, "    <exit status=\"1\"/>\n    <console file=\"" HELLO_OUT "\"/>\n"));
    run(s, &r, NULL);
    ck_assert_msg(r.pass, "console file=: %s", r.message);

    /* contains mode: a subset in order */
    s = load_ok("good-contains", "dir/good.xml",
                run_xml(RUN_PAYLOAD, "    <console mode=\"contains\">\n      <line>hello on COM1</line>\n"
                                 "      <match>D.NE</match>\n    </console>\n"));
    run(s, &r, NULL);
    ck_assert_msg(r.pass, "contains: %s", r.message);
}
END_TEST

START_TEST(runs_are_deterministic)
{
    const char *dir = tmp_dir();
    char tpath[300];
    snprintf(tpath, sizeof(tpath), "%s/t.hvt", dir);
    struct scenario *s = load_ok("det", "dir/det.xml", run_xml(RUN_PAYLOAD, GOOD_BODY));
    struct scn_result a, b;
    run(s, &a, NULL);
    run(s, &b, tpath);
    ck_assert_msg(a.pass && b.pass, "%s / %s", a.message, b.message);
    ck_assert_msg(is_hex64(a.digest), "digest \"%s\"", a.digest);
    ck_assert_str_eq(a.digest, b.digest);
    ck_assert_uint_eq(a.insns, b.insns);
    ck_assert_uint_eq(a.cycles, b.cycles);
    /* the digest is the SHA-256 of the kept trace */
    char file_digest[65];
    ck_assert(sha256_file(tpath, file_digest));
    ck_assert_str_eq(file_digest, a.digest);
    /* and it depends on the run: another seed is another trace header */
    struct scenario *s2 = load_ok("det-seed", "dir/det.xml",
                                  run_xml(RUN_PAYLOAD, GOOD_BODY) /* same body */);
    s2->seed = 7;
    s2->has_seed = true;
    struct scn_result c;
    run(s2, &c, NULL);
    ck_assert_msg(c.pass, "%s", c.message);
    ck_assert_str_ne(c.digest, a.digest);
}
END_TEST

struct run_row {
    const char *what;
    const char *payload;          /* line 3; NULL: elf="hello" */
    const char *body;             /* from line 5 */
    int line;                     /* the scenario line the message must name (0: none required) */
    const char *needle1, *needle2;
    bool setup_error;
    bool trace_excerpt;           /* a trace failure: the excerpt shows records */
};

static const struct run_row run_rows[] = {
    { "exit/wrong-status", NULL, "    <exit status=\"3\"/>\n", 5, "status 1", "expected 3", false, false },
    { "exit/wrong-end", NULL, "    <exit end=\"halted\"/>\n", 5, "exit-device", "halted", false, false },
    { "exit/right-status-wrong-end", NULL, "    <exit status=\"1\" end=\"triple-fault\"/>\n", 5, "triple-fault",
      "exit-device", false, false },
    { "console/exact-mismatch", NULL,
      "    <console>\n      <line>hello from hvsim: lp 0 of 1, 256 MiB</line>\n      <line>hello on COM2</line>\n"
      "    </console>\n", 7, "console line 2", "hello on COM2", false, false },
    { "console/exact-missing-first", NULL,
      "    <console>\n      <line>hello on COM1</line>\n    </console>\n", 6, "console line 1", "hello on COM1", false,
      false },
    { "console/exact-transcript-longer", NULL,
      "    <console>\n      <line>hello from hvsim: lp 0 of 1, 256 MiB</line>\n    </console>\n", 0,
      "console line 2", "end of the transcript", false, false },
    { "console/exact-transcript-shorter", NULL,
      "    <console>\n      <line>hello from hvsim: lp 0 of 1, 256 MiB</line>\n      <line>hello on COM1</line>\n"
      "      <match>-42.*</match>\n      <line>DONE</line>\n      <line>MORE</line>\n    </console>\n",
      10, "MORE", "console", false, false },
    { "console/exact-empty-means-no-output", NULL, "    <console/>\n", 0, "console line 1", "end of the transcript",
      false, false },
    { "console/exact-regex-not-matching", NULL,
      "    <console>\n      <match>hello from hvsim: lp [1-9] .*</match>\n    </console>\n", 6, "console line 1",
      "lp [1-9]", false, false },
    { "console/contains-line-missing", NULL,
      "    <console mode=\"contains\">\n      <line>hello on COM1</line>\n      <line>not printed</line>\n"
      "    </console>\n", 7, "not printed", "console", false, false },
    { "console/contains-wrong-order", NULL,
      "    <console mode=\"contains\">\n      <line>DONE</line>\n      <line>hello on COM1</line>\n    </console>\n",
      7, "hello on COM1", "console", false, false },
    { "console/contains-regex-anchored", NULL,
      "    <console mode=\"contains\">\n      <match>hello</match>\n    </console>\n", 6, "hello", "console", false,
      false },
    { "console/contains-regex-not-matching", NULL,
      "    <console mode=\"contains\">\n      <match>DONE [0-9]+</match>\n    </console>\n", 6, "DONE [0-9]+",
      "console", false, false },
    { "console/file-mismatch", NULL, "    <console file=\"" CPUID_OUT "\"/>\n", 0, "console line 1", "cpuid.out",
      false, false },
    { "trace/event-never-happens", NULL,
      "    <trace>\n      <event type=\"triple-fault\"/>\n    </trace>\n", 6, "triple-fault", "no event", false,
      true },
    { "trace/event-field-mismatch", NULL,
      "    <trace>\n      <event type=\"io\" port=\"0xf4\" value=\"7\"/>\n    </trace>\n", 6, "value=7", "no event",
      false, true },
    { "trace/events-wrong-order", NULL,
      "    <trace>\n      <event type=\"console\" port=\"0x3f8\"/>\n      <event type=\"io\" port=\"0x3fb\"/>\n"
      "    </trace>\n", 7, "port=0x3fb", "after the previous", false, true },
    { "trace/events-wrong-order-at-the-end", NULL,
      "    <trace>\n      <event type=\"io\" port=\"0xf4\" dir=\"1\"/>\n      <event type=\"console\" port=\"0xe9\"/>\n"
      "    </trace>\n", 7, "port=0xe9", "after the previous", false, true },
    { "trace/absent-occurs", NULL,
      "    <trace>\n      <event type=\"console\"/>\n      <absent type=\"io\" port=\"0xf4\"/>\n    </trace>\n", 7,
      "absent", "port=0xf4", false, true },
    /* between the first console line (0xE9) and the COM1 line, COM1 is programmed */
    { "trace/absent-between-occurs", NULL,
      "    <trace>\n      <event type=\"console\" port=\"0xe9\"/>\n"
      "      <absent type=\"io\" port=\"0x3f8\" scope=\"between\"/>\n"
      "      <event type=\"console\" port=\"0x3f8\"/>\n    </trace>\n", 7, "scope=between", "port=0x3f8", false, true },
    { "register/mismatch", NULL, "    <register name=\"rflags\" value=\"0x12345\"/>\n", 5, "rflags", "0x12345", false,
      false },
    { "register/second-mismatch", NULL,
      "    <register name=\"cr0\" value=\"0x80010033\"/>\n    <register name=\"cr4\" value=\"0x20\"/>\n", 6, "cr4",
      "0x20", false, false },
    { "memory/mismatch", NULL, "    <memory address=\"{ADDR}\" bytes=\"{BAD}\"/>\n", 5, "memory", "expected", false,
      false },
    { "memory/outside-ram", NULL, "    <memory address=\"0x10000000000\" bytes=\"00\"/>\n", 5, "not RAM",
      "0x10000000000", false, false },
    { "memory/straddles-end-of-ram", NULL, "    <memory address=\"0xfffffff\" bytes=\"00 00\"/>\n", 5, "not RAM",
      "0xfffffff", false, false },
    { "memory/wraps-address-space", NULL, "    <memory address=\"0xffffffffffffffff\" bytes=\"00 00 00\"/>\n", 5,
      "not RAM", "0xffffffffffffffff", false, false },
    { "payload/missing-elf", "  <payload elf=\"no_such_payload\"/>", "    <exit status=\"1\"/>\n", 3,
      "no_such_payload", "payload", true, false },
    { "payload/missing-path", "  <payload path=\"missing.elf\"/>", "    <exit status=\"1\"/>\n", 3, "missing.elf",
      "No such file", true, false },
    { "payload/not-an-elf", "  <payload path=\"" HELLO_OUT "\"/>", "    <exit status=\"1\"/>\n", 0, "hello.out", "",
      true, false },
};

START_TEST(run_failures)
{
    const struct run_row *row = &run_rows[_i];
    const char *xml = run_xml(row->payload ? row->payload : RUN_PAYLOAD, row->body);
    struct scenario *s = load_ok(row->what, "dir/x.xml", xml);
    struct scn_result r;
    memset(&r, 0x55, sizeof(r));
    run(s, &r, NULL);
    ck_assert_msg(!r.pass, "%s: passed", row->what);
    ck_assert_msg(r.setup_error == row->setup_error, "%s: setup_error = %d (%s)", row->what, r.setup_error,
                  r.message);
    ck_assert_msg(memchr(r.message, 0, sizeof(r.message)) && r.message[0], "%s: no message", row->what);
    ck_assert_msg_contains(row->what, r.message, row->needle1);
    ck_assert_msg_contains(row->what, r.message, row->needle2);
    if (row->line)
        ck_assert_msg(mentions_line(r.message, row->line), "%s: message \"%s\" does not name scenario line %d",
                      row->what, r.message, row->line);
    if (row->trace_excerpt)
        ck_assert_msg(strstr(r.excerpt, "lp0 ") != NULL, "%s: the excerpt shows no trace records:\n%s", row->what,
                      r.excerpt);
    if (!row->setup_error) {
        ck_assert_int_eq(r.status, 1);
        ck_assert_int_eq(r.end, TEND_EXIT_DEVICE);
        ck_assert_msg(is_hex64(r.digest), "%s: digest \"%s\"", row->what, r.digest);
    }
}
END_TEST

/* Every ordered event counts, however many there are: 300 io events (the
 * boot_state payload makes several hundred io records) then one that never
 * happens. Refusing so many patterns at load time would also be honest. */
/* scope="between" only covers its span: port 0xE9 is not written between
 * the first 0xE9 console line and the COM1 line, but before and after. */
START_TEST(absent_between_passes_outside_its_span)
{
    struct scenario *s = load_ok("between", "dir/x.xml",
                                 run_xml(RUN_PAYLOAD, "    <trace>\n      <event type=\"console\" port=\"0xe9\"/>\n"
                                                      "      <absent type=\"io\" port=\"0xe9\" scope=\"between\"/>\n"
                                                      "      <event type=\"console\" port=\"0x3f8\"/>\n"
                                                      "    </trace>\n"));
    struct scn_result r;
    run(s, &r, NULL);
    ck_assert_msg(r.pass, "%s", r.message);
}
END_TEST

START_TEST(many_events_all_checked)
{
    size_t n = 300, cap = n * 40 + 512;
    char *body = owned_alloc(cap);
    size_t o = (size_t)snprintf(body, cap, "    <trace>\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, cap - o, "      <event type=\"io\"/>\n");
    o += (size_t)snprintf(body + o, cap - o, "      <event type=\"triple-fault\"/>\n    </trace>\n");
    const char *xml = run_xml("  <payload elf=\"boot_state\"/>", body);
    char err[1024];
    struct scenario *s = load_as("dir/x.xml", xml, strlen(xml), err, sizeof(err));
    if (!s)
        return;                  /* refused at load: fine */
    /* the first 300 alone do pass */
    unsigned nev = s->nevents;
    s->nevents = nev - 1;
    struct scn_result r;
    run(s, &r, NULL);
    s->nevents = nev;
    ck_assert_msg(r.pass, "300 io events: %s", r.message);
    run(s, &r, NULL);
    ck_assert_msg(!r.pass, "the 301st event pattern (a triple fault that never happens) was not checked");
    ck_assert_msg_contains("many-events", r.message, "triple-fault");
    ck_assert_msg(mentions_line(r.message, 5 + 1 + (int)n), "message \"%s\" names the wrong line", r.message);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scenario");
    TCase *t = harness_tcase("load/errors");
    ADD_ROWS(t, bad_input, bad_rows);
    ADD_ROWS(t, bad_generated, gen_rows);
    tcase_add_test(t, small_error_buffer);
    suite_add_tcase(s, t);

    t = harness_tcase("load/entities");
    ADD_ROWS(t, external_entities_not_read, xxe_rows);
    tcase_add_test(t, etc_passwd_not_read);
    suite_add_tcase(s, t);

    t = harness_tcase("load/fields");
    tcase_add_test(t, every_field);
    tcase_add_test(t, differential_fields);
    tcase_add_test(t, defaults);
    tcase_add_test(t, svm_caps_loaded);
    ADD_ROWS(t, memory_sizes, memory_rows);
    ADD_ROWS(t, number_formats, number_rows);
    tcase_add_test(t, range_edges);
    ADD_ROWS(t, name_default, name_rows);
    ADD_ROWS(t, payload_paths, path_rows);
    tcase_add_test(t, multiboot_payload);
    ADD_ROWS(t, deterministic_values, det_rows);
    tcase_add_test(t, console_file_relative);
    ADD_ROWS(t, match_anchoring, match_rows);
    tcase_add_test(t, utf8_bom);
    tcase_add_test(t, load_from_file);
    suite_add_tcase(s, t);

    t = harness_tcase("run");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, good_run_passes);
    tcase_add_test(t, absent_between_passes_outside_its_span);
    tcase_add_test(t, runs_are_deterministic);
    ADD_ROWS(t, run_failures, run_rows);
    tcase_add_test(t, many_events_all_checked);
    suite_add_tcase(s, t);
    return harness_run(s);
}
