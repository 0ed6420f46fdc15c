#!/usr/bin/env bash
# Runs `make STEP` for each step in order, stopping at the first that fails, and prints how long each took,
# also when one fails: CI has a time limit and its log keeps the end, so the end says where the time went.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
report=()
t0=$SECONDS
summary() {
  echo "== timings"
  for line in "${report[@]}"; do echo "$line"; done
  echo "   total ${1}: $((SECONDS - t0)) s"
}
for step in "$@"; do
  s=$SECONDS
  $MAKE --no-print-directory "$step"
  rc=$?
  report+=("   $step: $((SECONDS - s)) s$([ $rc -eq 0 ] || echo " (failed, exit $rc)")")
  if [ $rc -ne 0 ]; then summary "until the failure"; exit $rc; fi
done
summary "of these steps"
