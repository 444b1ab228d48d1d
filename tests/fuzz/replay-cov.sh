#!/bin/bash
# Replay a generic-fuzz corpus of the accel-host target (tests/fuzz/run.sh)
# on a system QEMU, e.g. build-cov/'s (gcc --coverage), to measure what the
# fuzzer covered: each input runs once in the fuzzer with QTEST_LOG=1, its
# qtest log becomes a qtest trace (QEMU's reorder_fuzzer_qtest_trace.py puts
# each DMA fill before the access that reads it), and the trace runs on
# QEMU with the same arguments and the same fake host (fakehost.c in fuzz
# mode answers from the guest's words, so it answers the same way).  QEMU
# ends with SIGTERM, a normal exit, so that gcov writes its counters.
#
# replay-cov.sh CORPUS_DIR
# QEMU=<system binary>  default build-cov/qemu-system-aarch64
# FUZZ_BUILD=<dir>      the fuzzing build (default build-fuzz/)
# GCOV_PREFIX=<dir>     where the counters go (see scripts/coverage.sh)
# REPLAY_JOBS=<n>       inputs replayed at once (default 2)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

corpus=${1:?usage: replay-cov.sh CORPUS_DIR}
QEMU=${QEMU:-$REPO/build-cov/qemu-system-aarch64}
FUZZ_BUILD=${FUZZ_BUILD:-$REPO/build-fuzz}
FUZZER=$FUZZ_BUILD/qemu-fuzz-aarch64
out=$REPO/.check/coverage/fuzz-replay
so=$out/fakehost.so
[ -x "$QEMU" ] || die "no $QEMU"
[ -x "$FUZZER" ] || die "no $FUZZER"
rm -rf "$out"
mkdir -p "$out/traces"
gcc -shared -fPIC -O2 -Wall -Werror -I"$TREE/linux-headers" -o "$so" \
    "$here/fakehost.c" -ldl || die "gcc fakehost.c failed"

# the accel-host target's arguments and fake host (both processes load
# the same fakehost.c)
. "$here/targets.sh"
args=$(target_args accel-host)
# shellcheck disable=SC2207
hostenv=($(target_env accel-host "$so"))

one() {
    local in=$1 name
    name=$(basename "$in")
    QTEST_LOG=1 QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="$OBJECTS" \
        ASAN_OPTIONS=detect_leaks=0 env "${hostenv[@]}" \
        "$FUZZER" --fuzz-target=generic-fuzz "$in" >/dev/null 2>"$out/traces/$name.log"
    "$PYTHON" "$TREE/scripts/oss-fuzz/reorder_fuzzer_qtest_trace.py" \
        "$out/traces/$name.log" >"$out/traces/$name.qtest" 2>/dev/null
    rm -f "$out/traces/$name.log"
    # shellcheck disable=SC2086
    env "${hostenv[@]}" "$PYTHON" - "$out/traces/$name.qtest" "$QEMU" \
        -display none -machine accel=qtest -m 512M $args -qtest stdio <<'EOF'
import signal, subprocess, sys
trace, cmd = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
ok = True
for line in open(trace):
    line = line.strip()
    if not line:
        continue
    try:
        p.stdin.write(line + "\n")
        p.stdin.flush()
        while True:
            ans = p.stdout.readline()
            if not ans:
                ok = False
                break
            if not ans.startswith("IRQ"):
                break
    except BrokenPipeError:
        ok = False
    if not ok:
        break
p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    ok = False
sys.exit(0 if ok else 1)
EOF
}

n=0 bad=0
mapfile -t inputs < <(find "$corpus" -maxdepth 1 -type f | sort)
for in in "${inputs[@]}"; do
    one "$in" &
    n=$((n + 1))
    if [ $((n % ${REPLAY_JOBS:-2})) -eq 0 ]; then
        wait -n || bad=$((bad + 1))
    fi
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do
    wait -n || bad=$((bad + 1))
done
cmds=$(cat "$out"/traces/*.qtest 2>/dev/null | wc -l)
echo "replayed $n inputs ($cmds qtest commands) on $QEMU; $bad did not run to their end"
