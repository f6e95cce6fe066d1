-- llm_cost demo, part 2: a month of traffic, then the dashboards, trend,
-- forecast, anomalies, recommendations, a CSV export and the HTML report.
-- Run by scripts/demo.sh after demo.sql (same throwaway server);
-- :report_path is where the HTML report is written.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '== A month of traffic: 30 days up to now, growing, quiet at weekends'
SELECT setseed(0.7) AS seed \gset
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, cached_input_tokens,
                            latency_ms, success, tenant_id, project_id, user_id, agent_id, operation)
SELECT t, 'openai', a.model, a.input + (random() * a.input)::int, a.output + (random() * a.output)::int, 0,
       a.latency + (random() * a.latency)::int, random() > 0.02,
       a.tenant, a.project, a.tenant || '-user-' || (random() * 40)::int, a.agent, a.operation
  FROM generate_series(now() - interval '30 days', now() - interval '1 minute', interval '90 seconds') AS t,
       LATERAL (VALUES ('support-bot', 'gpt-4o', 900, 150, 700, 'initech', 'support', 'chat'),
                       ('summarizer', 'gpt-4.1', 6000, 600, 2500, 'initech', 'docs', 'summarize'),
                       ('classifier', 'gpt-4o', 300, 20, 300, 'globex', 'ops', 'classify')) AS a (agent, model, input, output, latency, tenant, project, operation)
 -- weekends are quiet, and the month grows: fewer calls early on
 WHERE random() < CASE WHEN extract(isodow FROM t) IN (6, 7) THEN 0.3 ELSE 0.9 END
                  * (0.6 + 0.4 * extract(epoch FROM t - (now() - interval '30 days')) / (30 * 86400));
-- an incident: five days ago the summarizer looped on its own output
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, project_id, user_id, agent_id, operation)
SELECT date_trunc('day', now() - interval '5 days') + interval '13 hours' + g * interval '2 seconds', 'openai', 'gpt-4.1',
       30000, 4000, 9000, 'initech', 'docs', 'initech-user-7', 'summarizer', 'summarize'
  FROM generate_series(1, 900) g;
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('initech monthly', 6000, 'month', 'initech');
SELECT count(*) AS calls_in_the_ledger, '$' || to_char(sum(cost), 'FM999,990.00') AS total FROM llm_cost.usage;
SELECT llm_cost.refresh_rollups() AS rows_rolled_up;

\echo
\echo '== Dashboard: the last 30 days (llm_cost.cost_summary)'
SELECT '$' || to_char(total_cost, 'FM999,990.00') AS total_cost, calls, failed_calls,
       avg_latency_ms, p95_latency_ms, '$' || round(cost_per_call, 4) AS cost_per_call
  FROM llm_cost.cost_summary(now() - interval '30 days', now());

\echo
\echo '== Cost by agent (llm_cost.cost_by)'
SELECT value AS agent, '$' || to_char(cost, 'FM999,990.00') AS cost, calls, share || '%' AS share
  FROM llm_cost.cost_by('agent_id', now() - interval '30 days', now());

\echo
\echo '== The last 7 days by model (llm_cost.daily_costs)'
SELECT day, model, sum(calls) AS calls, '$' || to_char(sum(cost), 'FM999,990.00') AS cost
  FROM llm_cost.daily_costs
 WHERE day >= current_date - 7
 GROUP BY 1, 2 ORDER BY 1, 2;

\echo
\echo '== Trend: this week against the week before (llm_cost.cost_trend)'
SELECT '$' || round(current_cost, 2) AS last_7_days, '$' || round(previous_cost, 2) AS the_7_before,
       percent_change || '%' AS change, direction
  FROM llm_cost.cost_trend(7);

\echo
\echo '== Forecast: where initech''s monthly budget ends up (llm_cost.forecast)'
SELECT '$' || round(spent, 2) AS spent, '$' || round(forecast, 2) AS forecast,
       '$' || round(forecast_low, 2) || ' .. $' || round(forecast_high, 2) AS band_90,
       '$' || round(daily_run_rate, 2) AS per_day, exhausts_at, will_exceed, method
  FROM llm_cost.forecast((SELECT id FROM llm_cost.budgets WHERE name = 'initech monthly'));

\echo
\echo '== Anomalies: days that break from their own history (llm_cost.anomalies)'
SELECT day, value AS agent, '$' || round(spend, 2) AS spend, '$' || round(expected, 2) AS expected, score, direction
  FROM llm_cost.anomalies(now() - interval '30 days', now(), 'agent_id');
SELECT llm_cost.queue_anomaly_alerts((now() - interval '5 days')::date, ARRAY['agent_id']) AS anomaly_alerts_queued;

\echo
\echo '== Recommendations: cheaper models for small calls (llm_cost.recommendations)'
SELECT what, '$' || monthly_saving AS saving_per_month FROM llm_cost.recommendations();

\echo
\echo '== Export: CSV for a spreadsheet (first lines of COPY ... TO STDOUT WITH CSV HEADER)'
COPY (SELECT * FROM llm_cost.usage_export ORDER BY id DESC LIMIT 3) TO STDOUT WITH CSV HEADER;

\echo
\echo '== The report'
\pset format unaligned
\pset tuples_only on
\o :report_path
SELECT llm_cost.report_html(now() - interval '30 days', now());
\o
\pset format aligned
\pset tuples_only off
\echo 'wrote the HTML report to' :report_path
