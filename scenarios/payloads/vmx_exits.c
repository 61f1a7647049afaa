/*
 * vmx_exits — the instruction VM exits and their exit information: a
 * hypervisor-shaped payload (like vmx_guest) whose 64-bit guest runs one
 * instruction at a time. The command line picks a group; each step sets
 * the controls, points the guest at a snippet "<instruction>; vmcall",
 * enters, and checks what came back: the exit reason, qualification,
 * instruction length, instruction information, guest-linear address — or,
 * where the control says no exit, the instruction's effect seen by the
 * guest (read shadows, masked bits kept, the TSC offset) and the VMCALL
 * after it.
 *   cr0      CR0 guest/host mask and read shadow: MOV from/to CR0, SMSW, CLTS, LMSW
 *   cr4      CR4 guest/host mask and read shadow
 *   cr3      CR3-load exiting with the CR3-target list, CR3-store exiting
 *   cr8      CR8-load and CR8-store exiting
 *   dr       MOV-DR exiting
 *   invlpg   INVLPG exiting (INVLPG, INVPCID), "enable INVPCID"
 *   desc     descriptor-table exiting (LGDT, LIDT, SGDT, SIDT, LLDT, LTR, SLDT, STR)
 *   rdrand   RDRAND and RDSEED exiting
 *   tsc      TSC offsetting (RDTSC, RDTSCP, RDMSR of IA32_TIME_STAMP_COUNTER), RDTSC exiting
 *   strio    string I/O (INS/OUTS, REP) exits and the I/O bitmaps
 *   vmxinsn  the VMX instructions in VMX non-root operation
 *   cpl3     a ring-3 guest: the faults ranked before VM exits (#GP for the
 *            privilege level and the I/O permission bitmap, seen as exception
 *            exits through the exception bitmap) and the exits that come first
 *            (MOV DR, CPUID, the VMX instructions)
 *
 * SDM 3C "VMX Non-Root Operation" (instructions that cause VM exits
 * conditionally and unconditionally; changes to instruction behavior), "VM
 * Exits" (exit qualifications, VM-exit instruction length and
 * instruction-information field, guest-linear address), 3D appendix C.
 *
 * Only what the SDM defines is printed and checked: the instruction
 * information with the bits it leaves undefined for that instruction and
 * operand cleared (ii_defined), and the guest-linear address only where it
 * is defined (string I/O, LMSW with a memory operand).
 */
#include "hvsim.h"
#include "vmx.h"

/* controls this payload uses (SDM 3C "VM-Execution Control Fields") */
#define P_TSC_OFFSET  (1u << 3)
#define P_INVLPG      (1u << 9)
#define P_RDTSC       (1u << 12)
#define P_CR3_LOAD    (1u << 15)
#define P_CR3_STORE   (1u << 16)
#define P_CR8_LOAD    (1u << 19)
#define P_CR8_STORE   (1u << 20)
#define P_MOV_DR      (1u << 23)
#define P_UNCOND_IO   (1u << 24)
#define P2_DESC       (1u << 2)
#define P2_RDTSCP     (1u << 3)
#define P2_RDRAND     (1u << 11)
#define P2_INVPCID    (1u << 12)
#define P2_RDSEED     (1u << 16)
#define F_CR3_TARGET0 0x6008u
#define F_TSC_OFFSET_ 0x2010u

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static uint8_t io_bitmap_a[4096] __attribute__((aligned(4096)));
static uint8_t io_bitmap_b[4096] __attribute__((aligned(4096)));
static uint8_t msr_bitmap[4096] __attribute__((aligned(4096)));
__attribute__((used)) static uint8_t scratch[64] __attribute__((aligned(16)));
__attribute__((used)) static char text[] = "guest OUTS\n";

