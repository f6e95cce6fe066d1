#!/usr/bin/env bash
# Builds a binary package of llm_cost for another server running the same
# PostgreSQL major version (15) on the same platform (Debian 12 / glibc, this
# CPU architecture): a tarball of the files `cargo pgrx package` lays out under
# the server's own directories.
#   scripts/package.sh            -> target/llm_cost-<version>-pg15-<arch>.tar.gz
# Install on the other server:    sudo tar -xzf llm_cost-...tar.gz -C /
# then, in each database:         CREATE EXTENSION llm_cost;
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
bash scripts/setup.sh >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
root=target/release/llm_cost-pg15
rm -rf "$root"     # no leftovers of an earlier version's package
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
out="target/llm_cost-${version}-pg15-$(uname -m).tar.gz"
# The package is the extension's library, control file, install script and
# an upgrade script from each released version; check before shipping.
upgrades=$(cd sql && ls llm_cost--*--"${version}".sql 2>/dev/null | sed 's|^|usr/share/postgresql/15/extension/|')
for f in "usr/lib/postgresql/15/lib/llm_cost.so" "usr/share/postgresql/15/extension/llm_cost.control" \
         "usr/share/postgresql/15/extension/llm_cost--${version}.sql" $upgrades; do
  [ -s "$root/$f" ] || { echo "package: missing $f" >&2; exit 1; }
done
tar -czf "$out" -C "$root" usr
echo "$out"
tar -tzf "$out" | grep -v '/$' | sed 's/^/  /'
