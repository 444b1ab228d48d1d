# Common settings for the e2e scripts; sourced, not run.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

E2E=$REPO/tests/e2e
# Downloads and built artefacts (kernel Image, arm64 QEMU) outlive the clone.
E2E_CACHE=$CACHE/e2e
E2E_DL=$E2E_CACHE/dl
# Logs and scratch files of the last run (git-ignored).
E2E_OUT=${E2E_OUT:-$REPO/.check/e2e}
E2E_LOGS=$E2E_OUT/logs
mkdir -p "$E2E_LOGS"
