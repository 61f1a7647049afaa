/*
 * vmcs_fields.h — the VMCS field table (vmcs_fields.def, SDM vol. 3D
 * Appendix B) as C: field ids, encoding decode helpers, the O(1) lookup
 * VMREAD/VMWRITE use, the "does this field exist on this CPU profile"
 * check, and the byte layout of the VMCS region in guest memory
 * (docs/vmcs-layout.md).
 *
 * Pure data and pure functions: no state, no allocation; callable from
 * anywhere (instruction handlers, the vmx_* C API, tests, tools).
 */
#ifndef HVSIM_VMCS_FIELDS_H
#define HVSIM_VMCS_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <assert.h>
#include <stdint.h>

/*
 * Field encoding (SDM 3D App. B; SDM 3C "Component Encoding"), the operand
 * of VMREAD/VMWRITE:
 *
 *   31          15 14  13 12 11  10 9               1  0
 *  +--------------+------+--+------+-----------------+----+
 *  |  reserved 0  | width|0 | type |      index      | AT |
 *  +--------------+------+--+------+-----------------+----+
 *   width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural-width
 *   type:  0 control, 1 VM-exit information (read-only data),
 *          2 guest state, 3 host state
 *   AT (access type): 0 full, 1 high (the upper 32 bits of a 64-bit field;
 *          only 64-bit fields have a high encoding)
 * An encoding with bit 12 or any of bits 31:15 set names no field
 * (VMREAD/VMWRITE fail with VM-instruction error 12). In 64-bit mode the
 * register operand is 64 bits wide: the caller fails bits 63:32 != 0
 * before calling vmcs_field_lookup().
 */
#define VMCS_ENC_HIGH           0x00000001u
#define VMCS_ENC_RESERVED_MASK  0xFFFF9000u           /* bits 31:15 and 12 */
#define VMCS_ENC_INDEX(e)       (((uint32_t)(e) >> 1) & 0x1FFu)
#define VMCS_ENC_TYPE(e)        (((uint32_t)(e) >> 10) & 3u)
#define VMCS_ENC_WIDTH(e)       (((uint32_t)(e) >> 13) & 3u)
#define VMCS_ENC(width, type, index) \
    (((uint32_t)(width) << 13) | ((uint32_t)(type) << 10) | ((uint32_t)(index) << 1))

/* Bits 14:13 of an encoding. */
enum vmcs_width {
    VMCS_WIDTH_16 = 0,
    VMCS_WIDTH_64 = 1,
    VMCS_WIDTH_32 = 2,
    VMCS_WIDTH_NATURAL = 3,                   /* 64 bits on a processor with Intel 64 */
};

/* Bits 11:10 of an encoding. */
enum vmcs_group {
    VMCS_GROUP_CONTROL = 0,
    VMCS_GROUP_EXIT_INFO = 1,                 /* "read-only data": VMWRITE fails (error 13)
                                                 unless IA32_VMX_MISC bit 29 */
    VMCS_GROUP_GUEST = 2,
    VMCS_GROUP_HOST = 3,
};

static inline bool vmcs_enc_valid(uint32_t e) { return (e & VMCS_ENC_RESERVED_MASK) == 0; }
static inline bool vmcs_enc_is_high(uint32_t e) { return (e & VMCS_ENC_HIGH) != 0; }
static inline unsigned vmcs_enc_index(uint32_t e) { return VMCS_ENC_INDEX(e); }
static inline enum vmcs_group vmcs_enc_group(uint32_t e) { return (enum vmcs_group)VMCS_ENC_TYPE(e); }
static inline enum vmcs_width vmcs_enc_width(uint32_t e) { return (enum vmcs_width)VMCS_ENC_WIDTH(e); }

/* ---- the fields ---- */
enum vmcs_field_id {
#define X(name, enc, width, group, feature, desc) VMCS_##name,
#include "vmcs_fields.def"
#undef X
    VMCS_FIELD_COUNT
};

/* Fields per width (rows: 16-bit, 64-bit, 32-bit, natural-width, the
 * order of encoding bits 14:13) and group (columns: control, VM-exit
 * information, guest state, host state). Pinned here, deliberately a
 * second statement of what vmcs_fields.def holds: test_vmcs_fields fails
 * when a row is lost or added by accident. Change both together. */
#define VMCS_PINNED_COUNTS { \
    /* 16-bit  */ {  5, 0, 11,  7 }, \
    /* 64-bit  */ { 38, 2, 21, 12 }, \
    /* 32-bit  */ { 19, 8, 23,  1 }, \
    /* natural */ {  8, 6, 23, 15 }, \
}

