# shellcheck shell=sh disable=SC2154  # d, qpid, qlog, dev_edu: l2-run.sh
# Sourced by l2-run.sh (STEPS inject): host failure injection while L2
# runs.  L2's QEMU runs with the preload library /lib/e2e-inject.so
# (inject.c), which fails the N-th call of a chosen iommufd/VFIO ioctl with
# a chosen errno, as the control file $ictl says.
#
# A cycle is what the assigned device goes through here: device_del of edu
# (the vSMMU's only device, so its vIOMMU goes too), device_add, and a DMA
# check in L2 (L2's VFIO gives edu a new domain, i.e. new STEs, nested
# HWPTs, invalidations).  One cycle without failures counts the calls of
# each ioctl (K).  Then cells: the failure armed at call N of an ioctl, a
# cycle, the failure disarmed, and recovery: device_add again if it was
# refused, a DMA check, and one more cycle if that failed.
# E2E_INJECT=full (the default): per ioctl, one cell per errno (ENOMEM
# EINVAL EIO EBUSY), N spread over 1..K.  quick: per ioctl one cell, call K (the last of the cycle: for the calls the
# guest causes, its last STE, command or free), the errnos taken in turn.
#
# A cell passes when the failure was injected, QEMU is still running, L2
# still answers, DMA works after the recovery, QEMU's VFIO/iommufd file
# descriptors are back to their count before the matrix, and a DMA check
# that failed under the failure came with an architected error in L2
# (C_BAD_STE event or command queue error) or a refused device_add.
# Rows: TAG-inject-<ioctl> (its four cells), TAG-inject-attach-abort (the
# abort HWPT refused when the guest's STE stops translating), TAG-inject
# (the matrix).

