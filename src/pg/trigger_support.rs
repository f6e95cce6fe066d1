//! What the raw (C-ABI) triggers on `llm_cost.usage` share: their declaration,
//! the TriggerData check, and column positions looked up once, not per row.
//!
//! They are raw rather than `#[pg_trigger]` so they can read and rewrite the
//! tuple directly (one deform, one modify) on the per-row hot path.

use pgrx::prelude::*;
use std::cell::RefCell;
use std::thread::LocalKey;

/// Declares `$name` as a V1 C function calling `$body(fcinfo)` behind pgrx's
/// panic guard (a Rust panic becomes an ERROR); `$finfo` must be `pg_finfo_$name`.
/// `$body` is an `unsafe fn(FunctionCallInfo) -> Datum` whose only requirement
/// is the one Postgres meets: `fcinfo` is the call's, valid for the call.
macro_rules! c_trigger {
    ($name:ident, $finfo:ident, $body:path) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1_API: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }

        /// # Safety
        /// Called only by Postgres's function manager, with the `fcinfo` of this call.
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
            let body = move || {
                // SAFETY: `fcinfo` is the FunctionCallInfo Postgres passed to this
                // call, valid until it returns; that is all `$body` needs.
                unsafe { $body(fcinfo) }
            };
            // SAFETY: this is the top level of an extern "C-unwind" fn called by
            // Postgres, so no frame above the guard holds values with pending
            // destructors (what pgrx_extern_c_guard requires).
            unsafe { pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(body) }
        }
    };
}
pub(crate) use c_trigger;

/// The call's TriggerData, or an error when the function was not called as a trigger.
///
/// # Safety
/// `fcinfo` must be the valid FunctionCallInfo of the current call (as Postgres
/// passes it to a V1 function); the TriggerData returned lives as long as it.
pub unsafe fn trigger_data(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> *mut pg_sys::TriggerData {
    // SAFETY: the caller guarantees `fcinfo` is valid; `context` is either null
    // or a Node Postgres set up for this call, so reading its tag is sound, and
    // a T_TriggerData node is a TriggerData.
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
            error!("llm_cost.{name}() must be called as a trigger");
        }
        context as *mut pg_sys::TriggerData
    }
}

/// Positions of N named columns, cached per (relation, column count); a column
/// added by ALTER TABLE changes the count.
pub type PositionCache<const N: usize> = RefCell<Option<(pg_sys::Oid, i32, [usize; N])>>;

/// The 0-based positions of `names` in the relation, looked up by name once.
///
/// # Safety
/// `rel` must be a valid, open relation (a trigger's `tg_relation`).
pub unsafe fn column_positions<const N: usize>(
    cache: &'static LocalKey<PositionCache<N>>,
    rel: pg_sys::Relation,
    names: [&str; N],
) -> [usize; N] {
    // SAFETY: the caller guarantees `rel` is a valid open relation; its
    // relcache entry, and the tuple descriptor it owns, stay valid while it is open.
    let (relid, tupdesc) = unsafe { ((*rel).rd_id, (*rel).rd_att) };
    // SAFETY: `tupdesc` is the open relation's descriptor (above).
    let natts = unsafe { (*tupdesc).natts };
    if let Some((r, n, positions)) = cache.with(|c| *c.borrow()) {
        if r == relid && n == natts {
            return positions;
        }
    }
    // SAFETY: `tupdesc` is owned by the relcache entry, which outlives `desc`
    // (dropped at the end of this function); from_pg_unchecked does not free it.
    let desc = unsafe { pgrx::PgTupleDesc::from_pg_unchecked(tupdesc) };
    let found = names.map(|name| {
        desc.iter()
            .position(|a| !a.is_dropped() && a.name() == name)
            .unwrap_or_else(|| error!("llm_cost: usage table has no column \"{name}\""))
    });
    cache.with(|c| *c.borrow_mut() = Some((relid, natts, found)));
    found
}

/// Like `column_positions` for one column that may be missing: a database
/// still on an older version (the new library installed, ALTER EXTENSION
/// UPDATE not run yet) lacks the columns a later version added.
pub type OptionalPositionCache = RefCell<Option<(pg_sys::Oid, i32, Option<usize>)>>;

/// # Safety
/// `rel` must be a valid, open relation (a trigger's `tg_relation`).
pub unsafe fn optional_column_position(
    cache: &'static LocalKey<OptionalPositionCache>,
    rel: pg_sys::Relation,
    name: &str,
) -> Option<usize> {
    // SAFETY: the caller guarantees `rel` is a valid open relation; its
    // relcache entry, and the tuple descriptor it owns, stay valid while it is open.
    let (relid, tupdesc) = unsafe { ((*rel).rd_id, (*rel).rd_att) };
    // SAFETY: `tupdesc` is the open relation's descriptor (above).
    let natts = unsafe { (*tupdesc).natts };
    if let Some((r, n, position)) = cache.with(|c| *c.borrow()) {
        if r == relid && n == natts {
            return position;
        }
    }
    // SAFETY: `tupdesc` is owned by the relcache entry, which outlives `desc`
    // (dropped at the end of this function); from_pg_unchecked does not free it.
    let desc = unsafe { pgrx::PgTupleDesc::from_pg_unchecked(tupdesc) };
    let found = desc.iter().position(|a| !a.is_dropped() && a.name() == name);
    cache.with(|c| *c.borrow_mut() = Some((relid, natts, found)));
    found
}
