//! BEFORE INSERT trigger on `llm_cost.usage`: normalise `raw_usage` into the
//! token columns, validate, and price the row.
//!
//! It runs once per inserted row (INSERT, multi-row INSERT and COPY alike), so
//! it is written against the raw tuple: one deform, one modify, no SPI. A row
//! is never rejected for lack of a price: the call has already happened.

use crate::ledger::raw_usage;
use crate::pg::errors;
use crate::pg::numeric_datum::NumericDatum;
use crate::pg::settings::{OnUnpriced, ON_UNPRICED};
use crate::pg::trigger_support::{
    c_trigger, column_positions, optional_column_position, trigger_data, OptionalPositionCache, PositionCache,
};
use crate::pricing::formula::Tokens;
use crate::pricing::units::Units;
use crate::pricing::{self, service_tier};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Positions (0-based) of the columns the trigger reads or writes.
#[derive(Clone, Copy)]
struct Columns {
    occurred_at: usize,
    provider: usize,
    model: usize,
    input: usize,
    output: usize,
    cached_input: usize,
    cache_write: usize,
    reasoning: usize,
    service_tier: usize,
    raw_usage: usize,
    cost: usize,
    currency: usize,
    price_id: usize,
}

thread_local! {
    static COLUMNS: PositionCache<13> = const { RefCell::new(None) };
    /// `units` (0.3.0): absent in a database not yet updated from 0.2.0.
    static UNITS_COLUMN: OptionalPositionCache = const { RefCell::new(None) };
    /// (provider, model) already warned about as unpriced in this transaction;
    /// emptied when the transaction ends.
    static WARNED: RefCell<HashSet<(String, String)>> = RefCell::new(HashSet::new());
}
static XACT_CALLBACK_REGISTERED: AtomicBool = AtomicBool::new(false);

/// # Safety
/// Called only by Postgres, as the transaction callback registered below.
#[pg_guard]
unsafe extern "C-unwind" fn forget_warnings(_event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    // Any transaction event: the set is small, and a warning repeated after a
    // PRE_COMMIT cannot happen since no rows are inserted after it.
    WARNED.with(|w| w.borrow_mut().clear());
}

/// # Safety
/// `rel` must be a valid, open relation (the trigger's `tg_relation`).
unsafe fn columns(rel: pg_sys::Relation) -> Columns {
    // SAFETY: `rel` is valid and open (caller's guarantee).
    let [occurred_at, provider, model, input, output, cached_input, cache_write, reasoning, service_tier, raw_usage, cost, currency, price_id] = unsafe {
        column_positions(
            &COLUMNS,
            rel,
            [
                "occurred_at",
                "provider",
                "model",
                "input_tokens",
                "output_tokens",
                "cached_input_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "service_tier",
                "raw_usage",
                "cost",
                "currency",
                "price_id",
            ],
        )
    };
    Columns {
        occurred_at,
        provider,
        model,
        input,
        output,
        cached_input,
        cache_write,
        reasoning,
        service_tier,
        raw_usage,
        cost,
        currency,
        price_id,
    }
}

// The trigger function, declared in sql/api.sql.
c_trigger!(usage_before_insert, pg_finfo_usage_before_insert, before_insert);

