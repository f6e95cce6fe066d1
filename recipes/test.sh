#!/usr/bin/env bash
# Tests the client recipes against a throwaway PostgreSQL 15 with the installed
# llm_cost extension: Python (psycopg), the LiteLLM callback, Node.js (pg).
# No network: provider responses are the recorded ones in fixtures/.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd .. && pwd)

bash setup.sh

source "$REPO/scripts/lib/cluster.sh"
start_cluster recipes
export PGDATABASE=postgres
# Someone may be reinstalling the extension right now: retry for a few minutes.
for try in $(seq 1 10); do
  psql -qX -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION llm_cost' && break
  [ "$try" -eq 10 ] && { echo "CREATE EXTENSION llm_cost failed" >&2; exit 1; }
  echo "CREATE EXTENSION failed; retrying in 30 s" >&2; sleep 30
done

PY=$REPO/target/recipes-venv/bin/python
failed=()
echo "== Python helper (psycopg)"
"$PY" -m unittest discover -s python -t python -v || failed+=(python)
echo "== LiteLLM callback"
LITELLM_LOCAL_MODEL_COST_MAP=True "$PY" -m unittest discover -s litellm -t litellm -v || failed+=(litellm)
echo "== Node.js helper (pg)"
(cd node && node --test) || failed+=(node)
if [ ${#failed[@]} -gt 0 ]; then echo "== FAILED: ${failed[*]}" >&2; exit 1; fi
echo "== all recipe tests passed"
