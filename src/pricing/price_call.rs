//! Pricing one call against the cached catalog: the hot path shared by the SQL
//! functions and the usage trigger.

use crate::pg::errors;
use crate::pricing::catalog::{ModelPrices, Resolved};
use crate::pricing::catalog_cache::with_catalog;
use crate::pricing::decimal::Decimal;
use crate::pricing::formula::{self, Breakdown, CostError, PgTimestamp, PriceRow, ServiceTier, Tokens};
use crate::pricing::units::Units;

/// The result of pricing one call.
#[derive(Debug, Clone)]
pub struct Priced {
    pub cost: Decimal,
    pub price_id: i64,
    pub currency: std::rc::Rc<str>,
}

/// Parses a service tier or raises 22023.
pub fn service_tier(name: &str) -> ServiceTier {
    ServiceTier::parse(name).unwrap_or_else(|| {
        errors::invalid_parameter(format!(
            "unknown service_tier \"{name}\"; expected standard, batch, flex or priority"
        ))
    })
}

/// Validates token counts (and units against them) or raises 22023.
pub fn validate_tokens(t: &Tokens, units: Option<&Units>) {
    if let Err(e) = t.validate() {
        errors::invalid_parameter(e.to_string())
    }
    if let Some(Err(e)) = units.map(|u| u.check_against(t)) {
        errors::invalid_parameter(e.to_string())
    }
}

const UNITS_HINT: &str =
    "units is an object such as {\"web_search_queries\": 2, \"search_context_size\": \"medium\"}; the names are listed in docs/charges.md";

/// Parses a `units` value given as serde JSON (from `raw_usage`) or raises 22023.
pub fn parse_units(v: &serde_json::Value) -> Units {
    Units::parse(v).unwrap_or_else(|e| errors::invalid_parameter_with_hint(e.to_string(), UNITS_HINT))
}

/// Parses a `units` jsonb datum (the column, or the functions' argument) or raises 22023.
///
/// # Safety
/// `datum` must be a non-NULL jsonb datum valid for the duration of the call.
pub unsafe fn units_datum(datum: pgrx::pg_sys::Datum) -> Units {
    // SAFETY: the caller's guarantee is units_from_jsonb's.
    unsafe { crate::pricing::units_jsonb::units_from_jsonb(datum) }
        .unwrap_or_else(|e| errors::invalid_parameter_with_hint(e.to_string(), UNITS_HINT))
}

/// The cost, or None when a unit of the call has no price; out of range raises 22003.
fn total_or_raise(result: Result<Decimal, CostError>) -> Option<Decimal> {
    match result {
        Ok(total) => Some(total),
        Err(CostError::UnpricedUnit { .. }) => None,
        Err(CostError::OutOfRange) => errors::out_of_range("cost of the call is out of range for exact pricing"),
    }
}

/// Prices a call; `None` when the model has no price in force at `at`, or a unit of the call has none.
pub fn price(
    provider: &str,
    model: &str,
    tokens: &Tokens,
    at: PgTimestamp,
    tier: ServiceTier,
    units: Option<&Units>,
) -> Option<Priced> {
    validate_tokens(tokens, units);
    with_catalog(|catalog| {
        let resolved = catalog.resolve(provider, model)?;
        let row = catalog.model(resolved.model).row_at(tier, at)?;
        Some(Priced {
            cost: total_or_raise(formula::cost_of_call(row, tokens, at, units))?,
            price_id: row.id,
            currency: row.currency.clone(),
        })
    })
}

/// Everything `cost_breakdown` reports.
pub struct Explained {
    pub resolved: Resolved,
    pub model: ModelPricesRef,
    pub row: PriceRow,
    /// Err: a unit of the call has no price in this row (the cost is NULL).
    pub breakdown: Result<Breakdown, CostError>,
}

/// Owned names of the resolved model (the catalog may be reloaded afterwards).
pub struct ModelPricesRef {
    pub provider: String,
    pub model: String,
}

impl From<&ModelPrices> for ModelPricesRef {
    fn from(m: &ModelPrices) -> Self {
        ModelPricesRef { provider: m.provider.clone(), model: m.model.clone() }
    }
}

/// How a name resolves, without pricing a call: `resolve_model`, and
/// `cost_breakdown` when there is no price.
pub struct Resolution {
    /// `exact`, `variant`, `normalised`, ... (`ResolvedBy::name`); `None` when unresolved.
    pub method: Option<&'static str>,
    /// The rewrites the name went through (`model_names::Rule::name`).
    pub rules: Vec<&'static str>,
    pub fine_tune: bool,
    pub model: Option<ModelPricesRef>,
    /// The price row in force at the time asked (standard tier fallback as for pricing).
    pub price_id: Option<i64>,
    /// Why there is no price: the name does not resolve, or its model has no price then.
    pub reason: Option<String>,
}

pub fn resolution(provider: &str, model: &str, at: PgTimestamp, tier: ServiceTier) -> Resolution {
    with_catalog(|catalog| match catalog.resolve(provider, model) {
        Some(r) => {
            let prices = catalog.model(r.model);
            let price_id = prices.row_at(tier, at).map(|row| row.id);
            Resolution {
                method: Some(r.by.name()),
                rules: r.rules.names(),
                fine_tune: r.fine_tune(),
                model: Some(prices.into()),
                price_id,
                reason: price_id.is_none().then(|| {
                    format!("{}/{} has no {} price in force at that time", prices.provider, prices.model, tier.name())
                }),
            }
        }
        None => Resolution {
            method: None,
            rules: Vec::new(),
            fine_tune: false,
            model: None,
            price_id: None,
            reason: Some(catalog.unresolved_reason(provider, model)),
        },
    })
}

pub fn explain(
    provider: &str,
    model: &str,
    tokens: &Tokens,
    at: PgTimestamp,
    tier: ServiceTier,
    units: Option<&Units>,
) -> Option<Explained> {
    validate_tokens(tokens, units);
    with_catalog(|catalog| {
        let resolved = catalog.resolve(provider, model)?;
        let prices = catalog.model(resolved.model);
        let row = prices.row_at(tier, at)?;
        let breakdown = match formula::price_call(row, tokens, at, units) {
            Err(CostError::OutOfRange) => errors::out_of_range("cost of the call is out of range for exact pricing"),
            other => other,
        };
        Some(Explained { resolved, model: prices.into(), row: row.clone(), breakdown })
    })
}
