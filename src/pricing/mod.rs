//! Pricing: what one LLM call costs. Mostly pure Rust; the Postgres edges are
//! `catalog_cache`, `units_jsonb`, `price_call` and `sql_pricing`.
//!
//! - `decimal`: exact fixed-point decimals (every amount in the crate)
//! - `formula`: the cost of one call from one price row and its token counts
//! - `units`: charges beyond plain tokens and the prices of counted units
//! - `units_jsonb`: `units` read straight from jsonb's binary form
//! - `off_peak`: time-of-day prices and their windows (weekdays in Postgres time zones)
//! - `catalog`: the price catalog in memory, model-name resolution, the price in force
//! - `model_names`: rewrites of logged model names into the forms the catalog knows
//! - `catalog_cache`: the per-backend copy of the catalog and its invalidation
//! - `price_call`: pricing one call against the cached catalog (re-exported
//!   here, so `crate::pricing::price` is the hot path)
//! - `sql_pricing`: the SQL functions over it (`llm_cost()`, `cost_breakdown()`, ...)

pub mod catalog;
pub mod catalog_cache;
pub mod decimal;
pub mod formula;
pub mod model_names;
pub mod off_peak;
pub mod price_call;
pub mod sql_pricing;
pub mod units;
pub mod units_jsonb;

pub use price_call::*;
