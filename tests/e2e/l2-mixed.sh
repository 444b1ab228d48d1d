# shellcheck shell=sh disable=SC2154  # d, qlog, dev_edu, dev_vblk: l2-run.sh
# Sourced by l2-run.sh for STEPS=mixed (the l2m-* run of `make e2e`), after
# the checks: L2 has edu assigned from L0 (edu0 on rp1, the only assigned
# device), and from L1's QEMU an emulated virtio-blk (vblk0 on rp2) and an
# emulated edu (emu0 on rp3), all behind one arm-smmuv3,accel=on.  The
# emulated ones translate through QEMU's SMMUv3 model; only what concerns
# the assigned edu may reach the host.  Uses l2-run.sh's l2, qom, qmp_cmd,
# wait_for, src, res, since, up and its variables (d, qlog, dev_*, RP_*).
# Rows: host-calls, emu-unplug, emu-replug, emu-replug-read,
# edu-unplug-mixed, emu-dma-alone, edu-replug-mixed, vhost-ats.

# mrow ROW: the result of L2's row ROW as "PASS detail" / "FAIL detail";
# the row itself is not relayed (mute): l2-mixed.sh reports its own
mrow() {
    r=$(src con | grep "^E2E-RESULT $1 " | tail -n 1)
    r=${r#E2E-RESULT "$1" }
    echo "${r:-FAIL not reported by L2}"
}
# counters ->  $C_IOC $C_LOC $C_FWD: the vSMMU's host ioctls, commands kept
# from the host (only emulated endpoints concerned), commands forwarded
counters() {
    qom x-accel-ioctls
    C_IOC=$QOM
    qom x-accel-cmds-local
    C_LOC=$QOM
    qom x-accel-cmds-forwarded
    C_FWD=$QOM
}
# delta A B: B - A, or "?" when either is unknown
delta() {
    case "$1 $2" in *'?'*) echo '?' ;; *) echo $(($2 - $1)) ;; esac
}
# viommu EVENT: how many smmuv3_accel_viommu_EVENT (alloc, free) lines
# QEMU's trace has so far
viommu() { grep -c "smmuv3_accel_viommu_$1" "$d/trace.log"; }

# ---- host-calls: what reaches the host, and what stays in QEMU ----------
# A workload on the emulated devices alone (the emulated edu's VFIO maps,
# DMA and unmaps in L2, then O_DIRECT reads of the disk, each request
# mapped and unmapped) must make no host ioctl, and its invalidations are
# counted as kept local; the assigned edu's DMA then must reach the host.
# The second's after a settle: L2's flush queue (DMA-FQ) invalidates late.
l2 eduat "$RP_EMU"
counters
i0=$C_IOC c0=$C_LOC f0=$C_FWD
l2 edudma hc-emu
l2 bench "4096 256"
hc_bench=$(src con | grep '^E2E-L2 BENCH ' | tail -n 1)
sleep 1
counters
i1=$C_IOC c1=$C_LOC f1=$C_FWD
l2 eduat "$RP_EDU"
l2 edudma hc-edu
sleep 1
counters
i2=$C_IOC c2=$C_LOC f2=$C_FWD
mute
di1=$(delta "$i0" "$i1") dl1=$(delta "$c0" "$c1") df1=$(delta "$f0" "$f1")
di2=$(delta "$i1" "$i2") dl2=$(delta "$c1" "$c2") df2=$(delta "$f1" "$f2")
emu=$(mrow hc-emu-dma) edu=$(mrow hc-edu-dma)
# the emulated edu's checks (l2-run.sh, EV0/EV1): its faults must not come
# from the host's vEVENTQ
dev=$(delta "${EV0:-?}" "${EV1:-?}")
what="emulated only (emu edudma: ${emu%% *}; disk: ${hc_bench#E2E-L2 BENCH }): x-accel-ioctls +$di1, x-accel-cmds-local +$dl1, x-accel-cmds-forwarded +$df1; assigned edu DMA (${edu%% *}): ioctls +$di2, cmds-local +$dl2, forwarded +$df2 (ioctls $i0 -> $i1 -> $i2, cmds-local $c0 -> $c1 -> $c2); host events (x-accel-events) over the emulated edu's checks and faults: +$dev"
case $emu:$edu:$hc_bench in
PASS*:PASS*:*rc=0*)
    if [ "$di1" = 0 ] && [ "$dl1" != '?' ] && [ "$dl1" -gt 0 ] &&
       [ "$di2" != '?' ] && [ "$di2" -gt 0 ] && [ "$dev" = 0 ]; then
        res host-calls PASS "$what"
    else
        res host-calls FAIL "$what; want ioctls +0 and cmds-local > 0 for the emulated, ioctls > 0 for the assigned, host events +0 for the emulated edu"
    fi
    ;;
