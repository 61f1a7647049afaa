/*
 * vmx_tlb — the translation cache across VM entries and exits: what a
 * hypervisor must invalidate (INVEPT, INVVPID) and what the processor
 * invalidates for it. Every group changes a translation behind a guest's
 * back (or its own) and prints what the guest (or host) reads afterwards:
 * the old value is a stale cached translation, the new one a fresh walk.
 * Run under <machine tlb="retain"> (default) a missing invalidation shows
 * the old value; under tlb="flush-always" (every VM entry and exit and
 * every INVEPT/INVVPID empties the cache) the new one.
 *   ept             an EPT entry remapped without INVEPT; INVEPT single-context
 *                   of another EPTP; of the right one; all-context
 *   vpid-reuse      "enable VPID": the guest's CR3 switched to tables mapping a
 *                   linear page elsewhere, same VPID, no INVVPID; then INVVPID
 *                   single-context
 *   vpid-individual INVVPID individual-address drops that address only
 *   vpid-other      INVVPID of another VPID leaves this one; all-context drops it
 *   vpid-globals    INVVPID single-context retaining globals keeps a global
 *                   translation; single-context drops it
 *   no-vpid         without "enable VPID", VM entry invalidates VPID 0's
 *                   mappings: the switched tables are seen at once
 *   host-stale      with "enable VPID" the host's own (VPID 0) mappings survive a
 *                   guest run: a host PTE changed without INVLPG stays stale
 *   guest-invlpg    the guest changes its own PTE: stale until its INVLPG
 *   vmfunc          VMFUNC EPTP switching (function 0) between two EPTs that map
 *                   one guest-physical page differently, without VM exits;
 *                   an invalid list entry, an index of 512 and a function not
 *                   enabled exit with reason 59 (SDM 3C 26.5.6.3, 31.3 VMFUNC)
 *
 * SDM 3C 29.4 "Caching Translation Information" (linear, guest-physical and
 * combined mappings; VPID and EPTRTA tags; 29.4.3 invalidation by VM entry
 * and exit, INVEPT and INVVPID), 3A 4.10 (INVLPG), INVEPT and INVVPID in
 * SDM 3C 31.3.
 */
#include "hvsim.h"
#include "vmx.h"

#define P2_EPT   (1u << 1)
#define P2_VPID  (1u << 5)
#define F_EPTP   0x201Au
#define EPT_RWX  7ull
#define EPT_WB   (6ull << 3)
#define EPT_PS   (1ull << 7)
#define ADDR     0x000FFFFFFFFFF000ull
#define CR4_PGE  (1ull << 7)

/* the linear pages the groups remap (PML4 slot 255, unused by the boot map) */
#define LA1 0x7F8000000000ull
#define LA2 0x7F8000001000ull

static uint8_t guest_stack[8192] __attribute__((aligned(4096)));
static volatile uint64_t page_a[512] __attribute__((aligned(4096)));
static volatile uint64_t page_b[512] __attribute__((aligned(4096)));
static volatile uint64_t page_c[512] __attribute__((aligned(4096)));
static volatile uint64_t page_d[512] __attribute__((aligned(4096)));
static struct vmx_regs g;
static bool launched;
static uint64_t *ept_pml4, eptp;

extern char g_read[], g_read2[], g_change[], g_vmfunc_seq[], g_vmfunc[];
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(
        ".globl g_read\ng_read: mov (%%rsi), %%rax\n vmcall\n"
        ".globl g_read2\ng_read2: mov (%%rsi), %%rax\n mov (%%rdi), %%rbx\n vmcall\n"
        /* read, rewrite the PTE at (%rdx) with %rcx, read again, INVLPG, read again */
        ".globl g_change\ng_change: mov (%%rsi), %%rax\n mov %%rcx, (%%rdx)\n mov (%%rsi), %%rbx\n"
        " invlpg (%%rsi)\n mov (%%rsi), %%r8\n vmcall\n"
        /* read, switch to EPTP 1, read, switch back to EPTP 0, read */
        ".globl g_vmfunc_seq\ng_vmfunc_seq: mov (%%rsi), %%r8\n mov $0, %%eax\n mov $1, %%ecx\n vmfunc\n"
        " mov (%%rsi), %%r9\n mov $0, %%eax\n xor %%ecx, %%ecx\n vmfunc\n mov (%%rsi), %%r10\n vmcall\n"
        ".globl g_vmfunc\ng_vmfunc: vmfunc\n vmcall\n"
        ::: "memory");
}

