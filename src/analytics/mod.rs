//! Analytics: the Rust aggregates behind the rollups, dashboards, forecasts
//! and insights (sql/analytics.sql, sql/forecast.sql, sql/insights.sql). Each
//! file declares its aggregates (CREATE AGGREGATE, COMMENTs) in an
//! `extension_sql!` block beside its functions, named after the aggregate;
//! src/lib.rs has the SQL files that use one require that name.
//!
//! - `aggregate_state`: the `internal` state our Rust aggregates share
//! - `latency_histogram`: exact, mergeable latency histograms and their percentiles
//! - `units_sum`: the `units_sum` aggregates that total `usage.units`
//! - `forecast`: daily spend forecasts (trend + weekday pattern), the `spend_forecast` aggregate
//! - `anomaly`: days whose spend breaks from its own history, the `anomaly_scan` aggregate

pub mod aggregate_state;
pub mod anomaly;
pub mod forecast;
pub mod latency_histogram;
pub mod units_sum;
