//! The partitioned ledger: usage is partitioned by UTC month, rows of months
//! without a partition wait in usage_default, ensure_usage_partitions makes
//! months (moving their waiting rows without counting them twice), and
//! retire_usage drops whole months. Budgets, rollups and alerts stay exact
//! throughout, and so does a dump/restore of a ledger with monthly partitions.

mod common;

use common::{
    assert_same_figures, budgets_and_calls, figures, run_pg_program, sqlstate, thresholds_not_fired_exactly_once,
    TestCluster,
};

/// Two months and a half of calls (common::budgets_and_calls), one unpriced
/// call, and calls far in the past and future.
fn setup() -> String {
    budgets_and_calls(700, 127)
        + "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
VALUES ('1990-01-01 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'acme', 'old'),
       ('2150-12-31 23:59:59+00', 'openai', 'gpt-4o', 1000, 100, 'globex', 'future'),
       ('2026-05-31 23:59:59.999999+00', 'nobody', 'unknown-model', 1000, 100, 'acme', 'u1'),
       ('2026-06-01 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'acme', 'u1');"
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn text(c: &mut postgres::Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// The partitions of usage with their row counts, e.g. "usage_2026_05=236".
fn partitions(c: &mut postgres::Client) -> String {
    text(
        c,
        "SELECT coalesce(string_agg(format('%s=%s', p.relid::regclass, (xpath('/row/n/text()',
                        query_to_xml(format('SELECT count(*) AS n FROM %s', p.relid::regclass), false, true, '')))[1]),
                        ' ' ORDER BY p.relid::regclass::text), '')
           FROM pg_partition_tree('llm_cost.usage') AS p WHERE p.isleaf",
    )
}

