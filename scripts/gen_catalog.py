#!/usr/bin/env python3
"""Generate sql/catalog.sql from LiteLLM's public price list and pydantic's
genai-prices data.

Usage (from the repository root):

    python3 scripts/gen_catalog.py
    python3 scripts/gen_catalog.py --input PATH --genai PATH --output PATH \
        --verified-at YYYY-MM-DD --conflicts PATH
    python3 scripts/gen_catalog.py --no-genai        # LiteLLM's list alone

Defaults: --input ../shared/data/model_prices_and_context_window.json,
--genai ../shared/data/genai_prices_data.json and --output sql/catalog.sql, all
relative to the repository root (not to the current directory); --verified-at
is the LiteLLM file's modification date in UTC and applies to every row.
Neither JSON file is ever copied into the repository, only the rows below.

What it emits: one INSERT INTO llm_cost.prices with a row per model and service
tier, for every entry whose mode is in MODES and that has any price this
catalog holds (token, token-subset or unit price; a missing input or output
token price is 0), and one INSERT INTO llm_cost.models. Both end with ON
CONFLICT ... DO UPDATE of catalog rows only, so the same statements install a
fresh catalog and upgrade a 0.2.0 one: they are also written between the
generated-catalog markers of sql/llm_cost--0.2.0--0.3.0.sql.

* Charges beyond tokens follow docs/charges.md ("Mapping from LiteLLM's price
  list"): the five token-subset columns (SUBSET_FIELDS) and unit_prices
  (UNIT_FIELDS, resolution selectors, search context sizes; stored with keys
  sorted and exact numbers). Image size entries fold into their base model
  (fold_size_entries); rates the list leaves implicit are filled in by
  apply_provider_defaults and listed in the header.

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
* Time-of-day prices: an entry's off_peak_pricing gives its standard row
  off_peak_input_per_mtok / off_peak_output_per_mtok (the regular price when
  off_peak_pricing lacks one), off_peak_cache_read_per_mtok and
  off_peak_windows: the windows normalised as llm_cost stores them
  (normalise_windows; weekday_timezone moves into each window). Windows that do
  not validate, or an entry that also has a long-context tier, keep the
  regular prices only, with a warning. The catalog sets them with one UPDATE
  after the INSERT (only a handful of rows have them).
* A price field that is not a finite, non-negative number is skipped with a
  warning on stderr.

Second source, genai-prices (genai_prices_data.json, MIT; the attribution is
written into the generated header). Its providers hold models with an id,
match rules and prices: either one price set or a list of {constraint,
prices} where "the last price whose constraint holds" applies.

* Provider map (GENAI_PROVIDER_MAP): aws -> bedrock (or bedrock_converse),
  azure -> azure (or azure_ai), cohere -> cohere (or cohere_chat), fireworks ->
  fireworks_ai, google -> gemini (or vertex_ai-language-models, vertex_ai;
  Google's Claude models -> vertex_ai), moonshotai -> moonshot, openai -> openai
  (or text-completion-openai), together -> together_ai, voyageai -> voyage,
  x-ai -> xai; every other id keeps its name (anthropic, deepseek, groq,
  mistral, openrouter, perplexity, huggingface_<host>, zhipuai, ...).
* A model goes to each provider of its map entry under which LiteLLM already
  prices one of its exact names (its id or an `equals` name of its match rule);
  (compared case-insensitively, as genai-prices matches, and placed under
  LiteLLM's spelling); when there is none, to the first provider of the
  entry, named by its id
  (AWS "regional.<id>" as "<id>"; a Fireworks id as the accounts/fireworks/
  models/<id> name its match rule gives).
* Prices: input_mtok, output_mtok, cache_read_mtok, cache_write_mtok map to
  the *_per_mtok columns (a missing input or output price is 0);
  requests_kcount (per 1000 requests) / 1000 -> per_request; input_audio_mtok and
  output_audio_mtok -> audio_input_per_mtok / audio_output_per_mtok. A tiered price
  {base, tiers: [{start, price}]} gives tier_threshold_tokens = start and the
  *_above_tier prices (genai-prices, like llm_cost, switches the whole call
  when the input exceeds start). Cached audio reads have no column and are counted.
  Models whose prices have no token price are skipped. Retired (deprecated)
  models are kept: a ledger prices past calls.
* History: a start_date constraint starts a new row, valid_from that date at
  00:00 UTC (genai-prices compares the request's UTC date); the first row is
  '-infinity'. A time-of-day constraint {start_time, end_time} (DeepSeek's
  off-peak switch: the constrained price holds from start to end, UTC, every
  day) makes the price in force for more hours of the day the row's regular
  price and the other its off-peak price (input, output, cache read), with
  the other one's hours as off_peak_windows (every weekday; a range across
  midnight is split there). The report lists these models.
* Conflict rule: where LiteLLM prices a (provider, model) now, LiteLLM's rows
  are the current price and genai-prices only adds the periods before its last
  price change (LiteLLM's standard row then starts at that change). Reasons:
  shipped prices do not change under existing users, llm_cost.import_prices
  reads LiteLLM's format and would otherwise re-add LiteLLM's price as a new
  row on the next import, and only LiteLLM has service tiers. Where the two
  disagree on any column genai-prices can set, the disagreement is reported
  (stderr: count and examples; --conflicts PATH: every one, tab-separated),
  flagged when LiteLLM's price equals an older genai-prices period (LiteLLM
  is behind a dated change). Models only genai-prices prices are added.
* Every row has source 'catalog'; models rows for genai-only models carry
  LiteLLM's mode where LiteLLM lists the name in another mode (embedding ...),
  'embedding' for voyageai (genai-prices: "text embedding models only"), else
  one from the name (genai_mode: rerank, embedding, else chat), and no capabilities. Match rules are not shipped as aliases:
  llm_cost.model_aliases has no builtin flag, so shipped rows would be dumped
  and restored twice.

llm_cost.import_prices reads genai-prices' format with the same rules, written
in SQL (sql/api.sql: _genai_providers, _genai_names, _genai_periods, _genai_row,
genai_price_rows); change the two together. tests/client.rs imports the real
file into a fresh install and checks that it adds rows exactly for the models
this generator reports as conflicts.

The output is deterministic: the same inputs and --verified-at give the same
bytes. Tests: python3 -m unittest discover -s scripts -p 'test_*.py'
"""

from __future__ import annotations

import argparse
import datetime as _dt
import decimal
import functools
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
DEFAULT_UPGRADE = REPO_ROOT / "sql" / "llm_cost--0.2.0--0.3.0.sql"
DEFAULT_GENAI = REPO_ROOT / ".." / "shared" / "data" / "genai_prices_data.json"

# Every mode docs/charges.md knows. LiteLLM's other modes are skipped:
# evaluation and extraction (classifier endpoints, no mode of ours),
# guardrail and vector_store (priced per policy unit or stored GB, no unit of
# ours), entries without a mode (Fireworks' size-bucket fallbacks such as
# "fireworks-ai-up-to-4b", not model names) and the 'sample_spec' entry.
MODES = ("chat", "completion", "responses", "embedding", "image_generation", "image_edit",
         "audio_transcription", "audio_speech", "rerank", "realtime", "video_generation",
         "search", "ocr", "moderation")

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
    "per_request",
    "cache_write_1h_per_mtok", "audio_input_per_mtok", "image_input_per_mtok",
    "audio_output_per_mtok", "image_output_per_mtok", "unit_prices",
    "currency", "source", "verified_at",
)
# Token-subset columns (docs/charges.md) and the LiteLLM per-token field of each.
SUBSET_FIELDS = (
    ("cache_write_1h_per_mtok", "cache_creation_input_token_cost_above_1hr"),
    ("audio_input_per_mtok", "input_cost_per_audio_token"),
    ("image_input_per_mtok", "input_cost_per_image_token"),
    ("audio_output_per_mtok", "output_cost_per_audio_token"),
    ("image_output_per_mtok", "output_cost_per_image_token"),
)
SUBSET_COLUMNS = tuple(c for c, _ in SUBSET_FIELDS)
# Set by one UPDATE after the INSERT, for the few rows that have them (the
# INSERT stays as narrow as before: pgrx embeds this file in the library).
OFF_PEAK_COLUMNS = ("off_peak_input_per_mtok", "off_peak_output_per_mtok", "off_peak_cache_read_per_mtok",
                    "off_peak_windows")

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
    if isinstance(v, list):  # off-peak windows
        return sql_str(json.dumps(v, separators=(", ", ": "))) + "::jsonb"
    if isinstance(v, dict):  # unit_prices
        return sql_str(unit_prices_json(v)) + "::jsonb"
    raise TypeError(f"unexpected value {v!r}")


