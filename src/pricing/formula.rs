//! The cost of one call, from one price row and the call's token counts.
//!
//! ```text
//! (input - cached - cache_write) * input_price + cached * cache_read_price
//! + cache_write * cache_write_price
//! + (output - reasoning) * output_price + reasoning * reasoning_price
//! + per_request
//! ```
//! Prices are per million tokens. A missing cache or reasoning price falls back
//! to the input or output price; above the row's tier threshold the whole call
//! uses the above-tier prices where the row has them. A call whose time falls
//! in one of the row's off-peak windows uses the off-peak input and output
//! prices, and the off-peak cache-read price when the row has one (else its
//! regular cache-read price); missing cache-write and reasoning prices then fall
//! back to the off-peak input and output prices. A row has off-peak prices or a
//! tier threshold, never both (a CHECK on `llm_cost.prices`).
//!
//! From 0.3 a call may also carry `units` (docs/charges.md): token subsets
//! priced at their own rate (1-hour cache writes, audio and image tokens; a
//! missing subset price is the parent's rate after the selection above), and
//! counted units (web searches, images, seconds, ...) priced per unit from the
//! row's `unit_prices`, plus the row's per-call `requests` fee. A counted unit
//! the row has no price for makes the call unpriced, never free.

use crate::pricing::decimal::{Decimal, DecimalError};
use crate::pricing::off_peak::OffPeak;
use crate::pricing::units::{Counted, Qualifiers, Selected, Subsets, UnitPrice, UnitPrices, Units};
use std::fmt;

/// Postgres `TimestampTz`: microseconds since 2000-01-01 UTC; i64::MIN is -infinity.
pub type PgTimestamp = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceTier {
    Standard,
    Batch,
    Flex,
    Priority,
}

impl ServiceTier {
    pub const ALL: [ServiceTier; 4] =
        [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Flex, ServiceTier::Priority];

    pub fn parse(name: &str) -> Option<ServiceTier> {
        Some(match name {
            "standard" => ServiceTier::Standard,
            "batch" => ServiceTier::Batch,
            "flex" => ServiceTier::Flex,
            "priority" => ServiceTier::Priority,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Batch => "batch",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One row of `llm_cost.prices`, as the pricing code needs it.
#[derive(Debug, Clone)]
pub struct PriceRow {
    pub id: i64,
    pub provider: String,
    pub model: String,
    pub service_tier: ServiceTier,
    pub valid_from: PgTimestamp,
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Option<Decimal>,
    pub cache_write: Option<Decimal>,
    pub reasoning: Option<Decimal>,
    pub tier_threshold: Option<i64>,
    pub input_above: Option<Decimal>,
    pub output_above: Option<Decimal>,
    pub cache_read_above: Option<Decimal>,
    pub cache_write_above: Option<Decimal>,
    pub per_request: Option<Decimal>,
    /// Time-of-day prices; boxed so that rows without them stay small.
    pub off_peak: Option<Box<OffPeak>>,
    /// Prices of token subsets (audio, image, 1-hour cache writes); boxed, most rows have none.
    pub subset_rates: Option<Box<SubsetRates>>,
    /// Per-unit prices (`unit_prices`); boxed, most rows have none.
    pub unit_prices: Option<Box<UnitPrices>>,
    /// Shared: every priced call hands it out.
    pub currency: std::rc::Rc<str>,
    pub source: String,
}

/// A row's prices per million tokens for token subsets; None: the parent's rate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubsetRates {
    pub cache_write_1h: Option<Decimal>,
    pub audio_input: Option<Decimal>,
    pub image_input: Option<Decimal>,
    pub audio_output: Option<Decimal>,
    pub image_output: Option<Decimal>,
}

/// Token counts of one call, in our one-rule-for-all semantics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    pub reasoning: i64,
}

/// Why a call's token counts cannot be priced. Each maps to SQLSTATE 22023.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Negative(&'static str, i64),
    CacheExceedsInput { cached: i64, cache_write: i64, input: i64 },
    ReasoningExceedsOutput { reasoning: i64, output: i64 },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Negative(column, v) => write!(f, "{column} must not be negative (got {v})"),
            TokenError::CacheExceedsInput { cached, cache_write, input } => write!(
                f,
                "cached_input_tokens ({cached}) + cache_write_tokens ({cache_write}) exceed input_tokens ({input}); input_tokens must include cache reads and writes"
            ),
            TokenError::ReasoningExceedsOutput { reasoning, output } => write!(
                f,
                "reasoning_tokens ({reasoning}) exceed output_tokens ({output}); output_tokens must include reasoning tokens"
            ),
        }
    }
}