#[test]
fn months_get_partitions_ahead_rows_move_once_and_whole_months_are_dropped() {
    // No maintenance worker: this test makes and counts the partitions itself.
    let cluster = TestCluster::start("partitions", &["llm_cost.auto_refresh = off"]);
    let mut c = cluster.database_with_extension("partitions");
    c.batch_execute(&setup()).unwrap();
    let total = count(&mut c, "SELECT count(*) FROM llm_cost.usage");
    assert_eq!(
        partitions(&mut c),
        format!("llm_cost.usage_default={total}"),
        "before any month has a partition, every row (1990 and 2150 too) is in usage_default"
    );
    c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    let before = figures(&mut c);

    // Bad ranges change nothing.
    for bad in ["NULL, now()", "'-infinity', now()", "'2026-06-01', '2026-05-01'", "'2026-01-01', '2037-01-01'"] {
        let err = c.query_one(&format!("SELECT llm_cost.ensure_usage_partitions({bad})"), &[]).unwrap_err();
        assert_eq!(sqlstate(&err), "22023", "ensure_usage_partitions({bad})");
    }

    // UTC months whatever the session's time zone; each month's rows move out
    // of usage_default, and nothing is counted again.
    c.batch_execute("SET TimeZone = 'Pacific/Kiritimati'").unwrap();
    let made =
        count(&mut c, "SELECT llm_cost.ensure_usage_partitions('2026-04-01 00:00+00', '2026-07-15 00:00+00')::bigint");
    c.batch_execute("RESET TimeZone").unwrap();
    assert_eq!(made, 4, "April to July 2026");
    let per_month = "SELECT string_agg(format('llm_cost.usage_%s=%s', m, n), ' ' ORDER BY m)
                       FROM (SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY_MM') AS m, count(*) AS n
                               FROM llm_cost.usage WHERE occurred_at >= '2026-04-01 00:00+00'
                                 AND occurred_at < '2026-07-01 00:00+00' GROUP BY 1) AS months";
    let expected = format!("{} llm_cost.usage_2026_07=0 llm_cost.usage_default=2", text(&mut c, per_month));
    assert_eq!(partitions(&mut c), expected, "rows in their month's partition, the far ones in usage_default");
    assert_same_figures(&figures(&mut c), &before, "spend, rollups and alerts unchanged by the move");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage"), total);
    assert_eq!(
        count(&mut c, "SELECT llm_cost.ensure_usage_partitions('2026-04-01 00:00+00', '2026-07-15 00:00+00')::bigint"),
        0,
        "made once"
    );
    assert_eq!(
        text(
            &mut c,
            "SELECT tableoid::regclass::text FROM llm_cost.usage WHERE occurred_at = '2026-05-31 23:59:59.999999+00'"
        ),
        "llm_cost.usage_2026_05",
        "the last microsecond of May is May's"
    );

    // New rows go to their month's partition, priced and counted once.
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         VALUES ('2026-07-02 08:00+00', 'openai', 'gpt-4o', 2000, 100, 'acme', 'u3')",
    )
    .unwrap();
    assert_eq!(
        text(&mut c, "SELECT tableoid::regclass::text || ' ' || (cost > 0) FROM llm_cost.usage WHERE occurred_at = '2026-07-02 08:00+00'"),
        "llm_cost.usage_2026_07 true"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);

    // occurred_at can change within its partition; an UPDATE that would move
    // a row to another partition (a DELETE and an INSERT underneath, whose
    // row triggers would count it twice) is refused: delete and insert it.
    let moved =
        "UPDATE llm_cost.usage SET occurred_at = '2026-07-01 00:00+00' WHERE occurred_at = '2026-06-01 00:00+00'";
    let err = c.batch_execute(moved).unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{moved}");
    let err = c
        .batch_execute("UPDATE llm_cost.usage SET occurred_at = '2026-06-01 00:00+00' WHERE user_id = 'future'")
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "out of usage_default into June");
    c.batch_execute(
        "UPDATE llm_cost.usage SET occurred_at = '2026-06-30 23:00+00' WHERE occurred_at = '2026-06-01 00:00+00';
         UPDATE llm_cost.usage SET occurred_at = '2150-12-31 23:00+00' WHERE user_id = 'future'",
    )
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "moved within partitions");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage"), total + 1);

    // Partitions are reached through usage only, where row-level security applies.
    c.batch_execute(
        "CREATE ROLE dash LOGIN; GRANT llm_cost_reader TO dash;
         CREATE ROLE app LOGIN; GRANT llm_cost_writer TO app;
         CREATE ROLE boss LOGIN; GRANT llm_cost_admin TO boss;",
    )
    .unwrap();
    for (role, sql) in [
        ("dash", "SELECT count(*) FROM llm_cost.usage_2026_05"),
        ("dash", "SELECT count(*) FROM llm_cost.usage_default"),
        ("app", "INSERT INTO llm_cost.usage_2026_05 (id, occurred_at, provider, model) VALUES (-1, '2026-05-02', 'openai', 'gpt-4o')"),
        ("boss", "DELETE FROM llm_cost.usage_2026_05"),
        ("boss", "DELETE FROM llm_cost.usage_default"),
        ("boss", "SELECT llm_cost._create_usage_partition('2026-01-01 00:00+00')"),
    ] {
        c.batch_execute(&format!("SET ROLE {role}; SET llm_cost.tenant_id = 'acme'")).unwrap();
        let err = c.batch_execute(sql).unwrap_err();
        c.batch_execute("RESET ROLE; RESET llm_cost.tenant_id").unwrap();
        assert_eq!(sqlstate(&err), "42501", "{role}: {sql}");
    }
    c.batch_execute("SET ROLE dash; SET llm_cost.tenant_id = 'acme'").unwrap();
    let acme_only = count(&mut c, "SELECT count(*) FROM llm_cost.usage WHERE tenant_id IS DISTINCT FROM 'acme'");
    c.batch_execute("RESET ROLE; RESET llm_cost.tenant_id").unwrap();
    assert_eq!(acme_only, 0, "through usage a tenant sees its own rows only");

    // Retiring before June: April and May go whole (DROP TABLE), the 1990 row
    // is deleted from usage_default, June and later stay.
    let with_july = figures(&mut c);
    let cutoff = "timestamptz '2026-06-01 00:00+00'";
    let old_rows = count(&mut c, &format!("SELECT count(*) FROM llm_cost.usage WHERE occurred_at < {cutoff}"));
    c.batch_execute("SET ROLE boss").unwrap();
    let retired = count(&mut c, &format!("SELECT llm_cost.retire_usage({cutoff}, 41)"));
    c.batch_execute("RESET ROLE").unwrap();
    assert_eq!(retired, old_rows, "every row before the cutoff retired");
    let left = partitions(&mut c);
    assert!(!left.contains("usage_2026_04") && !left.contains("usage_2026_05"), "April and May dropped: {left}");
    assert!(left.contains("usage_2026_06=") && left.contains("usage_default=1"), "June stays, 2150 stays: {left}");
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM llm_cost.usage WHERE occurred_at < {cutoff}")), 0);
    assert_same_figures(&figures(&mut c), &with_july, "spend, rollups and alerts as before the retirement");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "spend = ledger + retired");
    assert_eq!(count(&mut c, "SELECT retired_rows FROM llm_cost.retention_state"), old_rows);

    // Part of a month: its rows before the cutoff are deleted, the partition stays.
    let june_10 = "timestamptz '2026-06-10 00:00+00'";
    let june_early = count(&mut c, &format!("SELECT count(*) FROM llm_cost.usage WHERE occurred_at < {june_10}"));
    assert!(june_early > 0);
    assert_eq!(count(&mut c, &format!("SELECT llm_cost.retire_usage({june_10})")), june_early);
    assert!(partitions(&mut c).contains("usage_2026_06="), "June keeps its partition");
    assert_same_figures(&figures(&mut c), &with_july, "still the same figures");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);

    // New usage still counts, each threshold once.
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         SELECT '2026-06-15 10:30+00', 'openai', 'gpt-4o', 2000000, 200000, 'acme', 'big' FROM generate_series(1, 10)",
    )
    .unwrap();
    assert_eq!(thresholds_not_fired_exactly_once(&mut c), 0, "every threshold reached fired exactly once");
    let after = figures(&mut c);
    let layout = partitions(&mut c);

    // Dump and restore (custom and plain): the monthly partitions, their rows
    // and indexes come back, and the restored ledger keeps partitioning.
    let dir = cluster.dir.to_str().unwrap().to_string();
    let port = cluster.port.to_string();
    let conn = ["-h", dir.as_str(), "-p", port.as_str(), "-U", "postgres"];
    let dump = cluster.dir.join("partitions.dump");
    let plain = cluster.dir.join("partitions.sql");
    run_pg_program("pg_dump", &[&conn[..], &["-Fc", "-f", dump.to_str().unwrap(), "partitions"]].concat());
    run_pg_program("pg_dump", &[&conn[..], &["-Fp", "-f", plain.to_str().unwrap(), "partitions"]].concat());
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE from_custom").unwrap();
    admin.batch_execute("CREATE DATABASE from_plain").unwrap();
    run_pg_program(
        "pg_restore",
        &[&conn[..], &["--exit-on-error", "-d", "from_custom", dump.to_str().unwrap()]].concat(),
    );
    run_pg_program(
        "psql",
        &[&conn[..], &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "from_plain", "-f", plain.to_str().unwrap()]]
            .concat(),
    );
    for db in ["from_custom", "from_plain"] {
        let mut r = cluster.connect(db);
        assert_eq!(partitions(&mut r), layout, "{db}: the same partitions and rows");
        assert_same_figures(&figures(&mut r), &after, "{db}: the same spend, rollups and alerts");
        assert_eq!(count(&mut r, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "{db}: no drift");
        let indexes = count(
            &mut r,
            "SELECT count(*) FROM pg_index AS i JOIN pg_partition_tree('llm_cost.usage') AS p ON p.relid = i.indrelid",
        );
        assert_eq!(indexes, 3 * count(&mut r, "SELECT count(*) FROM pg_partition_tree('llm_cost.usage') WHERE isleaf"));
        r.batch_execute(
            "SELECT llm_cost.ensure_usage_partitions('2026-08-01 00:00+00', '2026-08-01 00:00+00');
             INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id)
             VALUES ('2026-08-03 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'acme'),
                    ('2026-06-20 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'acme')",
        )
        .unwrap();
        assert_eq!(
            text(
                &mut r,
                "SELECT string_agg(tableoid::regclass::text || ':' || (cost > 0), ' ' ORDER BY occurred_at)
                   FROM llm_cost.usage WHERE occurred_at IN ('2026-08-03 00:00+00', '2026-06-20 00:00+00')"
            ),
            "llm_cost.usage_2026_06:true llm_cost.usage_2026_08:true",
            "{db}: new rows are priced in their month's partition"
        );
        assert_eq!(
            count(&mut r, "SELECT count(*) FROM llm_cost.budget_spend_drift"),
            0,
            "{db}: no drift after inserts"
        );
    }

    // TRUNCATE empties every partition and what came from them.
    c.batch_execute("TRUNCATE llm_cost.usage").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.retired_spend"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
}

/// Budgets of every shape a retired row's spend must be matched to: per
/// values, a week (New York) straddling both the dropped month's edge and the
/// cutoff, months and quarters in other zones, tags (a number compared by
/// value: 1 = 1.0), a provider scope on mixed-case rows, a calls budget, a
/// rolling window, and one for compute only (no llm spend). Rows without a
/// user or a price, and without tags. Fixed timestamps (2026-01-20 to
/// 2026-02-20), whatever the date.
const SHAPES: &str = r#"
SET client_min_messages = error;
SELECT llm_cost.ensure_usage_partitions('2026-01-01 00:00+00', '2026-03-01 00:00+00');
INSERT INTO llm_cost.budgets (name, amount, period, timezone, tenant_id, provider, per, tags, unit, "window", includes)
VALUES ('company forever', 1000, 'total', 'UTC', NULL, NULL, NULL, NULL, 'cost', NULL, 'all'),
       ('user weekly', 1000, 'week', 'America/New_York', NULL, NULL, 'user_id', NULL, 'cost', NULL, 'all'),
       ('acme monthly', 1000, 'month', 'Asia/Tokyo', 'acme', NULL, NULL, NULL, 'cost', NULL, 'llm'),
       ('search daily', 1000, 'day', 'Europe/Berlin', NULL, NULL, 'provider', '{"team": "search"}', 'cost', NULL, 'all'),
       ('tier 1 quarterly', 1000, 'quarter', 'Pacific/Auckland', NULL, NULL, 'model', '{"tier": 1}', 'cost', NULL, 'all'),
       ('openai calls', 100000, 'month', 'UTC', NULL, 'openai', NULL, NULL, 'calls', NULL, 'all'),
       ('tenants rolling', 1000, 'rolling', 'UTC', NULL, NULL, 'tenant_id', NULL, 'cost', '366 days', 'all'),
       ('compute only', 1000, 'month', 'UTC', NULL, NULL, NULL, NULL, 'cost', NULL, 'compute');
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id, tags)
SELECT timestamptz '2026-01-20 00:00+00' + (g * 37 || ' minutes')::interval,
       CASE WHEN g % 5 = 0 THEN 'OpenAI' ELSE 'openai' END,
       CASE WHEN g % 7 = 0 THEN 'no-such-model' WHEN g % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
       1000 + g, 200 + g % 50, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE 'u' || g % 6 END,
       CASE g % 4 WHEN 0 THEN '{"team": "search", "tier": 1.0}' WHEN 1 THEN '{"team": "ads", "tier": 2}'
                  WHEN 2 THEN '{"team": "search"}' END::jsonb
  FROM generate_series(0, 1200) AS g;
