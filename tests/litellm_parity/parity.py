#!/usr/bin/env python3
"""Parity test: llm_cost.llm_cost() against LiteLLM's own cost calculator.

For every catalog entry that comes from LiteLLM's price list (the entries
scripts/gen_catalog.py selects, every mode), build one or more synthetic calls
(plain tokens, cache reads/writes, Anthropic 1-hour writes, reasoning,
audio/image tokens, web search by context size, service tiers, images by
size/quality, transcription seconds, speech characters, rerank queries, search
queries, OCR pages, video seconds by resolution), price each with LiteLLM
(pinned 1.102.4, using the SAME price file: LITELLM_LOCAL_MODEL_COST_MAP=True
and /work/shared/data/model_prices_and_context_window.json adopted as
litellm.model_cost) and with llm_cost.llm_cost(..., units => ...) in a
throwaway PostgreSQL server (one batched query for all calls), and compare.

Comparison: LiteLLM computes in binary floats, llm_cost in exact decimals, so
both are rounded to 12 significant digits (ROUND_HALF_EVEN) and compared as
decimals. A difference is "explained" when tests/litellm_parity/explained.tsv
has a line (entry pattern, call pattern, cause; fnmatch patterns; an entry
pattern with a colon matches "<catalog provider>:<LiteLLM key>") for it.

Usage (from the repository root, with the extension installed in the system
PostgreSQL 15):

    target/recipes-venv/bin/python tests/litellm_parity/parity.py [--report docs/litellm-parity.md]   (or UPDATE_PARITY=1)
        [--dsn DSN]   # use a running server instead of starting a throwaway one
        [--list-differences PATH]   # every difference, tab-separated

Exit status: 0 when every difference is explained, 1 otherwise (the
unexplained ones are printed).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import decimal
import fnmatch
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PRICE_FILE = Path(os.environ.get("LLM_COST_PRICE_FILE", REPO / ".." / "shared" / "data"
                                  / "model_prices_and_context_window.json")).resolve()
EXPLAINED = HERE / "explained.tsv"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SIG_DIGITS = 12

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(REPO / "scripts"))
import gen_catalog  # noqa: E402  (the generator's own entry selection and rows)

# ---------------------------------------------------------------------------
# LiteLLM, on our price file
# ---------------------------------------------------------------------------

import litellm  # noqa: E402
from litellm import ModelResponse, Usage  # noqa: E402
from litellm.litellm_core_utils.get_model_cost_map import (  # noqa: E402
    _finalize_model_cost_map, adopt_model_cost_map)
from litellm.types.utils import (  # noqa: E402
    CacheCreationTokenDetails, CompletionTokensDetailsWrapper, ImageObject, ImageResponse,
    PromptTokensDetailsWrapper, ServerToolUse)

logging.getLogger("LiteLLM").setLevel(logging.CRITICAL)
litellm.suppress_debug_info = True


def load_litellm_prices() -> None:
    """litellm.model_cost := our price file, finalised as litellm 1.102.4 does
    for its own (fallback_generalizations block, aliases expanded)."""
    with open(PRICE_FILE) as f:
        data = json.load(f)
    adopt_model_cost_map(_finalize_model_cost_map(data))


# ---------------------------------------------------------------------------
# Synthetic calls
# ---------------------------------------------------------------------------

# Quantities: below every long-context threshold (the smallest is 100k), odd
# enough that a wrong rate shows.
IN, OUT = 10_000, 2_000
CACHED, WRITE, WRITE_1H = 3_000, 1_000, 400
REASONING = 500
AUDIO_IN, AUDIO_OUT, IMAGE_IN, IMAGE_OUT = 1_500, 700, 1_200, 600
SEARCHES = 2
SECONDS = 37.5  # exact in binary
CHARACTERS = 1_234
QUERIES = 3
PAGES = 7
VIDEO_SECONDS = 8
IMAGES = 2


@dataclasses.dataclass
class Call:
    key: str            # LiteLLM's key of the entry
    mode: str
    name: str           # which synthetic call ("tokens", "cache", "images[hd/1024x1792]", ...)
    provider: str       # catalog provider and model
    model: str
    litellm: Callable[[], float]
    input: int = 0
    output: int = 0
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    tier: str = "standard"
    units: dict | None = None
    ours: Decimal | None = None
    theirs: Decimal | None = None
    error: str | None = None


def usage(i=IN, o=OUT, cached=0, write=0, write_1h=0, reasoning=0, audio_in=0, audio_out=0,
          image_in=0, image_out=0, searches=0) -> Usage:
    """A LiteLLM Usage in its (OpenAI) convention, which is ours: prompt_tokens
    includes cached and cache-write tokens, completion_tokens reasoning."""
    pd = None
    if cached or write or audio_in or image_in:
        pd = PromptTokensDetailsWrapper(
            cached_tokens=cached or None, cache_creation_tokens=write or None,
            audio_tokens=audio_in or None, image_tokens=image_in or None,
            cache_creation_token_details=CacheCreationTokenDetails(
                ephemeral_5m_input_tokens=write - write_1h, ephemeral_1h_input_tokens=write_1h)
            if write_1h else None)
    cd = None
    if reasoning or audio_out or image_out:
        cd = CompletionTokensDetailsWrapper(reasoning_tokens=reasoning or None, audio_tokens=audio_out or None,
                                            image_tokens=image_out or None)
    u = Usage(prompt_tokens=i, completion_tokens=o, total_tokens=i + o, prompt_tokens_details=pd,
              completion_tokens_details=cd)
    if searches:
        u.server_tool_use = ServerToolUse(web_search_requests=searches)
    return u


def completion_cost(key: str, provider: str, u: Usage, call_type: str = "completion", **kw) -> Callable[[], float]:
    def run() -> float:
        r = ModelResponse(model=key)
        r.usage = u
        return litellm.completion_cost(completion_response=r, model=key, custom_llm_provider=provider,
                                       call_type=call_type, **kw)
    return run


def gemini_bills_grounding_per_prompt(provider: str, model: str) -> bool:
    """src/ledger/raw_usage.rs gemini_bills_grounding_per_prompt, on the model name:
    gemini-1.x / gemini-2.x count one billable grounding use per response."""
    if provider not in ("gemini", "vertex_ai-language-models", "vertex_ai"):
        return False
    name = model.rsplit("/", 1)[-1].lower()
    if not name.startswith("gemini-"):
        return False
    rest = name[len("gemini-"):]
    rest = rest[len("live-"):] if rest.startswith("live-") else rest  # gemini-live-2.5 is Gemini 2.5
    return rest[:1] in ("1", "2")


def token_units(**kw) -> dict:
    return {k: v for k, v in kw.items() if v}


def has(entry: dict, *fields: str) -> bool:
    return any(gen_catalog._is_number(entry.get(f)) for f in fields)


class Builder:
    """The synthetic calls of one entry: one small method per call type."""

    def __init__(self, provider: str, model: str, key: str, entry: dict, row: dict | None):
        self.provider, self.model, self.key, self.entry = provider, model, key, entry
        self.mode = entry["mode"]
        self.lp = entry["litellm_provider"]
        self.row = row or {}
        self.calls: list[Call] = []

    def add(self, name: str, fn: Callable[[], float], **kw) -> None:
        self.calls.append(Call(self.key, self.mode, name, self.provider, self.model, fn, **kw))

    # --- token calls (chat, completion, responses, embedding, moderation, realtime...) ---

    def tokens(self, call_type: str = "completion", output: int = OUT) -> None:
        self.add("tokens", completion_cost(self.key, self.lp, usage(o=output), call_type), input=IN, output=output)

    def cache(self) -> None:
        cached = CACHED if has(self.entry, "cache_read_input_token_cost") else 0
        write = WRITE if has(self.entry, "cache_creation_input_token_cost") else 0
        if cached or write:
            self.add("cache", completion_cost(self.key, self.lp, usage(cached=cached, write=write)),
                     input=IN, output=OUT, cached=cached, cache_write=write)

    def cache_1h(self) -> None:
        # Claude rows (any provider): LiteLLM's own 1-hour price, or our provider default (2x input)
        if has(self.entry, "cache_creation_input_token_cost") and (
                has(self.entry, "cache_creation_input_token_cost_above_1hr") or gen_catalog.is_claude(self.model)):
            self.add("cache_1h", completion_cost(self.key, self.lp, usage(write=WRITE, write_1h=WRITE_1H)),
                     input=IN, output=OUT, cache_write=WRITE, units={"cache_write_1h_tokens": WRITE_1H})

    def reasoning(self) -> None:
        if has(self.entry, "output_cost_per_reasoning_token"):
            self.add("reasoning", completion_cost(self.key, self.lp, usage(reasoning=REASONING)),
                     input=IN, output=OUT, reasoning=REASONING)

    def audio_tokens(self) -> None:
        a_in = AUDIO_IN if has(self.entry, "input_cost_per_audio_token") else 0
        a_out = AUDIO_OUT if has(self.entry, "output_cost_per_audio_token") else 0
        if a_in or a_out:
            self.add("audio_tokens", completion_cost(self.key, self.lp, usage(audio_in=a_in, audio_out=a_out)),
                     input=IN, output=OUT, units=token_units(audio_input_tokens=a_in, audio_output_tokens=a_out))

    def image_tokens(self) -> None:
        i_in = IMAGE_IN if has(self.entry, "input_cost_per_image_token") else 0
        i_out = IMAGE_OUT if has(self.entry, "output_cost_per_image_token") else 0
        if i_in or i_out:
            self.add("image_tokens", completion_cost(self.key, self.lp, usage(image_in=i_in, image_out=i_out)),
                     input=IN, output=OUT, units=token_units(image_input_tokens=i_in, image_output_tokens=i_out))

    def web_search(self) -> None:
        """SEARCHES web searches at context size high (what OpenAI's
        web_search_options / Responses tool set), reported as
        server_tool_use.web_search_requests (Anthropic, Gemini, xAI style)."""
        doc = self.entry.get("search_context_cost_per_query")
        if not isinstance(doc, dict):
            return
        if self.provider == "perplexity":
            # a per-request fee by context size, no search count
            self.add("search_fee[high]", completion_cost(
                self.key, self.lp, usage(), optional_params={"web_search_options": {"search_context_size": "high"}},
                standard_built_in_tools_params={"web_search_options": {"search_context_size": "high"}}),
                input=IN, output=OUT, units={"search_context_size": "high"})
            return
        # units carry the billable count, as raw_usage normalisation records it:
        # Gemini 1.x/2.x grounding is billed per grounded prompt (1), not per query
        billable = 1 if gemini_bills_grounding_per_prompt(self.provider, self.model) else SEARCHES
        self.add("web_search[high]", completion_cost(
            self.key, self.lp, usage(searches=SEARCHES),
            standard_built_in_tools_params={"web_search_options": {"search_context_size": "high"}}),
            input=IN, output=OUT, units={"web_search_queries": billable, "search_context_size": "high"})

    def tiers(self) -> None:
        """flex and priority: LiteLLM's service_tier; batch: its batch calculator."""
        for tier, suffix in (("flex", "_flex"), ("priority", "_priority")):
            if has(self.entry, "input_cost_per_token" + suffix, "output_cost_per_token" + suffix):
                self.add(f"tokens@{tier}", completion_cost(self.key, self.lp, usage(), service_tier=tier),
                         input=IN, output=OUT, tier=tier)
        if has(self.entry, "input_cost_per_token_batches", "output_cost_per_token_batches"):
            def run() -> float:
                p, c = litellm.cost_calculator.batch_cost_calculator(
                    usage=usage(), model=self.key, custom_llm_provider=self.lp)
                return p + c
            self.add("tokens@batch", run, input=IN, output=OUT, tier="batch")

    def chat(self) -> None:
        self.tokens()
        self.cache()
        self.cache_1h()
        self.reasoning()
        self.audio_tokens()
        self.image_tokens()
        self.web_search()
        self.tiers()

    completion = responses = realtime = chat

    def moderation(self) -> None:
        self.tokens(output=0)

    def embedding(self) -> None:
        if has(self.entry, "input_cost_per_token"):
            self.add("tokens", completion_cost(self.key, self.lp, usage(o=0), "embedding"), input=IN)
        if has(self.entry, "input_cost_per_character") and not has(self.entry, "input_cost_per_token"):
            def run() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="embedding",
                                              prompt_tokens=IN, prompt_characters=CHARACTERS)
                return p + c
            self.add("characters", run, input=IN, units={"characters": CHARACTERS})
        self.audio_tokens()
        self.image_tokens()

    # --- images ---

    def image_generation(self) -> None:
        up = (self.row.get("unit_prices") or {}).get("images")
        if isinstance(up, dict):
            for sel in sorted(up):
                self.image_call(sel)
        elif up is not None:
            self.image_call(None)
        if has(self.entry, "input_cost_per_token", "output_cost_per_token", "output_cost_per_image_token"):
            self.tokens()
            self.image_tokens()
            self.cache()

    image_edit = image_generation

    def image_call(self, sel: str | None) -> None:
        quality = size = None
        units: dict[str, Any] = {"images": IMAGES}
        if sel and sel != "default":
            parts = sel.split("/")
            if "x" in parts[-1] and parts[-1].replace("x", "").isdigit():
                size = parts[-1]
                quality = parts[0] if len(parts) == 2 else None
            else:
                # resolution (1k, 2k, 4k, 512, ...) or quality alone
                units["resolution" if any(ch.isdigit() for ch in sel) else "quality"] = sel
                if any(ch.isdigit() for ch in sel):
                    return self.image_resolution_call(sel)
                quality = sel
        if size:
            units["size"] = size
        if quality:
            units["quality"] = quality

        def run() -> float:
            resp = ImageResponse(data=[ImageObject(url="x") for _ in range(IMAGES)])
            return litellm.completion_cost(completion_response=resp, model=self.key, custom_llm_provider=self.lp,
                                           call_type="image_generation", size=size, quality=quality, n=IMAGES)
        self.add(f"images[{sel or 'plain'}]", run, units=units)

    def image_resolution_call(self, res: str) -> None:
        """Gemini-style output_cost_per_image_<R>: LiteLLM reads the requested
        image size from optional_params (imageConfig.imageSize)."""
        def run() -> float:
            resp = ImageResponse(data=[ImageObject(url="x") for _ in range(IMAGES)])
            return litellm.completion_cost(completion_response=resp, model=self.key, custom_llm_provider=self.lp,
                                           call_type="image_generation", n=IMAGES,
                                           optional_params={"image_size": res.upper(),
                                                            "imageConfig": {"imageSize": res.upper()}})
        self.add(f"images[{res}]", run, units={"images": IMAGES, "resolution": res})

    # --- audio ---

    def audio_transcription(self) -> None:
        if has(self.entry, "input_cost_per_second"):
            def run() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="transcription",
                                              audio_transcription_file_duration=SECONDS)
                return p + c
            self.add("seconds", run, units={"audio_seconds": SECONDS})
        if has(self.entry, "input_cost_per_token", "input_cost_per_audio_token", "output_cost_per_token"):
            a_in = AUDIO_IN if has(self.entry, "input_cost_per_audio_token") else 0

            def run_tokens() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="transcription",
                                              usage_object=usage(i=IN, o=OUT, audio_in=a_in))
                return p + c
            self.add("tokens", run_tokens, input=IN, output=OUT, units=token_units(audio_input_tokens=a_in))

    def audio_speech(self) -> None:
        if has(self.entry, "output_cost_per_image"):
            # Lyria: a price per generated clip (LiteLLM writes it as output_cost_per_image;
            # the catalog as unit_prices.images), whatever the tokens
            def run_clip() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="speech",
                                              usage_object=usage(i=0, o=0))
                return p + c
            self.add("clip", run_clip, units={"images": 1})
            return
        if has(self.entry, "input_cost_per_character"):
            def run() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="speech",
                                              prompt_characters=CHARACTERS)
                return p + c
            self.add("characters", run, units={"characters": CHARACTERS})
        if has(self.entry, "input_cost_per_token", "output_cost_per_token", "output_cost_per_audio_token"):
            a_out = AUDIO_OUT if has(self.entry, "output_cost_per_audio_token") else 0

            def run_tokens() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="speech",
                                              usage_object=usage(audio_out=a_out))
                return p + c
            self.add("tokens", run_tokens, input=IN, output=OUT, units=token_units(audio_output_tokens=a_out))
        if has(self.entry, "output_cost_per_second") and not has(self.entry, "input_cost_per_character"):
            def run_seconds() -> float:
                p, c = litellm.cost_per_token(model=self.key, custom_llm_provider=self.lp, call_type="speech",
                                              prompt_characters=CHARACTERS, response_time_ms=SECONDS * 1000)
                return p + c
            self.add("output_seconds", run_seconds, units={"output_audio_seconds": SECONDS})

    # --- rerank, search, ocr, video ---

    def rerank(self) -> None:
        if has(self.entry, "input_cost_per_query"):
            def run() -> float:
                p, c = litellm.cost_calculator.rerank_cost(model=self.key, custom_llm_provider=self.lp,
                                                           billed_units={"search_units": QUERIES})
                return p + c
            self.add("queries", run, units={"queries": QUERIES})
        elif has(self.entry, "input_cost_per_token", "output_cost_per_token"):
            def run_tokens() -> float:
                p, c = litellm.cost_calculator.rerank_cost(model=self.key, custom_llm_provider=self.lp,
                                                           billed_units={"total_tokens": IN})
                return p + c
            self.add("tokens", run_tokens, input=IN)

    def search(self) -> None:
        def run() -> float:
            from litellm.search import search_provider_cost_per_query
            p, c = search_provider_cost_per_query(model=self.key, custom_llm_provider=self.lp,
                                                  number_of_queries=QUERIES)
            return p + c
        self.add("queries", run, units={"queries": QUERIES})

    def ocr(self) -> None:
        from litellm.llms.base_llm.ocr.transformation import OCRResponse, OCRUsageInfo

        def run() -> float:
            resp = OCRResponse(pages=[], model=self.key, usage_info=OCRUsageInfo(pages_processed=PAGES))
            p, c = litellm.cost_calculator.ocr_cost(model=self.key, custom_llm_provider=self.lp, response=resp)
            return p + c
        if has(self.entry, "ocr_cost_per_page"):
            self.add("pages", run, units={"pages": PAGES})

    def video_generation(self) -> None:
        up = (self.row.get("unit_prices") or {}).get("video_seconds")
        sels = sorted(up) if isinstance(up, dict) else [None] if up is not None else []
        for sel in sels:
            res = None if sel in (None, "default") else sel

            def run(res=res) -> float:
                return litellm.cost_calculator.default_video_cost_calculator(
                    model=self.key, duration_seconds=VIDEO_SECONDS, custom_llm_provider=self.lp,
                    video_resolution=res)
            units: dict[str, Any] = {"video_seconds": VIDEO_SECONDS}
            if res:
                units["resolution"] = res
            self.add(f"video_seconds[{sel or 'plain'}]", run, units=units)

    def build(self) -> list[Call]:
        getattr(self, self.mode)()
        return self.calls


