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
echo "check took $(( $(date +%s) - start )) s" >&2
summary