/*
 * ---- features: what makes a field exist ----
 * SDM App. B: a field "exists only on processors that support the 1-setting
 * of" some VMX control (or the EPTP-switching VM function). Each feature
 * names that control as (control word, bit), up to two alternatives (the
 * field exists if either control may be 1).
 *
 * F(NAME, word, bit, word2, bit2, "SDM condition")
 */
enum vmcs_ctl_word {
    VMCS_CTLW_NONE,                           /* no control: see the feature's note */
    VMCS_CTLW_PIN,                            /* pin-based VM-execution controls */
    VMCS_CTLW_PROC,                           /* primary processor-based */
    VMCS_CTLW_PROC2,                          /* secondary processor-based */
    VMCS_CTLW_PROC3,                          /* tertiary processor-based (64 bits) */
    VMCS_CTLW_EXIT,                           /* primary VM-exit controls */
    VMCS_CTLW_EXIT2,                          /* secondary VM-exit controls (64 bits) */
    VMCS_CTLW_ENTRY,                          /* VM-entry controls */
    VMCS_CTLW_VMFUNC,                         /* VM-function controls (IA32_VMX_VMFUNC) */
    VMCS_CTLW_COUNT
};

#define VMCS_FEATURES(F) \
    F(ALWAYS,                 NONE,  0,  NONE,  0,  "every VMX processor") \
    F(MSR_BITMAPS,            PROC,  28, NONE,  0,  "use MSR bitmaps") \
    F(TPR_SHADOW,             PROC,  21, NONE,  0,  "use TPR shadow") \
    F(TERTIARY_CTLS,          PROC,  17, NONE,  0,  "activate tertiary controls") \
    F(SECONDARY_CTLS,         PROC,  31, NONE,  0,  "activate secondary controls") \
    F(PREEMPTION_TIMER,       PIN,   6,  NONE,  0,  "activate VMX-preemption timer") \
    F(POSTED_INTR,            PIN,   7,  NONE,  0,  "process posted interrupts") \
    F(APIC_ACCESS,            PROC2, 0,  NONE,  0,  "virtualize APIC accesses") \
    F(EPT,                    PROC2, 1,  NONE,  0,  "enable EPT") \
    F(VPID,                   PROC2, 5,  NONE,  0,  "enable VPID") \
    F(VIRT_INTR_DELIVERY,     PROC2, 9,  NONE,  0,  "virtual-interrupt delivery") \
    F(PLE,                    PROC2, 10, NONE,  0,  "PAUSE-loop exiting") \
    F(VMFUNC,                 PROC2, 13, NONE,  0,  "enable VM functions") \
    F(VMCS_SHADOWING,         PROC2, 14, NONE,  0,  "VMCS shadowing") \
    F(ENCLS,                  PROC2, 15, NONE,  0,  "enable ENCLS exiting") \
    F(PML,                    PROC2, 17, NONE,  0,  "enable PML") \
    F(VE,                     PROC2, 18, NONE,  0,  "EPT-violation #VE") \
    F(XSAVES,                 PROC2, 20, NONE,  0,  "enable XSAVES/XRSTORS") \
    F(PASID_TRANSLATION,      PROC2, 21, NONE,  0,  "PASID translation") \
    F(SPP,                    PROC2, 23, NONE,  0,  "sub-page write permissions for EPT") \
    F(TSC_SCALING,            PROC2, 25, NONE,  0,  "use TSC scaling") \
    F(PCONFIG,                PROC2, 27, NONE,  0,  "enable PCONFIG") \
    F(ENCLV,                  PROC2, 28, NONE,  0,  "enable ENCLV exiting") \
    F(INSTR_TIMEOUT,          PROC2, 31, NONE,  0,  "instruction timeout") \
    F(HLAT,                   PROC3, 1,  NONE,  0,  "enable HLAT") \
    F(IPI_VIRT,               PROC3, 4,  NONE,  0,  "IPI virtualization") \
    F(SPEC_CTRL_VIRT,         PROC3, 7,  NONE,  0,  "virtualize IA32_SPEC_CTRL") \
    F(EPTP_SWITCHING,         VMFUNC, 0, NONE,  0,  "EPTP switching (VM function 0)") \
    F(SECONDARY_EXIT_CTLS,    EXIT,  31, NONE,  0,  "activate secondary controls (VM exit)") \
    F(GUEST_PAT,              ENTRY, 14, EXIT,  18, "load IA32_PAT (entry) or save IA32_PAT (exit)") \
    F(HOST_PAT,               EXIT,  19, NONE,  0,  "load IA32_PAT (exit)") \
    F(GUEST_EFER,             ENTRY, 15, EXIT,  20, "load IA32_EFER (entry) or save IA32_EFER (exit)") \
    F(HOST_EFER,              EXIT,  21, NONE,  0,  "load IA32_EFER (exit)") \
    F(GUEST_PERF_GLOBAL_CTRL, ENTRY, 13, EXIT,  30, "load IA32_PERF_GLOBAL_CTRL (entry) or save IA32_PERF_GLOBAL_CTRL (exit)") \
    F(HOST_PERF_GLOBAL_CTRL,  EXIT,  12, NONE,  0,  "load IA32_PERF_GLOBAL_CTRL (exit)") \
    F(BNDCFGS,                ENTRY, 16, EXIT,  23, "load IA32_BNDCFGS (entry) or clear IA32_BNDCFGS (exit)") \
    F(RTIT_CTL,               ENTRY, 18, EXIT,  25, "load IA32_RTIT_CTL (entry) or clear IA32_RTIT_CTL (exit)") \
    F(UINV,                   ENTRY, 19, EXIT,  27, "load UINV (entry) or clear UINV (exit)") \
    F(LBR_CTL,                ENTRY, 21, EXIT,  26, "load guest IA32_LBR_CTL (entry) or clear IA32_LBR_CTL (exit)") \
    F(GUEST_CET,              ENTRY, 20, NONE,  0,  "load CET state (entry)") \
    F(HOST_CET,               EXIT,  28, NONE,  0,  "load CET state (exit)") \
    F(GUEST_PKRS,             ENTRY, 22, NONE,  0,  "load PKRS (entry)") \
    F(HOST_PKRS,              EXIT,  29, NONE,  0,  "load PKRS (exit)") \
    F(GUEST_FRED,             ENTRY, 23, EXIT2, 0,  "load FRED (entry) or save FRED (secondary exit)") \
    F(HOST_FRED,              EXIT2, 1,  NONE,  0,  "load FRED (secondary exit)") \
    F(FRED_EVENT_DATA,        ENTRY, 23, NONE,  0,  "load FRED (entry): FRED event data") \
    F(SHARED_EPTP,            NONE,  0,  NONE,  0,  "TDX/SEAM only: no profile has it")

