#!/usr/bin/env bash
# The lint gate: formatting (rustfmt.toml) and clippy with warnings as errors,
# for the extension (with pg_test, so src/tests/pricing.rs is checked too) and for the
# alert listener. Run by .ci/run before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== clippy: the extension"
cargo clippy --all-targets --features "pg15 pg_test" --no-default-features -- -D warnings

echo "== clippy: llm-cost-notify"
cargo clippy -p llm-cost-notify --all-targets -- -D warnings
