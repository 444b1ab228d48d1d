#!/bin/bash
# make coverage: line and branch coverage of what the series adds or
# changes, over the tests that exercise it, as one table
# (scripts/coverage-table.py).  Not part of `make check`: it builds QEMU
# once more (gcov) and runs the e2e once more, with the arm64 QEMU built
# with gcov too.
#
# Sets of runs (each its own column; "all" is their union):
#   qtests    the series' qtests and unit tests, bios-tables-test,
#             device-introspect-test, qom-test (scripts/run-qtests.sh) on
#             build-cov/ (gcc --coverage, configured like build/ otherwise)
#   fakehost  tests/fuzz/fakehost-smoke.sh on build-cov/
#   fuzz      the accel-host fuzz corpus (tests/fuzz/run.sh accel-host),
#             each input replayed as a qtest trace on build-cov/
#             (tests/fuzz/replay-cov.sh); only when the corpus and
#             build-fuzz/ exist (make fuzz FUZZ_TARGETS=accel-host first)
#   e2e       the nested end-to-end run (tests/e2e/run.sh with
#             E2E_QEMU_GCOV=1): the arm64 QEMU in L1, built with gcov, its
#             counters brought back from L1 over the console
#
# COVERAGE_SETS="qtests fakehost fuzz e2e"   the sets to run (default all)
# COVERAGE_TABLE_ONLY=1                       only print the table from the
#                                             data of the last run
# Data and logs: .check/coverage/ (table.txt, table.json, one directory of
# .gcda files per set: GCOV_PREFIX, so the sets stay apart).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

COV=$REPO/.check/coverage
BUILD_COV=${BUILD_COV:-$REPO/build-cov}
SETS=${COVERAGE_SETS:-qtests fakehost fuzz e2e}
export QEMU_GCOV=1
e2e_out=$COV/e2e
mkdir -p "$COV"
export GCOV_PREFIX_STRIP=0

has() { case " $SETS " in *" $1 "*) return 0 ;; esac; return 1; }
phase() { log "coverage: $*"; }

if [ "${COVERAGE_TABLE_ONLY:-0}" = 0 ]; then
    phase "build $BUILD_COV (gcov; log: $COV/build.log)"
    "$REPO/scripts/build.sh" "$TREE" "$BUILD_COV" qemu-system-aarch64 \
        >"$COV/build.log" 2>&1 || { tail -n 30 "$COV/build.log" >&2; die "the gcov build failed"; }
    find "$BUILD_COV" -name '*.gcda' -delete
    for s in $SETS; do
        rm -rf "${COV:?}/$s"
    done

    if has qtests; then
        phase "qtests and unit tests on $BUILD_COV"
        : >"$COV/qtests.results"
        GCOV_PREFIX=$COV/qtests BUILD=$BUILD_COV RESULTS=$COV/qtests.results \
            "$REPO/scripts/run-qtests.sh" >"$COV/qtests.log" 2>&1 ||
            warn "some qtests failed: $COV/qtests.results"
        grep -E '^(PASS|FAIL|SKIP)' "$COV/qtests.results" | cut -c1-100 >&2
    fi
    if has fakehost; then
        phase "fakehost-smoke on $BUILD_COV"
        GCOV_PREFIX=$COV/fakehost QEMU=$BUILD_COV/qemu-system-aarch64 \
            OUT=$COV/fakehost-smoke "$REPO/tests/fuzz/fakehost-smoke.sh" \
            >"$COV/fakehost.log" 2>&1 || warn "fakehost-smoke failed: $COV/fakehost.log"
        tail -n 1 "$COV/fakehost.log" >&2
    fi
    if has fuzz; then
        if [ -d "$CACHE/fuzz/corpus-accel-host" ] && [ -x "$REPO/build-fuzz/qemu-fuzz-aarch64" ]; then
            phase "the accel-host fuzz corpus replayed on $BUILD_COV"
            GCOV_PREFIX=$COV/fuzz QEMU=$BUILD_COV/qemu-system-aarch64 \
                "$REPO/tests/fuzz/replay-cov.sh" "$CACHE/fuzz/corpus-accel-host" "$CACHE/fuzz/seeds" \
                >"$COV/fuzz.log" 2>&1 || warn "the replay failed: $COV/fuzz.log"
            tail -n 1 "$COV/fuzz.log" >&2
        else
            warn "set fuzz skipped: no accel-host corpus or no build-fuzz/ (make fuzz FUZZ_TARGETS=accel-host)"
        fi
    fi
    if has e2e; then
        phase "the e2e run with the arm64 QEMU built with gcov (log: $COV/e2e.log)"
        E2E_QEMU_GCOV=1 E2E_OUT=$e2e_out "$REPO/tests/e2e/run.sh" >"$COV/e2e.log" 2>&1 ||
            warn "the e2e run had failures: $COV/e2e.log"
        grep -E '^(PASS|FAIL|SKIP) ' "$COV/e2e.log" | grep -i gcov >&2 || true
    fi
fi

sets=()
has qtests && sets+=(--set "qtests=gcov:$BUILD_COV:$COV/qtests")
has fakehost && sets+=(--set "fakehost=gcov:$BUILD_COV:$COV/fakehost")
has fuzz && [ -d "$COV/fuzz" ] && sets+=(--set "fuzz=gcov:$BUILD_COV:$COV/fuzz")
if has e2e && [ -s "$e2e_out/gcov-build" ]; then
    sets+=(--set "e2e=aarch64-linux-gnu-gcov:$(cat "$e2e_out/gcov-build")")
fi
[ ${#sets[@]} -gt 0 ] || die "no set of runs to tabulate"
# "check": the sets make check runs (the issue's targets are on them)
"$PYTHON" "$REPO/scripts/coverage-table.py" --tree "$TREE" "${sets[@]}" \
    --union check=qtests,fakehost,e2e --branches-of check \
    --json "$COV/table.json" --uncovered-src >"$COV/table.txt" || die "coverage-table.py failed"
sed '/^uncovered lines/,$d' "$COV/table.txt"
sed -n '/^uncovered lines/,/^lines of the accelerated files with branch/p' "$COV/table.txt" |
    grep -v -e '^    ' -e '^lines of the accelerated files with branch'
echo "(the uncovered lines with their source, and the lines whose branches"
echo " make check's sets did not all take: $COV/table.txt)"
