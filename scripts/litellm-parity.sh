#!/usr/bin/env bash
# Parity with LiteLLM's cost calculator (tests/litellm_parity/parity.py): prices
# every LiteLLM-derived catalog entry with LiteLLM (pinned in the recipes venv,
# on the same price file) and with the installed extension in a throwaway
# server it starts and stops itself; writes docs/litellm-parity.md and fails on
# a difference not listed in tests/litellm_parity/explained.tsv. Seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/setup.sh
target/recipes-venv/bin/python tests/litellm_parity/parity.py "$@"
