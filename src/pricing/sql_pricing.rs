//! SQL functions for pricing: `llm_cost()`, `cost_breakdown()` and the row
//! pricer `reprice()` uses.

use crate::pg::numeric_datum::NumericDatum;
use crate::pricing;
use crate::pricing::decimal::Decimal;
use crate::pricing::formula::{ServiceTier, SubsetRates, Tokens};
use crate::pricing::units::{UnitPrices, Units};
use crate::pricing::units_jsonb::JsonbDatum;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Number, Value};
use std::str::FromStr;

fn json_number(d: Decimal) -> Value {
    // arbitrary_precision: the number keeps its exact decimal text.
    Value::Number(Number::from_str(&d.to_string()).expect("a Decimal always prints as a valid JSON number"))
}

/// The arguments every pricing function shares. Any of them NULL: the result
/// is NULL, as for a STRICT function (the functions are not STRICT only so
/// that `units` may be NULL).
struct Call<'a> {
    provider: &'a str,
    model: &'a str,
    tokens: Tokens,
    at: i64,
    tier: ServiceTier,
}

impl<'a> Call<'a> {
    /// 0.2.0's signatures: no argument NULL (they were STRICT).
    fn released(provider: &'a str, model: &'a str, tokens: Tokens, at: TimestampWithTimeZone, tier: &str) -> Self {
        Call { provider, model, tokens, at: at.into_inner(), tier: pricing::service_tier(tier) }
    }
}

#[allow(clippy::too_many_arguments)]
fn call_args<'a>(
    provider: Option<&'a str>,
    model: Option<&'a str>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    at: Option<TimestampWithTimeZone>,
    service_tier: Option<&str>,
) -> Option<Call<'a>> {
    Some(Call {
        provider: provider?,
        model: model?,
        tokens: Tokens::new(
            input_tokens?,
            output_tokens?,
            cached_input_tokens?,
            cache_write_tokens?,
            reasoning_tokens?,
        ),
        at: at?.into_inner(),
        tier: pricing::service_tier(service_tier?),
    })
}

/// The `units` argument parsed (NULL: none), read from the jsonb datum itself.
fn units_arg(units: &Option<JsonbDatum>) -> Option<Units> {
    // SAFETY: a JsonbDatum is the call's own non-NULL jsonb argument, valid for
    // the whole call (pgrx unboxed it from this call's fcinfo).
    units.map(|u| unsafe { pricing::units_datum(u.0) })
}

/// The price of one call at time `at`; NULL when the model has no price, or a
/// unit of the call has none.
#[pg_extern(stable, parallel_safe, name = "llm_cost")]
#[allow(clippy::too_many_arguments)]
fn llm_cost_with_units(
    provider: Option<&str>,
    model: Option<&str>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: default!(Option<i64>, 0),
    cache_write_tokens: default!(Option<i64>, 0),
    reasoning_tokens: default!(Option<i64>, 0),
    at: default!(Option<TimestampWithTimeZone>, "now()"),
    service_tier: default!(Option<&str>, "'standard'"),
    units: default!(Option<JsonbDatum>, "NULL"),
) -> Option<NumericDatum> {
    let c = call_args(
        provider,
        model,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_write_tokens,
        reasoning_tokens,
        at,
        service_tier,
    )?;
    cost(c, units_arg(&units).as_ref())
}

fn cost(c: Call, units: Option<&Units>) -> Option<NumericDatum> {
    pricing::price(c.provider, c.model, &c.tokens, c.at, c.tier, units).map(|p| NumericDatum::from_decimal(p.cost))
}

/// Each component of a call's cost, the price row used, and how the model name resolved.
#[pg_extern(stable, parallel_safe, name = "cost_breakdown")]
#[allow(clippy::too_many_arguments)]
fn cost_breakdown_with_units(
    provider: Option<&str>,
    model: Option<&str>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: default!(Option<i64>, 0),
    cache_write_tokens: default!(Option<i64>, 0),
    reasoning_tokens: default!(Option<i64>, 0),
    at: default!(Option<TimestampWithTimeZone>, "now()"),
    service_tier: default!(Option<&str>, "'standard'"),
    units: default!(Option<JsonbDatum>, "NULL"),
) -> Option<JsonB> {
    let c = call_args(
        provider,
        model,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_write_tokens,
        reasoning_tokens,
        at,
        service_tier,
    )?;
    Some(breakdown(c, units_arg(&units).as_ref()))
}

fn breakdown(c: Call, units: Option<&Units>) -> JsonB {
    JsonB(breakdown_json(c.provider, c.model, &c.tokens, c.at, c.tier, units))
}

