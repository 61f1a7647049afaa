/*
 * vmx_bits.h — bit names of the VMX controls (SDM 3C 25.6 "VM-Execution
 * Control Fields", 25.7 "VM-Exit Control Fields", 25.8 "VM-Entry Control
 * Fields") and hvsim's VMCS revision identifiers.
 */
#ifndef HVSIM_VMX_BITS_H
#define HVSIM_VMX_BITS_H

/* VMCS revision identifiers (IA32_VMX_BASIC[30:0]); distinct per profile so
 * that software which hard-codes one instead of reading the MSR fails. */
#define VMX_REVISION_SERVER  0x00000004u
#define VMX_REVISION_MINIMAL 0x00000012u

/* Pin-based VM-execution controls (SDM 3C table 25-5). */
#define PIN_EXT_INT_EXITING   (1u << 0)
#define PIN_NMI_EXITING       (1u << 3)
#define PIN_VIRTUAL_NMIS      (1u << 5)
#define PIN_PREEMPTION_TIMER  (1u << 6)
#define PIN_POSTED_INTR       (1u << 7)

/* Primary processor-based VM-execution controls (SDM 3C table 25-6). */
#define PROC_INT_WINDOW       (1u << 2)
#define PROC_TSC_OFFSETTING   (1u << 3)
#define PROC_HLT              (1u << 7)
#define PROC_INVLPG           (1u << 9)
#define PROC_MWAIT            (1u << 10)
#define PROC_RDPMC            (1u << 11)
#define PROC_RDTSC            (1u << 12)
#define PROC_CR3_LOAD         (1u << 15)
#define PROC_CR3_STORE        (1u << 16)
#define PROC_TERTIARY         (1u << 17)
#define PROC_CR8_LOAD         (1u << 19)
#define PROC_CR8_STORE        (1u << 20)
#define PROC_TPR_SHADOW       (1u << 21)
#define PROC_NMI_WINDOW       (1u << 22)
#define PROC_MOV_DR           (1u << 23)
#define PROC_UNCOND_IO        (1u << 24)
#define PROC_IO_BITMAPS       (1u << 25)
#define PROC_MTF              (1u << 27)
#define PROC_MSR_BITMAPS      (1u << 28)
#define PROC_MONITOR          (1u << 29)
#define PROC_PAUSE            (1u << 30)
#define PROC_SECONDARY        (1u << 31)

/* Secondary processor-based VM-execution controls (SDM 3C table 25-7). */
#define PROC2_VIRT_APIC_ACCESS (1u << 0)
#define PROC2_EPT              (1u << 1)
#define PROC2_DESC_TABLE       (1u << 2)
#define PROC2_RDTSCP           (1u << 3)
#define PROC2_VIRT_X2APIC      (1u << 4)
#define PROC2_VPID             (1u << 5)
#define PROC2_WBINVD           (1u << 6)
#define PROC2_UNRESTRICTED     (1u << 7)
#define PROC2_APIC_REG_VIRT    (1u << 8)
#define PROC2_VIRT_INTR        (1u << 9)
#define PROC2_PAUSE_LOOP       (1u << 10)
#define PROC2_RDRAND           (1u << 11)
#define PROC2_INVPCID          (1u << 12)
#define PROC2_VMFUNC           (1u << 13)
#define PROC2_VMCS_SHADOWING   (1u << 14)
#define PROC2_RDSEED           (1u << 16)
#define PROC2_PML              (1u << 17)
#define PROC2_EPT_VE           (1u << 18)
#define PROC2_XSAVES           (1u << 20)
#define PROC2_MODE_BASED_EPT   (1u << 22)
#define PROC2_TSC_SCALING      (1u << 25)

/* Primary VM-exit controls (SDM 3C table 25-13). */
#define EXIT_SAVE_DEBUG             (1u << 2)
#define EXIT_HOST_ADDR_SPACE        (1u << 9)
#define EXIT_LOAD_PERF_GLOBAL       (1u << 12)
#define EXIT_ACK_INT                (1u << 15)
#define EXIT_SAVE_PAT               (1u << 18)
#define EXIT_LOAD_PAT               (1u << 19)
#define EXIT_SAVE_EFER              (1u << 20)
#define EXIT_LOAD_EFER              (1u << 21)
#define EXIT_SAVE_PREEMPTION_TIMER  (1u << 22)

/* VM-entry controls (SDM 3C table 25-15). */
#define ENTRY_LOAD_DEBUG      (1u << 2)
#define ENTRY_IA32E_GUEST     (1u << 9)
#define ENTRY_SMM             (1u << 10)
#define ENTRY_DEACT_DUAL      (1u << 11)
#define ENTRY_LOAD_PERF_GLOBAL (1u << 13)
#define ENTRY_LOAD_PAT        (1u << 14)
#define ENTRY_LOAD_EFER       (1u << 15)

#endif
