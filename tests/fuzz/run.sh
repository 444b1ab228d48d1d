#!/bin/bash
# A bounded libFuzzer campaign over the SMMUv3's MMIO registers, command
# queue and the tables it reads from guest memory, with QEMU's generic-fuzz
# (qtest in process, ASan + UBSan).
#
# run.sh [TARGET...]      TARGET: accel (arm-smmuv3,accel=on; default),
#                         emul (the emulated arm-smmuv3, for comparison),
#                         emul-cmdqv (the emulated one with its Tegra241
#                         CMDQV: the VCMDQs, VINTFs and error maps),
#                         accel-host (accel=on with an assigned device on a
#                         fake iommufd + VFIO host, fakehost.c in fuzz mode:
#                         the fuzzed STEs, CDs and commands reach the host
#                         calls, the vIOMMU, vDEVICE, nested HWPTs, batched
#                         invalidations, and the host's answers, failures
#                         and vEVENTQ records, follow from the same words)
#                         or accel-host-cmdqv (accel-host with cmdqv=on on
#                         a fake host with a Tegra241 CMDQV: HW queues, the
#                         mapped VINTF page, the fake hardware consuming
#                         the queues, the host's error records)
# FUZZ_TIME=<s>           seconds per target (default 300)
# FUZZ_BUILD=<dir>        the fuzzing build (default build-fuzz/)
# FUZZ_LIBFUZZER_ARGS     more libFuzzer options, e.g. "-jobs=2 -workers=2"
# RESULTS=<file>          also append scripts/results.sh rows
#
# The corpus is kept in $CACHE/fuzz/corpus-TARGET; seeds come from
# seeds.py.  Logs and crash artifacts: .check/fuzz/TARGET/.  Exits non-zero
# if a target crashed, hung or tripped a sanitizer.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"
. "$REPO/scripts/results.sh"

FUZZ_TIME=${FUZZ_TIME:-300}
FUZZ_BUILD=${FUZZ_BUILD:-$REPO/build-fuzz}
FUZZER=$FUZZ_BUILD/qemu-fuzz-aarch64
OUT=$REPO/.check/fuzz
FAKEHOST_SO=${FAKEHOST_SO:-$OUT/fakehost.so}
[ $# -gt 0 ] || set -- accel
: "${RESULTS:=/dev/null}"

case $FUZZ_TIME in ''|*[!0-9]*) die "FUZZ_TIME must be seconds, not '$FUZZ_TIME'" ;; esac

. "$here/targets.sh"
ASAN_OPTS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:symbolize=1}
# accel-host also looks for leaks: libFuzzer checks every input after which
# more was allocated than freed (what QEMU's start-up leaves unfreed, for
# good, is not checked at exit)
ASAN_OPTS_HOST=${ASAN_OPTIONS:-detect_leaks=1:leak_check_at_exit=0:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

mkdir -p "$OUT"
log "fuzz build: $FUZZ_BUILD (log: $OUT/build.log; the first build takes long)"
"$here/build.sh" >"$OUT/build.log" 2>&1 || {
    tail -n 30 "$OUT/build.log" >&2
    result FAIL fuzz-build "log: $OUT/build.log"
    exit 1
}
[ -x "$FUZZER" ] || die "no $FUZZER after the build"
case " $* " in
    *" accel-host "* | *" accel-host-cmdqv "*)
        gcc -shared -fPIC -O2 -Wall -Werror -I"$TREE/linux-headers" \
            -o "$FAKEHOST_SO" "$here/fakehost.c" -ldl || die "gcc fakehost.c failed"
        ;;
esac

# The first lines of a sanitizer or libFuzzer report in a log.
report_head() {
    grep -m1 -n -E '^==[0-9]+==ERROR|runtime error:|^==[0-9]+== ERROR: libFuzzer|ALARM: working on|deadly signal|out-of-memory' "$1" |
        cut -d: -f1 | {
            read -r n || exit 0
            sed -n "$((n > 2 ? n - 2 : 1)),$((n + 14))p" "$1"
        }
}

