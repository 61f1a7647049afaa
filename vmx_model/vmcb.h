/*
 * vmcb.h — the AMD-V virtual machine control block (AMD APM vol. 2,
 * appendix B "Layout of VMCB": table B-1, control area; table B-2, state
 * save area). The VMCB lives in guest memory; hvsim reads and writes it
 * there at VMRUN and #VMEXIT. The struct documents the layout; svm.c
 * accesses fields by these offsets, which _Static_assert ties to it.
 */
#ifndef HVSIM_VMCB_H
#define HVSIM_VMCB_H

#include <stddef.h>
#include <stdint.h>

struct vmcb_seg {                      /* APM B-2: selector, attributes, limit, base */
    uint16_t sel;
    uint16_t attrib;                   /* descriptor bits 47:40 in 7:0, bits 55:52 in 11:8 */
    uint32_t limit;
    uint64_t base;
};

struct vmcb {
    /* ---- control area (table B-1) ---- */
    uint32_t cr_intercepts;            /* 0x000: 15:0 reads of CR0-15, 31:16 writes */
    uint32_t dr_intercepts;            /* 0x004: 15:0 reads of DR0-15, 31:16 writes */
    uint32_t exception_intercepts;     /* 0x008: one bit per vector */
    uint32_t intercept3;               /* 0x00C: INTR .. shutdown */
    uint32_t intercept4;               /* 0x010: VMRUN .. */
    uint32_t intercept5;               /* 0x014: INVLPGB .. */
    uint8_t rsvd0[0x03C - 0x018];
    uint16_t pause_filter_threshold;   /* 0x03C */
    uint16_t pause_filter_count;       /* 0x03E */
    uint64_t iopm_base_pa;             /* 0x040 */
    uint64_t msrpm_base_pa;            /* 0x048 */
    uint64_t tsc_offset;               /* 0x050 */
    uint32_t guest_asid;               /* 0x058 */
    uint8_t tlb_control;               /* 0x05C */
    uint8_t rsvd1[3];
    uint64_t vintr;                    /* 0x060: V_TPR 7:0, V_IRQ 8, VGIF 9, V_INTR_PRIO 19:16, V_IGN_TPR 20,
                                          V_INTR_MASKING 24, ..., V_INTR_VECTOR 39:32 */
    uint64_t interrupt_shadow;         /* 0x068: bit 0 interrupt shadow, bit 1 guest interrupt mask */
    uint64_t exitcode;                 /* 0x070 */
    uint64_t exitinfo1;                /* 0x078 */
    uint64_t exitinfo2;                /* 0x080 */
    uint64_t exitintinfo;              /* 0x088 */
    uint64_t np_enable;                /* 0x090: bit 0 nested paging */
    uint64_t avic_apic_bar;            /* 0x098 */
    uint64_t ghcb_pa;                  /* 0x0A0 */
    uint64_t eventinj;                 /* 0x0A8 */
    uint64_t n_cr3;                    /* 0x0B0 */
    uint64_t lbr_virt;                 /* 0x0B8 */
    uint32_t clean_bits;               /* 0x0C0 */
    uint32_t rsvd2;
    uint64_t nrip;                     /* 0x0C8 */
    uint8_t insn_len;                  /* 0x0D0: number of bytes fetched */
    uint8_t insn_bytes[15];            /* 0x0D1 */
    uint8_t rsvd3[0x400 - 0x0E0];
    /* ---- state save area (table B-2) ---- */
    struct vmcb_seg es, cs, ss, ds, fs, gs;    /* 0x400 .. 0x450 */
    struct vmcb_seg gdtr, ldtr, idtr, tr;      /* 0x460 .. 0x490 */
    uint8_t rsvd4[0x4CB - 0x4A0];
    uint8_t cpl;                       /* 0x4CB */
    uint32_t rsvd5;
    uint64_t efer;                     /* 0x4D0 */
    uint8_t rsvd6[0x548 - 0x4D8];
    uint64_t cr4;                      /* 0x548 */
    uint64_t cr3;                      /* 0x550 */
    uint64_t cr0;                      /* 0x558 */
    uint64_t dr7;                      /* 0x560 */
    uint64_t dr6;                      /* 0x568 */
    uint64_t rflags;                   /* 0x570 */
    uint64_t rip;                      /* 0x578 */
    uint8_t rsvd7[0x5D8 - 0x580];
    uint64_t rsp;                      /* 0x5D8 */
    uint8_t rsvd8[0x5F8 - 0x5E0];
    uint64_t rax;                      /* 0x5F8 */
    uint64_t star;                     /* 0x600 */
    uint64_t lstar;                    /* 0x608 */
    uint64_t cstar;                    /* 0x610 */
    uint64_t sfmask;                   /* 0x618 */
    uint64_t kernel_gs_base;           /* 0x620 */
    uint64_t sysenter_cs;              /* 0x628 */
    uint64_t sysenter_esp;             /* 0x630 */
    uint64_t sysenter_eip;             /* 0x638 */
    uint64_t cr2;                      /* 0x640 */
    uint8_t rsvd9[0x668 - 0x648];
    uint64_t g_pat;                    /* 0x668 */
    uint64_t dbgctl;                   /* 0x670 */
    uint8_t rsvd10[0x1000 - 0x678];
};

