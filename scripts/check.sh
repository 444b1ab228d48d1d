#!/bin/bash
# make check: the series checks, the qtests and the nested end-to-end run,
# with one closing line "N passed, N failed, N skipped".
#
# Order, for a cold machine: the e2e's inputs (L1 kernel, arm64 QEMU, L2
# kernel) are made in the background from the start (tests/e2e/prepare.sh,
# niced), while the per-patch walk compiles the series once, from its first
# patch to its last; build/ then gets the last patch's objects from ccache,
# and the qtests and the e2e run on it.  Each phase's wall time is printed
# and kept in .check/logs/phases.txt.
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
"$REPO/tests/e2e/prepare.sh" >"$logs/e2e-prepare.log" 2>&1 &
prep=$!

"$REPO/scripts/check-series.sh" || true
phase_end check-series
if "$REPO/scripts/build.sh" "$TREE" "$BUILD" >"$logs/build.log" 2>&1; then
    result PASS "build: build/qemu-system-aarch64 from the work tree"
else
    result FAIL "build: build/qemu-system-aarch64 from the work tree" "log: $logs/build.log"
    tail -n 25 "$logs/build.log" | sed 's/^/    | /' >&2
fi
phase_end build
"$REPO/scripts/run-qtests.sh" || true
phase_end qtests
wait $prep
phase_end e2e-prepare
printf '%-14s %5d s (in the background from the start)\n' "  prepare" \
    $(( $(date +%s) - prep_start )) | tee -a "$phases" >&2
sed 's/^/    /' "$logs/e2e-prepare.log" | grep 'prepare: ' | tee -a "$phases" >&2
# the nested end-to-end run against a real Linux iommufd host (its rows
# land in $RESULTS; its own table is in .check/logs/e2e.log)
"$REPO/tests/e2e/run.sh" >"$logs/e2e.log" 2>&1 || true
sed -n '/^== e2e results/,$p' "$logs/e2e.log" >&2
phase_end e2e
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