#define GUEST(name) extern char name[]
/* the snippets: each is one instruction, then VMCALL */
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(
        ".globl g_mov_from_cr0\ng_mov_from_cr0: mov %%cr0, %%rax\n vmcall\n"
        ".globl g_smsw_reg\ng_smsw_reg: smsw %%rcx\n vmcall\n"
        ".globl g_smsw_mem\ng_smsw_mem: smsw (%%rsi)\n vmcall\n"
        ".globl g_mov_to_cr0\ng_mov_to_cr0: mov %%rbx, %%cr0\n vmcall\n"
        ".globl g_clts\ng_clts: clts\n vmcall\n"
        ".globl g_lmsw_reg\ng_lmsw_reg: lmsw %%dx\n vmcall\n"
        ".globl g_lmsw_mem\ng_lmsw_mem: lmsw 6(%%rsi)\n vmcall\n"
        ".globl g_mov_from_cr4\ng_mov_from_cr4: mov %%cr4, %%r9\n vmcall\n"
        ".globl g_mov_to_cr4\ng_mov_to_cr4: mov %%r10, %%cr4\n vmcall\n"
        ".globl g_mov_to_cr3\ng_mov_to_cr3: mov %%r11, %%cr3\n vmcall\n"
        ".globl g_mov_from_cr3\ng_mov_from_cr3: mov %%cr3, %%rcx\n vmcall\n"
        ".globl g_mov_to_cr8\ng_mov_to_cr8: mov %%r12, %%cr8\n vmcall\n"
        ".globl g_mov_from_cr8\ng_mov_from_cr8: mov %%cr8, %%rdx\n vmcall\n"
        ".globl g_mov_from_dr7\ng_mov_from_dr7: mov %%dr7, %%rax\n vmcall\n"
        ".globl g_mov_to_dr0\ng_mov_to_dr0: mov %%r13, %%dr0\n vmcall\n"
        ".globl g_mov_from_dr0\ng_mov_from_dr0: mov %%dr0, %%r14\n vmcall\n"
        ".globl g_mov_from_dr4\ng_mov_from_dr4: mov %%dr4, %%rsi\n vmcall\n"
        ".globl g_invlpg\ng_invlpg: invlpg 0x40(%%rax)\n vmcall\n"
        ".globl g_invpcid\ng_invpcid: invpcid 0x20(%%rbx,%%rsi,8), %%rdx\n vmcall\n"
        ".globl g_sgdt\ng_sgdt: sgdt (%%rax)\n vmcall\n"
        ".globl g_sidt\ng_sidt: sidt %%gs:0x10(%%rax,%%rcx,2)\n vmcall\n"
        ".globl g_lgdt\ng_lgdt: lgdt scratch(%%rip)\n vmcall\n"
        ".globl g_lidt\ng_lidt: addr32 lidt -0x20(%%ebp)\n vmcall\n"
        ".globl g_sldt_reg\ng_sldt_reg: sldt %%r8d\n vmcall\n"
        ".globl g_str_mem\ng_str_mem: str 0x8(,%%rdi,4)\n vmcall\n"
        ".globl g_lldt_reg\ng_lldt_reg: lldt %%cx\n vmcall\n"
        ".globl g_ltr_mem\ng_ltr_mem: ltr (%%rsp)\n vmcall\n"
        ".globl g_rdrand32\ng_rdrand32: rdrand %%ecx\n vmcall\n"
        ".globl g_rdrand64\ng_rdrand64: rdrand %%r9\n vmcall\n"
        ".globl g_rdseed16\ng_rdseed16: rdseed %%ax\n vmcall\n"
        ".globl g_rdtsc\ng_rdtsc: rdtsc\n vmcall\n"
        ".globl g_rdtscp\ng_rdtscp: rdtscp\n vmcall\n"
        ".globl g_rdmsr\ng_rdmsr: rdmsr\n vmcall\n"
        ".globl g_rep_outsb\ng_rep_outsb: rep outsb\n vmcall\n"
        ".globl g_insw\ng_insw: insw\n vmcall\n"
        ".globl g_outsl_fs\ng_outsl_fs: outsl %%fs:(%%rsi), (%%dx)\n vmcall\n"
        ".globl g_rep_insb32\ng_rep_insb32: addr32 rep insb\n vmcall\n"
        ".globl g_vmclear\ng_vmclear: vmclear 0x8(%%rax)\n vmcall\n"
        ".globl g_vmptrld\ng_vmptrld: vmptrld (%%rsp)\n vmcall\n"
        ".globl g_vmptrst\ng_vmptrst: vmptrst scratch(%%rip)\n vmcall\n"
        ".globl g_vmxon\ng_vmxon: vmxon (%%rbx,%%rcx,8)\n vmcall\n"
        ".globl g_vmread_reg\ng_vmread_reg: vmread %%rax, %%rbx\n vmcall\n"
        ".globl g_vmread_mem\ng_vmread_mem: vmread %%rax, 0x10(%%rdx)\n vmcall\n"
        ".globl g_vmwrite_reg\ng_vmwrite_reg: vmwrite %%rcx, %%rdx\n vmcall\n"
        ".globl g_vmwrite_mem\ng_vmwrite_mem: vmwrite (%%rsi), %%rdi\n vmcall\n"
        ".globl g_invept\ng_invept: invept (%%rax), %%rcx\n vmcall\n"
        ".globl g_invvpid\ng_invvpid: invvpid -8(%%rbp), %%r10\n vmcall\n"
        ::: "memory");
}
/* ring-3 snippets (user-accessible pages, hv_user_init) */
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_mov_to_cr0\nu_mov_to_cr0: mov %rbx, %cr0\n vmcall\n"
        ".globl u_clts\nu_clts: clts\n vmcall\n"
        ".globl u_hlt\nu_hlt: hlt\n vmcall\n"
        ".globl u_rdmsr\nu_rdmsr: rdmsr\n vmcall\n"
        ".globl u_invlpg\nu_invlpg: invlpg (%rax)\n vmcall\n"
        ".globl u_in\nu_in: in $0x80, %al\n vmcall\n"
        ".globl u_rdtsc\nu_rdtsc: rdtsc\n vmcall\n"
        ".globl u_mov_from_dr7\nu_mov_from_dr7: mov %dr7, %rax\n vmcall\n"
        ".globl u_cpuid\nu_cpuid: cpuid\n vmcall\n"
        ".globl u_vmread\nu_vmread: vmread %rax, %rbx\n vmcall\n"
        ".popsection\n");
GUEST(u_mov_to_cr0); GUEST(u_clts); GUEST(u_hlt); GUEST(u_rdmsr); GUEST(u_invlpg); GUEST(u_in); GUEST(u_rdtsc);
GUEST(u_mov_from_dr7); GUEST(u_cpuid); GUEST(u_vmread);
GUEST(g_mov_from_cr0); GUEST(g_smsw_reg); GUEST(g_smsw_mem); GUEST(g_mov_to_cr0); GUEST(g_clts);
GUEST(g_lmsw_reg); GUEST(g_lmsw_mem); GUEST(g_mov_from_cr4); GUEST(g_mov_to_cr4); GUEST(g_mov_to_cr3);
GUEST(g_mov_from_cr3); GUEST(g_mov_to_cr8); GUEST(g_mov_from_cr8); GUEST(g_mov_from_dr7); GUEST(g_mov_to_dr0);
GUEST(g_mov_from_dr0); GUEST(g_mov_from_dr4); GUEST(g_invlpg); GUEST(g_invpcid); GUEST(g_sgdt); GUEST(g_sidt); GUEST(g_lgdt);
GUEST(g_lidt); GUEST(g_sldt_reg); GUEST(g_str_mem); GUEST(g_lldt_reg); GUEST(g_ltr_mem); GUEST(g_rdrand32);
GUEST(g_rdrand64); GUEST(g_rdseed16); GUEST(g_rdtsc); GUEST(g_rdtscp); GUEST(g_rdmsr); GUEST(g_rep_outsb);
GUEST(g_insw); GUEST(g_outsl_fs); GUEST(g_rep_insb32); GUEST(g_vmclear); GUEST(g_vmptrld); GUEST(g_vmptrst);
GUEST(g_vmxon); GUEST(g_vmread_reg); GUEST(g_vmread_mem); GUEST(g_vmwrite_reg); GUEST(g_vmwrite_mem);
GUEST(g_invept); GUEST(g_invvpid);

static struct vmx_regs g;
static bool launched;
static uint64_t host_vmcs;
static volatile unsigned guest_ud, ud_skip = 7;

/* #UD in the guest (it shares the payload's IDT): count it and go on past
 * the faulting instruction (ud_skip bytes) to the snippet's VMCALL. */
static bool on_ud(struct hv_frame *f)
{
    guest_ud++;
    f->rip += ud_skip;
    return true;
}

/* Run the guest at rip with the registers in g; returns the exit reason. */
static uint64_t run_at(const void *rip)
{
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, 0x2);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

#define ANY (~0ull)

/*
 * The VM-exit instruction-information field (SDM 3C 28.2.5, one table per
 * group of instructions) and the bits of it the SDM defines:
 *
 *   31:28  Reg2 (VMREAD/VMWRITE, INVEPT/INVPCID/INVVPID), 29:28 instruction
 *          identity (LGDT.. / LLDT..)
 *   27     base invalid       26:23 base register (undefined when 27 = 1)
 *   22     index invalid      21:18 index register, 1:0 scaling (undefined when 22 = 1)
 *   17:15  segment (not for INS)
 *   12:11  operand size (RDRAND/RDSEED); 11 operand size (LGDT..; undefined
 *          for exits from 64-bit mode)
 *   10     register operand (LLDT.., VMREAD/VMWRITE): then only Reg1, bit 10
 *          and bits 31:28 are defined; for a memory operand Reg1 is undefined.
 *          Cleared to 0 for LGDT.., VMCLEAR.. and INVEPT/INVPCID/INVVPID
 *   9:7    address size
 *   6:3    Reg1 (register operand; RDRAND/RDSEED: the destination)
 *
 * Everything else is undefined; a format names the bits its table defines.
 */
