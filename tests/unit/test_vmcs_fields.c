/*
 * test_vmcs_fields.c — the VMCS field table (vmx_model/vmcs_fields.def,
 * SDM 3D App. B): every row re-derived from its encoding, the O(1) lookup
 * checked against a linear-scan oracle over the whole 15-bit encoding
 * space, well-known encodings spot-checked against the SDM, the feature
 * set computed from capability words, the VMCS region layout, and
 * docs/vmcs-layout.md kept equal to the table.
 */
#include <stdint.h>

#include "harness.h"
#include "vmcs_fields.h"

/* ---- every row agrees with its own encoding (SDM 3D App. B) ---- */

START_TEST(row_matches_encoding)
{
    enum vmcs_field_id id = (enum vmcs_field_id)_i;
    const char *name = vmcs_field_name(id);
    uint32_t enc = vmcs_field_encoding(id);
    ck_assert_msg(name && name[0], "field %d has no name", _i);
    ck_assert_msg(vmcs_field_desc(id) && vmcs_field_desc(id)[0], "%s: no description", name);
    ck_assert_msg(vmcs_enc_valid(enc), "%s: 0x%04x has bit 12 or bits 31:15 set", name, enc);
    ck_assert_msg((enc & 0xFFFF9000u) == 0, "%s: 0x%04x reserved bits", name, enc);
    ck_assert_msg((enc & 1) == 0, "%s: 0x%04x is not a FULL encoding", name, enc);
    ck_assert_msg(((enc >> 13) & 3) == (uint32_t)vmcs_field_width(id), "%s: 0x%04x bits 14:13 = %u, table width %d",
                  name, enc, (enc >> 13) & 3, vmcs_field_width(id));
    ck_assert_msg(((enc >> 10) & 3) == (uint32_t)vmcs_field_group(id), "%s: 0x%04x bits 11:10 = %u, table group %d",
                  name, enc, (enc >> 10) & 3, vmcs_field_group(id));
    static const unsigned bits_of_width[4] = { 16, 64, 32, 64 };
    ck_assert_msg(vmcs_field_width_bits(id) == bits_of_width[(enc >> 13) & 3], "%s: width %u bits", name,
                  vmcs_field_width_bits(id));
    ck_assert_msg(vmcs_field_read_only(id) == (((enc >> 10) & 3) == 1), "%s: read-only iff VM-exit information",
                  name);
    ck_assert_msg((unsigned)vmcs_field_feature(id) < VMCS_FEATURE_COUNT, "%s: feature out of range", name);
    /* the human name says which state it belongs to */
    if (vmcs_field_group(id) == VMCS_GROUP_GUEST && strncmp(name, "GUEST_", 6) == 0)
        ck_assert_msg(strstr(vmcs_field_desc(id), "guest") != NULL, "%s: description", name);
    if (vmcs_field_group(id) == VMCS_GROUP_HOST)
        ck_assert_msg(strncmp(name, "HOST_", 5) == 0, "%s: a host-state field named without HOST_", name);
}
END_TEST

START_TEST(no_duplicates)
{
    for (int a = 0; a < VMCS_FIELD_COUNT; a++)
        for (int b = a + 1; b < VMCS_FIELD_COUNT; b++) {
            ck_assert_msg(vmcs_field_encoding(a) != vmcs_field_encoding(b), "%s and %s share encoding 0x%04x",
                          vmcs_field_name(a), vmcs_field_name(b), vmcs_field_encoding(a));
            ck_assert_msg(strcmp(vmcs_field_name(a), vmcs_field_name(b)) != 0, "name %s listed twice",
                          vmcs_field_name(a));
        }
}
END_TEST

/* Rows by width (encoding order) and group, against the counts pinned in
 * vmcs_fields.h: a lost or duplicated row fails here. */
START_TEST(counts_per_width_and_group)
{
    static const unsigned pinned[4][4] = VMCS_PINNED_COUNTS;
    unsigned got[4][4] = { { 0 } };
    unsigned total = 0;
    for (int id = 0; id < VMCS_FIELD_COUNT; id++)
        got[vmcs_field_width(id)][vmcs_field_group(id)]++;
    for (int w = 0; w < 4; w++)
        for (int g = 0; g < 4; g++) {
            ck_assert_msg(got[w][g] == pinned[w][g], "%s-bit %s fields: table has %u, pinned %u",
                          vmcs_width_name(w), vmcs_group_name(g), got[w][g], pinned[w][g]);
            total += pinned[w][g];
        }
    ck_assert_uint_eq(total, VMCS_FIELD_COUNT);
}
END_TEST

