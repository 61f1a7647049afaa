/*
 * scenario.h — scenario files (docs/scenario-schema.md): loading and
 * validating them (libxml2 against the embedded scenarios/scenario.xsd),
 * running them on a machine, and checking every expectation.
 *
 * Loading is pure (no machine, no files other than the scenario and its
 * console transcript) so that it can be fuzzed; every error names the file
 * and the line.
 */
#ifndef HVSIM_SIM_SCENARIO_H
#define HVSIM_SIM_SCENARIO_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace.h"

#define SCN_MAX_FIELDS 8

struct scn_event {
    bool absent;                 /* <absent>: no record may match */
    bool between;                /* <absent scope="between">: only between the neighbouring <event>s */
    unsigned slot;               /* <absent>: number of <event>s before it in the file */
    unsigned type;               /* enum trace_rec_type */
    int lp;                      /* -1: any */
    unsigned nfields;
    int field[SCN_MAX_FIELDS];   /* index into the record's fields */
    uint64_t value[SCN_MAX_FIELDS];
    char text[160];              /* the pattern as written, for messages */
    int line;
};

struct scn_line {
    bool regex;
    char *text;
    regex_t re;
    int line;
};

struct scn_register {
    int reg;                     /* enum cpu_reg */
    unsigned lp;
    uint64_t value;
    int line;
};

struct scn_memory {
    uint64_t address;
    uint8_t *bytes;
    size_t n;
    int line;
};

/* <differential> (docs/differential.md): which implementations a scenario's
 * transcript is compared with, and the lines that legitimately differ. */
enum scn_impl_bit {
    SCN_IMPL_SHIM  = 1u << 0,    /* hvsim booting the payload through the boot shim */
    SCN_IMPL_QEMU  = 1u << 1,    /* QEMU TCG */
    SCN_IMPL_BOCHS = 1u << 2,    /* Bochs */
    SCN_IMPL_ALL   = 0x7u,
};

/* Which implementation follows the spec where a line differs. */
enum scn_follows {
    SCN_FOLLOWS_HVSIM = 1,       /* hvsim; the other implementation has a gap */
    SCN_FOLLOWS_OTHER,           /* the other implementation: an open hvsim bug */
    SCN_FOLLOWS_EITHER,          /* the spec allows both, or it is not CPU behaviour (timing, firmware) */
};

/* The kinds of <differs> (exactly one per element). */
enum scn_differs_kind {
    SCN_DIFFERS_LINE = 1,        /* match= (and other=): hvsim's line and its counterpart differ */
    SCN_DIFFERS_EXTRA,           /* extra=: a line only the other implementation prints */
    SCN_DIFFERS_MISSING,         /* missing=: a line of hvsim's the other implementation does not print */
};

/* <differs>: lines of the transcripts that may legitimately differ. `re` is
 * match=, extra= or missing= (per kind); `other` is other= (LINE only). */
struct scn_differs {
    unsigned impls;              /* enum scn_impl_bit */
    enum scn_differs_kind kind;
    bool has_re, has_other;
    regex_t re, other;           /* anchored, compiled at load */
    char *re_text, *other_text;
    char *reason, *ref;
    enum scn_follows follows;
    int line;
};

/* <skip>: do not run on these implementations. */
struct scn_dskip {
    unsigned impls;
    char *reason, *ref;          /* ref may be NULL */
    int line;
};

struct scenario {
    char *path;                  /* as given */
    char *name;                  /* name attribute, or the file name without .xml */
    char *description;
    char **evidence;
    unsigned nevidence;
    bool deterministic;
    /* machine (0 / NULL: the command-line default) */
    unsigned lps;
    uint64_t memory, seed, max_insns, max_cycles, quantum, sched_seed;
    bool has_seed, has_sched_seed;
    char *cpu;
    bool tlb_flush_always;       /* <machine tlb="flush-always"> (default "retain") */
    unsigned nvmx_caps;          /* <machine><vmx-cap msr value|absent/></machine>, in order */
    struct scn_vmx_cap { uint32_t msr; bool present; uint64_t value; } vmx_caps[32];
    unsigned nsvm_caps;          /* <machine><svm-cap name value/></machine>, in order */
    struct scn_svm_cap { char name[16]; uint64_t value; } svm_caps[32];
    /* payload */
    char *payload_elf;           /* built payload name, or NULL */
    char *payload_path;          /* resolved path, or NULL */
    char *cmdline;
    int payload_line;
    bool multiboot;              /* boot="multiboot" */
    unsigned nmods;
    struct scn_module { char *path, *string; } *mods;
    /* expectations */
    bool has_status, has_end;
    int status;
    int exit_line;
    int end;                     /* enum trace_end_reason */
    bool has_console, console_contains;
    char *console_file_text;     /* transcript read from console file=, or NULL */
    char *console_file;
    struct scn_line *lines;
    unsigned nlines;
    struct scn_event *events;
    unsigned nevents;
    struct scn_register *regs;
    unsigned nregs;
    struct scn_memory *mems;
    unsigned nmems;
    /* <differential> */
    struct scn_differs *differs;
    unsigned ndiffers;
    struct scn_dskip *dskips;
    unsigned ndskips;
};

/* Load and validate a scenario file. On failure returns NULL and writes
 * "FILE:LINE: reason" into err. */
struct scenario *scenario_load(const char *path, char *err, size_t errlen);
/* The same from memory (name is used in messages and to resolve relative
 * paths). */
struct scenario *scenario_load_buffer(const char *buf, size_t len, const char *name, char *err,
                                      size_t errlen);
void scenario_free(struct scenario *s);
/* The implementation bits of an impl="..." list ("qemu,bochs", "all"); 0 if
 * a word is not an implementation name. */
unsigned scenario_impl_bits(const char *list);
/* The scenario name of a trace record type ("exception", "cr-write", ...). */
const char *scenario_event_name(unsigned type);

/* ---- running ---- */
struct scn_options {
    const char *payload_dir;     /* where built payloads live (NAME.elf) */
    const char *trace_path;      /* keep the trace here (NULL: a temporary file) */
    bool trace_insns;            /* also trace every instruction (--trace-insns) */
    bool echo_console;           /* also print the console transcript to stdout */
    FILE *progress;              /* progress line (NULL: none) */
};

struct scn_result {
    bool pass;
    bool setup_error;            /* the scenario could not run at all (missing payload, ...) */
    int status;
    int exit_line;                  /* exit status of the run */
    int end;                     /* enum trace_end_reason */
    char end_text[600];          /* the one-line reason */
    char message[1024];          /* the first expectation that failed, or the error */
    char excerpt[4096];          /* trace records around the failure */
    char digest[65];             /* SHA-256 of the trace */
    uint64_t insns, cycles;
};

void scenario_run(const struct scenario *s, const struct scn_options *o, struct scn_result *r);
/* The machine a scenario describes (<machine>, the payload's command line),
 * with scenario defaults (an instruction limit); the caller sets console,
 * trace and progress. Shared by scenario_run and `hvsim differential`. */
struct machine_config;
void scenario_machine_config(const struct scenario *s, struct machine_config *mc);

/* The schema, embedded at build time from scenarios/scenario.xsd. */
extern const char hvsim_scenario_xsd[];

#endif
