#!/bin/bash
# Prepare a Debian 12 machine for building and testing the series.
#
# - derives deb-src lines (and bookworm-backports for meson >= 1.5) from the
#   machine's existing Debian apt sources; no mirror is named here
# - installs the build and test dependencies
#
# - with the argument "fuzz", also clang and libFuzzer (make fuzz)
#
# Idempotent: does nothing when everything is already in place.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PKGS=(
    build-essential git ccache pkg-config dpkg-dev quilt xz-utils
    ninja-build flex bison python3-venv python3-pip
    libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev
    # firmware the +ds tarball lacks: aarch64 UEFI for bios-tables-test,
    # option ROMs of boards' default NICs and displays (qom-test)
    qemu-efi-aarch64 ipxe-qemu seabios bzip2
    # iasl, so that bios-tables-test can print table differences
    acpica-tools
    # the manual, which check-series renders with warnings as errors
    python3-sphinx python3-sphinx-rtd-theme
)
BPO_PKGS=(meson python3-pycotap)
# make fuzz: clang with its runtimes (libFuzzer, ASan, UBSan); Debian's
# default clang (14 on Debian 12)
if [ "${1:-}" = fuzz ]; then
    PKGS+=(clang libclang-rt-dev)
fi

if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

# The first Debian archive URI that serves the machine's own release
# (not -security), from deb822 .sources files or one-line .list files.
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v cn="$CODENAME" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/) { suites = " " $i " " }
                    if ($i ~ /^Types:/) { types = $i }
                }
                if (types ~ /deb/ && suites ~ (" " cn "[ \n]") &&
                    uris !~ /security/) {
                    split(uris, u, " "); print u[1]; exit
                }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v cn="$CODENAME" '
            $1 == "deb" && $0 !~ /security/ {
                for (i = 2; i <= NF; i++) {
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
                    if ($(i + 1) == cn) { print $i; exit }
                    break
                }
            }' "$f"
    done
}

CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$CODENAME" ] || die "cannot tell the Debian release from /etc/os-release"

MIRROR=$(debian_mirror | head -n 1)
[ -n "$MIRROR" ] || die "no Debian archive for $CODENAME in the apt sources"

# deb-src for every suite that may serve the base (qemu 10.2 is in sid)
# and the L1 kernel's source; deb for backports (meson >= 1.5).
LIST=/etc/apt/sources.list.d/smmuv3-accel.sources
want=$(cat <<EOF
# Written by smmuv3-accel scripts/setup-host.sh from the machine's own sources.
Types: deb-src
URIs: $MIRROR
Suites: $CODENAME $CODENAME-backports trixie trixie-backports forky sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $MIRROR
Suites: $CODENAME-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
)

updated=no
if [ "$(cat "$LIST" 2>/dev/null)" != "$want" ]; then
    log "apt: adding deb-src and $CODENAME-backports from $MIRROR"
    echo "$want" | $SUDO tee "$LIST" >/dev/null
    $SUDO apt-get update -q
    updated=yes
fi

missing=()
for p in "${PKGS[@]}"; do
    case "$p" in \#*) continue ;; esac
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
bpo_missing=()
for p in "${BPO_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || bpo_missing+=("$p")
done
# meson must be >= 1.5 (QEMU 10.2); bookworm's own meson is 1.0
if command -v meson >/dev/null &&
   ! dpkg --compare-versions "$(meson --version)" ge 1.5; then
    bpo_missing+=(meson)
fi

if [ ${#missing[@]} -gt 0 ] || [ ${#bpo_missing[@]} -gt 0 ]; then
    [ $updated = yes ] || $SUDO apt-get update -q
    export DEBIAN_FRONTEND=noninteractive
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt: installing ${missing[*]}"
        $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    if [ ${#bpo_missing[@]} -gt 0 ]; then
        log "apt: installing ${bpo_missing[*]} from $CODENAME-backports"
        $SUDO apt-get install -y -q --no-install-recommends \
            -t "$CODENAME-backports" "${bpo_missing[@]}"
    fi
fi

dpkg --compare-versions "$(meson --version)" ge 1.5 ||
    die "meson $(meson --version) is too old (QEMU 10.2 needs >= 1.5)"
log "host ready: meson $(meson --version), $(ninja --version | sed 's/^/ninja /')"
