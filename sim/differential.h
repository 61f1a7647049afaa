/*
 * differential.h — `hvsim differential` (sim/differential.c,
 * docs/differential.md): the same scenario payloads on hvsim, QEMU TCG and
 * Bochs, console transcripts compared line by line against hvsim's, with
 * the scenario's <differential> annotations applied.
 *
 * The pieces below are pure (no processes, no files) so that
 * tests/unit/test_differential.c can check them without QEMU or Bochs.
 */
#ifndef HVSIM_SIM_DIFFERENTIAL_H
#define HVSIM_SIM_DIFFERENTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

/* `hvsim differential [options] PATH...`; returns the exit status. */
int differential_main(int argc, char **argv);

/* Normalise a transcript in place, as docs/differential.md documents: CR
 * bytes are dropped and ANSI escape sequences (ESC [ ... final byte, or ESC
 * and one byte) removed. Nothing else changes. */
void diff_normalise(char *text);

/* The result of comparing one implementation's transcript with hvsim's. */
enum diff_kind {
    DIFF_SAME = 0,               /* every line equal */
    DIFF_DOCUMENTED,             /* every difference covered by a <differs> */
    DIFF_DIFFERS,                /* a difference no annotation covers */
};

struct diff_verdict {
    enum diff_kind kind;
    unsigned documented;         /* lines covered by annotations */
    unsigned line;               /* DIFF_DIFFERS: 1-based line of hvsim's transcript */
    char hvsim[240], other[240]; /* DIFF_DIFFERS: the two lines ("(end of transcript)" when absent) */
    unsigned used;               /* bit i: annotation s->differs[i] was used (first 32) */
};

/* Compare `other` (the transcript of the implementation `impl`, one
 * SCN_IMPL_* bit) with `hvsim`, line by line, applying the scenario's
 * <differs> annotations for that implementation (s may be NULL: none).
 * Both texts are normalised already. */
void diff_compare(const struct scenario *s, unsigned impl, const char *hvsim, const char *other,
                  struct diff_verdict *v);

/* The Bochs disk image (tests/differential/shim_abi.h): the boot sector
 * with its fields patched, the parameter string, the shim, the payload,
 * padded to whole cylinders of 16 heads x 63 sectors (*cylinders). On
 * failure returns false with a reason in err. */
struct diff_disk {
    const uint8_t *bootsect;     /* 512 bytes, ending 0x55 0xAA */
    size_t bootsect_len;
    const uint8_t *shim;         /* the flat shim image */
    size_t shim_len;
    uint32_t shim_entry;         /* its Multiboot entry_addr */
    const uint8_t *payload;      /* the ELF64 file */
    size_t payload_len;
    const char *params;          /* the parameter string */
    uint64_t mem;                /* RAM bytes (mem_upper = mem / 1024 - 1024) */
};
bool diff_disk_image(const struct diff_disk *d, uint8_t **img, size_t *len, unsigned *cylinders, char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/* The Multiboot entry_addr of a flat a.out-kludge image (the shim); false
 * if it has no valid header with flag 16. */
bool diff_shim_entry(const uint8_t *img, size_t len, uint32_t *entry);

/* Split Bochs's standard output (debugger and port 0xE9 text mixed) into
 * the console transcript and the exit-device value: the console starts
 * after the debugger's start-up lines ("Next at t=0" and one line per CPU)
 * and ends where the debugger took over: at the breakpoint set on the
 * payload's OUT to port 0xF4, after which it printed the registers (AL is
 * the value), or at a panic (a triple fault). Returns a malloc'ed console;
 * *exited says whether the breakpoint was reached. */
char *diff_bochs_console(const char *out, unsigned ncpus, bool *exited, unsigned *value);

#endif