# ---------------------------------------------------------------------------
# Entries -> rows
# ---------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def has_price(entry: dict) -> bool:
    """Whether an entry has a price this catalog can hold: a token price, a
    token-subset price or a unit price (any number, 0 included: free is a price)."""
    fields = ("input_cost_per_token", "output_cost_per_token") + tuple(f for _, f in SUBSET_FIELDS) \
        + tuple(f for f, _ in unit_fields_for(entry.get("mode")))
    if any(_is_number(entry.get(f)) for f in fields):
        return True
    if isinstance(entry.get("search_context_cost_per_query"), dict):
        return True
    return any(IMAGE_RES_RE.fullmatch(f) or (entry.get("mode") == "video_generation" and VIDEO_RES_RE.fullmatch(f))
               for f in entry)


def select_entries(data: dict) -> list[tuple[str, str, str, dict]]:
    """The priced entries of every mode in MODES (image size entries
    excepted: see fold_size_entries) as (provider, model, key,
    entry), one per (provider, model), sorted by (provider, model)."""
    chosen: dict[tuple[str, str], tuple[bool, str, dict]] = {}
    for key, entry in data.items():
        if key == "sample_spec" or not isinstance(entry, dict):
            continue
        if entry.get("mode") not in MODES or not has_price(entry):
            continue
        if size_entry(key, entry) is not None:
            continue  # folded into its base model (fold_size_entries)
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


# ---------------------------------------------------------------------------
# Off-peak windows (the same rules as src/pricing/off_peak.rs)
# ---------------------------------------------------------------------------

_HHMM_RE = re.compile(r"([0-9]{2}):([0-9]{2})")


def _hhmm(s: str) -> int | None:
    m = _HHMM_RE.fullmatch(s.strip())
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if (h, mi) == (24, 0):
        return 1440
    return h * 60 + mi if h < 24 and mi < 60 else None


def _fmt_minutes(m: int) -> str:
    m %= 1440
    return f"{m // 60:02d}:{m % 60:02d}"


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    import zoneinfo
    return frozenset(zoneinfo.available_timezones())


def normalise_windows(doc: Any) -> list[dict]:
    """Off-peak windows as llm_cost.prices stores them: a list of
    {"hours_utc": [sorted "HH:MM-HH:MM"], "weekdays": [sorted ISO days],
    "weekday_timezone": zone} (UTC when none). Accepts a list of windows or
    LiteLLM's off_peak_pricing object (its weekday_timezone applies to every
    window). Raises ValueError for what llm_cost would refuse; a time zone
    must be one Python's zoneinfo knows (the catalog's CHECK asks Postgres,
    and a name it refused would make CREATE EXTENSION fail)."""
    zone = None
    if isinstance(doc, dict):
        zone = doc.get("weekday_timezone")
        if zone is not None and not isinstance(zone, str):
            raise ValueError(f"weekday_timezone must be a name, got {zone!r}")
        doc = doc.get("windows")
    if not isinstance(doc, list) or not doc:
        raise ValueError("windows must be a non-empty list")
    out = []
    for w in doc:
        if not isinstance(w, dict) or set(w) - {"hours_utc", "weekdays", "weekday_timezone"}:
            raise ValueError(f"bad window {w!r}")
        hours = w.get("hours_utc")
        hours = [hours] if isinstance(hours, str) else hours
        if not isinstance(hours, list) or not hours:
            raise ValueError(f"bad hours_utc {w.get('hours_utc')!r}")
        ranges = set()
        for h in hours:
            if not isinstance(h, str) or "-" not in h:
                raise ValueError(f"bad hours_utc range {h!r}")
            a, b = h.split("-", 1)
            start, end = _hhmm(a), _hhmm(b)
            if start is None or end is None or start == 1440:
                raise ValueError(f"bad hours_utc range {h!r}")
            end = 1440 if end == 0 else end
            if start >= end:
                raise ValueError(f"hours_utc range {h!r} is empty or crosses midnight")
            ranges.add((start, end))
        days = w.get("weekdays", list(range(1, 8)))
        if days is None:
            days = list(range(1, 8))
        if not isinstance(days, list) or not days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days):
            raise ValueError(f"bad weekdays {days!r}")
        z = w.get("weekday_timezone", zone)
        z = zone if z is None else z
        if z is not None and (not isinstance(z, str) or not z.strip()):
            raise ValueError(f"bad weekday_timezone {z!r}")
        if z is not None and z != "UTC" and z not in _known_zones():
            raise ValueError(f"unknown weekday_timezone {z!r}")
        out.append({"hours_utc": [f"{_fmt_minutes(a)}-{_fmt_minutes(b)}" for a, b in sorted(ranges)],
                    "weekdays": sorted(set(days)),
                    "weekday_timezone": z if z is not None else "UTC"})
    return out


def daily_windows(start: int, end: int) -> list[dict]:
    """Every day from start to end (minutes after midnight UTC; end <= start
    wraps past midnight), as normalised windows."""
    if end > start:
        ranges = [(start, end)]
    else:
        ranges = [(start, 1440)] + ([(0, end)] if end > 0 else [])
    ranges = [r for r in ranges if r[0] < r[1]]
    return [{"hours_utc": [f"{_fmt_minutes(a)}-{_fmt_minutes(b)}" for a, b in sorted(ranges)],
             "weekdays": list(range(1, 8)), "weekday_timezone": "UTC"}]


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


# ---------------------------------------------------------------------------
# Unit prices (docs/charges.md, "Mapping from LiteLLM's price list")
# ---------------------------------------------------------------------------

ALL_MODES = None  # a UNIT_FIELDS row that applies in every mode

# (LiteLLM field, counted unit, modes the field means that unit in). Per unit,
# the first field present wins. input_cost_per_second in chat mode is Bedrock's
# provisioned throughput (per model-unit second), not a call's audio: not read.
# output_cost_per_second in audio_transcription is LiteLLM restating the input
# rate (whisper-1 has both at 0.0001); transcription is billed on input audio,
# so it counts only where the input price is 0 or absent (Soniox lists its
# $0.10 per hour of audio there). A price of 0 gives way to a later field's
# price above 0 for the same unit (unit_prices_of).
UNIT_FIELDS = (
    ("google_maps_grounding_cost_per_query", "maps_queries", ALL_MODES),
    ("output_cost_per_image", "images", ALL_MODES),
    ("input_cost_per_image", "input_images", ALL_MODES),
    ("input_cost_per_second", "audio_seconds", ("audio_transcription", "realtime")),
    ("input_cost_per_audio_per_second", "audio_seconds", ALL_MODES),
    ("output_cost_per_second", "output_audio_seconds", ("audio_speech",)),
    ("output_cost_per_second", "video_seconds", ("video_generation",)),
    ("output_cost_per_video_per_second", "video_seconds", ("video_generation",)),
    ("input_cost_per_video_per_second", "video_seconds",
     tuple(m for m in MODES if m != "video_generation")),
    ("input_cost_per_character", "characters", ALL_MODES),
    ("input_cost_per_query", "queries", ALL_MODES),
    ("ocr_cost_per_page", "pages", ALL_MODES),
    ("output_cost_per_second", "audio_seconds", ("audio_transcription",)),
)
# output_cost_per_image_<R> (1K, 0.5K, 1024, ...): image price by resolution.
# Not ..._token (a per-token price) and not a tier suffix.
IMAGE_RES_RE = re.compile(r"output_cost_per_image_(?!token)(?!batches$|flex$|priority$)(.+)")
# output_cost_per_second_<res> (720p, 1080p, 4k, 2k, ...): video price by resolution.
VIDEO_RES_RE = re.compile(r"output_cost_per_second_([0-9]+(?:p|k))", re.IGNORECASE)
SEARCH_SIZES = ("low", "medium", "high")
IMAGE_MODES = ("image_generation", "image_edit")


def unit_fields_for(mode: str | None) -> list[tuple[str, str]]:
    """The (field, unit) pairs of UNIT_FIELDS that apply in a mode, in order."""
    return [(f, u) for f, u, modes in UNIT_FIELDS if modes is ALL_MODES or mode in modes]


def images_priced_as_input(entry: dict) -> bool:
    """True when an image-generation entry's input_cost_per_image is really its
    price per generated image: LiteLLM writes it so when the entry has no
    output-side price at all (xai/grok-imagine-image: $0.02 per generated
    image; the gpt-image-1.5 size entries: OpenAI's per-image output prices)."""
    if entry.get("mode") not in IMAGE_MODES or not _is_number(entry.get("input_cost_per_image")):
        return False
    if any(IMAGE_RES_RE.fullmatch(f) or f == "output_cost_per_image" for f in entry):
        return False
    return not any(_is_number(entry.get(f)) and entry[f] > 0
                   for f in ("output_cost_per_token", "output_cost_per_image_token", "output_cost_per_pixel"))


