/*
 * svm_exits.c — names of the AMD-V #VMEXIT codes (svm_exits.def).
 */
#include <stdio.h>

#include "svm_exits.h"

static const struct { uint64_t code; unsigned count; const char *name; } exits[] = {
#define X(e, code, count, name, what) { code, count, name },
#include "svm_exits.def"
#undef X
};

const char *svm_exit_name(uint64_t code, char *buf, size_t n)
{
    if (code == SVM_EXIT_INVALID || code == SVM_EXIT_BUSY) {
        snprintf(buf, n, "%s", code == SVM_EXIT_INVALID ? "INVALID" : "BUSY");
        return buf;
    }
    for (size_t i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
        if (code < exits[i].code || code - exits[i].code >= exits[i].count)
            continue;
        if (exits[i].count == 1)
            snprintf(buf, n, "%s", exits[i].name);
        else
            snprintf(buf, n, "%s%u", exits[i].name, (unsigned)(code - exits[i].code));
        return buf;
    }
    return NULL;
}
