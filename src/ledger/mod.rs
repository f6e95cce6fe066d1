//! The ledger: rows inserted into `llm_cost.usage` become priced calls.
//!
//! - `usage_trigger`: the BEFORE INSERT trigger that normalises, validates and prices each row
//! - `raw_usage`: provider usage objects → our token columns (pure Rust)

pub mod raw_usage;
pub mod usage_trigger;