def search_context_prices(r: "_Reader", provider: str) -> tuple[str, dict] | None:
    """LiteLLM's search_context_cost_per_query as (unit, selector map): web
    searches priced by context size (default medium), or for Perplexity a fee
    per request (its API's default context size is low)."""
    doc = r.entry.get("search_context_cost_per_query")
    if not isinstance(doc, dict):
        return None
    prices = {}
    for size in SEARCH_SIZES:
        field = f"search_context_size_{size}"
        v = doc.get(field)
        if v is not None:
            p = as_price(v, r.key, "search_context_cost_per_query." + field)
            if p is not None:
                prices[size] = p
    if not prices:
        return None
    unit, default = ("requests", "low") if provider == "perplexity" else ("web_search_queries", "medium")
    if default in prices:
        prices["default"] = prices[default]
    return unit, prices


def resolution_prices(r: "_Reader", pattern: re.Pattern, suffix: str) -> dict:
    """{resolution (lower case): price} from fields matching pattern."""
    out = {}
    for field in sorted(r.entry):
        m = pattern.fullmatch(field)
        if m:
            v = r.tiered(field, suffix)
            if v is not None:
                out[m.group(1).lower()] = v
    return out


def with_selectors(plain: Decimal | None, selectors: dict) -> Decimal | dict | None:
    """A unit price: the plain price alone, or the selector map with the plain
    price as its default."""
    if not selectors:
        return plain
    out = dict(selectors)
    if plain is not None:
        out["default"] = plain
    return out


def unit_prices_of(r: "_Reader", provider: str, suffix: str) -> dict | None:
    """One entry's unit_prices for a service tier (fields read as r.tiered)."""
    mode = r.entry.get("mode")
    up: dict[str, Any] = {}
    for field, unit in unit_fields_for(mode):
        if field == "input_cost_per_image" and images_priced_as_input(r.entry):
            unit = "images"
        if unit in up and up[unit] != 0:
            continue  # the first field with a price above 0 wins; a 0 gives way
        v = r.tiered(field, suffix)
        if v is not None and (unit not in up or v != 0):
            up[unit] = v
    images = with_selectors(up.get("images"), resolution_prices(r, IMAGE_RES_RE, suffix))
    if images is not None:
        up["images"] = images
    if mode == "video_generation":
        video = with_selectors(up.get("video_seconds"), resolution_prices(r, VIDEO_RES_RE, suffix))
        if video is not None:
            up["video_seconds"] = video
    sc = search_context_prices(r, provider)
    if sc is not None:
        up[sc[0]] = sc[1]
    return up or None


def unit_prices_json(up: dict) -> str:
    """unit_prices as stored: keys sorted at both levels, numbers in plain
    decimal notation (exact: never through float)."""
    def num(v: Decimal) -> str:
        return fmt_decimal(v)
    parts = []
    for unit in sorted(up):
        v = up[unit]
        if isinstance(v, dict):
            inner = ", ".join(f"{json.dumps(k)}: {num(v[k])}" for k in sorted(v))
            parts.append(f"{json.dumps(unit)}: {{{inner}}}")
        else:
            parts.append(f"{json.dumps(unit)}: {num(v)}")
    return "{" + ", ".join(parts) + "}"


def first(*values: Any) -> Any:
    """The first value that is not None (0 counts)."""
    return next((v for v in values if v is not None), None)


# Fields whose tier-suffixed variant makes a service-tier row exist.
TIER_FIELDS = ("input_cost_per_token", "output_cost_per_token") + tuple(f for _, f in SUBSET_FIELDS)


def tier_present(r: "_Reader", suffix: str) -> bool:
    """Whether an entry has prices of its own for a service tier (a token,
    token-subset or unit price with the tier's suffix: ocr_cost_per_page_batches)."""
    fields = TIER_FIELDS + tuple(f for f, _ in unit_fields_for(r.entry.get("mode")))
    return any(r.get(f + suffix) is not None for f in fields)


def rows_for_entry(provider: str, model: str, key: str, entry: dict) -> list[dict]:
    """The price rows (one per service tier) of one LiteLLM entry."""
    r = _Reader(key, entry)
    k = tier_threshold_k(entry)
    rows = []
    for tier, suffix in TIERS:
        if suffix and not tier_present(r, suffix):
            continue

        def mtok(field: str) -> Decimal | None:
            v = r.tiered(field, suffix)
            return None if v is None else per_mtok(v)

        def token_rate(field: str) -> Decimal | None:
            """mtok, except that a batch row the list gives no batch price
            for this field bills half the standard one: the providers' batch
            rule (OpenAI, Azure Global Batch, Vertex and Bedrock batch: 50% of
            input and output), as LiteLLM's batch calculator applies it."""
            if suffix == "_batches" and r.get(field + suffix) is None and r.get(field) is not None:
                return per_mtok(_EXACT.multiply(r.get(field), Decimal("0.5")))
            return mtok(field)

        row = {
            "provider": provider,
            "model": model,
            "service_tier": tier,
            "input_per_mtok": token_rate("input_cost_per_token") or Decimal(0),
            # An entry without a text output price outputs images: its image
            # output price is its output price (gpt-image-1).
            "output_per_mtok": first(token_rate("output_cost_per_token"), mtok("output_cost_per_image_token"),
                                     Decimal(0)),
            "cache_read_per_mtok": mtok("cache_read_input_token_cost"),
            "cache_write_per_mtok": mtok("cache_creation_input_token_cost"),
            "reasoning_per_mtok": mtok("output_cost_per_reasoning_token"),
            "tier_threshold_tokens": None if k is None else k * 1000,
            "input_per_mtok_above_tier": None,
            "output_per_mtok_above_tier": None,
            "cache_read_per_mtok_above_tier": None,
            "cache_write_per_mtok_above_tier": None,
            "per_request": r.tiered("input_cost_per_request", suffix),
            "unit_prices": unit_prices_of(r, provider, suffix),
        }
        for col, field in SUBSET_FIELDS:
            row[col] = mtok(field)
        if suffix and r.get("cache_creation_input_token_cost" + suffix) is not None \
                and r.get("cache_creation_input_token_cost_above_1hr" + suffix) is None:
            # The tier has its own 5-minute write price (Anthropic's batch: half
            # the standard one) but no 1-hour one: the standard 1-hour price
            # belongs to another tier. Left to the provider default (below).
            row["cache_write_1h_per_mtok"] = None
        if k is not None:
            row["input_per_mtok_above_tier"] = mtok(f"input_cost_per_token_above_{k}k_tokens")
            row["output_per_mtok_above_tier"] = mtok(f"output_cost_per_token_above_{k}k_tokens")
            row["cache_read_per_mtok_above_tier"] = mtok(f"cache_read_input_token_cost_above_{k}k_tokens")
            row["cache_write_per_mtok_above_tier"] = mtok(f"cache_creation_input_token_cost_above_{k}k_tokens")
        row.update(dict.fromkeys(OFF_PEAK_COLUMNS))
        op = entry.get("off_peak_pricing")
        if tier == "standard" and op is not None:
            row.update(_off_peak_columns(key, op, row, k))
        rows.append(row)
    return rows


def _off_peak_columns(key: str, op: Any, row: dict, k: int | None) -> dict:
    """The off-peak columns of an entry's standard row (all None, with a
    warning, when they cannot be stored)."""
    if not isinstance(op, dict):
        warn(f"{key!r}: off_peak_pricing is not an object; ignored")
        return {}
    if k is not None:
        warn(f"{key!r}: off_peak_pricing with a long-context tier cannot be stored; ignored")
        return {}
    try:
        windows = normalise_windows(op)
    except ValueError as e:
        warn(f"{key!r}: off_peak_pricing windows unusable ({e}); ignored")
        return {}
    r = _Reader(key + " off_peak_pricing", op)

    def mtok(field: str) -> Decimal | None:
        v = r.get(field)
        return None if v is None else per_mtok(v)

    return {"off_peak_input_per_mtok": mtok("input_cost_per_token") if mtok("input_cost_per_token") is not None
            else row["input_per_mtok"],
            "off_peak_output_per_mtok": mtok("output_cost_per_token") if mtok("output_cost_per_token") is not None
            else row["output_per_mtok"],
            "off_peak_cache_read_per_mtok": mtok("cache_read_input_token_cost"),
            "off_peak_windows": windows}


# ---------------------------------------------------------------------------
# Image size entries, folded into their base model
# ---------------------------------------------------------------------------

# LiteLLM prices image sizes and qualities as entries of their own:
# "<quality>/<W>-x-<H>/<model>" (hd/1024-x-1792/dall-e-3) and Bedrock's
# "<W>-x-<H>/<steps>/<model>" (1024-x-1024/50-steps/stability.stable-diffusion-xl-v1),
# the whole key after an optional "<litellm_provider>/". They are not models
# a call names: each becomes a selector of its base model's unit_prices.images
# and is not shipped as a model of its own.
SIZE_KEY_RE = re.compile(
    r"(?:(?P<quality>[a-z]+)/)?(?P<w>[0-9]+|max)-x-(?P<h>[0-9]+|max)/"
    r"(?:(?P<steps>[0-9]+-steps|max-steps)/)?(?P<model>.+)")

