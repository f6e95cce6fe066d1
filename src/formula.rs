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

use crate::decimal::{Decimal, DecimalError};
use crate::off_peak::OffPeak;
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
    pub const ALL: [ServiceTier; 4] = [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Flex, ServiceTier::Priority];

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
    /// Shared: every priced call hands it out.
    pub currency: std::rc::Rc<str>,
    pub source: String,
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

/// One line of a cost breakdown.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    pub name: &'static str,
    pub tokens: i64,
    pub per_mtok: Decimal,
    pub cost: Decimal,
}

#[derive(Debug, Clone)]
pub struct Breakdown {
    pub rates: Rates,
    pub components: [Component; 5],
    pub per_request: Decimal,
    pub total: Decimal,
}

/// Prices one call. Tokens must have been validated.
pub fn price_call(row: &PriceRow, t: &Tokens, at: PgTimestamp) -> Result<Breakdown, DecimalError> {
    let rates = row.rates_for(t.input, at);
    let line = |name, tokens: i64, per_mtok: Decimal| -> Result<Component, DecimalError> {
        Ok(Component { name, tokens, per_mtok, cost: per_mtok.checked_mul_i64(tokens)?.shift_right(6)? })
    };
    let components = [
        line("input", t.input - t.cached_input - t.cache_write, rates.input)?,
        line("cache_read", t.cached_input, rates.cache_read)?,
        line("cache_write", t.cache_write, rates.cache_write)?,
        line("output", t.output - t.reasoning, rates.output)?,
        line("reasoning", t.reasoning, rates.reasoning)?,
    ];
    let per_request = row.per_request.unwrap_or(Decimal::ZERO);
    let mut total = per_request;
    for c in &components {
        total = total.checked_add(c.cost)?;
    }
    Ok(Breakdown { rates, components, per_request, total })
}

/// Only the total: the hot path, without building a breakdown.
pub fn cost_of_call(row: &PriceRow, t: &Tokens, at: PgTimestamp) -> Result<Decimal, DecimalError> {
    let r = row.rates_for(t.input, at);
    // Sum in units of 10^-6 × price, divide once at the end.
    let mut sum = r.input.checked_mul_i64(t.input - t.cached_input - t.cache_write)?;
    for (rate, tokens) in [
        (r.cache_read, t.cached_input),
        (r.cache_write, t.cache_write),
        (r.output, t.output - t.reasoning),
        (r.reasoning, t.reasoning),
    ] {
        if tokens != 0 {
            sum = sum.checked_add(rate.checked_mul_i64(tokens)?)?;
        }
    }
    let mut total = sum.shift_right(6)?;
    if let Some(per_request) = row.per_request {
        total = total.checked_add(per_request)?;
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
            currency: "USD".into(),
            source: "catalog".into(),
        }
    }

    #[test]
    fn plain_cached_cache_write_and_reasoning() {
        let t = Tokens { input: 10_000, output: 2_000, cached_input: 4_000, cache_write: 1_000, reasoning: 500 };
        // 5000*3 + 4000*0.3 + 1000*3.75 + 1500*15 + 500*15 (reasoning falls back to output)
        // = 15000 + 1200 + 3750 + 22500 + 7500 = 49950 / 1e6
        assert_eq!(cost_of_call(&row(), &t, 0).unwrap().to_string(), "0.04995");
        assert_eq!(price_call(&row(), &t, 0).unwrap().total.to_string(), "0.04995");
    }

    #[test]
    fn above_tier_uses_tier_prices_for_the_whole_call() {
        let t = Tokens { input: 250_000, output: 1_000, cached_input: 100_000, cache_write: 10_000, reasoning: 0 };
        // 140000*6 + 100000*0.6 + 10000*3.75 (no above-tier cache write: standard) + 1000*22.5
        // = 840000 + 60000 + 37500 + 22500 = 960000 / 1e6 = 0.96
        assert_eq!(cost_of_call(&row(), &t, 0).unwrap().to_string(), "0.96");
        // exactly at the threshold is not above it
        let t = Tokens { input: 200_000, ..Default::default() };
        assert_eq!(cost_of_call(&row(), &t, 0).unwrap().to_string(), "0.6");
    }

    #[test]
    fn missing_cache_prices_fall_back_to_input() {
        let mut r = row();
        r.cache_read = None;
        r.cache_write = None;
        let t = Tokens { input: 1_000, cached_input: 600, cache_write: 400, ..Default::default() };
        assert_eq!(cost_of_call(&r, &t, 0).unwrap().to_string(), "0.003");
    }

    #[test]
    fn per_request_is_added() {
        let mut r = row();
        r.per_request = Some(d("0.005"));
        r.tier_threshold = None;
        let t = Tokens { input: 1_000_000, ..Default::default() };
        assert_eq!(cost_of_call(&r, &t, 0).unwrap().to_string(), "3.005");
    }

    #[test]
    fn off_peak_rates_inside_a_window_only() {
        use crate::off_peak::{parse, OffPeak, Window, Zone, MICROS_PER_DAY};
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
        assert_eq!(cost_of_call(&r, &t, at).unwrap().to_string(), "0.0252");
        let b = price_call(&r, &t, at).unwrap();
        assert_eq!((b.total.to_string(), b.rates.off_peak_window), ("0.0252".into(), Some(0)));
        // 01:00 UTC: regular prices, 5000*3 + 4000*0.3 + 1000*3 + 2000*15 = 49200
        let at = 3_600_000_000;
        assert_eq!(cost_of_call(&r, &t, at).unwrap().to_string(), "0.0492");
        assert_eq!(price_call(&r, &t, at).unwrap().rates.off_peak_window, None);
        // the next day's 00:00 is off-peak again; an off-peak cache-read price wins over the regular one
        r.off_peak.as_mut().unwrap().cache_read = Some(d("0.1"));
        // 5000*1.5 + 4000*0.1 + 1000*1.5 + 2000*7.5 = 7500 + 400 + 1500 + 15000 = 24400
        assert_eq!(cost_of_call(&r, &t, MICROS_PER_DAY).unwrap().to_string(), "0.0244");
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
        let cost = cost_of_call(&row(), &t, 0).unwrap();
        // i64::MAX * (6 + 22.5) / 1e6, above tier
        assert_eq!(cost.to_string(), "262866103050361.1104995");
    }
}
