//! SQL functions for pricing: `llm_cost()`, `cost_breakdown()` and the row
//! pricer `reprice()` uses.

use crate::decimal::Decimal;
use crate::numeric_datum::NumericDatum;
use crate::formula::{ServiceTier, Tokens};
use crate::pricing;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Number, Value};
use std::str::FromStr;


fn json_number(d: Decimal) -> Value {
    // arbitrary_precision: the number keeps its exact decimal text.
    Value::Number(Number::from_str(&d.to_string()).expect("a Decimal always prints as a valid JSON number"))
}

/// The price of one call at time `at`; NULL when the model has no price.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn llm_cost(
    provider: &str,
    model: &str,
    input_tokens: i64,
    output_tokens: i64,
    cached_input_tokens: default!(i64, 0),
    cache_write_tokens: default!(i64, 0),
    reasoning_tokens: default!(i64, 0),
    at: default!(TimestampWithTimeZone, "now()"),
    service_tier: default!(&str, "'standard'"),
) -> Option<NumericDatum> {
    let tokens = Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
    let tier = pricing::service_tier(service_tier);
    pricing::price(provider, model, &tokens, at.into_inner(), tier).map(|p| NumericDatum::from_decimal(p.cost))
}

/// Each component of a call's cost, the price row used, and how the model name resolved.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn cost_breakdown(
    provider: &str,
    model: &str,
    input_tokens: i64,
    output_tokens: i64,
    cached_input_tokens: default!(i64, 0),
    cache_write_tokens: default!(i64, 0),
    reasoning_tokens: default!(i64, 0),
    at: default!(TimestampWithTimeZone, "now()"),
    service_tier: default!(&str, "'standard'"),
) -> Option<JsonB> {
    let tokens = Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
    let tier = pricing::service_tier(service_tier);
    let Some(e) = pricing::explain(provider, model, &tokens, at.into_inner(), tier) else {
        // no price: say why
        let r = pricing::resolution(provider, model, at.into_inner(), tier);
        return Some(JsonB(json!({
            "cost": Value::Null,
            "service_tier": {"requested": tier.name(), "priced_as": Value::Null},
            "price": Value::Null,
            "resolution": {
                "provider": provider,
                "model": model,
                "resolved_provider": r.model.as_ref().map(|m| m.provider.as_str()),
                "resolved_model": r.model.as_ref().map(|m| m.model.as_str()),
                "method": r.method,
                "rules": r.rules,
                "fine_tune": r.fine_tune,
                "reason": r.reason,
            },
        })));
    };
    let b = &e.breakdown;
    let components: serde_json::Map<String, Value> = b
        .components
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                json!({"tokens": c.tokens, "per_mtok": json_number(c.per_mtok), "cost": json_number(c.cost)}),
            )
        })
        .collect();
    let opt = |d: Option<Decimal>| d.map(json_number).unwrap_or(Value::Null);
    let row = &e.row;
    // Off-peak: the rates applied and the window the call fell in.
    let off_peak = match (&row.off_peak, b.rates.off_peak_window) {
        (Some(op), Some(w)) => json!({
            "input_per_mtok": json_number(op.input),
            "output_per_mtok": json_number(op.output),
            "cache_read_per_mtok": opt(op.cache_read),
            "window": crate::off_peak::window_json(op, w),
        }),
        _ => Value::Null,
    };
    let off_peak_prices = match &row.off_peak {
        Some(op) => json!({
            "input_per_mtok": json_number(op.input),
            "output_per_mtok": json_number(op.output),
            "cache_read_per_mtok": opt(op.cache_read),
            "windows": op.windows.iter().map(|w| w.json.clone()).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    };
    Some(JsonB(json!({
        "cost": json_number(b.total),
        "currency": &*row.currency,
        "components": components,
        "per_request": json_number(b.per_request),
        "above_tier": b.rates.above_tier,
        "off_peak": off_peak,
        "service_tier": {"requested": tier.name(), "priced_as": row.service_tier.name()},
        "price": {
            "id": row.id,
            "provider": row.provider,
            "model": row.model,
            "service_tier": row.service_tier.name(),
            "valid_from": valid_from_text(row.valid_from),
            "source": row.source,
            "input_per_mtok": json_number(row.input),
            "output_per_mtok": json_number(row.output),
            "cache_read_per_mtok": opt(row.cache_read),
            "cache_write_per_mtok": opt(row.cache_write),
            "reasoning_per_mtok": opt(row.reasoning),
            "tier_threshold_tokens": row.tier_threshold,
            "off_peak": off_peak_prices,
        },
        "resolution": {
            "provider": provider,
            "model": model,
            "resolved_provider": e.model.provider,
            "resolved_model": e.model.model,
            "method": e.resolved.by.name(),
            "rules": e.resolved.rules.names(),
            "fine_tune": e.resolved.fine_tune(),
        },
    })))
}

/// How a model name resolves, without pricing a call: the method, the rewrites
/// of the name, the catalog model and the price row in force at `at` (standard
/// tier), or NULLs and the reason there is none.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn resolve_model(
    provider: &str,
    model: &str,
    at: default!(TimestampWithTimeZone, "now()"),
) -> TableIterator<
    'static,
    (
        name!(method, Option<String>),
        name!(rules, Vec<String>),
        name!(fine_tune, bool),
        name!(resolved_provider, Option<String>),
        name!(resolved_model, Option<String>),
        name!(price_id, Option<i64>),
        name!(reason, Option<String>),
    ),