/* ---- well-known encodings, straight from SDM 3D App. B ---- */

struct spot_row {
    const char *sdm_name;
    enum vmcs_field_id id;
    uint32_t enc;
    unsigned bits;
    enum vmcs_group group;
    enum vmcs_feature feature;
};
static const struct spot_row spot_rows[] = {
    { "VPID",                                VMCS_VPID,                        0x0000, 16, VMCS_GROUP_CONTROL,   VMCS_FEAT_VPID },
    { "posted-interrupt notification vector", VMCS_POSTED_INTR_NV,            0x0002, 16, VMCS_GROUP_CONTROL,   VMCS_FEAT_POSTED_INTR },
    { "guest ES selector",                   VMCS_GUEST_ES_SELECTOR,           0x0800, 16, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest TR selector",                   VMCS_GUEST_TR_SELECTOR,           0x080E, 16, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest interrupt status",              VMCS_GUEST_INTR_STATUS,           0x0810, 16, VMCS_GROUP_GUEST,     VMCS_FEAT_VIRT_INTR_DELIVERY },
    { "PML index",                           VMCS_PML_INDEX,                   0x0812, 16, VMCS_GROUP_GUEST,     VMCS_FEAT_PML },
    { "host CS selector",                    VMCS_HOST_CS_SELECTOR,            0x0C02, 16, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
    { "host TR selector",                    VMCS_HOST_TR_SELECTOR,            0x0C0C, 16, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
    { "I/O bitmap A",                        VMCS_IO_BITMAP_A,                 0x2000, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "MSR bitmaps",                         VMCS_MSR_BITMAP,                  0x2004, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_MSR_BITMAPS },
    { "VM-entry MSR-load address",           VMCS_VM_ENTRY_MSR_LOAD_ADDR,      0x200A, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "TSC offset",                          VMCS_TSC_OFFSET,                  0x2010, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "virtual-APIC address",                VMCS_VIRTUAL_APIC_ADDR,           0x2012, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_TPR_SHADOW },
    { "APIC-access address",                 VMCS_APIC_ACCESS_ADDR,            0x2014, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_APIC_ACCESS },
    { "EPT pointer",                         VMCS_EPT_POINTER,                 0x201A, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_EPT },
    { "EPTP-list address",                   VMCS_EPTP_LIST_ADDR,              0x2024, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_EPTP_SWITCHING },
    { "VMREAD-bitmap address",               VMCS_VMREAD_BITMAP_ADDR,          0x2026, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_VMCS_SHADOWING },
    { "tertiary controls",                   VMCS_TERTIARY_VM_EXEC_CONTROL,    0x2034, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_TERTIARY_CTLS },
    { "guest-physical address",              VMCS_GUEST_PHYSICAL_ADDRESS,      0x2400, 64, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_EPT },
    { "VMCS link pointer",                   VMCS_VMCS_LINK_POINTER,           0x2800, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest IA32_DEBUGCTL",                 VMCS_GUEST_IA32_DEBUGCTL,         0x2802, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest IA32_EFER",                     VMCS_GUEST_IA32_EFER,             0x2806, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_GUEST_EFER },
    { "guest PDPTE0",                        VMCS_GUEST_PDPTE0,                0x280A, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_EPT },
    { "host IA32_PAT",                       VMCS_HOST_IA32_PAT,               0x2C00, 64, VMCS_GROUP_HOST,      VMCS_FEAT_HOST_PAT },
    { "host IA32_EFER",                      VMCS_HOST_IA32_EFER,              0x2C02, 64, VMCS_GROUP_HOST,      VMCS_FEAT_HOST_EFER },
    { "pin-based controls",                  VMCS_PIN_BASED_VM_EXEC_CONTROL,   0x4000, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "primary processor-based controls",    VMCS_PROC_BASED_VM_EXEC_CONTROL,  0x4002, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "exception bitmap",                    VMCS_EXCEPTION_BITMAP,            0x4004, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "CR3-target count",                    VMCS_CR3_TARGET_COUNT,            0x400A, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "primary VM-exit controls",            VMCS_VM_EXIT_CONTROLS,            0x400C, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "VM-entry controls",                   VMCS_VM_ENTRY_CONTROLS,           0x4012, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "VM-entry interruption information",   VMCS_VM_ENTRY_INTR_INFO,          0x4016, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "TPR threshold",                       VMCS_TPR_THRESHOLD,               0x401C, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_TPR_SHADOW },
    { "secondary controls",                  VMCS_SECONDARY_VM_EXEC_CONTROL,   0x401E, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_SECONDARY_CTLS },
    { "PLE_Window",                          VMCS_PLE_WINDOW,                  0x4022, 32, VMCS_GROUP_CONTROL,   VMCS_FEAT_PLE },
    { "VM-instruction error",                VMCS_VM_INSTRUCTION_ERROR,        0x4400, 32, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "exit reason",                         VMCS_EXIT_REASON,                 0x4402, 32, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "VM-exit instruction length",          VMCS_VM_EXIT_INSTRUCTION_LEN,     0x440C, 32, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "VM-exit instruction information",     VMCS_VM_EXIT_INSTRUCTION_INFO,    0x440E, 32, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "guest ES limit",                      VMCS_GUEST_ES_LIMIT,              0x4800, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest CS access rights",              VMCS_GUEST_CS_AR_BYTES,           0x4816, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest interruptibility state",        VMCS_GUEST_INTERRUPTIBILITY_INFO, 0x4824, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest activity state",                VMCS_GUEST_ACTIVITY_STATE,        0x4826, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest IA32_SYSENTER_CS",              VMCS_GUEST_IA32_SYSENTER_CS,      0x482A, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "VMX-preemption timer value",          VMCS_VMX_PREEMPTION_TIMER_VALUE,  0x482E, 32, VMCS_GROUP_GUEST,     VMCS_FEAT_PREEMPTION_TIMER },
    { "host IA32_SYSENTER_CS",               VMCS_HOST_IA32_SYSENTER_CS,       0x4C00, 32, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
    { "CR0 guest/host mask",                 VMCS_CR0_GUEST_HOST_MASK,         0x6000, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "CR3-target value 3",                  VMCS_CR3_TARGET_VALUE3,           0x600E, 64, VMCS_GROUP_CONTROL,   VMCS_FEAT_ALWAYS },
    { "exit qualification",                  VMCS_EXIT_QUALIFICATION,          0x6400, 64, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "guest-linear address",                VMCS_GUEST_LINEAR_ADDRESS,        0x640A, 64, VMCS_GROUP_EXIT_INFO, VMCS_FEAT_ALWAYS },
    { "guest CR0",                           VMCS_GUEST_CR0,                   0x6800, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest CR3",                           VMCS_GUEST_CR3,                   0x6802, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest DR7",                           VMCS_GUEST_DR7,                   0x681A, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest RSP",                           VMCS_GUEST_RSP,                   0x681C, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest RIP",                           VMCS_GUEST_RIP,                   0x681E, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest RFLAGS",                        VMCS_GUEST_RFLAGS,                0x6820, 64, VMCS_GROUP_GUEST,     VMCS_FEAT_ALWAYS },
    { "guest pending debug exceptions",      VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0x6822, 64, VMCS_GROUP_GUEST,    VMCS_FEAT_ALWAYS },
    { "host CR0",                            VMCS_HOST_CR0,                    0x6C00, 64, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
    { "host RSP",                            VMCS_HOST_RSP,                    0x6C14, 64, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
    { "host RIP",                            VMCS_HOST_RIP,                    0x6C16, 64, VMCS_GROUP_HOST,      VMCS_FEAT_ALWAYS },
};

START_TEST(sdm_spot_check)
{
    const struct spot_row *r = &spot_rows[_i];
    ck_assert_msg(vmcs_field_encoding(r->id) == r->enc, "%s: table 0x%04x, SDM 0x%04x", r->sdm_name,
                  vmcs_field_encoding(r->id), r->enc);
    ck_assert_msg(vmcs_field_width_bits(r->id) == r->bits, "%s: %u bits, SDM %u", r->sdm_name,
                  vmcs_field_width_bits(r->id), r->bits);
    ck_assert_msg(vmcs_field_group(r->id) == r->group, "%s: group", r->sdm_name);
    ck_assert_msg(vmcs_field_feature(r->id) == r->feature, "%s: feature %s, expected %s", r->sdm_name,
                  vmcs_feature_name(vmcs_field_feature(r->id)), vmcs_feature_name(r->feature));
    bool high = true;
    ck_assert_msg(vmcs_field_lookup(r->enc, &high) == (int)r->id && !high, "%s: lookup of 0x%04x", r->sdm_name,
                  r->enc);
}
END_TEST

/* ---- lookup ---- */

START_TEST(lookup_round_trips)
{
    enum vmcs_field_id id = (enum vmcs_field_id)_i;
    uint32_t enc = vmcs_field_encoding(id);
    bool high = true;
    ck_assert_msg(vmcs_field_lookup(enc, &high) == (int)id, "%s: FULL 0x%04x", vmcs_field_name(id), enc);
    ck_assert_msg(!high, "%s: FULL reported as HIGH", vmcs_field_name(id));
    ck_assert_msg(vmcs_field_lookup(enc, NULL) == (int)id, "%s: lookup without *high", vmcs_field_name(id));
    if (vmcs_field_width(id) == VMCS_WIDTH_64) {
        high = false;
        ck_assert_msg(vmcs_field_lookup(enc | 1, &high) == (int)id, "%s: HIGH 0x%04x", vmcs_field_name(id),
                      enc | 1);
        ck_assert_msg(high, "%s: HIGH not reported", vmcs_field_name(id));
    } else {
        ck_assert_msg(vmcs_field_lookup(enc | 1, &high) == -1, "%s: HIGH 0x%04x of a %u-bit field accepted",
                      vmcs_field_name(id), enc | 1, vmcs_field_width_bits(id));
    }
    /* the same field with a reserved bit set names nothing */
    ck_assert_msg(vmcs_field_lookup(enc | 0x1000u, NULL) == -1, "%s: bit 12 set accepted", vmcs_field_name(id));
    for (int b = 15; b < 32; b++)
        ck_assert_msg(vmcs_field_lookup(enc | (1u << b), NULL) == -1, "%s: bit %d set accepted",
                      vmcs_field_name(id), b);
}
END_TEST

/* The answer vmcs_field_lookup() must give, by linear scan. */
static int oracle(uint32_t enc, bool *high)
{
    if (enc & 0xFFFF9000u)
        return -1;
    for (int id = 0; id < VMCS_FIELD_COUNT; id++) {
        uint32_t full = vmcs_field_encoding(id);
        if (enc == full) {
            *high = false;
            return id;
        }
        if (enc == (full | 1) && vmcs_field_width(id) == VMCS_WIDTH_64) {
            *high = true;
            return id;
        }
    }
    return -1;
}

START_TEST(lookup_whole_encoding_space)
{
    unsigned hits = 0;
    for (uint32_t enc = 0; enc < 0x8000u; enc++) {
        bool want_high = false, got_high = false;
        int want = oracle(enc, &want_high);
        int got = vmcs_field_lookup(enc, &got_high);
        ck_assert_msg(got == want, "0x%04x: lookup %d, oracle %d", enc, got, want);
        if (want >= 0) {
            ck_assert_msg(got_high == want_high, "0x%04x: high %d", enc, got_high);
            hits++;
        }
    }
    unsigned w64 = 0;
    for (int id = 0; id < VMCS_FIELD_COUNT; id++)
        w64 += vmcs_field_width(id) == VMCS_WIDTH_64;
    ck_assert_uint_eq(hits, VMCS_FIELD_COUNT + w64);     /* every FULL, plus HIGH of each 64-bit field */
}
END_TEST

START_TEST(lookup_random_32bit_encodings)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;                  /* fixed seed: deterministic */
    for (int i = 0; i < 200000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t enc = (uint32_t)(s >> 32);
        if (i & 1)
            enc &= 0x0001FFFFu;                          /* often just above bit 15 */
        bool h1 = false, h2 = false;
        int want = oracle(enc, &h1);
        ck_assert_msg(vmcs_field_lookup(enc, &h2) == want, "0x%08x", enc);
    }
}
END_TEST

struct bad_row { const char *why; uint32_t enc; };
static const struct bad_row bad_rows[] = {
    { "bit 12 on guest RIP",                  0x781E },
    { "bit 15 on VPID",                       0x8000 },
    { "bit 31 on exit reason",                0x80004402u },
    { "all ones",                             0xFFFFFFFFu },
    { "HIGH of 32-bit exit reason",           0x4403 },
    { "HIGH of natural-width guest RIP",      0x681F },
    { "HIGH of 16-bit VPID",                  0x0001 },
    { "unknown 16-bit control index",         0x000C },
    { "unknown 16-bit exit-info (none exist)", 0x0400 },
    { "unknown 64-bit control index 0x23",    0x2046 },
    { "unknown 64-bit control index 0x24",    0x2048 },
    { "gap in 32-bit guest state 0x482C",     0x482C },
    { "unknown 32-bit host index 1",          0x4C02 },
    { "past natural-width host state",        0x6C1E },
    { "index 511",                            0x63FE },
    { "index 64 (beyond the lookup table)",   0x2080 },
};

START_TEST(lookup_rejects)
{
    const struct bad_row *r = &bad_rows[_i];
    bool high = false;
    ck_assert_msg(vmcs_field_lookup(r->enc, &high) == -1, "%s (0x%08x) names a field", r->why, r->enc);
}
END_TEST

/* ---- features ---- */

START_TEST(features_named_and_used)
{
    for (int f = 0; f < VMCS_FEATURE_COUNT; f++) {
        const char *n = vmcs_feature_name(f);
        ck_assert_msg(n && n[0] && vmcs_feature_condition(f), "feature %d unnamed", f);
        for (int g = f + 1; g < VMCS_FEATURE_COUNT; g++)
            ck_assert_msg(strcmp(n, vmcs_feature_name(g)), "feature %s twice", n);
        bool used = false;
        for (int id = 0; id < VMCS_FIELD_COUNT; id++)
            used |= vmcs_field_feature(id) == (enum vmcs_feature)f;
        ck_assert_msg(used, "feature %s makes no field exist", n);
    }
    ck_assert_ptr_null(vmcs_feature_name(VMCS_FEATURE_COUNT));
}
END_TEST

#define BIT(n) (1ull << (n))
struct feat_row {
    const char *name;
    uint64_t pin, proc, proc2, proc3, exit, exit2, entry, vmfunc;   /* allowed-1 */
    enum vmcs_feature feature;
    bool want;
};
static const struct feat_row feat_rows[] = {
    { "nothing/ept",             0, 0, 0, 0, 0, 0, 0, 0,                                  VMCS_FEAT_EPT, false },
    { "ept",                     0, BIT(31), BIT(1), 0, 0, 0, 0, 0,                       VMCS_FEAT_EPT, true },
    { "ept-without-secondary",   0, 0, BIT(1), 0, 0, 0, 0, 0,                             VMCS_FEAT_EPT, false },
    { "secondary-word",          0, BIT(31), 0, 0, 0, 0, 0, 0,                            VMCS_FEAT_SECONDARY_CTLS, true },
    { "vpid",                    0, BIT(31), BIT(5), 0, 0, 0, 0, 0,                       VMCS_FEAT_VPID, true },
    { "preemption-timer",        BIT(6), 0, 0, 0, 0, 0, 0, 0,                             VMCS_FEAT_PREEMPTION_TIMER, true },
    { "posted-interrupts",       BIT(7), 0, 0, 0, 0, 0, 0, 0,                             VMCS_FEAT_POSTED_INTR, true },
    { "tpr-shadow",              0, BIT(21), 0, 0, 0, 0, 0, 0,                            VMCS_FEAT_TPR_SHADOW, true },
    { "msr-bitmaps",             0, BIT(28), 0, 0, 0, 0, 0, 0,                            VMCS_FEAT_MSR_BITMAPS, true },
    { "eptp-switching",          0, BIT(31), BIT(13), 0, 0, 0, 0, BIT(0),                 VMCS_FEAT_EPTP_SWITCHING, true },
    { "eptp-switching-no-vmfunc", 0, BIT(31), 0, 0, 0, 0, 0, BIT(0),                      VMCS_FEAT_EPTP_SWITCHING, false },
    { "hlat",                    0, BIT(17), 0, BIT(1), 0, 0, 0, 0,                       VMCS_FEAT_HLAT, true },
    { "hlat-without-tertiary",   0, 0, 0, BIT(1), 0, 0, 0, 0,                             VMCS_FEAT_HLAT, false },
    { "ipi-virt",                0, BIT(17), 0, BIT(4), 0, 0, 0, 0,                       VMCS_FEAT_IPI_VIRT, true },
    { "guest-pat-by-entry",      0, 0, 0, 0, 0, 0, BIT(14), 0,                            VMCS_FEAT_GUEST_PAT, true },
    { "guest-pat-by-exit-save",  0, 0, 0, 0, BIT(18), 0, 0, 0,                            VMCS_FEAT_GUEST_PAT, true },
    { "host-pat-by-exit-load",   0, 0, 0, 0, BIT(19), 0, 0, 0,                            VMCS_FEAT_HOST_PAT, true },
    { "host-pat-not-by-entry",   0, 0, 0, 0, 0, 0, BIT(14), 0,                            VMCS_FEAT_HOST_PAT, false },
    { "guest-efer",              0, 0, 0, 0, 0, 0, BIT(15), 0,                            VMCS_FEAT_GUEST_EFER, true },
    { "host-efer",               0, 0, 0, 0, BIT(21), 0, 0, 0,                            VMCS_FEAT_HOST_EFER, true },
    { "guest-perf-global",       0, 0, 0, 0, 0, 0, BIT(13), 0,                            VMCS_FEAT_GUEST_PERF_GLOBAL_CTRL, true },
    { "host-perf-global",        0, 0, 0, 0, BIT(12), 0, 0, 0,                            VMCS_FEAT_HOST_PERF_GLOBAL_CTRL, true },
    { "guest-cet",               0, 0, 0, 0, 0, 0, BIT(20), 0,                            VMCS_FEAT_GUEST_CET, true },
    { "host-cet",                0, 0, 0, 0, BIT(28), 0, 0, 0,                            VMCS_FEAT_HOST_CET, true },
    { "host-fred",               0, 0, 0, 0, BIT(31), BIT(1), 0, 0,                       VMCS_FEAT_HOST_FRED, true },
    { "host-fred-no-exit2",      0, 0, 0, 0, 0, BIT(1), 0, 0,                             VMCS_FEAT_HOST_FRED, false },
    { "guest-fred-by-save",      0, 0, 0, 0, BIT(31), BIT(0), 0, 0,                       VMCS_FEAT_GUEST_FRED, true },
    { "shared-eptp-never",       ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull,  VMCS_FEAT_SHARED_EPTP, false },
    { "always",                  0, 0, 0, 0, 0, 0, 0, 0,                                  VMCS_FEAT_ALWAYS, true },
};

START_TEST(features_from_allowed1)
{
    const struct feat_row *r = &feat_rows[_i];
    uint64_t a[VMCS_CTLW_COUNT] = { 0 };
    a[VMCS_CTLW_PIN] = r->pin;
    a[VMCS_CTLW_PROC] = r->proc;
    a[VMCS_CTLW_PROC2] = r->proc2;
    a[VMCS_CTLW_PROC3] = r->proc3;
    a[VMCS_CTLW_EXIT] = r->exit;
    a[VMCS_CTLW_EXIT2] = r->exit2;
    a[VMCS_CTLW_ENTRY] = r->entry;
    a[VMCS_CTLW_VMFUNC] = r->vmfunc;
    uint64_t set = vmcs_features_from_allowed1(a);
    ck_assert_msg(((set >> r->feature) & 1) == r->want, "%s: %s %s", r->name, vmcs_feature_name(r->feature),
                  r->want ? "missing" : "present");
}
END_TEST

/* VMREAD/VMWRITE support: a profile with no optional controls has exactly
 * the ALWAYS fields; one with EPT gains the EPTP, the guest-physical
 * address and the PDPTEs, nothing else. */
START_TEST(supported_fields_follow_features)
{
    uint64_t a[VMCS_CTLW_COUNT] = { 0 };
    uint64_t none = vmcs_features_from_allowed1(a);
    ck_assert_uint_eq(none, 1ull << VMCS_FEAT_ALWAYS);
    a[VMCS_CTLW_PROC] = BIT(31);
    a[VMCS_CTLW_PROC2] = BIT(1);
    uint64_t ept = vmcs_features_from_allowed1(a);
    unsigned gained = 0;
    for (int id = 0; id < VMCS_FIELD_COUNT; id++) {
        bool always = vmcs_field_feature(id) == VMCS_FEAT_ALWAYS;
        ck_assert_msg(vmcs_field_supported(id, none) == always, "%s with no features", vmcs_field_name(id));
        if (vmcs_field_supported(id, ept) && !always) {
            gained++;
            ck_assert_msg(vmcs_field_feature(id) == VMCS_FEAT_EPT ||
                              vmcs_field_feature(id) == VMCS_FEAT_SECONDARY_CTLS,
                          "%s exists with EPT alone", vmcs_field_name(id));
        }
    }
    ck_assert_uint_eq(gained, 1 /* secondary controls */ + 1 /* EPTP */ + 1 /* GPA */ + 4 /* PDPTEs */);
    ck_assert(vmcs_field_supported(VMCS_EPT_POINTER, ept));
    ck_assert(!vmcs_field_supported(VMCS_EPT_POINTER, none));
    ck_assert(!vmcs_field_supported(VMCS_VPID, ept));
}
END_TEST

/* IA32_VMX_VMCS_ENUM bits 9:1 (SDM 3D App. A.9). */
START_TEST(max_index)
{
    uint64_t always = 1ull << VMCS_FEAT_ALWAYS;
    ck_assert_uint_eq(vmcs_max_index(always), 0x15);    /* guest IA32_SYSENTER_CS, 0x482A */
    ck_assert_uint_eq(vmcs_max_index(always | 1ull << VMCS_FEAT_PREEMPTION_TIMER), 0x17); /* 0x482E */
    ck_assert_uint_eq(vmcs_max_index(~0ull), 0x29);     /* injected-event data, 0x2052 */
}
END_TEST

/* ---- the VMCS region layout (docs/vmcs-layout.md) ---- */

START_TEST(region_layout)
{
    ck_assert_uint_eq(VMCS_REGION_REVISION_OFF, 0);
    ck_assert_uint_eq(VMCS_REGION_ABORT_OFF, 4);
    ck_assert_uint_eq(VMCS_REGION_LAUNCH_OFF, 8);
    ck_assert_uint_eq(VMCS_SHADOW_INDICATOR, 0x80000000u);
    static unsigned char owner[VMCS_REGION_SIZE];
    memset(owner, 0, sizeof(owner));
    for (unsigned o = 0; o < VMCS_REGION_FIELDS_OFF; o++)
        owner[o] = 0xFF;                                 /* the header */
    for (int id = 0; id < VMCS_FIELD_COUNT; id++) {
        unsigned off = vmcs_field_offset(id);
        ck_assert_msg(off % 8 == 0, "%s: offset 0x%x not 8-aligned", vmcs_field_name(id), off);
        ck_assert_msg(off >= VMCS_REGION_FIELDS_OFF && off + 8 <= VMCS_REGION_SIZE, "%s: offset 0x%x outside",
                      vmcs_field_name(id), off);
        for (unsigned b = 0; b < 8; b++) {
            ck_assert_msg(!owner[off + b], "%s overlaps byte 0x%x", vmcs_field_name(id), off + b);
            owner[off + b] = 1;
        }
    }
    ck_assert_uint_le(VMCS_REGION_USED, VMCS_REGION_SIZE);
}
END_TEST

/* ---- docs/vmcs-layout.md restates the table: it may not drift ---- */

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = 0;
    return s;
}

/* Split "| a | b | ... |" into at most max cells; returns the count. */
static int cells(char *line, char **out, int max)
{
    if (line[0] != '|')
        return 0;
    int n = 0;
    char *p = line + 1;
    for (char *bar; n < max && (bar = strchr(p, '|')) != NULL; p = bar + 1) {
        *bar = 0;
        out[n++] = trim(p);
    }
    return n;
}

START_TEST(doc_field_table_matches_def)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/vmcs-layout.md", HVSIM_SOURCE_DIR);
    char *doc = harness_slurp(path, NULL);
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[8];
        if (cells(line, c, 8) != 7 || strncmp(c[0], "`0x", 3) != 0)
            continue;                                    /* only field rows start with an encoding */
        ck_assert_msg(rows < VMCS_FIELD_COUNT, "docs list more fields than vmcs_fields.def");
        enum vmcs_field_id id = (enum vmcs_field_id)rows;
        char want[64];
        snprintf(want, sizeof(want), "`0x%04X`", vmcs_field_encoding(id));
        ck_assert_msg(!strcmp(c[0], want), "row %d: docs %s, def %s (%s)", rows, c[0], want, vmcs_field_name(id));
        snprintf(want, sizeof(want), "`%s`", vmcs_field_name(id));
        ck_assert_msg(!strcmp(c[1], want), "row %d: docs name %s, def %s", rows, c[1], want);
        ck_assert_msg(!strcmp(c[2], vmcs_width_name(vmcs_field_width(id))), "%s: docs width %s",
                      vmcs_field_name(id), c[2]);
        ck_assert_msg(!strcmp(c[3], vmcs_group_name(vmcs_field_group(id))), "%s: docs group %s",
                      vmcs_field_name(id), c[3]);
        ck_assert_msg(!strcmp(c[4], vmcs_feature_name(vmcs_field_feature(id))), "%s: docs feature %s, def %s",
                      vmcs_field_name(id), c[4], vmcs_feature_name(vmcs_field_feature(id)));
        snprintf(want, sizeof(want), "0x%03X", vmcs_field_offset(id));
        ck_assert_msg(!strcmp(c[5], want), "%s: docs offset %s, layout %s", vmcs_field_name(id), c[5], want);
        ck_assert_msg(!strcmp(c[6], vmcs_field_desc(id)), "%s: docs say '%s'", vmcs_field_name(id), c[6]);
        rows++;
    }
    ck_assert_msg(rows == VMCS_FIELD_COUNT, "docs list %d of %d fields", rows, VMCS_FIELD_COUNT);
}
END_TEST

START_TEST(doc_counts_match_def)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/vmcs-layout.md", HVSIM_SOURCE_DIR);
    char *doc = harness_slurp(path, NULL);
    static const unsigned pinned[4][4] = VMCS_PINNED_COUNTS;
    static const char *const row_names[4] = { "16-bit", "64-bit", "32-bit", "natural-width" };
    int seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[8];
        if (cells(line, c, 8) != 6)
            continue;
        for (int w = 0; w < 4; w++) {
            if (strcmp(c[0], row_names[w]))
                continue;
            unsigned sum = 0;
            for (int g = 0; g < 4; g++) {
                ck_assert_msg((unsigned)atoi(c[1 + g]) == pinned[w][g], "docs: %s %s count %s, table %u",
                              row_names[w], vmcs_group_name(g), c[1 + g], pinned[w][g]);
                sum += pinned[w][g];
            }
            ck_assert_msg((unsigned)atoi(c[5]) == sum, "docs: %s total %s", row_names[w], c[5]);
            seen |= 1 << w;
        }
        if (!strcmp(c[0], "all"))
            ck_assert_msg(atoi(c[5]) == VMCS_FIELD_COUNT, "docs: %s fields in all, table %d", c[5],
                          VMCS_FIELD_COUNT);
    }
    ck_assert_msg(seen == 0xF, "docs/vmcs-layout.md lacks a count row (seen 0x%x)", seen);
}
END_TEST

