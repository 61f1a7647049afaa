/*
 * npt.h — AMD-V nested paging (npt.c; AMD APM vol. 2, 15.25).
 */
#ifndef HVSIM_NPT_H
#define HVSIM_NPT_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"

struct npt {
    uint64_t ncr3;          /* the VMCB's N_CR3 */
    uint64_t host_efer;     /* the host's EFER at VMRUN (NXE applies to the nested tables) */
};

/* The cpu_virt_ops.slat translation through the nested tables. */
int npt_translate(const struct npt *n, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out);
/* EXITINFO1 of the #NPF for fault f (false: the fault did not recur). */
bool npt_fault_info(const struct npt *n, cpu_t *cpu, const struct cpu_slat_fault *f, uint64_t *info1);

#endif
