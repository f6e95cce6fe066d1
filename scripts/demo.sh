#!/usr/bin/env bash
# The demo: sets up what is missing, builds and installs the extension, starts
# a throwaway local PostgreSQL, records a day of LLM calls and prints what they
# cost, then a month of traffic with its dashboards, forecast, anomalies and
# recommendations, and writes an HTML report (llm_cost_report.html). The server
# and its data are removed when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

bash scripts/setup.sh
echo "building and installing llm_cost (release build, a few minutes the first time)..."
install_extension
start_cluster demo

# The listener: a psql session that LISTENs and polls (psql prints notifications
# after each command; stdbuf makes it print them at once). Bounded: it stops by
# itself after two minutes at most.
{
  echo "LISTEN llm_cost;"
  for _ in $(seq 1200); do echo "SELECT pg_sleep(0.1);"; done
} | stdbuf -oL psql -X -q -t -A -d postgres 2>/dev/null \
  | sed -u -n 's/^Asynchronous notification "llm_cost" with payload "\(.*\)" received.*/  [listener] \1/p' &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; stop_cluster' EXIT

stdbuf -oL psql -X -q -d postgres -f demo/demo.sql
REPORT="$PWD/llm_cost_report.html"
stdbuf -oL psql -X -q -d postgres -v report_path="$REPORT" -f demo/analytics.sql
stdbuf -oL psql -X -q -d postgres -f demo/trust.sql
stdbuf -oL psql -X -q -d postgres -f demo/holds.sql
bash demo/burst.sh
stdbuf -oL psql -X -q -d postgres -v part=results -f demo/holds.sql
echo "open $REPORT in a browser to see the report"
