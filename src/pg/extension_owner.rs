//! Running internal work as the extension's owner.
//!
//! A role that may only insert usage (llm_cost_writer) must still have its
//! rows priced and its budgets kept: the pricing cache reads the price tables,
//! the budget cache reads the budgets, and the at-commit flush writes
//! budget_spend and notifications. Those reads and writes are the extension's
//! own, so they run as the owner of schema llm_cost, the way a SECURITY
//! DEFINER function would: with SECURITY_LOCAL_USERID_CHANGE set so nothing
//! in between can change roles, and with search_path pinned to
//! `pg_catalog, pg_temp`, or the caller could put an operator such as `+`
//! ahead of pg_catalog's and have it run with the owner's rights. Postgres
//! restores the caller's identity and settings on error (transaction and
//! subtransaction abort reset both).

use pgrx::pg_sys;

/// The owner of schema llm_cost.
fn owner() -> pg_sys::Oid {
    // SAFETY: plain catalog lookups inside a transaction: the name is a
    // NUL-terminated literal; a non-null syscache tuple is a pg_namespace row
    // (GETSTRUCT gives its fixed part), read before ReleaseSysCache unpins it.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"llm_cost".as_ptr(), false);
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::NAMESPACEOID as i32, pg_sys::Datum::from(nsp));
        if tuple.is_null() {
            pgrx::error!("llm_cost: schema llm_cost not found");
        }
        let form = pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_namespace;
        let owner = (*form).nspowner;
        pg_sys::ReleaseSysCache(tuple);
        owner
    }
}

/// Runs `f` as the owner of schema llm_cost, then restores the caller.
pub fn run_as_owner<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: Postgres's own SECURITY DEFINER sequence (fmgr_security_definer):
    // the out-pointers are locals, the GUC names and values NUL-terminated
    // literals. If `f` raises an ERROR, transaction or subtransaction abort
    // restores the user, security context and GUC nest level, as the module
    // comment says; otherwise they are restored here.
    unsafe {
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context = 0;
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        let owner = owner();
        if owner == saved_user {
            return f();
        }
        let guc_level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        pg_sys::SetUserIdAndSecContext(owner, saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
        let result = f();
        pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
        pg_sys::AtEOXact_GUC(true, guc_level);
        result
    }
}