#define II_SCALE   0x00000003u
#define II_REG1    0x00000078u
#define II_ASIZE   0x00000380u
#define II_REG     0x00000400u
#define II_OPSZ2   0x00001800u
#define II_SEG     0x00038000u
#define II_INDEX   0x003C0000u
#define II_NOINDEX 0x00400000u
#define II_BASE    0x07800000u
#define II_NOBASE  0x08000000u
#define II_IDENT   0x30000000u
#define II_REG2    0xF0000000u
#define II_MEM     (II_SCALE | II_ASIZE | II_SEG | II_INDEX | II_NOINDEX | II_BASE | II_NOBASE)
#define F_VMXMEM   (II_MEM | II_REG)                        /* VMCLEAR, VMPTRLD, VMPTRST, VMXON */
#define F_INV      (II_MEM | II_REG | II_REG2)              /* INVEPT, INVPCID, INVVPID */
#define F_VMRW     (II_MEM | II_REG1 | II_REG | II_REG2)    /* VMREAD, VMWRITE */
#define F_DESC64   (II_MEM | II_REG | II_IDENT)             /* LGDT, LIDT, SGDT, SIDT from 64-bit mode */
#define F_LLDT     (II_MEM | II_REG1 | II_REG | II_IDENT)   /* LLDT, LTR, SLDT, STR */
#define F_RDRAND   (II_REG1 | II_OPSZ2)                     /* RDRAND, RDSEED */
#define F_INS      II_ASIZE                                 /* INS (IA32_VMX_BASIC[54] = 1) */
#define F_OUTS     (II_ASIZE | II_SEG)                      /* OUTS (IA32_VMX_BASIC[54] = 1) */

/* The information i with the bits format fmt leaves undefined cleared. */
static uint64_t ii_defined(uint64_t i, uint32_t fmt)
{
    uint32_t m = fmt;
    bool reg_or_mem = (fmt & (II_REG1 | II_REG)) == (II_REG1 | II_REG);
    if (reg_or_mem && (i & II_REG))
        m &= II_REG1 | II_REG | II_IDENT | II_REG2;         /* register operand */
    else {
        if (reg_or_mem)
            m &= ~II_REG1;                                  /* memory operand */
        if (i & II_NOINDEX)
            m &= ~(II_SCALE | II_INDEX);
        if (i & II_NOBASE)
            m &= ~II_BASE;
    }
    return i & m;
}

/* Expect an exit at rip: reason, qualification, length, the information's
 * defined bits (format fmt; 0: not checked) and the guest-linear address
 * (ANY: not checked - the SDM leaves it undefined). */
static void expect_exit_info(const char *what, const void *rip, uint64_t reason, uint64_t qual, uint64_t len,
                             uint32_t fmt, uint64_t info, uint64_t linear)
{
    uint64_t r = run_at(rip);
    uint64_t q = vmr(F_EXIT_QUALIFICATION), l = vmr(F_EXIT_INSN_LEN), i = vmr(F_EXIT_INSN_INFO);
    uint64_t la = vmr(F_GUEST_LINEAR), grip = vmr(F_GUEST_RIP);
    hv_printf("%s: exit %llu, qualification %#llx, length %llu", what, (unsigned long long)r, (unsigned long long)q,
              (unsigned long long)l);
    if (fmt) {
        i = ii_defined(i, fmt);
        info = ii_defined(info, fmt);
        hv_printf(", information %#llx", (unsigned long long)i);
    }
    if (linear != ANY)
        hv_printf(", guest-linear address as expected: %s", hv_yn(la == linear));
    hv_printf(", at the instruction: %s\n", hv_yn(grip == (uint64_t)(uintptr_t)rip));
    T_CHECK_EQ(r, reason);
    T_CHECK_EQ(q, qual);
    T_CHECK_EQ(l, len);
    if (fmt)
        T_CHECK_EQ(i, info);
    if (linear != ANY)
        T_CHECK_EQ(la, linear);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)rip);
}

/* An exit whose instruction information is not looked at. */
static void expect_exit(const char *what, const void *rip, uint64_t reason, uint64_t qual, uint64_t len, uint64_t linear)
{
    expect_exit_info(what, rip, reason, qual, len, 0, 0, linear);
}

/* Expect no exit at rip: the instruction runs and the guest reaches the
 * VMCALL after it (len bytes on). */
static void expect_runs(const char *what, const void *rip, unsigned len)
{
    uint64_t r = run_at(rip);
    uint64_t grip = vmr(F_GUEST_RIP);
    bool ok = r == 18 && grip == (uint64_t)(uintptr_t)rip + len;
    hv_printf("%s: no exit, the guest ran on to its VMCALL: %s\n", what, hv_yn(ok));
    T_CHECK(ok, "exit %llu at %#llx", (unsigned long long)r, (unsigned long long)grip);
}

static void set_proc(uint32_t proc, uint32_t proc2)
{
    vmx_init_controls(0, proc, proc2, 0, 0);
}

/* ---- the groups ---- */

#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)