"#;

/// The spend of the rows before the cutoff per budget, period and per value,
/// as the SQL matcher (_spend_deltas, what the ledger's statement triggers
/// fold) computes it: what retire_usage must move to retired_spend.
const EXPECTED_RETIRED: &str = r#"
SELECT string_agg(format('%s/%s/%s=%s,%s,%s', d.budget_id, d.period_start, d.per_value, trim_scale(d.spend),
                         d.call_count, d.token_count), ' ' ORDER BY d.budget_id, d.period_start, d.per_value)
  FROM (SELECT array_agg(occurred_at) AS at, array_agg(coalesce(cost, 0)) AS cost, array_agg(1) AS calls,
               array_agg(input_tokens + output_tokens) AS tokens, array_agg('llm'::text) AS source,
               array_agg(tenant_id) AS tenant_id, array_agg(project_id) AS project_id, array_agg(user_id) AS user_id,
               array_agg(agent_id) AS agent_id, array_agg(session_id) AS session_id,
               array_agg(execution_id) AS execution_id, array_agg(operation) AS operation,
               array_agg(provider) AS provider, array_agg(model) AS model, array_agg(tags) AS tags
          FROM llm_cost.usage WHERE occurred_at < '2026-02-10 00:00+00') AS g,
       LATERAL llm_cost._spend_deltas(g.at, g.cost, g.calls, g.tokens, g.source, g.tenant_id, g.project_id,
                                      g.user_id, g.agent_id, g.session_id, g.execution_id, g.operation,
                                      g.provider, g.model, g.tags) AS d