fn breakdown_json(
    provider: &str,
    model: &str,
    tokens: &Tokens,
    at: i64,
    tier: ServiceTier,
    units: Option<&Units>,
) -> Value {
    let Some(e) = pricing::explain(provider, model, tokens, at, tier, units) else {
        // no price: say why
        let r = pricing::resolution(provider, model, at, tier);
        return json!({
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
        });
    };
    let row = &e.row;
    let opt = |d: Option<Decimal>| d.map(json_number).unwrap_or(Value::Null);
    let subset = |f: fn(&SubsetRates) -> Option<Decimal>| opt(row.subset_rates.as_deref().and_then(f));
    let price = json!({
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
        "cache_write_1h_per_mtok": subset(|s| s.cache_write_1h),
        "audio_input_per_mtok": subset(|s| s.audio_input),
        "image_input_per_mtok": subset(|s| s.image_input),
        "audio_output_per_mtok": subset(|s| s.audio_output),
        "image_output_per_mtok": subset(|s| s.image_output),
        "unit_prices": row.unit_prices.as_ref().map(|u| u.to_json()).unwrap_or(Value::Null),
        "tier_threshold_tokens": row.tier_threshold,
        "off_peak": off_peak_prices_json(row),
    });
    let resolution = json!({
        "provider": provider,
        "model": model,
        "resolved_provider": e.model.provider,
        "resolved_model": e.model.model,
        "method": e.resolved.by.name(),
        "rules": e.resolved.rules.names(),
        "fine_tune": e.resolved.fine_tune(),
    });
    let service_tier = json!({"requested": tier.name(), "priced_as": row.service_tier.name()});
    let b = match &e.breakdown {
        Ok(b) => b,
        Err(why) => {
            // the model has a price, but not for every unit of the call
            return json!({
                "cost": Value::Null,
                "currency": &*row.currency,
                "reason": why.to_string(),
                "service_tier": service_tier,
                "price": price,
                "resolution": resolution,
            });
        }
    };
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
    let unit_lines: Vec<Value> = b
        .units
        .iter()
        .map(|l| {
            json!({
                "unit": l.unit,
                "quantity": json_number(l.quantity),
                "selector": l.selected.selector,
                "price": json_number(l.selected.price),
                "cost": json_number(l.cost),
            })
        })
        .collect();
    // Off-peak: the rates applied and the window the call fell in.
    let off_peak = match (&row.off_peak, b.rates.off_peak_window) {
        (Some(op), Some(w)) => json!({
            "input_per_mtok": json_number(op.input),
            "output_per_mtok": json_number(op.output),
            "cache_read_per_mtok": opt(op.cache_read),
            "window": crate::pricing::off_peak::window_json(op, w),
        }),
        _ => Value::Null,
    };
    json!({
        "cost": json_number(b.total),
        "currency": &*row.currency,
        "components": components,
        "units": unit_lines,
        "per_request": json_number(b.per_request),
        "above_tier": b.rates.above_tier,
        "off_peak": off_peak,
        "service_tier": service_tier,
        "price": price,
        "resolution": resolution,
    })
}

fn off_peak_prices_json(row: &crate::pricing::formula::PriceRow) -> Value {
    match &row.off_peak {
        Some(op) => json!({
            "input_per_mtok": json_number(op.input),
            "output_per_mtok": json_number(op.output),
            "cache_read_per_mtok": op.cache_read.map(json_number).unwrap_or(Value::Null),
            "windows": op.windows.iter().map(|w| w.json.clone()).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    }
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
    // SAFETY: a timestamptz is a by-value i64 Datum (this one came out of a
    // timestamptz column); any i64 is one.
    let t = unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(ts), false) };
    t.map(|t| Value::String(t.to_iso_string())).unwrap_or(Value::Null)
}

/// Validates off-peak windows and returns their stored (normalised) form;
/// raises 22023 naming `caller` and what is wrong.
#[pg_extern(stable, parallel_safe, name = "_off_peak_windows")]
fn off_peak_windows(windows: JsonB, caller: &str) -> JsonB {
    match crate::pricing::off_peak::parse(&windows.0, &crate::pricing::off_peak::zone_known) {
        Ok(specs) => JsonB(crate::pricing::off_peak::normalise(&specs)),
        Err(e) => crate::pg::errors::invalid_parameter_with_hint(
            format!("{caller}: bad off-peak windows: {e}"),
            "Windows are [{\"hours_utc\": [\"HH:MM-HH:MM\", ...], \"weekdays\": [1..7], \"weekday_timezone\": \"Asia/Shanghai\"}, ...]: hours in UTC, an end of 00:00 is midnight, weekdays ISO (1 = Monday), weekdays and weekday_timezone optional.",
        ),
    }
}