#define VMCB_OFF(f) ((unsigned)offsetof(struct vmcb, f))

/* The virtual-interrupt field at 0x060 (APM 2 table B-1; 15.21 "Interrupt
 * and Local APIC Support", 15.21.10 "NMI Virtualization", 15.33.2 "Virtual
 * GIF"):
 *
 *   63  40 39    32  31   30  29:27  26    25    24  23:21 20  19:16 15:13 12   11  10  9   8  7:4  3:0
 *  +-----+--------+----+----+-----+-----+-----+-----+-----+---+-----+-----+----+----+---+---+---+---+-----+
 *  | SBZ | VECTOR |AVIC|x2AV| SBZ |NMIEN|GIFEN|VMASK| SBZ |IGN|PRIO | SBZ |NMSK|VNMI|SBZ|GIF|IRQ|SBZ|V_TPR|
 *  +-----+--------+----+----+-----+-----+-----+-----+-----+---+-----+-----+----+----+---+---+---+---+-----+
 *
 *  V_TPR: the guest's virtual TPR (bits 7:4 SBZ), written back at #VMEXIT;
 *  IRQ: V_IRQ, a virtual interrupt is pending, written back; GIF: the VGIF
 *  value; VNMI, NMSK: V_NMI, V_NMI_MASK; PRIO: V_INTR_PRIO; IGN: V_IGN_TPR;
 *  VMASK: V_INTR_MASKING; GIFEN: V_GIF_ENABLE; NMIEN: V_NMI_ENABLE; x2AV,
 *  AVIC: the AVIC enables; VECTOR: V_INTR_VECTOR.
 */
#define VINTR_TPR_MASK       0xFFull
#define VINTR_V_IRQ          (1ull << 8)
#define VINTR_V_GIF          (1ull << 9)
#define VINTR_PRIO_SHIFT     16
#define VINTR_IGN_TPR        (1ull << 20)
#define VINTR_MASKING        (1ull << 24)
#define VINTR_GIF_ENABLE     (1ull << 25)
#define VINTR_NMI_ENABLE     (1ull << 26)
#define VINTR_X2AVIC         (1ull << 30)
#define VINTR_AVIC           (1ull << 31)
#define VINTR_VECTOR_SHIFT   32

/* Decode assists (APM 2 15.8): EXITINFO1 of a MOV CRx intercept (table
 * 15-2) is bit 63 (the instruction was MOV CRx, not CLTS, LMSW or SMSW)
 * and the GPR in bits 3:0; of a MOV DRx intercept (table 15-3) the GPR. */
