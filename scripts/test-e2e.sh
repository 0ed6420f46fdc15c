#!/usr/bin/env bash
# The browser end-to-end tests (tests/e2e), one file at a time (node --test; two cores), then each file's time
# and result: CI's log keeps the end. Each test sets its own time limit, and each hook too; in Node 20
# --test-timeout bounds a whole file, so it is only a backstop here (15 minutes; the longest file takes under a
# minute here), with --test-force-exit so that a test ended by its limit cannot keep the file running.
# E2E_FILES="chat.test.mjs webkit.test.mjs" runs only those. Ctrl-C stops the suite.
set -uo pipefail
cd "$(dirname "$0")/../tests"
files=${E2E_FILES:-$(cd e2e && ls *.test.mjs)}
trap 'exit 130' INT
report=()
failed=0
t0=$SECONDS
for f in $files; do
  f=${f##*/}
  s=$SECONDS
  if [ ! -f "e2e/$f" ]; then
    echo "test-e2e: no such file: tests/e2e/$f" >&2
    failed=$((failed + 1))
    report+=("   $f: not found")
    continue
  fi
  node --test --test-concurrency=1 --test-timeout=900000 --test-force-exit "e2e/$f"
  rc=$?
  [ $rc -eq 0 ] || failed=$((failed + 1))
  report+=("   $f: $((SECONDS - s)) s$([ $rc -eq 0 ] || echo " FAILED")")
done
echo "== e2e timings"
for line in "${report[@]}"; do echo "$line"; done
echo "   total: $((SECONDS - t0)) s; files failed: $failed"
[ $failed -eq 0 ]
