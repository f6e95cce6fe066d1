//! llm_cost: PostgreSQL as the ledger for what LLM calls cost.
//!
//! Module map (every module below; `tests` and `tests_units` are the `#[pg_test]`s):
//! - Exact arithmetic, pure Rust: `decimal` (fixed-point decimals), `formula`
//!   (the cost of one call from one price row)
//! - Names and prices, pure Rust: `catalog` (model-name resolution, price in
//!   force), `model_names` (the rewrites of logged names the catalog may know)
//! - `off_peak`: time-of-day prices and their windows (weekdays in Postgres time zones)
//! - Usage input, pure Rust: `raw_usage` (provider usage objects → our token
//!   columns), `units` (charges beyond plain tokens and the prices of counted units)
//! - `units_jsonb`: `units` read straight from jsonb's binary form
//! - `units_sum`: the `units_sum` aggregates that total units for rollups and dashboards
//! - `numeric_datum`: exact decimals to and from Postgres `numeric` datums
//! - `catalog_cache`: the per-backend catalog copy and its invalidation
//! - `pricing`: pricing one call; `sql_pricing`: the SQL functions over it
//! - `usage_trigger`: prices every row inserted into `llm_cost.usage`
//! - `trigger_support`: what the raw C-ABI triggers share
//! - `check_functions`: the C predicates the tables' CHECK constraints call
//! - Budget spend: `spend_trigger` (folds inserted usage into the transaction's
//!   pending spend and writes it), `pending_spend` (that spend in memory, per
//!   subtransaction, written from a pre-commit callback), `spend_store` (adds to
//!   existing `budget_spend` rows without SPI), `budget_cache` (the per-backend
//!   index of enabled budgets), `budget_period` (which calendar period of a
//!   budget a row falls in; twin of `llm_cost.period_start`)
//! - `aggregate_state`: the internal state our Rust aggregates share
//! - `anomaly`: days whose spend breaks from its own history (the anomaly_scan aggregate)
//! - `forecast`: daily spend forecasts (trend + weekday pattern), the spend_forecast aggregate
//! - `latency_histogram`: exact, mergeable latency histograms (aggregates in sql/analytics.sql)
//! - `invalidation`: per-backend caches learn that their source tables changed
//! - `extension_owner`: internal reads and writes run as the extension's owner
//! - `settings`: GUCs; `errors`: SQLSTATE helpers
//!
//! The schema, views and PL/pgSQL live in `sql/`, loaded by CREATE EXTENSION
//! in this order (the `extension_sql_file!` calls below): schema.sql (first),
//! the Rust functions, api.sql (pricing surface), compute.sql (resource spend),
//! budgets.sql (budgets, running spend, the notification table), queue.sql
//! (the queue API), analytics.sql (rollups and dashboard views), forecast.sql,
//! insights.sql (anomalies), report.sql (report_html), retention.sql
//! (retire_usage), privileges.sql (roles and grants), tenant_isolation.sql
//! (row-level security), catalog.sql (the generated price catalog, last).
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

pub mod aggregate_state;
pub mod anomaly;
pub mod budget_cache;
pub mod budget_period;
pub mod catalog;
pub mod catalog_cache;
pub mod check_functions;
pub mod decimal;
pub mod errors;
pub mod extension_owner;
pub mod forecast;
pub mod formula;
pub mod invalidation;
pub mod latency_histogram;
pub mod model_names;
pub mod numeric_datum;
pub mod off_peak;
pub mod pending_spend;
pub mod pricing;
pub mod raw_usage;
pub mod settings;
pub mod spend_store;
pub mod spend_trigger;
pub mod sql_pricing;
pub mod trigger_support;
pub mod units;
pub mod units_jsonb;
pub mod units_sum;
pub mod usage_trigger;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/api.sql",
    name = "api",
    requires = [
        "schema",
        invalidation::catalog_changed,
        sql_pricing::llm_cost_with_units,
        sql_pricing::cost_breakdown_with_units,
        sql_pricing::price_usage_with_units,
        sql_pricing::unit_prices_normalised,
        sql_pricing::resolve_model,
        sql_pricing::off_peak_windows,
        sql_pricing::catalog_load_count
    ]
);
extension_sql_file!("../sql/compute.sql", name = "compute", requires = ["api"]);
extension_sql_file!(
    "../sql/budgets.sql",
    name = "budgets",
    requires = ["compute", spend_trigger::budgets_enabled, spend_trigger::flush_spend]
);
extension_sql_file!("../sql/queue.sql", name = "queue", requires = ["budgets"]);
extension_sql_file!(
    "../sql/analytics.sql",
    name = "analytics",
    requires = [
        "queue",
        latency_histogram::_latency_histogram_add_call,
        latency_histogram::_latency_histogram_add_histogram,
        latency_histogram::_latency_histogram_combine,
        latency_histogram::_latency_histogram_serialize,
        latency_histogram::_latency_histogram_deserialize,
        latency_histogram::_latency_histogram_final,
        latency_histogram::latency_histogram_add,
        latency_histogram::histogram_percentile,
        latency_histogram::histogram_mean,
        units_sum::units_merge,
        units_sum::units_merge_plus
    ]
);
extension_sql_file!(
    "../sql/forecast.sql",
    name = "forecast",
    requires = [
        "analytics",
        forecast::_spend_forecast_add,
        forecast::_spend_forecast_combine,
        forecast::_spend_forecast_serialize,
        forecast::_spend_forecast_deserialize,
        forecast::_spend_forecast_final,
        forecast::forecast_project
    ]
);
extension_sql_file!(
    "../sql/insights.sql",
    name = "insights",
    requires = [
        "forecast",
        anomaly::_anomaly_scan_add,
        anomaly::_anomaly_scan_combine,
        anomaly::_anomaly_scan_serialize,
        anomaly::_anomaly_scan_deserialize,
        anomaly::_anomaly_scan_final
    ]
);
extension_sql_file!("../sql/report.sql", name = "report", requires = ["insights"]);
extension_sql_file!("../sql/retention.sql", name = "retention", requires = ["report"]);
extension_sql_file!("../sql/privileges.sql", name = "privileges", requires = ["retention"]);
extension_sql_file!("../sql/tenant_isolation.sql", name = "tenant_isolation", requires = ["privileges"]);
extension_sql_file!("../sql/catalog.sql", name = "catalog", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;
#[cfg(any(test, feature = "pg_test"))]
mod tests_units;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
