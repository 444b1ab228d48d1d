#!/bin/bash
# Check the series as a maintainer receives it, in a scratch tree:
#  1. it applies to a pristine base (git am)
#  2. exporting the applied series again is byte-identical to patches/
#  3. every patch passes QEMU's scripts/checkpatch.pl
#  4. every patch builds on its own (incremental build after each patch,
#     from a full build of the first)
#  5. the manual renders with sphinx, warnings as errors
# Results go to $RESULTS (see results.sh); exit status 1 on any failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO/scripts/results.sh"

scratch=$REPO/.check/series
logs=$REPO/.check/logs
mkdir -p "$logs"
own_results=no
if [ -z "${RESULTS:-}" ]; then
    RESULTS=$logs/series-results.txt
    : >"$RESULTS"
    own_results=yes
fi

rm -rf "$scratch/qemu" "$scratch/qemu.new" "$scratch/export" "$scratch/final"
mkdir -p "$scratch"
if ! "$REPO/scripts/tree.sh" "$scratch/qemu" >"$logs/series-apply.log" 2>&1; then
    result FAIL "series: applies to the pristine base" "log: $logs/series-apply.log"
    tail -n 20 "$logs/series-apply.log" >&2
    [ $own_results = no ] || summary
    exit 1
fi
patches=()
for p in "$REPO"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
    [ -e "$p" ] || continue
    case "$(basename "$p")" in 0000-*) continue ;; esac
    patches+=("$p")
done
ncommits=$(git -C "$scratch/qemu" rev-list --count base..master)
if [ "$ncommits" != "${#patches[@]}" ]; then
    result FAIL "series: patches/ changed during the check" \
        "${#patches[@]} patches, $ncommits applied"
    [ $own_results = no ] || summary
    exit 1
fi
result PASS "series: ${#patches[@]} patches apply to the pristine base"

run_check "series: re-export is byte-identical" "$logs/series-export.log" \
    bash -c '"$1/scripts/export.sh" --tree "$2/qemu" --to "$2/export" &&
             diff -r "$1/patches" "$2/export"' _ "$REPO" "$scratch"

# checkpatch_clean TREE PATCH: no error and no warning.  Warnings count
# too, as a series is sent with none, except one that QEMU's own procedure
# produces: bios-tables-test.c has new expected ACPI tables added as empty
# files first, and checkpatch asks whether such a new file needs an SPDX
# line, which binary AML cannot carry.
checkpatch_clean() {
    local out rc=0 other
    out=$(cd "$1" && ./scripts/checkpatch.pl "$2") || rc=$?
    printf '%s\n' "$out"
    [ $rc = 0 ] || return 1
    other=$(grep '^WARNING' <<<"$out" |
            grep -v "^WARNING: Does new file 'tests/data/acpi/[^']*' need 'SPDX-License-Identifier'?\$" ||
            true)
    [ -z "$other" ] && grep -q '^total: 0 errors,' <<<"$out"
}

# The manual as QEMU's docs build makes it (sphinx-build -W, kernel-doc
# with -Werror), from the series' tree: it must render, the accelerated
# SMMUv3 page included, without a warning.
render_docs() {
    local src=$1 out=$2
    rm -rf "$out"
    CONFDIR=/etc/qemu sphinx-build -q -W -Dkerneldoc_werror=1 \
        -Dversion="$(cat "$src/VERSION")" -Drelease= \
        -b html -d "$out/.doctrees" "$src/docs" "$out" &&
        grep -q 'Accelerated SMMUv3' "$out/system/arm/smmuv3-accel.html" &&
        grep -q 'smmuv3-accel.html' "$out/system/target-arm.html"
}
# checkpatch and the manual, from a second checkout of the last commit,
# while the per-patch builds below move the scratch tree from commit to
# commit: both are single-threaded and fill what the builds leave idle.
# Their rows follow the builds'.
side=$logs/series-side-results.txt
: >"$side"
git -C "$scratch/qemu" worktree prune
git -C "$scratch/qemu" worktree add -q --detach "$scratch/final" master
(
    RESULTS=$side
    for p in "${patches[@]}"; do
        n=$(basename "$p" .patch)
        run_check "checkpatch: $n" "$logs/checkpatch-$n.log" \
            checkpatch_clean "$scratch/final" "$p"
    done
    if command -v sphinx-build >/dev/null; then
        run_check "docs: the manual renders without warnings (smmuv3-accel page)" \
            "$logs/docs.log" render_docs "$scratch/final" "$scratch/docs"
    else
        result FAIL "docs: the manual renders" "no sphinx-build: run scripts/setup-host.sh"
    fi
) &
side_pid=$!

# Build each patch on top of the previous one.  The first patch's build is
# the full one; the base alone is not built (QEMU's own CI builds it, and
# every file the base has is compiled at the first patch anyway).  The walk
# ends on the series' last commit, whose objects then serve build/ from
# ccache (scripts/lib.sh: same relative paths, no directory in the hash).
commits=$(git -C "$scratch/qemu" rev-list --reverse base..master)
i=0
for c in $commits; do
    n=$(basename "${patches[$i]}" .patch)
    i=$((i + 1))
    git -C "$scratch/qemu" -c advice.detachedHead=false checkout -q "$c"
    # also build the qtests the patch touches
    targets=(qemu-system-aarch64)
    for t in $(git -C "$scratch/qemu" diff --name-only --diff-filter=AM \
                   "$c~1" "$c" -- 'tests/qtest/*-test.c'); do
        targets+=("tests/qtest/$(basename "$t" .c)")
    done
    run_check "build: $n" "$logs/build-$n.log" \
        "$REPO/scripts/build.sh" "$scratch/qemu" "$scratch/build" "${targets[@]}"
done
# ccache now holds the last commit's objects (check.sh reads this)
if awk -F'\t' -v n="build: $n" '$1 == "PASS" && $2 == n { ok = 1 } END { exit !ok }' "$RESULTS"; then
    ccache_series_key >"$CACHE/ccache-series"
fi
git -C "$scratch/qemu" checkout -q master
wait $side_pid
cat "$side" >>"$RESULTS"

if [ $own_results = yes ]; then
    summary
else
    ! grep -q '^FAIL' "$RESULTS"
fi
