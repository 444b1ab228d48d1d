#!/bin/bash
# make check: the series checks, the qtests and the nested end-to-end run,
# with one closing line "N passed, N failed, N skipped".
#
# Order, for a cold machine: the e2e's inputs (L1 kernel, arm64 QEMU, L2
# kernel) are made in the background from the start (tests/e2e/prepare.sh,
# niced), while the per-patch walk compiles the series once, from its first
# patch to its last; build/ then gets the last patch's objects from ccache,
# and the qtests and the e2e run on it, side by side.  On a warm machine
# build/ comes first and the e2e runs next to the walk.  Each phase's wall
# time is printed and kept in .check/logs/phases.txt.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO/scripts/results.sh"

logs=$REPO/.check/logs
mkdir -p "$logs"
export RESULTS=$logs/results.txt
: >"$RESULTS"
phases=$logs/phases.txt
: >"$phases"

start=$(date +%s)
phase_start=$start
phase_end() {  # phase_end NAME: the time since the previous phase ended
    local now
    now=$(date +%s)
    printf '%-14s %5d s\n' "$1" $((now - phase_start)) | tee -a "$phases" >&2
    phase_start=$now
}

prep_start=$start
rm -f "$logs/e2e-prepare.done" "$logs/e2e.start"
{
    "$REPO/tests/e2e/prepare.sh" >"$logs/e2e-prepare.log" 2>&1
    touch "$logs/e2e-prepare.done"
} &

build_tree() {
    if "$REPO/scripts/build.sh" "$TREE" "$BUILD" >"$logs/build.log" 2>&1; then
        result PASS "build: build/qemu-system-aarch64 from the work tree"
    else
        result FAIL "build: build/qemu-system-aarch64 from the work tree" "log: $logs/build.log"
        tail -n 25 "$logs/build.log" | sed 's/^/    | /' >&2
    fi
    phase_end build
}
# The nested end-to-end run against a real Linux iommufd host (its rows
# land in $RESULTS; its own table is in .check/logs/e2e.log), as soon as
# build/ and its inputs are there, next to the rest: L0 leaves much of the
# machine idle while L1 and L2 wait on each other.
start_e2e() {
    (
        while [ ! -e "$logs/e2e-prepare.done" ]; do sleep 2; done
        date +%s >"$logs/e2e.start"
        "$REPO/tests/e2e/run.sh" >"$logs/e2e.log" 2>&1 || true
    ) &
    e2e=$!
}

# ccache holds the objects of this series' last commit when an earlier run
# on this machine built it (the stamp): then build/ comes first, in a
# minute, and the e2e runs next to the per-patch walk.  Otherwise the walk
# compiles the series first and build/ takes its last objects.
if [ -d "$CCACHE_DIR" ] &&
   [ "$(cat "$CACHE/ccache-series" 2>/dev/null)" = "$(ccache_series_key)" ]; then
    log "check: ccache holds this series: build/ and the e2e first"
    build_tree
    start_e2e
    # the e2e is the long pole here: the walk takes what L0 leaves
    nice -n 10 "$REPO/scripts/check-series.sh" || true
    phase_end check-series
else
    "$REPO/scripts/check-series.sh" || true
    phase_end check-series
    build_tree
    start_e2e
fi
"$REPO/scripts/run-qtests.sh" || true
phase_end qtests
# The accelerated SMMU's host calls with no host: build/'s QEMU under the
# fake iommufd + VFIO host (tests/fuzz/fakehost.c, preloaded) with an
# assigned device; one row per step of tests/fuzz/fakehost-smoke.sh
"$REPO/tests/fuzz/fakehost-smoke.sh" >"$logs/fakehost.log" 2>&1
while read -r st row rest; do
    case $st in
    PASS | FAIL) result "$st" "fakehost-${row%:}" "$rest" ;;
    esac
done <"$logs/fakehost.log"
grep -q '^fakehost-smoke: ' "$logs/fakehost.log" ||
    result FAIL fakehost "fakehost-smoke.sh did not finish; log: .check/logs/fakehost.log"
phase_end fakehost
wait $e2e
sed -n '/^== e2e results/,$p' "$logs/e2e.log" >&2
phase_end e2e
printf '%-14s %5d s (in the background from the start)\n' "  e2e-prepare" \
    $(( $(cat "$logs/e2e.start" 2>/dev/null || date +%s) - prep_start )) | tee -a "$phases" >&2
sed 's/^/    /' "$logs/e2e-prepare.log" | grep 'prepare: ' | tee -a "$phases" >&2
printf '%-14s %5d s (from its start, next to the other phases)\n' "  e2e run" \
    $(( $(date +%s) - $(cat "$logs/e2e.start" 2>/dev/null || date +%s) )) | tee -a "$phases" >&2
# a short fuzz campaign over the accelerated SMMU, only with CHECK_FUZZ=1:
# a cold build of the fuzzing QEMU (clang, ASan, UBSan) takes long
if [ "${CHECK_FUZZ:-0}" = 1 ]; then
    if "$REPO/scripts/setup-host.sh" fuzz >"$logs/fuzz.log" 2>&1; then
        FUZZ_TIME=${CHECK_FUZZ_TIME:-60} "$REPO/tests/fuzz/run.sh" accel \
            >>"$logs/fuzz.log" 2>&1 || true
        grep -E '^(== fuzz|   exec|   comm|!!|   [|])' "$logs/fuzz.log" >&2
    else
        result FAIL fuzz "setup-host.sh fuzz failed; log: .check/logs/fuzz.log"
    fi
    phase_end fuzz
else
    result SKIP fuzz "CHECK_FUZZ=1 runs a 60 s campaign (make fuzz)"
fi
echo "check took $(( $(date +%s) - start )) s" >&2
summary
