/*
 * check_cmd.h — `hvsim check`: run scenario files and report (sim/check_cmd.c).
 */
#ifndef HVSIM_SIM_CHECK_CMD_H
#define HVSIM_SIM_CHECK_CMD_H

#include <stdbool.h>

struct check_options {
    unsigned jobs;               /* processes at a time (-j) */
    const char *junit;           /* JUnit XML output file, or NULL */
    unsigned shard_index;        /* 1-based; 0 with shard_count 0: no sharding */
    unsigned shard_count;
    bool determinism;            /* run each scenario twice, compare trace digests */
    bool verbose;
    bool list_only;
    unsigned timeout;            /* seconds per scenario (host watchdog), 0: none */
    const char *payload_dir;     /* built payloads (NAME.elf) */
    const char *keep_traces;     /* directory to keep each scenario's trace in, or NULL */
};

/* Returns the process exit status: 0 all passed, 1 a failure, 64 bad input. */
int check_run(char **paths, unsigned npaths, const struct check_options *o);

#endif
