#!/bin/bash
# make demo: the nested end-to-end run (tests/e2e/run.sh, stages 1 and 2)
# with its result table, then what L2 looked like: the L2 VMM's command
# line in L1, and L2's own view of the vSMMU and its devices.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

t0=$SECONDS
"$here/run.sh"
rc=$?
console=$E2E_LOGS/console.log
if [ -f "$console" ] && grep -q '^=== l2: L2 VMM:' "$console"; then
    echo
    echo "== L2 (the first run: KVM in L1, pxb-pcie + arm-smmuv3,accel=on) =="
    grep -m1 '^=== l2: L2 VMM:' "$console" | sed 's/^=== l2: L2 VMM: /  L1 runs: /'
    echo "  L2 says:"
    sed -n '/^=== l2: L2 serial console/,/^=== stage 2 l2 exit/p' "$console" |
        grep -E '^L2\| (E2E-L2 READY|=== L2|E2E-RESULT|edudma:)' | head -n 30 |
        sed 's/^L2| /    /'
fi
echo
echo "demo: $((SECONDS - t0)) s (logs: $E2E_LOGS)"
exit $rc
