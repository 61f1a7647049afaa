/*
 * numparse.h — the one number syntax of hvsim's command line and scenario
 * files: decimal, or hexadecimal with 0x; no sign, no octal (a leading zero
 * is still decimal). Sizes may end in K, M, G or T (binary multiples,
 * optionally followed by "iB" or "B"; lower case accepted).
 */
#ifndef HVSIM_SIM_NUMPARSE_H
#define HVSIM_SIM_NUMPARSE_H

#include <stdbool.h>
#include <stdint.h>

/* false on any syntax error or overflow; *out is written only on success. */
bool parse_number(const char *s, uint64_t *out);
bool parse_size(const char *s, uint64_t *out);

#endif
