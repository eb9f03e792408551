#!/bin/sh
# A small git-sync for boxd: publishes each new commit of a branch as ROOT/.worktrees/<commit>
# and then points the symlink ROOT/specs at it with one rename, so boxd (`specs: ROOT/specs`)
# reads one whole revision or the other, never a mix, and `boxctl status` shows the commit.
#
# Usage: sync.sh [--once] [--interval SECONDS] [--branch NAME] [--link NAME] REPO ROOT
#   REPO  the git repository of specs (a path or URL); its files at the top level are the specs
#   ROOT  the directory holding the link and the published revisions
set -eu

once="" interval=10 branch=main link=specs
while [ $# -gt 0 ]; do
    case "$1" in
        --once) once=1 ;;
        --interval) interval=$2; shift ;;
        --branch) branch=$2; shift ;;
        --link) link=$2; shift ;;
        -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
        -*) echo "sync.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -eq 2 ] || { echo "usage: sync.sh [--once] [--interval S] [--branch B] [--link L] REPO ROOT" >&2; exit 2; }
repo=$1 root=$2
mirror="$root/.git-mirror"
mkdir -p "$root/.worktrees"
[ -d "$mirror" ] || git clone --quiet --bare "$repo" "$mirror"

# Publishes the branch's head when it is not the revision the link shows.
sync_once() {
    git --git-dir="$mirror" fetch --quiet --prune "$repo" "+refs/heads/$branch:refs/heads/$branch"
    rev=$(git --git-dir="$mirror" rev-parse --verify --quiet "refs/heads/$branch^{commit}") ||
        { echo "sync.sh: no branch $branch in $repo" >&2; return 1; }
    current=$(readlink "$root/$link" 2>/dev/null || true)
    [ "$current" != ".worktrees/$rev" ] || return 0
    if [ ! -d "$root/.worktrees/$rev" ]; then
        tmp="$root/.worktrees/.$rev.tmp"
        rm -rf "$tmp"
        mkdir "$tmp"
        # Owner-only files: a Secret in the repo passes boxd's world-readable check.
        git --git-dir="$mirror" archive --format=tar "$rev" | (umask 077 && tar -x --no-same-permissions -C "$tmp")
        mv -T "$tmp" "$root/.worktrees/$rev"
    fi
    ln -sfn ".worktrees/$rev" "$root/.$link.new"
    mv -T "$root/.$link.new" "$root/$link"  # the swap: one rename
    echo "sync.sh: published $rev"
    # Keep the new revision and the one before (boxd may be reading it right now).
    for d in "$root"/.worktrees/*; do
        case "$d" in
            "$root/.worktrees/$rev" | "$root/$current") ;;
            *) rm -rf "$d" ;;
        esac
    done
}

if [ -n "$once" ]; then
    sync_once
    exit
fi
while true; do
    sync_once || true
    sleep "$interval"
done
