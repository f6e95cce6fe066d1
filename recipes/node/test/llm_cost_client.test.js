// Tests llm_cost_client.js against a live server (PG* env vars, extension created).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { Pool } = require('pg');
const lc = require('../llm_cost_client');

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures');
const fixture = (name) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const EXPECTED = Object.fromEntries(Object.entries(fixture('expected.json')).filter(([k]) => !k.startsWith('_')));
const TOKENS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'];

let db;
before(() => { db = new Pool({ max: 2 }); });
after(() => db.end());
const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;
const rows = async (tenant) => (await db.query(
  'SELECT * FROM llm_cost.usage WHERE tenant_id = $1 ORDER BY id', [tenant])).rows;
const sqlCost = async (provider, model, t, units) => (await db.query(
  'SELECT llm_cost.llm_cost($1, $2, input_tokens => $3, output_tokens => $4, cached_input_tokens => $5,' +
  ' cache_write_tokens => $6, reasoning_tokens => $7, units => $8) AS c',
  [provider, model, ...['input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens',
    'reasoning_tokens'].map((k) => t[k]), units == null ? null : JSON.stringify(units)])).rows[0].c;
// numeric comes back as text: compare as exact decimals, not floats ('0.0271206' vs '0.02712060').
const dec = (s) => s.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');

for (const [name, exp] of Object.entries(EXPECTED)) {
  test(`${name}: one INSERT of the raw usage and units, tokens and cost as worked out`, async () => {
    const tenant = newTenant();
    const body = name.endsWith('.json') ? fixture(name) : null; // speech: the response is audio
    const { model } = exp;
    if (body && (body.model || body.modelVersion)) assert.equal(body.model || body.modelVersion, model);
    const units = lc.requestUnits(exp.request || {});
    if (!body) Object.assign(units, lc.speechUnits(exp.request.input));
    const cost = await lc.record(db, exp.provider, model, body && JSON.stringify(body),
      { tenant_id: tenant, agent_id: 'node-agent', latency_ms: 321, tags: { recipe: 'node' }, units });
    const [row, ...more] = await rows(tenant);
    assert.equal(more.length, 0);
    assert.deepEqual(Object.fromEntries(TOKENS.map((k) => [k, Number(row[k])])), exp.tokens);
    assert.equal(row.provider, exp.provider);
    assert.equal(row.model, exp.model);
    assert.deepEqual(row.units, exp.units);
    assert.equal(row.cost, cost);
    assert.equal(dec(cost), exp.cost);
    assert.equal(dec(cost), dec(await sqlCost(exp.provider, model, exp.tokens, exp.units)));
    assert.deepEqual(row.raw_usage, body && (body.usage || body.usageMetadata || null));
    assert.deepEqual(row.tags, { recipe: 'node' });
    assert.equal(row.latency_ms, 321);
    assert.equal(row.success, true);
  });
}

test('unitsOf reads what a body says outside its usage object; requestUnits the qualifiers', () => {
  const found = Object.fromEntries(Object.keys(EXPECTED).filter((n) => n.endsWith('.json'))
    .map((n) => [n, lc.unitsOf(fixture(n))]).filter(([, u]) => Object.keys(u).length));
  assert.deepEqual(found, {
    'openai_images_dall_e_3.json': { images: 1 },
    'openai_responses_web_search.json': { web_search_queries: 1, search_context_size: 'medium' },
  });
  const whisper = fixture('openai_transcription_whisper.json');
  delete whisper.usage;
  assert.deepEqual(lc.unitsOf(whisper), { audio_seconds: 8.470000267028809 });
  const image = fixture('openai_images_gpt_image_1.json');
  delete image.usage;
  assert.deepEqual(lc.unitsOf(image), { images: 1, size: '1024x1024', quality: 'high' });
  assert.deepEqual(lc.requestUnits(EXPECTED['openai_images_dall_e_3.json'].request), { size: '1024x1792', quality: 'hd' });
  assert.deepEqual(lc.requestUnits({ tools: [{ type: 'web_search', search_context_size: 'low' }] }),
    { search_context_size: 'low' });
  assert.deepEqual(lc.speechUnits('The quick brown fox jumped over the lazy dog.'), { characters: 45 });
});

test('a response without usage is a clear error and writes nothing', async () => {
  const tenant = newTenant();
  const body = fixture('openai_chat_completion.json');
  delete body.usage;
  for (const bad of [body, { ...body, usage: null }, '{"choices": []}']) {
    await assert.rejects(lc.record(db, 'openai', 'gpt-5-mini', bad, { tenant_id: tenant }), /no usage object/);
  }
  await assert.rejects(lc.record(db, 'openai', 'gpt-5-mini', null, { tenant_id: tenant }), /only a failed call/);
  await assert.rejects(lc.record(db, 'openai', 'gpt-5-mini', fixture('openai_responses.json'), { tenant: 'x' }),
    /unknown llm_cost.usage column/);
  assert.deepEqual(await rows(tenant), []);
});

test('canSpend flips to false once a hard-limit budget is exhausted', async () => {
  const tenant = newTenant();
  await db.query("INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit) VALUES ($1, 0.03, 'day', $1, true)",
    [tenant]);
  assert.equal(await lc.canSpend(db, '0.03', { tenant_id: tenant }), true);
  const anthropic = fixture('anthropic_messages.json');
  await lc.record(db, 'anthropic', anthropic.model, anthropic, { tenant_id: tenant }); // 0.0271206
  assert.equal(await lc.canSpend(db, 0.002, { tenant_id: tenant, user_id: 'u-1' }), true);
  assert.equal(await lc.canSpend(db, 0.003, { tenant_id: tenant, user_id: 'u-1' }), false);
  assert.equal(await lc.canSpend(db, 0.003, { tenant_id: 'someone-else' }), true);
  await lc.record(db, 'anthropic', anthropic.model, anthropic, { tenant_id: tenant }); // recorded anyway
  assert.equal(await lc.canSpend(db, 0, { tenant_id: tenant }), false);
  assert.equal((await rows(tenant)).length, 2);
});

test('guardedCall records successes and failures and refuses over budget', async () => {
  const tenant = newTenant();
  await db.query("INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit) VALUES ($1, 0.02, 'day', $1, true)",
    [tenant]);
  const gemini = fixture('gemini_generate_content.json');
  const { body, cost } = await lc.guardedCall(db, 'gemini', 'gemini-2.5-flash', 0.005, async () => gemini,
    { tenant_id: tenant, agent_id: 'analyst' });
  assert.equal(body, gemini);
  assert.equal(dec(cost), EXPECTED['gemini_generate_content.json'].cost);

  const timeout = Object.assign(new Error('read timed out'), { name: 'TimeoutError' });
  await assert.rejects(lc.guardedCall(db, 'gemini', 'gemini-2.5-flash', 0.005, async () => { throw timeout; },
    { tenant_id: tenant }), /read timed out/);
  const failed = (await rows(tenant)).filter((r) => !r.success);
  assert.deepEqual(failed.map((r) => [r.error_type, Number(r.input_tokens), dec(r.cost)]), [['TimeoutError', 0, '0']]);

  let called = false;
  await assert.rejects(lc.guardedCall(db, 'gemini', 'gemini-2.5-flash', 0.02, async () => { called = true; },
    { tenant_id: tenant }), lc.BudgetExceeded);
  assert.equal(called, false);
});