START_TEST(doc_feature_table_matches_header)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/vmcs-layout.md", HVSIM_SOURCE_DIR);
    char *doc = harness_slurp(path, NULL);
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[4];
        if (cells(line, c, 4) != 2 || c[0][0] != '`')
            continue;
        ck_assert_msg(rows < VMCS_FEATURE_COUNT, "docs list more features than VMCS_FEATURES");
        char want[64];
        snprintf(want, sizeof(want), "`%s`", vmcs_feature_name(rows));
        ck_assert_msg(!strcmp(c[0], want), "feature row %d: docs %s, header %s", rows, c[0], want);
        ck_assert_msg(!strcmp(c[1], vmcs_feature_condition(rows)), "%s: docs say '%s'", want, c[1]);
        rows++;
    }
    ck_assert_msg(rows == VMCS_FEATURE_COUNT, "docs list %d of %d features", rows, VMCS_FEATURE_COUNT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmcs_fields");
    TCase *t = harness_tcase("table");
    tcase_add_loop_test(t, row_matches_encoding, 0, VMCS_FIELD_COUNT);
    tcase_add_test(t, no_duplicates);
    tcase_add_test(t, counts_per_width_and_group);
    ADD_ROWS(t, sdm_spot_check, spot_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("lookup");
    tcase_add_loop_test(t, lookup_round_trips, 0, VMCS_FIELD_COUNT);
    tcase_add_test(t, lookup_whole_encoding_space);
    tcase_add_test(t, lookup_random_32bit_encodings);
    ADD_ROWS(t, lookup_rejects, bad_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("features");
    tcase_add_test(t, features_named_and_used);
    ADD_ROWS(t, features_from_allowed1, feat_rows);
    tcase_add_test(t, supported_fields_follow_features);
    tcase_add_test(t, max_index);
    suite_add_tcase(s, t);

    t = harness_tcase("layout");
    tcase_add_test(t, region_layout);
    tcase_add_test(t, doc_field_table_matches_def);
    tcase_add_test(t, doc_counts_match_def);
    tcase_add_test(t, doc_feature_table_matches_header);
    suite_add_tcase(s, t);
    return harness_run(s);
}
