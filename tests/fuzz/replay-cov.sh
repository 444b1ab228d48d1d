#!/bin/bash
# Replay a generic-fuzz corpus of the accel-host target (tests/fuzz/run.sh)
# on a system QEMU, e.g. build-cov/'s (gcc --coverage), to measure what the
# fuzzer covered.  Each input runs once in the fuzzer with QTEST_LOG=1
# (and FUZZ_SERIALIZE_QTEST=1, so that its commands go through the qtest
# protocol and are logged); replay-qtest.py --trace makes the log a
# qtest trace, each DMA fill before the access that reads it.  Then
# one QEMU, with the same arguments and the same fake host (fakehost.c in
# fuzz mode answers from the guest's words, so it answers the same way),
# runs the traces one after the other, smallest input first, with a
# system_reset (QMP) after each: what generic-fuzz does in its one process
# (guest RAM, which a reset leaves alone, carries over there too).  QEMU
# ends with SIGTERM, a normal exit, so that gcov writes its counters.
#
# replay-cov.sh CORPUS_DIR [MORE_DIRS...]   (e.g. the corpus and the seeds,
#                                           which libFuzzer does not copy
#                                           into the corpus)
# QEMU=<system binary>  default build-cov/qemu-system-aarch64
# FUZZ_BUILD=<dir>      the fuzzing build (default build-fuzz/)
# GCOV_PREFIX=<dir>     where the counters go (see scripts/coverage.sh)
# REPLAY_JOBS=<n>       fuzzer runs at once to make the traces (default 2)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

[ $# -gt 0 ] || die "usage: replay-cov.sh CORPUS_DIR [MORE_DIRS...]"
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

trace() {
    local in=$1 name
    name=$(basename "$in")
    FUZZ_SERIALIZE_QTEST=1 QTEST_LOG=1 QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="$OBJECTS" \
        ASAN_OPTIONS=detect_leaks=0 env "${hostenv[@]}" \
        timeout -k 5 60 "$FUZZER" --fuzz-target=generic-fuzz "$in" \
        >/dev/null 2>"$out/traces/$name.log" ||
        echo "$name: the fuzzer exited $? (124: 60 s timeout)" >>"$out/failed"
    "$PYTHON" "$here/replay-qtest.py" --trace "$out/traces/$name.log" \
        >"$out/traces/$name.qtest"
    rm -f "$out/traces/$name.log"
}

# the fuzzer's order: libFuzzer runs a corpus smallest input first
mapfile -t inputs < <(find "$@" -maxdepth 1 -type f -printf '%s %p\n' |
                      sort -n | cut -d' ' -f2-)
n=0
for in in "${inputs[@]}"; do
    trace "$in" &
    n=$((n + 1))
    [ $((n % ${REPLAY_JOBS:-2})) -ne 0 ] || wait
done
wait
for in in "${inputs[@]}"; do
    echo "$out/traces/$(basename "$in").qtest"
done >"$out/order"
cmds=$(cat "$out"/traces/*.qtest 2>/dev/null | wc -l)

# shellcheck disable=SC2086
env "${hostenv[@]}" "$PYTHON" "$here/replay-qtest.py" "$out/order" \
    "$out/qmp.sock" "$QEMU" -display none -machine accel=qtest -m 512M $args \
    -qtest stdio -qmp "unix:$out/qmp.sock,server=on,wait=off"
rc=$?
slow=$(cat "$out/failed" 2>/dev/null | wc -l)
echo "replayed ${#inputs[@]} inputs ($cmds qtest commands) in one QEMU ($QEMU), a reset after each; exit $rc; $slow inputs without a full trace (logged in serial mode, see $out/failed)"
exit $rc
