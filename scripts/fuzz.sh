#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10s):
# `make fuzz`, or `make fuzz FUZZTIME=10m` for a long run, or a count of
# executions per target, `make fuzz FUZZTIME=20000x`. Prints one line per
# target with its executions; a crash stops the run, and Go saves the
# failing input under the package's testdata/fuzz/<target>/ for replay.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when a duration-based -fuzztime ends while a worker is mid-call
# (golang/go#75804, fixed in Go 1.27): no input failed and none is saved.
# Such an end is reported as that race, not as a failure; a count-based
# FUZZTIME (what CI uses) has no deadline and so no race.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-10s}
GO=${GO:-go}
# saved counts the inputs Go has saved for a target (0 before the first).
saved() { if [[ -d $1 ]]; then ls "$1" | wc -l; else echo 0; fi; }
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for target in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    corpus="$dir/testdata/fuzz/$target"
    before=$(saved "$corpus")
    out=$($GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -parallel "${FUZZPARALLEL:-2}" "$pkg" 2>&1) || {
      after=$(saved "$corpus")
      if [[ $after == "$before" ]] && grep -q "^--- FAIL: $target " <<<"$out" &&
        [[ $(grep -A1 "^--- FAIL: $target " <<<"$out" | tail -1) == *"context deadline exceeded" ]]; then
        execs=$(grep -o 'execs: [0-9]*' <<<"$out" | tail -1 || true)
        echo "fuzz: ${pkg#github.com/enilab/enilab/} $target ok ($time, $execs; ended by golang/go#75804 at the time limit, no failing input)"
        continue
      fi
      echo "$out"
      echo "fuzz: $pkg $target FAILED"
      exit 1
    }
    execs=$(grep -o 'execs: [0-9]*' <<<"$out" | tail -1 || true)
    echo "fuzz: ${pkg#github.com/enilab/enilab/} $target ok ($time, $execs)"
  done
done
