/*
 * test_trace.c — the binary trace format (sim/trace.c, sim/trace_records.def):
 * the writer's record layout and the mapping from struct cpu_event to record
 * fields, console coalescing, the validating reader's handling of every kind
 * of damage, the text formatter, and the checksums the format relies on
 * (CRC-32 per ISO-HDLC/zlib, SHA-256 per FIPS 180-4).
 */
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "trace.h"

/* ---- temporary files ---- */

static void unlink_and_free(void *p)
{
    unlink(p);
    free(p);
}

/* A temporary file, removed at teardown (harness.h) even if the test fails. */
static void tmp_path(char path[64])
{
    snprintf(path, 64, "/tmp/hvsim-test-trace-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    close(fd);
    harness_own(unlink_and_free, strdup(path));
}


static void spill(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    if (n)
        ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint64_t le(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put(uint8_t *p, uint64_t v, unsigned w)
{
    for (unsigned i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the sample trace: every record type, two LPs ---- */

static struct trace_config sample_config(void)
{
    struct trace_config c = { .version = TRACE_FORMAT_VERSION, .flags = TRACE_F_INSNS,
                              .seed = 0x1122334455667788ull, .nlps = 2, .cost_model = 1,
                              .mem_size = 256ull << 20, .quantum = 10000, .sched_seed = 0xA1B2C3D4E5F60718ull };
    snprintf(c.hvsim_version, sizeof(c.hvsim_version), "9.8.7-test");
    snprintf(c.profile, sizeof(c.profile), "intel-server");
    snprintf(c.payload, sizeof(c.payload), "sample-payload.elf");
    for (int i = 0; i < 32; i++)
        c.payload_sha256[i] = (uint8_t)(0xA0 + i);
    return c;
}

static const uint8_t insn_bytes[3] = { 0x48, 0x89, 0xC8 };   /* mov rax, rcx */

/* One expected record: named fields (by .def name), LP, cycle, var bytes. */
#define MAXF 8
struct exp_field { const char *name; uint64_t v; };
struct exp_rec {
    const char *what;
    unsigned type, lp;
    uint64_t cycle;
    unsigned nfields;                 /* named fields of the type */
    unsigned paylen;                  /* fixed payload bytes (from the format) */
    struct exp_field f[MAXF];
    const char *var;                  /* NULL: none */
    unsigned nvar;
};

/* The events written by write_sample(), in file order. Payload lengths are
 * the sums of the widths in trace_records.def, written out by hand. */
static const struct exp_rec sample[] = {
    { "exception #PF with error code", TREC_EXCEPTION, 0, 100, 7, 32,
      { { "rip", 0xFFFFFFFF80001234ull }, { "vector", 14 }, { "class", 0 }, { "has_ec", 1 }, { "ec", 0x1B },
        { "cr2", 0xDEAD0000BEEFull }, { "pushed_rip", 0xFFFFFFFF80001234ull } }, NULL, 0 },
    { "exception INT 0x80", TREC_EXCEPTION, 0, 110, 7, 32,
      { { "rip", 0x401000 }, { "vector", 0x80 }, { "class", 1 }, { "has_ec", 0 }, { "ec", 0 }, { "cr2", 0 },
        { "pushed_rip", 0x401002 } }, NULL, 0 },
    { "cr write", TREC_CR_WRITE, 1, 50, 4, 32,
      { { "rip", 0x2000 }, { "cr", 4 }, { "old", 0x20 }, { "new", 0x100020 } }, NULL, 0 },
    { "msr write", TREC_MSR, 0, 150, 5, 24,
      { { "rip", 0x3000 }, { "msr", 0xC0000080u }, { "write", 1 }, { "result", 0 }, { "value", 0xD01 } },
      NULL, 0 },
    { "msr read unmodelled", TREC_MSR, 0, 151, 5, 24,
      { { "rip", 0x3002 }, { "msr", 0x12345678 }, { "write", 0 }, { "result", 2 }, { "value", 0 } }, NULL, 0 },
    { "io out", TREC_IO, 0, 160, 5, 16,
      { { "rip", 0x3004 }, { "port", 0x3F8 }, { "size", 1 }, { "dir", 1 }, { "value", 0x41 } }, NULL, 0 },
    { "halt", TREC_HALT, 1, 60, 3, 24, { { "rip", 0x2010 }, { "next_rip", 0x2011 }, { "if", 1 } }, NULL, 0 },
    { "tlb invlpg", TREC_TLB_INVAL, 0, 170, 5, 40,
      { { "rip", 0x3010 }, { "kind", 2 }, { "a", 0x7000 }, { "b", 0 }, { "c", 0 } }, NULL, 0 },
    { "tlb invpcid", TREC_TLB_INVAL, 0, 171, 5, 40,
      { { "rip", 0x3014 }, { "kind", 3 }, { "a", 1 }, { "b", 5 }, { "c", 0xFFFF800000000000ull } }, NULL, 0 },
    { "insn", TREC_INSN, 0, 180, 2, 16, { { "rip", 0x3020 }, { "index", 12345 } }, (const char *)insn_bytes, 3 },
    { "triple fault", TREC_TRIPLE_FAULT, 1, 70, 4, 16,
      { { "rip", 0x2020 }, { "first", 13 }, { "second", 8 }, { "ec", 0x42 } }, NULL, 0 },
    { "unmodelled", TREC_UNMODELLED, 1, 80, 1, 8, { { "rip", 0x2030 } }, "OUT to port 0x80", 16 },
    { "console line", TREC_CONSOLE, 0, 192, 1, 2, { { "port", 0xE9 } }, "hi\n", 3 },
};
#define NSAMPLE NROWS(sample)
#define END_TEXT "the payload wrote 1 to the exit port (0xF4)"

static void ev(trace_writer_t *w, unsigned lp, enum cpu_event_kind k, uint64_t cycle, uint64_t rip, uint64_t a,
               uint64_t b, uint64_t c, uint64_t d)
{
    struct cpu_event e = { .kind = k, .cycle = cycle, .rip = rip, .a = a, .b = b, .c = c, .d = d };
    trace_event(w, lp, &e);
}

static void write_sample(const char *path)
{
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    /* cpu_event encodings as cpu/exceptions.c and cpu/sysinsn.c emit them */
    ev(w, 0, CPU_EV_EXCEPTION, 100, 0xFFFFFFFF80001234ull, 14 | (0ull << 8) | (1ull << 16), 0x1B,
       0xDEAD0000BEEFull, 0xFFFFFFFF80001234ull);
    ev(w, 0, CPU_EV_EXCEPTION, 110, 0x401000, 0x80 | (1ull << 8), 0, 0, 0x401002);
    ev(w, 1, CPU_EV_CR_WRITE, 50, 0x2000, 4, 0x20, 0x100020, 0);
    ev(w, 0, CPU_EV_MSR, 150, 0x3000, 0xC0000080u, 0xD01, 1, 0);
    ev(w, 0, CPU_EV_MSR, 151, 0x3002, 0x12345678, 0, 0, 2);
    ev(w, 0, CPU_EV_IO, 160, 0x3004, 0x3F8, 0x41, 1, 1);
    ev(w, 1, CPU_EV_HALT, 60, 0x2010, 0x2011, 1, 0, 0);
    ev(w, 0, CPU_EV_TLB_INVAL, 170, 0x3010, CPU_INVAL_INVLPG, 0x7000, 0, 0);
    ev(w, 0, CPU_EV_TLB_INVAL, 171, 0x3014, CPU_INVAL_INVPCID, 1, 5, 0xFFFF800000000000ull);
    struct cpu_event ie = { .kind = CPU_EV_INSN, .cycle = 180, .rip = 0x3020, .a = 12345, .bytes = insn_bytes,
                            .nbytes = 3 };
    trace_event(w, 0, &ie);
    ev(w, 1, CPU_EV_TRIPLE_FAULT, 70, 0x2020, 13, 8, 0x42, 0);
    struct cpu_event ue = { .kind = CPU_EV_UNMODELLED, .cycle = 80, .rip = 0x2030, .text = "OUT to port 0x80" };
    trace_event(w, 1, &ue);
    trace_console(w, 0, 190, 0xE9, 'h');
    trace_console(w, 0, 191, 0xE9, 'i');
    trace_console(w, 0, 192, 0xE9, '\n');
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 3, 999, 1000, END_TEXT), TRACE_OK);
}

static uint64_t field_of(const struct trace_record *r, const char *name)
{
    int i = trace_field_index(r->type, name);
    ck_assert_msg(i >= 0, "type %u has no field %s", r->type, name);
    return r->field[i];
}

/* Offsets of the records of the sample, filled by reading it back. */
struct layout_info { uint64_t off[NSAMPLE + 1]; size_t size; };

static void read_sample_layout(const char *path, struct layout_info *li)
{
    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    for (int k = 0; k <= NSAMPLE; k++) {
        int got = trace_next(r, &rec, msg, sizeof(msg));
        ck_assert_msg(got == (k == NSAMPLE ? 0 : 1), "record %d: trace_next = %d (%s)", k, got, msg);
        li->off[k] = rec.offset;
    }
    trace_close(r);
    uint8_t *b = (uint8_t *)harness_slurp(path, &li->size);
    harness_release(b);
}

START_TEST(roundtrip_every_record_type)
{
    char path[64];
    tmp_path(path);
    write_sample(path);
    size_t size;
    uint8_t *file = (uint8_t *)harness_slurp(path, &size);

    /* Header bytes at their documented offsets (trace.h). */
    ck_assert_msg(memcmp(file, "HVSIMTRC", 8) == 0, "magic");
    ck_assert_uint_eq(le(file + 8, 2), TRACE_FORMAT_VERSION);
    ck_assert_uint_eq(le(file + 10, 2), TRACE_HEADER_SIZE);
    ck_assert_uint_eq(le(file + 12, 4), TRACE_F_INSNS);
    ck_assert_uint_eq(le(file + 16, 8), 0x1122334455667788ull);
    ck_assert_uint_eq(le(file + 24, 4), 2);
    ck_assert_uint_eq(le(file + 28, 4), 1);
    ck_assert_uint_eq(le(file + 32, 8), 256ull << 20);
    ck_assert_uint_eq(le(file + 40, 8), 10000);
    ck_assert_str_eq((const char *)file + 48, "9.8.7-test");
    ck_assert_str_eq((const char *)file + 80, "intel-server");
    ck_assert_str_eq((const char *)file + 112, "sample-payload.elf");
    ck_assert_uint_eq(file[176], 0xA0);
    ck_assert_uint_eq(file[207], 0xA0 + 31);
    ck_assert_uint_eq(le(file + 208, 8), 0xA1B2C3D4E5F60718ull);
    for (int i = 216; i < TRACE_HEADER_SIZE; i++)
        ck_assert_msg(file[i] == 0, "reserved header byte %d is %u", i, file[i]);

    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    const struct trace_config *c = trace_reader_config(r);
    struct trace_config want = sample_config();
    ck_assert_uint_eq(c->version, TRACE_FORMAT_VERSION);
    ck_assert_uint_eq(c->flags, want.flags);
    ck_assert_uint_eq(c->seed, want.seed);
    ck_assert_uint_eq(c->nlps, want.nlps);
    ck_assert_uint_eq(c->cost_model, want.cost_model);
    ck_assert_uint_eq(c->mem_size, want.mem_size);
    ck_assert_uint_eq(c->quantum, want.quantum);
    ck_assert_uint_eq(c->sched_seed, want.sched_seed);
    ck_assert_str_eq(c->hvsim_version, want.hvsim_version);
    ck_assert_str_eq(c->profile, want.profile);
    ck_assert_str_eq(c->payload, want.payload);
    ck_assert_msg(memcmp(c->payload_sha256, want.payload_sha256, 32) == 0, "payload SHA-256");

    static struct trace_record rec;
    uint64_t off = TRACE_HEADER_SIZE;
    for (int k = 0; k < NSAMPLE; k++) {
        const struct exp_rec *e = &sample[k];
        int got = trace_next(r, &rec, msg, sizeof(msg));
        ck_assert_msg(got == 1, "record %d (%s): trace_next = %d: %s", k, e->what, got, msg);
        ck_assert_msg(rec.type == e->type, "record %d (%s): type %u, expected %u", k, e->what, rec.type, e->type);
        ck_assert_msg(rec.lp == e->lp, "record %d (%s): lp %u", k, e->what, rec.lp);
        ck_assert_msg(rec.cycle == e->cycle, "record %d (%s): cycle %llu", k, e->what,
                      (unsigned long long)rec.cycle);
        ck_assert_msg(rec.offset == off, "record %d (%s): offset %llu, expected %llu", k, e->what,
                      (unsigned long long)rec.offset, (unsigned long long)off);
        ck_assert_msg(rec.nfields == e->nfields, "record %d (%s): %u fields", k, e->what, rec.nfields);
        for (unsigned i = 0; i < e->nfields; i++)
            ck_assert_msg(field_of(&rec, e->f[i].name) == e->f[i].v, "record %d (%s): field %s = %#llx, "
                          "expected %#llx", k, e->what, e->f[i].name,
                          (unsigned long long)field_of(&rec, e->f[i].name), (unsigned long long)e->f[i].v);
        ck_assert_msg(rec.nvar == e->nvar, "record %d (%s): %u variable bytes", k, e->what, rec.nvar);
        if (e->nvar)
            ck_assert_msg(memcmp(rec.var, e->var, e->nvar) == 0, "record %d (%s): variable bytes", k, e->what);
        /* On-disk record header { u8 type, u8 lp, u16 len, u32 0, u64 cycle }. */
        const uint8_t *h = file + off;
        ck_assert_msg(h[0] == e->type && h[1] == e->lp, "record %d (%s): header type/lp bytes", k, e->what);
        ck_assert_msg(le(h + 2, 2) == e->paylen + e->nvar, "record %d (%s): length %llu, expected %u", k,
                      e->what, (unsigned long long)le(h + 2, 2), e->paylen + e->nvar);
        ck_assert_msg(le(h + 4, 4) == 0, "record %d (%s): reserved bytes", k, e->what);
        ck_assert_msg(le(h + 8, 8) == e->cycle, "record %d (%s): cycle bytes", k, e->what);
        /* The first field of every type but CONSOLE is the 8-byte rip. */
        if (e->type != TREC_CONSOLE)
            ck_assert_msg(le(h + TRACE_REC_HDR, 8) == e->f[0].v, "record %d (%s): rip bytes", k, e->what);
        off += TRACE_REC_HDR + e->paylen + e->nvar;
    }
    /* END: reason, status, totals, record count and CRC of all bytes before it. */
    int got = trace_next(r, &rec, msg, sizeof(msg));
    ck_assert_msg(got == 0, "END: trace_next = %d: %s", got, msg);
    ck_assert_uint_eq(rec.type, TREC_END);
    ck_assert_uint_eq(rec.offset, off);
    ck_assert_uint_eq(rec.cycle, 1000);
    ck_assert_uint_eq(field_of(&rec, "reason"), TEND_EXIT_DEVICE);
    ck_assert_uint_eq(field_of(&rec, "status"), 3);
    ck_assert_uint_eq(field_of(&rec, "insns"), 999);
    ck_assert_uint_eq(field_of(&rec, "cycles"), 1000);
    ck_assert_uint_eq(field_of(&rec, "records"), NSAMPLE);
    ck_assert_uint_eq(field_of(&rec, "crc"), crc32_update(0, file, off));
    ck_assert_uint_eq(rec.nvar, strlen(END_TEXT));
    ck_assert(memcmp(rec.var, END_TEXT, rec.nvar) == 0);
    ck_assert_uint_eq(le(file + off + 2, 2), 40 + strlen(END_TEXT));
    ck_assert_uint_eq(size, off + TRACE_REC_HDR + 40 + strlen(END_TEXT));

    /* Nothing after END. */
    got = trace_next(r, &rec, msg, sizeof(msg));
    ck_assert_int_eq(got, -1);
    ck_assert_msg_contains("read-after-end", msg, "END");
    trace_close(r);
    harness_release(file);
}
END_TEST

/* ---- console coalescing ---- */

struct cop {                  /* one writer call */
    char kind;                /* 'c' console bytes (cycle, cycle+1, ...), 'r' CR write, 'i' IO, 'n' INSN, 0 end */
    unsigned lp;
    uint64_t cycle;
    uint16_t port;
    const char *bytes;
};
struct crec { unsigned type, lp; uint64_t cycle; const char *var; };
struct console_row {
    const char *name;
    struct cop ops[8];
    struct crec want[8];      /* records before END; type 0 ends the list */
};

#define CON(lp, cyc, port, s) { 'c', lp, cyc, port, s }
#define CRW(lp, cyc) { 'r', lp, cyc, 0, NULL }
#define IOE(lp, cyc) { 'i', lp, cyc, 0x3FD, NULL }
#define INS(lp, cyc) { 'n', lp, cyc, 0, NULL }

static char long_line[301];   /* 300 x 'a' then filled in by the test */

static const struct console_row console_rows[] = {
    { "console/one-record-per-line",
      { CON(0, 10, 0xE9, "ab\ncd\n") },
      { { TREC_CONSOLE, 0, 12, "ab\n" }, { TREC_CONSOLE, 0, 15, "cd\n" } } },
    { "console/partial-line-flushed-by-other-event",
      { CON(0, 10, 0xE9, "xy"), CRW(0, 20) },
      { { TREC_CONSOLE, 0, 11, "xy" }, { TREC_CR_WRITE, 0, 20, NULL } } },
    { "console/partial-line-flushed-at-finish",
      { CON(1, 10, 0xE9, "z") },
      { { TREC_CONSOLE, 1, 10, "z" } } },
    { "console/io-does-not-break-a-line",
      { CON(0, 10, 0x3F8, "a"), IOE(0, 11), CON(0, 12, 0x3F8, "b\n") },
      { { TREC_IO, 0, 11, NULL }, { TREC_CONSOLE, 0, 13, "ab\n" } } },
    { "console/insn-does-not-break-a-line",
      { CON(0, 10, 0xE9, "a"), INS(0, 11), CON(0, 12, 0xE9, "\n") },
      { { TREC_INSN, 0, 11, NULL }, { TREC_CONSOLE, 0, 12, "a\n" } } },
    { "console/lp-switch-breaks-a-line",
      { CON(0, 10, 0xE9, "a"), CON(1, 10, 0xE9, "b"), CON(0, 11, 0xE9, "\n") },
      { { TREC_CONSOLE, 0, 10, "a" }, { TREC_CONSOLE, 1, 10, "b" }, { TREC_CONSOLE, 0, 11, "\n" } } },
    { "console/port-switch-breaks-a-line",
      { CON(0, 10, 0xE9, "a"), CON(0, 11, 0x3F8, "b\n") },
      { { TREC_CONSOLE, 0, 10, "a" }, { TREC_CONSOLE, 0, 12, "b\n" } } },
    { "console/long-line-split-at-256-bytes",
      { CON(0, 1000, 0xE9, long_line) },
      { { TREC_CONSOLE, 0, 1255, NULL }, { TREC_CONSOLE, 0, 1299, NULL } } },
};

static void run_ops(trace_writer_t *w, const struct cop *ops, const char *name)
{
    for (const struct cop *o = ops; o->kind; o++) {
        switch (o->kind) {
        case 'c':
            for (size_t i = 0; o->bytes[i]; i++)
                trace_console(w, o->lp, o->cycle + i, o->port, (uint8_t)o->bytes[i]);
            break;
        case 'r': ev(w, o->lp, CPU_EV_CR_WRITE, o->cycle, 0x1000, 0, 0x11, 0x13, 0); break;
        case 'i': ev(w, o->lp, CPU_EV_IO, o->cycle, 0x1000, o->port, 0x60, 1, 0); break;
        case 'n': ev(w, o->lp, CPU_EV_INSN, o->cycle, 0x1000, 7, 0, 0, 0); break;
        case 'h': ev(w, o->lp, CPU_EV_HALT, o->cycle, 0x1000, 0x1001, 0, 0, 0); break;
        default: ck_abort_msg("%s: bad op", name);
        }
    }
}

START_TEST(console_coalescing)
{
    const struct console_row *row = &console_rows[_i];
    memset(long_line, 'a', 300);
    long_line[299] = '\n';
    long_line[300] = 0;
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    run_ops(w, row->ops, row->name);
    ck_assert_int_eq(trace_finish(w, TEND_HALTED, 4, 1, 2000, NULL), TRACE_OK);

    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    size_t total = 0;
    for (int k = 0; row->want[k].type; k++) {
        const struct crec *e = &row->want[k];
        int got = trace_next(r, &rec, msg, sizeof(msg));
        ck_assert_msg(got == 1, "%s: record %d: trace_next = %d: %s", row->name, k, got, msg);
        ck_assert_msg(rec.type == e->type && rec.lp == e->lp, "%s: record %d is type %u lp %u, expected type %u "
                      "lp %u", row->name, k, rec.type, rec.lp, e->type, e->lp);
        ck_assert_msg(rec.cycle == e->cycle, "%s: record %d: cycle %llu, expected %llu", row->name, k,
                      (unsigned long long)rec.cycle, (unsigned long long)e->cycle);
        if (e->type == TREC_CONSOLE) {
            if (e->var) {
                ck_assert_msg(rec.nvar == strlen(e->var) && memcmp(rec.var, e->var, rec.nvar) == 0,
                              "%s: record %d: text \"%.*s\", expected \"%s\"", row->name, k, rec.nvar,
                              (const char *)rec.var, e->var);
            }
            total += rec.nvar;
        }
    }
    if (row->ops[0].bytes == long_line) {
        ck_assert_msg(total == 300, "%s: %zu console bytes in all", row->name, total);
    }
    int got = trace_next(r, &rec, msg, sizeof(msg));
    ck_assert_msg(got == 0, "%s: expected END, trace_next = %d (type %u): %s", row->name, got, rec.type, msg);
    trace_close(r);
}
END_TEST

/* Whatever the writer produces, its own reader must accept: a partial
 * console line whose bytes precede IN/OUT or instruction records of the same
 * LP (they do not flush the line) is written when something else flushes it,
 * and must not go back in time relative to those records.
 * Regression test: hvsim's writer used to stamp the CONSOLE record with the
 * cycle of its last byte, so it landed after IO/INSN records with later
 * cycles and trace_next() rejected the file ("goes back in time"); a payload
 * printing a line without '\n' and then polling the UART, exiting through
 * port 0xF4 or running with --trace-insns produced an unreadable trace.
 * docs/trace-format.md: "the cycle is that of the last byte, or of the last
 * IO/INSN record written while the line was pending if that is later". */
struct valid_row { const char *name; struct cop ops[4]; const char *text; uint64_t cycle; };
static const struct valid_row valid_rows[] = {
    { "console-valid/partial-line-io-then-finish", { CON(0, 10, 0xE9, "DONE"), IOE(0, 20) }, "DONE", 20 },
    { "console-valid/partial-line-insn-then-halt", { CON(0, 10, 0xE9, "wait"), INS(0, 20), { 'h', 0, 30, 0, NULL } },
      "wait", 20 },
    { "console-valid/partial-line-io-then-cr-write", { CON(1, 10, 0x3F8, "> "), IOE(1, 20), CRW(1, 30) }, "> ", 20 },
    { "console-valid/io-before-the-line-does-not-move-it", { IOE(0, 5), CON(0, 10, 0xE9, "ok"), CRW(0, 30) }, "ok", 11 },
};

START_TEST(console_trace_stays_valid)
{
    const struct valid_row *row = &valid_rows[_i];
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    run_ops(w, row->ops, row->name);
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 1, 2000, NULL), TRACE_OK);
    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    int got, k = 0;
    bool seen = false;
    while ((got = trace_next(r, &rec, msg, sizeof(msg))) == 1 && k++ < 20)
        if (rec.type == TREC_CONSOLE && rec.nvar == strlen(row->text) && !memcmp(rec.var, row->text, rec.nvar)) {
            seen = true;
            ck_assert_msg(rec.cycle == row->cycle, "%s: console line at cycle %llu, expected %llu", row->name,
                          (unsigned long long)rec.cycle, (unsigned long long)row->cycle);
        }
    ck_assert_msg(got == 0, "%s: the writer's own output is rejected: %s", row->name, msg);
    ck_assert_msg(seen, "%s: console text \"%s\" missing", row->name, row->text);
    trace_close(r);
}
END_TEST

/* The long-line row in detail: 256 bytes, then the remaining 44 with '\n'. */
START_TEST(console_long_line_sizes)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    for (int i = 0; i < 300; i++)
        trace_console(w, 0, (uint64_t)i, 0xE9, i == 299 ? '\n' : (uint8_t)('A' + i % 26));
    ck_assert_int_eq(trace_finish(w, TEND_HALTED, 4, 1, 2000, NULL), TRACE_OK);
    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.nvar, 256);
    ck_assert_uint_eq(rec.var[0], 'A');
    ck_assert_uint_eq(rec.var[255], 'A' + 255 % 26);
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.nvar, 44);
    ck_assert_uint_eq(rec.var[0], 'A' + 256 % 26);
    ck_assert_uint_eq(rec.var[43], '\n');
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(rec.nvar, 0);             /* END without text */
    trace_close(r);
}
END_TEST