enum vmcs_feature {
#define F(name, w, b, w2, b2, cond) VMCS_FEAT_##name,
    VMCS_FEATURES(F)
#undef F
    VMCS_FEATURE_COUNT
};
_Static_assert(VMCS_FEATURE_COUNT <= 64, "a feature set is a uint64_t bit mask");

/* ---- the VMCS region in guest memory (docs/vmcs-layout.md) ----
 * Bytes 0-3 and 4-7 are where the SDM puts them (SDM 3C "Format of the
 * VMCS Region"); everything else is hvsim's own format, which software
 * may only reach through VMREAD/VMWRITE. Each field has an 8-byte slot,
 * in vmcs_fields.def order, from VMCS_REGION_FIELDS_OFF; values narrower
 * than 64 bits are stored zero-extended, little-endian. */
#define VMCS_REGION_SIZE          4096u
#define VMCS_REGION_REVISION_OFF  0u          /* bits 30:0 revision ID, bit 31 shadow-VMCS indicator */
#define VMCS_REGION_ABORT_OFF     4u          /* VMX-abort indicator */
#define VMCS_REGION_LAUNCH_OFF    8u          /* hvsim-private launch state (below) */
#define VMCS_REGION_FIELDS_OFF    0x10u
#define VMCS_FIELD_SLOT_BYTES     8u
#define VMCS_REGION_USED          (VMCS_REGION_FIELDS_OFF + VMCS_FIELD_COUNT * VMCS_FIELD_SLOT_BYTES)
#define VMCS_REVISION_MASK        0x7FFFFFFFu
#define VMCS_SHADOW_INDICATOR     0x80000000u
#define VMCS_REGION_LAUNCH_CLEAR    0u        /* value at VMCS_REGION_LAUNCH_OFF after VMCLEAR */
#define VMCS_REGION_LAUNCH_LAUNCHED 1u        /* after a successful VMLAUNCH */

/* The header of a VMCS region. Invariant: little-endian, at the start of a
 * 4-KiB-aligned region; reserved is 0. */
