#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10s):
# `make fuzz`, or `make fuzz FUZZTIME=10m` for a long run. Prints one line
# per target with its executions; a crash stops the run, and Go saves the
# failing input under the package's testdata/fuzz/<target>/ for replay.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-10s}
GO=${GO:-go}
for pkg in $($GO list ./...); do
  for target in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    out=$($GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -parallel "${FUZZPARALLEL:-2}" "$pkg" 2>&1) || {
      echo "$out"
      echo "fuzz: $pkg $target FAILED"
      exit 1
    }
    execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 || true)
    echo "fuzz: ${pkg#github.com/enilab/enilab/} $target ok ($time, $execs)"
  done
done
