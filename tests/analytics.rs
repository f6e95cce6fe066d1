//! Analytics over real connections: the dashboard functions equal a raw
//! GROUP BY over the ledger before and after rollups are refreshed, after late
//! rows, reprices, deletes and truncation; exports round-trip exactly.

mod common;

use common::{rows, sqlstate, TestCluster, RAW_COST_SUMMARY};
use std::io::Read;

fn one<T: for<'a> postgres::types::FromSql<'a>>(c: &mut postgres::Client, sql: &str) -> T {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

const WINDOWS: [(&str, &str); 3] = [
    ("2026-03-01 00:00+00", "2026-04-01 00:00+00"), // whole days
    ("2026-03-03 07:30+00", "2026-03-20 16:45+00"), // partial days at both edges
    ("2026-03-10 01:00+00", "2026-03-10 05:00+00"), // inside one day
];

/// Every dashboard answer equals the same question asked of the raw ledger.
fn assert_matches_raw(c: &mut postgres::Client, when: &str) {
    for (from, to) in WINDOWS {
        let w = format!("occurred_at >= '{from}' AND occurred_at < '{to}'");
        let summary = rows(
            c,
            &format!(
                "SELECT trim_scale(total_cost), calls, successful_calls, failed_calls, input_tokens, output_tokens,
                        avg_latency_ms, p95_latency_ms, trim_scale(cost_per_call), unpriced_calls
                   FROM llm_cost.cost_summary('{from}', '{to}')"
            ),
        );
        let raw = rows(c, &format!("SELECT {RAW_COST_SUMMARY} FROM llm_cost.usage WHERE {w}"));
        assert_eq!(summary, raw, "cost_summary {from}..{to} {when}");
        for dim in ["provider", "model", "tenant_id", "project_id", "user_id", "agent_id", "operation"] {
            // cost: of the priced calls, NULL when none is (sum's own rule)
            let by = rows(
                c,
                &format!(
                    "SELECT value, trim_scale(cost), calls, input_tokens, output_tokens, unpriced_calls
                       FROM llm_cost.cost_by('{dim}', '{from}', '{to}') ORDER BY value"
                ),
            );
            let raw = rows(
                c,
                &format!(
                    "SELECT {dim}, trim_scale(sum(cost)), count(*), sum(input_tokens)::numeric, sum(output_tokens)::numeric,
                            count(*) - count(cost)
                       FROM llm_cost.usage WHERE {w} GROUP BY 1 ORDER BY 1"
                ),
            );
            assert_eq!(by, raw, "cost_by {dim} {from}..{to} {when}");
            let daily = rows(
                c,
                &format!(
                    "SELECT day, value, trim_scale(cost), calls, unpriced_calls
                       FROM llm_cost.daily_cost_by('{dim}', '{from}', '{to}') ORDER BY 1, 2"
                ),
            );
            let raw = rows(
                c,
                &format!(
                    "SELECT (occurred_at AT TIME ZONE 'UTC')::date, {dim}, trim_scale(sum(cost)), count(*), count(*) - count(cost)
                       FROM llm_cost.usage WHERE {w} GROUP BY 1, 2 ORDER BY 1, 2"
                ),
            );
            assert_eq!(daily, raw, "daily_cost_by {dim} {from}..{to} {when}");
        }
    }
    // daily_costs row by row: one row per day and key (whether its day has
    // rows not rolled up yet or not), each equal to the raw group's
    let daily = rows(
        c,
        "SELECT \"time\", day, provider, model, tenant_id, project_id, user_id, agent_id, calls, failed_calls,
                input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, trim_scale(cost), unpriced_calls
           FROM llm_cost.daily_costs
          WHERE day BETWEEN '2026-02-27' AND '2026-04-02' ORDER BY 2, 3, 4, 5, 6, 7, 8",
    );
    let raw = rows(
        c,
        "SELECT date_trunc('day', occurred_at, 'UTC'), (occurred_at AT TIME ZONE 'UTC')::date, provider, model,
                tenant_id, project_id, user_id, agent_id, count(*), count(*) FILTER (WHERE NOT success),
                sum(input_tokens)::numeric, sum(output_tokens)::numeric, sum(cached_input_tokens)::numeric,
                sum(reasoning_tokens)::numeric, trim_scale(sum(cost)), count(*) - count(cost)
           FROM llm_cost.usage WHERE occurred_at >= '2026-02-27' AND occurred_at < '2026-04-03'
          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 2, 3, 4, 5, 6, 7, 8",
    );
    if daily != raw {
        let only_ours: Vec<_> = daily.iter().filter(|r| !raw.contains(r)).take(5).collect();
        let only_raw: Vec<_> = raw.iter().filter(|r| !daily.contains(r)).take(5).collect();
        panic!(
            "daily_costs {when}: {} vs {} rows; only in ours {only_ours:?}; only in raw {only_raw:?}",
            daily.len(),
            raw.len()
        );
    }
}

#[test]
fn dashboards_equal_a_raw_group_by_through_refreshes_and_corrections() {
    let cluster = TestCluster::start("analytics_exact", &[]);
    let mut c = cluster.database_with_extension("analytics");
    // 40 days of calls every 37 minutes, across models, users, agents, failures and latencies
    let generate = |from: &str, to: &str| {
        format!(
            "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, success,
                                         tenant_id, project_id, user_id, agent_id, operation)
             SELECT t, 'openai', CASE WHEN g % 29 = 0 THEN 'house-model-unpriced' ELSE (ARRAY['gpt-4o', 'gpt-4o-mini', 'o3-mini'])[1 + g % 3] END,
                    100 + g % 900, 20 + g % 300,
                    CASE WHEN g % 11 = 0 THEN NULL ELSE 50 + (g * 7919) % 3000 END, g % 13 <> 0,
                    't' || g % 2, CASE WHEN g % 5 = 0 THEN NULL ELSE 'p' || g % 3 END, 'u' || g % 7,
                    'a' || g % 4, (ARRAY['chat', 'embed', NULL])[1 + g % 3]
               FROM generate_series('{from}'::timestamptz, '{to}'::timestamptz, '37 minutes') WITH ORDINALITY AS s (t, g)"
        )
    };
    c.batch_execute(&generate("2026-02-25", "2026-04-05")).unwrap();
    c.batch_execute("SET client_min_messages = error").unwrap(); // the unpriced calls' warnings
                                                                 // before any refresh the whole ledger is backlog: read with a plain scan
    assert!(one::<bool>(&mut c, "SELECT llm_cost._read_ledger('2026-03-01', '2026-04-01')"));
    assert_matches_raw(&mut c, "before any refresh");
    // (the maintenance worker may have rolled up some or all of it already)
    c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    assert!(one::<bool>(&mut c, "SELECT llm_cost.rollup_watermark() = max(id) FROM llm_cost.usage"), "all rolled up");
    assert!(one::<i64>(&mut c, "SELECT count(*) FROM llm_cost.usage_daily") > 0);
    assert!(!one::<bool>(&mut c, "SELECT llm_cost._read_ledger('2026-03-01', '2026-04-01')"));
    // a model without a price: NULL cost, never 0, and its calls counted as unpriced
    assert!(one::<bool>(
        &mut c,
        "SELECT cost IS NULL AND unpriced_calls = calls AND calls > 0
           FROM llm_cost.cost_by('model', '2026-03-01', '2026-04-01') WHERE value = 'house-model-unpriced'"
    ));
    assert!(one::<bool>(
        &mut c,
        "SELECT bool_and(cost IS NULL AND unpriced_calls = calls) FROM llm_cost.daily_costs WHERE model = 'house-model-unpriced'"
    ));
    assert!(one::<bool>(
        &mut c,
        "SELECT bool_and(cost IS NULL AND unpriced_calls = calls) FROM llm_cost.monthly_costs WHERE model = 'house-model-unpriced'"
    ));
    assert_matches_raw(&mut c, "after a refresh");
    assert_eq!(one::<i64>(&mut c, "SELECT llm_cost.refresh_rollups()"), 0, "nothing new to roll up");
    // the rollups hold one row per dimension's value, never one per user and model and agent
    let per_user_rows: i64 =
        one(&mut c, "SELECT count(*) FROM llm_cost.usage_rollup WHERE dimension = 'user_id' AND grain = 'day'");
    let user_days: i64 = one(
        &mut c,
        "SELECT count(DISTINCT (tenant_id, user_id, (occurred_at AT TIME ZONE 'UTC')::date)) FROM llm_cost.usage",
    );
    assert_eq!(per_user_rows, user_days, "one user_id row per tenant, user and day");
    assert_eq!(
        one::<i64>(
            &mut c,
            "SELECT count(*) FROM llm_cost.usage_rollup WHERE dimension IN ('user_id', 'agent_id') AND grain = 'hour'"
        ),
        0
    );

    // late rows with an old occurred_at, not rolled up yet
    c.batch_execute(&generate("2026-03-05 03:00", "2026-03-12")).unwrap();
    // the late rows are more than a third of the calls rolled up for the
    // partial-day window's whole days (a plain scan of the ledger answers
    // it), and less for the month's (rollups plus the late rows)
    assert!(one::<bool>(&mut c, "SELECT llm_cost._read_ledger('2026-03-03 07:30+00', '2026-03-20 16:45+00')"));
    assert!(!one::<bool>(&mut c, "SELECT llm_cost._read_ledger('2026-03-01', '2026-04-01')"));
    assert_matches_raw(&mut c, "with late rows in the tail");
    // corrections of rolled-up rows: reprice, a manual fix, deletes
    c.batch_execute("SELECT llm_cost.set_price('openai', 'gpt-4o-mini', 0.2, 0.8, valid_from => '2026-03-01')")
        .unwrap();
    c.batch_execute("SELECT llm_cost.reprice('2026-03-01', '2026-03-15')").unwrap();
    c.batch_execute("UPDATE llm_cost.usage SET latency_ms = latency_ms + 1, success = NOT success WHERE id % 17 = 0")
        .unwrap();
    c.batch_execute(
        "UPDATE llm_cost.usage SET occurred_at = occurred_at - interval '3 days', user_id = 'moved' WHERE id % 23 = 0",
    )
    .unwrap();
    c.batch_execute("DELETE FROM llm_cost.usage WHERE id % 19 = 0").unwrap();
    assert_matches_raw(&mut c, "after reprice, updates and deletes");
    // the backlog in small batches, each committed on its own
    c.batch_execute("CALL llm_cost.refresh_rollups_in_batches(97)").unwrap();
    assert!(one::<bool>(&mut c, "SELECT llm_cost.rollup_watermark() >= max(id) FROM llm_cost.usage"), "all rolled up");
    assert_matches_raw(&mut c, "after corrections and a second refresh");
    // a correction rolled back leaves the rollups as they were
    c.batch_execute("BEGIN; DELETE FROM llm_cost.usage WHERE user_id = 'u1'; ROLLBACK").unwrap();
    assert_matches_raw(&mut c, "after a rolled-back delete");

    // the trend compares the last days with the days before
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost)
         SELECT now() - interval '1 day' * g / 10, 'x', 'y', CASE WHEN g < 70 THEN 2 ELSE 1 END
           FROM generate_series(0, 139) g",
    )
    .unwrap();
    let trend =
        rows(&mut c, "SELECT current_cost, previous_cost, percent_change, direction FROM llm_cost.cost_trend(7)");
    let raw = rows(
        &mut c,
        "SELECT cur, prev, round(100 * (cur - prev) / prev, 2), CASE WHEN cur > prev THEN 'up' ELSE 'down' END
           FROM (SELECT sum(cost) FILTER (WHERE occurred_at >= now() - interval '7 days') AS cur,
                        sum(cost) FILTER (WHERE occurred_at < now() - interval '7 days' AND occurred_at >= now() - interval '14 days') AS prev
                   FROM llm_cost.usage WHERE occurred_at < now()) AS s",
    );
    assert_eq!(trend, raw);
    assert!(trend[0].contains(",up)"), "more spend lately is a trend up: {trend:?}");

    // truncation empties the rollups and new rows count again from scratch
    c.batch_execute("TRUNCATE llm_cost.usage RESTART IDENTITY").unwrap();
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM llm_cost.usage_daily"), 0);
    c.batch_execute(&generate("2026-03-01", "2026-03-04")).unwrap();
    assert_matches_raw(&mut c, "after TRUNCATE RESTART IDENTITY");
    c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    assert_matches_raw(&mut c, "after TRUNCATE and a refresh");

    // bad input
    let err = c
        .query("SELECT * FROM llm_cost.cost_by('cost; DROP TABLE x', now() - interval '1 day', now())", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
    let err = c.query("SELECT * FROM llm_cost.cost_trend(0)", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
    let err = c.query("SELECT llm_cost.histogram_percentile('{1,2,3}', 0.5)", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
}

#[test]
fn latency_histogram_aggregates_match_percentile_disc_in_parallel() {
    let cluster = TestCluster::start("analytics_hist", &[]);
    let mut c = cluster.database_with_extension("hist");
    c.batch_execute(
        "CREATE TABLE lat AS SELECT ((g::bigint * 7919) % 5000)::int AS ms, g % 10 AS grp FROM generate_series(1, 300000) g;
         ANALYZE lat;",
    )
    .unwrap();
    // force a parallel plan so the combine, serialize and deserialize functions run
    c.batch_execute(
        "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
         SET max_parallel_workers_per_gather = 2;",
    )
    .unwrap();
    let plan: Vec<String> = c
        .query("EXPLAIN SELECT llm_cost.latency_histogram(ms) FROM lat", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(plan.iter().any(|l| l.contains("Partial Aggregate")), "expected a parallel plan: {plan:?}");
    for fraction in ["0", "0.5", "0.95", "0.999", "1"] {
        let ours: i32 = one(
            &mut c,
            &format!("SELECT llm_cost.histogram_percentile(llm_cost.latency_histogram(ms), {fraction}) FROM lat"),
        );
        let theirs: i32 =
            one(&mut c, &format!("SELECT percentile_disc({fraction}) WITHIN GROUP (ORDER BY ms) FROM lat"));
        assert_eq!(ours, theirs, "p{fraction}");
    }
    // merging per-group histograms gives the histogram of the whole
    let merged: bool = one(
        &mut c,
        "SELECT llm_cost.latency_histogram_merge(h) = (SELECT llm_cost.latency_histogram(ms) FROM lat)
           FROM (SELECT llm_cost.latency_histogram(ms) AS h FROM lat GROUP BY grp) AS g",
    );
    assert!(merged);
    let mean: bool = one(&mut c, "SELECT llm_cost.histogram_mean(llm_cost.latency_histogram(ms)) = avg(ms) FROM lat");
    assert!(mean, "histogram_mean equals avg");
    // the forecasting and anomaly aggregates give the same answer in parallel (serialize,
    // deserialize and combine run) as in one process
    let queries = [
        "SELECT llm_cost.spend_forecast(date '2026-01-01' + (ms % 60), (ms % 97)::numeric, date '2026-03-02', 10)::text FROM lat",
        "SELECT llm_cost.anomaly_scan(date '2026-01-01' + (ms % 60), CASE WHEN ms % 60 = 45 THEN 50 ELSE 1 END, date '2026-01-20', date '2026-03-01', 3.5)::text FROM lat",
    ];
    for q in queries {
        let plan: Vec<String> = c.query(&format!("EXPLAIN {q}"), &[]).unwrap().iter().map(|r| r.get(0)).collect();
        assert!(plan.iter().any(|l| l.contains("Partial Aggregate")), "expected a parallel plan: {plan:?}");
        let parallel: String = one(&mut c, q);
        c.batch_execute("SET max_parallel_workers_per_gather = 0").unwrap();
        let serial: String = one(&mut c, q);
        c.batch_execute("SET max_parallel_workers_per_gather = 2").unwrap();
        assert_eq!(parallel, serial, "{q}");
        assert!(parallel.len() > 20, "{parallel}");
    }
}

#[test]
fn csv_and_json_exports_equal_the_ledger() {
    let cluster = TestCluster::start("analytics_export", &[]);
    let mut c = cluster.database_with_extension("export");
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, user_id, tags)
         SELECT '2026-03-01 12:00:00.123456+00'::timestamptz + g * interval '1 hour', 'anthropic', 'claude-3-5-sonnet-20241022',
                g * 1000, g * 10, g, 'user, \"quoted\" ' || g, jsonb_build_object('k', g)
           FROM generate_series(1, 50) g;
         INSERT INTO llm_cost.usage (provider, model, cost, occurred_at) VALUES ('x', 'y', 0.000000000001, '2026-03-02');",
    )
    .unwrap();
    let mut csv = String::new();
    c.copy_out("COPY (SELECT * FROM llm_cost.usage_export ORDER BY id) TO STDOUT WITH CSV HEADER")
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    // load it back into a table of the same shape and compare with the ledger
    c.batch_execute("CREATE TEMP TABLE back (LIKE llm_cost.usage_export)").unwrap();
    let mut writer = c.copy_in("COPY back FROM STDIN WITH CSV HEADER").unwrap();
    std::io::Write::write_all(&mut writer, csv.as_bytes()).unwrap();
    writer.finish().unwrap();
    let differ: i64 = one(
        &mut c,
        "SELECT count(*) FROM back b FULL JOIN llm_cost.usage u ON u.id = b.id
          WHERE b.id IS NULL OR u.id IS NULL
             OR b.cost IS DISTINCT FROM u.cost OR b.occurred_at::timestamptz <> u.occurred_at
             OR b.user_id IS DISTINCT FROM u.user_id OR b.tags::jsonb IS DISTINCT FROM u.tags
             OR b.input_tokens <> u.input_tokens",
    );
    assert_eq!(differ, 0, "CSV export parsed back differs from the ledger");
    assert!(csv.lines().next().unwrap().starts_with("id,occurred_at,provider,model,"), "stable header");
    assert!(csv.contains("2026-03-01T13:00:00.123456Z"), "ISO timestamps");
    assert!(csv.contains("0.000000000001"), "exact decimals");

    let json_exact: bool = one(
        &mut c,
        "SELECT (SELECT sum((e->>'cost')::numeric) FROM jsonb_array_elements(llm_cost.export_json('2026-03-01', '2026-03-04')->'calls') e)
                = (SELECT sum(cost) FROM llm_cost.usage WHERE occurred_at >= '2026-03-01' AND occurred_at < '2026-03-04')",
    );
    assert!(json_exact, "export_json costs sum to the ledger's");
    let calls: i64 =
        one(&mut c, "SELECT jsonb_array_length(llm_cost.export_json('2026-03-01', '2026-03-02')->'calls')::bigint");
    assert_eq!(calls, 11, "half-open window: 01 12:00 + 1..11 hours");
}

/// Daily spend with a known upward trend and quiet weekends, from 2026-03-01.
const GENERATED_DAY_COST: &str =
    "(100 + 2 * (d - date '2026-03-01')) * CASE WHEN extract(isodow FROM d) IN (6, 7) THEN 0.35 ELSE 1.15 END
                                  * (0.9 + ((d - date '2026-03-01') * 7919 % 200) / 1000.0)";

#[test]
fn forecasts_beat_the_naive_projection_and_show_in_budget_status() {
    let cluster = TestCluster::start("analytics_forecast", &[]);
    let mut c = cluster.database_with_extension("forecast");
    c.batch_execute(&format!(
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('acme month', 8000, 'month', 'acme');
         INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('acme small', 2500, 'month', 'acme');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id)
         SELECT d + time '12:00', 'x', 'y', round({GENERATED_DAY_COST}, 6), 'acme'
           FROM generate_series(date '2026-03-01', date '2026-05-10', '1 day') AS g (d0), LATERAL (SELECT d0::date AS d) AS x;
         SELECT llm_cost.refresh_rollups();"
    ))
    .unwrap();
    let at = "2026-05-11 00:00+00";
    let (forecast, low, high, spent, exhausts): (String, String, String, String, Option<String>) = {
        let r = c
            .query_one(
                &format!("SELECT forecast::text, forecast_low::text, forecast_high::text, spent::text, exhausts_at::text FROM llm_cost.forecast(1, '{at}')"),
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
    };
    let f: f64 = forecast.parse().unwrap();
    let (lo, hi): (f64, f64) = (low.parse().unwrap(), high.parse().unwrap());
    let spent: f64 = spent.parse().unwrap();
    let actual: f64 = one::<String>(
        &mut c,
        &format!(
            "SELECT ({spent} + sum(round({GENERATED_DAY_COST}, 6)))::text
               FROM generate_series(date '2026-05-11', date '2026-05-31', '1 day') AS g (d0), LATERAL (SELECT d0::date AS d) AS x"
        ),
    )
    .parse()
    .unwrap();
    let naive = spent / 10.0 * 31.0;
    println!("month-end: actual {actual:.2}, forecast {f:.2} [{lo:.2}, {hi:.2}], naive {naive:.2}");
    assert!((f - actual).abs() < (naive - actual).abs() / 2.0, "forecast {f} vs naive {naive}, actual {actual}");
    assert!(lo <= f && f <= hi);
    assert!(exhausts.is_none(), "8000 is not reached this month: {exhausts:?}");

    // the smaller budget runs out this month, and budget_status says when
    let when: String =
        one(&mut c, &format!("SELECT exhausts_at::text FROM llm_cost.budget_status_at('{at}') WHERE budget_id = 2"));
    assert!(when.starts_with("2026-05-"), "exhausts_at {when}");
    let status: String = one(
        &mut c,
        &format!("SELECT (forecast > amount)::text FROM llm_cost.budget_status_at('{at}') WHERE budget_id = 2"),
    );
    assert_eq!(status, "true");

    // forecast_spend for a scope, and nothing for a scope without history
    let week: String = one(
        &mut c,
        &format!("SELECT expected::text FROM llm_cost.forecast_spend('7 days', tenant_id => 'acme', at => '{at}')"),
    );
    let week: f64 = week.parse().unwrap();
    let actual_week: f64 = one::<String>(
        &mut c,
        &format!(
            "SELECT sum(round({GENERATED_DAY_COST}, 6))::text
               FROM generate_series(date '2026-05-11', date '2026-05-17', '1 day') AS g (d0), LATERAL (SELECT d0::date AS d) AS x"
        ),
    )
    .parse()
    .unwrap();
    assert!((week - actual_week).abs() / actual_week < 0.1, "next 7 days: {week} vs {actual_week}");
    let none: Option<String> = one(
        &mut c,
        &format!("SELECT expected::text FROM llm_cost.forecast_spend('7 days', tenant_id => 'nobody', at => '{at}')"),
    );
    assert_eq!(none, None, "no history, no forecast");
    let err = c.query("SELECT * FROM llm_cost.forecast(999)", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
    let err = c.query("SELECT * FROM llm_cost.forecast_spend('-1 day')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
}

#[test]
fn anomalies_find_every_planted_spike_and_no_false_alarm() {
    let cluster = TestCluster::start("analytics_anomaly", &[]);
    let mut c = cluster.database_with_extension("anomaly");
    // 10 weeks from Monday 2026-01-05 for two agents: weekdays ~100, weekends ~30, ±10%
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, agent_id)
         SELECT d + time '09:00', 'x', 'y',
                round(CASE WHEN extract(isodow FROM d) IN (6, 7) THEN 30 ELSE 100 END
                      * (0.9 + (((d - date '2026-01-05') * 7919 + a * 13) % 101) / 500.0), 4),
                'a' || a
           FROM generate_series(date '2026-01-05', date '2026-03-15', '1 day') AS g (d0),
                LATERAL (SELECT d0::date AS d) AS x, generate_series(1, 2) AS a;
         -- planted: a spike, a Saturday at a weekday level, a drop to nothing
         UPDATE llm_cost.usage SET cost = cost * 4 WHERE agent_id = 'a1' AND occurred_at::date = '2026-02-18';
         UPDATE llm_cost.usage SET cost = 100 WHERE agent_id = 'a2' AND occurred_at::date = '2026-02-28';
         UPDATE llm_cost.usage SET cost = 0 WHERE agent_id = 'a1' AND occurred_at::date = '2026-03-04';
         SELECT llm_cost.refresh_rollups();",
    )
    .unwrap();
    let found = rows(
        &mut c,
        "SELECT day, value, direction FROM llm_cost.anomalies('2026-01-19', '2026-03-16', 'agent_id') ORDER BY day",
    );
    assert_eq!(
        found,
        vec!["(2026-02-18,a1,spike)", "(2026-02-28,a2,spike)", "(2026-03-04,a1,drop)"],
        "exactly the planted anomalies"
    );
    let total =
        rows(&mut c, "SELECT day FROM llm_cost.anomalies('2026-01-19', '2026-03-16') WHERE direction = 'spike'");
    assert!(total.contains(&"(2026-02-18)".to_string()), "the big spike shows in total spend: {total:?}");
    // alerts: once per day, dimension and value, however often it runs
    let queued: i32 = one(&mut c, "SELECT llm_cost.queue_anomaly_alerts('2026-02-18', ARRAY['agent_id'])");
    assert_eq!(queued, 1);
    let again: i32 = one(&mut c, "SELECT llm_cost.queue_anomaly_alerts('2026-02-18', ARRAY['agent_id'])");
    assert_eq!(again, 0);
    let kinds = rows(&mut c, "SELECT kind, payload->>'per_value', payload->>'direction' FROM llm_cost.notifications");
    assert_eq!(kinds, vec!["(anomaly,a1,spike)"]);
    let err = c.query("SELECT * FROM llm_cost.anomalies(dimension => 'cost')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
}

#[test]
fn recommendations_price_cheaper_models_that_can_do_the_same() {
    let cluster = TestCluster::start("analytics_recommend", &[]);
    let mut c = cluster.database_with_extension("recommend");
    c.batch_execute(
        "-- small gpt-4o calls (recommendable), and large ones (not)
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, cached_input_tokens)
         SELECT now() - g * interval '1 hour', 'openai', 'gpt-4o', 300 + g, 80 + g % 50, CASE WHEN g % 4 = 0 THEN 100 ELSE 0 END
           FROM generate_series(1, 200) g;
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens)
         SELECT now() - g * interval '1 hour', 'openai', 'gpt-4o', 20000, 3000 FROM generate_series(1, 20) g;
         -- a provider of our own: the cheapest sibling lacks vision, so the one with vision is suggested
         SELECT llm_cost.set_price('acme', 'big', 10, 30, valid_from => '2020-01-01');
         SELECT llm_cost.set_price('acme', 'small-novision', 0.1, 0.3, valid_from => '2020-01-01');
         SELECT llm_cost.set_price('acme', 'small-vision', 1, 3, valid_from => '2020-01-01');
         INSERT INTO llm_cost.models (provider, model, mode, max_input_tokens, max_output_tokens, supports_vision) VALUES
             ('acme', 'big', 'chat', 100000, 8000, true),
             ('acme', 'small-novision', 'chat', 100000, 8000, false),
             ('acme', 'small-vision', 'chat', 100000, 8000, true);
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens)
         SELECT now() - g * interval '1 hour', 'acme', 'big', 1000, 200 FROM generate_series(1, 50) g;",
    )
    .unwrap();
    let recs = rows(
        &mut c,
        "SELECT provider, model, suggested_model, calls FROM llm_cost.recommendations(now() - interval '30 days', now()) ORDER BY 1",
    );
    assert!(recs.contains(&"(acme,big,small-vision,50)".to_string()), "{recs:?}");
    assert!(recs.contains(&"(openai,gpt-4o,gpt-4o-mini,200)".to_string()), "{recs:?}");
    // the saving is the ledger's cost minus the same calls priced by llm_cost() at the suggestion
    let exact: bool = one(
        &mut c,
        "SELECT r.current_cost = (SELECT sum(cost) FROM llm_cost.usage WHERE model = 'gpt-4o' AND input_tokens <= 4000)
            AND r.suggested_cost = round((SELECT sum(llm_cost.llm_cost('openai', 'gpt-4o-mini', input_tokens, output_tokens, cached_input_tokens, 0, 0))
                                            FROM llm_cost.usage WHERE model = 'gpt-4o' AND input_tokens <= 4000), 10)
            AND r.saving = r.current_cost - r.suggested_cost
            AND r.monthly_saving = round(r.saving, 2)
           FROM llm_cost.recommendations(now() - interval '30 days', now()) AS r WHERE r.model = 'gpt-4o'",
    );
    assert!(exact, "saving priced exactly from the ledger and the catalog");
    let why: String = one(&mut c, "SELECT what || ' / ' || why FROM llm_cost.recommendations() WHERE model = 'big'");
    assert!(why.contains("small-vision") && why.contains("50 calls"), "{why}");
    let err = c.query("SELECT * FROM llm_cost.recommendations(now(), now() - interval '1 day')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
}

