//! The state of our Rust aggregates (latency histograms, forecasts, anomaly
//! scans): a Rust value behind an `internal` datum, allocated in the
//! aggregate's memory context so it lives from row to row and is freed with
//! the aggregate.

use pgrx::prelude::*;
use pgrx::{Internal, PgMemoryContexts};

/// The aggregate's state, created (as `T::default()`) on first use. `name` is
/// the aggregate's, for the error when called outside one.
///
/// # Safety
/// `fcinfo` must be the valid FunctionCallInfo of the current call, and
/// `internal`, when initialized, must hold a `T` (the aggregate's own state,
/// which our state functions alone create).
pub unsafe fn state<'a, T: Default>(
    internal: &'a mut Internal,
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
) -> &'a mut T {
    // SAFETY: `fcinfo` is valid (caller's guarantee), and AggCheckCallContext
    // only reads it and writes the aggregate's memory context into
    // `agg_context`; that context lives as long as the aggregate's state, so
    // the `T` allocated in it does too. `internal` holds a `T` (caller's
    // guarantee, or just created here).
    unsafe {
        if !internal.initialized() {
            let mut agg_context: pg_sys::MemoryContext = std::ptr::null_mut();
            if pg_sys::AggCheckCallContext(fcinfo, &mut agg_context) == 0 {
                error!("llm_cost: {name} state function called outside an aggregate");
            }
            *internal = PgMemoryContexts::For(agg_context).switch_to(|_| Internal::new(T::default()));
        }
        internal.get_mut::<T>().expect("initialized above")
    }
}

/// A combine function's work: `merge` the second state (if any) into the
/// first (created if missing); returns the first.
///
/// # Safety
/// As for [`state`]: `fcinfo` is the current call's, and `a` and `b`, when
/// present, hold a `T`.
pub unsafe fn combine<T: Default + Clone>(
    a: Option<Internal>,
    b: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
    merge: impl FnOnce(&mut T, T),
) -> Internal {
    // SAFETY: `b` holds a `T` (caller's guarantee), allocated in the
    // aggregate's memory context, which outlives this call.
    let other = b.and_then(|b| unsafe { b.get::<T>() }.cloned());
    let mut a = a.unwrap_or_default();
    // SAFETY: `fcinfo` and `a` are as `state` needs (caller's guarantee).
    let s = unsafe { state::<T>(&mut a, fcinfo, name) };
    if let Some(other) = other {
        merge(s, other);
    }
    a
}

/// Spend per day (days since 2000-01-01), the state the forecasting and
/// anomaly aggregates share; several rows for one day add up.
pub type DailySpend = rustc_hash::FxHashMap<i32, f64>;

/// Adds one row's cost to its day.
pub fn add_day(daily: &mut DailySpend, day: pgrx::datum::Date, cost: pgrx::AnyNumeric) {
    *daily.entry(day.to_pg_epoch_days()).or_insert(0.0) += f64::try_from(cost).unwrap_or(0.0);
}

/// Adds another state's days (a combine function's work).
pub fn merge_days(into: &mut DailySpend, from: DailySpend) {
    for (day, cost) in from {
        *into.entry(day).or_insert(0.0) += cost;
    }
}

/// Appends the days to a serialized state: 12 bytes a day.
pub fn write_days(daily: &DailySpend, bytes: &mut Vec<u8>) {
    bytes.reserve(daily.len() * 12);
    for (day, cost) in daily {
        bytes.extend(day.to_le_bytes());
        bytes.extend(cost.to_le_bytes());
    }
}

/// The days written by `write_days`.
pub fn read_days(bytes: &[u8]) -> DailySpend {
    let mut daily = DailySpend::default();
    for chunk in bytes.chunks_exact(12) {
        let day = i32::from_le_bytes(chunk[0..4].try_into().expect("4 bytes"));
        *daily.entry(day).or_insert(0.0) += f64::from_le_bytes(chunk[4..12].try_into().expect("8 bytes"));
    }
    daily
}
