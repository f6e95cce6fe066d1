//! The SQL reference (docs/reference/<area>.md) is generated from the
//! installed schema: every public table, view and function with its columns
//! or signature and its COMMENT. This test regenerates it and fails when the
//! committed pages differ, so the docs cannot drift from the extension.
//! Regenerate with: UPDATE_REFERENCE=1 cargo test --test reference
//! (after `cargo pgrx install`, as every client test).

mod common;

use common::TestCluster;
use std::collections::BTreeMap;

/// The area a public object belongs to, by name; anything unlisted is analytics.
fn area(name: &str) -> &'static str {
    const AREAS: &[(&str, &[&str])] = &[
        ("pricing", &["llm_cost", "cost_breakdown", "price_usage", "set_price", "import_prices", "litellm_price_rows",
                      "reprice", "prices", "current_prices", "stale_prices", "model_aliases", "provider_aliases",
                      "models", "catalog_load_count", "is_service_tier", "is_valid_amount", "catalog_changed"]),
        ("ledger", &["usage", "unpriced_usage", "resource_usage", "resource_prices", "set_resource_price",
                     "execution_costs", "usage_before_insert"]),
        ("budgets", &["budgets", "budget_spend", "budget_spend_drift", "budget_status", "budget_status_at", "can_spend",
                      "check_spend", "ledger_spend", "rebuild_budget_spend", "flush_spend", "period_start",
                      "period_end", "scope_mask", "scope_key", "per_value", "is_budget_period", "is_budget_dimension",
                      "budgets_enabled", "forecast", "forecast_spend", "forecast_project", "spend_forecast",
                      "usage_spend_add", "usage_spend_flush"]),
        ("queue", &["notifications", "claim_notifications", "ack_notification", "fail_notification"]),
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
              WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'v', 'p') AND c.relname !~ '^_'
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
        let (name, kind, comment, columns): (String, String, Option<String>, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3));
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
        pages.entry(area(&name)).or_default().push(format!(
            "### `llm_cost.{signature}`{returns} ({kind})\n\n{}\n",
            comment.unwrap_or_default()
        ));
    }
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

#[test]
fn the_reference_pages_match_the_installed_schema() {
    let cluster = TestCluster::start("reference", &[]);
    let mut c = cluster.database_with_extension("reference");
    let pages = render(&mut c);
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
}
