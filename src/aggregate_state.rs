//! The state of our Rust aggregates (latency histograms, forecasts, anomaly
//! scans): a Rust value behind an `internal` datum, allocated in the
//! aggregate's memory context so it lives from row to row and is freed with
//! the aggregate.

use pgrx::prelude::*;
use pgrx::{Internal, PgMemoryContexts};

/// The aggregate's state, created (as `T::default()`) on first use. `name` is
/// the aggregate's, for the error when called outside one.
pub fn state<'a, T: Default>(internal: &'a mut Internal, fcinfo: pg_sys::FunctionCallInfo, name: &str) -> &'a mut T {
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
pub fn combine<T: Default + Clone>(
    a: Option<Internal>,
    b: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
    merge: impl FnOnce(&mut T, T),
) -> Internal {
    let other = b.and_then(|b| unsafe { b.get::<T>() }.cloned());
    let mut a = a.unwrap_or_default();
    let s = state::<T>(&mut a, fcinfo, name);
    if let Some(other) = other {
        merge(s, other);
    }
    a
}
