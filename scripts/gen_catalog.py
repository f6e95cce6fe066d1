#!/usr/bin/env python3
"""Generate sql/catalog.sql from LiteLLM's public price list.

Usage (from the repository root):

    python3 scripts/gen_catalog.py
    python3 scripts/gen_catalog.py --input PATH --output PATH --verified-at YYYY-MM-DD

Defaults: --input ../shared/data/model_prices_and_context_window.json and
--output sql/catalog.sql, both relative to the repository root (not to the
current directory); --verified-at is the input file's modification date in UTC.
The JSON itself is never copied into the repository, only the rows below.

What it emits: one INSERT INTO llm_cost.prices with a row per model and service
tier, for every entry whose mode is chat, completion or responses and that has a
numeric input_cost_per_token or output_cost_per_token (the missing one is 0).

* provider = litellm_provider, lower-cased and stripped; model = the key, minus
  a leading "<litellm_provider>/" (exact, case-sensitive). If two keys name the
  same (provider, model), the one that had the prefix wins.
* Tiers: standard always; batch, flex and priority (LiteLLM suffixes _batches,
  _flex, _priority) when the entry has input_cost_per_token<suffix> or
  output_cost_per_token<suffix>. A tier row reads every price from the tier's
  own field when present, else from the standard field.
* Long-context tier: the smallest N among input_cost_per_token_above_<N>k_tokens
  gives tier_threshold_tokens = N * 1000 and the *_above_tier prices.
  (cache_creation_input_token_cost_above_1hr is a cache TTL price, not a tier.)
* Prices are converted exactly: the JSON is parsed with Decimal, per-token
  prices are scaled by 10^6 without rounding, and printed in plain notation
  with trailing zeros stripped (2.5e-06 -> 2.5, 6.25e-08 -> 0.0625).
  input_cost_per_request is per call and is printed unscaled.
* A price field that is not a finite, non-negative number is skipped with a
  warning on stderr.

The output is deterministic: the same input and --verified-at give the same
bytes. Tests: python3 -m unittest discover -s scripts -p 'test_*.py'
"""

from __future__ import annotations

import argparse
import datetime as _dt
import decimal
import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = REPO_ROOT / ".." / "shared" / "data" / "model_prices_and_context_window.json"
DEFAULT_OUTPUT = REPO_ROOT / "sql" / "catalog.sql"

MODES = ("chat", "completion", "responses")

# (service_tier, LiteLLM field suffix), in output order.
TIERS = (("standard", ""), ("batch", "_batches"), ("flex", "_flex"), ("priority", "_priority"))
TIER_ORDER = {name: i for i, (name, _) in enumerate(TIERS)}

# Digits then "k_tokens", nothing after: excludes *_above_1hr (a cache TTL) and
# the tier-suffixed variants (..._above_200k_tokens_priority).
THRESHOLD_RE = re.compile(r"input_cost_per_token_above_([0-9]+)k_tokens")

COLUMNS = (
    "provider", "model", "service_tier", "valid_from",
    "input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok",
    "reasoning_per_mtok", "tier_threshold_tokens",
    "input_per_mtok_above_tier", "output_per_mtok_above_tier",
    "cache_read_per_mtok_above_tier", "cache_write_per_mtok_above_tier",
    "per_request", "currency", "source", "verified_at",
)

# Scaling by 10^6 must never round: a context this wide with Inexact/Rounded
# trapped raises instead of silently losing digits.
_EXACT = decimal.Context(prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                         traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation])


