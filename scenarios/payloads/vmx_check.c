/*
 * vmx_check — one VM entry with a VMCS the command line spoils, for the
 * scenarios that prove each VM-entry check (scenarios/vmx/checks/; SDM 3C
 * "VM Entries": checks on the VMX controls, on the host-state area, on the
 * guest-state area).
 *
 * The payload builds a VMCS that enters a 64-bit guest (the guest executes
 * VMCALL), applies the modifications of the boot command line in order,
 * printing one line per modification, executes VMLAUNCH and prints exactly
 * one outcome line, then DONE:
 *
 *   VMfailInvalid
 *   VMfailValid(N)                                  N = VM-instruction error
 *   VM-entry failure: exit reason 0x8000002X, qualification Q
 *   VM exit: reason R                               R decimal (18 = VMCALL)
 *
 * It prints what happened; the scenario says what must happen.
 *
 * Command line: words separated by spaces, applied left to right.
 *   set:T=V       target T := V
 *   or:T=V        target T |= V
 *   clear:T=V     target T &= ~V
 *     T is a VMCS field encoding (VMREAD/VMWRITE), or pdpteN (N = 0..3:
 *     entry N of the PAE guest's page-directory-pointer table in memory,
 *     after guest-pae).
 *   msrload:I=V   append {MSR I, value V} to the VM-entry MSR-load list
 *                 (a 16-byte aligned area; address and count fields set)
 *   link:V        a fresh 4-KiB region whose first 32 bits are V becomes
 *                 the VMCS link pointer
 *   guest32       a 32-bit protected-mode guest with 32-bit paging (4-MiB
 *                 pages identity-mapping 4 GiB): "IA-32e mode guest" 0,
 *                 CR4.PSE 1, PAE/PCIDE 0, CS D/B 1 and L 0
 *   guest-pae     the same with PAE paging (four valid PDPTEs, 2-MiB pages)
 *   v86           CS, SS, DS, ES, FS, GS in virtual-8086 form (base =
 *                 selector * 16, limit FFFFH, access rights F3H) and
 *                 RFLAGS.VM 1
 *   vmclear       VMCLEAR the current VMCS (VMLAUNCH then has none)
 * V (and I) is a sum of terms joined by + or -; a term is a number
 * (decimal or 0x hex), `page` (a fresh zeroed 4-KiB page), `vmcs` (the
 * current VMCS), `rev` (IA32_VMX_BASIC[30:0]) or `maxphy` (2^MAXPHYADDR).
 * Writes to HOST_RSP (6C14H) and HOST_RIP (6C16H) are made right before
 * VMLAUNCH, after the entry stub has written its own values (at most 4).
 *
 * The 64-bit guest executes VMCALL (exit reason 18); guest32 and guest-pae
 * point guest RIP at a 32-bit guest that executes CPUID (exit reason 10).
 * A malformed command line prints a usage line and exits 1; so does a
 * VMWRITE that fails (e.g. to a field the profile does not have).
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));

/* The guests: VMCALL (exit 18) for the 64-bit guest; CPUID (exit 10) for
 * the 32-bit ones, as hvsim models VMCALL in 64-bit mode only so far. */
extern char check_guest[], check_guest32[];
__asm__(".text\n"
        ".globl check_guest\n"
        "check_guest: vmcall\n"
        "1: jmp 1b\n"
        ".code32\n"
        ".globl check_guest32\n"
        "check_guest32: cpuid\n"
        "2: jmp 2b\n"
        ".code64\n");

/* uint64_t check_launch(const uint64_t *late, uint64_t n)
 * Writes HOST_RSP (this frame) and HOST_RIP (check_exit), then the n
 * (encoding, value) pairs of late, then VMLAUNCH. Returns 0 after a VM exit
 * or a VM-entry failure (both arrive at HOST_RIP), RFLAGS with bit 63 set
 * when VMLAUNCH itself failed. The guest only executes VMCALL, so no guest
 * register needs saving. */
