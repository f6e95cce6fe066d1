//! The one owner of the budget machinery's transaction callbacks.
//!
//! Spend is kept in memory per subtransaction (`pending_spend`) and written
//! just before commit by the spend trigger's writer (`spend_trigger`). This
//! module registers the callbacks, once per backend, and tells each of them
//! what happened; neither calls the other's transaction hooks.

use crate::budgets::{pending_spend, spend_trigger};
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, Ordering};

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the callbacks (the first time this backend keeps pending spend).
pub fn register() {
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers static functions (no argument pointer), once per
        // backend; Postgres keeps them for the backend's life.
        unsafe {
            pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
            pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
        }
    }
}

/// # Safety
/// Called only by Postgres, as the transaction callback registered above.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    if matches!(event, XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE) && pending_spend::any_pending() {
        // Deferred triggers (the application's own) have fired and portals
        // are closed; nothing can insert usage after this point. Writing here
        // rather than from a deferred trigger event, as 0.1.0 did, saves every
        // transaction the event and its trigger call (see
        // spend_trigger::flush_at_commit).
        spend_trigger::flush_at_commit();
    }
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT) {
        pending_spend::forget_all();
    }
    spend_trigger::on_xact_end(event);
}

/// # Safety
/// Called only by Postgres, as the subtransaction callback registered above.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            let unannounced = pending_spend::subxact_aborted(my);
            spend_trigger::forget_announced(&unannounced.into_iter().collect());
        }
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => pending_spend::subxact_committed(my, parent),
        _ => {}
    }
}