"#;

const RETIRED: &str = r#"
SELECT string_agg(format('%s/%s/%s=%s,%s,%s', budget_id, period_start, per_value, trim_scale(spent), calls, tokens), ' '
                  ORDER BY budget_id, period_start, per_value)
  FROM llm_cost.retired_spend
"#;

const CALENDAR_SPEND: &str = r#"
SELECT string_agg(format('%s/%s/%s=%s,%s,%s', budget_id, period_start, per_value, trim_scale(spent), calls, tokens), ' '
                  ORDER BY budget_id, period_start, per_value)
  FROM llm_cost.budget_spend
"#;

#[test]
fn a_dropped_months_spend_moves_to_retired_spend_exactly_for_every_budget_shape() {
    let cluster = TestCluster::start("retire_shapes", &["llm_cost.auto_refresh = off"]);
    let mut c = cluster.database_with_extension("retire_shapes");
    c.batch_execute(SHAPES).unwrap();
    let expected = text(&mut c, EXPECTED_RETIRED);
    for budget in ["user weekly", "search daily", "tier 1 quarterly", "tenants rolling", "openai calls"] {
        let id = count(&mut c, &format!("SELECT id FROM llm_cost.budgets WHERE name = '{budget}'"));
        assert!(expected.split(' ').any(|t| t.starts_with(&format!("{id}/"))), "{budget} has retired spend");
    }
    let compute_only = count(&mut c, "SELECT id FROM llm_cost.budgets WHERE name = 'compute only'");
    assert!(!expected.split(' ').any(|t| t.starts_with(&format!("{compute_only}/"))));
    let spend = text(&mut c, CALENDAR_SPEND);
    let old_rows = count(&mut c, "SELECT count(*) FROM llm_cost.usage WHERE occurred_at < '2026-02-10 00:00+00'");

    // January is dropped whole, February's first nine days are deleted: the
    // week of 26 January (New York) has rows both ways, the week of 9
    // February rows on both sides of the cutoff.
    let retired = count(&mut c, "SELECT llm_cost.retire_usage('2026-02-10 00:00+00')");
    assert_eq!(retired, old_rows);
    let layout = partitions(&mut c);
    assert!(!layout.contains("usage_2026_01") && layout.contains("llm_cost.usage_2026_02=383"), "{layout}");
    assert_eq!(text(&mut c, RETIRED), expected, "retired_spend holds the retired rows' spend, key by key");
    assert_eq!(text(&mut c, CALENDAR_SPEND), spend, "running totals unchanged");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "no drift after retiring");

    // Rebuilt from what is left of the ledger plus retired_spend: the same.
    c.batch_execute("SELECT llm_cost.rebuild_budget_spend(id) FROM llm_cost.budgets").unwrap();
    assert_eq!(text(&mut c, CALENDAR_SPEND), spend, "a rebuild gives the same totals");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "no drift after rebuilding");
}
