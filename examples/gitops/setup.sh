#!/bin/sh
# Makes the example's bare specs repository DIR (branch main) with the pre-receive hook.
# Usage: setup.sh [--no-hook] [--boxctl PATH] DIR
set -eu
hook=1 boxctl=""
while [ $# -gt 1 ]; do
    case "$1" in
        --no-hook) hook="" ;;
        --boxctl) boxctl=$2; shift ;;
        *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: setup.sh [--no-hook] [--boxctl PATH] DIR" >&2; exit 2; }
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
git init --quiet --bare --initial-branch=main "$dir"
if [ -n "$hook" ]; then
    cp "$here/pre-receive" "$dir/hooks/pre-receive"
    chmod 755 "$dir/hooks/pre-receive"
fi
[ -z "$boxctl" ] || git --git-dir="$dir" config boxd.boxctl "$boxctl"
echo "setup.sh: $dir ready${hook:+ (pre-receive runs boxctl validate)}"
