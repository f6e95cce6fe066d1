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
macro_rules! c_trigger {
    ($name:ident, $finfo:ident, $body:path) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1_API: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }

        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
            pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(move || unsafe { $body(fcinfo) })
        }
    };
}
pub(crate) use c_trigger;

/// The call's TriggerData, or an error when the function was not called as a trigger.
pub fn trigger_data(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> *mut pg_sys::TriggerData {
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
pub unsafe fn column_positions<const N: usize>(
    cache: &'static LocalKey<PositionCache<N>>,
    rel: pg_sys::Relation,
    names: [&str; N],
) -> [usize; N] {
    let (relid, tupdesc) = unsafe { ((*rel).rd_id, (*rel).rd_att) };
    let natts = unsafe { (*tupdesc).natts };
    if let Some((r, n, positions)) = cache.with(|c| *c.borrow()) {
        if r == relid && n == natts {
            return positions;
        }
    }
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
    let (relid, tupdesc) = unsafe { ((*rel).rd_id, (*rel).rd_att) };
    let natts = unsafe { (*tupdesc).natts };
    if let Some((r, n, position)) = cache.with(|c| *c.borrow()) {
        if r == relid && n == natts {
            return position;
        }
    }
    let desc = unsafe { pgrx::PgTupleDesc::from_pg_unchecked(tupdesc) };
    let found = desc.iter().position(|a| !a.is_dropped() && a.name() == name);
    cache.with(|c| *c.borrow_mut() = Some((relid, natts, found)));
    found
}