# Entries LiteLLM prices non-linearly in a unit the call carries: not compared.
def nonlinear_reason(entry: dict) -> str | None:
    if entry.get("tiered_pricing") is not None:
        return "tiered_pricing (price depends on a request parameter, e.g. Exa's max_results)"
    if entry.get("litellm_provider") == "parallel_ai" and entry.get("mode") == "search":
        return "LiteLLM prices Parallel's search by request mode and max_results (additional results), not per query"
    if any(f.endswith("_interval") for f in entry):
        return "per-second price by duration interval (input_cost_per_video_per_second_above_<N>s_interval)"
    return None


def build_calls(data_dec: dict) -> tuple[list[Call], dict, dict]:
    """All calls; per mode the entries and the entries skipped as non-linear."""
    rows = {(r["provider"], r["model"]): r for r in gen_catalog.build_rows(data_dec)
            if r["service_tier"] == "standard"}
    entries: dict[str, list[str]] = collections.defaultdict(list)
    skipped: dict[str, dict[str, str]] = collections.defaultdict(dict)
    calls: list[Call] = []
    for provider, model, key, entry in gen_catalog.select_entries(data_dec):
        mode = entry["mode"]
        entries[mode].append(key)
        reason = nonlinear_reason(entry)
        if reason:
            skipped[mode][key] = reason
            continue
        calls.extend(Builder(provider, model, key, entry, rows.get((provider, model))).build())
    return calls, entries, skipped


