// Record LLM calls in llm_cost.usage and check budgets before a call (node-postgres).
//
//   const { Pool } = require('pg');
//   const lc = require('./llm_cost_client');
//   const db = new Pool();                                   // PG* env vars or a connection string
//   if (await lc.canSpend(db, 0.02, { tenant_id: 'acme' })) {
//     const body = await openai.chat.completions.create({ ... });   // any provider's response body
//     const cost = await lc.record(db, 'openai', body.model, body, { tenant_id: 'acme', latency_ms: 840 });
//   }
//
// Each call is ONE INSERT of the provider's raw usage object; the extension turns
// it into token counts and prices it exactly. Costs come back as strings (numeric
// is exact; a JS number would not be): '0.0271206'. Charges beyond tokens go in
// `units` (docs/charges.md): unitsOf(body) reads what a response states outside its
// usage object, requestUnits(request) and speechUnits(text) what only the request knows:
//
//   const img = await openai.images.generate(req);          // dall-e-3: no usage, billed per image
//   await lc.record(db, 'openai', req.model, img, { units: lc.requestUnits(req) });
//   await lc.record(db, 'openai', 'tts-1', null, { units: lc.speechUnits(text) });
'use strict';

// Columns a caller may set besides provider, model and raw_usage.
const COLUMNS = new Set(['occurred_at', 'service_tier', 'latency_ms', 'success', 'error_type', 'tenant_id',
  'project_id', 'user_id', 'agent_id', 'session_id', 'execution_id', 'operation', 'tags', 'units']);
// Units that only select a price (docs/charges.md): never a charge by themselves.
const QUALIFIERS = new Set(['search_context_size', 'size', 'quality', 'resolution']);
// Arguments of llm_cost.can_spend besides estimated_cost.
const SCOPE = new Set(['tenant_id', 'project_id', 'user_id', 'agent_id', 'provider', 'model', 'session_id', 'at']);

class BudgetExceeded extends Error {}

/** The usage object of a response body (object or JSON text): OpenAI and Anthropic
 * `usage`, Gemini `usageMetadata`, or the body itself when it is a usage object.
 * Throws when there is none (e.g. an OpenAI stream chunk without include_usage). */
function usageOf(response) {
  const body = typeof response === 'string' ? JSON.parse(response) : response;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new TypeError('expected a response body (JSON object)');
  }
  let usage = null;
  if ('usage' in body || 'usageMetadata' in body) usage = body.usage || body.usageMetadata;
  else if (Object.keys(body).some((k) => k.endsWith('_tokens') || k.endsWith('TokenCount'))) usage = body;
  if (usage === null || typeof usage !== 'object') {
    throw new Error("response has no usage object ('usage' or 'usageMetadata'), nothing to record: " +
      'pass the complete response (for streams, the final chunk with usage)');
  }
  return usage;
}