/// Renders report_html in headless Chromium (installed by scripts/setup.sh):
/// the page parses, has its sections, and the screenshot is not blank.
#[test]
fn the_html_report_renders_in_a_real_browser() {
    let cluster = TestCluster::start("analytics_report", &[]);
    let mut c = cluster.database_with_extension("report");
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('acme <b>&</b> co', 50, 'month', 'acme');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id, agent_id)
         SELECT now() - g * interval '17 minutes', 'openai', (ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + g % 2], 500 + g % 700, 100 + g % 200,
                200 + g % 900, 'acme', 'user <script>' || g % 5, 'agent-' || g % 3
           FROM generate_series(1, 2500) g;",
    )
    .unwrap();
    let html: String = one(&mut c, "SELECT llm_cost.report_html(now() - interval '30 days', now())");
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>"));
    assert!(!html.contains("<script"), "ledger values are escaped");
    assert!(html.contains("user &lt;script&gt;") && html.contains("acme &lt;b&gt;&amp;&lt;/b&gt; co"));
    for external in ["src=", "href=", "url(", "@import", "<script"] {
        assert!(!html.contains(external), "self-contained: no {external}");
    }
    let dir = std::env::temp_dir().join(format!("llm_cost_report_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let shot = dir.join("report.png");
    std::fs::write(&page, &html).unwrap();
    let chromium = |args: &[&str]| {
        std::process::Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1600"])
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium (scripts/setup.sh installs it)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(dom.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    for section in ["Daily cost", "By model", "By agent", "Budgets", "Anomalies", "Recommendations", "<svg", "<rect"] {
        assert!(dom.contains(section), "rendered page lacks {section}");
    }
    let out = chromium(&[&format!("--screenshot={}", shot.display())]);
    assert!(out.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let total = pixels.len() / channels;
    let inked = pixels.chunks(channels).filter(|p| p[..3].iter().any(|&v| v < 200)).count();
    let share = inked as f64 / total as f64;
    assert!(share > 0.02, "the screenshot is (nearly) blank: {:.2}% dark pixels", 100.0 * share);
    let blue = pixels.chunks(channels).filter(|p| p[2] > 180 && p[0] < 100).count();
    assert!(blue > 1000, "the chart's bars are drawn ({blue} blue pixels)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Grafana's PostgreSQL macros as the data source expands them, for a window.
fn expand_grafana_macros(sql: &str, from: &str, to: &str) -> String {
    let mut out = sql.replace("$__timeFrom()", &format!("'{from}'")).replace("$__timeTo()", &format!("'{to}'"));
    while let Some(start) = out.find("$__timeFilter(") {
        let end = start + out[start..].find(')').expect("closing parenthesis");
        let column = &out[start + "$__timeFilter(".len()..end];
        let expanded = format!("{column} BETWEEN '{from}' AND '{to}'");
        out.replace_range(start..=end, &expanded);
    }
    assert!(!out.contains("$__"), "a macro this test does not know: {out}");
    out
}

#[test]
fn every_query_in_the_grafana_dashboard_runs() {
    let cluster = TestCluster::start("analytics_grafana", &[]);
    let mut c = cluster.database_with_extension("grafana");
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, per) VALUES ('every agent', 5, 'month', 'agent_id');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id, agent_id)
         SELECT now() - g * interval '37 minutes', 'openai', 'gpt-4o', 800, 200, 300 + g % 500, 't' || g % 3, 'u' || g % 9, 'a' || g % 4
           FROM generate_series(1, 3000) g;
         SELECT llm_cost.refresh_rollups();",
    )
    .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/llm_cost_dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    // the dashboard's default window, as Grafana would send it
    let window = c
        .query_one(
            "SELECT to_char((now() - interval '30 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .unwrap();
    let (from, to): (String, String) = (window.get(0), window.get(1));
    let (from, to) = (from.as_str(), to.as_str());
    let mut with_rows = 0;
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            let sql = expand_grafana_macros(target["rawSql"].as_str().unwrap(), from, to);
            assert!(sql.contains("llm_cost."), "{title}: reads our views");
            let rows = c.query(sql.as_str(), &[]).unwrap_or_else(|e| panic!("panel {title:?}: {e:?}\n{sql}"));
            if target["format"] == "time_series" {
                let columns: Vec<&str> =
                    rows.first().map(|r| r.columns().iter().map(|c| c.name()).collect()).unwrap_or_default();
                assert_eq!(columns.first(), Some(&"time"), "{title}: a time series starts with a time column");
            }
            with_rows += usize::from(!rows.is_empty());
        }
    }
    assert!(with_rows >= panels.len() - 2, "most panels show data on this ledger ({with_rows} of {})", panels.len());
}

/// Refreshes running while writers have transactions in flight (holding low
/// ids while later ones commit) never skip or double-count a row.
#[test]
fn refreshes_during_concurrent_writes_stay_exact() {
    let cluster = TestCluster::start("analytics_concurrent_refresh", &[]);
    let mut c = cluster.database_with_extension("refresh");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads: Vec<std::thread::JoinHandle<()>> = (0..6)
        .map(|w| {
            let conn = cluster.conn_string("refresh");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    // a transaction that draws an id, waits, then commits after later ids
                    c.batch_execute(&format!(
                        "BEGIN;
                         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, agent_id)
                         VALUES (now() - interval '{} minutes', 'openai', 'gpt-4o', {}, 50, {}, 'w{w}');
                         SELECT pg_sleep(0.00{});
                         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, agent_id)
                         VALUES ('openai', 'gpt-4o-mini', 100, 10, 'w{w}');
                         COMMIT;",
                        i % 300,
                        100 + i,
                        i % 900,
                        i % 9
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    let refresher = {
        let conn = cluster.conn_string("refresh");
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
            }
        })
    };
    threads.push(refresher);
    std::thread::sleep(std::time::Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    let rolled: i64 = one(&mut c, "SELECT sum(calls)::bigint FROM llm_cost.usage_daily");
    let ledger: i64 = one(&mut c, "SELECT count(*) FROM llm_cost.usage");
    assert!(ledger > 200, "the writers got going ({ledger} rows)");
    assert_eq!(rolled, ledger, "every row rolled up exactly once");
    for (dimension, grain) in [("tenant_id", "hour"), ("model", "hour"), ("user_id", "day"), ("agent_id", "day")] {
        let rolled: i64 = one(
            &mut c,
            &format!(
                "SELECT sum(calls)::bigint FROM llm_cost.usage_rollup WHERE dimension = '{dimension}' AND grain = '{grain}'"
            ),
        );
        assert_eq!(rolled, ledger, "usage_rollup {dimension} per {grain}");
    }
    let same: bool = one(
        &mut c,
        "SELECT (SELECT array_agg(x::text ORDER BY x::text) FROM (SELECT value, cost, calls FROM llm_cost.cost_by('agent_id', now() - interval '1 day', now() + interval '1 hour')) x)
              = (SELECT array_agg(x::text ORDER BY x::text) FROM (SELECT agent_id, sum(cost), count(*) FROM llm_cost.usage GROUP BY 1) x)",
    );
    assert!(same, "cost_by equals the raw GROUP BY");
}

/// cost_by('tags.<key>') equals a raw GROUP BY on tags->>key over the window:
/// rows without tags, without the key or with JSON null there are the NULL
/// group; unpriced calls are counted, not summed as 0; the window is [from, to);
/// a key with a quote and a dot is one key, passed as data, never as SQL.
#[test]
fn cost_by_a_tag_equals_a_raw_group_by_on_the_ledger() {
    let cluster = TestCluster::start("analytics_tags", &[]);
    let mut c = cluster.database_with_extension("tags");
    // cost NULL on an unknown model: unpriced, kept (llm_cost.on_unpriced = warn)
    c.batch_execute(
        r#"INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, cost, tags) VALUES
             ('2026-03-09 23:59:59.999999+00', 'openai', 'gpt-4o', 1, 1, 100, '{"team": "a"}'),   -- before the window
             ('2026-03-10 00:00+00',        'openai', 'gpt-4o', 10, 2, 1.5, '{"team": "a"}'),      -- its first instant
             ('2026-03-10 06:30+00',        'openai', 'gpt-4o', 20, 4, 2.25, '{"team": "a", "it''s.team": "q"}'),
             ('2026-03-10 07:00+00',        'nobody', 'no-such-model', 30, 6, NULL, '{"team": "b", "it''s.team": "q"}'),
             ('2026-03-10 07:05+00',        'openai', 'gpt-4o', 40, 8, 0.125, '{"team": "b"}'),
             ('2026-03-10 08:00+00',        'nobody', 'no-such-model', 50, 10, NULL, '{"team": "c"}'),
             ('2026-03-10 09:00+00',        'nobody', 'no-such-model', 60, 12, NULL, '{"team": "c"}'),
             ('2026-03-10 10:00+00',        'openai', 'gpt-4o', 70, 14, 3, NULL),
             ('2026-03-10 11:00+00',        'openai', 'gpt-4o', 80, 16, 0.5, '{}'),
             ('2026-03-10 12:00+00',        'nobody', 'no-such-model', 90, 18, NULL, '{"env": "prod"}'),
             ('2026-03-10 13:00+00',        'openai', 'gpt-4o', 100, 20, 1, '{"team": null}'),
             ('2026-03-10 14:00+00',        'openai', 'gpt-4o', 110, 22, 0.75, '{"team": 5}'),
             ('2026-03-10 15:00+00',        'openai', 'gpt-4o', 120, 24, 4, '{"it''s": {"team": "nested"}}'),
             ('2026-03-10 16:00+00',        'openai', 'gpt-4o', 130, 26, 0, '["team"]'),
             ('2026-03-10 23:59:59.999999+00', 'openai', 'gpt-4o', 140, 28, 0.25, '{"team": "a"}'), -- its last instant
             ('2026-03-11 00:00+00',        'openai', 'gpt-4o', 1, 1, 100, '{"team": "a"}')        -- after: [from, to)
        "#,
    )
    .unwrap();
    let (from, to) = ("2026-03-10 00:00+00", "2026-03-11 00:00+00");
    let by_tag = |c: &mut postgres::Client, key: &str| -> Vec<String> {
        c.query(
            "SELECT t::text FROM llm_cost.cost_by('tags.' || $1, $2::text::timestamptz, $3::text::timestamptz) AS t",
            &[&key, &from, &to],
        )
        .unwrap_or_else(|e| panic!("cost_by tags.{key}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let raw = |c: &mut postgres::Client, key: &str| -> Vec<String> {
        c.query(
            "SELECT t::text FROM (
                 SELECT tags ->> $1 AS value, sum(cost) AS cost, count(*) AS calls,
                        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                        round(100 * sum(cost) / nullif(sum(sum(cost)) OVER (), 0), 2) AS share,
                        count(*) - count(cost) AS unpriced_calls
                   FROM llm_cost.usage
                  WHERE occurred_at >= $2::text::timestamptz AND occurred_at < $3::text::timestamptz
                  GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1) AS t",
            &[&key, &from, &to],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let hostile = "x'); DROP TABLE llm_cost.usage; --";
    for when in ["before a refresh", "after a refresh"] {
        for key in ["team", "it's.team", "it's", "env", "absent", hostile] {
            assert_eq!(by_tag(&mut c, key), raw(&mut c, key), "cost_by tags.{key} {when}");
        }
        // the same figures written out: most expensive first; unpriced calls
        // are counted, never summed as 0 (team c has only those: NULL cost,
        // last); the NULL group is the untagged, the key-less and the
        // JSON-null rows; a number is its text
        let team = rows(
            &mut c,
            &format!(
                "SELECT value, trim_scale(cost), calls, unpriced_calls FROM llm_cost.cost_by('tags.team', '{from}', '{to}')"
            ),
        );
        assert_eq!(team, ["(,8.5,6,1)", "(a,4,3,0)", "(5,0.75,1,0)", "(b,0.125,2,1)", "(c,,2,2)"], "{when}");
        let quoted = rows(
            &mut c,
            &format!(
                "SELECT value, trim_scale(cost), calls FROM llm_cost.cost_by('tags.it''s.team', '{from}', '{to}')"
            ),
        );
        assert_eq!(quoted, ["(,11.125,12)", "(q,2.25,2)"], "a dot is part of the key, not a path: {when}");
        // a key no row has: every call in the NULL group, like user_id for untagged calls
        let absent =
            rows(&mut c, &format!("SELECT value, calls FROM llm_cost.cost_by('tags.absent', '{from}', '{to}')"));
        let no_user = rows(&mut c, &format!("SELECT value, calls FROM llm_cost.cost_by('user_id', '{from}', '{to}')"));
        assert_eq!(absent, no_user);
        assert_eq!(absent, ["(,14)"]);
        assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM llm_cost.usage"), 16, "the hostile key was data");
        c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    }
    // an empty window has no groups
    assert!(rows(&mut c, &format!("SELECT * FROM llm_cost.cost_by('tags.team', '{to}', '{to}')")).is_empty());
    // no key: a clear 22023
    for dim in ["tags", "tags."] {
        let err = c.query("SELECT * FROM llm_cost.cost_by($1, '2026-03-10', '2026-03-11')", &[&dim]).unwrap_err();
        assert_eq!(sqlstate(&err), "22023", "{dim}");
        let msg = err.as_db_error().unwrap();
        assert!(msg.message().contains("names no tag key"), "{dim}: {}", msg.message());
        assert!(msg.hint().unwrap_or("").contains("tags.<key>"), "{dim}: {:?}", msg.hint());
    }
    let err = c.query("SELECT * FROM llm_cost.cost_by('tag.team', '2026-03-10', '2026-03-11')", &[]).unwrap_err();
    assert!(err.as_db_error().unwrap().hint().unwrap_or("").contains("tags.<key>"), "the hint names tags.<key>");
}