# Bedrock's Stability prices: up to 50 steps is its standard price, above
# ("max-steps") its premium one; "max-x-max" is every size above the smallest
# listed (SDXL 0.8: 512x512 $0.018, larger $0.036), so it has no size selector.
PREMIUM_STEPS = "max-steps"
PREMIUM_QUALITY = "premium"

# The selector a call without size/quality qualifiers gets, where the
# provider's API documents a default: OpenAI's images API, dall-e-3 and
# dall-e-2 default to size 1024x1024 (dall-e-3 quality standard); Bedrock's
# SDXL 1.0 defaults to 1024x1024 at 30 steps (its standard price).
IMAGE_DEFAULTS = {
    "dall-e-3": ("standard/1024x1024",),
    "dall-e-2": ("1024x1024", "standard/1024x1024"),
    "stability.stable-diffusion-xl-v1": ("1024x1024",),
}


def strip_provider(name: str, raw_provider: str) -> str:
    prefix = raw_provider + "/"
    return name[len(prefix):] if name.startswith(prefix) else name


def size_entry(key: str, entry: dict) -> tuple[str, str, str, int | None] | None:
    """(provider, base model, selector, pixels or None) of an image size
    entry, or None for any other entry."""
    raw = entry.get("litellm_provider")
    if not isinstance(raw, str) or not raw.strip() or entry.get("mode") not in IMAGE_MODES:
        return None
    m = SIZE_KEY_RE.fullmatch(strip_provider(key, raw))
    if not m:
        return None
    quality = m.group("quality")
    if m.group("steps") == PREMIUM_STEPS:
        quality = quality or PREMIUM_QUALITY
    w, h = m.group("w"), m.group("h")
    size = None if "max" in (w, h) else f"{int(w)}x{int(h)}"
    selector = "/".join(p for p in (quality, size) if p) or "default"
    pixels = None if size is None else int(w) * int(h)
    return raw.strip().lower(), strip_provider(m.group("model"), raw), selector, pixels


def size_entry_price(key: str, entry: dict, pixels: int | None) -> Decimal | None:
    """The price of one image of a size entry: its per-image price (LiteLLM
    writes output_cost_per_image, or input_cost_per_image in the gpt-image-1.5
    entries), else its per-pixel price times the size's pixels (LiteLLM puts
    the rate in input_cost_per_pixel; a 0 there is a placeholder, not a price)."""
    r = _Reader(key, entry)
    per_image = first(r.get("output_cost_per_image"), r.get("input_cost_per_image"))
    if per_image is not None:
        return per_image
    per_pixel = next((p for p in (r.get("input_cost_per_pixel"), r.get("output_cost_per_pixel"))
                      if p is not None and p > 0), None)
    if per_pixel is None or pixels is None:
        return None
    return _EXACT.multiply(per_pixel, Decimal(pixels))


class SizeFolds:
    """Every image size entry, grouped by base model."""

    def __init__(self, data: dict):
        self.images: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.mode: dict[tuple[str, str], str] = {}
        self.keys: dict[tuple[str, str], list[str]] = {}
        self.unpriced: list[str] = []  # size entries with no usable price
        for key in sorted(data):
            entry = data[key]
            if not isinstance(entry, dict):
                continue
            se = size_entry(key, entry)
            if se is None:
                continue
            provider, model, selector, pixels = se
            price = size_entry_price(key, entry, pixels)
            if price is None:
                self.unpriced.append(key)
                continue
            base = (provider, model)
            sel = self.images.setdefault(base, {})
            if selector in sel and sel[selector] != price:
                warn(f"{key!r}: selector {selector} of {base} already priced {fmt_decimal(sel[selector])}; kept")
                continue
            sel[selector] = price
            self.mode.setdefault(base, entry["mode"])
            self.keys.setdefault(base, []).append(key)


def images_with_sizes(current: Any, sizes: dict, model: str) -> dict:
    """A base row's unit_prices.images with its size selectors added: its own
    per-image price (if any) becomes the default, else IMAGE_DEFAULTS's."""
    out = dict(current) if isinstance(current, dict) else {}
    if isinstance(current, Decimal):
        out["default"] = current
    for sel, price in sizes.items():
        out.setdefault(sel, price)
    if "default" not in out:
        for sel in IMAGE_DEFAULTS.get(model, ()):
            if sel in out:
                out["default"] = out[sel]
                break
    return out


def empty_row(provider: str, model: str) -> dict:
    """A standard row with every price absent and token prices 0."""
    row = {c: None for c in COLUMNS if c not in ("currency", "source", "verified_at")}
    row.update(dict.fromkeys(OFF_PEAK_COLUMNS))
    row.update(provider=provider, model=model, service_tier="standard",
               input_per_mtok=Decimal(0), output_per_mtok=Decimal(0))
    del row["valid_from"]
    return row


def fold_size_entries(rows: list[dict], folds: SizeFolds) -> list[dict]:
    """rows with every size entry folded into its base model's rows (all
    service tiers); a base LiteLLM does not price gets a row of its own."""
    by_model: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_model.setdefault((row["provider"], row["model"]), []).append(row)
    out = list(rows)
    for base, sizes in sorted(folds.images.items()):
        targets = by_model.get(base)
        if not targets:
            targets = [empty_row(*base)]
            out.extend(targets)
        for row in targets:
            up = dict(row["unit_prices"] or {})
            up["images"] = images_with_sizes(up.get("images"), sizes, base[1])
            row["unit_prices"] = up
    return out


# ---------------------------------------------------------------------------
# Provider defaults: rates the price lists leave implicit
# ---------------------------------------------------------------------------

# (name, header text). Each rule fills a column only where it is NULL, and
# marks the row (row["defaults"]) so the header can count what it did.
PROVIDER_DEFAULTS = {
    "anthropic_1h_cache_write": (
        "Claude 1-hour prompt-cache writes at 2x the input price, for Claude rows (any provider)",
        "with a 5-minute write price of exactly 1.25x input and no 1-hour price. Source: Anthropic's",
        "pricing page (https://docs.anthropic.com/en/docs/about-claude/pricing, prompt caching:",
        "5-minute writes 1.25x, 1-hour writes 2x the base input price; batch discounts stack)."),
    "fireworks_cache_read": (
        "Fireworks cached prompt tokens at 50% of the input price, for fireworks_ai rows with no cache-read",
        "price. Source: Fireworks' prompt caching guide (https://docs.fireworks.ai/guides/prompt-caching:",
        "\"for serverless models, cached prompt tokens are discounted ... The default discount is 50%\")."),
}


def is_claude(model: str) -> bool:
    return "claude" in model.lower()


def anthropic_1h_cache_write(row: dict) -> bool:
    """Fills a Claude row's missing 1-hour cache-write price (2x input) when its
    5-minute price is Anthropic's 1.25x; True when it did."""
    if not is_claude(row["model"]) or row.get("cache_write_1h_per_mtok") is not None:
        return False
    cw, inp = row.get("cache_write_per_mtok"), row["input_per_mtok"]
    if cw is None or cw != _EXACT.multiply(inp, Decimal("1.25")):
        return False  # not Anthropic's ratio (a reseller's own price): leave it
    row["cache_write_1h_per_mtok"] = _EXACT.multiply(inp, Decimal(2))
    return True


def fireworks_cache_read(row: dict) -> bool:
    """Fills a Fireworks row's missing cache-read price (50% of input); True when it did."""
    if row["provider"] != "fireworks_ai" or row.get("cache_read_per_mtok") is not None or not row["input_per_mtok"]:
        return False
    row["cache_read_per_mtok"] = _EXACT.multiply(row["input_per_mtok"], Decimal("0.5"))
    return True


def apply_provider_defaults(rows: list[dict]) -> None:
    """Applies every PROVIDER_DEFAULTS rule to every row (idempotent)."""
    for row in rows:
        for name, rule in (("anthropic_1h_cache_write", anthropic_1h_cache_write),
                           ("fireworks_cache_read", fireworks_cache_read)):
            if rule(row):
                row.setdefault("defaults", set()).add(name)


def build_rows(data: dict) -> list[dict]:
    rows = []
    for provider, model, key, entry in select_entries(data):
        rows.extend(rows_for_entry(provider, model, key, entry))
    rows = fold_size_entries(rows, SizeFolds(data))
    apply_provider_defaults(rows)
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
    # Base models only size entries price (azure's dall-e-3): their mode, no capabilities.
    have = {(m["provider"], m["model"]) for m in models}
    folds = SizeFolds(data)
    for base in sorted(set(folds.images) - have):
        models.append(bare_model(base[0], base[1], folds.mode[base]))
    models.sort(key=lambda m: (m["provider"], m["model"]))
    return models


