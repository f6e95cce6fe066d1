"""A LiteLLM callback that writes one row per call to llm_cost.usage.

    import litellm
    from llm_cost_callback import LlmCostLogger
    litellm.callbacks = [LlmCostLogger("postgresql://app@db/app")]   # or "" for the PG* env vars
    litellm.completion(model="anthropic/claude-sonnet-4-5", messages=[...],
                       metadata={"tenant_id": "acme", "agent_id": "support-bot"}, user="u-17")

Dimensions come from ``metadata`` keys named like llm_cost.usage columns (tenant_id,
project_id, user_id, agent_id, session_id, execution_id, operation, tags); ``user=``
fills user_id. The row is priced by the extension (cost NULL on insert), not with
LiteLLM's own response_cost. Failed calls are recorded with success = false, the
exception's class as error_type and no tokens. A failure to write is logged by
LiteLLM and never breaks the call.

Every kind of call LiteLLM logs is recorded with its charges beyond tokens in
``units`` (docs/charges.md), read from what LiteLLM passes (``call_units``):
embeddings (tokens), image generation (tokens for gpt-image models, else images per
call with size and quality), transcription (seconds, or audio tokens), speech
(input characters), web search (Anthropic/Gemini counts, Responses
``web_search_call`` items, the request's search_context_size), 1-hour cache writes
and audio/image token details.
"""
import asyncio
import json
import threading
from datetime import datetime, timezone

import psycopg
from litellm.integrations.custom_logger import CustomLogger
from psycopg.types.json import Jsonb

DIMENSIONS = ("tenant_id", "project_id", "user_id", "agent_id", "session_id", "execution_id", "operation", "tags")


def _n(obj, *path):
    """A token count at ``path`` in a (possibly nested, possibly missing) dict; 0 if absent."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return int(obj or 0)


def usage_columns(usage):
    """LiteLLM's usage (OpenAI shape for every provider) → the five token columns.
    LiteLLM folds Anthropic/Bedrock cache reads and writes into prompt_tokens and
    Gemini thinking into completion_tokens, as our rule wants, and keeps cache
    writes in prompt_tokens_details.cache_creation_tokens, which the OpenAI shape
    of raw_usage cannot carry: so the columns are given explicitly. A Responses API
    usage (``litellm.responses``) says input_tokens/output_tokens instead."""
    return {
        "input_tokens": _n(usage, "prompt_tokens") or _n(usage, "input_tokens"),
        "cached_input_tokens": _n(usage, "prompt_tokens_details", "cached_tokens")
        or _n(usage, "input_tokens_details", "cached_tokens"),
        "cache_write_tokens": _n(usage, "prompt_tokens_details", "cache_creation_tokens")
        or _n(usage, "cache_creation_input_tokens"),
        "output_tokens": _n(usage, "completion_tokens") or _n(usage, "output_tokens"),
        "reasoning_tokens": _n(usage, "completion_tokens_details", "reasoning_tokens")
        or _n(usage, "output_tokens_details", "reasoning_tokens"),
    }


def _attr(obj, name, default=None):
    """obj[name] or obj.name (LiteLLM passes pydantic objects and dicts)."""
    value = obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)
    return default if value is None else value


def _search_context_size(params):
    """The web search context size a request asked for: Chat ``web_search_options``
    or a ``web_search``/``web_search_preview`` tool (where LiteLLM looks too)."""
    options = params.get("web_search_options")
    if isinstance(options, dict) and options.get("search_context_size"):
        return options["search_context_size"]
    for tool in params.get("tools") or []:
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search"):
            if tool.get("search_context_size"):
                return tool["search_context_size"]
    return None


def _original_usage(kwargs):
    """The provider's own usage object from the raw response LiteLLM keeps
    (``original_response``): whisper's ``{"type": "duration", "seconds": 9}``,
    which LiteLLM's TranscriptionResponse drops."""
    original = kwargs.get("original_response")
    if isinstance(original, (str, bytes)):
        try:
            original = json.loads(original)
        except ValueError:
            return None
    usage = original.get("usage") if isinstance(original, dict) else None
    return usage if isinstance(usage, dict) else None


