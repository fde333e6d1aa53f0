#!/usr/bin/env bash
# Prints a stamp of the source tree for `make build` to link into every
# command (internal/buildstamp): a hash of the name and content of every
# file git tracks or would track (untracked files too, ignored ones not).
# Prints nothing outside a git work tree, or when hashing fails, so such a
# build carries no stamp and a lab re-executes itself as its plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 0
# A tracked file deleted from the work tree is left out (its name too).
files=$(git ls-files -z -co --exclude-standard | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh | xargs -0 -r sha256sum) || exit 0
[ -n "$files" ] || exit 0
printf '%s\n' "$files" | sha256sum | cut -c1-16