ictl=$d/inject.ctl ilog=$d/inject.log
# the ioctls and their row names
INJ_IOCTLS="IOMMU_GET_HW_INFO:hw-info VFIO_DEVICE_BIND_IOMMUFD:bind
IOMMU_HWPT_ALLOC:hwpt-alloc IOMMU_VIOMMU_ALLOC:viommu-alloc
IOMMU_VDEVICE_ALLOC:vdevice-alloc IOMMU_VEVENTQ_ALLOC:veventq-alloc
VFIO_DEVICE_ATTACH_IOMMUFD_PT:attach VFIO_DEVICE_DETACH_IOMMUFD_PT:detach
IOMMU_HWPT_INVALIDATE:invalidate IOMMU_DESTROY:destroy"
INJ_ERRNOS="ENOMEM EINVAL EIO EBUSY"
INJ_MODE=${E2E_INJECT:-full}
# cells K: "N:ERRNO ..." for an ioctl called K times a cycle; $nth counts
# the ioctls, so that quick mode takes the errnos in turn
nth=0
cells_for() {
    _c='' _e=0
    if [ "$INJ_MODE" = full ]; then
        for _err in $INJ_ERRNOS; do
            _c="$_c $((1 + _e * $1 / 4)):$_err"
            _e=$((_e + 1))
        done
    else
        set -- "$1" $INJ_ERRNOS
        _k=$1
        shift $(((nth - 1) % 4 + 1))
        _c="$_k:$1"
    fi
    echo "$_c"
}
igen=0
arm() {
    igen=$((igen + 1))
    echo "$igen $*" >"$ictl"
}
# QEMU's open /dev/iommu and VFIO files
# (helpers' own variables start with _: the matrix below is global too)
qfds() {
    _n=0
    for _f in /proc/$qpid/fd/*; do
        case $(readlink "$_f" 2>/dev/null) in
        /dev/iommu | /dev/vfio/*) _n=$((_n + 1)) ;;
        esac
    done
    echo $_n
}
# klog: sets kev kbad kcmdq (L2's totals)
klog() {
    l2 klog
    _k=$(src con | grep '^E2E-L2 KLOG ' | tail -n 1)
    kev=$(echo "$_k" | sed -n 's/.*events=\([0-9]*\).*/\1/p')
    kbad=$(echo "$_k" | sed -n 's/.*cbadste=\([0-9]*\).*/\1/p')
    kcmdq=$(echo "$_k" | sed -n 's/.*cmdqerr=\([0-9]*\).*/\1/p')
}
nstderr=0
# qerr: QEMU's stderr lines since the last call, on one line (without
# VFIO's note that edu has no reset, printed on every device_add)
new_stderr() {
    _n=$(wc -l <"$d/stderr")
    qerr=$(tail -n +$((nstderr + 1)) "$d/stderr" | grep -v 'Cannot reset device\|PCI BAR?' |
           head -n 3 | tr '\n' ' ' | cut -c1-300)
    nstderr=$_n
}
# dma NAME SEED: a DMA check in L2; sets dma=PASS|FAIL
icount=0
dma() {
    icount=$((icount + 1))
    l2 dmacheck "inj$icount-$1 $2"
    if src con | grep -q "^E2E-RESULT inj$icount-$1-dma PASS"; then dma=PASS; else dma=FAIL; fi
    mute
}
# unplug: device_del edu; sets unplugged=yes|no
unplug() {
    nev=$(grep -c '"DEVICE_DELETED".*"edu0"' "$qlog")
    qmp_cmd '{"execute":"device_del","arguments":{"id":"edu0"}}'
    l2 slotoff 10
    if wait_for qmp '"DEVICE_DELETED".*"edu0"' $((nev + 1)) 30; then unplugged=yes; else unplugged=no; fi
}
# plug: device_add edu; sets plugged=ok|refused|unseen, perr (the error)
plug() {
    nret=$(grep -c '"return"' "$qlog")
    nerr=$(grep -c '"error"' "$qlog")
    qmp_cmd '{"execute":"device_add","arguments":'"$dev_edu"'}'
    wait_for qmp '"return"\|"error"' $((nret + nerr + 1)) 30
    if [ "$(grep -c '"error"' "$qlog")" -gt "$nerr" ]; then
        plugged=refused
        perr=$(grep '"error"' "$qlog" | tail -n 1 | sed 's/.*"desc": *"\([^"]*\)".*/\1/' | cut -c1-200)
        return
    fi
    l2 waitedu 30
    case $(src con | grep '^E2E-L2 STATE' | tail -n 1) in
    *edu=none*) plugged=unseen ;;
    *) plugged=ok ;;
    esac
}
# cycle NAME SEED: unplug, plug, a DMA check if plugged
cycle() {
    unplug
    [ "$unplugged" = yes ] || { plugged=no dma=no; return; }
    plug
    if [ "$plugged" = ok ]; then dma "$1" "$2"; else dma=no; fi
}

echo "=== $TAG: failure injection ($INJ_MODE): counting pass"
fds0=$(qfds)
arm off
ntr0=$(wc -l <"$d/trace.log")
cycle count 4096
# "GEN NAME=K ...", the calls since GEN
counts=$(cat "$d/inject.counts" 2>/dev/null)
[ "${counts%% *}" = $igen ] || counts="$igen"
echo "=== $TAG: calls in one cycle: ${counts#* }; QEMU's iommufd/VFIO fds: $fds0"
if [ "$unplugged/$plugged/$dma" != yes/ok/PASS ]; then
    res inject FAIL "the cycle without failures did not work (device_del: $unplugged, device_add: $plugged, DMA: $dma); no matrix"
    return 0
fi

