#!/usr/bin/env bash
# End-to-end check of the VM runner (two TCG boots, about 15 s): a failing
# test inside the VM must make run.sh exit non-zero with the failure in the
# JUnit; a passing one must exit 0; neither may change the host's network
# configuration or leave temporary files behind.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
out="$(mktemp -d "${TMPDIR:-/tmp}/enilab-vmcheck.XXXXXX")"
trap 'rm -rf "$out"' EXIT
fail=0
say() { echo "e2e-check: $*"; }

netstate() { # the root namespace's links, routes and rules (not counters;
  # named namespaces come and go with other test runs on a shared machine)
  if command -v ip >/dev/null 2>&1; then
    ip -o link show | awk -F': ' '{print $2}'
    ip route show table all
    ip rule show
  fi
}
tmpstate() { ls -d "${TMPDIR:-/tmp}"/enilab-vmtest-* 2>/dev/null | sort || true; }

before_net="$(netstate)"
before_tmp="$(tmpstate)"

set +e
scripts/vmtest/run.sh -pkgs ./scripts/vmtest/testdata/canary -env ENILAB_VMTEST_FAIL=1 -out "$out/fail" >"$out/fail.log" 2>&1
rc_fail=$?
scripts/vmtest/run.sh -pkgs ./scripts/vmtest/testdata/canary -out "$out/pass" >"$out/pass.log" 2>&1
rc_pass=$?
set -e

if [ "$rc_fail" -ne 0 ] && grep -q 'deliberate failure' "$out/fail/scripts-vmtest-testdata-canary.xml" 2>/dev/null; then
  say "ok: deliberate failure inside the VM -> exit $rc_fail, failure in JUnit"
else
  say "FAIL: deliberate failure run exited $rc_fail (want non-zero with the failure in JUnit)"; sed 's/^/  | /' "$out/fail.log"; fail=1
fi
if [ "$rc_pass" -eq 0 ] && grep -q -- '--- PASS: TestDummyLinkInNamespace' "$out/pass.log"; then
  say "ok: passing run -> exit 0 (a dummy link was made in a named namespace inside the VM)"
else
  say "FAIL: passing run exited $rc_pass (want 0)"; sed 's/^/  | /' "$out/pass.log"; fail=1
fi
if [ "$(netstate)" = "$before_net" ]; then
  say "ok: host links, routes and rules unchanged"
else
  say "FAIL: host network state changed"; diff <(echo "$before_net") <(netstate) || true; fail=1
fi
if [ "$(tmpstate)" = "$before_tmp" ]; then
  say "ok: no temporary files left"
else
  say "FAIL: temporary files left: $(tmpstate)"; fail=1
fi
grep -h '^vm-test: .* boot to /init' "$out/fail.log" "$out/pass.log" | sed 's/^/e2e-check: /' || true
if [ "$fail" -eq 0 ]; then echo "e2e-check: 4 passed, 0 failed"; else echo "e2e-check: FAILED"; fi
exit "$fail"
