#!/bin/bash
# make check: the series checks and the qtests, with one closing line
# "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO/scripts/results.sh"

mkdir -p "$REPO/.check/logs"
export RESULTS=$REPO/.check/logs/results.txt
: >"$RESULTS"

start=$(date +%s)
"$REPO/scripts/check-series.sh" || true
"$REPO/scripts/run-qtests.sh" || true
# the nested end-to-end run against a real Linux iommufd host (its rows
# land in $RESULTS; its own table is in .check/logs/e2e.log)
"$REPO/tests/e2e/run.sh" >"$REPO/.check/logs/e2e.log" 2>&1 || true
sed -n '/^== e2e results/,$p' "$REPO/.check/logs/e2e.log" >&2
# a short fuzz campaign over the accelerated SMMU, only with CHECK_FUZZ=1:
# a cold build of the fuzzing QEMU (clang, ASan, UBSan) takes long
if [ "${CHECK_FUZZ:-0}" = 1 ]; then
    if "$REPO/scripts/setup-host.sh" fuzz >"$REPO/.check/logs/fuzz.log" 2>&1; then
        FUZZ_TIME=${CHECK_FUZZ_TIME:-60} "$REPO/tests/fuzz/run.sh" accel \
            >>"$REPO/.check/logs/fuzz.log" 2>&1 || true
        grep -E '^(== fuzz|   exec|   comm|!!|   [|])' "$REPO/.check/logs/fuzz.log" >&2
    else
        result FAIL fuzz "setup-host.sh fuzz failed; log: .check/logs/fuzz.log"
    fi
else
    result SKIP fuzz "CHECK_FUZZ=1 runs a 60 s campaign (make fuzz)"
fi
echo "check took $(( $(date +%s) - start )) s" >&2
summary
