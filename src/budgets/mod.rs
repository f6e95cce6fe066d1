//! Budgets: inserted usage folded into running spend in the same transaction
//! (the SQL side is sql/spend.sql; alerts go through sql/queue.sql).
//!
//! - `spend_trigger`: the AFTER INSERT trigger that folds usage into pending spend and writes it
//! - `pending_spend`: that spend in memory, per subtransaction, until it is written
//! - `retired_spend`: the spend of a month retire_usage drops, read in one scan for retired_spend
//! - `spend_store`: adds to existing `budget_spend_slots` rows without SPI
//! - `escrow`: which slot of a total a transaction adds to, and the caps that keep that exact
//! - `budget_cache`: the per-backend index of enabled budgets
//! - `budget_period`: which calendar period of a budget a row falls in (twin of `llm_cost.period_start`), or which slot of its window
//! - `xact_callbacks`: the transaction callbacks: write pending spend at pre-commit, forget it after

use rustc_hash::FxHashMap;
use std::hash::Hash;

/// Inserts into one of a backend's caches of hints (slot TIDs, what it knows
/// of slots), which hold at most `max` entries: a full cache starts over, and
/// a forgotten hint costs one probe.
pub(crate) fn insert_bounded<K: Eq + Hash, V>(cache: &mut FxHashMap<K, V>, key: K, value: V, max: usize) {
    if cache.len() >= max && !cache.contains_key(&key) {
        cache.clear();
    }
    cache.insert(key, value);
}

pub mod budget_cache;
pub mod budget_period;
pub mod escrow;
pub mod pending_spend;
pub mod retired_spend;
pub mod spend_store;
pub mod spend_trigger;
pub mod xact_callbacks;
