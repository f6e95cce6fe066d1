-- report_html(from, to): one self-contained HTML page (inline CSS and SVG, no
-- scripts, no external assets) a person can open or mail: totals and trend, a
-- daily cost chart, breakdowns, budgets with their forecast, anomalies and
-- recommendations. Every value from the ledger is HTML-escaped.

CREATE FUNCTION llm_cost._html(value anyelement) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(coalesce(value::text, '—'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION llm_cost._html(anyelement) IS 'Internal: a value as escaped HTML text (NULL as a dash).';

CREATE FUNCTION llm_cost._money(amount numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN amount IS NULL THEN '—'
                WHEN abs(amount) >= 100 THEN to_char(amount, 'FM999,999,999,990')
                WHEN abs(amount) >= 1 THEN to_char(amount, 'FM999,990.00')
                ELSE to_char(amount, 'FM0.0000') END
$$;
COMMENT ON FUNCTION llm_cost._money(numeric) IS 'Internal: an amount rounded for reading (the exact figure is in the ledger).';

-- A breakdown table with a proportional bar per row.
CREATE FUNCTION llm_cost._report_breakdown(title text, dimension text, from_time timestamptz, to_time timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('<section><h2>%s</h2><table><tr><th>%s</th><th class="n">cost</th><th class="n">calls</th><th class="n">share</th><th></th></tr>%s</table></section>',
                  llm_cost._html(title), llm_cost._html(dimension),
                  coalesce(string_agg(format('<tr><td>%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s%%</td><td><div class="bar" style="width:%spx"></div></td></tr>',
                                             llm_cost._html(b.value), llm_cost._money(b.cost), b.calls,
                                             coalesce(b.share, 0), round(2 * coalesce(b.share, 0))), '' ORDER BY b.cost DESC),
                           '<tr><td colspan="5">no calls</td></tr>'))
      FROM (SELECT * FROM llm_cost.cost_by(dimension, from_time, to_time) LIMIT 10) AS b
$$;
COMMENT ON FUNCTION llm_cost._report_breakdown(text, text, timestamptz, timestamptz) IS 'Internal: the top 10 of a dimension as an HTML table.';

-- Daily cost as an SVG bar chart.
CREATE FUNCTION llm_cost._report_daily_chart(from_time timestamptz, to_time timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT d::date AS day, coalesce(f.cost, 0) AS cost
          FROM generate_series(llm_cost._utc_day(from_time), llm_cost._utc_day(to_time - interval '1 microsecond'), interval '1 day') AS d
          LEFT JOIN (SELECT x.day, sum(x.cost) AS cost FROM llm_cost.usage_facts(from_time, to_time) AS x GROUP BY x.day) AS f
            ON f.day = d::date
    ), scaled AS (
        SELECT day, cost, row_number() OVER (ORDER BY day) - 1 AS i, count(*) OVER () AS n,
               greatest(max(cost) OVER (), 0.000001) AS top
          FROM days
    )
    SELECT format('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 820 240" width="820" height="240" role="img" aria-label="daily cost">'
                  '<line x1="40" y1="200" x2="810" y2="200" stroke="#888"/>'
                  '<text x="36" y="24" text-anchor="end" font-size="11">%s</text>'
                  '<text x="36" y="204" text-anchor="end" font-size="11">0</text>%s'
                  '<text x="40" y="220" font-size="11">%s</text><text x="810" y="220" text-anchor="end" font-size="11">%s</text></svg>',
                  llm_cost._money(max(top)),
                  string_agg(format('<rect x="%s" y="%s" width="%s" height="%s" fill="#3b6fd8"><title>%s: %s</title></rect>',
                                    round(40 + i * 770.0 / n, 2), round(200 - 180 * cost / top, 2),
                                    greatest(round(770.0 / n - 2, 2), 1), round(180 * cost / top, 2),
                                    day, llm_cost._money(cost)), '' ORDER BY day),
                  min(day), max(day))
      FROM scaled
$$;
COMMENT ON FUNCTION llm_cost._report_daily_chart(timestamptz, timestamptz) IS 'Internal: daily cost in a window as an inline SVG bar chart.';

CREATE FUNCTION llm_cost.report_html(from_time timestamptz DEFAULT now() - interval '30 days',
                                     to_time timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s record;
    prev numeric;
    body text;
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'report_html');
    IF to_time <= from_time OR to_time - from_time > interval '400 days' THEN
        RAISE EXCEPTION 'llm_cost.report_html: from_time must be before to_time, at most 400 days apart'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO s FROM llm_cost.cost_summary(from_time, to_time);
    SELECT total_cost INTO prev FROM llm_cost.cost_summary(from_time - (to_time - from_time), from_time);
    body := format(
        '<header><h1>LLM cost report</h1><p>%s to %s (UTC)</p></header>'
        '<section class="cards">'
        '<div class="card"><span>total cost</span><b>%s</b></div>'
        '<div class="card"><span>calls</span><b>%s</b><small>%s failed</small></div>'
        '<div class="card"><span>cost per call</span><b>%s</b></div>'
        '<div class="card"><span>latency</span><b>%s ms</b><small>p95 %s ms</small></div>'
        '<div class="card"><span>vs the period before</span><b>%s</b><small>%s before</small></div>'
        '</section>'
        '<section><h2>Daily cost</h2>%s</section>',
        llm_cost._html(to_char(from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')),
        llm_cost._html(to_char(to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')),
        llm_cost._money(s.total_cost), s.calls, s.failed_calls, llm_cost._money(s.cost_per_call),
        llm_cost._html(s.avg_latency_ms), llm_cost._html(s.p95_latency_ms),
        CASE WHEN prev IS NULL OR prev = 0 THEN 'new'
             ELSE format('%s%s%%', CASE WHEN s.total_cost >= prev THEN '+' ELSE '' END,
                         round(100 * (s.total_cost - prev) / prev, 1)) END,
        llm_cost._money(prev),
        llm_cost._report_daily_chart(from_time, to_time));
    body := body || '<div class="grid">'
        || llm_cost._report_breakdown('By provider', 'provider', from_time, to_time)
        || llm_cost._report_breakdown('By model', 'model', from_time, to_time)
        || llm_cost._report_breakdown('By agent', 'agent_id', from_time, to_time)
        || llm_cost._report_breakdown('By user', 'user_id', from_time, to_time)
        || '</div>';
    body := body || (
        SELECT format('<section><h2>Budgets</h2><table><tr><th>budget</th><th>for</th><th class="n">spent</th><th class="n">amount</th><th class="n">used</th><th class="n">forecast</th><th>runs out</th><th>status</th></tr>%s</table></section>',
                      coalesce(string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s%%</td><td class="n">%s</td><td>%s</td><td>%s</td></tr>',
                                                 b.status, llm_cost._html(b.name), llm_cost._html(b.per_value),
                                                 llm_cost._money(b.spent), llm_cost._money(b.amount), b.percent_used,
                                                 llm_cost._money(b.forecast),
                                                 llm_cost._html(to_char(b.exhausts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')),
                                                 llm_cost._html(b.status)), '' ORDER BY b.percent_used DESC),
                               '<tr><td colspan="8">no budgets</td></tr>'))
          FROM (SELECT * FROM llm_cost.budget_status_at(to_time) ORDER BY percent_used DESC LIMIT 20) AS b);
    body := body || (
        SELECT format('<section><h2>Anomalies</h2><table><tr><th>day</th><th>scope</th><th class="n">spend</th><th class="n">expected</th><th class="n">score</th></tr>%s</table></section>',
                      coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td></tr>',
                                                 a.day, llm_cost._html(a.scope), llm_cost._money(a.spend),
                                                 llm_cost._money(a.expected), a.score), '' ORDER BY abs(a.score) DESC),
                               '<tr><td colspan="5">none found</td></tr>'))
          FROM (SELECT * FROM (SELECT x.day, 'total' AS scope, x.spend, x.expected, x.score
                                 FROM llm_cost.anomalies(from_time, to_time) AS x
                               UNION ALL
                               SELECT x.day, 'agent ' || coalesce(x.value, '(none)'), x.spend, x.expected, x.score
                                 FROM llm_cost.anomalies(from_time, to_time, 'agent_id') AS x) AS y
                 ORDER BY abs(y.score) DESC LIMIT 10) AS a);
    body := body || (
        SELECT format('<section><h2>Recommendations</h2><table><tr><th>what</th><th>why</th><th class="n">saving / month</th></tr>%s</table></section>',
                      coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td class="n">%s</td></tr>',
                                                 llm_cost._html(r.what), llm_cost._html(r.why),
                                                 llm_cost._money(r.monthly_saving)), '' ORDER BY r.monthly_saving DESC),
                               '<tr><td colspan="3">none</td></tr>'))
          FROM (SELECT * FROM llm_cost.recommendations(from_time, to_time) LIMIT 10) AS r);
    RETURN '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>LLM cost report</title>'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}'
        || 'h1{margin:0}h2{font-size:16px;margin:24px 0 8px}header p{color:#667;margin:4px 0 16px}'
        || '.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1;min-width:150px;border:1px solid #dde;border-radius:8px;padding:10px 14px}'
        || '.card span{display:block;color:#667;font-size:12px}.card b{font-size:22px}.card small{display:block;color:#667}'
        || 'table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef}'
        || '.n{text-align:right;font-variant-numeric:tabular-nums}.bar{height:10px;background:#3b6fd8;border-radius:2px}'
        || '.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:0 24px}'
        || 'tr.exceeded td{background:#fde8e8}tr.warning td{background:#fff6dd}</style></head><body>'
        || body
        || format('<footer><p>Generated by llm_cost at %s UTC. Amounts are rounded for reading; the ledger keeps them exact.</p></footer>',
                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
        || '</body></html>';
END $$;
COMMENT ON FUNCTION llm_cost.report_html(timestamptz, timestamptz) IS
  'A self-contained HTML page (inline CSS and SVG, no scripts or external assets) for [from_time, to_time): totals and trend against the period before, a daily cost chart, the top providers, models, agents and users, budgets with their forecast, top anomalies and recommendations. psql: \pset format unaligned \pset tuples_only on \o report.html SELECT llm_cost.report_html();';