def warn(msg: str) -> None:
    print(f"gen_catalog: warning: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

def as_price(value: Any, key: str, field: str) -> Decimal | None:
    """The field's value as an exact Decimal, or None (with a warning) when it
    is not a finite, non-negative number. bool is not a number here."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        warn(f"{key!r}: field {field} is not a number ({type(value).__name__}: {value!r}); skipped")
        return None
    d = Decimal(value)
    if not d.is_finite() or d < 0:
        warn(f"{key!r}: field {field} is not a finite non-negative number ({value!r}); skipped")
        return None
    return d


def per_mtok(per_token: Decimal) -> Decimal:
    """Per-token price -> per-million-token price, exactly."""
    return per_token.scaleb(6, context=_EXACT)


def fmt_decimal(d: Decimal) -> str:
    """Plain decimal notation (never an exponent), trailing zeros stripped."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


# ---------------------------------------------------------------------------
# SQL literals
# ---------------------------------------------------------------------------

def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def sql_value(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return fmt_decimal(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return sql_str(v)
    raise TypeError(f"unexpected value {v!r}")


# ---------------------------------------------------------------------------
# Entries -> rows
# ---------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def select_entries(data: dict) -> list[tuple[str, str, str, dict]]:
    """The priced chat/completion/responses entries as (provider, model, key,
    entry), one per (provider, model), sorted by (provider, model)."""
    chosen: dict[tuple[str, str], tuple[bool, str, dict]] = {}
    for key, entry in data.items():
        if key == "sample_spec" or not isinstance(entry, dict):
            continue
        if entry.get("mode") not in MODES:
            continue
        if not (_is_number(entry.get("input_cost_per_token"))
                or _is_number(entry.get("output_cost_per_token"))):
            continue
        raw_provider = entry.get("litellm_provider")
        if not isinstance(raw_provider, str) or not raw_provider.strip():
            warn(f"{key!r}: no usable litellm_provider ({raw_provider!r}); skipped")
            continue
        provider = raw_provider.strip().lower()
        prefix = raw_provider + "/"
        prefixed = key.startswith(prefix)
        model = key[len(prefix):] if prefixed else key
        if not model or "\x00" in model or "\x00" in provider:
            warn(f"{key!r}: unusable model name; skipped")
            continue
        ident = (provider, model)
        if ident in chosen:
            old_prefixed, old_key, _ = chosen[ident]
            if old_prefixed != prefixed:
                # The key that carried the provider prefix wins.
                if prefixed:
                    chosen[ident] = (prefixed, key, entry)
                continue
            # Same prefix status (e.g. providers differing only in case or
            # spaces): keep the smaller key so the result is deterministic.
            warn(f"{key!r} and {old_key!r} both give ({provider}, {model}); keeping "
                 f"{min(key, old_key)!r}")
            if key < old_key:
                chosen[ident] = (prefixed, key, entry)
            continue
        chosen[ident] = (prefixed, key, entry)
    return [(p, m, k, e) for (p, m), (_, k, e) in sorted(chosen.items())]


def tier_threshold_k(entry: dict) -> int | None:
    """Smallest N among input_cost_per_token_above_<N>k_tokens fields, or None."""
    ns = [int(m.group(1)) for f in entry if (m := THRESHOLD_RE.fullmatch(f))]
    return min(ns) if ns else None


class _Reader:
    """Reads one entry's price fields, validating each field once."""

    def __init__(self, key: str, entry: dict):
        self.key = key
        self.entry = entry
        self._cache: dict[str, Decimal | None] = {}

    def get(self, field: str) -> Decimal | None:
        if field not in self._cache:
            v = self.entry.get(field)
            self._cache[field] = None if v is None else as_price(v, self.key, field)
        return self._cache[field]

    def tiered(self, field: str, suffix: str) -> Decimal | None:
        """The tier's own field if usable, else the standard field."""
        if suffix:
            v = self.get(field + suffix)
            if v is not None:
                return v
        return self.get(field)


def rows_for_entry(provider: str, model: str, key: str, entry: dict) -> list[dict]:
    """The price rows (one per service tier) of one LiteLLM entry."""
    r = _Reader(key, entry)
    k = tier_threshold_k(entry)
    rows = []
    for tier, suffix in TIERS:
        if suffix and r.get("input_cost_per_token" + suffix) is None \
                and r.get("output_cost_per_token" + suffix) is None:
            continue

        def mtok(field: str) -> Decimal | None:
            v = r.tiered(field, suffix)
            return None if v is None else per_mtok(v)

        row = {
            "provider": provider,
            "model": model,
            "service_tier": tier,
            "input_per_mtok": mtok("input_cost_per_token") or Decimal(0),
            "output_per_mtok": mtok("output_cost_per_token") or Decimal(0),
            "cache_read_per_mtok": mtok("cache_read_input_token_cost"),
            "cache_write_per_mtok": mtok("cache_creation_input_token_cost"),
            "reasoning_per_mtok": mtok("output_cost_per_reasoning_token"),
            "tier_threshold_tokens": None if k is None else k * 1000,
            "input_per_mtok_above_tier": None,
            "output_per_mtok_above_tier": None,
            "cache_read_per_mtok_above_tier": None,
            "cache_write_per_mtok_above_tier": None,
            "per_request": r.tiered("input_cost_per_request", suffix),
        }
        if k is not None:
            row["input_per_mtok_above_tier"] = mtok(f"input_cost_per_token_above_{k}k_tokens")
            row["output_per_mtok_above_tier"] = mtok(f"output_cost_per_token_above_{k}k_tokens")
            row["cache_read_per_mtok_above_tier"] = mtok(f"cache_read_input_token_cost_above_{k}k_tokens")
            row["cache_write_per_mtok_above_tier"] = mtok(f"cache_creation_input_token_cost_above_{k}k_tokens")
        rows.append(row)
    return rows


def build_rows(data: dict) -> list[dict]:
    rows = []
    for provider, model, key, entry in select_entries(data):
        rows.extend(rows_for_entry(provider, model, key, entry))
    rows.sort(key=lambda row: (row["provider"], row["model"], TIER_ORDER[row["service_tier"]]))
    return rows


# Capabilities recommendations compare: a cheaper model must have every one
# the current model has (the ledger cannot tell which a call used).
CAPABILITIES = ("supports_reasoning", "supports_vision", "supports_function_calling",
                "supports_prompt_caching", "supports_response_schema")
MODEL_COLUMNS = ("provider", "model", "mode", "max_input_tokens", "max_output_tokens") + CAPABILITIES + ("source",)


def _positive_int(v: Any) -> int | None:
    if _is_number(v) and v == int(v) and int(v) > 0:
        return int(v)
    return None


def build_models(data: dict) -> list[dict]:
    """One capabilities row per priced (provider, model), in the same order as the prices."""
    models = []
    for provider, model, _key, entry in select_entries(data):
        row = {"provider": provider, "model": model, "mode": entry.get("mode"),
               "max_input_tokens": _positive_int(entry.get("max_input_tokens")),
               "max_output_tokens": _positive_int(entry.get("max_output_tokens"))}
        for cap in CAPABILITIES:
            row[cap] = entry.get(cap) is True
        models.append(row)
    return models


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def row_sql(row: dict, verified_at: str) -> str:
    values = (
        row["provider"], row["model"], row["service_tier"], "-infinity",
        row["input_per_mtok"], row["output_per_mtok"],
        row["cache_read_per_mtok"], row["cache_write_per_mtok"], row["reasoning_per_mtok"],
        row["tier_threshold_tokens"],
        row["input_per_mtok_above_tier"], row["output_per_mtok_above_tier"],
        row["cache_read_per_mtok_above_tier"], row["cache_write_per_mtok_above_tier"],
        row["per_request"], "USD", "catalog", f"{verified_at} 00:00:00+00",
    )
    return "(" + ", ".join(sql_value(v) for v in values) + ")"


def model_sql(row: dict) -> str:
    values = [row[c] for c in MODEL_COLUMNS[:-1]] + ["catalog"]
    return "(" + ", ".join(sql_value(v) for v in values) + ")"


def render_sql(rows: list[dict], verified_at: str, models: list[dict] | None = None) -> str:
    if not rows:
        raise ValueError("no price rows: is this LiteLLM's model_prices_and_context_window.json?")
    model_names = {(r["provider"], r["model"]) for r in rows}
    providers = {r["provider"] for r in rows}
    tiers = {t: sum(1 for r in rows if r["service_tier"] == t) for t, _ in TIERS}
    header = [
        "-- Price catalog shipped with llm_cost.",
        "-- Generated by scripts/gen_catalog.py from LiteLLM's model_prices_and_context_window.json;",
        "-- do not edit. Regenerate with `python3 scripts/gen_catalog.py`.",
        f"-- {len(model_names)} models, {len(rows)} rows, {len(providers)} providers; prices verified at {verified_at}.",
        "-- Rows per service tier: " + ", ".join(f"{t} {n}" for t, n in tiers.items()) + ".",
        "-- Prices are per million tokens (per_request: per call), in USD.",
        "",
        f"INSERT INTO llm_cost.prices ({', '.join(COLUMNS)}) VALUES",
    ]
    body = ",\n".join(row_sql(r, verified_at) for r in rows)
    sql = "\n".join(header) + "\n" + body + ";\n"
    if models:  # capabilities
        sql += ("\n-- What each model can do (for recommendations).\n"
                f"INSERT INTO llm_cost.models ({', '.join(MODEL_COLUMNS)}) VALUES\n"
                + ",\n".join(model_sql(m) for m in models) + ";\n")
    return sql


def _dict_warning_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    d: dict = {}
    for k, v in pairs:
        if k in d and isinstance(v, dict) and "litellm_provider" in v:
            warn(f"duplicate key {k!r} in the JSON; the last one wins")
        d[k] = v
    return d


def load_price_list(path: Path | str) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f, parse_float=Decimal, object_pairs_hook=_dict_warning_duplicates)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    return data


def _date(s: str) -> str:
    try:
        return _dt.date.fromisoformat(s).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {s!r}") from None


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, default=DEFAULT_INPUT,
                   help="LiteLLM model_prices_and_context_window.json "
                        "(default: ../shared/data/... relative to the repo root)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the SQL (default: sql/catalog.sql in the repo)")
    p.add_argument("--verified-at", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="date the prices were checked (default: the input's mtime, UTC)")
    return p.parse_args(None if argv is None else list(argv))


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    verified_at = args.verified_at
    if verified_at is None:
        mtime = os.stat(args.input).st_mtime
        verified_at = _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).date().isoformat()
    data = load_price_list(args.input)
    rows = build_rows(data)
    sql = render_sql(rows, verified_at, build_models(data))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(sql)
    os.replace(tmp, args.output)
    models = len({(r["provider"], r["model"]) for r in rows})
    providers = len({r["provider"] for r in rows})
    print(f"gen_catalog: wrote {args.output}: {models} models, {len(rows)} rows, "
          f"{providers} providers (verified_at {verified_at})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
