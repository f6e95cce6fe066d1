//! The SQL reference (docs/reference/<area>.md) is generated from the
//! installed schema: every public table, view and function with its columns
//! or signature and its COMMENT. This test regenerates it and fails when the
//! committed pages differ, so the docs cannot drift from the extension.
//! It also fails when a public table, view or any of their columns has no
//! COMMENT: a blank line in the reference is a question the docs leave open.
//! Regenerate with: UPDATE_REFERENCE=1 cargo test --test reference
//! (after `cargo pgrx install`, as every client test).

mod common;

use common::TestCluster;
use std::collections::BTreeMap;

/// The area a public object belongs to, by name; anything unlisted is analytics.
fn area(name: &str) -> &'static str {
    // Hand-aligned: one area per block, names in the order of the pages.
    #[rustfmt::skip]
    const AREAS: &[(&str, &[&str])] = &[
        ("pricing", &["llm_cost", "cost_breakdown", "price_usage", "set_price", "import_prices", "litellm_price_rows", "genai_price_rows",
                      "reprice", "prices", "current_prices", "stale_prices", "model_aliases", "provider_aliases",
                      "resolve_model", "model_resolution",
                      "models", "is_service_tier", "is_valid_amount", "is_off_peak_windows", "is_unit_prices", "catalog_changed"]),
        ("ledger", &["usage", "unpriced_usage", "resource_usage", "resource_prices", "set_resource_price",
                     "execution_costs", "usage_before_insert", "is_units"]),
        ("budgets", &["budgets", "budget_spend", "budget_spend_slots", "budget_spend_drift", "budget_status", "budget_status_at", "can_spend",
                      "check_spend", "ledger_spend", "rebuild_budget_spend", "flush_spend", "period_start",
                      "period_end", "scope_mask", "scope_key", "per_value", "is_budget_period", "is_budget_dimension",
                      "budgets_enabled", "forecast", "forecast_spend", "forecast_project", "spend_forecast", "retired_spend",
                      "usage_spend_add", "is_budget_unit", "window_slot_seconds", "window_slot", "window_start",
                      "window_spend", "budget_windows", "reserve", "release", "reservations", "budget_holds"]),
        ("queue", &["notifications", "claim_notifications", "ack_notification", "fail_notification"]),
        ("trust", &["current_tenant"]),
        ("operations", &["refresh_rollups", "refresh_rollups_in_batches", "rollup_state", "rollup_watermark",
                         "catalog_load_count", "retire_usage", "retention_state", "run_maintenance",
                         "maintenance_worker_pid", "start_maintenance_worker"]),
    ];
    AREAS.iter().find(|(_, names)| names.contains(&name)).map(|(a, _)| *a).unwrap_or("analytics")
}

