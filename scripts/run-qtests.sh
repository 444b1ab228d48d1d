#!/bin/bash
# Run the qtests that cover the series through meson in the build tree:
# the series' own qtests (new files in tests/qtest/) and the upstream
# bios-tables-test, device-introspect-test and qom-test for aarch64.
# Results go to $RESULTS (see results.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO/scripts/results.sh"

logs=$REPO/.check/logs
mkdir -p "$logs"
own_results=no
if [ -z "${RESULTS:-}" ]; then
    RESULTS=$logs/qtest-results.txt
    : >"$RESULTS"
    own_results=yes
fi

# The series' own qtests and unit tests: the test files it adds.
own=$(git -C "$TREE" diff --name-only --diff-filter=A base HEAD -- \
          'tests/qtest/*-test.c' | xargs -r -n1 basename | sed 's/\.c$//')
own_unit=$(git -C "$TREE" diff --name-only --diff-filter=A base HEAD -- \
               'tests/unit/test-*.c' | xargs -r -n1 basename | sed 's/\.c$//' |
           tr '\n' ' ')
upstream="bios-tables-test device-introspect-test qom-test"
tests="$own $upstream"

targets=(qemu-system-aarch64)
for t in $tests; do
    targets+=("tests/qtest/$t")
done
for t in $own_unit; do
    targets+=("tests/unit/$t")
done
"$REPO/scripts/build.sh" "$TREE" "$BUILD" "${targets[@]}" >"$logs/build-qtests.log" 2>&1 || {
    tail -n 30 "$logs/build-qtests.log" >&2
    result FAIL "build: qemu-system-aarch64 and the qtests" "log: $logs/build-qtests.log"
    [ $own_results = no ] || summary
    exit 1
}

# Firmware: the +ds tarball has no edk2 images; bios-tables-test boots
# Debian's AAVMF under the names it expects.
aavmf=/usr/share/AAVMF
[ -f $aavmf/AAVMF_CODE.fd ] || die "AAVMF missing: run scripts/setup-host.sh"
mkdir -p "$BUILD/pc-bios"
cmp -s $aavmf/AAVMF_CODE.fd "$BUILD/pc-bios/edk2-aarch64-code.fd" ||
    cp $aavmf/AAVMF_CODE.fd "$BUILD/pc-bios/edk2-aarch64-code.fd"
cmp -s $aavmf/AAVMF_VARS.fd "$BUILD/pc-bios/edk2-arm-vars.fd" ||
    cp $aavmf/AAVMF_VARS.fd "$BUILD/pc-bios/edk2-arm-vars.fd"
fwver=$(dpkg-query -W -f '${Version}' qemu-efi-aarch64 2>/dev/null || echo unknown)