function serviceTier(body, usage) {
  // OpenAI says "default"/"flex"/"priority" on the response, Anthropic "standard"/"priority"/"batch" in usage.
  const tier = body.service_tier || usage.service_tier;
  return ['batch', 'flex', 'priority'].includes(tier) ? tier : 'standard';
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The units a response body states outside its usage object (the extension reads
 * the usage object itself): OpenAI Responses `web_search_call` items (and the web
 * search tool's `search_context_size`), 1 search for a Chat Completions answer
 * citing the web, `images` (and `size`/`quality`) for an images response without
 * token usage (dall-e, billed per image), `audio_seconds` = `duration` for a
 * transcription without usage (whisper verbose_json). {} otherwise. */
function unitsOf(response) {
  const body = typeof response === 'string' ? JSON.parse(response) : response;
  const units = {};
  if (!isObject(body)) return units;
  const usage = isObject(body.usage) ? body.usage : null;
  if (Array.isArray(body.output)) {
    const searches = body.output.filter((item) => item && item.type === 'web_search_call').length;
    if (searches) {
      units.web_search_queries = searches;
      for (const tool of body.tools || []) {
        if (String(tool && tool.type).startsWith('web_search') && tool.search_context_size) {
          units.search_context_size = tool.search_context_size;
        }
      }
    }
  }
  for (const choice of body.choices || []) {
    const annotations = (choice && choice.message && choice.message.annotations) || [];
    if (annotations.some((a) => a && a.type === 'url_citation')) units.web_search_queries = 1;
  }
  const data = body.data;
  if (Array.isArray(data) && data.length && data.every((d) => isObject(d) && ('url' in d || 'b64_json' in d))) {
    if (!(usage && (usage.input_tokens || usage.output_tokens))) { // with token usage it is priced by tokens
      units.images = data.length;
      for (const k of ['size', 'quality']) if (body[k]) units[k] = body[k];
    }
  }
  if ('duration' in body && 'text' in body && !usage) units.audio_seconds = body.duration;
  return units;
}

/** The qualifiers only a request states: image `size` and `quality`, and the web
 * search `search_context_size` (Chat `web_search_options` or a `web_search` tool).
 * `request`: the parameters you passed to the SDK. */
function requestUnits(request) {
  const units = {};
  for (const k of ['size', 'quality']) if (typeof request[k] === 'string' && request[k] !== 'auto') units[k] = request[k];
  let size = isObject(request.web_search_options) ? request.web_search_options.search_context_size : undefined;
  for (const tool of request.tools || []) {
    if (isObject(tool) && String(tool.type).startsWith('web_search')) size = size || tool.search_context_size;
  }
  if (size) units.search_context_size = size;
  return units;
}

/** Text-to-speech is billed per input character: { characters: text.length }
 * (code points, as Python's len). */
const speechUnits = (text) => ({ characters: [...text].length });

function checkKeys(obj, allowed, what) {
  const unknown = Object.keys(obj).filter((k) => !allowed.has(k));
  if (unknown.length) throw new TypeError(`unknown ${what}: ${unknown.join(', ')}`);
}

/** Insert one call into llm_cost.usage; resolves to its cost (string, null if the
 * model has no price). `response`: the provider's response body or its usage
 * object; null only for a failed call ({ success: false, error_type }) or one whose
 * charges are all in `units` (speech). `columns`: tenant_id, user_id, agent_id,
 * ..., tags (object), units (object, merged over unitsOf(response); a body without
 * usage is fine when it or units gives some; the extension reads the provider's
 * units from the usage object only when the row has none, so give only what it
 * does not say: units of qualifiers only are dropped when there is a usage object),
 * latency_ms, service_tier (default: from the response), occurred_at, success,
 * error_type. `db`: a pg Client or Pool. */
async function record(db, provider, model, response, columns = {}) {
  checkKeys(columns, COLUMNS, 'llm_cost.usage column(s)');
  const values = { provider, model };
  const { units: given, ...rest } = columns;
  const onlyQualifiers = (u) => Object.keys(u).every((k) => QUALIFIERS.has(k)); // nothing to charge
  let units = Object.fromEntries(Object.entries(given || {}).filter(([, v]) => v != null));
  if (response != null) {
    const body = typeof response === 'string' ? JSON.parse(response) : response;
    units = { ...unitsOf(body), ...units };
    let usage = null;
    try {
      usage = usageOf(body);
    } catch (err) {
      if (onlyQualifiers(units)) throw err;
    }
    if (usage) {
      values.raw_usage = JSON.stringify(usage);
      values.service_tier = serviceTier(body, usage);
      // Qualifiers alone price nothing, and a units column keeps the extension from
      // reading the provider's own units (image/audio tokens, ...) from raw_usage.
      if (onlyQualifiers(units)) units = {};
    }
  }
  if (response == null && onlyQualifiers(units) && columns.success !== false) {
    throw new Error('response is null: only a failed call (success: false) or one whose charges are all in ' +
      'units (e.g. units: speechUnits(text)) may be recorded without usage');
  }
  if (Object.keys(units).length) values.units = JSON.stringify(units);
  Object.assign(values, rest);
  if (values.tags != null && typeof values.tags === 'object') values.tags = JSON.stringify(values.tags);
  const names = Object.keys(values);
  const sql = `INSERT INTO llm_cost.usage (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})` +
    ' RETURNING cost';
  const { rows } = await db.query(sql, Object.values(values));
  return rows[0].cost;
}

/** True unless a matching hard-limit budget would go over by spending
 * `estimatedCost` (number or decimal string). `scope`: tenant_id, project_id,
 * user_id, agent_id, provider, model, session_id. */
async function canSpend(db, estimatedCost, scope = {}) {
  checkKeys(scope, SCOPE, 'can_spend argument(s)');
  const given = Object.entries(scope).filter(([, v]) => v != null);
  const args = given.map(([k], i) => `, ${k} => $${i + 2}`).join('');
  const { rows } = await db.query(`SELECT llm_cost.can_spend($1::numeric${args}) AS ok`,
    [String(estimatedCost), ...given.map(([, v]) => v)]);
  return rows[0].ok;
}

/** The whole pattern: ask canSpend (throws BudgetExceeded), await `call()` (a
 * response body), record it with its latency; resolves to { body, cost }. A call
 * that throws is recorded as failed (error_type = the error's name) and rethrown. */
async function guardedCall(db, provider, model, estimatedCost, call, dimensions = {}) {
  const scope = Object.fromEntries(Object.entries(dimensions).filter(([k]) => SCOPE.has(k)));
  if (!(await canSpend(db, estimatedCost, { provider, model, ...scope }))) {
    throw new BudgetExceeded(`${provider}/${model}: estimated ${estimatedCost} would pass a hard limit`);
  }
  const start = performance.now();
  let body;
  try {
    body = await call();
  } catch (err) {
    await record(db, provider, model, null, {
      ...dimensions, success: false, error_type: err.name || 'Error', latency_ms: Math.round(performance.now() - start),
    });
    throw err;
  }
  const latency_ms = Math.round(performance.now() - start);
  return { body, cost: await record(db, provider, model, body, { ...dimensions, latency_ms }) };
}

module.exports = { record, canSpend, guardedCall, usageOf, unitsOf, requestUnits, speechUnits, BudgetExceeded };
