#!/usr/bin/env bash
# Builds Citus (test-time only) from ../shared/vendor/citus-13.2.2.tar.gz into
# the system PostgreSQL 15. Idempotent: skips the build when the installed
# citus.so is the one this script built from this tarball (a stamp beside it
# records the tarball's sha256). Citus's sources are unpacked outside the
# repository (CITUS_BUILD_DIR, default /tmp/llm_cost_citus_build) and never
# committed. Installing into the shared PostgreSQL happens under the shared
# lock /tmp/llm_cost_pg.lock (take it yourself and set LLM_COST_PG_LOCKED=1 to
# skip taking it here).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENDOR=${CITUS_VENDOR_DIR:-$ROOT/../shared/vendor}
TARBALL=$VENDOR/citus-13.2.2.tar.gz
PATCH=$VENDOR/citus-13.2.2-pg15.20.patch
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BUILD_DIR=${CITUS_BUILD_DIR:-/tmp/llm_cost_citus_build}
LOCK=/tmp/llm_cost_pg.lock

log() { printf '[citus-build] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

[ -f "$TARBALL" ] || { log "no $TARBALL: cannot build Citus"; exit 1; }
want=$(sha256sum "$TARBALL" | cut -d' ' -f1)
[ -f "$PATCH" ] && want="$want+$(sha256sum "$PATCH" | cut -d' ' -f1)"
pkglibdir=$("$PG_CONFIG" --pkglibdir)
stamp=$pkglibdir/citus.llm_cost_build_stamp

if [ -f "$pkglibdir/citus.so" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "Citus from this tarball already installed in $pkglibdir"
  exit 0
fi

# Citus's build dependencies (the README's list).
need=()
for pkg in postgresql-server-dev-15 libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev autoconf flex bison; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing build dependencies: ${need[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

src=$BUILD_DIR/citus-13.2.2
if [ ! -f "$src/.llm_cost_built" ] || [ "$(cat "$src/.llm_cost_built")" != "$want" ]; then
  rm -rf "$BUILD_DIR" && mkdir -p "$BUILD_DIR"
  tar xzf "$TARBALL" -C "$BUILD_DIR"
  [ -d "$src" ] || src=$(find "$BUILD_DIR" -mindepth 1 -maxdepth 1 -type d | head -1)
  if [ -f "$PATCH" ]; then (cd "$src" && patch -p1 <"$PATCH"); fi
  log "configuring and building in $src (about 2 minutes on 2 cores)"
  (cd "$src" && ./configure -q PG_CONFIG="$PG_CONFIG" >/dev/null && make -s -j"$(nproc)" >/dev/null)
  echo "$want" >"$src/.llm_cost_built"
fi

install_it() {
  (cd "$src" && as_root make -s install >/dev/null)
  echo "$want" | as_root tee "$stamp" >/dev/null
}
log "installing into $pkglibdir"
if [ "${LLM_COST_PG_LOCKED:-}" = 1 ]; then
  install_it
else
  exec 9>>"$LOCK"
  flock 9
  install_it
  flock -u 9
fi
log "done"