> {
    let r = pricing::resolution(provider, model, at.into_inner(), ServiceTier::Standard);
    let (resolved_provider, resolved_model) = match r.model {
        Some(m) => (Some(m.provider), Some(m.model)),
        None => (None, None),
    };
    TableIterator::once((
        r.method.map(str::to_string),
        r.rules.into_iter().map(str::to_string).collect(),
        r.fine_tune,
        resolved_provider,
        resolved_model,
        r.price_id,
        r.reason,
    ))
}

fn valid_from_text(ts: i64) -> Value {
    if ts == i64::MIN {
        return Value::String("-infinity".into());
    }
    // Safe: the value came out of a timestamptz column.
    let t = unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(ts), false) };
    t.map(|t| Value::String(t.to_iso_string())).unwrap_or(Value::Null)
}

/// Validates off-peak windows and returns their stored (normalised) form;
/// raises 22023 naming `caller` and what is wrong.
#[pg_extern(stable, parallel_safe, name = "_off_peak_windows")]
fn off_peak_windows(windows: JsonB, caller: &str) -> JsonB {
    match crate::off_peak::parse(&windows.0, &crate::off_peak::zone_known) {
        Ok(specs) => JsonB(crate::off_peak::normalise(&specs)),
        Err(e) => crate::errors::invalid_parameter_with_hint(
            format!("{caller}: bad off-peak windows: {e}"),
            "Windows are [{\"hours_utc\": [\"HH:MM-HH:MM\", ...], \"weekdays\": [1..7], \"weekday_timezone\": \"Asia/Shanghai\"}, ...]: hours in UTC, an end of 00:00 is midnight, weekdays ISO (1 = Monday), weekdays and weekday_timezone optional.",
        ),
    }
}

/// Prices one ledger row: (cost, price_id, currency), all NULL when unpriced.
/// Used by `reprice()`; the insert trigger calls the same code directly.
#[pg_extern(stable, parallel_safe, name = "price_usage")]
#[allow(clippy::too_many_arguments)]
fn price_usage(
    provider: &str,
    model: &str,
    input_tokens: i64,
    output_tokens: i64,
    cached_input_tokens: i64,
    cache_write_tokens: i64,
    reasoning_tokens: i64,
    at: TimestampWithTimeZone,
    service_tier: &str,
) -> TableIterator<'static, (name!(cost, Option<NumericDatum>), name!(price_id, Option<i64>), name!(currency, Option<String>))> {
    let tokens = Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
    let tier = pricing::service_tier(service_tier);
    let row = match pricing::price(provider, model, &tokens, at.into_inner(), tier) {
        Some(p) => (Some(NumericDatum::from_decimal(p.cost)), Some(p.price_id), Some(p.currency.to_string())),
        None => (None, None, None),
    };
    TableIterator::once(row)
}

/// How many times this backend has loaded the price catalog (for tests and diagnostics).
#[pg_extern(volatile)]
fn catalog_load_count() -> i64 {
    crate::catalog_cache::load_count() as i64
}