def bare_model(provider: str, model: str, mode: str | None) -> dict:
    """A models row with a mode and no capabilities or context sizes."""
    row = {"provider": provider, "model": model, "mode": mode,
           "max_input_tokens": None, "max_output_tokens": None}
    row.update(dict.fromkeys(CAPABILITIES, False))
    return row


# ---------------------------------------------------------------------------
# genai-prices (pydantic's genai_prices_data.json)
# ---------------------------------------------------------------------------

# genai-prices provider id -> (default llm_cost provider, other llm_cost
# providers that file the same vendor's models). Ids not listed keep their own
# name. See place_genai_model() for how a model picks among them.
GENAI_PROVIDER_MAP: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws": ("bedrock", ("bedrock_converse",)),
    "azure": ("azure", ("azure_ai",)),
    "cohere": ("cohere", ("cohere_chat",)),
    "fireworks": ("fireworks_ai", ()),
    "google": ("gemini", ("vertex_ai-language-models", "vertex_ai")),
    "moonshotai": ("moonshot", ()),
    "openai": ("openai", ("text-completion-openai",)),
    "together": ("together_ai", ()),
    "voyageai": ("voyage", ()),
    "x-ai": ("xai", ()),
}
# Google lists the Claude models it sells on Vertex AI under "google".
GENAI_GOOGLE_CLAUDE = ("vertex_ai", ())

# genai-prices says of its voyageai list: "This file covers text embedding
# models only". Other genai-only models get no mode (genai-prices has none).
GENAI_PROVIDER_MODE = {"voyageai": "embedding"}

# genai-prices price fields -> llm_cost columns (all per million tokens).
GENAI_FIELDS = (
    ("input_mtok", "input_per_mtok", "input_per_mtok_above_tier"),
    ("output_mtok", "output_per_mtok", "output_per_mtok_above_tier"),
    ("cache_read_mtok", "cache_read_per_mtok", "cache_read_per_mtok_above_tier"),
    ("cache_write_mtok", "cache_write_per_mtok", "cache_write_per_mtok_above_tier"),
)
# genai-prices audio prices -> token-subset columns (no long-context variant:
# a tiered audio price keeps its base).
GENAI_SUBSET_FIELDS = (
    ("input_audio_mtok", "audio_input_per_mtok"),
    ("output_audio_mtok", "audio_output_per_mtok"),
)
GENAI_KNOWN = frozenset(k for k, _, _ in GENAI_FIELDS) | frozenset(k for k, _ in GENAI_SUBSET_FIELDS)
# Price fields llm_cost has no column for; counted in the report.
GENAI_UNFITTED = ("cache_audio_read_mtok",)

# Columns a genai-prices price can set, compared for conflicts.
COMPARED = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok",
            "tier_threshold_tokens", "input_per_mtok_above_tier", "output_per_mtok_above_tier",
            "cache_read_per_mtok_above_tier", "cache_write_per_mtok_above_tier", "per_request") + OFF_PEAK_COLUMNS

# Token-subset prices genai-prices can set, each with the column whose rate a
# NULL means (docs/charges.md): also compared for conflicts, at the rate they
# price, so LiteLLM's audio price equal to its input price agrees with
# genai-prices' none. import_prices compares them the same way.
COMPARED_SUBSETS = (("audio_input_per_mtok", "input_per_mtok"), ("audio_output_per_mtok", "output_per_mtok"))

NEG_INF = "-infinity"


class GenaiStats:
    """What the genai-prices reader could not express, for the report."""

    def __init__(self) -> None:
        self.time_of_day: list[str] = []      # models with off-peak prices
        self.off_peak_dropped: list[str] = []  # ... that no row can hold (tiered)
        self.unfitted: dict[str, list[str]] = {}  # field -> models
        self.multi_tier: list[str] = []
        self.skipped: list[str] = []

    def unfit(self, field: str, who: str) -> None:
        self.unfitted.setdefault(field, []).append(who)


def load_genai(path: Path | str) -> list:
    with open(path, encoding="utf-8") as f:
        data = json.load(f, parse_float=Decimal)
    if not isinstance(data, list) or not all(isinstance(p, dict) and "models" in p for p in data):
        raise ValueError(f"{path}: expected genai-prices' data.json (a list of providers with models)")
    return data


def genai_provider_targets(provider_id: str, model_id: str) -> tuple[str, tuple[str, ...]]:
    """(default llm_cost provider, sibling providers) for a genai-prices model."""
    if provider_id == "google" and model_id.startswith("claude"):
        return GENAI_GOOGLE_CLAUDE
    return GENAI_PROVIDER_MAP.get(provider_id, (provider_id.strip().lower(), ()))


def _equals_names(match: Any) -> list[str]:
    """The exact names (`equals` clauses) under a match rule's `or`s; never
    patterns (starts_with, contains, regex, ...) and nothing under `and`."""
    if not isinstance(match, dict):
        return []
    if isinstance(match.get("equals"), str):
        return [match["equals"]]
    out: list[str] = []
    for sub in match.get("or", []) if isinstance(match.get("or"), list) else []:
        out.extend(_equals_names(sub))
    return out


def genai_model_names(provider_id: str, model: dict) -> tuple[str, list[str]]:
    """(name to ship the model under, every exact name it is known by).

    The name is the genai-prices id, except: AWS ids "regional.<id>" (a
    genai-prices label for the in-region price) ship as "<id>", the model id
    Bedrock takes; and when the id is not itself one of the match rule's exact
    names but one ends with "/<id>" (Fireworks' accounts/fireworks/models/<id>),
    that name."""
    mid = model["id"]
    equals = _equals_names(model.get("match"))
    name = mid
    if provider_id == "aws" and mid.startswith("regional."):
        name = mid[len("regional."):]
    elif mid not in equals:
        longer = sorted(e for e in equals if e.endswith("/" + mid))
        if longer:
            name = longer[0]
    names = [name] + [n for n in dict.fromkeys([mid] + equals) if n != name]
    return name, names


def _genai_value(v: Any, who: str, field: str) -> Decimal | dict | None:
    if isinstance(v, dict):
        return v
    return as_price(v, who, field)


def _start_date(s: Any, who: str) -> str | None:
    try:
        return _dt.date.fromisoformat(s).isoformat()
    except (TypeError, ValueError):
        warn(f"{who!r}: unusable start_date {s!r}; period skipped")
        return None


def _minutes(t: str) -> int:
    """'16:30:00Z' -> 990 (minutes after midnight UTC). Only UTC times occur."""
    t = t.rstrip("Z")
    hh, mm = t.split(":")[:2]
    return int(hh) * 60 + int(mm)


def _window_minutes(c: dict) -> int:
    start, end = _minutes(c["start_time"]), _minutes(c["end_time"])
    return (end - start) % (24 * 60)


def genai_periods(model: dict, who: str, stats: GenaiStats) -> list[tuple[str, dict, Any]]:
    """A model's prices as [(valid_from, prices, off_peak)], oldest first; the
    first is '-infinity'. genai-prices' rule is "the last price whose constraint
    holds": an entry with a start_date starts a new period; an entry with a
    time-of-day window {start_time, end_time} (DeepSeek's off-peak switch) and
    the price before it share one period: the one in force for more hours of
    the day is its prices, the other its off_peak = (prices, windows), windows
    being the other one's daily hours (normalised, as normalise_windows)."""
    prices = model.get("prices")
    if isinstance(prices, dict):
        return [(NEG_INF, prices, None)]
    if not isinstance(prices, list) or not prices:
        return []
    periods: list[tuple[str, dict, Any]] = []
    for entry in prices:
        if not isinstance(entry, dict) or not isinstance(entry.get("prices"), dict):
            warn(f"{who!r}: price entry is not an object with prices; skipped")
            continue
        c = entry.get("constraint")
        p = entry["prices"]
        if not c:
            if periods:
                warn(f"{who!r}: unconstrained price after the first; it replaces the one before")
                periods[-1] = (periods[-1][0], p, None)
            else:
                periods.append((NEG_INF, p, None))
        elif set(c) == {"start_date"}:
            d = _start_date(c["start_date"], who)
            if d is None:
                continue
            if periods and periods[-1][0] != NEG_INF and d <= periods[-1][0]:
                warn(f"{who!r}: start_date {d} not after the previous one; period skipped")
                continue
            periods.append((f"{d} 00:00:00+00" if periods else NEG_INF, p, None))
        elif set(c) == {"start_time", "end_time"}:
            stats.time_of_day.append(f"{who} ({c['start_time']}-{c['end_time']})")
            try:
                start, end = _minutes(c["start_time"]), _minutes(c["end_time"])
            except (AttributeError, ValueError):
                warn(f"{who!r}: unusable time-of-day constraint {c!r}; entry skipped")
                continue
            if not periods:
                periods.append((NEG_INF, p, None))
            elif start == end:
                periods[-1] = (periods[-1][0], p, None)  # all day
            elif _window_minutes(c) * 2 > 24 * 60:
                # the constrained price is the regular one; the one before holds outside its hours
                periods[-1] = (periods[-1][0], p, (periods[-1][1], daily_windows(end, start)))
            else:
                periods[-1] = (periods[-1][0], periods[-1][1], (p, daily_windows(start, end)))
        else:
            warn(f"{who!r}: unknown constraint {sorted(c)}; entry skipped")
            stats.skipped.append(who)
    return periods