#define EXITINFO1_MOV_CR     (1ull << 63)

/* EXITINFO2 of the task-switch intercept (APM 2 15.14.1; diagram at
 * guest_task_switch in svm.c): the error code in bits 31:0 when
 * TS_INFO2_HAS_EC. A CALL or an event through a task gate sets neither
 * IRET nor JMP. */
#define TS_INFO2_IRET        (1ull << 36)   /* caused by IRET */
#define TS_INFO2_JMP         (1ull << 38)   /* caused by a far JMP */
#define TS_INFO2_HAS_EC      (1ull << 44)   /* an error code to push (in bits 31:0) */
#define TS_INFO2_RF          (1ull << 48)   /* the EFLAGS.RF the outgoing TSS would have saved */

_Static_assert(sizeof(struct vmcb) == 4096, "the VMCB is one 4-KiB page (APM B)");
_Static_assert(offsetof(struct vmcb, intercept3) == 0x00C, "APM B-1: intercept vector 3");
_Static_assert(offsetof(struct vmcb, intercept4) == 0x010, "APM B-1: intercept vector 4");
_Static_assert(offsetof(struct vmcb, pause_filter_threshold) == 0x03C, "APM B-1: PAUSE filter threshold");
_Static_assert(offsetof(struct vmcb, pause_filter_count) == 0x03E, "APM B-1: PAUSE filter count");
_Static_assert(offsetof(struct vmcb, intercept5) == 0x014, "APM B-1: intercept vector 5");
_Static_assert(offsetof(struct vmcb, dr_intercepts) == 0x004, "APM B-1: DR intercepts");
_Static_assert(offsetof(struct vmcb, iopm_base_pa) == 0x040, "APM B-1: IOPM_BASE_PA");
_Static_assert(offsetof(struct vmcb, msrpm_base_pa) == 0x048, "APM B-1: MSRPM_BASE_PA");
_Static_assert(offsetof(struct vmcb, tsc_offset) == 0x050, "APM B-1: TSC_OFFSET");
_Static_assert(offsetof(struct vmcb, guest_asid) == 0x058, "APM B-1: guest ASID");
_Static_assert(offsetof(struct vmcb, tlb_control) == 0x05C, "APM B-1: TLB_CONTROL");
_Static_assert(offsetof(struct vmcb, vintr) == 0x060, "APM B-1: V_TPR, V_IRQ, ...");
_Static_assert(offsetof(struct vmcb, interrupt_shadow) == 0x068, "APM B-1: interrupt shadow");
_Static_assert(offsetof(struct vmcb, exitcode) == 0x070, "APM B-1: EXITCODE");
_Static_assert(offsetof(struct vmcb, exitinfo1) == 0x078, "APM B-1: EXITINFO1");
_Static_assert(offsetof(struct vmcb, exitinfo2) == 0x080, "APM B-1: EXITINFO2");
_Static_assert(offsetof(struct vmcb, exitintinfo) == 0x088, "APM B-1: EXITINTINFO");
_Static_assert(offsetof(struct vmcb, np_enable) == 0x090, "APM B-1: NP_ENABLE");
_Static_assert(offsetof(struct vmcb, eventinj) == 0x0A8, "APM B-1: EVENTINJ");
_Static_assert(offsetof(struct vmcb, n_cr3) == 0x0B0, "APM B-1: N_CR3");
_Static_assert(offsetof(struct vmcb, clean_bits) == 0x0C0, "APM B-1: VMCB clean bits");
_Static_assert(offsetof(struct vmcb, nrip) == 0x0C8, "APM B-1: nRIP");
_Static_assert(offsetof(struct vmcb, insn_len) == 0x0D0, "APM B-1: number of bytes fetched");
_Static_assert(offsetof(struct vmcb, insn_bytes) == 0x0D1, "APM B-1: guest instruction bytes");
_Static_assert(offsetof(struct vmcb, es) == 0x400, "APM B-2: ES");
_Static_assert(offsetof(struct vmcb, cs) == 0x410, "APM B-2: CS");
_Static_assert(offsetof(struct vmcb, gdtr) == 0x460, "APM B-2: GDTR");
_Static_assert(offsetof(struct vmcb, idtr) == 0x480, "APM B-2: IDTR");
_Static_assert(offsetof(struct vmcb, tr) == 0x490, "APM B-2: TR");
_Static_assert(offsetof(struct vmcb, cpl) == 0x4CB, "APM B-2: CPL");
_Static_assert(offsetof(struct vmcb, efer) == 0x4D0, "APM B-2: EFER");
_Static_assert(offsetof(struct vmcb, cr4) == 0x548, "APM B-2: CR4");
_Static_assert(offsetof(struct vmcb, cr3) == 0x550, "APM B-2: CR3");
_Static_assert(offsetof(struct vmcb, cr0) == 0x558, "APM B-2: CR0");
_Static_assert(offsetof(struct vmcb, dr7) == 0x560, "APM B-2: DR7");
_Static_assert(offsetof(struct vmcb, dr6) == 0x568, "APM B-2: DR6");
_Static_assert(offsetof(struct vmcb, rflags) == 0x570, "APM B-2: RFLAGS");
_Static_assert(offsetof(struct vmcb, rip) == 0x578, "APM B-2: RIP");
_Static_assert(offsetof(struct vmcb, rsp) == 0x5D8, "APM B-2: RSP");
_Static_assert(offsetof(struct vmcb, rax) == 0x5F8, "APM B-2: RAX");
_Static_assert(offsetof(struct vmcb, star) == 0x600, "APM B-2: STAR");
_Static_assert(offsetof(struct vmcb, kernel_gs_base) == 0x620, "APM B-2: KernelGSBase");
_Static_assert(offsetof(struct vmcb, sysenter_eip) == 0x638, "APM B-2: SYSENTER_EIP");
_Static_assert(offsetof(struct vmcb, cr2) == 0x640, "APM B-2: CR2");
_Static_assert(offsetof(struct vmcb, g_pat) == 0x668, "APM B-2: G_PAT");

