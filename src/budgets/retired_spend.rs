//! The spend of a month of usage that `llm_cost.retire_usage` drops whole
//! (sql/retention.sql), moved to `llm_cost.retired_spend` first so that
//! `rebuild_budget_spend` and `budget_spend_drift` stay exact.
//!
//! One sequential scan of the partition, each row matched to its budgets by
//! the code the spend trigger matched it with when it was inserted (the same
//! budget index, periods and per values: `spend_trigger::for_each_total`),
//! summed in memory, then one upsert. The SQL way (`_spend_deltas`, as
//! `_retire_rows` still does for rows it deletes) called SQL functions per
//! row and budget: 27.7 s for a month of 3M rows with three budgets, where the
//! DROP itself takes 0.6 s.

use crate::budgets::budget_cache::with_budgets;
use crate::budgets::pending_spend::{SpendDelta, SpendKey};
use crate::budgets::spend_trigger::{for_each_total, timestamptz, SPEND_COLUMNS};
use crate::pg::trigger_support::{column_positions, PositionCache};
use pgrx::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;

thread_local! {
    static SPEND_POSITIONS: PositionCache<14> = const { RefCell::new(None) };
    static ID_POSITION: PositionCache<1> = const { RefCell::new(None) };
}

/// Adds the spend of the rows of partition `part` (of `llm_cost.usage`)
/// before `before` with ids up to `mark` to `llm_cost.retired_spend`, per
/// enabled budget, period (slot, for a rolling budget) and per value; returns
/// how many rows it read. Declared in sql/retention.sql (regclass argument).
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn _retire_spend_of(part: pg_sys::Oid, before: TimestampWithTimeZone, mark: i64) -> i64 {
    let before = before.into_datum().map_or(i64::MAX, |d| d.value() as i64);
    let (rows, totals) = with_budgets(|index| {
        let mut totals: FxHashMap<SpendKey, SpendDelta> = FxHashMap::default();
        let rows = scan_rows(part, before, mark, |cols, values, nulls| {
            if !index.is_empty() {
                // SAFETY: `values` and `nulls` are deformed from a row of
                // `part`, a partition of usage, whose SPEND_COLUMNS are at `cols`.
                unsafe {
                    for_each_total(index, cols, values, nulls, |key, delta| totals.entry(key).or_default().add(delta))
                };
            }
        });
        (rows, totals)
    });
    if !totals.is_empty() {
        add_to_retired_spend(totals);
    }
    rows
}

/// Calls `f` with the spend columns' positions and each deformed row of `part`
/// whose occurred_at is before `before` and id at most `mark`, in a memory
/// context reset after every row; returns how many rows it passed.
fn scan_rows(
    part: pg_sys::Oid,
    before: i64,
    mark: i64,
    mut f: impl FnMut(&[usize; 14], &[pg_sys::Datum], &[bool]),
) -> i64 {
    let mut rows = 0;
    // SAFETY: `part` is opened (retire_usage holds a SHARE lock on it, so it
    // exists and keeps its rows) and closed here; the scan reads it under the
    // active snapshot (this function is VOLATILE, so its caller pushed one for
    // the statement), which stays valid until we return. The slot is made for
    // the relation, so after slot_getallattrs its tts_values and tts_isnull
    // hold `natts` entries, valid until the next fetch: `f` uses them before.
    // On an ERROR, the transaction's resource owner releases the scan, slot
    // and relation.
    unsafe {
        // A child of the call's context: deleted at the end, or with it on an
        // ERROR (which may leave it current until the abort resets memory).
        let per_row = pg_sys::AllocSetContextCreateExtended(
            pg_sys::CurrentMemoryContext,
            c"llm_cost retire_usage row".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        let rel = pg_sys::table_open(part, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let cols = column_positions(&SPEND_POSITIONS, rel, SPEND_COLUMNS);
        let [id_col] = column_positions(&ID_POSITION, rel, ["id"]);
        let at_col = cols[0];
        let natts = (*(*rel).rd_att).natts as usize;
        let scan = pg_sys::table_beginscan(rel, pg_sys::GetActiveSnapshot(), 0, std::ptr::null_mut());
        let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        while pg_sys::table_scan_getnextslot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
            check_for_interrupts!();
            pg_sys::slot_getallattrs(slot);
            let values = std::slice::from_raw_parts((*slot).tts_values, natts);
            let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts);
            // occurred_at and id are NOT NULL by-value int64s (timestamptz, bigint)
            if values[at_col].value() as i64 >= before || values[id_col].value() as i64 > mark {
                continue;
            }
            rows += 1;
            // what `f` pallocs (detoasted tags) goes with the row
            let outer = pg_sys::MemoryContextSwitchTo(per_row);
            f(&cols, values, nulls);
            pg_sys::MemoryContextSwitchTo(outer);
            pg_sys::MemoryContextReset(per_row);
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::MemoryContextDelete(per_row);
    }
    rows
}

/// One upsert of all the totals, in key order (as `_retire_rows` writes them).
fn add_to_retired_spend(totals: FxHashMap<SpendKey, SpendDelta>) {
    let mut totals: Vec<(SpendKey, SpendDelta)> = totals.into_iter().collect();
    totals.sort_by(|a, b| a.0.cmp(&b.0));
    let budget_ids: Vec<i64> = totals.iter().map(|(k, _)| k.budget_id).collect();
    let starts: Vec<Option<TimestampWithTimeZone>> = totals.iter().map(|(k, _)| timestamptz(k.period_start)).collect();
    let per_values: Vec<&str> = totals.iter().map(|(k, _)| k.per_value.as_str()).collect();
    let spent: Vec<String> = totals.iter().map(|(_, d)| d.cost.to_string()).collect();
    let calls: Vec<i64> = totals.iter().map(|(_, d)| d.calls).collect();
    let tokens: Vec<i64> = totals.iter().map(|(_, d)| d.tokens).collect();
    Spi::run_with_args(
        "INSERT INTO llm_cost.retired_spend AS r (budget_id, period_start, per_value, spent, calls, tokens)
         SELECT t.budget_id, t.period_start, t.per_value, t.spent::numeric, t.calls, t.tokens
           FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
                AS t (budget_id, period_start, per_value, spent, calls, tokens)
         ORDER BY 1, 2, 3
         ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
            SET spent = r.spent + excluded.spent, calls = r.calls + excluded.calls, tokens = r.tokens + excluded.tokens",
        &[budget_ids.into(), starts.into(), per_values.into(), spent.into(), calls.into(), tokens.into()],
    )
    .unwrap_or_else(|e| error!("llm_cost: cannot write retired_spend: {e}"));
}