static void group_cr0(void)
{
    uint64_t cr0 = read_cr0();                     /* the guest starts with the host's CR0 (TS clear) */
    hv_printf("guest CR0 TS=%llu MP=%llu\n", (unsigned long long)(cr0 >> 3) & 1, (unsigned long long)(cr0 >> 1) & 1);
    set_proc(0, 0);
    vmw(F_CR0_MASK, CR0_TS | CR0_MP);
    vmw(F_CR0_SHADOW, CR0_TS);                     /* the guest believes TS=1, MP=0 */
    uint64_t seen = (cr0 & ~(CR0_TS | CR0_MP)) | CR0_TS;
    run_at(g_mov_from_cr0);
    hv_printf("MOV from CR0 (mask TS|MP, shadow TS): no exit, reads the shadow in masked bits: %s\n",
              hv_yn(vmr(F_EXIT_REASON) == 18 && g.rax == seen));
    T_CHECK_EQ(g.rax, seen);
    run_at(g_smsw_reg);
    hv_printf("SMSW r64: reads the shadow in masked bits: %s\n", hv_yn(g.rcx == seen));
    T_CHECK_EQ(g.rcx, seen);
    g.rsi = (uint64_t)(uintptr_t)scratch;
    memset(scratch, 0xEE, 8);
    run_at(g_smsw_mem);
    uint16_t m16 = (uint16_t)(scratch[0] | scratch[1] << 8);
    hv_printf("SMSW m16: stores the low 16 bits with the shadow in masked bits: %s, the next byte untouched: %s\n",
              hv_yn(m16 == (uint16_t)seen), hv_yn(scratch[2] == 0xEE));
    T_CHECK_EQ(m16, (uint16_t)seen);
    T_CHECK_EQ(scratch[2], 0xEE);

    /* MOV to CR0 matching the shadow in TS and MP: no exit, the real TS
     * and MP are kept; an unmasked bit (WP) is written */
    g.rbx = (cr0 | CR0_TS) & ~(CR0_MP | (1ull << 16));
    expect_runs("MOV to CR0 equal to the shadow in masked bits", g_mov_to_cr0, 3);
    uint64_t gcr0 = vmr(F_GUEST_CR0);
    hv_printf("  guest CR0: TS kept clear: %s, MP kept: %s, WP written (cleared): %s\n", hv_yn(!(gcr0 & CR0_TS)),
              hv_yn((gcr0 & CR0_MP) == (cr0 & CR0_MP)), hv_yn(!(gcr0 & (1ull << 16))));
    T_CHECK_EQ(gcr0, (cr0 & ~(1ull << 16)));
    vmw(F_GUEST_CR0, cr0);
    /* differing in a masked bit (TS): exit 28, MOV to CR0 from RBX */
    g.rbx = cr0 & ~CR0_TS;
    expect_exit("MOV to CR0 with TS differing from the shadow", g_mov_to_cr0, 28, 0x300, 3, ANY);
    hv_printf("  guest CR0 unchanged by the exiting MOV: %s\n", hv_yn(vmr(F_GUEST_CR0) == cr0));
    T_CHECK_EQ(vmr(F_GUEST_CR0), cr0);

    /* CLTS: exits iff TS is 1 in mask and shadow */
    expect_exit("CLTS (TS masked, shadow TS=1)", g_clts, 28, 0x20, 2, ANY);
    vmw(F_CR0_SHADOW, 0);
    vmw(F_GUEST_CR0, cr0 | CR0_TS);
    expect_runs("CLTS (TS masked, shadow TS=0)", g_clts, 2);
    hv_printf("  the masked TS is left alone (still 1): %s\n", hv_yn(vmr(F_GUEST_CR0) & CR0_TS));
    T_CHECK(vmr(F_GUEST_CR0) & CR0_TS, "CLTS cleared a masked TS");
    vmw(F_CR0_MASK, CR0_MP);
    expect_runs("CLTS (TS not masked)", g_clts, 2);
    hv_printf("  TS cleared: %s\n", hv_yn(!(vmr(F_GUEST_CR0) & CR0_TS)));
    T_CHECK(!(vmr(F_GUEST_CR0) & CR0_TS), "CLTS left TS set");

    /* LMSW: mask PE|MP|EM|TS = 0xF, shadow PE|MP (0x3) */
    vmw(F_GUEST_CR0, cr0 | CR0_MP);
    vmw(F_CR0_MASK, 0xF);
    vmw(F_CR0_SHADOW, 0x3);
    g.rdx = 0xFFF3;                                /* PE MP, matching the shadow: no exit */
    expect_runs("LMSW 0xfff3 (matches the shadow in PE MP EM TS)", g_lmsw_reg, 3);
    hv_printf("  CR0 bits 3:0 unchanged (all masked): %s\n", hv_yn((vmr(F_GUEST_CR0) & 0xF) == ((cr0 | CR0_MP) & 0xF)));
    T_CHECK_EQ(vmr(F_GUEST_CR0) & 0xF, (cr0 | CR0_MP) & 0xF);
    g.rdx = 0xABC9;                                /* TS set (shadow 0), MP clear (shadow 1): exit */
    expect_exit("LMSW DX = 0xabc9 (TS differs)", g_lmsw_reg, 28, 0xABC90030, 3, ANY);   /* register: no address */
    g.rsi = (uint64_t)(uintptr_t)scratch;
    scratch[6] = 0x0A;                             /* MP TS, PE clear */
    scratch[7] = 0x00;
    expect_exit("LMSW m16 = 0x000a (TS differs)", g_lmsw_mem, 28, 0x000A0070, 4, (uint64_t)(uintptr_t)(scratch + 6));
    /* PE: clearing a masked PE never exits (LMSW cannot clear PE); setting
     * it with the shadow's PE clear does */
    vmw(F_CR0_SHADOW, 0x2);
    g.rdx = 0x0003;
    expect_exit("LMSW 0x0003 (PE masked, set in the source, clear in the shadow)", g_lmsw_reg, 28, 0x00030030, 3,
                ANY);
    g.rdx = 0x0002;
    expect_runs("LMSW 0x0002 (PE masked and clear in source and shadow)", g_lmsw_reg, 3);
    vmw(F_CR0_SHADOW, 0x3);
    expect_runs("LMSW 0x0002 (PE masked, set in the shadow: LMSW cannot clear PE)", g_lmsw_reg, 3);
    hv_printf("  CR0.PE still 1: %s\n", hv_yn(vmr(F_GUEST_CR0) & 1));
    T_CHECK(vmr(F_GUEST_CR0) & 1, "LMSW cleared PE");
    /* unmasked bits are loaded: mask TS only, source EM=0 MP=0 TS=0 */
    vmw(F_CR0_MASK, CR0_TS);
    vmw(F_CR0_SHADOW, 0);
    vmw(F_GUEST_CR0, cr0 | CR0_MP | CR0_TS);
    g.rdx = 0x0000;
    expect_runs("LMSW 0x0000 (only TS masked)", g_lmsw_reg, 3);
    uint64_t c = vmr(F_GUEST_CR0);
    hv_printf("  MP loaded (cleared): %s, the masked TS kept (1): %s, PE not cleared: %s\n", hv_yn(!(c & CR0_MP)),
              hv_yn(c & CR0_TS), hv_yn(c & 1));
    T_CHECK_EQ(c & 0xF, (cr0 & 1) | CR0_TS);

    /* The VMX fixed bits hold in non-root operation too: with a zero mask a
     * MOV to CR0 clearing NE is #GP (seen through the exception bitmap);
     * a hypervisor that masks NE with a shadow NE = 0 lets the guest "clear"
     * it without an exit while the real NE stays 1. */
    vmw(F_GUEST_CR0, cr0);
    vmw(F_CR0_MASK, 0);
    vmw(F_EXCEPTION_BITMAP, 1u << 13);
    g.rbx = cr0 & ~CR0_NE;
    uint64_t r = run_at(g_mov_to_cr0);
    hv_printf("MOV to CR0 clearing NE, zero mask: exit %llu, interruption information %#llx (#GP)\n",
              (unsigned long long)r, (unsigned long long)vmr(F_EXIT_INTR_INFO));
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000B0D);
    vmw(F_EXCEPTION_BITMAP, 0);
    vmw(F_CR0_MASK, CR0_NE);
    vmw(F_CR0_SHADOW, 0);
    expect_runs("MOV to CR0 clearing NE, NE masked with shadow 0", g_mov_to_cr0, 3);
    run_at(g_mov_from_cr0);
    hv_printf("  the real NE stays 1: %s, the guest reads NE = 0: %s\n", hv_yn(vmr(F_GUEST_CR0) & CR0_NE),
              hv_yn(!(g.rax & CR0_NE)));
    T_CHECK(vmr(F_GUEST_CR0) & CR0_NE, "NE cleared");
    T_CHECK(!(g.rax & CR0_NE), "the guest reads NE = 1");
}

