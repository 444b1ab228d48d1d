#!/bin/bash
# Create the work tree: a git repository holding the base as one commit and
# then one commit per patch in patches/.  Idempotent: an up-to-date tree is
# left alone; a tree with commits or changes that patches/ does not hold is
# never clobbered.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# tree.sh [DIR]: DIR defaults to the work tree
dest=${1:-$TREE}
stamp=$dest/.git/series-stamp

# hash of a directory's numbered patches (the cover letter left out)
series_hash() {
    local f
    for f in "$1"/[0-9][0-9][0-9][0-9]-*.patch; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in 0000-*) continue ;; esac
        cat "$f"
    done | sha256sum | cut -d' ' -f1
}

if [ -d "$dest/.git" ]; then
    if [ -n "$(git -C "$dest" status --porcelain --untracked-files=no)" ]; then
        die "$dest has uncommitted changes; commit and 'make export' them, or move the tree away"
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$REPO/scripts/export.sh" --to "$tmp" --tree "$dest" >/dev/null
    have=$(series_hash "$tmp")
    if [ "$have" = "$(series_hash "$REPO/patches")" ]; then
        log "tree: $dest is up to date with patches/"
        exit 0
    fi
    if [ "$have" != "$(cat "$stamp" 2>/dev/null)" ]; then
        die "$dest has commits that patches/ does not hold; run 'make export' (or move the tree away)"
    fi
    log "tree: patches/ changed since $dest was made; recreating it"
fi

base=$("$REPO/scripts/fetch-base.sh")
log "tree: creating $dest from $base"
rm -rf "$dest.new"
mkdir -p "$(dirname "$dest")"
cp -a "$base" "$dest.new"
(
    cd "$dest.new"
    git init -q -b master
    git config core.abbrev 12
    git config user.name "$GIT_AUTHOR_NAME"
    git config user.email "$GIT_AUTHOR_EMAIL"
    git config am.threeWay false
    git add -A -f
    # a fixed date makes the base commit the same everywhere
    GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
        git commit -q -m "Base: QEMU $QEMU_UPSTREAM_VERSION (Debian qemu $QEMU_DEB_VERSION, Debian patches applied)"
    git tag base
    n=0
    for p in "$REPO"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
        [ -e "$p" ] || continue
        case "$(basename "$p")" in 0000-*) continue ;; esac
        git am -q --keep-cr "$p" || {
            git am --abort || true
            die "tree: $(basename "$p") does not apply"
        }
        n=$((n + 1))
    done
    log "tree: applied $n patches"
)
rm -rf "$dest"
mv "$dest.new" "$dest"
series_hash "$REPO/patches" >"$stamp"