/* Variable bytes beyond TRACE_MAX_VAR are cut, and the file stays valid. */
START_TEST(long_unmodelled_text_is_truncated)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    char *text = harness_own(harness_free, malloc(TRACE_MAX_VAR + 500));
    memset(text, 'q', TRACE_MAX_VAR + 499);
    text[TRACE_MAX_VAR + 499] = 0;
    struct cpu_event ue = { .kind = CPU_EV_UNMODELLED, .cycle = 5, .rip = 0x10, .text = text };
    trace_event(w, 0, &ue);
    ck_assert_int_eq(trace_finish(w, TEND_UNMODELLED, 10, 1, 5, text), TRACE_OK);
    harness_release(text);
    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    int got = trace_next(r, &rec, msg, sizeof(msg));
    ck_assert_msg(got == 1, "trace_next = %d: %s", got, msg);
    ck_assert_uint_eq(rec.nvar, TRACE_MAX_VAR);
    got = trace_next(r, &rec, msg, sizeof(msg));
    ck_assert_msg(got == 0, "END: trace_next = %d: %s", got, msg);
    ck_assert_uint_eq(rec.nvar, TRACE_MAX_VAR);
    trace_close(r);
}
END_TEST

/* ---- damage ---- */

enum mut { M_TRUNC, M_SET, M_XOR, M_APPEND, M_DROP, M_SET_LE };
enum where { ABS = 0, REC, ENDREC };        /* offset relative to: file start, record k, END record */
enum stage { OPEN, NEXT };
enum offref { NO_OFF, OFF_REC, OFF_END, OFF_EOF };