def run_litellm(calls: list[Call]) -> None:
    for c in calls:
        try:
            c.theirs = Decimal(repr(float(c.litellm())))
        except Exception as e:  # LiteLLM cannot price the call: reported as such
            c.error = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


# ---------------------------------------------------------------------------
# llm_cost, in a throwaway server
# ---------------------------------------------------------------------------

class Server:
    """initdb (as user postgres when run as root) into a temp dir, a free port,
    CREATE EXTENSION llm_cost; stopped and removed on exit."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="llm_cost_parity."))
        os.chmod(self.dir, 0o755)
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = None

    def _as_pg(self, *cmd: str) -> None:
        full = (["runuser", "-u", "postgres", "--"] if self.root else []) + list(cmd)
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> str:
        data = self.dir / "data"
        self._as_pg(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--no-sync")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = (f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                "fsync = off\n")
        with open(data / "postgresql.auto.conf", "a") as f:
            f.write(conf)
        self._as_pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                    "start")
        return f"host={self.dir} port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        if (self.dir / "data").exists():
            try:
                self._as_pg(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


PRICE_SQL = """
SELECT c.i, llm_cost.llm_cost(c.provider, c.model, c.input, c.output, c.cached, c.write, c.reasoning,
                              at => now(), service_tier => c.tier, units => c.units)::text