rc=0
for t in "$@"; do
    args=$(target_args "$t") || die "unknown target '$t' (accel, emul, emul-cmdqv, accel-host, accel-host-cmdqv)"
    # shellcheck disable=SC2046
    tenv=(ASAN_OPTIONS="$ASAN_OPTS" $(target_env "$t" "$FAKEHOST_SO"))
    case $t in accel-host*) tenv[0]=ASAN_OPTIONS=$ASAN_OPTS_HOST ;; esac
    dir=$OUT/$t
    corpus=$CACHE/fuzz/corpus-$t
    seeds=$CACHE/fuzz/seeds
    rm -rf "$dir"
    mkdir -p "$dir" "$corpus"
    python3 "$here/seeds.py" "$seeds" || die "seeds.py failed"
    # the inputs that found bugs (tests/fuzz/regressions/TARGET-*) must run
    # clean first: each ran into a sanitizer report before its fix
    for reg in "$here"/regressions/"$t"-*; do
        [ -f "$reg" ] || continue
        # shellcheck disable=SC2086
        if (cd "$dir" && QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="$OBJECTS" \
                env "${tenv[@]}" "$FUZZER" --fuzz-target=generic-fuzz "$reg") \
                >"$dir/regression-$(basename "$reg").log" 2>&1; then
            result PASS "fuzz-regression: $(basename "$reg")" "runs clean"
            echo "== fuzz $t: regression input $(basename "$reg") runs clean"
        else
            rc=1
            result FAIL "fuzz-regression: $(basename "$reg")" "log: $dir/regression-$(basename "$reg").log"
            echo "!! fuzz $t: regression input $(basename "$reg") failed again"
            report_head "$dir/regression-$(basename "$reg").log" | sed 's/^/   | /'
        fi
    done
    before=$(find "$corpus" -type f | wc -l)
    log "fuzz $t: ${FUZZ_TIME}s, corpus $corpus ($before inputs)"
    # shellcheck disable=SC2086
    (cd "$dir" && QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="$OBJECTS" \
        env "${tenv[@]}" "$FUZZER" --fuzz-target=generic-fuzz \
        -max_total_time="$FUZZ_TIME" -print_final_stats=1 \
        -timeout="${FUZZ_UNIT_TIMEOUT:-25}" -rss_limit_mb=4096 \
        -max_len="${FUZZ_MAX_LEN:-4096}" -artifact_prefix="$dir/" \
        ${FUZZ_LIBFUZZER_ARGS:-} "$corpus" "$seeds") >"$dir/fuzz.log" 2>&1
    frc=$?
    # keep the corpus minimal: libFuzzer adds inputs but never drops the
    # ones that later inputs superseded
    if [ "$frc" -eq 0 ]; then
        rm -rf "$corpus.merge"
        mkdir -p "$corpus.merge"
        # shellcheck disable=SC2086
        if (cd "$dir" && QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="$OBJECTS" \
                env "${tenv[@]}" "$FUZZER" --fuzz-target=generic-fuzz -merge=1 \
                -timeout="${FUZZ_UNIT_TIMEOUT:-25}" -rss_limit_mb=4096 \
                "$corpus.merge" "$corpus") >"$dir/merge.log" 2>&1 &&
           [ -n "$(ls -A "$corpus.merge")" ]; then
            rm -rf "$corpus" && mv "$corpus.merge" "$corpus"
        else
            warn "corpus merge failed (log: $dir/merge.log); corpus kept as is"
            rm -rf "$corpus.merge"
        fi
    fi
    after=$(find "$corpus" -type f | wc -l)
    size=$(du -sk "$corpus" | cut -f1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/fuzz.log" | tail -n 1)
    [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$dir/fuzz.log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    echo "== fuzz $t: $done_line"
    echo "   executions ${execs:-?} (${eps:-?} exec/s), cov ${cov:-?}, corpus $before -> $after inputs (${size} KiB in $corpus)"
    # which commands the corpus reaches: replay it once with the trace on
    # shellcheck disable=SC2086
    (cd "$dir" && QEMU_FUZZ_ARGS="$args -trace enable=smmuv3_cmdq_opcode -trace enable=iommufd_backend_* -trace enable=smmuv3_accel_* -trace enable=smmuv3_cmdqv_* -trace file=$dir/replay.trace" \
        QEMU_FUZZ_OBJECTS="$OBJECTS" env "${tenv[@]}" "$FUZZER" --fuzz-target=generic-fuzz \
        -runs=0 "$corpus") >"$dir/replay.log" 2>&1
    cmds=$(sed -n 's/.*smmuv3_cmdq_opcode <--- \(SMMU_CMD_\)\{0,1\}//p' "$dir/replay.trace" 2>/dev/null |
           sort -u | tr '\n' ' ')
    echo "   commands reached by the corpus: ${cmds:-none}"
    if [ "${t#accel-host}" != "$t" ]; then
        # the host calls and accel events the corpus reaches, with counts
        host=$(grep -oE '(iommufd_backend|smmuv3_accel)_[a-z0-9_]+' "$dir/replay.trace" 2>/dev/null |
               sort | uniq -c | sort -rn | awk '{printf "%s(%s) ", $2, $1}')
        echo "   host calls and accel events reached: ${host:-none}"
    fi
    mapfile -t arts < <(find "$dir" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    if [ ${#arts[@]} -gt 0 ] || [ "$frc" -ne 0 ]; then
        rc=1
        echo "!! fuzz $t: libFuzzer exit $frc; reproducer(s): ${arts[*]:-none}"
        echo "   replay: QEMU_FUZZ_ARGS='$args' QEMU_FUZZ_OBJECTS='$OBJECTS' ${tenv[*]} $FUZZER --fuzz-target=generic-fuzz ${arts[0]:-<input>}"
        report_head "$dir/fuzz.log" | sed 's/^/   | /'
        result FAIL "fuzz-$t" "${execs:-?} execs; ${arts[0]:-exit $frc}; log: $dir/fuzz.log"
    else
        result PASS "fuzz-$t" "${execs:-?} execs, ${eps:-?}/s, cov ${cov:-?}, corpus $after"
    fi
done
exit $rc
