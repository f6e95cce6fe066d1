#!/usr/bin/env bash
# Calendar sweep: runs the client tests that touch periods, budgets, rollups,
# retention, forecasts and analytics with the test servers' clock moved to
# fixed instants at calendar edges (libfaketime; see LLM_COST_TEST_CLOCK in
# tests/common/mod.rs). Each test's server starts at the instant and its clock
# runs on from there, so a test that starts at 23:59 really crosses midnight.
#
#   scripts/test-dates.sh                       # every instant below
#   scripts/test-dates.sh '2027-03-01 00:30 UTC'  # one instant
#
# Needs the extension installed into the system PostgreSQL: it installs the
# debug build first (as `cargo pgrx test` does). Not part of scripts/test.sh:
# about 2.5 minutes per instant on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null

INSTANTS=(
  '2027-03-01 00:30 UTC'   # 1st of a month, 00:30 (also a Monday: a week starts)
  '2027-04-30 23:30 UTC'   # last day of a month, 23:30
  '2026-12-31 23:59 UTC'   # the year ends within the first test's minute
  '2027-01-01 00:01 UTC'   # new year, one minute in
  '2026-11-01 05:30 UTC'   # New York leaves daylight saving time (01:30 EDT; 06:00 UTC repeats 01:00)
  '2027-03-14 06:30 UTC'   # New York enters daylight saving time (01:30 EST; 02:00 is skipped)
  '2028-02-29 12:00 UTC'   # leap day
  '2028-02-29 23:45 UTC'   # leap day's end: March starts a quarter of an hour in
)
if [ $# -gt 0 ]; then INSTANTS=("$@"); fi

# The client tests whose results depend on the date (every one but the
# importer fuzz test, which prices at fixed instants only), plus the alert
# listener's end-to-end test.
TESTS=(analytics budgets client crash dump_restore retention partitions roles tenancy upgrade bad_input reservations windows threshold_order autorefresh)

echo "== installing the extension (debug build) into the system PostgreSQL"
cargo pgrx install --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null

test_args=()
for t in "${TESTS[@]}"; do test_args+=(--test "$t"); done

failed=()
for instant in "${INSTANTS[@]}"; do
  echo "== server clock at $instant"
  started=$SECONDS
  if LLM_COST_TEST_CLOCK="$instant" cargo test -q "${test_args[@]}" 2>&1 | tail -n 40 \
     && LLM_COST_TEST_CLOCK="$instant" cargo test -q -p llm-cost-notify 2>&1 | tail -n 5; then
    echo "   ok at $instant ($((SECONDS - started)) s)"
  else
    failed+=("$instant")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED at: %s\n' "${failed[@]}"
  exit 1
fi
echo "every instant passed (${#INSTANTS[@]} instants)"
