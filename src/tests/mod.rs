//! `#[pg_test]`s, run inside a real Postgres by `cargo pgrx test`.
//!
//! - `pricing`: every pricing rule, budgets, analytics and the SQL surface
//! - `units`: every charge beyond tokens (docs/charges.md)
//! - `windows`: rolling windows' slots, Rust against SQL

mod pricing;
mod units;
mod windows;
