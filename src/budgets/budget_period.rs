//! Which calendar period of a budget a usage row falls in: the Rust twin of
//! `llm_cost.period_start` (sql/budgets.sql), used by the spend trigger for
//! every inserted row. Both must agree to the microsecond, or the running
//! totals and the ledger disagree (`budget_spend_drift`); the `#[pg_test]`
//! `spend_lands_in_the_sql_period_at_calendar_edges` compares them at DST
//! changes, month starts and the leap day in zones with unusual clock changes.
//!
//! A period starts at the first instant whose wall clock in the budget's zone
//! reads the period's first midnight. `date_trunc(period, at, zone)` alone is
//! wrong where clocks are set back across midnight (America/Havana,
//! Atlantic/Azores): the midnight occurs twice and it picks the second, so the
//! day would start an hour late and its first hour would belong to no period.

use crate::budgets::budget_cache::Budget;
use pgrx::prelude::*;

/// Start of the budget's period containing `at` (both Postgres timestamps:
/// microseconds since 2000-01-01 UTC); for a rolling budget, of the slot of
/// its window (`llm_cost.window_slot`).
pub fn period_start(budget: &Budget, at: i64) -> i64 {
    if let Some(slot) = budget.slot_micros {
        return window_slot(slot, at);
    }
    if budget.period == "total" {
        return i64::MIN; // -infinity
    }
    const USECS_PER_MINUTE: i64 = 60_000_000;
    const Y1980: i64 = -631_152_000_000_000; // Postgres timestamps count from 2000
    let minute = at.div_euclid(USECS_PER_MINUTE);
    let (cached_minute, cached_start) = budget.last_period.get();
    if at >= Y1980 && minute == cached_minute {
        return cached_start;
    }
    let start = first_instant_of_period(&budget.period, &budget.timezone, at);
    budget.last_period.set((minute, start));
    start
}

/// Seconds from the Unix epoch to Postgres' (2000-01-01 UTC), in microseconds.
const UNIX_TO_POSTGRES_EPOCH: i64 = 946_684_800_000_000;

/// `llm_cost.window_slot`: slots are aligned on the Unix epoch, as
/// `to_timestamp(floor(extract(epoch FROM at) / width) * width)` aligns them.
pub fn window_slot(slot_micros: i64, at: i64) -> i64 {
    let unix = at + UNIX_TO_POSTGRES_EPOCH;
    unix.div_euclid(slot_micros) * slot_micros - UNIX_TO_POSTGRES_EPOCH
}

/// `llm_cost._first_instant(date_trunc(period, at AT TIME ZONE zone), zone)`.
fn first_instant_of_period(period: &str, zone: &str, at: i64) -> i64 {
    let local = truncate_wall_clock(period, wall_clock(zone, at));
    let later = instant_of_wall_clock(zone, local);
    // The same wall-clock time under the UTC offset in force just before
    // `later`: an earlier instant when the clocks were set back across it.
    let just_before = later - 1;
    let offset_before = wall_clock(zone, just_before) - just_before;
    let earlier = local - offset_before;
    if earlier < later && wall_clock(zone, earlier) == local {
        earlier
    } else {
        later
    }
}

/// `at AT TIME ZONE zone`: the wall-clock timestamp there.
fn wall_clock(zone: &str, at: i64) -> i64 {
    call2(timestamptz_zone, zone, at)
}

/// `local AT TIME ZONE zone` for a wall-clock timestamp: Postgres' instant for it.
fn instant_of_wall_clock(zone: &str, local: i64) -> i64 {
    call2(timestamp_zone, zone, local)
}

/// `date_trunc(period, local)` on a wall-clock timestamp.
fn truncate_wall_clock(period: &str, local: i64) -> i64 {
    call2(timestamp_trunc, period, local)
}

/// Calls a built-in (text, timestamp) function; timestamps are int64 datums.
fn call2(f: unsafe extern "C-unwind" fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum, text: &str, ts: i64) -> i64 {
    let text = text.into_datum().expect("text datum");
    // SAFETY: `f` is one of the wrappers below, each a built-in that takes
    // (text, timestamp[tz]) and returns a timestamp[tz] by value; the text
    // datum is a valid palloc'd varlena for the duration of the call.
    unsafe {
        pg_sys::DirectFunctionCall2Coll(Some(f), pg_sys::DEFAULT_COLLATION_OID, text, pg_sys::Datum::from(ts)).value()
            as i64
    }
}

/// # Safety
/// Called only through DirectFunctionCall2Coll with a (text, timestamptz) frame (`call2`).
unsafe extern "C-unwind" fn timestamptz_zone(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: called through DirectFunctionCall2Coll with a (text, timestamptz) frame.
    unsafe { pg_sys::timestamptz_zone(fcinfo) }
}

/// # Safety
/// Called only through DirectFunctionCall2Coll with a (text, timestamp) frame (`call2`).
unsafe extern "C-unwind" fn timestamp_zone(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: called through DirectFunctionCall2Coll with a (text, timestamp) frame.
    unsafe { pg_sys::timestamp_zone(fcinfo) }
}

/// # Safety
/// Called only through DirectFunctionCall2Coll with a (text, timestamp) frame (`call2`).
unsafe extern "C-unwind" fn timestamp_trunc(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: called through DirectFunctionCall2Coll with a (text, timestamp) frame.
    unsafe { pg_sys::timestamp_trunc(fcinfo) }
}

#[cfg(test)]
mod tests {
    use super::window_slot;

    #[test]
    fn window_slots_align_on_the_unix_epoch() {
        const SECOND: i64 = 1_000_000;
        // 2000-01-01 00:00:00 UTC is Unix second 946684800, a multiple of 24.
        assert_eq!(window_slot(24 * SECOND, 0), 0);
        assert_eq!(window_slot(24 * SECOND, 23 * SECOND + 999_999), 0);
        assert_eq!(window_slot(24 * SECOND, 24 * SECOND), 24 * SECOND);
        // before 2000 (negative Postgres timestamps) floors downwards
        assert_eq!(window_slot(SECOND, -1), -SECOND);
        // 720 s slots (a 30-day window): 946684800 = 1314840 * 720
        assert_eq!(window_slot(720 * SECOND, 719 * SECOND), 0);
        // 7 s slots do not divide 946684800 (remainder 5): slot edges are at Postgres second -5, 2, 9, ...
        assert_eq!(window_slot(7 * SECOND, SECOND), -5 * SECOND);
        assert_eq!(window_slot(7 * SECOND, 2 * SECOND), 2 * SECOND);
        assert_eq!(window_slot(7 * SECOND, 8 * SECOND + 999_999), 2 * SECOND);
    }
}
