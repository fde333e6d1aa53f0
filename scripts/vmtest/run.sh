#!/usr/bin/env bash
# Runs enilab's privileged suites as root inside a throw-away qemu VM (stock
# Debian cloud kernel, busybox initramfs, no network device). `make vm-test`
# calls this; flags and ENILAB_VM_* variables are documented in docs/VM.md and
# by `scripts/vmtest/run.sh -h`. Exits with the suites' status.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
export PATH="/usr/local/go/bin:$PATH"
work="$(mktemp -d "${TMPDIR:-/tmp}/enilab-vmtest-runner.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The runner itself is a small Go program; go's build cache makes this quick.
CGO_ENABLED=0 go build -o "$work/vmtest" ./scripts/vmtest
# Not exec: the trap must still remove the runner binary afterwards.
status=0
"$work/vmtest" -repo "$repo" "$@" || status=$?
exit "$status"