static uint64_t pa_of(volatile void *p) { return (uint64_t)(uintptr_t)p; }

/* ---- guest page tables: the host's, plus slot 255 mapping LA1 and LA2 ---- */

struct root { uint64_t *pml4, *pt; };

static struct root make_root(uint64_t pa1, uint64_t pa2, uint64_t extra)
{
    struct root r;
    r.pml4 = hv_page_alloc();
    memcpy(r.pml4, (const void *)(uintptr_t)(read_cr3() & ADDR), 4096);
    uint64_t *pdpt = hv_page_alloc(), *pd = hv_page_alloc();
    r.pt = hv_page_alloc();
    r.pml4[255] = pa_of(pdpt) | PTE_P | PTE_W;
    pdpt[0] = pa_of(pd) | PTE_P | PTE_W;
    pd[0] = pa_of(r.pt) | PTE_P | PTE_W;
    r.pt[0] = pa1 | PTE_P | PTE_W | PTE_A | PTE_D | extra;
    r.pt[1] = pa2 | PTE_P | PTE_W | PTE_A | PTE_D;
    return r;
}

static void ept_build(void)
{
    ept_pml4 = hv_page_alloc();
    uint64_t *pdpt = hv_page_alloc();
    ept_pml4[0] = pa_of(pdpt) | EPT_RWX;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (i << 30) | EPT_RWX | EPT_WB | EPT_PS;
    eptp = pa_of(ept_pml4) | 6 | (3 << 3);
}

/* The EPT PTE of gpa (its 1-GiB and 2-MiB leaves split on the way). */
static uint64_t *ept_pte(uint64_t gpa)
{
    uint64_t *e = &ept_pml4[(gpa >> 39) & 511];
    for (int l = 3; l >= 1; l--) {
        uint64_t *t = (uint64_t *)(uintptr_t)(*e & ADDR);
        e = &t[(gpa >> (12 + 9 * (l - 1))) & 511];
        if (l > 1 && (*e & EPT_PS)) {
            uint64_t *nt = hv_page_alloc();
            uint64_t child = 1ull << (12 + 9 * (l - 2));
            for (uint64_t k = 0; k < 512; k++)
                nt[k] = ((*e & ADDR) + k * child) | EPT_RWX | EPT_WB | (l - 1 > 1 ? EPT_PS : 0);
            *e = pa_of(nt) | EPT_RWX;
        }
    }
    return e;
}

static void setup(uint32_t proc2, uint16_t vpid)
{
    vmx_init_controls(0, 0, proc2, 0, 0);
    if (proc2 & P2_EPT)
        vmw(F_EPTP, eptp);
    if (proc2 & P2_VPID)
        vmw(F_VPID, vpid);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_read, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
}

static uint64_t run(const void *rip)
{
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, 0x2);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    uint64_t reason = vmr(F_EXIT_REASON);
    T_ASSERT(reason == 18, "exit reason %llu, expected VMCALL (18)", (unsigned long long)reason);
    return g.rax;
}

/* The guest reads la; print what it saw. */
static uint64_t guest_reads(const char *when, uint64_t la)
{
    g.rsi = la;
    uint64_t v = run(g_read);
    hv_printf("%s: the guest reads %#llx\n", when, (unsigned long long)v);
    return v;
}

static void invept(uint64_t type, uint64_t ptr)
{
    uint64_t desc[2] = { ptr, 0 };
    T_ASSERT(vmx_status(invept_flags(type, desc)) == VMX_OK, "INVEPT type %llu", (unsigned long long)type);
}

static void invvpid(uint64_t type, uint16_t vpid, uint64_t la)
{
    uint64_t desc[2] = { vpid, la };
    T_ASSERT(vmx_status(invvpid_flags(type, desc)) == VMX_OK, "INVVPID type %llu", (unsigned long long)type);
}

static void fill_pages(void)
{
    page_a[0] = 0xA;
    page_b[0] = 0xB;
    page_c[0] = 0xC;
    page_d[0] = 0xD;
}

/* ---- groups ---- */

