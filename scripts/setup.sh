#!/usr/bin/env bash
# Idempotent machine setup for llm_cost: installs what a fresh Debian (bookworm)
# machine lacks and skips what is already there.
#   - PostgreSQL 15 server + headers (PGXS, pg_regress), libclang (bindgen), sudo
#   - chromium (headless: the HTML report test renders the report and screenshots it)
#   - faketime (scripts/test-dates.sh moves the test servers' clock to calendar edges)
#   - cargo-pgrx 0.18.0, registered against the system PostgreSQL 15
#   - the client recipes' Python venv (psycopg, litellm) and node_modules (pg)
# (Citus, a test-time dependency, is built by scripts/citus/build.sh, which
# scripts/citus/test.sh runs: it takes the shared PostgreSQL lock to install,
# and this script runs under that lock when scripts/test.sh is run so.)
set -euo pipefail

PG_MAJOR=15
PGRX_VERSION=0.18.0
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config

log() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_pkgs=()
for pkg in postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-contrib \
           libclang-dev clang sudo pkg-config build-essential bc chromium fonts-dejavu-core faketime; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    need_pkgs+=("$pkg")
  fi
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
else
  log "Debian packages present"
fi

# The lint gate (scripts/lint.sh) needs rustfmt and clippy: rustup's default
# profile has them; a minimal toolchain gets them here.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    log "adding the Rust component ${component}"
    rustup component add "${component}"
  fi
done

if cargo pgrx --version 2>/dev/null | grep -q "${PGRX_VERSION}"; then
  log "cargo-pgrx ${PGRX_VERSION} present"
else
  log "installing cargo-pgrx ${PGRX_VERSION} (takes a few minutes)"
  cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked
fi

PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
if [ -f "$PGRX_HOME/config.toml" ] && grep -q "pg${PG_MAJOR}" "$PGRX_HOME/config.toml"; then
  log "cargo pgrx already initialised for pg${PG_MAJOR}"
else
  log "cargo pgrx init --pg${PG_MAJOR} ${PG_CONFIG}"
  cargo pgrx init --pg${PG_MAJOR} "${PG_CONFIG}"
fi

# The client recipes' Python venv and node_modules (recipes/setup.sh skips
# what is already there).
bash "$(dirname "$0")/../recipes/setup.sh"

# The system cluster started by the Debian package is not used; tests and the
# demo start throwaway clusters of their own.
log "done"
