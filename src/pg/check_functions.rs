//! The small predicates the tables' CHECK constraints (and the column default
//! of `tenant_id`) call, as C functions.
//!
//! Written in SQL they would be inlined into every constraint each time an
//! INSERT starts, and inlining an SQL function reads its body back from a
//! node string: measured with perf, that was ~9% of a single-row INSERT's
//! backend time on `llm_cost.usage` (ExecConstraints -> eval_const_expressions
//! -> stringToNode). A C function costs one call per row instead. They are
//! declared by hand at the top of sql/schema.sql, before the tables that use
//! them, which `#[pg_extern]` declarations could not be.

use crate::pg::trigger_support::c_trigger as c_function;
use pgrx::prelude::*;
use pgrx::AnyNumeric;

/// `is_valid_amount(price numeric) -> boolean`: NULL, or a number in
/// [0, 10^15). NaN and infinities compare above every number, so they fail
/// the upper bound (and -Infinity the lower).
///
/// # Safety
/// `fcinfo` is this call's, with its one numeric argument as declared in sql/schema.sql.
unsafe fn is_valid_amount(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is valid and has one argument (the function's declared
    // arity), so `args[0]` is initialised.
    let arg = unsafe { &*(*fcinfo).args.as_ptr() };
    if arg.isnull {
        return true.into_datum().expect("bool datum");
    }
    // SAFETY: a non-null argument declared numeric is a numeric datum, alive
    // in the caller's memory context for the whole call.
    let amount =
        unsafe { AnyNumeric::from_polymorphic_datum(arg.value, false, pg_sys::NUMERICOID) }.expect("numeric argument");
    let valid = amount >= AnyNumeric::from(0) && amount < AnyNumeric::from(1_000_000_000_000_000_i64);
    valid.into_datum().expect("bool datum")
}
c_function!(llm_cost_is_valid_amount, pg_finfo_llm_cost_is_valid_amount, is_valid_amount);

/// `is_service_tier(tier text) -> boolean` (strict): a tier a price can have.
///
/// # Safety
/// `fcinfo` is this call's, with its one text argument as declared in sql/schema.sql.
unsafe fn is_service_tier(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is valid with one argument, never NULL (the function is
    // STRICT), a text datum that lives for the call; `tier` does not outlive it.
    let tier = unsafe { <&str>::from_polymorphic_datum((*(*fcinfo).args.as_ptr()).value, false, pg_sys::TEXTOID) }
        .expect("text argument");
    matches!(tier, "standard" | "batch" | "flex" | "priority").into_datum().expect("bool datum")
}
c_function!(llm_cost_is_service_tier, pg_finfo_llm_cost_is_service_tier, is_service_tier);

/// `current_tenant() -> text`: the setting llm_cost.tenant_id, NULL when unset or empty.
///
/// # Safety
/// `fcinfo` is this call's as declared in sql/schema.sql.
unsafe fn current_tenant(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    match crate::pg::settings::TENANT_ID.get() {
        Some(tenant) if !tenant.as_bytes().is_empty() => tenant
            .to_str()
            .unwrap_or_else(|_| error!("llm_cost.tenant_id is not valid UTF-8"))
            .into_datum()
            .expect("text datum"),
        _ => {
            // SAFETY: `fcinfo` is valid and ours to write the result's null flag into.
            unsafe { (*fcinfo).isnull = true };
            pg_sys::Datum::from(0)
        }
    }
}
c_function!(llm_cost_current_tenant, pg_finfo_llm_cost_current_tenant, current_tenant);

/// `is_off_peak_windows(windows jsonb) -> boolean`: NULL, or off-peak windows
/// that are valid and already in the normalised form `llm_cost.prices`
/// stores (`set_price` and `import_prices` normalise; see src/pricing/off_peak.rs).
///
/// # Safety
/// `fcinfo` is this call's, with its one jsonb argument as declared in sql/schema.sql.
unsafe fn is_off_peak_windows(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is valid and has one argument (the function's declared
    // arity), so `args[0]` is initialised.
    let arg = unsafe { &*(*fcinfo).args.as_ptr() };
    if arg.isnull {
        return true.into_datum().expect("bool datum");
    }
    // SAFETY: a non-null jsonb argument, alive in the caller's memory context
    // for the call; it is copied into a serde value here.
    let windows =
        unsafe { pgrx::JsonB::from_polymorphic_datum(arg.value, false, pg_sys::JSONBOID) }.expect("jsonb argument");
    let valid = matches!(crate::pricing::off_peak::parse(&windows.0, &crate::pricing::off_peak::zone_known),
                         Ok(specs) if crate::pricing::off_peak::normalise(&specs) == windows.0);
    valid.into_datum().expect("bool datum")
}
c_function!(llm_cost_is_off_peak_windows, pg_finfo_llm_cost_is_off_peak_windows, is_off_peak_windows);

/// The jsonb argument, or None for SQL NULL.
///
/// # Safety
/// `fcinfo` is the valid FunctionCallInfo of a call whose first argument is jsonb.
unsafe fn jsonb_arg(fcinfo: pg_sys::FunctionCallInfo) -> Option<serde_json::Value> {
    // SAFETY: `fcinfo` is valid with at least one argument (caller's guarantee),
    // so `args[0]` is initialised.
    let arg = unsafe { &*(*fcinfo).args.as_ptr() };
    if arg.isnull {
        return None;
    }
    // SAFETY: a non-null jsonb argument, alive in the caller's memory context
    // for the call; it is copied into a serde value here.
    Some(unsafe { pgrx::JsonB::from_polymorphic_datum(arg.value, false, pg_sys::JSONBOID) }.expect("jsonb argument").0)
}

/// `is_unit_prices(unit_prices jsonb) -> boolean`: NULL, or unit prices that
/// are valid and in the normalised form `llm_cost.prices` stores
/// (`_unit_prices` normalises; see src/pricing/units.rs).
///
/// # Safety
/// `fcinfo` is this call's, with its one jsonb argument as declared in sql/schema.sql.
unsafe fn is_unit_prices(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: the caller's guarantee is `jsonb_arg`'s.
    let valid = match unsafe { jsonb_arg(fcinfo) } {
        None => true,
        Some(v) => matches!(crate::pricing::units::UnitPrices::parse(&v), Ok(p) if p.to_json() == v),
    };
    valid.into_datum().expect("bool datum")
}
c_function!(llm_cost_is_unit_prices, pg_finfo_llm_cost_is_unit_prices, is_unit_prices);

/// `is_units(units jsonb) -> boolean`: NULL, or a call's units with known
/// names and valid quantities (that subsets fit their parents is the insert
/// trigger's check, with a clearer message).
///
/// # Safety
/// `fcinfo` is this call's, with its one jsonb argument as declared in sql/schema.sql.
unsafe fn is_units(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is valid with its one argument (caller's guarantee).
    let arg = unsafe { &*(*fcinfo).args.as_ptr() };
    // The same binary reader the insert trigger uses (src/pricing/units_jsonb.rs):
    // the CHECK runs on every inserted row with units, after the trigger.
    // SAFETY: a non-null jsonb argument, alive for the call.
    let valid = arg.isnull || unsafe { crate::pricing::units_jsonb::units_from_jsonb(arg.value) }.is_ok();
    valid.into_datum().expect("bool datum")
}
c_function!(llm_cost_is_units, pg_finfo_llm_cost_is_units, is_units);