static void group_cr4(void)
{
    uint64_t cr4 = read_cr4();
    set_proc(0, 0);
    vmw(F_CR4_MASK, CR4_VMXE);
    vmw(F_CR4_SHADOW, 0);                          /* the guest believes VMX is off */
    run_at(g_mov_from_cr4);
    hv_printf("MOV from CR4 (mask VMXE, shadow 0): no exit, VMXE reads 0: %s, the rest is real: %s\n",
              hv_yn(!(g.r9 & CR4_VMXE)), hv_yn(g.r9 == (cr4 & ~CR4_VMXE)));
    T_CHECK_EQ(g.r9, cr4 & ~CR4_VMXE);
    g.r10 = cr4 & ~CR4_VMXE;
    expect_runs("MOV to CR4 with VMXE=0 (equal to the shadow)", g_mov_to_cr4, 4);
    hv_printf("  guest CR4.VMXE kept: %s\n", hv_yn(vmr(F_GUEST_CR4) & CR4_VMXE));
    T_CHECK_EQ(vmr(F_GUEST_CR4), cr4);
    g.r10 = cr4;
    expect_exit("MOV to CR4 with VMXE=1 (differs from the shadow)", g_mov_to_cr4, 28, 0xA04, 4, ANY);
    vmw(F_CR4_MASK, 0);
    g.r10 = cr4;
    expect_runs("MOV to CR4 with a zero mask", g_mov_to_cr4, 4);
    run_at(g_mov_from_cr4);
    hv_printf("MOV from CR4 with a zero mask reads the real CR4: %s\n", hv_yn(g.r9 == cr4));
    T_CHECK_EQ(g.r9, cr4);
}

static void group_cr3(void)
{
    uint64_t cr3 = read_cr3();
    g.r11 = cr3;
    set_proc(P_CR3_LOAD, 0);
    vmw(F_CR3_TARGET_COUNT, 0);
    expect_exit("MOV to CR3, CR3-load exiting, no targets", g_mov_to_cr3, 28, 0xB03, 4, ANY);
    vmw(F_CR3_TARGET0, 0x1000);
    vmw(F_CR3_TARGET0 + 2, cr3);
    vmw(F_CR3_TARGET_COUNT, 1);
    expect_exit("MOV to CR3, the value is target 1 but the count is 1", g_mov_to_cr3, 28, 0xB03, 4, ANY);
    vmw(F_CR3_TARGET_COUNT, 2);
    expect_runs("MOV to CR3, the value is target 1 and the count is 2", g_mov_to_cr3, 4);
    vmw(F_CR3_TARGET0 + 2, 0x2000);
    vmw(F_CR3_TARGET0 + 6, cr3);
    vmw(F_CR3_TARGET_COUNT, 3);
    expect_exit("MOV to CR3, the value is target 3 and the count is 3", g_mov_to_cr3, 28, 0xB03, 4, ANY);
    vmw(F_CR3_TARGET_COUNT, 4);
    expect_runs("MOV to CR3, the value is target 3 and the count is 4", g_mov_to_cr3, 4);
    set_proc(P_CR3_STORE, 0);
    expect_exit("MOV from CR3, CR3-store exiting", g_mov_from_cr3, 28, 0x113, 3, ANY);
    set_proc(0, 0);
    g.rcx = 0;
    expect_runs("MOV from CR3 without CR3-store exiting", g_mov_from_cr3, 3);
    hv_printf("  the guest read its CR3: %s\n", hv_yn(g.rcx == cr3));
    T_CHECK_EQ(g.rcx, cr3);
    expect_runs("MOV to CR3 without CR3-load exiting", g_mov_to_cr3, 4);
}

static void group_cr8(void)
{
    set_proc(P_CR8_LOAD, 0);
    g.r12 = 2;
    expect_exit("MOV to CR8, CR8-load exiting", g_mov_to_cr8, 28, 0xC08, 4, ANY);
    expect_runs("MOV from CR8 without CR8-store exiting", g_mov_from_cr8, 4);
    set_proc(P_CR8_STORE, 0);
    expect_exit("MOV from CR8, CR8-store exiting", g_mov_from_cr8, 28, 0x218, 4, ANY);
    expect_runs("MOV to CR8 without CR8-load exiting", g_mov_to_cr8, 4);
    set_proc(0, 0);
    g.rdx = 0;
    expect_runs("MOV from CR8 without exiting", g_mov_from_cr8, 4);
    hv_printf("  the guest reads the TPR it wrote (2): %s\n", hv_yn(g.rdx == 2));
    T_CHECK_EQ(g.rdx, 2);
    g.r12 = 0;
    expect_runs("MOV to CR8 = 0 without exiting", g_mov_to_cr8, 4);
}

static void group_dr(void)
{
    set_proc(P_MOV_DR, 0);
    expect_exit("MOV from DR7 to RAX, MOV-DR exiting", g_mov_from_dr7, 29, 0x17, 3, ANY);
    g.r13 = 0x1234;
    expect_exit("MOV to DR0 from R13, MOV-DR exiting", g_mov_to_dr0, 29, 0xD00, 4, ANY);
    set_proc(0, 0);
    expect_runs("MOV from DR7 without MOV-DR exiting", g_mov_from_dr7, 3);
    hv_printf("  the guest reads DR7 = %#llx\n", (unsigned long long)g.rax);
    T_CHECK_EQ(g.rax, 0x400);
    expect_runs("MOV to DR0 without MOV-DR exiting", g_mov_to_dr0, 4);
    expect_runs("MOV from DR0 without MOV-DR exiting", g_mov_from_dr0, 4);
    hv_printf("  the guest reads back DR0 = %#llx\n", (unsigned long long)g.r14);
    T_CHECK_EQ(g.r14, 0x1234);
    /* with CR4.DE = 1, DR4 is #UD; MOV-DR exiting comes first */
    vmw(F_GUEST_CR4, read_cr4() | (1u << 3));
    set_proc(P_MOV_DR, 0);
    expect_exit("MOV from DR4 to RSI with CR4.DE = 1, MOV-DR exiting", g_mov_from_dr4, 29, 0x614, 3, ANY);
    set_proc(0, 0);
    vmw(F_GUEST_CR4, read_cr4() | (1u << 3));
    guest_ud = 0;
    ud_skip = 3;
    run_at(g_mov_from_dr4);
    hv_printf("MOV from DR4 with CR4.DE = 1 without MOV-DR exiting: #UD in the guest: %s\n", hv_yn(guest_ud == 1));
    T_CHECK_EQ(guest_ud, 1);
}

