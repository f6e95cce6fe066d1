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
"""
import asyncio
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
    of raw_usage cannot carry: so the columns are given explicitly."""
    return {
        "input_tokens": _n(usage, "prompt_tokens"),
        "cached_input_tokens": _n(usage, "prompt_tokens_details", "cached_tokens"),
        "cache_write_tokens": _n(usage, "prompt_tokens_details", "cache_creation_tokens")
        or _n(usage, "cache_creation_input_tokens"),
        "output_tokens": _n(usage, "completion_tokens"),
        "reasoning_tokens": _n(usage, "completion_tokens_details", "reasoning_tokens"),
    }


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
            row.update(usage_columns(usage), raw_usage=Jsonb(usage))
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