impl Tokens {
    /// In the order of the SQL functions' arguments.
    pub fn new(input: i64, output: i64, cached_input: i64, cache_write: i64, reasoning: i64) -> Tokens {
        Tokens { input, output, cached_input, cache_write, reasoning }
    }

    pub fn validate(&self) -> Result<(), TokenError> {
        for (column, v) in [
            ("input_tokens", self.input),
            ("output_tokens", self.output),
            ("cached_input_tokens", self.cached_input),
            ("cache_write_tokens", self.cache_write),
            ("reasoning_tokens", self.reasoning),
        ] {
            if v < 0 {
                return Err(TokenError::Negative(column, v));
            }
        }
        // i128: two huge counts must not wrap around and pass the check.
        if self.cached_input as i128 + self.cache_write as i128 > self.input as i128 {
            return Err(TokenError::CacheExceedsInput {
                cached: self.cached_input,
                cache_write: self.cache_write,
                input: self.input,
            });
        }
        if self.reasoning > self.output {
            return Err(TokenError::ReasoningExceedsOutput { reasoning: self.reasoning, output: self.output });
        }
        Ok(())
    }
}

/// The per-million rates that apply to one call after tier selection and fallbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub input: Decimal,
    pub cache_read: Decimal,
    pub cache_write: Decimal,
    pub output: Decimal,
    pub reasoning: Decimal,
    pub above_tier: bool,
    /// Index of the off-peak window the call fell in.
    pub off_peak_window: Option<usize>,
}

impl PriceRow {
    /// The rates for a call of `input_tokens` at time `at`.
    #[inline]
    pub fn rates_for(&self, input_tokens: i64, at: PgTimestamp) -> Rates {
        if let Some(op) = &self.off_peak {
            if let Some(w) = op.window_at(at) {
                return Rates {
                    input: op.input,
                    cache_read: op.cache_read.or(self.cache_read).unwrap_or(op.input),
                    cache_write: self.cache_write.unwrap_or(op.input),
                    output: op.output,
                    reasoning: self.reasoning.unwrap_or(op.output),
                    above_tier: false,
                    off_peak_window: Some(w),
                };
            }
        }
        let above_tier = matches!(self.tier_threshold, Some(t) if input_tokens > t) && self.input_above.is_some();
        if above_tier {
            let input = self.input_above.unwrap_or(self.input);
            let output = self.output_above.unwrap_or(self.output);
            Rates {
                input,
                cache_read: self.cache_read_above.or(self.cache_read).unwrap_or(input),
                cache_write: self.cache_write_above.or(self.cache_write).unwrap_or(input),
                output,
                reasoning: self.reasoning.unwrap_or(output),
                above_tier,
                off_peak_window: None,
            }
        } else {
            Rates {
                input: self.input,
                cache_read: self.cache_read.unwrap_or(self.input),
                cache_write: self.cache_write.unwrap_or(self.input),
                output: self.output,
                reasoning: self.reasoning.unwrap_or(self.output),
                above_tier,
                off_peak_window: None,
            }
        }
    }
}

/// One token line of a cost breakdown.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    pub name: &'static str,
    pub tokens: i64,
    pub per_mtok: Decimal,
    pub cost: Decimal,
}

/// One counted unit (or the per-call `requests` fee) of a cost breakdown.
#[derive(Debug, Clone)]
pub struct UnitLine {
    pub unit: &'static str,
    pub quantity: Decimal,
    pub selected: Selected,
    pub cost: Decimal,
}