static void group_invlpg(void)
{
    g.rax = 0x123456789000ull;
    set_proc(P_INVLPG, 0);
    expect_exit("INVLPG 0x40(%rax), INVLPG exiting", g_invlpg, 14, 0x123456789040ull, 4, ANY);
    set_proc(0, 0);
    expect_runs("INVLPG without INVLPG exiting", g_invlpg, 4);
    /* INVPCID: without "enable INVPCID" #UD; with it, "INVLPG exiting" decides */
    g.rbx = (uint64_t)(uintptr_t)scratch - 0x20;
    g.rsi = 0;
    g.rdx = 2;                                     /* all contexts, including globals */
    memset(scratch, 0, 16);
    set_proc(P_INVLPG, P2_INVPCID);
    /* scale 8 (3), 64-bit addresses (2 << 7), DS (3 << 15), index RSI (6 << 18), base RBX (3 << 23), Reg2 RDX */
    expect_exit_info("INVPCID 0x20(%rbx,%rsi,8), %rdx, INVLPG exiting", g_invpcid, 58, 0x20, 7, F_INV,
                     3 | 2u << 7 | 3u << 15 | 6u << 18 | 3u << 23 | 2u << 28, ANY);
    set_proc(0, P2_INVPCID);
    expect_runs("INVPCID without INVLPG exiting", g_invpcid, 7);
    set_proc(P_INVLPG, 0);
    guest_ud = 0;
    run_at(g_invpcid);
    hv_printf("INVPCID without 'enable INVPCID': #UD in the guest: %s\n", hv_yn(guest_ud == 1));
    T_CHECK_EQ(guest_ud, 1);
}

static void group_desc(void)
{
    set_proc(0, P2_DESC);
    g.rax = 0x5000;
    g.rcx = 3;
    g.rdi = 0x40;
    g.rbp = (uint64_t)(uintptr_t)scratch + 0x20;
    /* SGDT (%rax): no index (bit 22), base RAX, DS, 64-bit addresses, identity 0; the operand size (bit 11) is
     * undefined from 64-bit mode */
    expect_exit_info("SGDT (%rax)", g_sgdt, 46, 0, 3, F_DESC64, 2u << 7 | 3u << 15 | 1u << 22 | 0u << 23, ANY);
    expect_exit_info("SIDT %gs:0x10(%rax,%rcx,2)", g_sidt, 46, 0x10, 6, F_DESC64,
                     1 | 2u << 7 | 5u << 15 | 1u << 18 | 0u << 23 | 1u << 28, ANY);
    /* RIP-relative: no base, no index, the qualification is the operand's address */
    expect_exit_info("LGDT scratch(%rip)", g_lgdt, 46, (uint64_t)(uintptr_t)scratch, 7, F_DESC64,
                     2u << 7 | 3u << 15 | 1u << 22 | 1u << 27 | 2u << 28, ANY);
    /* 32-bit address size, base EBP: SS; displacement sign-extended */
    expect_exit_info("LIDT -0x20(%ebp) (addr32)", g_lidt, 46, (uint64_t)-0x20, 5, F_DESC64,
                     1u << 7 | 2u << 15 | 1u << 22 | 5u << 23 | 3u << 28, ANY);
    expect_exit_info("SLDT %r8d", g_sldt_reg, 47, 0, 4, F_LLDT, 8u << 3 | 1u << 10 | 0u << 28, ANY);
    expect_exit_info("STR 0x8(,%rdi,4)", g_str_mem, 47, 8, 8, F_LLDT,
                     2 | 2u << 7 | 3u << 15 | 7u << 18 | 1u << 27 | 1u << 28, ANY);
    expect_exit_info("LLDT %cx", g_lldt_reg, 47, 0, 3, F_LLDT, 1u << 3 | 1u << 10 | 2u << 28, ANY);
    expect_exit_info("LTR (%rsp)", g_ltr_mem, 47, 0, 4, F_LLDT, 2u << 7 | 2u << 15 | 1u << 22 | 4u << 23 | 3u << 28,
                     ANY);
    set_proc(0, 0);
    g.rax = (uint64_t)(uintptr_t)scratch;
    memset(scratch, 0, 16);
    expect_runs("SGDT (%rax) without descriptor-table exiting", g_sgdt, 3);
    struct hv_dtr gd;
    sgdt(&gd);
    uint16_t lim = (uint16_t)(scratch[0] | scratch[1] << 8);
    hv_printf("  the guest stored its GDTR limit: %s\n", hv_yn(lim == vmr(F_GUEST_GDTR_LIMIT)));
    T_CHECK_EQ(lim, vmr(F_GUEST_GDTR_LIMIT));
    g.r8 = 0xFFFF;
    expect_runs("SLDT %r8d without descriptor-table exiting", g_sldt_reg, 4);
    hv_printf("  the guest read LDTR selector %#llx\n", (unsigned long long)g.r8);
    T_CHECK_EQ(g.r8, 0);
}

static void group_rdrand(void)
{
    set_proc(0, P2_RDRAND);
    expect_exit_info("RDRAND %ecx", g_rdrand32, 57, 0, 3, F_RDRAND, 1u << 3 | 1u << 11, ANY);
    expect_exit_info("RDRAND %r9", g_rdrand64, 57, 0, 4, F_RDRAND, 9u << 3 | 2u << 11, ANY);
    expect_runs("RDSEED %ax without RDSEED exiting", g_rdseed16, 4);
    set_proc(0, P2_RDSEED);
    expect_exit_info("RDSEED %ax", g_rdseed16, 61, 0, 4, F_RDRAND, 0u << 3 | 0u << 11, ANY);
    expect_runs("RDRAND %ecx without RDRAND exiting", g_rdrand32, 3);
}

