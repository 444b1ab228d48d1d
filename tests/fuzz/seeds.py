#!/usr/bin/env python3
"""Seed inputs for QEMU's generic-fuzz over the (accelerated) SMMUv3.

generic-fuzz reads its input as commands separated by b"FUZZ"; the first
byte of a command picks the operation (modulo 10).  These seeds program the
SMMU like a driver does (stream table, command and event queues, CR0),
queue commands through a DMA pattern (generic-fuzz fills every DMA read of
guest memory with the current pattern) and move CMDQ_PROD, so that the
fuzzer starts from inputs that reach command processing.

seeds.py OUTDIR
"""
import os
import struct
import sys

SEP = b"FUZZ"
OP_READ, OP_WRITE, OP_ADD_DMA_PATTERN, OP_CLEAR_DMA, OP_CLOCK_STEP = 2, 3, 7, 8, 9
BYTE, WORD, LONG, QUAD = range(4)

# SMMUv3 registers (offsets in the 128 KiB MMIO region)
CR0, CR1, CR2, GBPA, IRQ_CTRL, GERRORN = 0x20, 0x28, 0x2C, 0x44, 0x50, 0x64
STRTAB_BASE, STRTAB_BASE_CFG = 0x80, 0x88
CMDQ_BASE, CMDQ_PROD, CMDQ_CONS = 0x90, 0x98, 0x9C
EVENTQ_BASE, EVENTQ_PROD, EVENTQ_CONS = 0xA0, 0x100A8, 0x100AC
GERROR = 0x60

RAM = 0x40000000          # virt's RAM; generic-fuzz serves DMA reads there


def write(off, val, size=QUAD, region=0):
    # struct { u8 size; u8 base; u32 offset; u64 value; } (host layout)
    return bytes([OP_WRITE]) + struct.pack("<BBxxIQ", size, region, off, val)


def read(off, size=LONG, region=0):
    # struct { u8 size; u8 base; u32 offset; }
    return bytes([OP_READ]) + struct.pack("<BBxxI", size, region, off)


def dma(data, index=0, stride=0):
    return bytes([OP_ADD_DMA_PATTERN, index, stride]) + data


def cmd(opcode, w0=0, w1=0, w2=0, w3=0):
    return struct.pack("<IIII", opcode | w0, w1, w2, w3)


def ste(config=0b101, s1ctxptr=RAM + 0x30000, s1cdmax=0, s1fmt=0):
    w = [0] * 16
    w[0] = 1 | (config << 1) | (s1fmt << 4) | (s1ctxptr & 0xFFFFFFC0)
    w[1] = (s1ctxptr >> 32) | (s1cdmax << 27)
    w[2] = 0
    return struct.pack("<16I", *w)


def cd(asid=1, ttb0=RAM + 0x40000):
    w = [0] * 16
    # T0SZ=16, TG0=4K, EPD1, V, AA64, R, A, ASET; IPS=44 bits
    w[0] = 16 | (1 << 14) | (1 << 31)
    w[1] = (4 << 0) | (1 << 9) | (1 << 10) | (1 << 12) | (asid << 16)
    w[2] = ttb0 & 0xFFFFFFF0
    w[3] = ttb0 >> 32
    return struct.pack("<16I", *w)


def setup(strtab_cfg=6):
    return [
        write(STRTAB_BASE_CFG, strtab_cfg, LONG),
        write(STRTAB_BASE, RAM),
        write(CMDQ_BASE, (RAM + 0x10000) | 5),
        write(EVENTQ_BASE, (RAM + 0x20000) | 5),
        write(IRQ_CTRL, 7, LONG),
        write(CR1, 0, LONG),
        write(CR0, 0xD, LONG),          # SMMUEN | EVENTQEN | CMDQEN
    ]


CMDS = {
    "cfgi_ste": cmd(0x03, w1=0x8),
    "cfgi_ste_range": cmd(0x04, w1=0x0, w2=31),
    "cfgi_cd": cmd(0x05, w1=0x8),
    "cfgi_all": cmd(0x04, w2=31),
    "tlbi_nh_all": cmd(0x10),
    "tlbi_nh_asid": cmd(0x11, w1=1 << 16),
    "tlbi_nh_va": cmd(0x12, w0=(1 << 12), w1=1 << 16, w2=0x1000 | 1, w3=0),
    "tlbi_nsnh_all": cmd(0x30),
    "atc_inv": cmd(0x40, w1=0x8, w2=0, w3=0x1000),
    "sync": cmd(0x46, w0=1 << 12),
}


