#!/usr/bin/env bash
# The browser end-to-end tests (tests/e2e), one file at a time (node --test; two cores), then each file's time
# and result: CI's log keeps the end. Every test is bounded (--test-timeout, unless it sets its own), so a hang
# fails that test instead of eating CI's time. E2E_FILES="a.test.mjs b.test.mjs" runs only those.
set -uo pipefail
cd "$(dirname "$0")/../tests"
files=${E2E_FILES:-$(cd e2e && ls *.test.mjs)}
report=()
failed=0
t0=$SECONDS
for f in $files; do
  s=$SECONDS
  node --test --test-concurrency=1 --test-timeout=300000 "e2e/$f"
  rc=$?
  [ $rc -eq 0 ] || failed=$((failed + 1))
  report+=("   $f: $((SECONDS - s)) s$([ $rc -eq 0 ] || echo " FAILED")")
done
echo "== e2e timings"
for line in "${report[@]}"; do echo "$line"; done
echo "   total: $((SECONDS - t0)) s; files failed: $failed"
[ $failed -eq 0 ]