struct damage_row {
    const char *name;
    enum mut mut;
    enum where where;
    int rec;                    /* record index for REC / M_DROP */
    uint64_t at;                /* offset (relative per where) */
    uint64_t val;               /* byte value, XOR mask, or M_SET_LE value */
    unsigned width;             /* M_SET_LE width */
    enum stage stage;
    const char *needle;         /* the message must contain this */
    enum offref offref;         /* ... and this offset (decimal) */
    int offrec;                 /* record index for OFF_REC */
};

static const struct damage_row damage_rows[] = {
    /* header */
    { "header/empty-file",          M_TRUNC, ABS, 0, 0,   0, 0, OPEN, "truncated header (0 of 256", NO_OFF, 0 },
    { "header/truncated-100",       M_TRUNC, ABS, 0, 100, 0, 0, OPEN, "truncated header (100 of 256", NO_OFF, 0 },
    { "header/truncated-255",       M_TRUNC, ABS, 0, 255, 0, 0, OPEN, "truncated header (255 of 256", NO_OFF, 0 },
    { "header/bad-magic",           M_SET, ABS, 0, 0,   'X', 0, OPEN, "bad magic", NO_OFF, 0 },
    { "header/bad-magic-last-byte", M_SET, ABS, 0, 7,   'X', 0, OPEN, "bad magic", NO_OFF, 0 },
    { "header/version-7",           M_SET, ABS, 0, 8,   7,   0, OPEN, "version 7 is not supported", NO_OFF, 0 },
    { "header/version-0",           M_SET, ABS, 0, 8,   0,   0, OPEN, "version 0 is not supported", NO_OFF, 0 },
    { "header/version-262",         M_SET, ABS, 0, 9,   1,   0, OPEN, "version 262", NO_OFF, 0 },
    { "header/length-0",            M_SET, ABS, 0, 11,  0,   0, OPEN, "header length 0", NO_OFF, 0 },
    { "header/zero-lps",            M_SET_LE, ABS, 0, 24, 0, 4, OPEN, "0 logical processors", NO_OFF, 0 },
    { "header/257-lps",             M_SET_LE, ABS, 0, 24, 257, 4, OPEN, "257 logical processors", NO_OFF, 0 },
    { "header/reserved-byte-216",   M_SET, ABS, 0, 216, 1,   0, OPEN, "offset 216", NO_OFF, 0 },
    { "header/reserved-byte-255",   M_SET, ABS, 0, 255, 0x80, 0, OPEN, "offset 255", NO_OFF, 0 },
    /* covered by the CRC: header bytes the decoder does not check */
    { "header/sched-seed-flipped",  M_XOR, ABS, 0, 210, 4,   0, NEXT, "CRC", OFF_END, 0 },
    { "header/seed-bit-flipped",    M_XOR, ABS, 0, 16,  1,   0, NEXT, "CRC", OFF_END, 0 },
    { "header/payload-name-flipped", M_XOR, ABS, 0, 115, 0x20, 0, NEXT, "CRC", OFF_END, 0 },
    /* records */
    { "record/unknown-type-200",    M_SET, REC, 3, 0,  200, 0, NEXT, "unknown record type 200", OFF_REC, 3 },
    { "record/unknown-type-0",      M_SET, REC, 0, 0,  0,   0, NEXT, "unknown record type 0", OFF_REC, 0 },
    { "record/unknown-type-18",     M_SET, REC, 7, 0,  18,  0, NEXT, "unknown record type 18", OFF_REC, 7 },
    { "record/reserved-header-bytes", M_SET, REC, 2, 5, 1,  0, NEXT, "reserved bytes", OFF_REC, 2 },
    { "record/fixed-length-too-long", M_SET_LE, REC, 5, 2, 17, 2, NEXT, "has length 17", OFF_REC, 5 },
    { "record/fixed-length-too-short", M_SET_LE, REC, 5, 2, 15, 2, NEXT, "has length 15", OFF_REC, 5 },
    { "record/var-length-below-fixed", M_SET_LE, REC, 9, 2, 15, 2, NEXT, "has length 15", OFF_REC, 9 },
    { "record/var-length-above-max", M_SET_LE, REC, 9, 2, 16 + TRACE_MAX_VAR + 1, 2, NEXT, "has length", OFF_REC, 9 },
    { "record/lp-out-of-range",     M_SET, REC, 2, 1,  2,   0, NEXT, "names LP 2 of 2", OFF_REC, 2 },
    { "record/lp-255",              M_SET, REC, 0, 1,  255, 0, NEXT, "names LP 255", OFF_REC, 0 },
    { "record/cycle-backwards-lp0", M_SET_LE, REC, 1, 8, 99, 8, NEXT, "back in time", OFF_REC, 1 },
    { "record/cycle-backwards-lp1", M_SET_LE, REC, 6, 8, 49, 8, NEXT, "back in time", OFF_REC, 6 },
    { "record/flipped-payload-byte", M_XOR, REC, 5, 26, 0x01, 0, NEXT, "CRC", OFF_END, 0 },
    { "record/flipped-var-byte",    M_XOR, REC, 11, 27, 0x40, 0, NEXT, "CRC", OFF_END, 0 },
    { "record/cycle-moved-forward", M_SET_LE, REC, 4, 8, 152, 8, NEXT, "CRC", OFF_END, 0 },
    { "record/truncated-in-payload", M_TRUNC, REC, 7, 20, 0, 0, NEXT, "cut short", OFF_REC, 7 },
    { "record/truncated-in-header", M_TRUNC, REC, 7, 5, 0,  0, NEXT, "truncated record header", OFF_REC, 7 },
    { "record/dropped",             M_DROP, REC, 6, 0, 0,   0, NEXT, "says 13 records", OFF_END, 0 },
    /* END */
    { "end/missing",                M_TRUNC, ENDREC, 0, 0, 0, 0, NEXT, "without an END record", OFF_END, 0 },
    { "end/truncated",              M_TRUNC, ENDREC, 0, 30, 0, 0, NEXT, "cut short", OFF_END, 0 },
    { "end/data-after",             M_APPEND, ABS, 0, 0, 0, 0, NEXT, "data after the END record", OFF_EOF, 0 },
    { "end/record-count",           M_SET_LE, ENDREC, 0, 16 + 24, 12, 8, NEXT, "says 12 records", OFF_END, 0 },
    { "end/crc",                    M_XOR, ENDREC, 0, 16 + 32, 0x10, 0, NEXT, "CRC", OFF_END, 0 },
};