def seeds():
    out = {}
    for name, c in CMDS.items():
        ops = setup() + [dma(c), write(CMDQ_PROD, 1, LONG),
                         read(CMDQ_CONS), read(GERROR)]
        out["cmd-" + name] = ops
    # a batch: several commands, each DMA read takes the next pattern
    batch = [CMDS[n] for n in ("cfgi_ste", "tlbi_nh_asid", "tlbi_nh_va",
                               "cfgi_all", "sync")]
    out["batch"] = setup() + [dma(c) for c in batch] + [
        write(CMDQ_PROD, len(batch), LONG), read(CMDQ_CONS),
        write(GERRORN, 0, LONG), op_clock()]
    # STE and CD contents offered to whatever reads them next
    out["ste-cd"] = setup() + [dma(CMDS["cfgi_ste"]), dma(ste()), dma(cd()),
                               write(CMDQ_PROD, 1, LONG), op_clock()]
    # two-level stream table, then GBPA and disable/enable again
    out["strtab-2lvl"] = setup(strtab_cfg=(1 << 16) | (6 << 6) | 10) + [
        dma(CMDS["cfgi_ste"]), write(CMDQ_PROD, 1, LONG),
        write(CR0, 0, LONG), write(GBPA, 1 << 31, LONG),
        write(CR0, 0xD, LONG), read(EVENTQ_PROD), write(EVENTQ_CONS, 0, LONG)]
    # an illegal command: CMDQ_ERR in GERROR, then acknowledged
    out["cmd-illegal"] = setup() + [dma(cmd(0x7F)), write(CMDQ_PROD, 1, LONG),
                                    read(GERROR), write(GERRORN, 1, LONG),
                                    write(CMDQ_CONS, 1, LONG)]
    out.update(host_seeds())
    out.update(cmdqv_seeds())
    out.update(hostile_seeds())
    return out


# The Tegra241 CMDQV window (its own MMIO region, index 1 after the
# SMMU's): the config page, VINTF 0, logical queue 0's page0 and page1
CQ = 1
CQ_CONFIG, CQ_ALLOC_MAP0, VINTF0_CONFIG = 0x0, 0x200, 0x1000
VINTF0_LVCMDQ_ERR_MAP = 0x10C0
LQ0_PAGE0, LQ0_PAGE1 = 0x30000, 0x40000
Q_CONS, Q_PROD, Q_CONFIG, Q_GERROR, Q_GERRORN = 0x0, 0x4, 0x8, 0x10, 0x14
HYP_OWN = 1 << 17


def cmdqv_setup(vintf_config, log2size=8):
    return [
        write(CQ_CONFIG, 1, LONG, CQ),
        write(CQ_ALLOC_MAP0, 1, LONG, CQ),          # VINTF 0, queue 0
        write(CQ_ALLOC_MAP0 + 4, 3, LONG, CQ),      # VINTF 0, queue 1
        write(VINTF0_CONFIG, vintf_config, LONG, CQ),
        write(LQ0_PAGE1, (RAM + 0x50000) | log2size, QUAD, CQ),
        write(LQ0_PAGE0 + Q_CONFIG, 1, LONG, CQ),
    ]


