#!/usr/bin/env bash
# Makes a private, relocated copy of the system PostgreSQL 15 (binaries,
# libraries, share files) in target/pg15-private and prints its bin directory.
# PostgreSQL finds its share and lib directories relative to its binaries, so
# the copy loads only the extension build installed into it:
#
#   export LLM_COST_PG_BIN=$(scripts/private-pg.sh)
#   scripts/bench.sh budgets     # installs and measures there, without the shared lock
#
# Tests keep using the system install. Re-run after a PostgreSQL upgrade
# (it replaces the copy); idempotent otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM_BIN=/usr/lib/postgresql/15/bin
ROOT=$PWD/target/pg15-private
version=$("$SYSTEM_BIN/postgres" --version)
if [ ! -f "$ROOT/VERSION" ] || [ "$(cat "$ROOT/VERSION")" != "$version" ]; then
  rm -rf "$ROOT"
  mkdir -p "$ROOT/usr/lib/postgresql" "$ROOT/usr/share/postgresql"
  cp -a /usr/lib/postgresql/15 "$ROOT/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$ROOT/usr/share/postgresql/"
  ln -s /usr/include "$ROOT/usr/include"   # headers for building against it
  chmod -R a+rX "$ROOT"
  echo "$version" > "$ROOT/VERSION"
fi
# the postgres OS user runs the servers: it must reach the copy
d=$ROOT; while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
echo "$ROOT/usr/lib/postgresql/15/bin"