def genai_base_price(v: Any, who: str, field: str) -> Decimal | None:
    """A genai-prices price, or a tiered price's base."""
    if v is None:
        return None
    if isinstance(v, dict):
        return as_price(v.get("base"), who, field + ".base")
    return as_price(v, who, field)


def genai_row(provider: str, name: str, valid_from: str, prices: dict, who: str,
              stats: GenaiStats, off_peak: Any = None) -> dict | None:
    """One llm_cost price row (standard tier) from one genai-prices price set,
    or None when it has no token price."""
    vals = {k: _genai_value(prices.get(k), who, k) for k, _, _ in GENAI_FIELDS if prices.get(k) is not None}
    if "input_mtok" not in vals and "output_mtok" not in vals:
        return None
    for f in GENAI_UNFITTED:
        if f in prices:
            stats.unfit(f, who)
    for f in prices:
        if f not in GENAI_UNFITTED and f != "requests_kcount" and f not in GENAI_KNOWN:
            stats.unfit(f, who)
    starts = sorted({t.get("start") for v in vals.values() if isinstance(v, dict)
                     for t in (v.get("tiers") or [])[:1]}, key=str)
    if any(isinstance(v, dict) and len(v.get("tiers") or []) > 1 for v in vals.values()) or len(starts) > 1:
        stats.multi_tier.append(who)
    threshold = starts[0] if starts and isinstance(starts[0], int) and not isinstance(starts[0], bool) \
        and starts[0] > 0 else None
    row = {"provider": provider, "model": name, "service_tier": "standard", "valid_from": valid_from, "origin": who,
           "reasoning_per_mtok": None, "tier_threshold_tokens": threshold, "per_request": None}
    for field, col, above_col in GENAI_FIELDS:
        v = vals.get(field)
        base = above = None
        if isinstance(v, dict):
            base = as_price(v.get("base"), who, field + ".base")
            tiers = [t for t in (v.get("tiers") or []) if isinstance(t, dict)]
            if threshold is not None and tiers and tiers[0].get("start") == threshold:
                above = as_price(tiers[0].get("price"), who, field + ".tiers[0].price")
        elif v is not None:
            base = v
        row[col] = base
        row[above_col] = above
    if row["input_per_mtok"] is None:
        row["input_per_mtok"] = Decimal(0)
    if row["output_per_mtok"] is None:
        row["output_per_mtok"] = Decimal(0)
    if threshold is not None and row["input_per_mtok_above_tier"] is None:
        # llm_cost switches tiers only when the input has an above-tier price.
        row["input_per_mtok_above_tier"] = row["input_per_mtok"]
    if threshold is None:
        for _, _, above_col in GENAI_FIELDS:
            row[above_col] = None
    for field, col in GENAI_SUBSET_FIELDS:
        row[col] = genai_base_price(prices.get(field), who, field)
    row["cache_write_1h_per_mtok"] = row["image_input_per_mtok"] = row["image_output_per_mtok"] = None
    row["unit_prices"] = None
    kc = prices.get("requests_kcount")
    if kc is not None:
        k = as_price(kc, who, "requests_kcount")
        if k is not None:
            row["per_request"] = k.scaleb(-3, context=_EXACT)  # per 1000 requests -> per request
    row.update(dict.fromkeys(OFF_PEAK_COLUMNS))
    if off_peak is not None:
        off_prices, windows = off_peak
        vals = {f: off_prices.get(f) for f in ("input_mtok", "output_mtok", "cache_read_mtok")}
        if threshold is not None or any(isinstance(v, dict) for v in vals.values()):
            stats.off_peak_dropped.append(who)  # llm_cost has no tiered off-peak prices
        else:
            got = {f: None if v is None else as_price(v, who, "off-peak " + f) for f, v in vals.items()}
            row["off_peak_input_per_mtok"] = got["input_mtok"] if got["input_mtok"] is not None else row["input_per_mtok"]
            row["off_peak_output_per_mtok"] = got["output_mtok"] if got["output_mtok"] is not None \
                else row["output_per_mtok"]
            row["off_peak_cache_read_per_mtok"] = got["cache_read_mtok"]
            row["off_peak_windows"] = windows
    return row


def _txt(v: Any) -> str:
    return "NULL" if v is None else fmt_decimal(v) if isinstance(v, Decimal) else str(v)


def _price_of(row: dict) -> tuple:
    return tuple(row.get(c) for c in COMPARED)


def _period_of(row: dict) -> tuple:
    """Every price a genai-prices period sets (COMPARED plus audio)."""
    return _price_of(row) + tuple(row.get(c) for _, c in GENAI_SUBSET_FIELDS)


def read_genai(genai: list, litellm_rows: list[dict], stats: GenaiStats | None = None):
    """Place every genai-prices model with a token price in llm_cost's catalog.

    Returns (genai_rows, conflicts, moved, stats): genai_rows are the rows to
    add to LiteLLM's (the periods before LiteLLM's current price, and models
    LiteLLM does not have; all standard tier, each with "origin" naming the
    genai-prices model); moved maps (provider, model) to the valid_from its
    LiteLLM standard row takes (see merge_rows); conflicts lists (provider,
    model, column, litellm, genai, note) where both price the model now and
    disagree; stats counts what no column holds."""
    stats = stats if stats is not None else GenaiStats()
    ll = {(r["provider"], r["model"]) for r in litellm_rows}
    # genai-prices matches names case-insensitively: so does this placement.
    ll_ci: dict[tuple[str, str], list[str]] = {}
    for p, m in sorted(ll):
        ll_ci.setdefault((p, m.lower()), []).append(m)
    ll_std = {(r["provider"], r["model"]): r for r in litellm_rows if r["service_tier"] == "standard"}
    placed: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    placed_from: dict[tuple[str, str], str] = {}
    for prov in sorted(genai, key=lambda p: str(p.get("id"))):
        pid = prov.get("id")
        if not isinstance(pid, str) or not pid.strip():
            warn("genai-prices provider without an id; skipped")
            continue
        for model in prov.get("models") or []:
            if not isinstance(model, dict) or not isinstance(model.get("id"), str) or not model["id"]:
                warn(f"genai-prices {pid}: model without an id; skipped")
                continue
            who = f"{pid}/{model['id']}"
            periods = genai_periods(model, who, stats)
            if not periods:
                continue
            name, names = genai_model_names(pid, model)
            default, siblings = genai_provider_targets(pid, model["id"])
            known = list(dict.fromkeys(
                (p, m) for p in (default,) + siblings for n in names
                for m in ([n] if (p, n) in ll else ll_ci.get((p, n.lower()), []))))
            targets = known or [(default, name)]
            # genai-prices' google prices are the Gemini API's: a model LiteLLM
            # files only under Vertex AI (whose price can differ: gemini-2.0-flash
            # is 0.15/0.6 there, 0.1/0.4 on the Gemini API) is also shipped
            # under gemini, so a gemini call never falls through to Vertex's price.
            if pid == "google" and default == "gemini" and not any(p == default for p, _ in targets):
                targets = targets + [(default, name)]
            for target in targets:
                if target in placed:
                    warn(f"{who!r} and {placed_from[target]!r} both give {target}; keeping {placed_from[target]!r}")
                    continue
                rows = []
                for valid_from, prices, off_peak in periods:
                    r = genai_row(target[0], target[1], valid_from, prices, who, stats, off_peak)
                    if r is not None:
                        rows.append(r)
                if not rows:
                    continue
                # Consecutive identical prices are one period.
                merged = [rows[0]]
                for r in rows[1:]:
                    if _period_of(r) != _period_of(merged[-1]):
                        merged.append(r)
                placed[target] = [(who, r) for r in merged]
                placed_from[target] = who
    out: list[dict] = []
    conflicts: list[tuple[str, str, str, str, str]] = []
    moved: dict[tuple[str, str], str] = {}
    for target in sorted(placed):
        rows = [r for _, r in placed[target]]
        # Compared as they will be priced: a rate genai-prices leaves implicit
        # is filled in as it is for LiteLLM's rows (import_prices does the same).
        apply_provider_defaults(rows)
        if target not in ll:
            out.extend(rows)
            continue
        # LiteLLM prices this model: its rows are the current price; genai-prices
        # adds the periods before its last one.
        current = rows[-1]
        lrow = ll_std.get(target)
        history = rows[:-1]
        if lrow is None:  # LiteLLM prices only other tiers of it: nothing to compare or date
            continue
        behind = any(_price_of(r)[:2] == _price_of(lrow)[:2] for r in history) \
            and _price_of(current)[:2] != _price_of(lrow)[:2]
        for col in COMPARED:
            a, b = lrow.get(col), current.get(col)
            if a != b:
                conflicts.append((target[0], target[1], col, _txt(a), _txt(b),
                                  "litellm equals an older genai-prices price" if behind else ""))
        for col, parent in COMPARED_SUBSETS:
            if first(lrow.get(col), lrow.get(parent)) != first(current.get(col), current.get(parent)):
                conflicts.append((target[0], target[1], col, _txt(lrow.get(col)), _txt(current.get(col)),
                                  "litellm equals an older genai-prices price" if behind else ""))
        # A period priced as LiteLLM's row prices it is LiteLLM's row.
        start = current["valid_from"]
        while history and _price_of(history[-1]) == _price_of(lrow):
            start = history.pop()["valid_from"]
        if history:
            out.extend(history)
            moved[target] = start
    return out, conflicts, moved, stats


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def _row_order(row: dict) -> tuple:
    vf = row.get("valid_from", NEG_INF)
    return (row["provider"], row["model"], TIER_ORDER[row["service_tier"]], vf != NEG_INF, vf)