uint64_t check_launch(const uint64_t *late, uint64_t n);
__asm__(".intel_syntax noprefix\n"
        ".text\n"
        ".globl check_launch\n"
        "check_launch:\n"
        "    push rbp\n push rbx\n push r12\n push r13\n push r14\n push r15\n"
        "    mov eax, 0x6C14\n vmwrite rax, rsp\n"
        "    mov eax, 0x6C16\n lea rdx, [rip + check_exit]\n vmwrite rax, rdx\n"
        "2:  test rsi, rsi\n jz 3f\n"
        "    mov rax, [rdi]\n mov rdx, [rdi + 8]\n vmwrite rax, rdx\n"
        "    add rdi, 16\n dec rsi\n jmp 2b\n"
        "3:  vmlaunch\n"
        "    pushfq\n pop rax\n bts rax, 63\n jmp 4f\n"
        "check_exit:\n"
        "    xor eax, eax\n"
        "4:  pop r15\n pop r14\n pop r13\n pop r12\n pop rbx\n pop rbp\n"
        "    ret\n"
        ".att_syntax prefix\n");

static const char usage[] =
    "usage: --cmdline '[set|or|clear]:FIELD=V ... or:pdpteN=V msrload:MSR=V link:V guest32 guest-pae v86 vmclear' "
    "(V: number, page, vmcs, rev, maxphy, joined by + or -)\n";

static __attribute__((noreturn)) void bad(const char *word)
{
    hv_printf("bad command-line word '%s'\n", word);
    hv_puts(usage);
    hv_exit(1);
}

static uint64_t vmcs_pa;
static unsigned maxphyaddr;
static uint64_t *pdpt;                              /* the PAE guest's PDPT (guest-pae) */
static uint64_t *msr_area;                          /* the VM-entry MSR-load list */
static unsigned msr_count;
static uint64_t late[8];                            /* HOST_RSP/HOST_RIP writes, for check_launch */
static unsigned nlate;

/* A number: decimal or 0x hexadecimal, the whole string. */
static bool number(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (!n)
        return false;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n; i++) {
            char c = s[i];
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
            if (d > 15 || i >= 18)
                return false;
            x = x << 4 | d;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            x = x * 10 + (uint64_t)(s[i] - '0');
        }
    }
    *v = x;
    return true;
}

static bool word_is(const char *s, size_t n, const char *w) { return strlen(w) == n && !memcmp(s, w, n); }

/* A value: terms joined by + or -. */
static bool value(const char *s, uint64_t *out)
{
    uint64_t acc = 0;
    int sign = 1;
    while (*s) {
        size_t n = 0;
        while (s[n] && s[n] != '+' && s[n] != '-')
            n++;
        uint64_t t;
        if (word_is(s, n, "page"))
            t = (uint64_t)(uintptr_t)hv_page_alloc();
        else if (word_is(s, n, "vmcs"))
            t = vmcs_pa;
        else if (word_is(s, n, "rev"))
            t = vmx_revision();
        else if (word_is(s, n, "maxphy"))
            t = 1ull << maxphyaddr;
        else if (!number(s, n, &t))
            return false;
        acc += sign > 0 ? t : -t;
        s += n;
        if (!*s)
            break;
        sign = *s == '+' ? 1 : -1;
        s++;
        if (!*s)
            return false;
    }
    *out = acc;
    return true;
}

static void write_field(uint32_t enc, uint64_t v)
{
    if (enc == F_HOST_RSP || enc == F_HOST_RIP) {
        if (nlate >= sizeof(late) / sizeof(late[0])) {
            hv_printf("more than %u writes to HOST_RSP/HOST_RIP\n", (unsigned)(sizeof(late) / sizeof(late[0]) / 2));
            hv_puts(usage);
            hv_exit(1);
        }
        late[nlate++] = enc;
        late[nlate++] = v;
        return;
    }
    uint64_t f = vmwrite_flags(enc, v);
    if (vmx_status(f) != VMX_OK) {
        int s = vmx_status(f);
        hv_printf("VMWRITE %#x = %#llx failed: %s", enc, (unsigned long long)v, vmx_status_name(s));
        if (s == VMX_FAIL_VALID)
            hv_printf("(%llu)", (unsigned long long)vmx_insn_error());
        hv_printf("\n");
        hv_exit(1);
    }
}

static uint64_t read_field(uint32_t enc)
{
    uint64_t v;
    uint64_t f = vmread_flags(enc, &v);
    if (vmx_status(f) != VMX_OK) {
        int s = vmx_status(f);
        hv_printf("VMREAD %#x failed: %s", enc, vmx_status_name(s));
        if (s == VMX_FAIL_VALID)
            hv_printf("(%llu)", (unsigned long long)vmx_insn_error());
        hv_printf("\n");
        hv_exit(1);
    }
    return v;
}