START_TEST(damage)
{
    const struct damage_row *row = &damage_rows[_i];
    char good[64], bad[64];
    tmp_path(good);
    tmp_path(bad);
    write_sample(good);
    struct layout_info li;
    read_sample_layout(good, &li);
    size_t n;
    uint8_t *b = (uint8_t *)harness_slurp(good, &n);
    uint64_t base = row->where == REC ? li.off[row->rec] : row->where == ENDREC ? li.off[NSAMPLE] : 0;
    uint64_t at = base + row->at;
    uint64_t dropped_len = 0;
    switch (row->mut) {
    case M_TRUNC: n = at; break;
    case M_SET: b[at] = (uint8_t)row->val; break;
    case M_XOR: b[at] ^= (uint8_t)row->val; break;
    case M_SET_LE: put(b + at, row->val, row->width); break;
    case M_APPEND: b[n++] = 0; break;
    case M_DROP:
        dropped_len = li.off[row->rec + 1] - li.off[row->rec];
        memmove(b + li.off[row->rec], b + li.off[row->rec + 1], n - li.off[row->rec + 1]);
        n -= dropped_len;
        break;
    }
    spill(bad, b, n);
    harness_release(b);

    char msg[512] = "";
    trace_reader_t *r = NULL;
    trace_err e = trace_open(bad, &r, msg, sizeof(msg));
    if (row->stage == OPEN) {
        ck_assert_msg(e == TRACE_ERR_FORMAT, "%s: trace_open returned %d, expected TRACE_ERR_FORMAT", row->name, e);
        ck_assert_msg(r == NULL, "%s: reader returned on failure", row->name);
    } else {
        ck_assert_msg(e == TRACE_OK, "%s: trace_open failed: %s", row->name, msg);
        static struct trace_record rec;
        int got = 1, k;
        for (k = 0; k < 100 && got == 1; k++)
            got = trace_next(r, &rec, msg, sizeof(msg));
        ck_assert_msg(got == -1, "%s: the damaged trace was accepted (trace_next = %d after %d records)",
                      row->name, got, k);
        trace_close(r);
    }
    ck_assert_msg_contains(row->name, msg, row->needle);
    if (row->offref != NO_OFF) {
        uint64_t off = row->offref == OFF_REC ? li.off[row->offrec]
                     : row->offref == OFF_END ? li.off[NSAMPLE] - dropped_len : li.size;
        char num[32];
        snprintf(num, sizeof(num), "offset %llu", (unsigned long long)off);
        ck_assert_msg_contains(row->name, msg, num);
    }
}
END_TEST

