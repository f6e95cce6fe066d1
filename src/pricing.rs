//! Pricing one call against the cached catalog: the hot path shared by the SQL
//! functions and the usage trigger.

use crate::catalog::{ModelPrices, Resolved};
use crate::catalog_cache::with_catalog;
use crate::decimal::{Decimal, DecimalError};
use crate::errors;
use crate::formula::{self, Breakdown, PgTimestamp, PriceRow, ServiceTier, Tokens};

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

/// Validates token counts or raises 22023.
pub fn validate_tokens(t: &Tokens) {
    if let Err(e) = t.validate() {
        errors::invalid_parameter(e.to_string())
    }
}

fn total_or_raise(result: Result<Decimal, DecimalError>) -> Decimal {
    result.unwrap_or_else(|_| errors::out_of_range("cost of the call is out of range for exact pricing"))
}

/// Prices a call; `None` when the model has no price in force at `at`.
pub fn price(provider: &str, model: &str, tokens: &Tokens, at: PgTimestamp, tier: ServiceTier) -> Option<Priced> {
    validate_tokens(tokens);
    with_catalog(|catalog| {
        let resolved = catalog.resolve(provider, model)?;
        let row = catalog.model(resolved.model).row_at(tier, at)?;
        Some(Priced {
            cost: total_or_raise(formula::cost_of_call(row, tokens, at)),
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
    pub breakdown: Breakdown,
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

pub fn explain(provider: &str, model: &str, tokens: &Tokens, at: PgTimestamp, tier: ServiceTier) -> Option<Explained> {
    validate_tokens(tokens);
    with_catalog(|catalog| {
        let resolved = catalog.resolve(provider, model)?;
        let prices = catalog.model(resolved.model);
        let row = prices.row_at(tier, at)?;
        let breakdown = formula::price_call(row, tokens, at)
            .unwrap_or_else(|_| errors::out_of_range("cost of the call is out of range for exact pricing"));
        Some(Explained { resolved, model: prices.into(), row: row.clone(), breakdown })
    })
}