static void group_ept(void)
{
    ept_build();
    setup(P2_EPT, 0);
    fill_pages();
    uint64_t *pte = ept_pte(pa_of(page_a));
    guest_reads("EPT maps page A's guest-physical page to A", pa_of(page_a));
    *pte = pa_of(page_b) | EPT_RWX | EPT_WB;
    guest_reads("remapped to page B without INVEPT", pa_of(page_a));
    /* another EPTP (a different EPT PML4 address) */
    uint64_t other = pa_of(hv_page_alloc()) | 6 | (3 << 3);
    invept(1, other);
    guest_reads("after INVEPT single-context of another EPTP", pa_of(page_a));
    invept(1, eptp);
    guest_reads("after INVEPT single-context of this EPTP", pa_of(page_a));
    *pte = pa_of(page_a) | EPT_RWX | EPT_WB;
    guest_reads("remapped back to page A without INVEPT", pa_of(page_a));
    invept(2, 0);
    guest_reads("after INVEPT all-context", pa_of(page_a));
}

static void group_vpid_reuse(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), 0), t2 = make_root(pa_of(page_b), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    guest_reads("VPID 1, tables mapping LA1 to page A", LA1);
    vmw(F_GUEST_CR3, pa_of(t2.pml4));
    guest_reads("VPID 1, guest CR3 switched to tables mapping LA1 to page B, no INVVPID", LA1);
    invvpid(1, 1, 0);
    guest_reads("after INVVPID single-context of VPID 1", LA1);
}

static void group_vpid_individual(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), 0), t2 = make_root(pa_of(page_b), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    g.rsi = LA1;
    g.rdi = LA2;
    run(g_read2);
    hv_printf("tables 1: LA1 -> %#llx, LA2 -> %#llx\n", (unsigned long long)g.rax, (unsigned long long)g.rbx);
    vmw(F_GUEST_CR3, pa_of(t2.pml4));
    invvpid(0, 1, LA1);
    g.rsi = LA1;
    g.rdi = LA2;
    run(g_read2);
    hv_printf("tables 2 after INVVPID individual-address of LA1: LA1 -> %#llx, LA2 -> %#llx\n",
              (unsigned long long)g.rax, (unsigned long long)g.rbx);
}

static void group_vpid_other(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), 0), t2 = make_root(pa_of(page_b), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    guest_reads("VPID 1, LA1 mapped to page A", LA1);
    vmw(F_GUEST_CR3, pa_of(t2.pml4));
    invvpid(1, 2, 0);
    guest_reads("switched to page B, INVVPID single-context of VPID 2", LA1);
    invvpid(2, 0, 0);
    guest_reads("after INVVPID all-context", LA1);
}

static void group_vpid_globals(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    vmw(F_GUEST_CR4, read_cr4() | CR4_PGE);
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), PTE_G), t2 = make_root(pa_of(page_b), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    guest_reads("VPID 1, LA1 mapped to page A by a global PTE (CR4.PGE = 1)", LA1);
    vmw(F_GUEST_CR3, pa_of(t2.pml4));
    invvpid(3, 1, 0);
    guest_reads("switched to page B, INVVPID single-context retaining globals", LA1);
    invvpid(1, 1, 0);
    guest_reads("after INVVPID single-context", LA1);
}

static void group_no_vpid(void)
{
    setup(0, 0);
    fill_pages();
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), 0), t2 = make_root(pa_of(page_b), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    guest_reads("no VPID, LA1 mapped to page A", LA1);
    vmw(F_GUEST_CR3, pa_of(t2.pml4));
    guest_reads("guest CR3 switched to tables mapping LA1 to page B, no INVVPID", LA1);
}