/* The same bytes labelled format version `version`, which predates record
 * type `type`: the first record is refused, naming the type. */
static void expect_rejected_as_version(const char *path, unsigned version, unsigned type, const char *row)
{
    size_t n;
    uint8_t *b = (uint8_t *)harness_slurp(path, &n);
    b[8] = (uint8_t)version;
    spill(path, b, n);
    trace_reader_t *r;
    struct trace_record rec;
    char msg[512] = "", want[64];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), -1);
    snprintf(want, sizeof(want), "unknown record type %u", type);
    ck_assert_msg_contains(row, msg, want);
    trace_close(r);
}

/* Format version 2 added APIC records (type 12): they round-trip, and a
 * version-1 file may not contain one. */
START_TEST(apic_record_is_version_2)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    ev(w, 0, CPU_EV_APIC, 100, 0x1234, CPU_APIC_IPI, 0x01000000, 0x4050, 0);
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 10, 100, "done"), TRACE_OK);
    trace_reader_t *r;
    char msg[512] = "";
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    ck_assert_uint_eq(trace_reader_config(r)->version, TRACE_FORMAT_VERSION);
    struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_APIC);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0x1234);
    ck_assert_uint_eq(field_of(&rec, "kind"), CPU_APIC_IPI);
    ck_assert_uint_eq(field_of(&rec, "reg"), 0x01000000);
    ck_assert_uint_eq(field_of(&rec, "value"), 0x4050);
    trace_close(r);
    expect_rejected_as_version(path, 1, 12, "v1-apic");
}
END_TEST