def merge_rows(litellm_rows: list[dict], genai_rows: list[dict], moved: dict) -> list[dict]:
    """LiteLLM's rows (the standard row of a model with genai-prices history
    moved to the start of its last period) plus genai-prices' rows, sorted."""
    rows = []
    for r in litellm_rows:
        r = dict(r)
        vf = moved.get((r["provider"], r["model"]))
        r["valid_from"] = vf if vf is not None and r["service_tier"] == "standard" else NEG_INF
        rows.append(r)
    rows.extend(genai_rows)
    rows.sort(key=_row_order)
    keys = [(r["provider"], r["model"], r["service_tier"], r["valid_from"]) for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("two rows with the same (provider, model, service_tier, valid_from)")
    return rows


def litellm_modes(data: dict) -> dict[tuple[str, str], str]:
    """(provider, model) -> LiteLLM's mode, for every entry (any mode)."""
    modes: dict[tuple[str, str], str] = {}
    for key, entry in sorted(data.items()):
        if not isinstance(entry, dict) or not isinstance(entry.get("mode"), str):
            continue
        raw = entry.get("litellm_provider")
        if not isinstance(raw, str) or not raw.strip():
            continue
        prefixed = key.startswith(raw + "/")
        model = key[len(raw) + 1:] if prefixed else key
        ident = (raw.strip().lower(), model)
        if prefixed or ident not in modes:
            modes[ident] = entry["mode"]
    return modes


def genai_models(genai_rows: list[dict], litellm_models: list[dict], modes: dict) -> list[dict]:
    """A models row (mode where known, no capabilities claimed) for each model
    only genai-prices prices."""
    have = {(m["provider"], m["model"]) for m in litellm_models}
    out = {}
    for r in genai_rows:
        ident = (r["provider"], r["model"])
        if ident in have or ident in out:
            continue
        out[ident] = bare_model(r["provider"], r["model"], genai_mode(ident, r.get("origin", ""), modes))
    return [out[k] for k in sorted(out)]


def genai_mode(ident: tuple[str, str], origin: str, modes: dict) -> str:
    """The mode of a model only genai-prices prices (genai-prices has no
    modes): LiteLLM's mode for that name if it has one of ours, else
    GENAI_PROVIDER_MODE's, else from the name (embedding or rerank models are
    named so), else chat: genai-prices lists token-priced text models."""
    mode = modes.get(ident)
    if mode in MODES:
        return mode
    mode = GENAI_PROVIDER_MODE.get(origin.split("/", 1)[0])
    if mode:
        return mode
    name = ident[1].lower()
    if "rerank" in name:
        return "rerank"
    if "embed" in name:
        return "embedding"
    return "chat"


def row_sql(row: dict, verified_at: str) -> str:
    values = (
        row["provider"], row["model"], row["service_tier"], row.get("valid_from", NEG_INF),
        row["input_per_mtok"], row["output_per_mtok"],
        row["cache_read_per_mtok"], row["cache_write_per_mtok"], row["reasoning_per_mtok"],
        row["tier_threshold_tokens"],
        row["input_per_mtok_above_tier"], row["output_per_mtok_above_tier"],
        row["cache_read_per_mtok_above_tier"], row["cache_write_per_mtok_above_tier"],
        row["per_request"],
        *(row.get(c) for c in SUBSET_COLUMNS), row.get("unit_prices"),
        "USD", "catalog", f"{verified_at} 00:00:00+00",
    )
    return "(" + ", ".join(sql_value(v) for v in values) + ")"


def off_peak_sql(rows: list[dict]) -> str:
    """The UPDATE that gives rows their off-peak prices and windows ('' when none has)."""
    rows = [r for r in rows if r.get("off_peak_windows") is not None]
    if not rows:
        return ""
    values = ",\n".join(
        "(" + ", ".join([sql_value(r["provider"]), sql_value(r["model"]), sql_value(r["service_tier"]),
                         sql_value(r.get("valid_from", NEG_INF)) + "::timestamptz"]
                        + [sql_value(r[c]) + "::numeric" for c in OFF_PEAK_COLUMNS[:3]]
                        + [sql_value(r["off_peak_windows"])]) + ")"
        for r in rows)
    return ("\n-- Time-of-day prices: off-peak rates and the windows they apply in (LiteLLM's\n"
            "-- off_peak_pricing; genai-prices' start_time/end_time constraints).\n"
            "UPDATE llm_cost.prices AS p\n"
            "   SET off_peak_input_per_mtok = v.input, off_peak_output_per_mtok = v.output,\n"
            "       off_peak_cache_read_per_mtok = v.cache_read, off_peak_windows = v.windows\n"
            "  FROM (VALUES\n" + values + ")\n"
            "       AS v (provider, model, service_tier, valid_from, input, output, cache_read, windows)\n"
            " WHERE (p.provider, p.model, p.service_tier, p.valid_from)\n"
            "     = (v.provider, v.model, v.service_tier, v.valid_from)\n"
            "   AND p.source = 'catalog';\n")


def model_sql(row: dict) -> str:
    values = [row[c] for c in MODEL_COLUMNS[:-1]] + ["catalog"]
    return "(" + ", ".join(sql_value(v) for v in values) + ")"


def charges_lines(rows: list[dict]) -> list[str]:
    """Header lines on the charges beyond tokens: what unit_prices holds and
    every rate this generator filled in that the sources leave implicit."""
    with_units = sum(1 for r in rows if r.get("unit_prices"))
    lines = [
        f"unit_prices (docs/charges.md): per unit, on {with_units} rows. Image size entries of LiteLLM",
        "(<quality>/<W>-x-<H>/<model>, <W>-x-<H>/<steps>/<model>) are folded into <model>'s",
        "unit_prices.images (per-pixel prices times W x H; Bedrock's max-steps is quality 'premium',",
        "max-x-max the default), not shipped as models; a base model LiteLLM does not price gets token prices 0.",
        "Rates the sources leave implicit, filled in here:",
    ]
    for name, text in PROVIDER_DEFAULTS.items():
        n = sum(1 for r in rows if name in r.get("defaults", ()))
        lines.append(f"- {text[0]}: {n} rows,")
        lines.extend("  " + t for t in text[1:])
    lines += [
        "- Image 'default' selectors where the API documents a default: " + "; ".join(
            f"{m} {' or '.join(sels)}" for m, sels in IMAGE_DEFAULTS.items()) + " (OpenAI's images API",
        "  defaults to 1024x1024, dall-e-3 quality standard; Bedrock SDXL 1.0 to 1024x1024 at 30 steps);",
        "  a model's own per-image price is its default when it also has size prices.",
        "- Perplexity's search_context_cost_per_query is a fee per request (unit_prices.requests) with",
        "  default 'low', the API's default search_context_size (docs.perplexity.ai, pricing); other",
        "  providers' is per web search (unit_prices.web_search_queries), default 'medium'.",
    ]
    return lines


def render_sql(rows: list[dict], verified_at: str, models: list[dict] | None = None,
               provenance: list[str] | None = None) -> str:
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
    ] + ["-- " + line if line else "--" for line in charges_lines(rows)] + ["-- " + line if line else "--" for line in (provenance or [])] + [
        "",
        f"INSERT INTO llm_cost.prices ({', '.join(COLUMNS)}) VALUES",
    ]
    body = ",\n".join(row_sql(r, verified_at) for r in rows)
    sql = "\n".join(header) + "\n" + body + "\n" + PRICES_ON_CONFLICT + ";\n" + off_peak_sql(rows)
    if models:  # capabilities
        sql += ("\n-- What each model can do (for recommendations).\n"
                f"INSERT INTO llm_cost.models ({', '.join(MODEL_COLUMNS)}) VALUES\n"
                + ",\n".join(model_sql(m) for m in models) + "\n" + MODELS_ON_CONFLICT + ";\n")
    return sql


