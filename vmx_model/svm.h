/*
 * svm.h — AMD-V (SVM) for one logical processor (AMD APM vol. 2 chapter 15
 * "Secure Virtual Machine"; docs/svm.md): SVM enabling (CPUID, VM_CR,
 * VM_HSAVE_PA, EFER.SVME), the SVM instructions, VMRUN with its
 * consistency checks, intercepts and #VMEXIT. Registered with the CPU
 * through struct cpu_virt_ops, like vmx.h.
 */
#ifndef HVSIM_SVM_H
#define HVSIM_SVM_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"

typedef struct svm svm_t;

/* CPUID 8000_000AH of a profile (APM 15.4 "Enabling SVM", CPUID Fn8000_000A):
 * EAX revision, EBX number of ASIDs, EDX the optional features modelled. */
struct svm_caps {
    uint32_t revision;
    uint32_t nasid;
    uint32_t features;
};
#define SVM_FEAT_NP           (1u << 0)    /* nested paging */
#define SVM_FEAT_NRIPS        (1u << 3)    /* next sequential instruction pointer saved */
#define SVM_FEAT_DECODE       (1u << 7)    /* decode assists (15.8) */
#define SVM_FEAT_PAUSE_FILTER (1u << 10)   /* PAUSE filter count (15.14.4) */
#define SVM_FEAT_PAUSE_THRESH (1u << 12)   /* PAUSE filter threshold (15.14.4) */
#define SVM_FEAT_VGIF         (1u << 16)   /* virtual GIF (15.33.2) */

/* NULL when the profile has no SVM. */
const struct svm_caps *svm_caps_for_profile(const char *profile_name);
svm_t *svm_attach(cpu_t *cpu, const struct svm_caps *caps);
void svm_detach(svm_t *s);

/* The VMRUN consistency checks (svm_checks.def), for tests and messages. */
enum svm_check {
#define X(name, sec, rule) SVMCHK_##name,
#include "svm_checks.def"
#undef X
    SVMCHK_COUNT
};
const char *svm_check_name(enum svm_check c);
const char *svm_check_rule(enum svm_check c);

#endif
