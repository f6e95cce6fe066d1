"""Record LLM calls in llm_cost.usage and check budgets before a call (psycopg 3).

    import psycopg, llm_cost_client as lc
    conn = psycopg.connect(autocommit=True)          # libpq env vars or a DSN
    if lc.can_spend(conn, 0.02, tenant_id="acme"):
        resp = client.chat.completions.create(...)   # any provider's response: SDK object, dict or JSON text
        cost = lc.record(conn, "openai", resp.model, resp, tenant_id="acme", latency_ms=840)

Each call is ONE INSERT of the provider's raw usage object; the extension turns it
into token counts and prices it (exactly, in numeric). Both helpers run in the
connection's current transaction: use autocommit or commit as usual.
"""
import json
import time
from decimal import Decimal

from psycopg import sql
from psycopg.types.json import Jsonb

# Columns a caller may set besides provider, model and raw_usage.
COLUMNS = frozenset({
    "occurred_at", "service_tier", "latency_ms", "success", "error_type", "tenant_id", "project_id",
    "user_id", "agent_id", "session_id", "execution_id", "operation", "tags",
})
# Arguments of llm_cost.can_spend besides estimated_cost.
SCOPE = frozenset({"tenant_id", "project_id", "user_id", "agent_id", "provider", "model", "session_id", "at"})


class BudgetExceeded(Exception):
    """can_spend said no: a hard-limit budget would be passed."""


def _body(response):
    """A response as a dict: SDK objects (OpenAI, Anthropic, google-genai: pydantic)
    are dumped with the API's field names, JSON text is parsed."""
    if hasattr(response, "model_dump"):
        return response.model_dump(mode="json", by_alias=True)
    return json.loads(response) if isinstance(response, (str, bytes)) else response


def usage_of(response):
    """The usage object of a response body: OpenAI and Anthropic ``usage``, Gemini
    ``usageMetadata``, or the body itself when it is already a usage object.
    ValueError when there is none, e.g. an OpenAI stream chunk without
    ``stream_options={"include_usage": True}``."""
    body = _body(response)
    if not isinstance(body, dict):
        raise ValueError(f"expected a response body (JSON object), got {type(body).__name__}")
    if "usage" in body or "usageMetadata" in body:
        usage = body.get("usage") or body.get("usageMetadata")
    else:  # a bare usage object has token counts at the top
        usage = body if any(k.endswith(("_tokens", "TokenCount")) for k in body) else None
    if not isinstance(usage, dict):
        raise ValueError("response has no usage object ('usage' or 'usageMetadata'), nothing to record: "
                         "pass the complete response (for streams, the final chunk with usage)")
    return usage


def _service_tier(response, usage):
    # OpenAI says "default"/"flex"/"priority" on the response, Anthropic "standard"/"priority"/"batch" in usage.
    tier = (response.get("service_tier") if isinstance(response, dict) else None) or usage.get("service_tier")
    return tier if tier in ("batch", "flex", "priority") else "standard"


def record(conn, provider, model, response, **columns):
    """Insert one call into llm_cost.usage and return its cost (Decimal; None if the
    model has no price). ``response`` is the provider's response body (dict, JSON
    text or SDK object) or just its usage object; ``None`` only for a failed call
    (``success=False, error_type=...``), recorded with no tokens. ``columns``: the
    dimensions (tenant_id, user_id, agent_id, ...), tags (dict or list), latency_ms,
    service_tier (default: from the response), occurred_at, success, error_type."""
    unknown = set(columns) - COLUMNS
    if unknown:
        raise TypeError(f"unknown llm_cost.usage column(s): {', '.join(sorted(unknown))}")
    values = {"provider": provider, "model": model}
    if response is None:
        if columns.get("success", True):
            raise ValueError("response is None: only a failed call (success=False) may be recorded without usage")
    else:
        body = _body(response)
        usage = usage_of(body)
        values["raw_usage"] = Jsonb(usage)
        values["service_tier"] = _service_tier(body, usage)
    values.update(columns)
    if isinstance(values.get("tags"), (dict, list)):
        values["tags"] = Jsonb(values["tags"])
    query = sql.SQL("INSERT INTO llm_cost.usage ({}) VALUES ({}) RETURNING cost").format(
        sql.SQL(", ").join(map(sql.Identifier, values)), sql.SQL(", ").join(sql.Placeholder() * len(values)))
    return conn.execute(query, list(values.values())).fetchone()[0]


def can_spend(conn, estimated_cost, **scope):
    """True unless a matching hard-limit budget would go over by spending
    ``estimated_cost``. ``scope``: tenant_id, project_id, user_id, agent_id,
    provider, model, session_id (None means "not given")."""
    unknown = set(scope) - SCOPE
    if unknown:
        raise TypeError(f"unknown can_spend argument(s): {', '.join(sorted(unknown))}")
    scope = {k: v for k, v in scope.items() if v is not None}
    args = [sql.SQL("{} => %s").format(sql.Identifier(k)) for k in scope]
    query = sql.SQL("SELECT llm_cost.can_spend(%s::numeric{})").format(sql.SQL("").join(sql.SQL(", ") + a for a in args))
    return conn.execute(query, [Decimal(str(estimated_cost)), *scope.values()]).fetchone()[0]


def guarded_call(conn, provider, model, estimated_cost, call, **dimensions):
    """The whole pattern: ask ``can_spend`` (raises BudgetExceeded), run ``call()``
    (returns a response body dict), record it with its latency, and return
    ``(body, cost)``. A call that raises is recorded as failed (error_type = the
    exception's class name) and the exception propagates."""
    scope = {k: v for k, v in dimensions.items() if k in SCOPE}
    if not can_spend(conn, estimated_cost, provider=provider, model=model, **scope):
        raise BudgetExceeded(f"{provider}/{model}: estimated {estimated_cost} would pass a hard limit for {scope}")
    start = time.monotonic()
    try:
        body = call()
    except Exception as exc:
        record(conn, provider, model, None, success=False, error_type=type(exc).__name__,
               latency_ms=round((time.monotonic() - start) * 1000), **dimensions)
        raise
    latency_ms = round((time.monotonic() - start) * 1000)
    return body, record(conn, provider, model, body, latency_ms=latency_ms, **dimensions)
