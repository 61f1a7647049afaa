/*
 * mb_smp — starting the application processors of a Multiboot machine with
 * INIT-SIPI-SIPI (SDM 3A 9.4.4.1, the BSP's sequence) and a ring of fixed
 * IPIs through every LP (SDM 3A 10.6.1).
 *
 * The BSP (IA32_APIC_BASE.BSP = 1, SDM 3A 10.4.4) copies the real-mode
 * trampoline (lib32/trampoline.S) to TRAMP_PA and broadcasts to all
 * excluding self: INIT (level assert), 10 ms, a start-up IPI with vector
 * TRAMP_PA >> 12, 200 us, a second start-up IPI. An AP starts in real mode
 * at CS = vector << 8, IP = 0 (SDM 3A 9.4.4, 10.6.1 "Start-Up"); the
 * trampoline records that CS, enters protected mode (SDM 3A 9.9.1) and
 * calls ap_main(). The second start-up IPI reaches APs that are no longer
 * waiting for one and is ignored (SDM 3A 9.4.4.1 / 10.4.7.3): every AP
 * must arrive exactly once. The LP count comes from QEMU's fw_cfg
 * (FW_CFG_NB_CPUS), which hvsim models (docs/multiboot.md).
 *
 * Then the IPI ring: the BSP sends vector IPI_VEC (fixed, physical
 * destination) to the AP with the lowest APIC ID; each AP's handler sends
 * it on to the next higher ID, the last one back to the BSP. Every LP
 * must take it exactly once. The 8259 PICs are masked first so that
 * nothing but these IPIs arrives while IF = 1 (QEMU's PIT would).
 */
#include "mb32.h"

#define TRAMP_PA 0x7000u
#define IPI_VEC  0x50
#define MAXID    64
#define SPINS    50000000u

static volatile uint32_t seen[MAXID], ap_cr0[MAXID], ap_cs[MAXID], ap_base[MAXID], ap_cpuid_id[MAXID];
static volatile uint32_t ready[MAXID], got[MAXID], from_next_ok[MAXID];
static volatile uint32_t ring[MAXID], ring_len, bad_id;

static uint32_t fwcfg_u16(uint16_t sel)
{
    outw(0x510, sel);
    uint32_t lo = inb(0x511);
    return lo | (uint32_t)inb(0x511) << 8;
}

/* Position of `id` in the ring (ring[0] = BSP), or ring_len. */
static uint32_t ring_pos(uint32_t id)
{
    for (uint32_t i = 0; i < ring_len; i++)
        if (ring[i] == id)
            return i;
    return ring_len;
}

static bool ipi_handler(struct mb_frame *f)
{
    (void)f;
    uint32_t id = apic_id();
    if (id >= MAXID) {
        bad_id = id;
        return true;
    }
    __sync_fetch_and_add(&got[id], 1);
    apic_write(APIC_EOI, 0);
    uint32_t pos = ring_pos(id);
    if (pos != 0 && pos < ring_len) {
        uint32_t next = ring[(pos + 1) % ring_len];
        from_next_ok[id] = apic_send_icr(next, ICR_ASSERT | IPI_VEC);
    }
    return true;
}