# Local re-blessing (not part of the series): HEST and SSDT.memhp hold
# addresses that the firmware allocates, so the upstream blobs only match
# upstream's own edk2 build.  The expected tables are served from a copy in
# the build tree in which exactly those two are re-blessed against the
# installed AAVMF; every other table stays as the series has it.
acpi_overlay() {
    local src=$TREE/tests/data dst=$BUILD/tests/data e
    if [ -L "$dst" ] || [ ! -d "$dst" ]; then
        rm -f "$dst"
        mkdir -p "$dst"
    fi
    for e in "$src"/*; do
        [ "$(basename "$e")" = acpi ] && continue
        ln -sfn "$e" "$dst/$(basename "$e")"
    done
    rm -rf "$dst/acpi"
    cp -a "$src/acpi" "$dst/acpi"
}
acpi_overlay
# Only the two test cases that write HEST (acpi/virt) and SSDT.memhp
# (acpi/virt/memhp) run for that: each case boots the firmware under TCG,
# and the rest would write nothing that is kept.
bless_skip=()
while read -r path; do
    case $path in
    /aarch64/acpi/virt | /aarch64/acpi/virt/memhp) ;;
    /*) bless_skip+=(-s "$path") ;;
    esac
done < <(cd "$BUILD" && QTEST_QEMU_BINARY=./qemu-system-aarch64 tests/qtest/bios-tables-test -l)
log "re-blessing HEST and SSDT.memhp against AAVMF $fwver (local only)"
(cd "$BUILD" && TEST_ACPI_REBUILD_AML=1 QTEST_QEMU_BINARY=./qemu-system-aarch64 \
    timeout 900 tests/qtest/bios-tables-test --verbose "${bless_skip[@]}") \
    >"$logs/bios-tables-rebless.log" 2>&1 || true
reblessed=()
while IFS= read -r f; do
    rel=${f#"$BUILD/tests/data/"}
    if cmp -s "$f" "$TREE/tests/data/$rel"; then
        continue
    fi
    case "$(basename "$rel")" in
    HEST*|SSDT.memhp*) reblessed+=("$rel") ;;
    *) cp "$TREE/tests/data/$rel" "$f" ;;  # the series' blob stays in force
    esac
done < <(find "$BUILD/tests/data/acpi/aarch64" -type f)
log "re-blessed locally: ${reblessed[*]:-nothing}"

# qom-test: the Aspeed AST27x0 and Nuvoton NPCM7xx/8xx boards refuse to
# start without their boot ROMs, which the +ds tarball strips.  qom-test
# only walks the QOM tree with no guest code running, so zero-filled
# placeholder ROMs in the build's data directory stand in for them.
datadir=$("$BUILD/qemu-system-aarch64" -L help | grep '/share/qemu$' | head -n 1)
[ -n "$datadir" ] || die "cannot tell the build's data directory (-L help)"
for rom in ast27x0_bootrom.bin npcm7xx_bootrom.bin npcm8xx_bootrom.bin; do
    if [ ! -f "$datadir/$rom" ]; then
        log "qom-test: placeholder $rom in $datadir"
        head -c 65536 /dev/zero >"$datadir/$rom"
    fi
done
# Option ROMs of default devices (a board's NIC loads efi-virtio.rom, its
# display vgabios-*.bin): Debian's ipxe-qemu and seabios have the real ones.
for rom in /usr/lib/ipxe/qemu/*.rom /usr/share/seabios/vgabios-*.bin; do
    [ -e "$rom" ] || die "$rom missing: run scripts/setup-host.sh"
    ln -sfn "$rom" "$datadir/$(basename "$rom")"
done

for t in $own_unit $tests; do
    case " $own_unit " in
    *" $t "*) name=$t ;;            # suite "unit"
    *) name=qtest-aarch64/$t ;;
    esac
    logf=$logs/$t.log
    if meson test -C "$BUILD" --no-rebuild --print-errorlogs "$name" >"$logf" 2>&1; then
        # glib reports the test cases it skipped with "# SKIP"
        skips=$(grep -c '# SKIP' "$BUILD/meson-logs/testlog.txt" || true)
        cases=$(grep -cE '^ok [0-9]+ ' "$BUILD/meson-logs/testlog.txt" || true)
        [ "$skips" -gt 0 ] || skips=
        result PASS "test: $t" "$cases cases${skips:+, $skips skipped inside}"
    else
        result FAIL "test: $t" "log: $logf, $BUILD/meson-logs/testlog.txt"
        tail -n 25 "$logf" | sed 's/^/    | /' >&2
        cp "$BUILD/meson-logs/testlog.txt" "$logs/$t.testlog.txt" || true
    fi
done

# The accelerated variant's IORT, which bios-tables-test has just matched
# against QEMU's output: Debian's iasl cannot decode RMR nodes, so the
# series' own decoder checks them (revision >= 5, one RMR per accelerated
# SMMUv3, mapping to an SMMUv3 node, with a memory range).
iort=$TREE/tests/data/acpi/aarch64/virt/IORT.smmuv3-accel
if [ -s "$iort" ]; then
    if "$PYTHON" "$REPO/scripts/iort-decode.py" "$iort" --expect-rmr 2 --expect-ats 1 \
            >"$logs/iort-rmr.log" 2>&1; then
        result PASS "tables: IORT RMR nodes" "$(grep -c '] RMR' "$logs/iort-rmr.log") RMR nodes: $(grep -A1 '] RMR' "$logs/iort-rmr.log" |
            sed -n 's/.*IDs \(0x[0-9a-f]*-0x[0-9a-f]*\) .*/\1/p' | tr '\n' ' ')-> SMMUv3, $(grep -m1 -o 'range 0x[0-9a-f+x]*' "$logs/iort-rmr.log"); root complex $(grep -m1 -o 'ATS attribute 0x[0-9a-f]*' "$logs/iort-rmr.log")"
    else
        result FAIL "tables: IORT RMR nodes" "log: $logs/iort-rmr.log"
        cat "$logs/iort-rmr.log" >&2
    fi
fi

if [ $own_results = yes ]; then
    summary
else
    ! grep -q '^FAIL' "$RESULTS"
fi