/* #VMEXIT codes: svm_exits.h (APM C "SVM Intercept Exit Codes"). */
#include "svm_exits.h"


/* Intercept vector 3 (0x00C) and 4 (0x010) bits (APM B-1). */
enum {
    I3_INTR = 0, I3_NMI = 1, I3_SMI = 2, I3_INIT = 3, I3_VINTR = 4, I3_CR0_SEL = 5, I3_IDTR_READ = 6,
    I3_GDTR_READ = 7, I3_LDTR_READ = 8, I3_TR_READ = 9, I3_IDTR_WRITE = 10, I3_GDTR_WRITE = 11,
    I3_LDTR_WRITE = 12, I3_TR_WRITE = 13, I3_RDTSC = 14, I3_RDPMC = 15, I3_PUSHF = 16, I3_POPF = 17,
    I3_CPUID = 18, I3_RSM = 19, I3_IRET = 20, I3_INTN = 21, I3_INVD = 22, I3_PAUSE = 23, I3_HLT = 24,
    I3_INVLPG = 25, I3_INVLPGA = 26, I3_IOIO = 27, I3_MSR = 28, I3_TASK_SWITCH = 29, I3_FERR = 30,
    I3_SHUTDOWN = 31,
    I4_VMRUN = 0, I4_VMMCALL = 1, I4_VMLOAD = 2, I4_VMSAVE = 3, I4_STGI = 4, I4_CLGI = 5, I4_SKINIT = 6,
    I4_RDTSCP = 7, I4_ICEBP = 8, I4_WBINVD = 9, I4_MONITOR = 10, I4_MWAIT = 11, I4_MWAIT_ARMED = 12,
    I4_XSETBV = 13,
};

#endif
