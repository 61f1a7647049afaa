/*
 * fuzz_scenario.c — libFuzzer target for the scenario loader
 * (sim/scenario.c): any byte string must either load or give an error of
 * the form "NAME:LINE: reason" / "NAME: reason", never crash, hang or leak.
 * Built by `make fuzz-smoke` (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz/input.xml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    memset(err, 0x5a, sizeof(err));
    struct scenario *s = scenario_load_buffer((const char *)data, size, NAME, err, sizeof(err));
    if (s) {
        if (!s->path || !s->name)
            abort();
        scenario_free(s);
        return 0;
    }
    /* Every error names the file (and the line where there is one). */
    if (memchr(err, 0, sizeof(err)) == NULL || strncmp(err, NAME ":", strlen(NAME ":")) != 0) {
        fprintf(stderr, "error without the file name: %.200s\n", err);
        abort();
    }
    return 0;
}