static void group_tsc(void)
{
    const uint64_t off = 1ull << 40;
    wrmsr(MSR_TSC_AUX, 0x1234);
    set_proc(P_TSC_OFFSET | PROC_USE_MSR_BITMAPS, P2_RDTSCP);
    vmw(F_MSR_BITMAP, (uint64_t)(uintptr_t)msr_bitmap);
    vmw(F_TSC_OFFSET_, off);
    uint64_t before = rdtsc();
    run_at(g_rdtsc);
    uint64_t after = rdtsc();
    uint64_t t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    bool in = t >= before + off && t <= after + off;
    hv_printf("RDTSC with TSC offsetting (offset 2^40): no exit, the guest reads TSC + offset: %s\n", hv_yn(in));
    T_CHECK(in, "guest TSC %#llx, host before %#llx after %#llx", (unsigned long long)t, (unsigned long long)before,
            (unsigned long long)after);
    before = rdtsc();
    g.rcx = 0;
    run_at(g_rdtscp);
    after = rdtsc();
    t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    in = t >= before + off && t <= after + off;
    hv_printf("RDTSCP with TSC offsetting: TSC + offset: %s, ECX = IA32_TSC_AUX (0x1234): %s\n", hv_yn(in),
              hv_yn(g.rcx == 0x1234));
    T_CHECK(in, "guest TSC %#llx", (unsigned long long)t);
    T_CHECK_EQ(g.rcx, 0x1234);
    before = rdtsc();
    g.rcx = 0x10;
    run_at(g_rdmsr);
    after = rdtsc();
    t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    in = t >= before + off && t <= after + off;
    hv_printf("RDMSR IA32_TIME_STAMP_COUNTER (bitmap bit clear) with TSC offsetting: TSC + offset: %s\n", hv_yn(in));
    T_CHECK(in, "guest TSC %#llx", (unsigned long long)t);
    set_proc(P_TSC_OFFSET | P_RDTSC, P2_RDTSCP);
    vmw(F_TSC_OFFSET_, off);
    expect_exit("RDTSC with RDTSC exiting and TSC offsetting", g_rdtsc, 16, 0, 2, ANY);
    expect_exit("RDTSCP with RDTSC exiting", g_rdtscp, 51, 0, 3, ANY);
    /* a negative offset (two's complement, the sum wraps modulo 2^64) */
    set_proc(P_TSC_OFFSET, P2_RDTSCP);
    uint64_t back = 0x100000;
    vmw(F_TSC_OFFSET_, (uint64_t)0 - back);
    before = rdtsc();
    run_at(g_rdtsc);
    after = rdtsc();
    t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    in = t >= before - back && t <= after - back;
    hv_printf("RDTSC with a negative TSC offset (-0x100000): the guest reads TSC - 0x100000: %s\n", hv_yn(in));
    T_CHECK(in, "guest TSC %#llx, host before %#llx", (unsigned long long)t, (unsigned long long)before);
    set_proc(0, P2_RDTSCP);
    vmw(F_TSC_OFFSET_, off);                       /* ignored without "use TSC offsetting" */
    before = rdtsc();
    run_at(g_rdtsc);
    after = rdtsc();
    t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    in = t >= before && t <= after;
    hv_printf("RDTSC without TSC offsetting: the offset field is ignored: %s\n", hv_yn(in));
    T_CHECK(in, "guest TSC %#llx", (unsigned long long)t);
}

static void group_strio(void)
{
    bool info = (rdmsr(MSR_VMX_BASIC) >> 54) & 1;
    hv_printf("IA32_VMX_BASIC[54] (INS/OUTS information): %llu\n", (unsigned long long)info);
    set_proc(P_UNCOND_IO, 0);
    g.rdx = 0x80;
    g.rsi = (uint64_t)(uintptr_t)text;
    g.rcx = 3;
    /* qualification: size 1, OUT, string, REP, DX, port 0x80; information: 64-bit addresses, DS */
    expect_exit_info("REP OUTSB to port 0x80, unconditional I/O exiting", g_rep_outsb, 30, 0x800030, 2,
                     info ? F_OUTS : 0, 2u << 7 | 3u << 15, (uint64_t)(uintptr_t)text);
    g.rdi = (uint64_t)(uintptr_t)scratch;
    expect_exit_info("INSW from port 0x80", g_insw, 30, 0x800019, 2, info ? F_INS : 0, 2u << 7,
                     (uint64_t)(uintptr_t)scratch);
    g.rsi = (uint64_t)(uintptr_t)text;
    expect_exit_info("OUTSL %fs:(%rsi) to port 0x80", g_outsl_fs, 30, 0x800013, 2, info ? F_OUTS : 0,
                     2u << 7 | 4u << 15, (uint64_t)(uintptr_t)text);
    g.rdi = (uint64_t)(uintptr_t)scratch + 0x100000000ull;   /* 32-bit addressing uses EDI only */
    expect_exit_info("REP INSB with a 32-bit address size", g_rep_insb32, 30, 0x800038, 3, info ? F_INS : 0, 1u << 7,
                     (uint64_t)(uintptr_t)scratch);
    /* the I/O bitmaps: port 0x80 set, 0xE9 clear: REP OUTSB to 0xE9 prints */
    set_proc(PROC_USE_IO_BITMAPS, 0);
    vmw(F_IO_BITMAP_A, (uint64_t)(uintptr_t)io_bitmap_a);
    vmw(F_IO_BITMAP_B, (uint64_t)(uintptr_t)io_bitmap_b);
    io_bitmap_a[0x80 / 8] |= 1u << (0x80 % 8);
    g.rdx = 0x80;
    g.rsi = (uint64_t)(uintptr_t)text;
    g.rcx = 3;
    expect_exit_info("REP OUTSB to port 0x80, its bit set in I/O bitmap A", g_rep_outsb, 30, 0x800030, 2,
                     info ? F_OUTS : 0, 2u << 7 | 3u << 15, (uint64_t)(uintptr_t)text);
    g.rdx = 0xE9;
    g.rcx = sizeof(text) - 1;
    expect_runs("REP OUTSB to port 0xE9, its bit clear", g_rep_outsb, 2);
    hv_printf("  RCX counted down to 0: %s\n", hv_yn(g.rcx == 0));
    T_CHECK_EQ(g.rcx, 0);
}