def call_units(kwargs, response_obj, usage):
    """The call's units (docs/charges.md names) from LiteLLM's callback arguments:
    ``kwargs`` (call_type, optional_params, input, original_response), the response
    object and its usage as a dict. {} when the call had nothing beyond tokens."""
    call_type = str(kwargs.get("call_type") or "")
    if call_type in ("aspeech", "atranscription", "aimage_generation", "aimage_edit"):
        call_type = call_type[1:]
    params = kwargs.get("optional_params") or {}
    units = {}
    if call_type == "speech":  # billed per input character
        text = kwargs.get("input")
        if isinstance(text, str):
            units["characters"] = len(text)
    elif call_type == "transcription":
        original = _original_usage(kwargs) or {}
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):  # gpt-4o-transcribe: tokens
            pass  # audio tokens: below
        elif original.get("type") == "duration" and original.get("seconds") is not None:
            units["audio_seconds"] = original["seconds"]  # the seconds OpenAI bills
        else:
            hidden = getattr(response_obj, "_hidden_params", None) or {}
            seconds = hidden.get("audio_transcription_duration") or _attr(response_obj, "duration")
            if seconds is not None:
                units["audio_seconds"] = seconds
    elif call_type in ("image_generation", "image_edit"):
        if not (usage.get("prompt_tokens") or usage.get("completion_tokens")):  # dall-e: per image
            data = _attr(response_obj, "data", [])
            units["images"] = len(data) if data else params.get("n", 1)
            for key in ("size", "quality"):
                value = _attr(response_obj, key) or params.get(key)
                if isinstance(value, str) and value != "auto":
                    units[key] = value
        else:  # gpt-image: priced by tokens; its output is image tokens
            units["image_output_tokens"] = _n(usage, "completion_tokens") - _n(
                usage, "completion_tokens_details", "text_tokens")
    # Token subsets (OpenAI audio/image details, Anthropic 1-hour cache writes).
    details = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    subsets = {
        "cache_write_1h_tokens": _n(details, "cache_creation_token_details", "ephemeral_1h_input_tokens"),
        "audio_input_tokens": _n(details, "audio_tokens"),
        "image_input_tokens": _n(details, "image_tokens"),
        "audio_output_tokens": _n(completion, "audio_tokens"),
        "image_output_tokens": _n(completion, "image_tokens"),
    }
    for name, value in subsets.items():
        if value and not units.get(name):
            units[name] = value
    # Web search: counts the provider reports (Anthropic server_tool_use, Gemini/Vertex
    # prompt_tokens_details.web_search_requests), Responses web_search_call items,
    # else 1 when a Chat answer asked for search cites the web (as LiteLLM bills it).
    searches = _n(usage, "server_tool_use", "web_search_requests") or _n(details, "web_search_requests")
    if not searches:
        output = _attr(response_obj, "output", None)
        if isinstance(output, list):
            searches = sum(1 for item in output if _attr(item, "type") == "web_search_call")
    context_size = _search_context_size(params)
    if not searches and context_size:
        for choice in _attr(response_obj, "choices", []) or []:
            annotations = _attr(_attr(choice, "message"), "annotations", []) or []
            if any(_attr(a, "type") == "url_citation" for a in annotations):
                searches = 1
    if searches:
        units["web_search_queries"] = searches
        if context_size:
            units["search_context_size"] = context_size
    maps = _n(details, "google_maps_grounding_requests")
    if maps:
        units["maps_queries"] = maps
    return units


class LlmCostLogger(CustomLogger):
    """Writes every LiteLLM call (sync or async, success or failure) to llm_cost.usage."""

    def __init__(self, conninfo="", **kwargs):
        super().__init__(**kwargs)
        self.conninfo = conninfo
        self._conn = None
        self._lock = threading.Lock()  # one autocommit connection, shared by LiteLLM's logging threads

    def row(self, kwargs, response_obj, start_time, end_time, success):
        """The usage row for one call, from LiteLLM's callback arguments."""
        slo = kwargs.get("standard_logging_object") or {}
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        row = {
            "occurred_at": start_time.astimezone(timezone.utc) if isinstance(start_time, datetime) else None,
            "provider": slo.get("custom_llm_provider") or kwargs.get("custom_llm_provider") or "unknown",
            "model": getattr(response_obj, "model", None) or slo.get("model") or kwargs.get("model"),
            "latency_ms": round((end_time - start_time).total_seconds() * 1000) if start_time and end_time else None,
            "success": success,
            "user_id": kwargs.get("user"),
            **{k: metadata[k] for k in DIMENSIONS if metadata.get(k) is not None},
        }
        if success:
            usage = getattr(response_obj, "usage", None)
            usage = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage or {})
            row.update(usage_columns(usage))
            if usage:  # speech has none, whisper's is dropped by LiteLLM
                row["raw_usage"] = Jsonb(usage)
            units = call_units(kwargs, response_obj, usage)
            if units:
                row["units"] = Jsonb(units)
            tier = getattr(response_obj, "service_tier", None) or usage.get("service_tier")
            row["service_tier"] = tier if tier in ("batch", "flex", "priority") else "standard"
        else:
            error = slo.get("error_information") or {}
            exc = kwargs.get("exception")
            row["error_type"] = error.get("error_class") or (type(exc).__name__ if exc else "error")
        if isinstance(row.get("tags"), (dict, list)):
            row["tags"] = Jsonb(row["tags"])
        return {k: v for k, v in row.items() if v is not None}

    def write(self, row):
        """INSERT one row (reconnecting if the connection was lost)."""
        columns = ", ".join(row)
        placeholders = ", ".join(["%s"] * len(row))
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self.conninfo, autocommit=True)
            self._conn.execute(f"INSERT INTO llm_cost.usage ({columns}) VALUES ({placeholders})", list(row.values()))

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.write(self.row(kwargs, response_obj, start_time, end_time, success=True))

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.write(self.row(kwargs, response_obj, start_time, end_time, success=False))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        await asyncio.to_thread(self.log_success_event, kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        await asyncio.to_thread(self.log_failure_event, kwargs, response_obj, start_time, end_time)