*) res host-calls FAIL "a workload failed: $what; emu: $emu; edu: $edu" ;;
esac

# ---- hot-unplug and re-plug the emulated virtio-blk -----------------------
t=$(up)
qmp_cmd '{"execute":"device_del","arguments":{"id":"vblk0"}}'
if wait_for qmp '"DEVICE_DELETED".*"vblk0"' 1 60; then
    l2 blkstate
    st=$(src con | grep '^E2E-L2 BLK' | tail -n 1)
    case $st in
    *' none vda=no'*) res emu-unplug PASS "device_del vblk0: DEVICE_DELETED after $(since "$t") s, L2 no longer sees a virtio-blk (${st#E2E-L2 })" ;;
    *) res emu-unplug FAIL "DEVICE_DELETED, but L2: $st" ;;
    esac
else
    res emu-unplug FAIL "no DEVICE_DELETED for vblk0 in 60 s: $(grep -v '"timestamp"' "$qlog" | tail -n 2 | tr '\n' ' ')"
fi
t=$(up)
nret=$(grep -c '"return"' "$qlog")
nerr=$(grep -c '"error"' "$qlog")
qmp_cmd '{"execute":"device_add","arguments":'"$dev_vblk"'}'
wait_for qmp '"return"\|"error"' $((nret + nerr + 1)) 30
if [ "$(grep -c '"error"' "$qlog")" -gt "$nerr" ]; then
    res emu-replug FAIL "device_add vblk0: $(grep '"error"' "$qlog" | tail -n 1)"
    res emu-replug-read FAIL "no disk: device_add failed"
else
    l2 waitblk 30
    st=$(src con | grep '^E2E-L2 BLK' | tail -n 1)
    case $st in
    *' none '* | *vda=no*)
        res emu-replug FAIL "device_add returned, L2: $st"
        res emu-replug-read FAIL "no /dev/vda after the re-plug"
        ;;
    *)
        res emu-replug PASS "device_add vblk0: back in L2 as /dev/vda (${st#E2E-L2 }), $(since "$t") s"
        # the re-plugged device's DMA: a fresh domain, QEMU's fresh STE
        l2 blkread emu-replug-read
        ;;
    esac
fi
relay

# ---- the assigned edu leaves, the emulated devices stay ---------------------
# edu is the only assigned device: its unplug frees the vIOMMU (trace
# smmuv3_accel_viommu_free); the emulated edu's and disk's DMA must not
# need it.  Re-plugging edu allocates the vIOMMU again.
nfree=$(viommu free)
nalloc=$(viommu alloc)
t=$(up)
qmp_cmd '{"execute":"device_del","arguments":{"id":"edu0"}}'
if wait_for qmp '"DEVICE_DELETED".*"edu0"' 1 60; then
    # the vIOMMU goes when VFIO lets the device go, shortly after
    i=0
    while [ "$(viommu free)" -le "$nfree" ] && [ $i -lt 25 ]; do usleep 200000; i=$((i + 1)); done
    l2 eduat "$RP_EDU"
    l2 state
    st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
    l2 eduat "$RP_EMU"
    st2=$(src con | grep '^E2E-L2 EDUAT' | tail -n 1)
    l2 blkstate
    st3=$(src con | grep '^E2E-L2 BLK' | tail -n 1)
    freed="vIOMMU freed: $(grep 'smmuv3_accel_viommu_free' "$d/trace.log" | tail -n 1 | sed 's/^.*smmuv3_accel_/smmuv3_accel_/')"
    [ "$(viommu free)" -gt "$nfree" ] || freed="no smmuv3_accel_viommu_free in QEMU's trace"
    case $st:$st2:$st3 in
    *edu=none*:*edu=0000:*:*vda=yes*)
        if [ "$(viommu free)" -gt "$nfree" ]; then
            res edu-unplug-mixed PASS "device_del edu0: DEVICE_DELETED after $(since "$t") s, L2 no longer sees it below $RP_EDU; $freed; the emulated edu (${st2#E2E-L2 }) and disk (${st3#E2E-L2 }) stay"
        else
            res edu-unplug-mixed FAIL "edu0 gone, the emulated devices stay, but $freed"
        fi
        ;;
    *) res edu-unplug-mixed FAIL "after DEVICE_DELETED, L2: $st; $st2; $st3" ;;
    esac