static void group_vmxinsn(void)
{
    set_proc(0, 0);
    g.rax = 0x1000;
    /* memory forms: DS, 64-bit addresses (2 << 7); Table "... VMCLEAR, VMPTRLD, VMPTRST, VMXON" */
    expect_exit_info("VMCLEAR 0x8(%rax)", g_vmclear, 19, 8, 5, F_VMXMEM, 2u << 7 | 3u << 15 | 1u << 22 | 0u << 23, ANY);
    expect_exit_info("VMPTRLD (%rsp)", g_vmptrld, 21, 0, 4, F_VMXMEM, 2u << 7 | 2u << 15 | 1u << 22 | 4u << 23, ANY);
    expect_exit_info("VMPTRST scratch(%rip)", g_vmptrst, 22, (uint64_t)(uintptr_t)scratch, 7, F_VMXMEM,
                     2u << 7 | 3u << 15 | 1u << 22 | 1u << 27, ANY);
    g.rbx = 0x2000;
    g.rcx = 1;
    expect_exit_info("VMXON (%rbx,%rcx,8)", g_vmxon, 27, 0, 5, F_VMXMEM, 3 | 2u << 7 | 3u << 15 | 1u << 18 | 3u << 23,
                     ANY);
    /* VMREAD/VMWRITE: Reg1 or memory = the r/m operand, Reg2 = the encoding register */
    expect_exit_info("VMREAD %rax, %rbx", g_vmread_reg, 23, 0, 3, F_VMRW, 3u << 3 | 1u << 10 | 0u << 28, ANY);
    g.rdx = 0x3000;
    expect_exit_info("VMREAD %rax, 0x10(%rdx)", g_vmread_mem, 23, 0x10, 4, F_VMRW,
                     2u << 7 | 3u << 15 | 1u << 22 | 2u << 23 | 0u << 28, ANY);
    expect_exit_info("VMWRITE %rcx, %rdx", g_vmwrite_reg, 25, 0, 3, F_VMRW, 1u << 3 | 1u << 10 | 2u << 28, ANY);
    expect_exit_info("VMWRITE (%rsi), %rdi", g_vmwrite_mem, 25, 0, 3, F_VMRW,
                     2u << 7 | 3u << 15 | 1u << 22 | 6u << 23 | 7u << 28, ANY);
    /* INVEPT/INVVPID: Reg2 = the type register */
    expect_exit_info("INVEPT (%rax), %rcx", g_invept, 50, 0, 5, F_INV,
                     2u << 7 | 3u << 15 | 1u << 22 | 0u << 23 | 1u << 28, ANY);
    expect_exit_info("INVVPID -8(%rbp), %r10", g_invvpid, 53, (uint64_t)-8, 7, F_INV,
                     2u << 7 | 2u << 15 | 1u << 22 | 5u << 23 | 10u << 28, ANY);
    uint64_t cur = 0;
    T_CHECK(vmx_status(vmptrst_flags(&cur)) == VMX_OK, "VMPTRST");
    hv_printf("none of them ran: the current-VMCS pointer is still the host's VMCS: %s\n", hv_yn(cur == host_vmcs));
    T_CHECK_EQ(cur, host_vmcs);
}

/* Ring 3 (SDM 3C "Relative Priority of Faults and VM Exits"): the guest
 * runs with user selectors 0x2B/0x23 on a user stack; #GP and #UD exit
 * through the exception bitmap, so a fault that comes first shows as exit
 * 0 with the #GP interruption information at the instruction. */
static uint64_t run_user_at(const void *rip)
{
    vmw(F_GUEST_CS_SEL, 0x2B);
    vmw(F_GUEST_CS_AR, 0xA0FB);                    /* 64-bit code, DPL 3 */
    vmw(F_GUEST_SS_SEL, 0x23);
    vmw(F_GUEST_SS_AR, 0xC0F3);                    /* data, DPL 3 */
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)hv_user_stack() - 64);
    vmw(F_GUEST_RFLAGS, 0x2);                      /* IOPL 0 */
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

static void expect_gp_first(const char *what, const void *rip)
{
    uint64_t r = run_user_at(rip);
    uint64_t ii = vmr(F_EXIT_INTR_INFO), grip = vmr(F_GUEST_RIP);
    hv_printf("%s at CPL 3: exit %llu, interruption information %#llx, at the instruction: %s\n", what,
              (unsigned long long)r, (unsigned long long)ii, hv_yn(grip == (uint64_t)(uintptr_t)rip));
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(ii, 0x80000B0D);                    /* valid, hardware exception, error code, #GP */
    T_CHECK_EQ(vmr(F_EXIT_INTR_EC), 0);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)rip);
}

static void expect_user_exit(const char *what, const void *rip, uint64_t reason, uint64_t qual)
{
    uint64_t r = run_user_at(rip);
    uint64_t q = vmr(F_EXIT_QUALIFICATION), grip = vmr(F_GUEST_RIP);
    hv_printf("%s at CPL 3: exit %llu, qualification %#llx, at the instruction: %s\n", what, (unsigned long long)r,
              (unsigned long long)q, hv_yn(grip == (uint64_t)(uintptr_t)rip));
    T_CHECK_EQ(r, reason);
    T_CHECK_EQ(q, qual);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)rip);
}

static void group_cpl3(void)
{
    hv_user_init();
    set_proc(PROC_HLT_EXITING | P_INVLPG | P_UNCOND_IO | P_RDTSC | P_MOV_DR, 0);
    vmw(F_EXCEPTION_BITMAP, (1u << 13) | (1u << 6));
    vmw(F_CR0_MASK, CR0_TS);
    vmw(F_CR0_SHADOW, CR0_TS);
    vmw(F_GUEST_CR4, read_cr4() | (1u << 2));      /* CR4.TSD: RDTSC is privileged */
    g.rbx = read_cr0() & ~CR0_TS;                  /* differs from the shadow: would exit at CPL 0 */
    g.rax = (uint64_t)(uintptr_t)scratch;
    expect_gp_first("MOV to CR0 differing from the read shadow", u_mov_to_cr0);
    expect_gp_first("CLTS with TS set in mask and shadow", u_clts);
    expect_gp_first("HLT with HLT exiting", u_hlt);
    g.rcx = 0x174;
    expect_gp_first("RDMSR without MSR bitmaps", u_rdmsr);
    expect_gp_first("INVLPG with INVLPG exiting", u_invlpg);
    expect_gp_first("IN from port 0x80 with unconditional I/O exiting, IOPL 0, no I/O bitmap in the TSS", u_in);
    expect_gp_first("RDTSC with RDTSC exiting and CR4.TSD = 1", u_rdtsc);
    /* MOV DR's exit comes before the privilege check; CPUID and the VMX
     * instructions exit at any CPL */
    expect_user_exit("MOV from DR7 with MOV-DR exiting", u_mov_from_dr7, 29, 0x17);
    expect_user_exit("CPUID", u_cpuid, 10, 0);
    expect_user_exit("VMREAD", u_vmread, 23, 0);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    hv_set_handler(6, on_ud);
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    T_ASSERT(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    host_vmcs = vmcs;
    set_proc(0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_mov_from_cr0, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "cr0", group_cr0 }, { "cr4", group_cr4 }, { "cr3", group_cr3 }, { "cr8", group_cr8 }, { "dr", group_dr },
        { "invlpg", group_invlpg }, { "desc", group_desc }, { "rdrand", group_rdrand }, { "tsc", group_tsc },
        { "strio", group_strio }, { "vmxinsn", group_vmxinsn }, { "cpl3", group_cpl3 },
    };
    for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (hv_cmdline_is(bi, groups[i].name)) {
            groups[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline cr0|cr4|cr3|cr8|dr|invlpg|desc|rdrand|tsc|strio|vmxinsn|cpl3\n");
    hv_exit(1);
}