def cmdqv_seeds():
    """For emul-cmdqv and accel-host-cmdqv: a VCMDQ of VINTF 0 set up as
    Linux does, commands through it (an allowed batch, a disallowed one),
    the error acknowledged, the VINTF off and on (HW queues freed and made
    again on the fake host)."""
    out = {}
    for name, vc in (("hyp", HYP_OWN | 1), ("guest", 1)):
        batch = [CMDS[n] for n in ("tlbi_nh_asid", "tlbi_nh_va", "atc_inv",
                                   "sync")]
        out["cmdqv-" + name] = cmdqv_setup(vc) + [dma(c) for c in batch] + [
            write(LQ0_PAGE0 + Q_PROD, len(batch), LONG, CQ),
            read(LQ0_PAGE0 + Q_CONS, LONG, CQ), op_clock(),
            read(LQ0_PAGE0 + Q_GERROR, LONG, CQ)]
        out["cmdqv-" + name + "-illegal"] = cmdqv_setup(vc) + [
            dma(CMDS["cfgi_all"]), dma(CMDS["sync"]),
            write(LQ0_PAGE0 + Q_PROD, 2, LONG, CQ), op_clock(),
            read(VINTF0_LVCMDQ_ERR_MAP, LONG, CQ),
            write(LQ0_PAGE0 + Q_GERRORN, 1, LONG, CQ),
            write(VINTF0_CONFIG, 0, LONG, CQ),
            write(VINTF0_CONFIG, vc, LONG, CQ),
            write(LQ0_PAGE1, (RAM + 0x50000) | 12, QUAD, CQ),
            write(LQ0_PAGE0 + Q_PROD, 3, LONG, CQ), op_clock()]
    return out


def host_seeds():
    """For accel-host (an assigned device, StreamID 8, on a fake host):
    stage-1 STEs installed as nested HWPTs, batches of invalidations the
    host gets, and the event queue on (the vEVENTQ) while the fake host
    answers."""
    out = {}
    s1 = [dma(CMDS["cfgi_ste"]), dma(ste()), dma(cd())]
    tlbis = [CMDS[n] for n in ("tlbi_nh_asid", "tlbi_nh_va", "tlbi_nh_all",
                               "tlbi_nsnh_all", "cfgi_cd", "sync")]
    # install, then a batch that ends in a CMD_SYNC, then read the events
    out["host-s1-batch"] = setup() + s1 + [write(CMDQ_PROD, 1, LONG)] + [
        dma(c) for c in tlbis] + [
        write(CMDQ_PROD, 1 + len(tlbis), LONG), op_clock(),
        read(EVENTQ_PROD), write(EVENTQ_CONS, 1, LONG), read(GERROR)]
    # several CDs (S1CDMax), a linear CD table, then CFGI_CD and an ASID
    out["host-s1-cdmax"] = setup() + [
        dma(CMDS["cfgi_ste"]), dma(ste(s1cdmax=2)), dma(cd()), dma(cd(asid=2)),
        write(CMDQ_PROD, 1, LONG), dma(CMDS["cfgi_cd"]),
        dma(cmd(0x11, w1=2 << 16)), dma(CMDS["sync"]),
        write(CMDQ_PROD, 4, LONG), op_clock()]
    # bypass, then abort, then an S2 config the vSMMU does not have
    for name, cfg in (("bypass", 0b100), ("abort", 0b000), ("s2", 0b110),
                      ("nested", 0b111)):
        out["host-ste-" + name] = setup() + [
            dma(CMDS["cfgi_ste"]), dma(ste(config=cfg)),
            write(CMDQ_PROD, 1, LONG), read(GERROR), read(EVENTQ_PROD)]
    # the event queue off and on again (the vEVENTQ freed, made again),
    # the SMMU off (the device on the abort HWPT), an invalidation of all
    out["host-eventq-toggle"] = setup() + s1 + [
        write(CMDQ_PROD, 1, LONG), write(CR0, 0x9, LONG),
        write(CR0, 0xD, LONG), dma(CMDS["tlbi_nh_all"]), dma(CMDS["sync"]),
        write(CMDQ_PROD, 3, LONG), op_clock(), write(CR0, 0, LONG),
        write(GBPA, 1 << 20, LONG), write(CR0, 0xD, LONG)]
    # CFGI_ALL and ranges of StreamIDs, ATC_INV, and a CMD_SYNC that
    # signals an MSI
    out["host-cfgi-range"] = setup() + s1 + [
        write(CMDQ_PROD, 1, LONG), dma(CMDS["cfgi_all"]),
        dma(CMDS["cfgi_ste_range"]), dma(CMDS["atc_inv"]),
        dma(cmd(0x46, w0=(1 << 12), w2=RAM + 0x50000)),
        write(CMDQ_PROD, 5, LONG), op_clock(), read(GERROR)]
    # the event queue made again at each size whose depth makes the fake
    # host fail the vEVENTQ or its reader (fakehost.c, fuzz mode), with an
    # STE and an invalidation each time, so that host events come too
    ops = setup() + s1 + [write(CMDQ_PROD, 1, LONG)]
    prod = 1
    for log2 in (0, 1, 2, 3, 4, 6, 8, 9, 10, 11):
        ops += [write(CR0, 0x9, LONG),
                write(EVENTQ_BASE, (RAM + 0x20000) | log2),
                write(CR0, 0xD, LONG), dma(CMDS["tlbi_nh_all"]),
                dma(CMDS["sync"]), write(CMDQ_PROD, prod + 2, LONG),
                op_clock(), read(EVENTQ_PROD)]
        prod += 2
    out["host-eventq-sizes"] = ops
    return out


