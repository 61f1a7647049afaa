/*
 * physmem.h — guest physical memory: one sparse memfd (pages cost nothing
 * until touched), bounds-checked accessors, and the spans the CPU maps.
 * The only path by which hvsim code reads or writes guest RAM.
 */
#ifndef HVSIM_SIM_PHYSMEM_H
#define HVSIM_SIM_PHYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

typedef struct physmem physmem_t;

typedef enum pmem_err {
    PMEM_OK = 0,
    PMEM_ERR_SIZE,      /* pmem_create: size is 0, not page-aligned, or above PMEM_MAX_SIZE */
    PMEM_ERR_SYS,       /* pmem_create: memfd_create/ftruncate/mmap failed (errno kept) */
    PMEM_ERR_NOMEM,     /* pmem_create: allocation failed */
} pmem_err;

#define PMEM_MAX_SIZE (1ull << 40)   /* 1 TiB of guest RAM at most */

const char *pmem_strerror(pmem_err e);
pmem_err pmem_create(uint64_t size, physmem_t **out) __attribute__((warn_unused_result));
void pmem_destroy(physmem_t *m);
uint64_t pmem_size(const physmem_t *m);

/* false if any byte of [pa, pa+len) is outside RAM; nothing is copied then. */
bool pmem_read(const physmem_t *m, uint64_t pa, void *buf, size_t len);
bool pmem_write(physmem_t *m, uint64_t pa, const void *buf, size_t len);
/* Host pointer for [pa, pa+len), or NULL when not wholly inside RAM. */
uint8_t *pmem_host(physmem_t *m, uint64_t pa, size_t len);
void pmem_span(const physmem_t *m, uint64_t pa, struct cpu_phys_span *out);
/* Bytes of guest RAM actually backed by host pages (touched). */
uint64_t pmem_resident(const physmem_t *m);

#endif