/* Format version 3 added VMX records (type 13): they round-trip with
 * every field, and a version-2 file may not contain one. */
START_TEST(vmx_record_is_version_3)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    struct cpu_event e = { .kind = CPU_EV_VIRT, .cycle = 500, .rip = 0xFFFF800000001234ull, .a = CPU_VI_VMWRITE,
                           .b = 2, .c = 12, .d = 0, .e = 0x681E, .f = 0x1122334455667788ull };
    trace_event(w, 1, &e);
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 10, 600, "done"), TRACE_OK);
    trace_reader_t *r;
    char msg[512] = "";
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_VMX);
    ck_assert_uint_eq(rec.lp, 1);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0xFFFF800000001234ull);
    ck_assert_uint_eq(field_of(&rec, "insn"), CPU_VI_VMWRITE);
    ck_assert_uint_eq(field_of(&rec, "outcome"), 2);
    ck_assert_uint_eq(field_of(&rec, "error"), 12);
    ck_assert_uint_eq(field_of(&rec, "operand"), 0x681E);
    ck_assert_uint_eq(field_of(&rec, "value"), 0x1122334455667788ull);
    trace_close(r);
    expect_rejected_as_version(path, 2, 13, "v2-vmx");
}
END_TEST

/* Format version 4 added VM_ENTRY (14) and VM_EXIT (15): they round-trip,
 * and a version-3 file may not contain them. */
START_TEST(vm_transition_records_are_version_4)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    ev(w, 0, CPU_EV_VM_ENTRY, 700, 0x401000, 0, 0, 0, 0);
    ev(w, 0, CPU_EV_VM_EXIT, 900, 0x401005, 0x80000021, 4, 3, 0x12345678);
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 10, 1000, "done"), TRACE_OK);
    trace_reader_t *r;
    char msg[512] = "";
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_VM_ENTRY);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0x401000);
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_VM_EXIT);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0x401005);
    ck_assert_uint_eq(field_of(&rec, "reason"), 0x80000021);
    ck_assert_uint_eq(field_of(&rec, "qual"), 4);
    ck_assert_uint_eq(field_of(&rec, "len"), 3);
    ck_assert_uint_eq(field_of(&rec, "info"), 0x12345678);
    trace_close(r);
    expect_rejected_as_version(path, 3, 14, "v3-vm-entry");
}
END_TEST

/* Format version 5 added TLB_FILL (16): it round-trips with the fields
 * cpu/'s event packs into d, and a version-4 file may not contain it. */
START_TEST(tlb_fill_record_is_version_5)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    ev(w, 0, CPU_EV_TLB_FILL, 700, 0x401000, 0x7F0000203000ull, 0x9000, 0x203000,
       3ull | (5ull << 16) | (21ull << 32) | (0x2F1ull << 40));
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 10, 1000, "done"), TRACE_OK);
    trace_reader_t *r;
    char msg[512] = "";
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_TLB_FILL);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0x401000);
    ck_assert_uint_eq(field_of(&rec, "la"), 0x7F0000203000ull);
    ck_assert_uint_eq(field_of(&rec, "pa"), 0x9000);
    ck_assert_uint_eq(field_of(&rec, "gpa"), 0x203000);
    ck_assert_uint_eq(field_of(&rec, "vpid"), 3);
    ck_assert_uint_eq(field_of(&rec, "pcid"), 5);
    ck_assert_uint_eq(field_of(&rec, "size"), 21);
    ck_assert_uint_eq(field_of(&rec, "flags"), 0x2F1);
    trace_close(r);
    expect_rejected_as_version(path, 4, 16, "v4-tlb-fill");
}
END_TEST

