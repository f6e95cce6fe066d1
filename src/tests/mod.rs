//! `#[pg_test]`s, run inside a real Postgres by `cargo pgrx test`.
//!
//! - `pricing`: every pricing rule, budgets, analytics and the SQL surface
//! - `units`: every charge beyond tokens (docs/charges.md)

mod pricing;
mod units;