ncells=0 npass=0 nfired=0 nrefused=0 nbad=0 ncmdq=0 stop=
seed=$((0x1000))
for pair in $INJ_IOCTLS; do
    name=${pair%%:*} row=${pair#*:}
    k=$(echo "$counts " | sed -n "s/.* $name=\([0-9]*\) .*/\1/p")
    k=${k:-0}
    if [ "$k" = 0 ]; then
        res "inject-$row" FAIL "$name: not called in a cycle, nothing to inject"
        continue
    fi
    rowok=yes cells=
    nth=$((nth + 1))
    for cell in $(cells_for "$k"); do
        [ -z "$stop" ] || break
        n=${cell%%:*} err=${cell#*:}
        ncells=$((ncells + 1))
        seed=$((seed + 1))
        klog
        kev0=$kev kbad0=$kbad kcmdq0=$kcmdq
        new_stderr
        arm "$name $n $err"
        cycle "c$ncells" $seed
        u1=$unplugged p1=$plugged d1=$dma
        arm off
        fired=no
        grep -q "^inject $((igen - 1)) $name $n $err" "$ilog" && fired=yes
        new_stderr
        if ! alive; then
            cells="$cells; $err@$n: QEMU EXITED ($(tail -n 2 "$d/stderr" | tr '\n' ' '))"
            rowok=no stop="QEMU exited"
            break
        fi
        # recovery
        how=
        if [ "$u1" != yes ]; then
            # the unplug did not finish: L2 may still have edu
            how="device_del did not finish;"
            stop="device_del of edu did not finish"
        fi
        if [ "$u1" = yes ] && [ "$p1" != ok ]; then
            [ "$p1" != refused ] || nrefused=$((nrefused + 1))
            if [ "$p1" = unseen ]; then unplug; fi
            plug
            how="$how device_add again: $plugged;"
        fi
        dma "r$ncells" $((seed + 500))
        if [ "$dma" != PASS ]; then
            cycle "rr$ncells" $((seed + 700))
            how="$how DMA failed, one more cycle: $unplugged/$plugged/$dma;"
        fi
        rec=$dma
        klog
        db=$((kbad - kbad0)) dc=$((kcmdq - kcmdq0)) dev=$((kev - kev0))
        nbad=$((nbad + db)) ncmdq=$((ncmdq + dc))
        fds=$(qfds)
        [ "$fired" = no ] || nfired=$((nfired + 1))
        # the guest's view under the failure
        case $p1 in
        refused) seen="device_add refused ($perr)" ;;
        ok) seen="device_add ok, DMA $d1" ;;
        *) seen="device_del $u1, device_add $p1" ;;
        esac
        [ $dev = 0 ] && [ $dc = 0 ] || seen="$seen; L2: $db C_BAD_STE, $dev events, $dc CMDQ errors"
        ok=yes why=
        [ "$fired" = yes ] || { ok=no why="$why not injected (fewer than $n calls);"; }
        alive || { ok=no why="$why QEMU exited;"; }
        [ "$rec" = PASS ] || { ok=no why="$why no DMA after recovery;"; }
        [ "$fds" = "$fds0" ] || { ok=no why="$why QEMU holds $fds iommufd/VFIO fds, $fds0 before;"; }
        if [ "$d1" = FAIL ] && [ $dev = 0 ] && [ $dc = 0 ]; then
            ok=no why="$why DMA failed with no architected error in L2;"
        fi
        if [ "$u1" != yes ]; then ok=no why="$why device_del did not finish;"; fi
        echo "=== $TAG: inject $name call $n $err: $seen; QEMU: ${qerr:-nothing on stderr}; recovery:${how:- none needed;} DMA $rec; fds $fds; ${ok}${why:+ ($why)}"
        if [ $ok = yes ]; then
            npass=$((npass + 1))
            cells="$cells; $err@$n: $seen"
        else
            rowok=no
            cells="$cells; $err@$n: FAIL: $why $seen"
        fi
        alive || { stop="QEMU exited"; break; }
    done
    cells=${cells#; }
    if [ $rowok = yes ]; then
        res "inject-$row" PASS "$name, $k calls a cycle: $cells"
    else
        res "inject-$row" FAIL "$name, $k calls a cycle: $cells${stop:+ (matrix stopped: $stop)}"
    fi
    [ -z "$stop" ] || break
done
# The host refuses the abort HWPT when the guest replaces a translating
# STE by an abort one (L2's VFIO releasing edu): the device must not keep
# the translation the guest replaced.  The counting pass's trace gives
# the call: every VFIO_DEVICE_ATTACH_IOMMUFD_PT of the cycle in order (the
# kernel's HWPT ids), the abort HWPT being the one set_iommu_device
# attaches first after the re-plug (other than VFIO's stage 2, the first
# HWPT attached after the unplug).  Expected: the device detached from every page table
# (smmuv3_accel_block), C_BAD_STE in L2, recovery as in the matrix.
ctr=$(tail -n +$((ntr0 + 1)) "$d/trace.log" | sed -n '/smmuv3_accel_unset_device/,$p')
s2=$(echo "$ctr" | grep -m1 iommufd_cdev_attach_ioas_hwpt | sed -n 's/.* to id=\([0-9]*\).*/\1/p')
abort=$(echo "$ctr" | grep smmuv3_accel_attach | sed -n 's/.*hwpt=\([0-9]*\).*/\1/p' |
        grep -v -x "$s2" | head -n 1)
# the call number of an abort attach after a translating one
acall=$(tail -n +$((ntr0 + 1)) "$d/trace.log" | grep iommufd_cdev_attach_ioas_hwpt |
        sed -n 's/.* to id=\([0-9]*\).*/\1/p' |
        awk -v a="$abort" -v s="$s2" 'NR > 1 && $1 == a && p != a && p != s { print NR; exit } { p = $1 }')
if [ -n "$stop" ]; then
    res inject-attach-abort FAIL "not run: the matrix stopped ($stop)"
elif [ -z "$acall" ]; then
    res inject-attach-abort FAIL "no attach of the abort HWPT ($abort) after a translating one in the counting cycle (stage 2: $s2)"
else
    klog
    kbad0=$kbad
    new_stderr
    ntr=$(wc -l <"$d/trace.log")
    arm "VFIO_DEVICE_ATTACH_IOMMUFD_PT $acall EIO"
    cycle abort $((seed + 900))
    u1=$unplugged p1=$plugged d1=$dma
    arm off
    nf=$(grep -c "^inject $((igen - 1)) VFIO_DEVICE_ATTACH_IOMMUFD_PT" "$ilog")
    blocked=$(tail -n +$((ntr + 1)) "$d/trace.log" | grep -c smmuv3_accel_block)
    new_stderr
    dma r-abort $((seed + 950))
    [ "$dma" = PASS ] || cycle rr-abort $((seed + 970))
    rec=$dma
    klog
    db=$((kbad - kbad0))
    fds=$(qfds)
    seen="device_del $u1, device_add $p1, DMA $d1; L2: $db C_BAD_STE; QEMU: ${qerr:-nothing on stderr}"
    # blocks: this one, and the unplug's of the cycle and the recovery
    if alive && [ "$nf" = 1 ] && [ "$blocked" -ge 2 ] && [ "$db" -ge 1 ] &&
       [ "$rec" = PASS ] && [ "$fds" = "$fds0" ]; then
        res inject-attach-abort PASS "attach call $acall (abort HWPT $abort after a translating one) failed (EIO): device blocked ($blocked blocks in the cycle, the unplug's included), $seen; DMA back after recovery, fds $fds"
    else
        res inject-attach-abort FAIL "attach call $acall (abort HWPT $abort): failures injected $nf/1, blocks in the trace: $blocked (want the failure's and the unplug's), $seen; alive: $(alive && echo yes || echo no), recovery DMA $rec, fds $fds (before $fds0)"
    fi
fi

if [ -z "$stop" ] && [ "$npass" = "$ncells" ]; then
    res inject PASS "$ncells cells ($nfired injected failures, all survived: QEMU running, L2 answering, DMA back after each); $nrefused device_adds refused with an error, L2 saw $nbad C_BAD_STE events and $ncmdq command queue errors; QEMU's iommufd/VFIO fds $fds0 before and after"
else
    res inject FAIL "$npass/$ncells cells passed, $nfired failures injected${stop:+; stopped: $stop}"
fi