/* Format version 6 added SVM_EXIT (17): it round-trips, the dump names the
 * exit code and the failed VMRUN check, and a version-5 file may not
 * contain it. */
START_TEST(svm_exit_record_is_version_6)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    struct cpu_event e = { .kind = CPU_EV_SVM_EXIT, .cycle = 700, .rip = 0x401000, .a = 0x400,
                           .b = 0x200000006ull, .c = 0x229028, .d = 0x80000306ull | (0x1234ull << 32),
                           .e = 0xFFFFFFFFu };
    trace_event(w, 0, &e);
    struct cpu_event inv = { .kind = CPU_EV_SVM_EXIT, .cycle = 800, .rip = 0x402000, .a = ~0ull, .e = 2 };
    trace_event(w, 0, &inv);
    ck_assert_int_eq(trace_finish(w, TEND_EXIT_DEVICE, 1, 10, 1000, "done"), TRACE_OK);
    trace_reader_t *r;
    char msg[512] = "";
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(rec.type, TREC_SVM_EXIT);
    ck_assert_uint_eq(field_of(&rec, "rip"), 0x401000);
    ck_assert_uint_eq(field_of(&rec, "code"), 0x400);
    ck_assert_uint_eq(field_of(&rec, "info1"), 0x200000006ull);
    ck_assert_uint_eq(field_of(&rec, "info2"), 0x229028);
    ck_assert_uint_eq(field_of(&rec, "intinfo"), 0x80000306ull | (0x1234ull << 32));
    ck_assert_uint_eq(field_of(&rec, "check"), 0xFFFFFFFFu);
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(field_of(&rec, "code"), ~0ull);
    ck_assert_uint_eq(field_of(&rec, "check"), 2);
    trace_close(r);

    char *out = NULL, *err = NULL;
    size_t on = 0, en = 0;
    FILE *fo = open_memstream(&out, &on), *fe = open_memstream(&err, &en);
    ck_assert_int_eq(trace_dump(path, fo, fe), 0);
    fclose(fo);
    fclose(fe);
    const char *needles[] = { "svm-exit   code=0x400 (NPF) info1=0x200000006 info2=0x229028 intinfo=0x123480000306 "
                              "guest rip=0x401000",
                              "code=0xffffffffffffffff (INVALID) info1=0 info2=0 intinfo=0 check=2 (CR0_HIGH) "
                              "rip=0x402000" };
    for (unsigned i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        ck_assert_msg(strstr(out, needles[i]), "dump output lacks \"%s\":\n%s", needles[i], out);
    free(out);
    free(err);

    expect_rejected_as_version(path, 5, 17, "v5-svm-exit");
}
END_TEST

START_TEST(open_missing_file)
{
    trace_reader_t *r = (trace_reader_t *)1;
    char msg[512] = "";
    ck_assert_int_eq(trace_open("/nonexistent-dir/hvsim.hvt", &r, msg, sizeof(msg)), TRACE_ERR_IO);
    ck_assert_ptr_null(r);
    ck_assert_msg_contains("open-missing", msg, "/nonexistent-dir/hvsim.hvt");
}
END_TEST

START_TEST(create_in_missing_dir)
{
    struct trace_config cfg = sample_config();
    trace_writer_t *w = (trace_writer_t *)1;
    ck_assert_int_eq(trace_create("/nonexistent-dir/out.hvt", &cfg, &w), TRACE_ERR_IO);
    ck_assert_ptr_null(w);
}
END_TEST

/* A trace abandoned with trace_abort has no END, and readers say so. */
START_TEST(abort_leaves_no_end)
{
    char path[64];
    tmp_path(path);
    struct trace_config cfg = sample_config();
    trace_writer_t *w;
    ck_assert_int_eq(trace_create(path, &cfg, &w), TRACE_OK);
    ev(w, 0, CPU_EV_HALT, 5, 0x10, 0x11, 0, 0, 0);
    trace_abort(w);
    trace_reader_t *r;
    char msg[512];
    ck_assert_int_eq(trace_open(path, &r, msg, sizeof(msg)), TRACE_OK);
    static struct trace_record rec;
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), 1);
    ck_assert_int_eq(trace_next(r, &rec, msg, sizeof(msg)), -1);
    ck_assert_msg_contains("abort", msg, "without an END record");
    trace_close(r);
}
END_TEST

/* ---- type table helpers ---- */

struct type_row { unsigned code; const char *name; unsigned nfields; const char *first, *last; bool var; };
static const struct type_row type_rows[] = {
    { 1,  "EXCEPTION",    7, "rip", "pushed_rip", false },
    { 2,  "CR_WRITE",     4, "rip", "new", false },
    { 3,  "MSR",          5, "rip", "value", false },
    { 4,  "IO",           5, "rip", "value", false },
    { 5,  "CONSOLE",      1, "port", "port", true },
    { 6,  "HALT",         3, "rip", "if", false },
    { 7,  "TLB_INVAL",    5, "rip", "c", false },
    { 8,  "INSN",         2, "rip", "index", true },
    { 9,  "TRIPLE_FAULT", 4, "rip", "ec", false },
    { 10, "UNMODELLED",   1, "rip", "rip", true },
    { 11, "END",          6, "reason", "crc", true },
};

START_TEST(type_tables)
{
    const struct type_row *row = &type_rows[_i];
    const char *nm = trace_type_name(row->code);
    ck_assert_msg(nm && !strcmp(nm, row->name), "type %u: name %s, expected %s", row->code, nm ? nm : "(null)",
                  row->name);
    const char *names[TRACE_MAX_FIELDS];
    unsigned n = trace_type_fields(row->code, names);
    ck_assert_msg(n == row->nfields, "%s: %u fields, expected %u", row->name, n, row->nfields);
    ck_assert_msg(trace_field_index(row->code, row->first) == 0, "%s: %s is not field 0", row->name, row->first);
    ck_assert_msg(trace_field_index(row->code, row->last) == (int)n - 1, "%s: %s is not the last field",
                  row->name, row->last);
    ck_assert_msg(trace_field_index(row->code, "_") == -1, "%s: padding is a named field", row->name);
    ck_assert_msg(trace_field_index(row->code, "no_such_field") == -1, "%s: unknown field found", row->name);
    /* Prefixes of a name are not the name (names are not NUL-terminated in the table). */
    ck_assert_msg(trace_field_index(row->code, "ri") == -1, "%s: prefix 'ri' matched", row->name);
}
END_TEST

START_TEST(unknown_types)
{
    const char *names[TRACE_MAX_FIELDS];
    unsigned bad[] = { 0, 18, 99, 255 };
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_msg(trace_type_name(bad[i]) == NULL, "type %u has a name", bad[i]);
        ck_assert_msg(trace_type_fields(bad[i], names) == 0, "type %u has fields", bad[i]);
        ck_assert_msg(trace_field_index(bad[i], "rip") == -1, "type %u has rip", bad[i]);
    }
}
END_TEST

/* ---- text output ---- */

