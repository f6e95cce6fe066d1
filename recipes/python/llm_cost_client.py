"""Record LLM calls in llm_cost.usage and check budgets before a call (psycopg 3).

    import psycopg, llm_cost_client as lc
    conn = psycopg.connect(autocommit=True)          # libpq env vars or a DSN
    if lc.can_spend(conn, 0.02, tenant_id="acme"):
        resp = client.chat.completions.create(...)   # any provider's response: SDK object, dict or JSON text
        cost = lc.record(conn, "openai", resp.model, resp, tenant_id="acme", latency_ms=840)

Each call is ONE INSERT of the provider's raw usage object; the extension turns it
into token counts and prices it (exactly, in numeric). Charges beyond tokens go in
``units`` (docs/charges.md): what the response body says outside its usage object is
read by ``units_of`` (OpenAI web_search_call items, images per call, whisper's
duration), what only the request knows by ``request_units`` and ``speech_units``:

    resp = client.images.generate(**req)                     # dall-e-3: no usage, billed per image
    lc.record(conn, "openai", req["model"], resp, units=lc.request_units(req))
    lc.record(conn, "openai", "tts-1", None, units=lc.speech_units(text))   # speech: no body to read

Both helpers run in the connection's current transaction: use autocommit or commit as usual.
"""
import json
import time
from decimal import Decimal

from psycopg import sql
from psycopg.types.json import Jsonb

# Columns a caller may set besides provider, model and raw_usage.
COLUMNS = frozenset({
    "occurred_at", "service_tier", "latency_ms", "success", "error_type", "tenant_id", "project_id",
    "user_id", "agent_id", "session_id", "execution_id", "operation", "tags", "units",
})
# Units that only select a price (docs/charges.md): never a charge by themselves.
QUALIFIERS = frozenset({"search_context_size", "size", "quality", "resolution"})
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


def _get(obj, key, default=None):
    return obj.get(key, default) if isinstance(obj, dict) else default


def units_of(response):
    """The units a response body states outside its usage object (the extension reads
    the usage object itself: Anthropic web searches and 1-hour cache writes, audio
    and image token details):

    - OpenAI Responses: one ``web_search_queries`` per ``web_search_call`` output
      item, and ``search_context_size`` from the web search tool it echoes;
    - Chat Completions search models: 1 ``web_search_queries`` when the answer cites
      the web (``url_citation`` annotations; the API gives no count);
    - an images response without token usage (dall-e-2/3, billed per image):
      ``images`` = the images returned, and its ``size``/``quality`` when it says;
    - a transcription without usage (whisper ``verbose_json``): ``audio_seconds``
      = its ``duration``.

    Returns {} for anything else (a response whose usage says it all)."""
    body = _body(response)
    if not isinstance(body, dict):
        return {}
    units = {}
    usage = body.get("usage")
    output = body.get("output")
    if isinstance(output, list):  # Responses API
        searches = sum(1 for item in output if _get(item, "type") == "web_search_call")
        if searches:
            units["web_search_queries"] = searches
            for tool in body.get("tools") or []:
                if str(_get(tool, "type", "")).startswith("web_search") and _get(tool, "search_context_size"):
                    units["search_context_size"] = tool["search_context_size"]
    for choice in body.get("choices") or []:  # Chat Completions
        annotations = _get(_get(choice, "message"), "annotations") or []
        if any(_get(a, "type") == "url_citation" for a in annotations):
            units["web_search_queries"] = 1
    data = body.get("data")
    if isinstance(data, list) and data and all(isinstance(d, dict) and ("url" in d or "b64_json" in d) for d in data):
        tokens = isinstance(usage, dict) and any(usage.get(k) for k in ("input_tokens", "output_tokens"))
        if not tokens:  # an images response priced per image (with token usage it is priced by tokens)
            units["images"] = len(data)
            units.update({k: body[k] for k in ("size", "quality") if body.get(k)})
    if "duration" in body and "text" in body and not isinstance(usage, dict):
        units["audio_seconds"] = body["duration"]
    return units


def request_units(request):
    """The qualifiers only a request states: image ``size`` and ``quality`` (dall-e
    responses do not echo them) and the web search ``search_context_size`` (Chat
    Completions ``web_search_options``, or a Responses/Chat ``web_search`` tool).
    ``request``: the keyword arguments you passed to the SDK. Counts come from the
    response (``units_of``) or ``speech_units``; a qualifier never costs anything by
    itself, it selects the price of a unit."""
    units = {k: request[k] for k in ("size", "quality") if isinstance(request.get(k), str) and request[k] != "auto"}
    options = request.get("web_search_options")
    size = options.get("search_context_size") if isinstance(options, dict) else None
    for tool in request.get("tools") or []:
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search"):
            size = size or tool.get("search_context_size")
    if size:
        units["search_context_size"] = size
    return units


def speech_units(text):
    """Text-to-speech is billed per input character (tts-1, tts-1-hd): ``{"characters": len(text)}``."""
    return {"characters": len(text)}


def record(conn, provider, model, response, **columns):
    """Insert one call into llm_cost.usage and return its cost (Decimal; None if the
    model has no price). ``response`` is the provider's response body (dict, JSON
    text or SDK object) or just its usage object; ``None`` only for a failed call
    (``success=False, error_type=...``), recorded with no tokens, or for a call whose
    charges are all in ``units`` (speech: ``units=speech_units(text)``). ``units``:
    the call's charges beyond tokens (dict, names as in docs/charges.md), merged over
    ``units_of(response)``; a body without a usage object is fine when it or
    ``units`` gives some (a dall-e image, a whisper ``verbose_json``). ``columns``:
    the dimensions (tenant_id, user_id, agent_id, ...), tags (dict or list),
    latency_ms, service_tier (default: from the response), occurred_at, success,
    error_type."""
    unknown = set(columns) - COLUMNS
    if unknown:
        raise TypeError(f"unknown llm_cost.usage column(s): {', '.join(sorted(unknown))}")
    values = {"provider": provider, "model": model}
    units = {k: v for k, v in (columns.pop("units", None) or {}).items() if v is not None}
    if response is not None:
        body = _body(response)
        units = {**units_of(body), **units}
        try:
            usage = usage_of(body)
        except ValueError:
            if set(units) <= QUALIFIERS:  # nothing to charge
                raise
            usage = None
        if usage is not None:
            values["raw_usage"] = Jsonb(usage)
            values["service_tier"] = _service_tier(body, usage)
            if set(units) <= QUALIFIERS:
                # Qualifiers alone price nothing, and a units column keeps the extension
                # from reading the provider's own units (image/audio tokens, ...) from raw_usage.
                units = {}
    if response is None and set(units) <= QUALIFIERS and columns.get("success", True):
        raise ValueError("response is None: only a failed call (success=False) or one whose charges are all "
                         "in units (e.g. units=speech_units(text)) may be recorded without usage")
    if units:
        values["units"] = Jsonb(units)
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
