//! llm_cost: PostgreSQL as the ledger for what LLM calls cost.
//!
//! Module map: `src/` is grouped by concern, one folder per feature; each
//! folder's `mod.rs` opens with a one-line map of its files.
//! - `pricing/`: what one call costs. Exact decimals (`decimal`), the cost
//!   formula (`formula`), charges beyond tokens (`units`, `units_jsonb`),
//!   time-of-day prices (`off_peak`), the catalog and model-name resolution
//!   (`catalog`, `model_names`, `catalog_cache`), pricing one call
//!   (`price_call`, re-exported as `crate::pricing`) and the SQL pricing
//!   functions (`sql_pricing`)
//! - `ledger/`: rows inserted into `llm_cost.usage` become priced calls
//!   (`usage_trigger`; `raw_usage` maps provider usage objects to our columns)
//! - `budgets/`: inserted usage folded into running budget spend in the same
//!   transaction (`spend_trigger`, `pending_spend`, `spend_store`,
//!   `budget_cache`, `budget_period`, `xact_callbacks`); rolling windows and
//!   reservations are SQL (sql/spend.sql, sql/reservations.sql)
//! - `analytics/`: the Rust aggregates (`aggregate_state`, `latency_histogram`,
//!   `units_sum`, `forecast`, `anomaly`)
//! - `maintenance/`: the background worker that keeps rollups up to date
//!   (`worker`), started by CREATE EXTENSION and by writes when it is missing
//! - `pg/`: Postgres plumbing the features share (`trigger_support`,
//!   `check_functions`, `numeric_datum`, `invalidation`, `extension_owner`,
//!   `settings`, `errors`)
//! - `tests/`: the `#[pg_test]`s (`pricing`, `units`, `windows`)
//!
//! The schema, views and PL/pgSQL live in `sql/`, loaded by CREATE EXTENSION
//! in this order (the `extension_sql_file!` calls below): schema.sql (first),
//! the Rust functions (with the aggregates declared beside them in
//! `analytics/`), api.sql (pricing surface), compute.sql (resource spend),
//! budgets.sql (budgets and their vocabulary), queue.sql (the notification
//! queue and its API), spend.sql (running spend, rolling windows, their
//! triggers), reservations.sql (pre-call checks, reserve and release),
//! analytics.sql (rollups and dashboard views), forecast.sql,
//! insights.sql (anomalies), report.sql (report_html), retention.sql
//! (retire_usage), privileges.sql (roles and grants), tenant_isolation.sql
//! (row-level security), maintenance.sql (the maintenance worker's entry
//! point; starts it), citus.sql (the distributed layout, run on demand),
//! catalog.sql (the generated price catalog, last).
//! Also in `sql/`: `llm_cost--<from>--<to>.sql` upgrade scripts and the frozen
//! install scripts of released versions in `sql/releases/` (RELEASING.md).

// The generated catalog (sql/catalog.sql, ~1 MB) is embedded by pgrx in a const;
// evaluating it is slow but finite. (rustc still prints "constant evaluation is
// taking a long time" while it runs: a progress note, not a lint, which
// `-D warnings` leaves a warning.)
#![allow(long_running_const_eval)]
// Every unsafe operation sits in its own `unsafe` block with a `// SAFETY:`
// comment saying why it is sound, and every `unsafe fn` says what its caller
// must guarantee (`# Safety`).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use pgrx::prelude::*;

pub mod analytics;
pub mod budgets;
pub mod ledger;
pub mod maintenance;
pub mod pg;
pub mod pricing;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/api.sql",
    name = "api",
    requires = [
        "schema",
        pg::invalidation::catalog_changed,
        pricing::sql_pricing::llm_cost_with_units,
        pricing::sql_pricing::cost_breakdown_with_units,
        pricing::sql_pricing::price_usage_with_units,
        pricing::sql_pricing::unit_prices_normalised,
        pricing::sql_pricing::resolve_model,
        pricing::sql_pricing::off_peak_windows,
        pricing::sql_pricing::catalog_load_count
    ]
);
extension_sql_file!("../sql/compute.sql", name = "compute", requires = ["api"]);
extension_sql_file!("../sql/budgets.sql", name = "budgets", requires = ["compute"]);
extension_sql_file!("../sql/queue.sql", name = "queue", requires = ["budgets"]);
extension_sql_file!(
    "../sql/spend.sql",
    name = "spend",
    requires = ["queue", budgets::spend_trigger::budgets_enabled, budgets::spend_trigger::flush_spend]
);
extension_sql_file!("../sql/reservations.sql", name = "reservations", requires = ["spend"]);
// Each Rust aggregate is declared beside its functions (an extension_sql!
// block named after it, in src/analytics/): the files that use one require it.
extension_sql_file!("../sql/analytics.sql", name = "analytics", requires = ["spend", "units_sum", "latency_histogram"]);
extension_sql_file!("../sql/forecast.sql", name = "forecast", requires = ["analytics", "spend_forecast"]);
extension_sql_file!("../sql/insights.sql", name = "insights", requires = ["forecast", "anomaly_scan"]);
extension_sql_file!("../sql/report.sql", name = "report", requires = ["insights"]);
extension_sql_file!("../sql/retention.sql", name = "retention", requires = ["report"]);
extension_sql_file!("../sql/privileges.sql", name = "privileges", requires = ["retention", "reservations"]);
extension_sql_file!("../sql/tenant_isolation.sql", name = "tenant_isolation", requires = ["privileges"]);
extension_sql_file!(
    "../sql/maintenance.sql",
    name = "maintenance",
    requires = ["tenant_isolation", maintenance::worker::start_maintenance_worker]
);
extension_sql_file!("../sql/citus.sql", name = "citus", requires = ["maintenance"]);
extension_sql_file!("../sql/catalog.sql", name = "catalog", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    pg::settings::register();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
