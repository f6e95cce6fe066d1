#!/usr/bin/env bash
# Runs every test: set-up (idempotent), the catalog generator's tests, the
# pure-Rust and #[pg_test] tests inside PostgreSQL, and the client tests
# against throwaway servers they start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== catalog generator tests"
python3 -m unittest discover -s scripts -p 'test_*.py' -v 2>&1 | tail -n 3

# cargo pgrx test installs the extension into the system PostgreSQL, then runs
# the unit tests, the #[pg_test]s and the client tests in tests/ (which start
# throwaway servers of their own).
echo "== unit, #[pg_test] and client tests (cargo pgrx test)"
PGTEST_DIR=/tmp/llm_cost_pgtest
mkdir -p "$PGTEST_DIR"
chown postgres:postgres "$PGTEST_DIR" 2>/dev/null || true
cargo pgrx test pg15 --runas postgres --pgdata "$PGTEST_DIR/data"

# The reference alert listener (a separate crate of the workspace) end to end:
# a real server, its binary as a child process, loopback HTTP and SMTP sinks.
echo "== llm-cost-notify (cargo test -p llm-cost-notify)"
cargo test -p llm-cost-notify

# The client recipes (Python psycopg, Node pg, the LiteLLM callback) against a
# throwaway server with the extension cargo pgrx test just installed.
echo "== client recipes (recipes/test.sh)"
bash recipes/test.sh

# Parity with LiteLLM's own cost calculator on the same price list, against the
# extension cargo pgrx test installed (docs/litellm-parity.md).
echo "== LiteLLM parity (scripts/litellm-parity.sh)"
bash scripts/litellm-parity.sh