else
    res edu-unplug-mixed FAIL "no DEVICE_DELETED for edu0 in 60 s: $(grep -v '"timestamp"' "$qlog" | tail -n 2 | tr '\n' ' ')"
fi
# the emulated devices' DMA with no vIOMMU (and no assigned device) at all
counters
i0=$C_IOC
l2 eduat "$RP_EMU"
l2 edudma alone
l2 blkread blk-alone
counters
mute
emu=$(mrow alone-dma) blk=$(mrow blk-alone)
what="emulated edu: $emu; disk: $blk; host ioctls +$(delta "$i0" "$C_IOC")"
case $emu:$blk in
PASS*:PASS*) res emu-dma-alone PASS "$what" ;;
*) res emu-dma-alone FAIL "$what" ;;
esac
t=$(up)
nret=$(grep -c '"return"' "$qlog")
nerr=$(grep -c '"error"' "$qlog")
qmp_cmd '{"execute":"device_add","arguments":'"$dev_edu"'}'
wait_for qmp '"return"\|"error"' $((nret + nerr + 1)) 30
if [ "$(grep -c '"error"' "$qlog")" -gt "$nerr" ]; then
    res edu-replug-mixed FAIL "device_add edu0: $(grep '"error"' "$qlog" | tail -n 1)"
else
    l2 eduat "$RP_EDU"
    l2 waitedu 30
    st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
    l2 edudma replug-mixed
    mute
    dma=$(mrow replug-mixed-dma)
    alloc="vIOMMU allocated again: $(grep 'smmuv3_accel_viommu_alloc' "$d/trace.log" | tail -n 1 | sed 's/^.*smmuv3_accel_/smmuv3_accel_/')"
    [ "$(viommu alloc)" -gt "$nalloc" ] || alloc="no new smmuv3_accel_viommu_alloc in QEMU's trace"
    case $st:$dma in
    *edu=none*) res edu-replug-mixed FAIL "device_add returned, L2 did not see edu below $RP_EDU: $st" ;;
    *:PASS*)
        if [ "$(viommu alloc)" -gt "$nalloc" ]; then
            res edu-replug-mixed PASS "device_add edu0: back in L2 (${st#E2E-L2 STATE }), $(since "$t") s; $alloc; DMA: $dma"
        else
            res edu-replug-mixed FAIL "edu back and its DMA passed, but $alloc"
        fi
        ;;
    *) res edu-replug-mixed FAIL "edu back (${st#E2E-L2 STATE }), $alloc; DMA: $dma" ;;
    esac
fi

# ---- vhost-ats: vhost-net with ATS behind the accelerated vSMMU ----------
# L2's SMMU driver enables ATS on the virtio-net (the vSMMU has "ats":"on"):
# vhost then keeps translations as the device's ATC, asked for through
# QEMU's translate and dropped on the guest's ATC_INV, which QEMU's SMMU
# turns into device IOTLB notifications (smmuv3_atc_inval ... told=N).
# Before that, vhost's device IOTLB notifier was refused with &error_fatal:
# QEMU exited when L2's virtio_net probed.  100 pings L2 -> L1's tap, each
# packet's buffers mapped and unmapped by L2's DMA API: a lost ATC_INV
# leaves vhost a stale translation of a reused IOVA.
ip link set l2tap0 up 2>/dev/null
ip addr add 10.0.3.1/24 dev l2tap0 2>/dev/null
told() { grep -c 'smmuv3_atc_inval.*told=[1-9]' "$d/trace.log"; }
a0=$(told)
l2 vhostnet vnet
mute
net=$(mrow vnet)
a1=$(told)
what="$net; ATC_INVs told to vhost's device IOTLB: $((a1 - a0)) (before: $a0)"
case $net in
PASS*)
    if [ $((a1 - a0)) -gt 0 ]; then
        res vhost-ats PASS "${what#PASS }"
    else
        res vhost-ats FAIL "${what#PASS }: no ATC_INV reached a device IOTLB"
    fi
    ;;
*) res vhost-ats FAIL "${what#FAIL }" ;;
esac