struct vmcs_region_header {
    uint32_t revision;                        /* revision ID | shadow-VMCS indicator */
    uint32_t abort;                           /* VMX-abort indicator */
    uint32_t launch_state;                    /* VMCS_REGION_LAUNCH_* */
    uint32_t reserved;
};
_Static_assert(sizeof(struct vmcs_region_header) == VMCS_REGION_FIELDS_OFF, "VMCS header size");
_Static_assert(offsetof(struct vmcs_region_header, revision) == VMCS_REGION_REVISION_OFF, "revision");
_Static_assert(offsetof(struct vmcs_region_header, abort) == VMCS_REGION_ABORT_OFF, "abort");
_Static_assert(offsetof(struct vmcs_region_header, launch_state) == VMCS_REGION_LAUNCH_OFF, "launch");
_Static_assert(VMCS_REGION_USED <= VMCS_REGION_SIZE, "VMCS fields do not fit in the 4-KiB region");

/* ---- lookups (vmcs_fields.c) ---- */

/* The field an encoding names, O(1): its id, and in *high (may be NULL)
 * whether the encoding is the HIGH half of a 64-bit field. -1 if the
 * encoding names no field of vmcs_fields.def (reserved bits set, unknown
 * index, HIGH access to a field that is not 64-bit). Whether the field
 * exists on a given profile is vmcs_field_supported(). */
int vmcs_field_lookup(uint32_t encoding, bool *high) __attribute__((warn_unused_result));

/* Accessors; id must be a valid enum vmcs_field_id. */
const char *vmcs_field_name(enum vmcs_field_id id);        /* "GUEST_RIP" */
const char *vmcs_field_desc(enum vmcs_field_id id);        /* "guest RIP" */
uint32_t vmcs_field_encoding(enum vmcs_field_id id);       /* FULL encoding */
enum vmcs_width vmcs_field_width(enum vmcs_field_id id);
enum vmcs_group vmcs_field_group(enum vmcs_field_id id);
bool vmcs_field_read_only(enum vmcs_field_id id);          /* VM-exit information group */
enum vmcs_feature vmcs_field_feature(enum vmcs_field_id id);

const char *vmcs_feature_name(enum vmcs_feature f);        /* "EPT"; NULL if out of range */
const char *vmcs_feature_condition(enum vmcs_feature f);   /* the SDM control, in words */
const char *vmcs_width_name(enum vmcs_width w);            /* "16", "64", "32", "natural" */
const char *vmcs_group_name(enum vmcs_group g);            /* "control", "exit-info", "guest", "host" */

/* The feature set (bit f for enum vmcs_feature f) of a CPU profile, from
 * the allowed-1 settings of its control words: allowed1[w] is the
 * allowed-1 mask of control word w (bits 63:32 of IA32_VMX_[TRUE_]*_CTLS
 * for the 32-bit words; the whole MSR for PROC3, EXIT2 and VMFUNC). A word
 * whose capability MSR the profile lacks must be 0; PROC2, PROC3, EXIT2
 * and VMFUNC are ignored anyway unless the control that activates them
 * may be 1. VMCS_FEAT_ALWAYS is always in the set. */
uint64_t vmcs_features_from_allowed1(const uint64_t allowed1[VMCS_CTLW_COUNT]);

/* The highest field index (encoding bits 9:1) among the fields that exist
 * with this feature set: bits 9:1 of IA32_VMX_VMCS_ENUM (SDM 3D App. A.9). */
unsigned vmcs_max_index(uint64_t features);

/* Does the field exist on a profile with this feature set? This is the
 * VMREAD/VMWRITE support check (error 12 when false). */
extern const uint8_t vmcs_field_feature_of[VMCS_FIELD_COUNT];   /* vmcs_field_feature, as a table */
static inline bool vmcs_field_supported(enum vmcs_field_id id, uint64_t features)
{
    return (unsigned)id < VMCS_FIELD_COUNT && ((features >> vmcs_field_feature_of[id]) & 1);
}

/* Inline: the VM-entry checks and VM exits touch a hundred fields each
 * (id must be a valid enum vmcs_field_id). */
extern const uint8_t vmcs_field_bits_of[VMCS_FIELD_COUNT];      /* 16, 32 or 64 (natural: 64) */
static inline unsigned vmcs_field_width_bits(enum vmcs_field_id id)
{
    assert((unsigned)id < VMCS_FIELD_COUNT);
    return vmcs_field_bits_of[(unsigned)id < VMCS_FIELD_COUNT ? id : 0];
}
/* byte offset in the VMCS region */
static inline unsigned vmcs_field_offset(enum vmcs_field_id id)
{
    assert((unsigned)id < VMCS_FIELD_COUNT);
    return VMCS_REGION_FIELDS_OFF + (unsigned)id * VMCS_FIELD_SLOT_BYTES;
}

#endif
