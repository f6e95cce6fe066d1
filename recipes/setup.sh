#!/usr/bin/env bash
# Installs what the recipes need (idempotent, skips what is done): a Python venv
# at target/recipes-venv with the pinned psycopg and litellm, and node_modules
# from package-lock.json. Needs python3 (3.10+) with venv, and node 20 + npm.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd .. && pwd)
VENV=$REPO/target/recipes-venv

stamp() { cat "$@" | sha256sum | cut -d' ' -f1; }

want=$(stamp python/requirements.txt python/constraints.txt)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ]; then
  echo "== Python venv: $VENV"
  if ! python3 -c 'import ensurepip' 2>/dev/null; then   # Debian splits venv support off python3
    [ "$(id -u)" -eq 0 ] || { echo "needs python3-venv: sudo apt-get install python3-venv" >&2; exit 1; }
    apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
  fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r python/requirements.txt -c python/constraints.txt
  echo "$want" > "$VENV/.stamp"
fi

want=$(stamp node/package.json node/package-lock.json)
if [ "$(cat node/node_modules/.stamp 2>/dev/null)" != "$want" ]; then
  echo "== npm ci in recipes/node"
  (cd node && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > node/node_modules/.stamp
fi
