/*
 * svm.h — AMD-V for payloads (AMD APM vol. 2 chapter 15; appendix B for the
 * VMCB, table B-1 for the intercept vectors): VMCB offsets, intercept bit
 * numbers, enabling SVM, a 64-bit guest that shares the payload's address
 * space, a 32-bit protected-mode guest with its own tables, and svm_run
 * (svm_rt.S), VMRUN with the guest's general-purpose registers. Used by
 * svm_basic, svm_exits, svm_virt, svm_task and svm_bench.
 */
#ifndef HVSIM_PAYLOAD_SVM_H
#define HVSIM_PAYLOAD_SVM_H

#include "hvsim.h"

#define MSR_VM_CR       0xC0010114u
#define MSR_VM_HSAVE_PA 0xC0010117u
#define EFER_SVME       (1ull << 12)

/* VMCB offsets: control area (table B-1), state-save area (table B-2) */
enum {
    V_CR_ICPT = 0x000, V_DR_ICPT = 0x004, V_EXC_ICPT = 0x008, V_I3 = 0x00C, V_I4 = 0x010, V_I5 = 0x014,
    V_PAUSE_THRESH = 0x03C, V_PAUSE_COUNT = 0x03E, V_IOPM = 0x040, V_MSRPM = 0x048, V_TSC_OFFSET = 0x050,
    V_ASID = 0x058, V_TLB_CTL = 0x05C, V_VINTR = 0x060, V_SHADOW = 0x068, V_EXITCODE = 0x070,
    V_EXITINFO1 = 0x078, V_EXITINFO2 = 0x080, V_EXITINTINFO = 0x088, V_NP_ENABLE = 0x090, V_EVENTINJ = 0x0A8,
    V_NCR3 = 0x0B0, V_NRIP = 0x0C8, V_INSN_LEN = 0x0D0, V_INSN_BYTES = 0x0D1,
    V_ES = 0x400, V_CS = 0x410, V_SS = 0x420, V_DS = 0x430, V_FS = 0x440, V_GS = 0x450, V_GDTR = 0x460, V_LDTR = 0x470,
    V_IDTR = 0x480, V_TR = 0x490, V_CPL = 0x4CB, V_EFER = 0x4D0, V_CR4 = 0x548, V_CR3 = 0x550, V_CR0 = 0x558,
    V_DR7 = 0x560, V_DR6 = 0x568, V_RFLAGS = 0x570, V_RIP = 0x578, V_RSP = 0x5D8, V_RAX = 0x5F8,
    V_STAR = 0x600, V_KGS = 0x620, V_CR2 = 0x640, V_GPAT = 0x668,
};

/* intercept vector 3 (0x00C) and 4 (0x010): bit numbers */
enum {
    I3_INTR = 0, I3_NMI = 1, I3_SMI = 2, I3_INIT = 3, I3_VINTR = 4, I3_CR0_SEL = 5, I3_IDTR_READ = 6,
    I3_GDTR_READ = 7, I3_LDTR_READ = 8, I3_TR_READ = 9, I3_IDTR_WRITE = 10, I3_GDTR_WRITE = 11,
    I3_LDTR_WRITE = 12, I3_TR_WRITE = 13, I3_RDTSC = 14, I3_RDPMC = 15, I3_PUSHF = 16, I3_POPF = 17,
    I3_CPUID = 18, I3_RSM = 19, I3_IRET = 20, I3_INTN = 21, I3_INVD = 22, I3_PAUSE = 23, I3_HLT = 24,
    I3_INVLPG = 25, I3_INVLPGA = 26, I3_IOIO = 27, I3_MSR = 28, I3_TASK_SWITCH = 29, I3_FERR = 30,
    I3_SHUTDOWN = 31,
    I4_VMRUN = 0, I4_VMMCALL = 1, I4_VMLOAD = 2, I4_VMSAVE = 3, I4_STGI = 4, I4_CLGI = 5, I4_SKINIT = 6,
    I4_RDTSCP = 7, I4_ICEBP = 8, I4_WBINVD = 9, I4_MONITOR = 10, I4_MWAIT = 11, I4_MWAIT_ARMED = 12,
    I4_XSETBV = 13, I4_EFER_WRITE_TRAP = 15,
};
#define SVM_BIT(n) (1u << (n))