FROM unnest(%s::int[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
            %s::bigint[], %s::text[], %s::jsonb[])
     AS c(i, provider, model, input, output, cached, write, reasoning, tier, units)
"""


def run_ours(calls: list[Call], dsn: str) -> None:
    import psycopg
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS llm_cost")
        cols = list(zip(*[(i, c.provider, c.model, c.input, c.output, c.cached, c.cache_write, c.reasoning, c.tier,
                           json.dumps(c.units, default=str) if c.units else None)
                          for i, c in enumerate(calls)]))
        for i, cost in conn.execute(PRICE_SQL, [list(col) for col in cols]).fetchall():
            calls[i].ours = None if cost is None else Decimal(cost)


# ---------------------------------------------------------------------------
# Comparison and report
# ---------------------------------------------------------------------------

def rounded(d: Decimal | None) -> Decimal | None:
    """d rounded to SIG_DIGITS significant digits, normalised (0 stays 0)."""
    if d is None:
        return None
    if d == 0:
        return Decimal(0)
    ctx = decimal.Context(prec=SIG_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
    return ctx.plus(d).normalize()


def outcome(c: Call) -> str:
    if c.error is not None:
        return "litellm_error"
    if c.ours is None:
        return "ours_null"
    return "agree" if rounded(c.ours) == rounded(c.theirs) else "differ"


def load_explained(path: Path) -> list[tuple[str, str, str]]:
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"{path}: want 3 tab-separated fields: {line!r}")
        out.append((parts[0], parts[1], parts[2]))
    return out


def cause_of(c: Call, explained: list[tuple[str, str, str]]) -> str | None:
    for entry_pat, call_pat, cause in explained:
        entry_ok = (fnmatch.fnmatchcase(f"{c.provider}:{c.key}", entry_pat) if ":" in entry_pat
                    else fnmatch.fnmatchcase(c.key, entry_pat))
        if entry_ok and fnmatch.fnmatchcase(c.name, call_pat):
            return cause
    return None


def fmt(d: Decimal | None) -> str:
    return "NULL" if d is None else format(rounded(d), "f")


MODE_ORDER = gen_catalog.MODES


def report(calls: list[Call], entries: dict, skipped: dict, explained: list, elapsed: float) -> tuple[str, list]:
    by_mode: dict[str, list[Call]] = collections.defaultdict(list)
    for c in calls:
        by_mode[c.mode].append(c)
    unexplained: list[Call] = []
    causes: dict[str, list[Call]] = collections.defaultdict(list)
    for c in calls:
        o = outcome(c)
        if o == "agree":
            continue
        cause = cause_of(c, explained)
        if cause is None:
            unexplained.append(c)
            cause = "UNEXPLAINED"
        causes[cause].append(c)

    lines = ["# Parity with LiteLLM's cost calculator", "",
             "Generated by `tests/litellm_parity/parity.py` (run: `scripts/litellm-parity.sh`); do not edit.", "",
             f"LiteLLM {litellm_version()} prices the same synthetic calls as `llm_cost.llm_cost(..., units => ...)`, "
             "both from the same price file (`LITELLM_LOCAL_MODEL_COST_MAP=True`, "
             "`model_prices_and_context_window.json` adopted as `litellm.model_cost`). "
             f"Costs are compared as decimals after rounding both to {SIG_DIGITS} significant digits "
             "(LiteLLM computes in binary floats; llm_cost is exact). Entries: the catalog entries that come from "
             "LiteLLM's list (genai-prices-only models have nothing to compare with). A call differs when the two "
             "costs differ, LiteLLM raises, or llm_cost returns NULL; every difference has a cause in "
             "`tests/litellm_parity/explained.tsv`.", "",
             "Synthetic calls (where the entry has the price): `tokens` 10000 in / 2000 out; `cache` 3000 cached "
             "reads, 1000 cache writes; `cache_1h` 1000 writes of which 400 for 1 hour; `reasoning` 500; "
             "`audio_tokens` 1500 in / 700 out; `image_tokens` 1200 in / 600 out; `web_search[high]` 2 searches at "
             "context size high; `search_fee[high]` Perplexity's per-request fee; `tokens@flex|priority|batch`; "
             "`images[<selector>]` 2 images per size/quality/resolution selector; `seconds` 37.5 s of audio; "
             "`characters` 1234; `queries` 3; `pages` 7; `video_seconds[<res>]` 8 s.", "",
             "| mode | entries | compared | agree | differ | skipped (non-linear) | calls | calls agree |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tot = collections.Counter()
    for mode in MODE_ORDER:
        cs = by_mode.get(mode, [])
        keys = collections.OrderedDict()
        for c in cs:
            keys.setdefault(c.key, []).append(outcome(c))
        agree = sum(all(o == "agree" for o in v) for v in keys.values())
        row = dict(entries=len(entries.get(mode, [])), compared=len(keys), agree=agree, differ=len(keys) - agree,
                   skipped=len(skipped.get(mode, {})), calls=len(cs),
                   calls_agree=sum(outcome(c) == "agree" for c in cs))
        tot.update(row)
        lines.append(f"| {mode} | " + " | ".join(str(row[k]) for k in
                                                  ("entries", "compared", "agree", "differ", "skipped", "calls",
                                                   "calls_agree")) + " |")
    lines.append("| **all** | " + " | ".join(f"**{tot[k]}**" for k in
                                             ("entries", "compared", "agree", "differ", "skipped", "calls",
                                              "calls_agree")) + " |")
    no_call = sum(len(set(entries.get(m, [])) - set(skipped.get(m, {})) - {c.key for c in by_mode.get(m, [])})
                  for m in MODE_ORDER)
    lines += ["", f"Entries with no call built (no price the synthetic calls exercise): {no_call}.",
              f"Run time: {elapsed:.0f} s.", "", "## Differences by cause", ""]
    for cause, cs in sorted(causes.items(), key=lambda kv: (kv[0] != "UNEXPLAINED", -len(kv[1]), kv[0])):
        lines.append(f"### {cause}")
        lines.append("")
        lines.append(f"{len(cs)} calls, {len({c.key for c in cs})} entries. Examples:")
        lines.append("")
        lines.append("| entry | call | llm_cost | LiteLLM |")
        lines.append("|---|---|---:|---:|")
        # up to 6 examples, one per (call, provider) first
        firsts = list({(c.name, c.provider): c for c in reversed(cs)}.values())[::-1]
        for c in (firsts + [c for c in cs if c not in firsts])[:6]:
            theirs = c.error.replace("|", "\\|") if c.error else fmt(c.theirs)
            lines.append(f"| `{c.key}` | {c.name} | {fmt(c.ours)} | {theirs} |")
        lines.append("")
    lines.append("## Skipped as non-linear")
    lines.append("")
    for mode in MODE_ORDER:
        for key, reason in sorted(skipped.get(mode, {}).items()):
            lines.append(f"- `{key}` ({mode}): {reason}")
    return "\n".join(lines) + "\n", unexplained


def litellm_version() -> str:
    from importlib.metadata import version
    return version("litellm")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The report is committed: written only when asked (UPDATE_PARITY=1 or --report),
    # so a test run leaves the tree clean.
    ap.add_argument("--report", default=str(REPO / "docs" / "litellm-parity.md") if os.environ.get("UPDATE_PARITY") else None)
    ap.add_argument("--dsn", help="a running server with the extension installed (default: start one)")
    ap.add_argument("--list-differences", help="write every difference (tab-separated) to this file")
    args = ap.parse_args()
    t0 = time.monotonic()

    load_litellm_prices()
    data_dec = gen_catalog.load_price_list(PRICE_FILE)
    calls, entries, skipped = build_calls(data_dec)
    run_litellm(calls)

    server = None if args.dsn else Server()
    try:
        dsn = args.dsn or server.start()
        run_ours(calls, dsn)
    finally:
        if server:
            server.stop()

    explained = load_explained(EXPLAINED)
    text, unexplained = report(calls, entries, skipped, explained, time.monotonic() - t0)
    if args.report:
        Path(args.report).write_text(text)
    if args.list_differences:
        with open(args.list_differences, "w") as f:
            for c in calls:
                if outcome(c) != "agree":
                    f.write("\t".join([c.key, c.name, c.mode, c.provider, outcome(c), fmt(c.ours),
                                       c.error or fmt(c.theirs), cause_of(c, explained) or ""]) + "\n")
    n_agree = sum(outcome(c) == "agree" for c in calls)
    print(f"litellm parity: {len(calls)} calls, {n_agree} agree, {len(calls) - n_agree} differ "
          f"({len(unexplained)} unexplained); report {args.report}; {time.monotonic() - t0:.0f} s")
    for c in unexplained[:50]:
        print(f"UNEXPLAINED\t{c.key}\t{c.name}\tours={fmt(c.ours)}\tlitellm={c.error or fmt(c.theirs)}")
    if len(unexplained) > 50:
        print(f"... and {len(unexplained) - 50} more")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
