/*
 * svm_exits.h — AMD-V #VMEXIT codes (svm_exits.def; AMD APM vol. 2
 * appendix C): the SVM_EXIT_* enum and their names, for the model, the trace
 * dump and tests.
 */
#ifndef HVSIM_SVM_EXITS_H
#define HVSIM_SVM_EXITS_H

#include <stddef.h>
#include <stdint.h>

enum {
#define X(e, code, count, name, what) SVM_EXIT_##e = code,
#include "svm_exits.def"
#undef X
};
#define SVM_EXIT_INVALID (~0ull)       /* VMRUN with illegal guest state: -1 */
#define SVM_EXIT_BUSY    (~1ull)       /* -2: the VMSA is busy (SEV-ES) */

/* The code's name ("NPF", "EXCP14", "READ_CR3", "INVALID") in buf; NULL
 * when appendix C defines no such code. */
const char *svm_exit_name(uint64_t code, char *buf, size_t n);

#endif