fn render(c: &mut postgres::Client) -> BTreeMap<&'static str, String> {
    // public objects only: internal ones start with an underscore
    let relations = c
        .query(
            "SELECT c.relname::text, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END,
                    obj_description(c.oid, 'pg_class'),
                    (SELECT string_agg(format('| `%s` | %s | %s |', a.attname, format_type(a.atttypid, a.atttypmod),
                                              coalesce(replace(col_description(c.oid, a.attnum), '|', '\\|'), '')),
                                       E'\\n' ORDER BY a.attnum)
                       FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
               FROM pg_class AS c
              WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition AND c.relname !~ '^_'
              ORDER BY 1",
            &[],
        )
        .unwrap();
    let routines = c
        .query(
            "SELECT p.proname::text,
                    CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END,
                    format('%s(%s)', p.proname, pg_get_function_arguments(p.oid)),
                    CASE WHEN p.prokind = 'p' THEN '' ELSE pg_get_function_result(p.oid) END,
                    obj_description(p.oid, 'pg_proc')
               FROM pg_proc AS p
              WHERE p.pronamespace = 'llm_cost'::regnamespace AND p.proname !~ '^_'
                AND pg_get_function_result(p.oid) IS DISTINCT FROM 'trigger'
              ORDER BY 1, 3",
            &[],
        )
        .unwrap();
    let mut pages: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for r in relations {
        let (name, kind, comment, columns): (String, String, Option<String>, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        pages.entry(area(&name)).or_default().push(format!(
            "### `llm_cost.{name}` ({kind})\n\n{}\n\n| column | type | |\n|---|---|---|\n{}\n",
            comment.unwrap_or_default(),
            columns.unwrap_or_default()
        ));
    }
    for r in routines {
        let (name, kind, signature, result, comment): (String, String, String, String, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let returns = if result.is_empty() { String::new() } else { format!(" → `{result}`") };
        pages
            .entry(area(&name))
            .or_default()
            .push(format!("### `llm_cost.{signature}`{returns} ({kind})\n\n{}\n", comment.unwrap_or_default()));
    }
    pages.entry("trust").or_default().extend(trust_sections(c));
    pages.entry("operations").or_default().extend(operations_sections(c));
    pages
        .into_iter()
        .map(|(area, entries)| {
            let page = format!(
                "# SQL reference: {area}\n\nGenerated from the installed schema by `tests/reference.rs` (which fails when this page \
                 and the extension disagree); regenerate with `UPDATE_REFERENCE=1 cargo test --test reference`. \
                 Internal objects (names starting with `_`) and trigger functions are left out.\n\n{}",
                entries.join("\n")
            );
            (area, page)
        })
        .collect()
}

/// Public tables and views, and public columns of them, that have no COMMENT
/// (the same objects the pages document).
fn uncommented(c: &mut postgres::Client) -> Vec<String> {
    c.query(
        "SELECT format('%s (%s)', c.relname, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END)
           FROM pg_class AS c
          WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition AND c.relname !~ '^_'
            AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
         UNION ALL
         SELECT format('%s.%s', c.relname, a.attname)
           FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition AND c.relname !~ '^_'
            AND coalesce(col_description(c.oid, a.attnum), '') = ''
         ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// One markdown section from a query whose rows are table lines.
fn section(c: &mut postgres::Client, title: &str, intro: &str, header: &str, rows_sql: &str) -> String {
    let rows: Vec<String> = c.query(rows_sql, &[]).unwrap().iter().map(|r| r.get(0)).collect();
    format!("## {title}\n\n{intro}\n\n{header}\n{}\n", rows.join("\n"))
}

/// Who may do what, which rows each role sees, and what runs as the owner.
fn trust_sections(c: &mut postgres::Client) -> Vec<String> {
    vec![
        section(
            c,
            "Table and view privileges",
            "What each role may do with each table and view (PUBLIC: nothing).",
            "| relation | llm_cost_writer | llm_cost_reader | llm_cost_admin | PUBLIC |\n|---|---|---|---|---|",
            "WITH privs(p) AS (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'))
             SELECT format('| `%s` | %s | %s | %s | %s |', c.relname,
                           (SELECT coalesce(string_agg(p, ', '), '') FROM privs WHERE has_table_privilege('llm_cost_writer', c.oid, p)),
                           (SELECT coalesce(string_agg(p, ', '), '') FROM privs WHERE has_table_privilege('llm_cost_reader', c.oid, p)),
                           (SELECT coalesce(string_agg(p, ', '), '') FROM privs WHERE has_table_privilege('llm_cost_admin', c.oid, p)),
                           (SELECT coalesce(string_agg(x.privilege_type, ', '), '') FROM aclexplode(c.relacl) AS x WHERE x.grantee = 0))
               FROM pg_class AS c
              WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition
              ORDER BY c.relname",
        ),
        section(
            c,
            "Functions a writer may call",
            "llm_cost_writer executes only these (a reader executes every function that changes nothing; the admin, all).",
            "| function |\n|---|",
            "SELECT format('| `%s` |', p.oid::regprocedure)
               FROM pg_proc AS p
              WHERE p.pronamespace = 'llm_cost'::regnamespace AND has_function_privilege('llm_cost_writer', p.oid, 'EXECUTE')
              ORDER BY 1",
        ),
        section(
            c,
            "Row-level security",
            "Policies on tenant data. `llm_cost.current_tenant()` is the session's `SET llm_cost.tenant_id`; without it readers and writers see no rows.",
            "| table | policy | roles | rows visible (USING) | rows accepted (WITH CHECK) |\n|---|---|---|---|---|",
            "SELECT format('| `%s` | %s | %s | `%s` | %s |', p.tablename, p.policyname, array_to_string(p.roles, ', '),
                           regexp_replace(p.qual, '\\s+', ' ', 'g'),
                           coalesce('`' || regexp_replace(p.with_check, '\\s+', ' ', 'g') || '`', ''))
               FROM pg_policies AS p WHERE p.schemaname = 'llm_cost' ORDER BY p.tablename, p.policyname",
        ),
        section(
            c,
            "SECURITY DEFINER functions",
            "They run as the extension's owner, each with a pinned search_path.",
            "| function | settings |\n|---|---|",
            "SELECT format('| `%s` | `%s` |', p.oid::regprocedure, array_to_string(p.proconfig, ', '))
               FROM pg_proc AS p WHERE p.pronamespace = 'llm_cost'::regnamespace AND p.prosecdef ORDER BY 1",
        ),
    ]
}

/// Settings, what pg_dump carries, and the versions one can update from.
fn operations_sections(c: &mut postgres::Client) -> Vec<String> {
    vec![
        section(
            c,
            "Settings",
            "All `SET`-able per session, role or database.",
            "| setting | default | description |\n|---|---|---|",
            "SELECT format('| `%s` | `%s` | %s %s |', name, coalesce(boot_val, ''), short_desc, coalesce(extra_desc, ''))
               FROM pg_settings WHERE name LIKE 'llm_cost.%' ORDER BY name",
        ),
        section(
            c,
            "What pg_dump carries",
            "Extension tables whose rows are user data, dumped with the database (catalog rows filtered out). The rest is derived and rebuilt on restore.",
            "| table | rows dumped |\n|---|---|",
            "SELECT format('| `%s` | %s |', x.rel::regclass, coalesce(nullif(x.cond, ''), 'all'))
               FROM pg_extension AS e, unnest(e.extconfig, e.extcondition) AS x (rel, cond)
              WHERE e.extname = 'llm_cost' ORDER BY 1",
        ),
        section(
            c,
            "Versions",
            "The installed version and the update paths `ALTER EXTENSION llm_cost UPDATE` can take (release procedure: RELEASING.md).",
            "| from | to | path |\n|---|---|---|",
            "SELECT format('| %s | %s | %s |', source, target, path)
               FROM pg_extension_update_paths('llm_cost') WHERE path IS NOT NULL ORDER BY source, target",
        ),
    ]
}

#[test]
fn the_reference_pages_match_the_installed_schema() {
    let cluster = TestCluster::start("reference", &[]);
    let mut c = cluster.database_with_extension("reference");
    let pages = render(&mut c);
    let missing = uncommented(&mut c);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference");
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (area, page) in &pages {
            std::fs::write(dir.join(format!("{area}.md")), page).unwrap();
        }
    }
    for (area, page) in &pages {
        let path = dir.join(format!("{area}.md"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == *page,
            "{} is out of date with the schema: regenerate it with UPDATE_REFERENCE=1 cargo test --test reference",
            path.display()
        );
    }
    let on_disk = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(on_disk, pages.len(), "docs/reference has a page for each area and nothing else");
    assert!(
        missing.is_empty(),
        "{} public tables, views or columns have no COMMENT (add COMMENT ON ... in sql/*.sql and in the upgrade script):\n{}",
        missing.len(),
        missing.join("\n")
    );
}
