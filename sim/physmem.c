/*
 * physmem.c — guest RAM as a sparse memfd mapped once for hvsim's own
 * accesses; the CPU aliases its pages into the engine's linear view.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "physmem.h"

struct physmem {
    int fd;
    uint8_t *base;
    uint64_t size;
};

const char *pmem_strerror(pmem_err e)
{
    switch (e) {
    case PMEM_OK: return "success";
    case PMEM_ERR_SIZE: return "memory size must be a non-zero multiple of 4 KiB, at most 1 TiB";
    case PMEM_ERR_SYS: return "the host refused to create the memory file";
    case PMEM_ERR_NOMEM: return "out of host memory";
    }
    return "unknown error";
}

pmem_err pmem_create(uint64_t size, physmem_t **out)
{
    *out = NULL;
    if (size == 0 || (size & 0xFFF) || size > PMEM_MAX_SIZE)
        return PMEM_ERR_SIZE;
    physmem_t *m = calloc(1, sizeof(*m));
    if (!m)
        return PMEM_ERR_NOMEM;
    m->size = size;
    m->fd = memfd_create("hvsim-ram", MFD_CLOEXEC);
    if (m->fd < 0 || ftruncate(m->fd, (off_t)size) != 0) {
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return PMEM_ERR_SYS;
    }
    m->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fd, 0);
    if (m->base == MAP_FAILED) {
        close(m->fd);
        free(m);
        return PMEM_ERR_SYS;
    }
    *out = m;
    return PMEM_OK;
}

void pmem_destroy(physmem_t *m)
{
    if (!m)
        return;
    munmap(m->base, m->size);
    close(m->fd);
    free(m);
}

uint64_t pmem_size(const physmem_t *m) { return m->size; }

static bool in_range(const physmem_t *m, uint64_t pa, size_t len)
{
    return pa <= m->size && len <= m->size - pa;
}

bool pmem_read(const physmem_t *m, uint64_t pa, void *buf, size_t len)
{
    if (!in_range(m, pa, len))
        return false;
    memcpy(buf, m->base + pa, len);
    return true;
}

bool pmem_write(physmem_t *m, uint64_t pa, const void *buf, size_t len)
{
    if (!in_range(m, pa, len))
        return false;
    memcpy(m->base + pa, buf, len);
    return true;
}

uint8_t *pmem_host(physmem_t *m, uint64_t pa, size_t len)
{
    return in_range(m, pa, len) ? m->base + pa : NULL;
}

void pmem_span(const physmem_t *m, uint64_t pa, struct cpu_phys_span *out)
{
    memset(out, 0, sizeof(*out));
    if (pa >= m->size) {
        out->kind = CPU_SPAN_NONE;
        return;
    }
    out->kind = CPU_SPAN_RAM;
    out->base = 0;
    out->len = m->size;
    out->host = m->base;
    out->fd = m->fd;
    out->fd_offset = 0;
}

uint64_t pmem_resident(const physmem_t *m)
{
    /* mincore() over the shared mapping: pages present in the page cache. */
    uint64_t pages = m->size / 4096, resident = 0;
    unsigned char vec[4096];
    for (uint64_t p = 0; p < pages; p += sizeof(vec)) {
        uint64_t n = pages - p < sizeof(vec) ? pages - p : sizeof(vec);
        if (mincore(m->base + p * 4096, n * 4096, vec) != 0)
            return 0;
        for (uint64_t i = 0; i < n; i++)
            resident += vec[i] & 1;
    }
    return resident * 4096;
}
