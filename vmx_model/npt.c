/*
 * npt.c — AMD-V nested paging (AMD APM vol. 2, 15.25 "Nested Paging"): the
 * guest-physical -> system-physical walk from nCR3 in the host's 4-level
 * paging format, with every nested access treated as a user access (15.25.5),
 * and the #NPF intercept (exit code 0x400) with its error code in EXITINFO1
 * (the #PF bits, bit 32 "final translation", bit 33 "guest page-table
 * access") and the guest-physical address in EXITINFO2 (15.25.6).
 *
 * The walk is cpu/paging.c's pg_walk over host-physical memory: the nested
 * tables have the host paging format, so its rules (present, R/W, U/S, NX
 * with EFER.NXE, reserved bits, A/D) are exactly the nested ones.
 */
#include "npt.h"
#include "paging.h"

#define CR0_PE   (1ull << 0)
#define CR0_PG   (1ull << 31)
#define CR4_PAE  (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

static bool rd64(void *ctx, uint64_t pa, uint64_t *v)
{
    return cpu_phys_read(ctx, pa, v, 8);
}

static bool cas64(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    uint64_t cur;
    if (!cpu_phys_read(ctx, pa, &cur, 8) || cur != old)
        return false;
    return cpu_phys_write(ctx, pa, &nv, 8);
}

static bool nocas(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    (void)ctx; (void)pa; (void)old; (void)nv;
    return false;
}

static const struct pg_mem_ops host_mem = { rd64, cas64 };
static const struct pg_mem_ops host_mem_probe = { rd64, nocas };

static void nested_ctx(const struct npt *n, cpu_t *cpu, struct pg_ctx *pc)
{
    *pc = (struct pg_ctx){ .cr0 = CR0_PE | CR0_PG, .cr3 = n->ncr3, .cr4 = CR4_PAE,
                           .efer = EFER_LME | EFER_LMA | (n->host_efer & EFER_NXE), .cpl = 3,
                           .maxphyaddr = cpu_maxphyaddr(cpu), .has_1g_pages = true, .amd = true };
}

/* Accesses to guest paging structures are nested-translated as user
 * writes, whether or not the guest walk updates a flag in them: a guest page
 * table in a read-only nested page faults on a plain read with EXITINFO1
 * 0x200000007, and a not-present one reports W (0x200000006). Evidence: the
 * npt_rw_pfwalk test of kvm-unit-tests, passed on bare-metal AMD hardware
 * (its guest tables already have their accessed flags set), Bochs 2.7's
 * nested walk, and KVM's shadow of it (paging_tmpl.h: nested accesses of a
 * guest walk are PFERR_USER | PFERR_WRITE). */
static enum pg_access pg_acc(unsigned acc)
{
    if (acc & CPU_SLAT_PAGING)
        return PG_ACC_WRITE;
    if (acc & CPU_SLAT_FETCH)
        return PG_ACC_FETCH;
    return (acc & CPU_SLAT_WRITE) ? PG_ACC_WRITE : PG_ACC_READ;
}

int npt_translate(const struct npt *n, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out)
{
    struct pg_ctx pc;
    struct pg_result r;
    nested_ctx(n, cpu, &pc);
    bool probe = acc & CPU_SLAT_PROBE;
    enum pg_status st = pg_walk(&pc, probe ? &host_mem_probe : &host_mem, cpu, gpa, pg_acc(acc), !probe, &r);
    out->walked = true;
    switch (st) {
    case PG_OK: {
        /* all nested accesses are user accesses: R/W and NX decide (XU = X) */
        unsigned perm = CPU_SLAT_PERM_R | (r.writable ? CPU_SLAT_PERM_W : 0) |
                        (r.nx ? 0 : CPU_SLAT_PERM_X | CPU_SLAT_PERM_XU);
        *out = (struct cpu_slat){ .hpa = r.pa, .page_base_gpa = r.page_base_la, .page_base_hpa = r.page_base_pa,
                                  .page_size = r.page_size, .perm = perm, .dirty = r.dirty, .walked = true };
        return CPU_SLAT_OK;
    }
    case PG_FAULT:
        return CPU_SLAT_FAULT;
    case PG_BUS_ERROR:
        if (probe)
            return CPU_SLAT_FAULT;
        cpu_insn_unmodelled(cpu, "nested page walk for guest-physical %#llx reads %#llx, which is not RAM",
                            (unsigned long long)gpa, (unsigned long long)r.bad_pa);
        return CPU_SLAT_STOP;
    default:
        if (probe)
            return CPU_SLAT_FAULT;
        cpu_insn_unmodelled(cpu, "nested page walk for guest-physical %#llx: %s", (unsigned long long)gpa,
                            pg_strerror(st));
        return CPU_SLAT_STOP;
    }
}

bool npt_fault_info(const struct npt *n, cpu_t *cpu, const struct cpu_slat_fault *f, uint64_t *info1)
{
    struct pg_ctx pc;
    struct pg_result r;
    nested_ctx(n, cpu, &pc);
    /* the walk again, without side effects, for its #PF-style error code */
    if (pg_walk(&pc, &host_mem_probe, cpu, f->gpa, pg_acc(f->acc), false, &r) != PG_FAULT)
        return false;
    uint64_t ec = r.error_code;
    if (f->gla_valid && f->gla_translation)
        ec |= 1ull << 32;                  /* the final guest-physical address of the access */
    else
        ec |= 1ull << 33;                  /* an access to a guest page-table entry (or a PDPTE load) */
    *info1 = ec;
    return true;
}