def op_clock():
    return bytes([OP_CLOCK_STEP])


# The SMMU's registers in guest physical memory: on these machines the
# user-created SMMU is the first dynamic sysbus device (the platform bus)
SMMU_GPA = 0x0C000000
EVENTQ_IRQ_CFG0, EVENTQ_IRQ_CFG1, GERROR_IRQ_CFG0 = 0xB0, 0xB8, 0x68


def hostile_seeds():
    """A hostile guest: the event queue, the MSIs and the tables aimed at
    the SMMU's own registers, so that what the SMMU writes or reads for
    the guest comes back into it (QEMU hung there twice); generic-fuzz's
    timeout makes a run that stops progressing a finding."""
    out = {}
    s1 = [dma(CMDS["cfgi_ste"]), dma(ste()), dma(cd())]
    # the event queue's MSI on CR0 (data: SMMUEN | CMDQEN): an event turns
    # the queue off, which frees the vEVENTQ (accel-host) it came from
    out["hostile-eventq-msi-cr0"] = setup() + [
        write(EVENTQ_IRQ_CFG0, SMMU_GPA + CR0), write(EVENTQ_IRQ_CFG1, 0x9, LONG),
        write(IRQ_CTRL, 0x4, LONG)] + s1 + [
        dma(CMDS["tlbi_nh_all"]), dma(CMDS["sync"]),
        write(CMDQ_PROD, 3, LONG), op_clock(), read(CR0), read(GERROR)]
    # the event queue over the SMMU's own queue registers
    out["hostile-eventq-in-regs"] = setup() + [
        write(EVENTQ_BASE, (SMMU_GPA + STRTAB_BASE) | 1)] + s1 + [
        write(CMDQ_PROD, 1, LONG), dma(cmd(0x7F)), write(CMDQ_PROD, 2, LONG),
        op_clock(), read(EVENTQ_PROD), read(GERROR)]
    # a CMD_SYNC whose MSI is CMDQ_PROD, and GERROR's MSI on CR0
    out["hostile-sync-msi-prod"] = setup() + [
        write(GERROR_IRQ_CFG0, SMMU_GPA + CR0), write(IRQ_CTRL, 0x1, LONG),
        dma(cmd(0x46, w0=(1 << 12), w1=1, w2=SMMU_GPA + CMDQ_PROD)),
        dma(cmd(0x7F)), write(CMDQ_PROD, 2, LONG), read(CMDQ_CONS),
        read(GERROR)]
    # the stream table and the command queue in the SMMU's registers
    out["hostile-tables-in-regs"] = [
        write(STRTAB_BASE_CFG, 6, LONG), write(STRTAB_BASE, SMMU_GPA),
        write(CMDQ_BASE, (SMMU_GPA + 0x10000) | 5),
        write(EVENTQ_BASE, (RAM + 0x20000) | 5), write(CR0, 0xD, LONG),
        dma(CMDS["cfgi_all"]), write(CMDQ_PROD, 1, LONG), op_clock(),
        read(EVENTQ_PROD), read(GERROR)]
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name, ops in seeds().items():
        with open(os.path.join(outdir, "seed-" + name), "wb") as f:
            f.write(SEP.join(ops))


if __name__ == "__main__":
    main()
