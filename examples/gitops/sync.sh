#!/bin/sh
# Publishes the newest commit of a git repository of specs as boxd's specs directory, the way
# git-sync lays it out:
#
#   DEST/.worktrees/<commit>/   one checked-out revision each
#   DEST/LINK -> .worktrees/<commit>   swapped atomically (rename of a new symlink over it)
#
# boxd resolves LINK once per pass, so it never reads half of one revision and half of
# another, and `boxctl status` shows <commit> as the revision. The previous revision is kept
# until the next swap (a pass that started on it can finish), older ones are removed.
#
# Usage: sync.sh [--once] [--interval SECONDS] [--branch BRANCH] REPO DEST [LINK]
#   REPO  any URL or path git can fetch from; DEST  the directory that holds LINK (default
#   "specs": point boxd's specs at DEST/specs).
set -eu

once=0 interval=10 branch=main
while [ $# -gt 0 ]; do
  case "$1" in
    --once) once=1; shift ;;
    --interval) interval=$2; shift 2 ;;
    --branch) branch=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: sync.sh [--once] [--interval S] [--branch B] REPO DEST [LINK]" >&2; exit 2; }
repo=$1 dest=$2 link=${3:-specs}
mirror=$dest/.git-mirror

mkdir -p "$dest/.worktrees"
[ -d "$mirror" ] || git init -q --bare "$mirror"

sync_once() {
  git -C "$mirror" fetch -q --depth 1 "$repo" "+refs/heads/$branch:refs/heads/$branch" || return 1
  rev=$(git -C "$mirror" rev-parse "refs/heads/$branch")
  current=$(readlink "$dest/$link" 2>/dev/null || true)
  [ "$current" = ".worktrees/$rev" ] && return 0
  if [ ! -d "$dest/.worktrees/$rev" ]; then
    tmp=$dest/.worktrees/.tmp-$rev
    rm -rf "$tmp" && mkdir "$tmp"
    git -C "$mirror" archive "$rev" | tar -x -C "$tmp"
    mv "$tmp" "$dest/.worktrees/$rev"
  fi
  # The swap: a new link renamed over the old one is atomic; boxd sees one revision or the other.
  ln -sfn ".worktrees/$rev" "$dest/.$link.new"
  mv -T "$dest/.$link.new" "$dest/$link"
  echo "sync: $link -> $rev"
  # Keep the revision just replaced, remove the older ones.
  for d in "$dest"/.worktrees/*; do
    name=.worktrees/$(basename "$d")
    [ "$name" = ".worktrees/$rev" ] || [ "$name" = "$current" ] || rm -rf "$d"
  done
}

if [ "$once" = 1 ]; then
  sync_once
  exit
fi
while true; do
  sync_once || echo "sync: fetch from $repo failed; keeping the current revision" >&2
  sleep "$interval"
done