/* The guest's general-purpose registers other than RAX and RSP (which the
 * VMCB holds), in svm_run's order. */
struct svm_gregs { uint64_t rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15; };

/* VMRUN of the VMCB at physical vmcb_pa with the guest's registers from r,
 * and back after #VMEXIT with the guest's left in r; the host's
 * callee-saved registers are kept around it (svm_rt.S). */
void svm_run(uint64_t vmcb_pa, struct svm_gregs *r);

static inline uint64_t svm_pa(const volatile void *p) { return (uint64_t)(uintptr_t)p; }

/* EFER.SVME and the host save area (APM 15.4, 15.30.4). */
static inline void svm_enable(void *hsave)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, svm_pa(hsave));
}

static inline void vmcb_seg(uint8_t *vmcb, unsigned off, uint16_t sel, uint16_t attrib, uint32_t limit,
                            uint64_t base)
{
    *(volatile uint16_t *)(vmcb + off) = sel;
    *(volatile uint16_t *)(vmcb + off + 2) = attrib;
    *(volatile uint32_t *)(vmcb + off + 4) = limit;
    *(volatile uint64_t *)(vmcb + off + 8) = base;
}

/* A zeroed VMCB for a 64-bit guest at rip with stack rsp, with the
 * payload's CR0/CR3/CR4, EFER, GDT and IDT and flat segments; ASID 1, the
 * given permission maps, only the VMRUN intercept (required: 15.5.1). */
static inline void vmcb_guest64(uint8_t *vmcb, const void *rip, uint64_t rsp, const void *iopm, const void *msrpm)
{
    memset(vmcb, 0, 4096);
    struct hv_dtr gd, id;
    sgdt(&gd);
    sidt(&id);
    *(volatile uint32_t *)(vmcb + V_I4) = SVM_BIT(I4_VMRUN);
    *(volatile uint64_t *)(vmcb + V_IOPM) = svm_pa(iopm);
    *(volatile uint64_t *)(vmcb + V_MSRPM) = svm_pa(msrpm);
    *(volatile uint32_t *)(vmcb + V_ASID) = 1;
    vmcb_seg(vmcb, V_CS, SEL_KCODE, 0xA9B, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_SS, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_DS, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_ES, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_GDTR, 0, 0, gd.limit, gd.base);
    vmcb_seg(vmcb, V_IDTR, 0, 0, id.limit, id.base);
    *(volatile uint64_t *)(vmcb + V_EFER) = rdmsr(MSR_EFER);
    *(volatile uint64_t *)(vmcb + V_CR0) = read_cr0();
    *(volatile uint64_t *)(vmcb + V_CR3) = read_cr3();
    *(volatile uint64_t *)(vmcb + V_CR4) = read_cr4();
    *(volatile uint64_t *)(vmcb + V_DR6) = 0xFFFF0FF0;
    *(volatile uint64_t *)(vmcb + V_DR7) = 0x400;
    *(volatile uint64_t *)(vmcb + V_RFLAGS) = 0x2;
    *(volatile uint64_t *)(vmcb + V_RIP) = svm_pa(rip);
    *(volatile uint64_t *)(vmcb + V_RSP) = rsp;
}

/* A zeroed VMCB for a 32-bit protected-mode guest (EFER.LME = 0, CPL 0) at
 * eip with stack esp and its own GDT and IDT (limits as LGDT/LIDT take
 * them): flat 4-GiB 32-bit segments, code cs and data ds (ES, SS, DS);
 * with cr3 not 0, 32-bit paging with 4-MiB pages (CR4.PSE) from the page
 * directory at cr3. ASID 1, the given permission maps, only the VMRUN
 * intercept. VMRUN does not load TR, LDTR, FS and GS (APM 15.5.2): a
 * guest that needs them gets them from VMLOAD. */
