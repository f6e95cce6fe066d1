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
// is exact; a JS number would not be): '0.0271206'.
'use strict';

// Columns a caller may set besides provider, model and raw_usage.
const COLUMNS = new Set(['occurred_at', 'service_tier', 'latency_ms', 'success', 'error_type', 'tenant_id',
  'project_id', 'user_id', 'agent_id', 'session_id', 'execution_id', 'operation', 'tags']);
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

function checkKeys(obj, allowed, what) {
  const unknown = Object.keys(obj).filter((k) => !allowed.has(k));
  if (unknown.length) throw new TypeError(`unknown ${what}: ${unknown.join(', ')}`);
}

/** Insert one call into llm_cost.usage; resolves to its cost (string, null if the
 * model has no price). `response`: the provider's response body or its usage
 * object; null only for a failed call ({ success: false, error_type }).
 * `columns`: tenant_id, user_id, agent_id, ..., tags (object), latency_ms,
 * service_tier (default: from the response), occurred_at, success, error_type.
 * `db`: a pg Client or Pool. */
async function record(db, provider, model, response, columns = {}) {
  checkKeys(columns, COLUMNS, 'llm_cost.usage column(s)');
  const values = { provider, model };
  if (response == null) {
    if (columns.success !== false) {
      throw new Error('response is null: only a failed call (success: false) may be recorded without usage');
    }
  } else {
    const body = typeof response === 'string' ? JSON.parse(response) : response;
    const usage = usageOf(body);
    values.raw_usage = JSON.stringify(usage);
    values.service_tier = serviceTier(body, usage);
  }
  Object.assign(values, columns);
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

module.exports = { record, canSpend, guardedCall, usageOf, BudgetExceeded };