START_TEST(dump_valid_and_damaged)
{
    char path[64];
    tmp_path(path);
    write_sample(path);
    char *out = NULL, *err = NULL;
    size_t on = 0, en = 0;
    FILE *fo = open_memstream(&out, &on), *fe = open_memstream(&err, &en);
    ck_assert_int_eq(trace_dump(path, fo, fe), 0);
    fclose(fo);
    fclose(fe);
    const char *needles[] = { "# hvsim trace v6", "intel-server", "2 LP(s)", "instructions traced",
                              "#PF", "ec=0x1b", "cr2=0xdead0000beef", "cr-write", "wrmsr", "msr=0xc0000080",
                              "#GP (not modelled)", "out", "port=0x3f8", "halt", "invlpg", "invpcid",
                              "mov rax, rcx", "triple-fault delivering #GP, then #DF", "\"OUT to port 0x80\"",
                              "\"hi\\n\"", "exit-device", "records=13" };
    for (unsigned i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        ck_assert_msg(strstr(out, needles[i]), "dump output lacks \"%s\":\n%s", needles[i], out);
    ck_assert_uint_eq(en, 0);
    free(out);
    free(err);

    /* Damaged: the dump fails and says why on the error stream. */
    size_t n;
    uint8_t *b = (uint8_t *)harness_slurp(path, &n);
    spill(path, b, n - 1);
    harness_release(b);
    out = err = NULL;
    fo = open_memstream(&out, &on);
    fe = open_memstream(&err, &en);
    ck_assert_int_ne(trace_dump(path, fo, fe), 0);
    fclose(fo);
    fclose(fe);
    ck_assert_msg(strstr(err, "cut short"), "error stream: %s", err);
    free(out);
    free(err);
}
END_TEST

/* ---- checksums ---- */

struct sha_row { const char *name; const char *msg; size_t repeat; const char *hex; };
static const struct sha_row sha_rows[] = {
    /* FIPS 180-4 examples (NIST "SHA256.pdf" example values) */
    { "sha256/abc", "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "sha256/empty", "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "sha256/448-bit", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "sha256/896-bit",
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    { "sha256/million-a", "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
};

static void hex32(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(sha256_vectors)
{
    const struct sha_row *row = &sha_rows[_i];
    struct sha256 s;
    uint8_t d[32];
    char hex[65];
    /* one call per repetition */
    sha256_init(&s);
    for (size_t i = 0; i < row->repeat; i++)
        sha256_update(&s, row->msg, strlen(row->msg));
    sha256_final(&s, d);
    hex32(d, hex);
    ck_assert_msg(!strcmp(hex, row->hex), "%s: %s, expected %s", row->name, hex, row->hex);
    /* the same bytes fed in uneven pieces */
    if (row->repeat == 1) {
        size_t len = strlen(row->msg);
        sha256_init(&s);
        for (size_t i = 0; i < len;) {
            size_t k = (i % 7) + 1;
            if (k > len - i)
                k = len - i;
            sha256_update(&s, row->msg + i, k);
            i += k;
        }
        sha256_final(&s, d);
        hex32(d, hex);
        ck_assert_msg(!strcmp(hex, row->hex), "%s (pieces): %s, expected %s", row->name, hex, row->hex);
    }
}
END_TEST

/* Every padding boundary (lengths 0..130): byte-at-a-time equals one call. */
START_TEST(sha256_lengths_consistent)
{
    uint8_t buf[130];
    for (int i = 0; i < 130; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        struct sha256 a, b;
        uint8_t da[32], db[32];
        sha256_init(&a);
        sha256_update(&a, buf, len);
        sha256_final(&a, da);
        sha256_init(&b);
        for (size_t i = 0; i < len; i++)
            sha256_update(&b, buf + i, 1);
        sha256_final(&b, db);
        ck_assert_msg(memcmp(da, db, 32) == 0, "length %zu: digests differ", len);
    }
}
END_TEST

START_TEST(sha256_of_file)
{
    char path[64];
    tmp_path(path);
    spill(path, (const uint8_t *)"abc", 3);
    char hex[65];
    ck_assert(sha256_file(path, hex));
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_msg(!sha256_file("/nonexistent-dir/x", hex), "sha256_file of a missing file succeeded");
}
END_TEST

struct crc_row { const char *name; const char *msg; uint32_t want; };
static const struct crc_row crc_rows[] = {
    { "crc32/check-123456789", "123456789", 0xCBF43926u },     /* the CRC-32/ISO-HDLC check value */
    { "crc32/empty", "", 0 },
    { "crc32/a", "a", 0xE8B7BE43u },
    { "crc32/abc", "abc", 0x352441C2u },
    { "crc32/fox", "The quick brown fox jumps over the lazy dog", 0x414FA339u },
};

START_TEST(crc32_vectors)
{
    const struct crc_row *row = &crc_rows[_i];
    size_t len = strlen(row->msg);
    uint32_t c = crc32_update(0, row->msg, len);
    ck_assert_msg(c == row->want, "%s: %#08x, expected %#08x", row->name, c, row->want);
    /* incremental: any split point gives the same value */
    for (size_t k = 0; k <= len; k++) {
        uint32_t d = crc32_update(crc32_update(0, row->msg, k), row->msg + k, len - k);
        ck_assert_msg(d == row->want, "%s: split at %zu gives %#08x", row->name, k, d);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *t = harness_tcase("writer");
    tcase_add_test(t, roundtrip_every_record_type);
    tcase_add_test(t, long_unmodelled_text_is_truncated);
    tcase_add_test(t, create_in_missing_dir);
    suite_add_tcase(s, t);

    t = harness_tcase("console");
    ADD_ROWS(t, console_coalescing, console_rows);
    tcase_add_test(t, console_long_line_sizes);
    ADD_ROWS(t, console_trace_stays_valid, valid_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("reader");
    ADD_ROWS(t, damage, damage_rows);
    tcase_add_test(t, open_missing_file);
    tcase_add_test(t, apic_record_is_version_2);
    tcase_add_test(t, vmx_record_is_version_3);
    tcase_add_test(t, vm_transition_records_are_version_4);
    tcase_add_test(t, tlb_fill_record_is_version_5);
    tcase_add_test(t, svm_exit_record_is_version_6);
    tcase_add_test(t, abort_leaves_no_end);
    suite_add_tcase(s, t);

    t = harness_tcase("types");
    ADD_ROWS(t, type_tables, type_rows);
    tcase_add_test(t, unknown_types);
    tcase_add_test(t, dump_valid_and_damaged);
    suite_add_tcase(s, t);

    t = harness_tcase("checksums");
    ADD_ROWS(t, sha256_vectors, sha_rows);
    tcase_add_test(t, sha256_lengths_consistent);
    tcase_add_test(t, sha256_of_file);
    ADD_ROWS(t, crc32_vectors, crc_rows);
    suite_add_tcase(s, t);
    return harness_run(s);
}
