/*
 * vmcs_fields.c — the tables generated from vmcs_fields.def: per-field
 * metadata, the encoding -> field map behind VMREAD/VMWRITE, and the
 * feature set of a CPU profile (SDM 3D App. B for encodings and for which
 * control makes each field exist). Pure functions over const data.
 */
#include <assert.h>
#include <stddef.h>

#include "vmcs_fields.h"

/* .def column tokens -> enum values */
#define VMCS_COL_W16 VMCS_WIDTH_16
#define VMCS_COL_W64 VMCS_WIDTH_64
#define VMCS_COL_W32 VMCS_WIDTH_32
#define VMCS_COL_WN  VMCS_WIDTH_NATURAL

/* Every row is checked at compile time; test_vmcs_fields re-checks through
 * the accessors. */
#define X(name, enc, width, group, feature, desc)                                                       \
    _Static_assert(((enc) & VMCS_ENC_RESERVED_MASK) == 0, #name ": bit 12 or bits 31:15 set");          \
    _Static_assert(((enc) & VMCS_ENC_HIGH) == 0, #name ": list the FULL encoding (bit 0 = 0)");         \
    _Static_assert(VMCS_ENC_WIDTH(enc) == VMCS_COL_##width, #name ": width column != bits 14:13");      \
    _Static_assert(VMCS_ENC_TYPE(enc) == VMCS_GROUP_##group, #name ": group column != bits 11:10");
#include "vmcs_fields.def"
#undef X

static const struct vmcs_field_desc {
    uint32_t encoding;
    uint8_t width;                            /* enum vmcs_width */
    uint8_t group;                            /* enum vmcs_group */
    uint8_t feature;                          /* enum vmcs_feature */
    const char *name;
    const char *desc;
} fields[VMCS_FIELD_COUNT] = {
#define X(name, enc, width, group, feature, desc) \
    [VMCS_##name] = { enc, VMCS_COL_##width, VMCS_GROUP_##group, VMCS_FEAT_##feature, #name, desc },
#include "vmcs_fields.def"
#undef X
};

/* Each field's feature alone, for vmcs_field_supported (vmcs_fields.h):
 * the VM-entry checks ask for every field they read. */
const uint8_t vmcs_field_feature_of[VMCS_FIELD_COUNT] = {
#define X(name, enc, width, group, feature, desc) [VMCS_##name] = VMCS_FEAT_##feature,
#include "vmcs_fields.def"
#undef X
};
_Static_assert(VMCS_FEATURE_COUNT <= 64 && VMCS_FEATURE_COUNT <= 255, "features fit a uint8_t and the feature set");

#define WIDTH_BITS_W16  16
#define WIDTH_BITS_W64  64
#define WIDTH_BITS_W32  32
#define WIDTH_BITS_WN   64
const uint8_t vmcs_field_bits_of[VMCS_FIELD_COUNT] = {
#define X(name, enc, width, group, feature, desc) [VMCS_##name] = WIDTH_BITS_##width,
#include "vmcs_fields.def"
#undef X
};

/*
 * Encoding -> field: a direct-mapped table indexed by (width, type, index),
 * holding id + 1 (0: no field). Indexes above VMCS_INDEX_SLOTS - 1 name no
 * field today; the static assertion below stops the build when the SDM
 * grows past that. Two rows with the same encoding initialize the same
 * element, which -Woverride-init (-Wextra) turns into a build error.
 */
#define VMCS_INDEX_SLOTS 64u
#define VMCS_SLOT(enc) \
    (((VMCS_ENC_WIDTH(enc) << 2) | VMCS_ENC_TYPE(enc)) * VMCS_INDEX_SLOTS + VMCS_ENC_INDEX(enc))

#define X(name, enc, width, group, feature, desc) \
    _Static_assert(VMCS_ENC_INDEX(enc) < VMCS_INDEX_SLOTS, #name ": index beyond the lookup table");
#include "vmcs_fields.def"
#undef X
_Static_assert(VMCS_FIELD_COUNT < 255, "ids are stored as uint8_t + 1");

static const uint8_t slot_to_id[16 * VMCS_INDEX_SLOTS] = {
#define X(name, enc, width, group, feature, desc) [VMCS_SLOT(enc)] = VMCS_##name + 1,
#include "vmcs_fields.def"
#undef X
};

int vmcs_field_lookup(uint32_t encoding, bool *high)
{
    if (!vmcs_enc_valid(encoding) || VMCS_ENC_INDEX(encoding) >= VMCS_INDEX_SLOTS)
        return -1;
    int id = (int)slot_to_id[VMCS_SLOT(encoding)] - 1;
    if (id < 0)
        return -1;
    bool hi = vmcs_enc_is_high(encoding);
    if (hi && fields[id].width != VMCS_WIDTH_64)
        return -1;                            /* only 64-bit fields have a HIGH half */
    if (high)
        *high = hi;
    return id;
}

static inline const struct vmcs_field_desc *field(enum vmcs_field_id id)
{
    assert((unsigned)id < VMCS_FIELD_COUNT);
    return &fields[(unsigned)id < VMCS_FIELD_COUNT ? id : 0];
}

const char *vmcs_field_name(enum vmcs_field_id id) { return field(id)->name; }
const char *vmcs_field_desc(enum vmcs_field_id id) { return field(id)->desc; }
uint32_t vmcs_field_encoding(enum vmcs_field_id id) { return field(id)->encoding; }
enum vmcs_width vmcs_field_width(enum vmcs_field_id id) { return (enum vmcs_width)field(id)->width; }
enum vmcs_group vmcs_field_group(enum vmcs_field_id id) { return (enum vmcs_group)field(id)->group; }
bool vmcs_field_read_only(enum vmcs_field_id id) { return field(id)->group == VMCS_GROUP_EXIT_INFO; }
enum vmcs_feature vmcs_field_feature(enum vmcs_field_id id) { return (enum vmcs_feature)field(id)->feature; }

/* ---- features ---- */

static const struct vmcs_feature_desc {
    uint8_t word, bit, word2, bit2;           /* enum vmcs_ctl_word, bit in it */
    const char *name;
    const char *condition;
} feature_table[VMCS_FEATURE_COUNT] = {
#define F(name, w, b, w2, b2, cond) \
    [VMCS_FEAT_##name] = { VMCS_CTLW_##w, b, VMCS_CTLW_##w2, b2, #name, cond },
    VMCS_FEATURES(F)
#undef F
};

const char *vmcs_feature_name(enum vmcs_feature f)
{
    return (unsigned)f < VMCS_FEATURE_COUNT ? feature_table[f].name : NULL;
}

const char *vmcs_feature_condition(enum vmcs_feature f)
{
    return (unsigned)f < VMCS_FEATURE_COUNT ? feature_table[f].condition : NULL;
}

const char *vmcs_width_name(enum vmcs_width w)
{
    static const char *const names[4] = { "16", "64", "32", "natural" };
    return (unsigned)w < 4 ? names[w] : NULL;
}

const char *vmcs_group_name(enum vmcs_group g)
{
    static const char *const names[4] = { "control", "exit-info", "guest", "host" };
    return (unsigned)g < 4 ? names[g] : NULL;
}

/* Primary processor-based bit 31 activates the secondary controls, bit 17
 * the tertiary ones; primary VM-exit bit 31 the secondary VM-exit controls;
 * secondary bit 13 the VM functions (SDM 3C "VM-Execution Controls",
 * "VM-Exit Controls"; App. A). */
#define PROC_ACTIVATE_SECONDARY  31
#define PROC_ACTIVATE_TERTIARY   17
#define EXIT_ACTIVATE_SECONDARY  31
#define PROC2_ENABLE_VMFUNC      13

uint64_t vmcs_features_from_allowed1(const uint64_t allowed1[VMCS_CTLW_COUNT])
{
    uint64_t w[VMCS_CTLW_COUNT];
    for (unsigned i = 0; i < VMCS_CTLW_COUNT; i++)
        w[i] = allowed1[i];
    w[VMCS_CTLW_NONE] = 0;
    if (!(w[VMCS_CTLW_PROC] >> PROC_ACTIVATE_SECONDARY & 1))
        w[VMCS_CTLW_PROC2] = 0;
    if (!(w[VMCS_CTLW_PROC] >> PROC_ACTIVATE_TERTIARY & 1))
        w[VMCS_CTLW_PROC3] = 0;
    if (!(w[VMCS_CTLW_EXIT] >> EXIT_ACTIVATE_SECONDARY & 1))
        w[VMCS_CTLW_EXIT2] = 0;
    if (!(w[VMCS_CTLW_PROC2] >> PROC2_ENABLE_VMFUNC & 1))
        w[VMCS_CTLW_VMFUNC] = 0;

    uint64_t set = 1ull << VMCS_FEAT_ALWAYS;
    for (unsigned f = 0; f < VMCS_FEATURE_COUNT; f++) {
        const struct vmcs_feature_desc *d = &feature_table[f];
        bool on = (d->word != VMCS_CTLW_NONE && (w[d->word] >> d->bit & 1)) ||
                  (d->word2 != VMCS_CTLW_NONE && (w[d->word2] >> d->bit2 & 1));
        if (on)
            set |= 1ull << f;
    }
    return set;
}

unsigned vmcs_max_index(uint64_t features)
{
    unsigned max = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if ((features >> fields[i].feature & 1) && VMCS_ENC_INDEX(fields[i].encoding) > max)
            max = VMCS_ENC_INDEX(fields[i].encoding);
    return max;
}