#[derive(Debug, Clone)]
pub struct Breakdown {
    pub rates: Rates,
    /// input, cache_read, cache_write, output, reasoning; then the subsets the call has.
    pub components: Vec<Component>,
    pub per_request: Decimal,
    pub units: Vec<UnitLine>,
    pub total: Decimal,
}

/// Why a call has no exact cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostError {
    /// Beyond exact fixed-point range.
    OutOfRange,
    /// A counted unit (or the `requests` fee) the row has no price for, at these qualifiers.
    UnpricedUnit { unit: &'static str, qualifiers: Qualifiers },
}

impl From<DecimalError> for CostError {
    fn from(_: DecimalError) -> Self {
        CostError::OutOfRange
    }
}

impl fmt::Display for CostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostError::OutOfRange => f.write_str("cost of the call is out of range for exact pricing"),
            CostError::UnpricedUnit { unit, qualifiers: q } => {
                write!(f, "the price row has no price for {unit}")?;
                let given: Vec<String> = [
                    ("search_context_size", &q.search_context_size),
                    ("size", &q.size),
                    ("quality", &q.quality),
                    ("resolution", &q.resolution),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
                .collect();
                if !given.is_empty() {
                    write!(f, " at {}", given.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

const NO_SUBSETS: Subsets =
    Subsets { cache_write_1h: 0, audio_input: 0, image_input: 0, audio_output: 0, image_output: 0 };

/// The token lines of a call: (name, tokens, rate per million). The first five
/// always; the subsets are 0 tokens unless the call has them.
#[inline]
fn token_lines(row: &PriceRow, r: &Rates, t: &Tokens, s: &Subsets) -> [(&'static str, i64, Decimal); 10] {
    let sub = |f: fn(&SubsetRates) -> Option<Decimal>, parent: Decimal| {
        row.subset_rates.as_deref().and_then(f).unwrap_or(parent)
    };
    [
        ("input", t.input - t.cached_input - t.cache_write - s.audio_input - s.image_input, r.input),
        ("cache_read", t.cached_input, r.cache_read),
        ("cache_write", t.cache_write - s.cache_write_1h, r.cache_write),
        ("output", t.output - t.reasoning - s.audio_output - s.image_output, r.output),
        ("reasoning", t.reasoning, r.reasoning),
        ("cache_write_1h", s.cache_write_1h, sub(|x| x.cache_write_1h, r.cache_write)),
        ("audio_input", s.audio_input, sub(|x| x.audio_input, r.input)),
        ("image_input", s.image_input, sub(|x| x.image_input, r.input)),
        ("audio_output", s.audio_output, sub(|x| x.audio_output, r.output)),
        ("image_output", s.image_output, sub(|x| x.image_output, r.output)),
    ]
}

/// The price of one unit for this call, or why there is none.
fn unit_price(price: Option<&UnitPrice>, unit: &'static str, q: &Qualifiers) -> Result<Selected, CostError> {
    price.and_then(|p| p.select(q)).ok_or_else(|| CostError::UnpricedUnit { unit, qualifiers: q.clone() })
}

/// Calls `f` with each charge beyond tokens: the row's `requests` fee, then each counted unit.
fn for_each_unit_charge(
    row: &PriceRow,
    units: Option<&Units>,
    mut f: impl FnMut(&'static str, Decimal, Selected) -> Result<(), CostError>,
) -> Result<(), CostError> {
    let no_qualifiers = Qualifiers::default();
    let q = units.map_or(&no_qualifiers, |u| &u.qualifiers);
    let prices = row.unit_prices.as_deref();
    if let Some(fee) = prices.and_then(|p| p.requests.as_ref()) {
        f(
            crate::pricing::units::REQUESTS,
            Decimal::from_i64(1),
            unit_price(Some(fee), crate::pricing::units::REQUESTS, q)?,
        )?;
    }
    for &(unit, quantity) in units.map_or(&[][..], |u| &u.counts[..]) {
        let selected = unit_price(prices.and_then(|p| p.get(unit)), Counted::name(unit), q)?;
        f(unit.name(), quantity, selected)?;
    }
    Ok(())
}

/// Prices one call. Tokens (and units against them) must have been validated.
pub fn price_call(row: &PriceRow, t: &Tokens, at: PgTimestamp, units: Option<&Units>) -> Result<Breakdown, CostError> {
    let rates = row.rates_for(t.input, at);
    let subsets = units.map_or(&NO_SUBSETS, |u| &u.subsets);
    let mut components = Vec::with_capacity(10);
    for (i, (name, tokens, per_mtok)) in token_lines(row, &rates, t, subsets).into_iter().enumerate() {
        if i < 5 || tokens != 0 {
            components.push(Component {
                name,
                tokens,
                per_mtok,
                cost: per_mtok.checked_mul_i64(tokens)?.shift_right(6)?,
            });
        }
    }
    let per_request = row.per_request.unwrap_or(Decimal::ZERO);
    let mut total = per_request;
    for c in &components {
        total = total.checked_add(c.cost)?;
    }
    let mut lines = Vec::new();
    for_each_unit_charge(row, units, |unit, quantity, selected| {
        let cost = selected.price.checked_mul(quantity)?.normalized();
        total = total.checked_add(cost)?;
        lines.push(UnitLine { unit, quantity, selected, cost });
        Ok(())
    })?;
    Ok(Breakdown { rates, components, per_request, units: lines, total })
}

/// Only the total: the hot path, without building a breakdown.
pub fn cost_of_call(row: &PriceRow, t: &Tokens, at: PgTimestamp, units: Option<&Units>) -> Result<Decimal, CostError> {
    let r = row.rates_for(t.input, at);
    let subsets = units.map_or(&NO_SUBSETS, |u| &u.subsets);
    // Sum in units of 10^-6 × price, divide once at the end.
    let mut sum = Decimal::ZERO;
    for (_, tokens, rate) in token_lines(row, &r, t, subsets) {
        if tokens != 0 {
            sum = sum.checked_add(rate.checked_mul_i64(tokens)?)?;
        }
    }
    let mut total = sum.shift_right(6)?;
    if let Some(per_request) = row.per_request {
        total = total.checked_add(per_request)?;
    }
    if units.is_some() || row.unit_prices.is_some() {
        for_each_unit_charge(row, units, |_, quantity, selected| {
            total = total.checked_add(selected.price.checked_mul(quantity)?)?;
            Ok(())
        })?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    fn row() -> PriceRow {
        PriceRow {
            id: 1,
            provider: "test".into(),
            model: "m".into(),
            service_tier: ServiceTier::Standard,
            valid_from: i64::MIN,
            input: d("3"),
            output: d("15"),
            cache_read: Some(d("0.3")),
            cache_write: Some(d("3.75")),
            reasoning: None,
            tier_threshold: Some(200_000),
            input_above: Some(d("6")),
            output_above: Some(d("22.5")),
            cache_read_above: Some(d("0.6")),
            cache_write_above: None,
            per_request: None,
            off_peak: None,
            subset_rates: None,
            unit_prices: None,
            currency: "USD".into(),
            source: "catalog".into(),
        }
    }

    #[test]
    fn plain_cached_cache_write_and_reasoning() {
        let t = Tokens { input: 10_000, output: 2_000, cached_input: 4_000, cache_write: 1_000, reasoning: 500 };
        // 5000*3 + 4000*0.3 + 1000*3.75 + 1500*15 + 500*15 (reasoning falls back to output)
        // = 15000 + 1200 + 3750 + 22500 + 7500 = 49950 / 1e6
        assert_eq!(cost_of_call(&row(), &t, 0, None).unwrap().to_string(), "0.04995");
        assert_eq!(price_call(&row(), &t, 0, None).unwrap().total.to_string(), "0.04995");
    }

    #[test]
    fn above_tier_uses_tier_prices_for_the_whole_call() {
        let t = Tokens { input: 250_000, output: 1_000, cached_input: 100_000, cache_write: 10_000, reasoning: 0 };
        // 140000*6 + 100000*0.6 + 10000*3.75 (no above-tier cache write: standard) + 1000*22.5
        // = 840000 + 60000 + 37500 + 22500 = 960000 / 1e6 = 0.96
        assert_eq!(cost_of_call(&row(), &t, 0, None).unwrap().to_string(), "0.96");
        // exactly at the threshold is not above it
        let t = Tokens { input: 200_000, ..Default::default() };
        assert_eq!(cost_of_call(&row(), &t, 0, None).unwrap().to_string(), "0.6");
    }

    #[test]
    fn missing_cache_prices_fall_back_to_input() {
        let mut r = row();
        r.cache_read = None;
        r.cache_write = None;
        let t = Tokens { input: 1_000, cached_input: 600, cache_write: 400, ..Default::default() };
        assert_eq!(cost_of_call(&r, &t, 0, None).unwrap().to_string(), "0.003");
    }

    #[test]
    fn per_request_is_added() {
        let mut r = row();
        r.per_request = Some(d("0.005"));
        r.tier_threshold = None;
        let t = Tokens { input: 1_000_000, ..Default::default() };
        assert_eq!(cost_of_call(&r, &t, 0, None).unwrap().to_string(), "3.005");
    }

    #[test]
    fn off_peak_rates_inside_a_window_only() {
        use crate::pricing::off_peak::{parse, OffPeak, Window, Zone, MICROS_PER_DAY};
        let mut r = row();
        r.tier_threshold = None;
        r.cache_write = None;
        let specs = parse(&serde_json::json!([{"hours_utc": "00:00-01:00"}]), &|_| true).unwrap();
        r.off_peak = Some(Box::new(OffPeak {
            input: d("1.5"),
            output: d("7.5"),
            cache_read: None,
            windows: specs.iter().map(|s| Window::new(s, Zone::Utc)).collect(),
        }));
        let t = Tokens { input: 10_000, output: 2_000, cached_input: 4_000, cache_write: 1_000, reasoning: 500 };
        // 00:30 UTC, off-peak: 5000*1.5 + 4000*0.3 (regular cache read) + 1000*1.5 (cache write falls
        // back to the off-peak input) + 1500*7.5 + 500*7.5 = 7500 + 1200 + 1500 + 11250 + 3750 = 25200
        let at = 1_800_000_000;
        assert_eq!(cost_of_call(&r, &t, at, None).unwrap().to_string(), "0.0252");
        let b = price_call(&r, &t, at, None).unwrap();
        assert_eq!((b.total.to_string(), b.rates.off_peak_window), ("0.0252".into(), Some(0)));
        // 01:00 UTC: regular prices, 5000*3 + 4000*0.3 + 1000*3 + 2000*15 = 49200
        let at = 3_600_000_000;
        assert_eq!(cost_of_call(&r, &t, at, None).unwrap().to_string(), "0.0492");
        assert_eq!(price_call(&r, &t, at, None).unwrap().rates.off_peak_window, None);
        // the next day's 00:00 is off-peak again; an off-peak cache-read price wins over the regular one
        r.off_peak.as_mut().unwrap().cache_read = Some(d("0.1"));
        // 5000*1.5 + 4000*0.1 + 1000*1.5 + 2000*7.5 = 7500 + 400 + 1500 + 15000 = 24400
        assert_eq!(cost_of_call(&r, &t, MICROS_PER_DAY, None).unwrap().to_string(), "0.0244");
    }

    #[test]
    fn validation() {
        assert!(Tokens { input: -1, ..Default::default() }.validate().is_err());
        assert!(Tokens { input: 10, cached_input: 6, cache_write: 5, ..Default::default() }.validate().is_err());
        assert!(Tokens { output: 10, reasoning: 11, ..Default::default() }.validate().is_err());
        let huge = Tokens { input: i64::MAX, cached_input: i64::MAX, cache_write: i64::MAX, ..Default::default() };
        assert!(huge.validate().is_err());
        assert!(Tokens { input: 10, cached_input: 5, cache_write: 5, output: 3, reasoning: 3 }.validate().is_ok());
    }

    #[test]
    fn extreme_counts_are_exact() {
        let t = Tokens { input: i64::MAX, output: i64::MAX, ..Default::default() };
        let cost = cost_of_call(&row(), &t, 0, None).unwrap();
        // i64::MAX * (6 + 22.5) / 1e6, above tier
        assert_eq!(cost.to_string(), "262866103050361.1104995");
    }

    #[test]
    fn units_subsets_and_counted() {
        use crate::pricing::units::{UnitPrices, Units};
        use serde_json::json;
        let mut r = row();
        r.tier_threshold = None;
        r.subset_rates = Some(Box::new(SubsetRates {
            cache_write_1h: Some(d("6")),
            audio_input: Some(d("10")),
            image_input: None,
            audio_output: Some(d("40")),
            image_output: None,
        }));
        r.unit_prices = Some(Box::new(
            UnitPrices::parse(
                &json!({"web_search_queries": {"low": 0.01, "high": 0.02, "default": 0.01}, "audio_seconds": 0.0001}),
            )
            .unwrap(),
        ));
        let t = Tokens { input: 10_000, output: 2_000, cached_input: 1_000, cache_write: 3_000, reasoning: 500 };
        let u = Units::parse(
            &json!({"cache_write_1h_tokens": 1000, "audio_input_tokens": 2000, "image_input_tokens": 1000,
                                     "audio_output_tokens": 500, "image_output_tokens": 100,
                                     "web_search_queries": 3, "search_context_size": "high", "audio_seconds": 12.5}),
        )
        .unwrap();
        u.check_against(&t).unwrap();
        // input (10000-1000-3000-2000-1000)=3000*3 = 9000; cache_read 1000*0.3 = 300; cache_write 2000*3.75 = 7500;
        // 1h 1000*6 = 6000; audio in 2000*10 = 20000; image in 1000*3 (input rate) = 3000;
        // output (2000-500-500-100)=900*15 = 13500; reasoning 500*15 = 7500; audio out 500*40 = 20000;
        // image out 100*15 = 1500. Tokens: 88300 / 1e6 = 0.0883. Searches 3*0.02 = 0.06; audio 12.5*0.0001 = 0.00125.
        let want = "0.14955";
        assert_eq!(cost_of_call(&r, &t, 0, Some(&u)).unwrap().to_string(), want);
        let b = price_call(&r, &t, 0, Some(&u)).unwrap();
        assert_eq!(b.total.to_string(), want);
        assert_eq!(b.components.len(), 10);
        assert_eq!(b.units.len(), 2);
        assert_eq!(b.units[0].selected.selector.as_deref(), Some("high"));
        // the same call without units is the token formula alone
        assert_eq!(cost_of_call(&r, &t, 0, None).unwrap(), cost_of_call(&row_without_tier(), &t, 0, None).unwrap());
        // a counted unit the row has no price for: unpriced, not free
        let pages = Units::parse(&json!({"pages": 2})).unwrap();
        assert!(matches!(cost_of_call(&r, &t, 0, Some(&pages)), Err(CostError::UnpricedUnit { unit: "pages", .. })));
        // a zero quantity is free
        let none = Units::parse(&json!({"pages": 0})).unwrap();
        assert!(cost_of_call(&r, &t, 0, Some(&none)).is_ok());
    }

    #[test]
    fn requests_fee_by_context_size() {
        use crate::pricing::units::{UnitPrices, Units};
        use serde_json::json;
        let mut r = row_without_tier();
        r.unit_prices = Some(Box::new(
            UnitPrices::parse(&json!({"requests": {"low": 0.005, "high": 0.012, "default": 0.005}})).unwrap(),
        ));
        let t = Tokens { input: 1_000_000, ..Default::default() };
        assert_eq!(cost_of_call(&r, &t, 0, None).unwrap().to_string(), "3.005");
        let high = Units::parse(&json!({"search_context_size": "high"})).unwrap();
        assert_eq!(cost_of_call(&r, &t, 0, Some(&high)).unwrap().to_string(), "3.012");
        let b = price_call(&r, &t, 0, Some(&high)).unwrap();
        assert_eq!((b.units[0].unit, b.units[0].cost.to_string()), ("requests", "0.012".to_string()));
    }

    fn row_without_tier() -> PriceRow {
        let mut r = row();
        r.tier_threshold = None;
        r
    }
}