/// # Safety
/// `fcinfo` must be the call's, as Postgres passes it to the row trigger on
/// `llm_cost.usage` that sql/api.sql declares. That it is a trigger call is
/// checked (an ERROR otherwise), and the columns are found by name; that it is
/// a row trigger (a non-null `tg_trigtuple`) is the declaration's to ensure.
unsafe fn before_insert(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is this call's (caller's guarantee).
    let trigdata = unsafe { trigger_data(fcinfo, "usage_before_insert") };
    // SAFETY: Postgres fills a row trigger's TriggerData with the new tuple and
    // the open relation, both valid for the whole call; the relation's tuple
    // descriptor is owned by its relcache entry, pinned while it is open.
    let (tuple, rel, tupdesc) = unsafe {
        let rel = (*trigdata).tg_relation;
        ((*trigdata).tg_trigtuple, rel, (*rel).rd_att)
    };
    // SAFETY: `rel` is the trigger's open relation (above).
    let cols = unsafe { columns(rel) };
    // A write is the sign that rollups have work: the worker that does it must run.
    crate::maintenance::worker::start_if_missing_now_and_then();

    // SAFETY: `tupdesc` is the open relation's descriptor (above).
    let natts = unsafe { (*tupdesc).natts } as usize;
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![false; natts];
    // SAFETY: `tuple` is a row of `rel`, described by `tupdesc`, and `values`
    // and `nulls` have room for all `natts` attributes. By-reference datums
    // point into `tuple` (or palloc'd detoasted copies), valid for the call.
    unsafe { pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr()) };

    let text = |i: usize, column: &str| -> &str {
        if nulls[i] {
            errors::not_null(format!("llm_cost.usage.{column} must not be NULL"));
        }
        // SAFETY: a non-null attribute of a text column (found by name in
        // `columns`), deformed from the row, which outlives this call's borrows.
        unsafe { <&str>::from_datum(values[i], false) }.unwrap_or("")
    };
    let provider = text(cols.provider, "provider");
    let model = text(cols.model, "model");
    let tier = service_tier(text(cols.service_tier, "service_tier"));
    // NOT NULL columns with defaults: NULL only if the user wrote it, and the
    // table's constraint rejects that after us.
    let int8 = |i: usize| if nulls[i] { 0 } else { values[i].value() as i64 };
    let mut tokens = Tokens {
        input: int8(cols.input),
        output: int8(cols.output),
        cached_input: int8(cols.cached_input),
        cache_write: int8(cols.cache_write),
        reasoning: int8(cols.reasoning),
    };

    // SAFETY: `rel` is the trigger's open relation (above).
    let units_col = unsafe { optional_column_position(&UNITS_COLUMN, rel, "units") };
    let mut units: Option<Units> = match units_col {
        // SAFETY: the row's non-null `units`, a jsonb column, valid for the call.
        Some(i) if !nulls[i] => Some(unsafe { pricing::units_datum(values[i]) }),
        _ => None,
    };

    let mut replace: Vec<(usize, pg_sys::Datum, bool)> = Vec::with_capacity(9);
    if tokens == Tokens::default() && !nulls[cols.raw_usage] {
        // SAFETY: the row's non-null `raw_usage`, a jsonb column, valid for the call.
        let (raw_tokens, raw_units) = unsafe { from_raw(values[cols.raw_usage]) };
        tokens = raw_tokens;
        for (i, v) in [
            (cols.input, tokens.input),
            (cols.output, tokens.output),
            (cols.cached_input, tokens.cached_input),
            (cols.cache_write, tokens.cache_write),
            (cols.reasoning, tokens.reasoning),
        ] {
            replace.push((i, pg_sys::Datum::from(v), false));
        }
        // The provider's units fill `units` when the app gave none.
        if let (Some(i), None, Some(raw_units)) = (units_col, &units, raw_units) {
            let value = serde_json::Value::Object(raw_units);
            units = Some(pricing::parse_units(&value));
            replace.push((i, pgrx::JsonB(value).into_datum().expect("jsonb datum"), false));
        }
    }
    pricing::validate_tokens(&tokens, units.as_ref());

    if nulls[cols.cost] {
        let at = if nulls[cols.occurred_at] {
            // SAFETY: reads a backend global; a trigger runs inside a transaction.
            unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
        } else {
            values[cols.occurred_at].value() as i64
        };
        match pricing::price(provider, model, &tokens, at, tier, units.as_ref()) {
            Some(p) => {
                replace.push((cols.cost, NumericDatum::from_decimal(p.cost).0, false));
                replace.push((cols.price_id, pg_sys::Datum::from(p.price_id), false));
                if nulls[cols.currency] {
                    replace.push((cols.currency, (&*p.currency).into_datum().expect("text datum"), false));
                }
            }
            None => unpriced(provider, model, units.is_some()),
        }
    }

    if replace.is_empty() {
        return pg_sys::Datum::from(tuple);
    }
    // The row is already deformed: form the new one from those values (what
    // heap_modify_tuple would do after deforming it a second time).
    for (i, value, null) in replace {
        values[i] = value;
        nulls[i] = null;
    }
    // SAFETY: `tuple` and `tupdesc` as above; `values` and `nulls` hold all
    // `natts` attributes of `rel`'s row, by-reference ones pointing into
    // `tuple` (alive for the call) or palloc'd above. The new tuple is
    // palloc'd in the trigger's memory context, where Postgres expects a
    // BEFORE trigger's result; it keeps the old one's identity fields, as
    // heap_modify_tuple does.
    let modified = unsafe {
        let formed = pg_sys::heap_form_tuple(tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
        (*(*formed).t_data).t_ctid = (*(*tuple).t_data).t_ctid;
        (*formed).t_self = (*tuple).t_self;
        (*formed).t_tableOid = (*tuple).t_tableOid;
        formed
    };
    pg_sys::Datum::from(modified)
}