/// Prices one ledger row: (cost, price_id, currency), all NULL when unpriced.
/// Used by `reprice()`; the insert trigger calls the same code directly.
#[pg_extern(stable, parallel_safe, name = "price_usage")]
#[allow(clippy::too_many_arguments)]
fn price_usage_with_units(
    provider: Option<&str>,
    model: Option<&str>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    at: Option<TimestampWithTimeZone>,
    service_tier: Option<&str>,
    units: Option<JsonbDatum>,
) -> TableIterator<
    'static,
    (name!(cost, Option<NumericDatum>), name!(price_id, Option<i64>), name!(currency, Option<String>)),
> {
    let c = call_args(
        provider,
        model,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_write_tokens,
        reasoning_tokens,
        at,
        service_tier,
    );
    priced_row(c, units_arg(&units).as_ref())
}

/// price_usage's row; the functions' own signatures spell it with the column
/// names, which pgrx reads from them.
type PricedRow = TableIterator<'static, (Option<NumericDatum>, Option<i64>, Option<String>)>;

/// (cost, price_id, currency) of a call, all NULL when unpriced or when an argument is NULL (`c` None).
fn priced_row(c: Option<Call>, units: Option<&Units>) -> PricedRow {
    let priced = c.and_then(|c| pricing::price(c.provider, c.model, &c.tokens, c.at, c.tier, units));
    TableIterator::once(match priced {
        Some(p) => (Some(NumericDatum::from_decimal(p.cost)), Some(p.price_id), Some(p.currency.to_string())),
        None => (None, None, None),
    })
}

/// Validates `unit_prices` and returns its stored (normalised) form; raises
/// 22023 naming `caller` and what is wrong. set_price and import_prices use it.
#[pg_extern(immutable, parallel_safe, name = "_unit_prices")]
fn unit_prices_normalised(unit_prices: JsonB, caller: &str) -> JsonB {
    match UnitPrices::parse(&unit_prices.0) {
        Ok(p) => JsonB(p.to_json()),
        Err(e) => crate::pg::errors::invalid_parameter_with_hint(
            format!("{caller}: bad unit_prices: {e}"),
            "unit_prices maps unit names (web_search_queries, images, audio_seconds, ..., requests) to a price per unit, or to an object of selectors (low/medium/high, hd/1024x1792, 720p, default) to prices; see docs/charges.md",
        ),
    }
}

/// 0.2.0's SQL signatures (without `units`), kept as C symbols only: a
/// database still on 0.2.0 calls them until ALTER EXTENSION llm_cost UPDATE
/// (RELEASING.md). `sql = false`: a fresh install must not get an ambiguous
/// overload.
mod released_abi {
    use super::*;

    // The parameter lists stay written out: each is the C symbol's argument
    // layout, which pgrx decodes from it. What they do is the current
    // functions' code with `units` NULL.

    #[pg_extern(stable, parallel_safe, sql = false)]
    #[allow(clippy::too_many_arguments)]
    fn llm_cost(
        provider: &str,
        model: &str,
        input_tokens: i64,
        output_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        at: TimestampWithTimeZone,
        service_tier: &str,
    ) -> Option<NumericDatum> {
        let tokens =
            Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
        cost(Call::released(provider, model, tokens, at, service_tier), None)
    }

    #[pg_extern(stable, parallel_safe, sql = false)]
    #[allow(clippy::too_many_arguments)]
    fn cost_breakdown(
        provider: &str,
        model: &str,
        input_tokens: i64,
        output_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        at: TimestampWithTimeZone,
        service_tier: &str,
    ) -> Option<JsonB> {
        let tokens =
            Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
        Some(breakdown(Call::released(provider, model, tokens, at, service_tier), None))
    }

    #[pg_extern(stable, parallel_safe, sql = false)]
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
    ) -> TableIterator<
        'static,
        (name!(cost, Option<NumericDatum>), name!(price_id, Option<i64>), name!(currency, Option<String>)),
    > {
        let tokens =
            Tokens::new(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens);
        priced_row(Some(Call::released(provider, model, tokens, at, service_tier)), None)
    }
}

/// How many times this backend has loaded the price catalog (for tests and diagnostics).
#[pg_extern(volatile)]
fn catalog_load_count() -> i64 {
    crate::pricing::catalog_cache::load_count() as i64
}