static inline void vmcb_guest32(uint8_t *vmcb, uint32_t eip, uint32_t esp, uint16_t cs, uint16_t ds,
                                const struct hv_dtr *gdt, const struct hv_dtr *idt, uint32_t cr3,
                                const void *iopm, const void *msrpm)
{
    memset(vmcb, 0, 4096);
    *(volatile uint32_t *)(vmcb + V_I4) = SVM_BIT(I4_VMRUN);
    *(volatile uint64_t *)(vmcb + V_IOPM) = svm_pa(iopm);
    *(volatile uint64_t *)(vmcb + V_MSRPM) = svm_pa(msrpm);
    *(volatile uint32_t *)(vmcb + V_ASID) = 1;
    vmcb_seg(vmcb, V_CS, cs, 0xC9B, 0xFFFFFFFF, 0);         /* G, D, P, S, execute/read accessed */
    vmcb_seg(vmcb, V_SS, ds, 0xC93, 0xFFFFFFFF, 0);         /* G, B, P, S, read/write accessed */
    vmcb_seg(vmcb, V_DS, ds, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_ES, ds, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(vmcb, V_GDTR, 0, 0, gdt->limit, gdt->base);
    vmcb_seg(vmcb, V_IDTR, 0, 0, idt->limit, idt->base);
    *(volatile uint64_t *)(vmcb + V_EFER) = EFER_SVME;
    *(volatile uint64_t *)(vmcb + V_CR0) = cr3 ? 0x80000031 : 0x31;   /* (PG,) NE, ET, PE */
    *(volatile uint64_t *)(vmcb + V_CR3) = cr3;
    *(volatile uint64_t *)(vmcb + V_CR4) = cr3 ? 0x10 : 0;             /* PSE */
    *(volatile uint64_t *)(vmcb + V_DR6) = 0xFFFF0FF0;
    *(volatile uint64_t *)(vmcb + V_DR7) = 0x400;
    *(volatile uint64_t *)(vmcb + V_RFLAGS) = 0x2;
    *(volatile uint64_t *)(vmcb + V_RIP) = eip;
    *(volatile uint64_t *)(vmcb + V_RSP) = esp;
}

/* Nested paging tables (APM 15.25) that map guest-physical 0-4 GiB to the
 * same system-physical addresses with 2-MiB pages, user and writable (every
 * nested access is a user access, 15.25.5); svm_npte splits a 2-MiB page
 * into 4-KiB ones to change one page. */
struct svm_npt {
    uint64_t ncr3;          /* for the VMCB's N_CR3 */
    uint64_t *pd[4];        /* the page directory of each GiB */
};

static inline void svm_npt_identity(struct svm_npt *n)
{
    uint64_t *pml4 = hv_page_alloc(), *pdpt = hv_page_alloc();
    pml4[0] = svm_pa(pdpt) | PTE_P | PTE_W | PTE_U;
    for (unsigned i = 0; i < 4; i++) {
        n->pd[i] = hv_page_alloc();
        pdpt[i] = svm_pa(n->pd[i]) | PTE_P | PTE_W | PTE_U;
        for (unsigned j = 0; j < 512; j++)
            n->pd[i][j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    }
    n->ncr3 = svm_pa(pml4);
}

/* The nested PTE of guest-physical gpa (below 4 GiB). */
static inline volatile uint64_t *svm_npte(struct svm_npt *n, uint64_t gpa)
{
    const uint64_t addr = 0x000FFFFFFFFFF000ull;
    uint64_t *pde = &n->pd[gpa >> 30][(gpa >> 21) & 511];
    if (*pde & PTE_PS) {
        uint64_t *pt = hv_page_alloc(), base = *pde & ~0x1FFFFFull & addr;
        for (unsigned k = 0; k < 512; k++)
            pt[k] = (base + ((uint64_t)k << 12)) | PTE_P | PTE_W | PTE_U;
        *pde = svm_pa(pt) | PTE_P | PTE_W | PTE_U;
    }
    uint64_t *pt = (uint64_t *)(uintptr_t)(*pde & addr);
    return &pt[(gpa >> 12) & 511];
}

#endif