/* The 32-bit guests: "IA-32e mode guest" 0, CS a 32-bit code segment. */
static void guest_legacy(uint64_t cr3, uint64_t cr4_set, uint64_t cr4_clear)
{
    write_field(F_ENTRY_CTLS, read_field(F_ENTRY_CTLS) & ~ENTRY_IA32E_GUEST);
    write_field(F_GUEST_CR3, cr3);
    write_field(F_GUEST_CR4, (read_field(F_GUEST_CR4) & ~cr4_clear) | cr4_set);
    write_field(F_GUEST_CS_AR, 0xC09B);                /* execute/read accessed, S, P, D/B, G */
    write_field(F_GUEST_RIP, (uint64_t)(uintptr_t)check_guest32);
}

#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)

static void apply_guest32(void)
{
    uint32_t *pd = hv_page_alloc();
    for (unsigned i = 0; i < 1024; i++)
        pd[i] = (i << 22) | 0x83;                       /* 4-MiB page: P, R/W, PS */
    guest_legacy((uint64_t)(uintptr_t)pd, CR4_PSE, CR4_PAE | CR4_PCIDE);
    hv_printf("modify: guest32: 32-bit protected-mode guest, 32-bit paging (4-MiB pages), CR3 %#llx, guest RIP at CPUID\n",
              (unsigned long long)(uintptr_t)pd);
}

