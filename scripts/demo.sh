#!/usr/bin/env bash
# The demo: sets up what is missing, builds and installs the extension, starts
# a throwaway local PostgreSQL, records a day of LLM calls and prints what they
# cost. The server and its data are removed when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

bash scripts/setup.sh
echo "building and installing llm_cost (release build, a few minutes the first time)..."
install_extension
start_cluster demo
psql -X -q -d postgres -f demo/demo.sql
