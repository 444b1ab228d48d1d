#!/bin/bash
# Write the work tree's commits (base..HEAD) as a git format-patch series,
# normalised so that exporting an unchanged tree is byte-identical: zero
# commit ids in the From lines, no version signature, no base-commit trailer,
# fixed-length abbreviated ids, and a cover letter built from
# series/cover-letter.txt with a fixed date.
#
# export.sh [--tree DIR] [--to DIR]   (defaults: the work tree, patches/)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree=$TREE
to=$REPO/patches
while [ $# -gt 0 ]; do
    case "$1" in
    --tree) tree=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    *) die "usage: export.sh [--tree DIR] [--to DIR]" ;;
    esac
done
[ -d "$tree/.git" ] || die "no work tree at $tree: run 'make tree'"
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
    die "$tree has uncommitted changes; commit them first"
fi

cover=$REPO/series/cover-letter.txt
[ -f "$cover" ] || die "missing $cover"

# Neither the user's nor the system's git configuration may change the output.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
g() { git -C "$tree" -c core.abbrev=12 -c diff.noprefix=false \
          -c diff.mnemonicPrefix=false -c diff.renames=true \
          -c format.signOff=false "$@"; }

base=$(g rev-parse -q --verify base 2>/dev/null || g rev-list --max-parents=0 HEAD)
n=$(g rev-list --count "$base..HEAD")
[ "$n" -gt 0 ] || die "the work tree has no commits over its base"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g format-patch -q --zero-commit --no-signature --no-base --numbered \
    --cover-letter --subject-prefix=PATCH -o "$tmp" "$base..HEAD"

# The cover letter: subject and blurb from series/cover-letter.txt (first
# line = subject, the rest = body) and the date of the last patch.
c=$tmp/0000-cover-letter.patch
last=$(ls "$tmp"/[0-9]*.patch | tail -n 1)
date=$(sed -n 's/^Date: //p' "$last" | head -n 1)
subject=$(head -n 1 "$cover")
python3 - "$c" "$cover" "$subject" "$date" <<'PY'
import sys
path, cover, subject, date = sys.argv[1:]
body = open(cover).read().split("\n", 1)[1].strip("\n")
out = []
for line in open(path).read().split("\n"):
    if line.startswith("Date: "):
        line = "Date: " + date
    line = line.replace("*** SUBJECT HERE ***", subject)
    if line == "*** BLURB HERE ***":
        line = body
    out.append(line)
open(path, "w").write("\n".join(out))
PY

mkdir -p "$to"
rm -f "$to"/[0-9][0-9][0-9][0-9]-*.patch
cp "$tmp"/*.patch "$to"/
if [ "$to" = "$REPO/patches" ]; then
    # the work tree now matches patches/ (see tree.sh)
    for f in "$to"/[0-9][0-9][0-9][0-9]-*.patch; do
        case "$(basename "$f")" in 0000-*) continue ;; esac
        cat "$f"
    done | sha256sum | cut -d' ' -f1 >"$tree/.git/series-stamp"
fi
log "export: $n patches (+ cover letter) in $to"
ls "$to"/*.patch
