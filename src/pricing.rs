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
