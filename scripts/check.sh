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
echo "check took $(( $(date +%s) - start )) s" >&2
summary