static void group_host_stale(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    /* the host maps LA1 to page A in its own tables and reads it */
    hv_map(LA1, pa_of(page_a), PTE_P | PTE_W | PTE_A | PTE_D);
    hv_printf("host reads LA1: %#llx\n", (unsigned long long)*(volatile uint64_t *)(uintptr_t)LA1);
    /* rewrite the host PTE without INVLPG */
    *hv_pte(LA1) = pa_of(page_b) | PTE_P | PTE_W | PTE_A | PTE_D;
    struct root t1 = make_root(pa_of(page_c), pa_of(page_d), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    guest_reads("a guest with VPID 1 runs", LA1);
    hv_printf("host reads LA1 after the guest ran, its PTE changed without INVLPG: %#llx\n",
              (unsigned long long)*(volatile uint64_t *)(uintptr_t)LA1);
    invlpg((void *)(uintptr_t)LA1);
    hv_printf("host reads LA1 after INVLPG: %#llx\n", (unsigned long long)*(volatile uint64_t *)(uintptr_t)LA1);
}

static void group_guest_invlpg(void)
{
    setup(P2_VPID, 1);
    fill_pages();
    struct root t1 = make_root(pa_of(page_a), pa_of(page_c), 0);
    vmw(F_GUEST_CR3, pa_of(t1.pml4));
    g.rsi = LA1;
    g.rdx = pa_of(&t1.pt[0]);
    g.rcx = pa_of(page_b) | PTE_P | PTE_W | PTE_A | PTE_D;
    run(g_change);
    hv_printf("the guest reads LA1: %#llx; rewrites its PTE to page B and reads %#llx; after INVLPG %#llx\n",
              (unsigned long long)g.rax, (unsigned long long)g.rbx, (unsigned long long)g.r8);
}

#define P2_VMFUNC        (1u << 13)
#define F_VMFUNC_CTLS    0x2018u
#define F_EPTP_LIST      0x2024u

static void group_vmfunc(void)
{
    fill_pages();
    /* EPT 0: identity; EPT 1: the same, with page A's guest-physical page
     * mapped to page B */
    ept_build();
    uint64_t eptp0 = eptp;
    uint64_t *saved = ept_pml4;
    ept_build();
    uint64_t eptp1 = eptp;
    *ept_pte(pa_of(page_a)) = pa_of(page_b) | EPT_RWX | EPT_WB;
    ept_pml4 = saved;
    eptp = eptp0;
    uint64_t *list = hv_page_alloc();
    list[0] = eptp0;
    list[1] = eptp1;
    list[2] = eptp0 | (1ull << 7);                 /* EPTP bits 11:7 reserved: VM entry would refuse it */
    setup(P2_EPT | P2_VMFUNC, 0);
    vmw(F_VMFUNC_CTLS, 1);                         /* EPTP switching */
    vmw(F_EPTP_LIST, pa_of(list));
    g.rsi = pa_of(page_a);
    uint64_t r = run(g_vmfunc_seq);
    hv_printf("EPTP 0 reads %#llx; after VMFUNC to EPTP 1 %#llx; back to EPTP 0 %#llx (no VM exit between)\n",
              (unsigned long long)g.r8, (unsigned long long)g.r9, (unsigned long long)g.r10);
    (void)r;
    T_CHECK_EQ(g.r8, 0xA);
    T_CHECK_EQ(g.r9, 0xB);
    T_CHECK_EQ(g.r10, 0xA);
    hv_printf("EPT pointer field after the guest switched back: EPTP 0: %s\n", hv_yn(vmr(F_EPTP) == eptp0));
    static const struct { const char *what; uint64_t eax, ecx; } bad[] = {
        { "VMFUNC EPTP switching to a list entry VM entry would refuse", 0, 2 },
        { "VMFUNC EPTP switching with index 512", 0, 512 },
        { "VMFUNC function 1 (not enabled in the VM-function controls)", 1, 0 },
    };
    for (unsigned i = 0; i < 3; i++) {
        g.rax = bad[i].eax;
        g.rcx = bad[i].ecx;
        vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)g_vmfunc);
        vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
        uint64_t e = vmx_enter(&g, 1);
        T_ASSERT(!VMX_ENTER_FAILED(e), "VM entry failed");
        uint64_t reason = vmr(F_EXIT_REASON), rip = vmr(F_GUEST_RIP), len = vmr(F_EXIT_INSN_LEN);
        hv_printf("%s: exit %llu, at the VMFUNC: %s, length %llu, EPTP unchanged: %s\n", bad[i].what,
                  (unsigned long long)reason, hv_yn(rip == (uint64_t)(uintptr_t)g_vmfunc), (unsigned long long)len,
                  hv_yn(vmr(F_EPTP) == eptp0));
        T_CHECK_EQ(reason, 59);
        T_CHECK_EQ(rip, (uint64_t)(uintptr_t)g_vmfunc);
        T_CHECK_EQ(len, 3);
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    (void)vmx_on_with_vmcs();
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "ept", group_ept }, { "vpid-reuse", group_vpid_reuse }, { "vpid-individual", group_vpid_individual },
        { "vpid-other", group_vpid_other }, { "vpid-globals", group_vpid_globals }, { "no-vpid", group_no_vpid },
        { "host-stale", group_host_stale }, { "guest-invlpg", group_guest_invlpg }, { "vmfunc", group_vmfunc },
    };
    for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (hv_cmdline_is(bi, groups[i].name)) {
            groups[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline ept|vpid-reuse|vpid-individual|vpid-other|vpid-globals|no-vpid|host-stale|"
              "guest-invlpg|vmfunc\n");
    hv_exit(1);
}