# The same statements install the catalog (sql/catalog.sql, no rows yet) and
# bring a 0.2.0 database's catalog rows up to this one (the upgrade script):
# a row already there is updated only if it is still a catalog row, never a
# row set_price or import_prices wrote. Every catalog-owned column is
# refreshed, not just the new ones, so an upgraded catalog equals a fresh one
# (0.3.0 prices some models 0.2.0 had from genai-prices with LiteLLM's
# current rows, and outputs of image-only models at their image price).
_PRICE_UPDATED = tuple(c for c in COLUMNS if c not in ("provider", "model", "service_tier", "valid_from",
                                                        "source", "verified_at"))
PRICES_ON_CONFLICT = (
    "ON CONFLICT (provider, model, service_tier, valid_from) DO UPDATE\n"
    f"   SET ({', '.join(_PRICE_UPDATED)}, verified_at)\n"
    f"     = ({', '.join('EXCLUDED.' + c for c in _PRICE_UPDATED)},\n"
    "        greatest(llm_cost.prices.verified_at, EXCLUDED.verified_at))\n"
    " WHERE llm_cost.prices.source = 'catalog'")
_MODEL_UPDATED = tuple(c for c in MODEL_COLUMNS if c not in ("provider", "model", "source"))
MODELS_ON_CONFLICT = (
    "ON CONFLICT (provider, model) DO UPDATE\n"
    f"   SET ({', '.join(_MODEL_UPDATED)})\n"
    f"     = ({', '.join('EXCLUDED.' + c for c in _MODEL_UPDATED)})\n"
    " WHERE llm_cost.models.source = 'catalog'")

UPGRADE_BEGIN = "-- BEGIN generated catalog (scripts/gen_catalog.py)"
UPGRADE_END = "-- END generated catalog"


def with_upgrade_region(script: str, sql: str) -> str:
    """The upgrade script's text with sql between the BEGIN/END markers
    (added at the end when absent); everything outside them is kept as is."""
    region = UPGRADE_BEGIN + "\n" + sql + UPGRADE_END + "\n"
    lines = script.splitlines(keepends=True)
    begins = [i for i, l in enumerate(lines) if l.rstrip("\n") == UPGRADE_BEGIN]
    ends = [i for i, l in enumerate(lines) if l.rstrip("\n") == UPGRADE_END]
    if not begins and not ends:
        if script and not script.endswith("\n"):
            script += "\n"
        return script + ("\n" if script else "") + region
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError("the upgrade script's generated-catalog markers are not one BEGIN before one END")
    return "".join(lines[:begins[0]]) + region + "".join(lines[ends[0] + 1:])


def upgrade_region(script: str) -> str | None:
    """The text between the markers (None without them)."""
    lines = script.splitlines(keepends=True)
    try:
        b = next(i for i, l in enumerate(lines) if l.rstrip("\n") == UPGRADE_BEGIN)
        e = next(i for i, l in enumerate(lines) if l.rstrip("\n") == UPGRADE_END)
    except StopIteration:
        return None
    return "".join(lines[b + 1:e])


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


GENAI_ATTRIBUTION = [
    "Also generated from pydantic's genai-prices price data (genai_prices_data.json,",
    "https://github.com/pydantic/genai-prices), MIT License,",
    "Copyright (c) Pydantic Services Inc. 2025 to present: models LiteLLM's list lacks (retired ones",
    "included) and dated price history. Where both price a model now, LiteLLM's row is",
    "the current price (see scripts/gen_catalog.py).",
]


def provenance_lines(rows: list[dict], moved: dict, conflicts: list) -> list[str]:
    g = [r for r in rows if r.get("origin")]
    gm = {(r["provider"], r["model"]) for r in g}
    return GENAI_ATTRIBUTION + [
        f"From genai-prices: {len(g)} rows ({len(gm)} models); {len(moved)} LiteLLM standard rows",
        f"start at genai-prices' last price change; {len({c[:2] for c in conflicts})} models where the two",
        "sources disagree now (LiteLLM's price kept).",
    ]


def conflict_report(conflicts: list, stats: GenaiStats) -> list[str]:
    """The full report, one line per (provider, model, column)."""
    lines = ["provider\tmodel\tcolumn\tlitellm (kept)\tgenai-prices\tnote"]
    lines += ["\t".join(c) for c in conflicts]
    lines.append("")
    lines.append(f"# time-of-day prices (regular price plus off-peak prices and windows): {len(stats.time_of_day)}")
    lines += [f"#   {w}" for w in sorted(stats.time_of_day)]
    lines.append(f"# time-of-day prices dropped (tiered, no off-peak columns for them): {len(stats.off_peak_dropped)}")
    lines += [f"#   {w}" for w in sorted(stats.off_peak_dropped)]
    for f in sorted(stats.unfitted):
        lines.append(f"# prices without an llm_cost column, {f}: {len(stats.unfitted[f])} price sets")
    lines.append(f"# more than one long-context tier (first kept): {len(stats.multi_tier)}")
    return lines


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, default=DEFAULT_INPUT,
                   help="LiteLLM model_prices_and_context_window.json "
                        "(default: ../shared/data/... relative to the repo root)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the SQL (default: sql/catalog.sql in the repo)")
    p.add_argument("--genai", type=Path, default=DEFAULT_GENAI,
                   help="genai-prices genai_prices_data.json (default: ../shared/data/... "
                        "relative to the repo root)")
    p.add_argument("--no-genai", action="store_true", help="build from LiteLLM's list alone")
    p.add_argument("--conflicts", type=Path, default=None, metavar="PATH",
                   help="also write the full conflict report (tab-separated) here")
    p.add_argument("--upgrade-script", type=Path, default=None, metavar="PATH",
                   help="also write the catalog statements between the generated-catalog markers of "
                        "this upgrade script (default: sql/llm_cost--0.2.0--0.3.0.sql when --output "
                        "is the default)")
    p.add_argument("--verified-at", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="date the prices were checked (default: the input's mtime, UTC)")
    return p.parse_args(None if argv is None else list(argv))


def write_text(path: Path, text: str) -> None:
    """Writes text to path atomically (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    verified_at = args.verified_at
    if verified_at is None:
        mtime = os.stat(args.input).st_mtime
        verified_at = _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).date().isoformat()
    data = load_price_list(args.input)
    rows = build_rows(data)
    models = build_models(data)
    provenance = None
    if not args.no_genai:
        genai = load_genai(args.genai)
        genai_rows, conflicts, moved, stats = read_genai(genai, rows)
        litellm_count = len(rows)
        rows = merge_rows(rows, genai_rows, moved)
        apply_provider_defaults(rows)
        assert len(rows) == litellm_count + len(genai_rows)
        models = sorted(models + genai_models(genai_rows, models, litellm_modes(data)),
                        key=lambda m: (m["provider"], m["model"]))
        provenance = provenance_lines(rows, moved, conflicts)
        report = conflict_report(conflicts, stats)
        n_models = len({c[:2] for c in conflicts})
        print(f"gen_catalog: {len(conflicts)} price conflicts in {n_models} models where LiteLLM and "
              f"genai-prices both price a model now (LiteLLM's price kept); for example:", file=sys.stderr)
        for line in report[1:6]:
            print("  " + line.replace("\t", "  "), file=sys.stderr)
        print(f"gen_catalog: {len(stats.time_of_day)} time-of-day price sets (off-peak windows), "
              f"{sum(len(v) for v in stats.unfitted.values())} price sets with parts that fit no column, "
              f"{len(stats.multi_tier)} with several tiers", file=sys.stderr)
        if args.conflicts is not None:
            with open(args.conflicts, "w", encoding="utf-8", newline="\n") as f:
                f.write("\n".join(report) + "\n")
    sql = render_sql(rows, verified_at, models, provenance)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(sql)
    os.replace(tmp, args.output)
    upgrade = args.upgrade_script
    if upgrade is None and args.output == DEFAULT_OUTPUT:
        upgrade = DEFAULT_UPGRADE
    if upgrade is not None:
        write_text(upgrade, with_upgrade_region(upgrade.read_text(encoding="utf-8") if upgrade.exists() else "", sql))
    n_models = len({(r["provider"], r["model"]) for r in rows})
    providers = len({r["provider"] for r in rows})
    print(f"gen_catalog: wrote {args.output}: {n_models} models, {len(rows)} rows, "
          f"{providers} providers (verified_at {verified_at})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