static void apply_guest_pae(void)
{
    pdpt = hv_page_alloc();
    for (unsigned i = 0; i < 4; i++) {
        uint64_t *pd = hv_page_alloc();
        for (unsigned j = 0; j < 512; j++)
            pd[j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | 0x83;   /* 2-MiB page: P, R/W, PS */
        pdpt[i] = (uint64_t)(uintptr_t)pd | 1;          /* present, no other bit */
    }
    guest_legacy((uint64_t)(uintptr_t)pdpt, CR4_PAE, CR4_PCIDE);
    hv_printf("modify: guest-pae: 32-bit protected-mode guest, PAE paging (2-MiB pages), CR3 %#llx, guest RIP at CPUID\n",
              (unsigned long long)(uintptr_t)pdpt);
}

static void apply_v86(void)
{
    for (unsigned s = 0; s < 6; s++) {
        uint64_t sel = read_field(F_GUEST_ES_SEL + 2 * s);
        write_field(F_GUEST_ES_BASE + 2 * s, sel << 4);
        write_field(F_GUEST_ES_LIMIT + 2 * s, 0xFFFF);
        write_field(F_GUEST_ES_AR + 2 * s, 0xF3);
    }
    write_field(F_GUEST_RFLAGS, read_field(F_GUEST_RFLAGS) | (1ull << 17));
    hv_printf("modify: v86: CS, SS, DS, ES, FS, GS base = selector * 16, limit 0xffff, access rights 0xf3; "
              "RFLAGS.VM = 1\n");
}

/* One word of the command line (NUL-terminated copy). */
static void apply(char *w)
{
    if (!strcmp(w, "guest32")) {
        apply_guest32();
        return;
    }
    if (!strcmp(w, "guest-pae")) {
        apply_guest_pae();
        return;
    }
    if (!strcmp(w, "v86")) {
        apply_v86();
        return;
    }
    if (!strcmp(w, "vmclear")) {
        uint64_t f = vmclear_flags(vmcs_pa);
        hv_printf("modify: vmclear: VMCLEAR of the current VMCS %#llx: %s\n", (unsigned long long)vmcs_pa,
                  vmx_status_name(vmx_status(f)));
        return;
    }
    char *colon = w;
    while (*colon && *colon != ':')
        colon++;
    if (!*colon)
        bad(w);
    *colon = 0;
    char *arg = colon + 1, *op = w;
    if (!strcmp(op, "link")) {
        uint64_t v;
        if (!value(arg, &v))
            bad(arg);
        uint32_t *region = hv_page_alloc();
        region[0] = (uint32_t)v;
        write_field(F_VMCS_LINK, (uint64_t)(uintptr_t)region);
        hv_printf("modify: link: VMCS link pointer = %#llx, a region starting with %#x\n",
                  (unsigned long long)(uintptr_t)region, (uint32_t)v);
        return;
    }
    char *eq = arg;
    while (*eq && *eq != '=')
        eq++;
    if (!*eq)
        bad(arg);
    *eq = 0;
    char *target = arg, *val = eq + 1;
    uint64_t v;
    if (!value(val, &v))
        bad(val);
    if (!strcmp(op, "msrload")) {
        uint64_t idx;
        if (!value(target, &idx) || idx >> 32 || msr_count >= 256)
            bad(target);
        if (!msr_area)
            msr_area = hv_page_alloc();
        msr_area[2 * msr_count] = idx;
        msr_area[2 * msr_count + 1] = v;
        msr_count++;
        write_field(F_ENTRY_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)msr_area);
        write_field(F_ENTRY_MSR_LOAD_COUNT, msr_count);
        hv_printf("modify: msrload: VM-entry MSR-load entry %u = MSR %#llx value %#llx (area %#llx)\n", msr_count,
                  (unsigned long long)idx, (unsigned long long)v, (unsigned long long)(uintptr_t)msr_area);
        return;
    }
    int kind = !strcmp(op, "set") ? 0 : !strcmp(op, "or") ? 1 : !strcmp(op, "clear") ? 2 : -1;
    if (kind < 0)
        bad(op);
    static const char *const opname[] = { "set", "or", "clear" };
    if (!memcmp(target, "pdpte", 5) && target[5] >= '0' && target[5] <= '3' && !target[6]) {
        if (!pdpt)
            bad(target);
        unsigned i = (unsigned)(target[5] - '0');
        uint64_t old = pdpt[i];
        pdpt[i] = kind == 0 ? v : kind == 1 ? old | v : old & ~v;
        hv_printf("modify: %s PDPTE%u (at %#llx): %#llx -> %#llx\n", opname[kind], i,
                  (unsigned long long)(uintptr_t)&pdpt[i], (unsigned long long)old, (unsigned long long)pdpt[i]);
        return;
    }
    uint64_t enc;
    if (!value(target, &enc) || enc >> 32)
        bad(target);
    uint64_t old = enc == F_HOST_RSP || enc == F_HOST_RIP ? 0 : read_field((uint32_t)enc);
    uint64_t nv = kind == 0 ? v : kind == 1 ? old | v : old & ~v;
    write_field((uint32_t)enc, nv);
    if (enc == F_HOST_RSP || enc == F_HOST_RIP)
        hv_printf("modify: %s field %#llx = %#llx (written right before VMLAUNCH)\n", opname[kind],
                  (unsigned long long)enc, (unsigned long long)nv);
    else
        hv_printf("modify: %s field %#llx: %#llx -> %#llx\n", opname[kind], (unsigned long long)enc,
                  (unsigned long long)old, (unsigned long long)nv);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    uint32_t r[4];
    hv_cpuid(0x80000008, 0, r);
    maxphyaddr = r[0] & 0xFF;

    vmx_enable();
    uint64_t vmxon_region = vmx_region();
    vmcs_pa = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    T_ASSERT(vmx_status(vmclear_flags(vmcs_pa)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs_pa)) == VMX_OK, "VMPTRLD");
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)check_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));

    /* the modifications, word by word */
    static char line[1024];
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    size_t n = c ? strlen(c) : 0;
    if (n >= sizeof(line)) {
        hv_printf("command line too long (%llu bytes)\n", (unsigned long long)n);
        hv_puts(usage);
        hv_exit(1);
    }
    memcpy(line, c ? c : "", n + 1);
    for (char *p = line; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *w = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = 0;
        apply(w);
    }

    /* VMLAUNCH and its one outcome */
    uint64_t res = check_launch(late, nlate / 2);
    if (VMX_ENTER_FAILED(res)) {
        int s = vmx_status(res);
        if (s == VMX_FAIL_VALID)
            hv_printf("VMfailValid(%llu)\n", (unsigned long long)vmx_insn_error());
        else
            hv_printf("%s\n", vmx_status_name(s));
    } else {
        uint64_t reason = read_field(F_EXIT_REASON);
        if (reason >> 31)
            hv_printf("VM-entry failure: exit reason %#llx, qualification %llu\n", (unsigned long long)reason,
                      (unsigned long long)read_field(F_EXIT_QUALIFICATION));
        else
            hv_printf("VM exit: reason %llu\n", (unsigned long long)reason);
    }
    T_DONE();
}