/// The jsonb as a serde value. Parsed here rather than by pgrx's JsonB, whose
/// conversion panics on JSON nested deeper than serde_json's limit (128): that
/// is bad input, and gets a clear 22023 like any other.
///
/// # Safety
/// `datum` must be a non-NULL jsonb datum valid for the duration of the call.
unsafe fn jsonb_value(datum: pg_sys::Datum, column: &str) -> serde_json::Value {
    // SAFETY: jsonb_out gets the jsonb it declares (caller's guarantee) and
    // returns a palloc'd NUL-terminated string, alive in the current memory
    // context until this function has parsed it.
    let text = unsafe {
        let text = pg_sys::DirectFunctionCall1Coll(Some(jsonb_out), pg_sys::InvalidOid, datum);
        std::ffi::CStr::from_ptr(text.cast_mut_ptr::<std::ffi::c_char>()).to_string_lossy()
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        errors::invalid_parameter_with_hint(
            format!("{column} cannot be read: {e}"),
            "a provider's usage object or units is a JSON object of counts, nested a few levels at most",
        )
    })
}

/// jsonb_out as a "C-unwind" function pointer, which DirectFunctionCall wants.
///
/// # Safety
/// Called only through DirectFunctionCall, with jsonb_out's arguments.
unsafe extern "C-unwind" fn jsonb_out(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is what DirectFunctionCall built for jsonb_out.
    unsafe { pg_sys::jsonb_out(fcinfo) }
}

/// Tokens and units (None: none) from a provider's usage object.
///
/// # Safety
/// `datum` must be a non-NULL jsonb datum valid for the duration of the call.
unsafe fn from_raw(datum: pg_sys::Datum) -> (Tokens, Option<serde_json::Map<String, serde_json::Value>>) {
    // SAFETY: the caller's guarantee is jsonb_value's.
    let raw = unsafe { jsonb_value(datum, "raw_usage") };
    match raw_usage::normalise_all(&raw) {
        Ok((tokens, units, _shape)) => (tokens, units),
        Err(e) if e.is_out_of_range() => errors::out_of_range(e.to_string()),
        Err(e) => errors::invalid_parameter_with_hint(
            e.to_string(),
            "raw_usage takes a provider's usage object as returned: OpenAI (prompt_tokens/completion_tokens or input_tokens/output_tokens), Anthropic, Gemini (promptTokenCount, ...) or Bedrock (inputTokens, ...)",
        ),
    }
}

fn unpriced(provider: &str, model: &str, has_units: bool) {
    // With units, the model may have a price but not for one of them (cost_breakdown says which).
    let what = if has_units { " (or for one of the call's units)" } else { "" };
    match ON_UNPRICED.get() {
        OnUnpriced::Ignore => {}
        OnUnpriced::Error => errors::invalid_parameter_with_hint(
            format!("no price for provider \"{provider}\" model \"{model}\"{what}"),
            "add one with llm_cost.set_price(), or SET llm_cost.on_unpriced = 'warn' to keep such rows with cost NULL",
        ),
        OnUnpriced::Warn => {
            if !XACT_CALLBACK_REGISTERED.swap(true, Ordering::AcqRel) {
                // SAFETY: registers a static function (no argument pointer), once
                // per backend; Postgres keeps it for the backend's life.
                unsafe { pg_sys::RegisterXactCallback(Some(forget_warnings), std::ptr::null_mut()) };
            }
            let first = WARNED.with(|w| w.borrow_mut().insert((provider.to_string(), model.to_string())));
            if first {
                warning!(
                    "llm_cost: no price for provider \"{provider}\" model \"{model}\"{what}; the row is kept with cost NULL (see llm_cost.unpriced_usage, llm_cost.reprice)"
                );
            }
        }
    }
}
