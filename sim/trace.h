/*
 * trace.h — hvsim's binary trace format, version 2 (docs/trace-format.md):
 * writing during a run, reading with full validation, and the text dump.
 * Everything in a trace is a function of the run's inputs: no host time,
 * no pointers, no host-dependent ordering.
 */
#ifndef HVSIM_SIM_TRACE_H
#define HVSIM_SIM_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu.h"

#define TRACE_FORMAT_VERSION 6          /* readers also accept 1 (no APIC), 2 (no VMX), 3 (no VM entry/exit),
                                           4 (no TLB_FILL), 5 (no SVM_EXIT) */
#define TRACE_HEADER_SIZE    256
#define TRACE_REC_HDR        16
#define TRACE_MAX_VAR        4096

typedef enum trace_err {
    TRACE_OK = 0,
    TRACE_ERR_IO,        /* open/read/write failed (errno kept) */
    TRACE_ERR_FORMAT,    /* not a trace, unsupported version, corrupted or truncated: message says where */
    TRACE_ERR_NOMEM,
} trace_err;

enum trace_rec_type {
#define X(name, code, var, fields) TREC_##name = code,
#include "trace_records.def"
#undef X
};

/* The run configuration recorded in the header. */
struct trace_config {
    uint16_t version;
    uint32_t flags;              /* TRACE_F_* */
    uint64_t seed;
    uint32_t nlps;
    uint32_t cost_model;
    uint64_t mem_size;
    uint64_t quantum;
    uint64_t sched_seed;         /* --sched-seed (0: fixed quanta) */
    char hvsim_version[32];
    char profile[32];
    char payload[64];            /* payload file name (no directories) */
    uint8_t payload_sha256[32];
};
#define TRACE_F_INSNS 1u

/* End-of-run reasons (END.reason). */
enum trace_end_reason {
    TEND_EXIT_DEVICE = 1, TEND_TRIPLE_FAULT, TEND_HALTED, TEND_INSN_LIMIT, TEND_CYCLE_LIMIT,
    TEND_UNMODELLED, TEND_INTERNAL,
};

/* A decoded record: fixed fields by position, plus variable bytes.
 * Header layout (docs/trace-format.md): 0 magic, 8 version, 10 header
 * length, 12 flags, 16 seed, 24 LPs, 28 cost-model version, 32 memory size,
 * 40 quantum, 48 hvsim version, 80 profile, 112 payload name, 176 payload
 * SHA-256, 208 schedule seed, 216..255 reserved (zero). */
#define TRACE_MAX_FIELDS 12
struct trace_record {
    uint8_t type;
    uint8_t lp;
    uint64_t cycle;
    unsigned nfields;
    uint64_t field[TRACE_MAX_FIELDS];
    uint64_t offset;             /* file offset of the record */
    uint16_t nvar;
    uint8_t var[TRACE_MAX_VAR];  /* last: not cleared between records */
};

const char *trace_strerror(trace_err e);
const char *trace_type_name(unsigned type);       /* NULL if unknown */
/* Field names of a type, in order ("_" padding excluded): returns count. */
unsigned trace_type_fields(unsigned type, const char *names[TRACE_MAX_FIELDS]);
int trace_field_index(unsigned type, const char *name);  /* -1 if absent */

/* ---- writing ---- */
typedef struct trace_writer trace_writer_t;
trace_err trace_create(const char *path, const struct trace_config *cfg, trace_writer_t **out);
void trace_event(trace_writer_t *w, unsigned lp, const struct cpu_event *ev);
void trace_console(trace_writer_t *w, unsigned lp, uint64_t cycle, uint16_t port, uint8_t byte);
/* Write the END record and close; returns the first error met while writing. */
/* "exit-device", "triple-fault", ... (the names scenarios and dumps use); "?" if unknown. */
const char *trace_end_name(unsigned reason);
trace_err trace_finish(trace_writer_t *w, enum trace_end_reason reason, uint32_t status,
                       uint64_t insns, uint64_t cycles, const char *text);
void trace_abort(trace_writer_t *w);              /* close without END (error paths) */

/* ---- reading ---- */
typedef struct trace_reader trace_reader_t;
trace_err trace_open(const char *path, trace_reader_t **out, char *msg, size_t msglen);
const struct trace_config *trace_reader_config(const trace_reader_t *r);
/* 1: a record; 0: the END record was read and verified (rec holds it);
 * -1: error (msg says what and at which offset). */
int trace_next(trace_reader_t *r, struct trace_record *rec, char *msg, size_t msglen);
void trace_close(trace_reader_t *r);

/* ---- text ---- */
/* Dump a whole trace as text, one line per record; 0 on success. */
int trace_dump(const char *path, FILE *out, FILE *err);
void trace_format_record(const struct trace_record *rec, char *buf, size_t n);

/* ---- checksums (crc32.c, sha256.c) ---- */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);
struct sha256 { uint32_t h[8]; uint64_t len; uint8_t buf[64]; unsigned n; };
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* SHA-256 of a whole file, as 64 hex digits; false on I/O error. */
bool sha256_file(const char *path, char hex[65]);

#endif