static void ap_main(unsigned index)
{
    (void)index;
    uint32_t id = apic_id();
    if (id >= MAXID) {
        bad_id = id;
        return;
    }
    uint32_t r[4];
    mb_cpuid(1, 0, r);
    ap_cpuid_id[id] = r[1] >> 24;
    ap_cr0[id] = read_cr0();
    ap_cs[id] = read_cs();
    ap_base[id] = (uint32_t)rdmsr(MSR_APIC_BASE);
    __sync_fetch_and_add(&seen[id], 1);
    lidt(&mb_idtr);
    apic_write(APIC_SVR, SVR_ENABLE | 0xFF);
    __sync_synchronize();
    ready[id] = 1;
    for (;;)
        __asm__ volatile("sti; hlt; cli" ::: "memory");
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)mbi;
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    mb_cpu_init();
    outb(0x21, 0xFF);                 /* mask both 8259s */
    outb(0xA1, 0xFF);
    mb_set_handler(IPI_VEC, ipi_handler);

    uint32_t nlps = fwcfg_u16(0x0005);
    uint32_t base = (uint32_t)rdmsr(MSR_APIC_BASE);
    uint32_t bsp = apic_id();
    mb_printf("LPs (fw_cfg FW_CFG_NB_CPUS): %u\n", nlps);
    mb_printf("BSP: APIC ID %u, IA32_APIC_BASE.BSP = %u, xAPIC enabled = %u, base %#x\n", bsp,
              (base >> 8) & 1, (base >> 11) & 1, base & 0xFFFFF000u);
    T_ASSERT(nlps >= 1 && nlps <= MAXID, "nlps %u", nlps);
    T_CHECK(base & APIC_BASE_BSP, "APIC base %#x", base);
    T_ASSERT(bsp < MAXID, "BSP APIC ID %u", bsp);
    apic_write(APIC_SVR, SVR_ENABLE | 0xFF);
    apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);

    mb_ap_entry = ap_main;
    unsigned vec = mb_tramp_install(TRAMP_PA);
    uint32_t hz = mb_tsc_hz();
    bool s1 = apic_send_icr(0, ICR_SH_OTHERS | ICR_MODE_INIT | ICR_ASSERT | ICR_TRIGGER_LVL);
    mb_udelay(hz, 10000);
    bool s2 = apic_send_icr(0, ICR_SH_OTHERS | ICR_MODE_STARTUP | ICR_ASSERT | vec);
    mb_udelay(hz, 200);
    bool s3 = apic_send_icr(0, ICR_SH_OTHERS | ICR_MODE_STARTUP | ICR_ASSERT | vec);
    mb_printf("INIT, SIPI, SIPI (vector %#x) broadcast to all excluding self, delivery status idle after each: %s\n",
              vec, mb_yn(s1 && s2 && s3));
    T_CHECK(s1 && s2 && s3, "ICR busy: %u %u %u", s1, s2, s3);

    bool all = mb_wait_eq(&mb_ap_arrivals, nlps - 1, SPINS);
    mb_udelay(hz, 1000);              /* a late duplicate arrival would show now */
    mb_printf("APs arrived: %u of %u\n", mb_ap_arrivals, nlps - 1);
    T_CHECK(all && mb_ap_arrivals == nlps - 1, "arrivals %u", mb_ap_arrivals);
    T_CHECK_EQ(bad_id, 0);
    uint16_t tcs = *(volatile uint16_t *)(uintptr_t)(TRAMP_PA + (uint32_t)(mb_tramp_cs - mb_tramp_start));
    if (nlps > 1) {
        mb_printf("APs started in real mode at CS = %#x, IP = 0 (vector << 8): %s\n", tcs, mb_yn(tcs == vec << 8));
        T_CHECK_EQ(tcs, vec << 8);
    }

    /* per APIC ID, ascending: ring[0] = BSP, then the APs */
    ring[0] = bsp;
    ring_len = 1;
    for (uint32_t id = 0; id < MAXID; id++) {
        if (id == bsp) {
            T_CHECK_EQ(seen[id], 0);
            continue;
        }
        if (!seen[id])
            continue;
        ring[ring_len++] = id;
        mb_printf("AP APIC ID %u: arrived %u time(s); CPUID.1:EBX[31:24] = %u; protected mode (CR0.PE = %u), "
                  "CS = %#x; IA32_APIC_BASE.BSP = %u\n", id, seen[id], ap_cpuid_id[id], ap_cr0[id] & 1, ap_cs[id],
                  (ap_base[id] >> 8) & 1);
        T_CHECK_EQ(seen[id], 1);
        T_CHECK_EQ(ap_cpuid_id[id], id);
        T_CHECK_EQ(ap_cr0[id] & 1, 1);
        T_CHECK_EQ(ap_cs[id], SEL_KCODE);
        T_CHECK_EQ((ap_base[id] >> 8) & 1, 0);
    }
    mb_printf("distinct AP APIC IDs: %u\n", ring_len - 1);
    T_CHECK_EQ(ring_len, nlps);

    if (ring_len > 1) {
        for (uint32_t i = 1; i < ring_len; i++)
            T_CHECK(mb_wait_eq(&ready[ring[i]], 1, SPINS), "AP %u not ready", ring[i]);
        mb_printf("IPI ring: BSP");
        for (uint32_t i = 1; i < ring_len; i++)
            mb_printf(" -> %u", ring[i]);
        mb_printf(" -> BSP, fixed vector %#x, physical destinations\n", IPI_VEC);
        __sync_synchronize();
        bool sent = apic_send_icr(ring[1], ICR_ASSERT | IPI_VEC);
        __asm__ volatile("sti" ::: "memory");
        bool back = mb_wait_eq(&got[bsp], 1, SPINS);
        cli();
        mb_udelay(hz, 1000);
        T_CHECK(sent, "ICR busy");
        mb_printf("IPI ring: back at the BSP: %s\n", mb_yn(back));
        T_CHECK(back, "the IPI never came back");
        for (uint32_t i = 0; i < ring_len; i++) {
            uint32_t id = ring[i];
            mb_printf("IPI ring: APIC ID %u took vector %#x %u time(s)%s\n", id, IPI_VEC, got[id],
                      i ? (from_next_ok[id] ? ", passed it on" : ", could NOT pass it on") : "");
            T_CHECK_EQ(got[id], 1);
            if (i)
                T_CHECK(from_next_ok[id], "AP %u: ICR busy", id);
        }
    }
    T_DONE();
}
