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
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

typedef struct svm svm_t;

/* CPUID 8000_000AH of a profile (APM 15.4 "Enabling SVM", CPUID Fn8000_000A):
 * EAX revision, EBX number of ASIDs, EDX the optional features modelled.
 * Invariants (svm_caps_override keeps them): revision fits EAX[7:0];
 * 2 <= nasid <= 65536 (ASID 0 is the host's; hvsim tags translations with
 * 16 bits); features is a subset of SVM_FEAT_MODELLED. */
struct svm_caps {
    uint32_t revision;                 /* EAX[7:0] SvmRev */
    uint32_t nasid;                    /* EBX: guest ASIDs are 1..nasid-1 */
    uint32_t features;                 /* EDX */
};
#define SVM_FEAT_NP           (1u << 0)    /* nested paging */
#define SVM_FEAT_NRIPS        (1u << 3)    /* next sequential instruction pointer saved */
#define SVM_FEAT_TSC_RATE     (1u << 4)    /* the TSC ratio MSR C000_0104 (15.30.5) */
#define SVM_FEAT_CLEAN        (1u << 5)    /* VMCB clean bits (15.15): hvsim treats every field as dirty,
                                              reloading it at each VMRUN, which the clean bits allow */
#define SVM_FEAT_FLUSH_ASID   (1u << 6)    /* TLB_CONTROL 3 and 7 (15.16.2) */
#define SVM_FEAT_DECODE       (1u << 7)    /* decode assists (15.8) */
#define SVM_FEAT_PAUSE_FILTER (1u << 10)   /* PAUSE filter count (15.14.4) */
#define SVM_FEAT_PAUSE_THRESH (1u << 12)   /* PAUSE filter threshold (15.14.4) */
#define SVM_FEAT_VGIF         (1u << 16)   /* virtual GIF (15.33.2) */
/* every feature bit whose behaviour svm.c models (and amd-server offers) */
#define SVM_FEAT_MODELLED (SVM_FEAT_NP | SVM_FEAT_NRIPS | SVM_FEAT_TSC_RATE | SVM_FEAT_CLEAN | SVM_FEAT_FLUSH_ASID | \
                           SVM_FEAT_DECODE | SVM_FEAT_PAUSE_FILTER | SVM_FEAT_PAUSE_THRESH | SVM_FEAT_VGIF)
#define SVM_MAX_NASID 65536u

/* NULL when the profile has no SVM. */
const struct svm_caps *svm_caps_for_profile(const char *profile_name);
/* Override one capability of c (docs/svm.md "Enabling"; `hvsim run
 * --svm-cap`, scenario <svm-cap>): "revision" (EAX, 0..0xFF), "asids"
 * (EBX, 2..65536) or "features" (EDX: only bits of SVM_FEAT_MODELLED, so a
 * feature can be taken away but none hvsim does not model added). The
 * result does not depend on c's other fields. False, with a sentence naming
 * the value in why, when the name or the value is not possible; c is then
 * unchanged. */
bool svm_caps_override(struct svm_caps *c, const char *name, uint64_t value, char *why, size_t n)
    __attribute__((warn_unused_result));
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
