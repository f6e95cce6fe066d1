//! A call's charges beyond plain tokens (`usage.units`) and the prices of
//! counted units (`prices.unit_prices`), pure Rust. The data model is
//! docs/charges.md; names here are the fixed names of SPEC "0.3: every charge
//! on the bill".

use crate::pricing::decimal::Decimal;
use crate::pricing::formula::Tokens;
use serde_json::{Map, Number, Value};
use std::fmt;
use std::str::FromStr;

/// Units counted per call and priced per unit (`unit_prices` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    WebSearchQueries,
    MapsQueries,
    Images,
    InputImages,
    AudioSeconds,
    OutputAudioSeconds,
    VideoSeconds,
    Characters,
    Queries,
    Pages,
}

impl Counted {
    pub const ALL: [Counted; 10] = [
        Counted::WebSearchQueries,
        Counted::MapsQueries,
        Counted::Images,
        Counted::InputImages,
        Counted::AudioSeconds,
        Counted::OutputAudioSeconds,
        Counted::VideoSeconds,
        Counted::Characters,
        Counted::Queries,
        Counted::Pages,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counted::WebSearchQueries => "web_search_queries",
            Counted::MapsQueries => "maps_queries",
            Counted::Images => "images",
            Counted::InputImages => "input_images",
            Counted::AudioSeconds => "audio_seconds",
            Counted::OutputAudioSeconds => "output_audio_seconds",
            Counted::VideoSeconds => "video_seconds",
            Counted::Characters => "characters",
            Counted::Queries => "queries",
            Counted::Pages => "pages",
        }
    }

    fn parse(name: &str) -> Option<Counted> {
        Counted::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Token subsets, each priced at its own rate instead of its parent's.
pub const SUBSET_NAMES: [&str; 5] =
    ["cache_write_1h_tokens", "audio_input_tokens", "image_input_tokens", "audio_output_tokens", "image_output_tokens"];

/// Text qualifiers that select a unit price.
pub const QUALIFIER_NAMES: [&str; 4] = ["search_context_size", "size", "quality", "resolution"];

/// The `unit_prices` key of the per-call fee (Perplexity's search fee by context size).
pub const REQUESTS: &str = "requests";

/// The token subsets of one call (0 when not given).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subsets {
    pub cache_write_1h: i64,
    pub audio_input: i64,
    pub image_input: i64,
    pub audio_output: i64,
    pub image_output: i64,
}

impl Subsets {
    pub fn is_empty(&self) -> bool {
        *self == Subsets::default()
    }
}

/// The qualifiers of one call, normalised (lower case, sizes as `1024x1792`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qualifiers {
    pub search_context_size: Option<String>,
    pub size: Option<String>,
    pub quality: Option<String>,
    pub resolution: Option<String>,
}

impl Qualifiers {
    /// The selector keys to try, in order (docs/charges.md), before `default`.
    fn selectors(&self) -> impl Iterator<Item = String> + '_ {
        let quality_size = match (&self.quality, &self.size) {
            (Some(q), Some(s)) => Some(format!("{q}/{s}")),
            _ => None,
        };
        quality_size.into_iter().chain(
            [&self.size, &self.resolution, &self.quality, &self.search_context_size].into_iter().flatten().cloned(),
        )
    }
}

/// One call's `units`, parsed and validated on its own (not yet against its tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Units {
    pub subsets: Subsets,
    /// Counted units with a quantity above 0, in `Counted::ALL` order.
    pub counts: Vec<(Counted, Decimal)>,
    pub qualifiers: Qualifiers,
}

/// Why `units` or `unit_prices` is not acceptable; each maps to SQLSTATE 22023.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitsError(pub String);

impl fmt::Display for UnitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, UnitsError> {
    Err(UnitsError(msg.into()))
}

/// A JSON value's kind as error messages name it ("a number", "an object", …);
/// raw_usage's messages use it too.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One value of a `units` object, whatever JSON reader produced it: serde's
/// (`Units::parse`) or the jsonb binary walk of the insert trigger
/// (`units_jsonb`). A number is its exact value, or None when it is beyond
/// exact pricing; `text` is how it is shown in messages.
pub enum UnitValue<'a> {
    Null,
    Number {
        value: Option<Decimal>,
        text: &'a dyn fmt::Display,
    },
    String(&'a str),
    /// Any other JSON kind: "a boolean", "an array", "an object".
    Other(&'static str),
}

impl UnitValue<'_> {
    fn kind(&self) -> &'static str {
        match self {
            UnitValue::Null => "null",
            UnitValue::Number { .. } => "a number",
            UnitValue::String(_) => "a string",
            UnitValue::Other(kind) => kind,
        }
    }
}

/// A non-negative exact number (never through f64).
fn quantity(what: &str, v: &UnitValue) -> Result<Decimal, UnitsError> {
    let UnitValue::Number { value, text } = v else {
        return err(format!("{what} must be a non-negative number, got {}", v.kind()));
    };
    let Some(d) = value else {
        return err(format!("{what} ({text}) is out of range for exact pricing"));
    };
    if d.is_negative() {
        return err(format!("{what} must not be negative (got {text})"));
    }
    Ok(*d)
}

fn whole_tokens(what: &str, v: &UnitValue) -> Result<i64, UnitsError> {
    let d = quantity(what, v)?;
    if d.scale() != 0 {
        return err(format!("{what} must be a whole number of tokens (got {d})"));
    }
    i64::try_from(d.mantissa()).map_err(|_| UnitsError(format!("{what} is out of range for bigint")))
}

/// Lower case, trimmed; sizes written `1024 x 1792`, `1024-x-1792` or `1024X1792` become `1024x1792`.
pub fn normalise_selector(s: &str) -> String {
    let s = s.trim().to_lowercase();
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    compact.replace("-x-", "x")
}

/// A serde JSON value as a `UnitValue`.
fn serde_unit_value(v: &Value) -> UnitValue<'_> {
    match v {
        Value::Null => UnitValue::Null,
        Value::Number(n) => UnitValue::Number { value: Decimal::parse(&n.to_string()).ok(), text: n },
        Value::String(s) => UnitValue::String(s),
        other => UnitValue::Other(kind(other)),
    }
}

impl Units {
    /// Parses `usage.units` (or the `units` argument) given as serde JSON.
    pub fn parse(v: &Value) -> Result<Units, UnitsError> {
        let Value::Object(obj) = v else {
            return err(format!("units must be a JSON object of unit names to quantities, got {}", kind(v)));
        };
        let mut b = UnitsBuilder::default();
        for (name, value) in obj {
            b.add(name, &serde_unit_value(value))?;
        }
        Ok(b.finish())
    }

    /// Each token subset fits its parent (docs/charges.md).
    pub fn check_against(&self, t: &Tokens) -> Result<(), UnitsError> {
        let s = &self.subsets;
        if s.cache_write_1h > t.cache_write {
            return err(format!(
                "units.cache_write_1h_tokens ({}) exceed cache_write_tokens ({}); 1-hour cache writes are part of cache_write_tokens",
                s.cache_write_1h, t.cache_write
            ));
        }
        // i128: huge counts must not wrap around and pass.
        let uncached = t.input as i128 - t.cached_input as i128 - t.cache_write as i128;
        if s.audio_input as i128 + s.image_input as i128 > uncached {
            return err(format!(
                "units.audio_input_tokens ({}) + units.image_input_tokens ({}) exceed the uncached input tokens ({uncached}); they are part of input_tokens, outside cache reads and writes",
                s.audio_input, s.image_input
            ));
        }
        let text_output = t.output as i128 - t.reasoning as i128;
        if s.audio_output as i128 + s.image_output as i128 > text_output {
            return err(format!(
                "units.audio_output_tokens ({}) + units.image_output_tokens ({}) exceed output_tokens outside reasoning ({text_output})",
                s.audio_output, s.image_output
            ));
        }
        Ok(())
    }
}

/// Builds a `Units` one (name, value) pair at a time. Unknown names,
/// negative or non-numeric quantities and non-text qualifiers are errors; a
/// null is the same as leaving the name out.
#[derive(Default)]
pub struct UnitsBuilder {
    units: Units,
}

impl UnitsBuilder {
    pub fn add(&mut self, name: &str, value: &UnitValue) -> Result<(), UnitsError> {
        if matches!(value, UnitValue::Null) {
            return Ok(());
        }
        let u = &mut self.units;
        let what = format!("units.{name}");
        if let Some(c) = Counted::parse(name) {
            let q = quantity(&what, value)?;
            if !q.is_zero() {
                u.counts.push((c, q));
            }
        } else if QUALIFIER_NAMES.contains(&name) {
            let UnitValue::String(s) = value else {
                return err(format!("{what} must be a string, got {}", value.kind()));
            };
            let s = Some(normalise_selector(s));
            match name {
                "search_context_size" => u.qualifiers.search_context_size = s,
                "size" => u.qualifiers.size = s,
                "quality" => u.qualifiers.quality = s,
                _ => u.qualifiers.resolution = s,
            }
        } else {
            let slot = match name {
                "cache_write_1h_tokens" => &mut u.subsets.cache_write_1h,
                "audio_input_tokens" => &mut u.subsets.audio_input,
                "image_input_tokens" => &mut u.subsets.image_input,
                "audio_output_tokens" => &mut u.subsets.audio_output,
                "image_output_tokens" => &mut u.subsets.image_output,
                _ => {
                    return err(format!(
                        "unknown unit \"{name}\"; expected one of {}, {} or the qualifiers {}",
                        SUBSET_NAMES.join(", "),
                        Counted::ALL.map(Counted::name).join(", "),
                        QUALIFIER_NAMES.join(", ")
                    ))
                }
            };
            *slot = whole_tokens(&what, value)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Units {
        self.units.counts.sort_by_key(|(c, _)| *c as usize);
        self.units
    }
}

/// The price of one counted unit: one number, or a price per selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitPrice {
    Flat(Decimal),
    /// Selector keys (normalised) and their prices, sorted by key.
    BySelector(Vec<(String, Decimal)>),
}

/// How a unit price was chosen for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub price: Decimal,
    /// The selector key used; None for a flat price.
    pub selector: Option<String>,
}

impl UnitPrice {
    /// The price for a call with these qualifiers; None when no selector matches and there is no default.
    pub fn select(&self, q: &Qualifiers) -> Option<Selected> {
        match self {
            UnitPrice::Flat(p) => Some(Selected { price: *p, selector: None }),
            UnitPrice::BySelector(prices) => {
                let find = |key: &str| prices.iter().find(|(k, _)| k == key).map(|(_, p)| *p);
                q.selectors()
                    .chain(std::iter::once("default".to_string()))
                    .find_map(|key| find(&key).map(|price| Selected { price, selector: Some(key) }))
            }
        }
    }
}

/// A price row's `unit_prices`: counted units and the per-call `requests` fee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitPrices {
    pub counted: Vec<(Counted, UnitPrice)>,
    pub requests: Option<UnitPrice>,
}

impl UnitPrices {
    pub fn get(&self, unit: Counted) -> Option<&UnitPrice> {
        self.counted.iter().find(|(c, _)| *c == unit).map(|(_, p)| p)
    }

    /// Parses `unit_prices` as given (set_price, import_prices) or stored.
    pub fn parse(v: &Value) -> Result<UnitPrices, UnitsError> {
        let Value::Object(obj) = v else {
            return err(format!("unit_prices must be a JSON object of unit names to prices, got {}", kind(v)));
        };
        let mut up = UnitPrices::default();
        for (name, value) in obj {
            let what = format!("unit_prices.{name}");
            let price = match value {
                Value::Number(_) => UnitPrice::Flat(quantity(&what, &serde_unit_value(value))?),
                Value::Object(selectors) if !selectors.is_empty() => {
                    let mut prices = Vec::with_capacity(selectors.len());
                    for (key, p) in selectors {
                        let norm = normalise_selector(key);
                        if norm.is_empty() {
                            return err(format!("{what} has an empty selector"));
                        }
                        if prices.iter().any(|(k, _): &(String, Decimal)| *k == norm) {
                            return err(format!("{what} names selector \"{norm}\" twice"));
                        }
                        prices.push((norm, quantity(&format!("{what}.{key}"), &serde_unit_value(p))?));
                    }
                    prices.sort();
                    UnitPrice::BySelector(prices)
                }
                _ => {
                    return err(format!(
                        "{what} must be a price per unit (a number) or an object of selectors to prices, got {}",
                        if value.is_object() { "an empty object" } else { kind(value) }
                    ))
                }
            };
            if name == REQUESTS {
                up.requests = Some(price);
            } else if let Some(c) = Counted::parse(name) {
                up.counted.push((c, price));
            } else {
                return err(format!(
                    "unknown unit \"{name}\" in unit_prices; expected one of {} or {REQUESTS}",
                    Counted::ALL.map(Counted::name).join(", ")
                ));
            }
        }
        up.counted.sort_by_key(|(c, _)| *c as usize);
        Ok(up)
    }

    /// The stored form: selectors normalised, numbers in their shortest exact text, keys sorted (jsonb sorts them).
    pub fn to_json(&self) -> Value {
        fn price_json(p: &UnitPrice) -> Value {
            match p {
                UnitPrice::Flat(d) => number(*d),
                UnitPrice::BySelector(prices) => {
                    Value::Object(prices.iter().map(|(k, d)| (k.clone(), number(*d))).collect::<Map<_, _>>())
                }
            }
        }
        let mut obj: Map<String, Value> =
            self.counted.iter().map(|(c, p)| (c.name().to_string(), price_json(p))).collect();
        if let Some(r) = &self.requests {
            obj.insert(REQUESTS.to_string(), price_json(r));
        }
        Value::Object(obj)
    }
}

fn number(d: Decimal) -> Value {
    Value::Number(Number::from_str(&d.to_string()).expect("a Decimal prints as a JSON number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_every_kind_of_name() {
        let u = Units::parse(&json!({
            "cache_write_1h_tokens": 100, "audio_input_tokens": 5, "image_input_tokens": 0,
            "audio_output_tokens": 7, "image_output_tokens": 9,
            "web_search_queries": 3, "audio_seconds": 12.5, "pages": 0, "characters": null,
            "size": "1024 X 1792", "quality": "HD", "search_context_size": " high "
        }))
        .unwrap();
        assert_eq!(
            u.subsets,
            Subsets { cache_write_1h: 100, audio_input: 5, image_input: 0, audio_output: 7, image_output: 9 }
        );
        assert_eq!(u.counts, vec![(Counted::WebSearchQueries, d("3")), (Counted::AudioSeconds, d("12.5"))]);
        assert_eq!(u.qualifiers.size.as_deref(), Some("1024x1792"));
        assert_eq!(u.qualifiers.quality.as_deref(), Some("hd"));
        assert_eq!(u.qualifiers.search_context_size.as_deref(), Some("high"));
    }

    #[test]
    fn rejects_bad_units() {
        for (bad, says) in [
            (json!([1]), "must be a JSON object"),
            (json!({"web_searches": 1}), "unknown unit \"web_searches\""),
            (json!({"images": -1}), "must not be negative"),
            (json!({"images": "2"}), "must be a non-negative number, got a string"),
            (json!({"audio_input_tokens": 1.5}), "whole number of tokens"),
            (json!({"size": 1024}), "must be a string"),
            (json!({"audio_input_tokens": 1e30}), "out of range"),
        ] {
            let e = Units::parse(&bad).unwrap_err().0;
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn subsets_must_fit_their_parents() {
        let t = Tokens { input: 100, cached_input: 30, cache_write: 20, output: 50, reasoning: 10 };
        let ok = Units::parse(&json!({"cache_write_1h_tokens": 20, "audio_input_tokens": 40, "image_input_tokens": 10,
                                      "audio_output_tokens": 30, "image_output_tokens": 10}))
        .unwrap();
        assert_eq!(ok.check_against(&t), Ok(()));
        for bad in [
            json!({"cache_write_1h_tokens": 21}),
            json!({"audio_input_tokens": 41, "image_input_tokens": 10}),
            json!({"audio_output_tokens": 41}),
        ] {
            assert!(Units::parse(&bad).unwrap().check_against(&t).is_err(), "{bad}");
        }
    }

    #[test]
    fn selectors_in_order_then_default() {
        let up = UnitPrices::parse(&json!({
            "images": {"standard/1024x1024": 0.04, "HD/1024-x-1792": 0.12, "1024x1024": 0.05, "default": 0.03},
            "web_search_queries": {"low": 0.03, "medium": 0.035},
            "pages": 0.001,
            "requests": {"low": 0.005, "default": 0.005}
        }))
        .unwrap();
        let images = up.get(Counted::Images).unwrap();
        let q = |v: Value| Units::parse(&v).unwrap().qualifiers;
        assert_eq!(images.select(&q(json!({"quality": "hd", "size": "1024x1792"}))).unwrap().price, d("0.12"));
        // quality/size not listed: the size alone
        assert_eq!(
            images.select(&q(json!({"quality": "hd", "size": "1024x1024"}))).unwrap().selector.as_deref(),
            Some("1024x1024")
        );
        assert_eq!(images.select(&q(json!({}))).unwrap().price, d("0.03"));
        let search = up.get(Counted::WebSearchQueries).unwrap();
        assert_eq!(search.select(&q(json!({"search_context_size": "medium"}))).unwrap().price, d("0.035"));
        assert_eq!(search.select(&q(json!({"search_context_size": "high"}))), None);
        assert_eq!(search.select(&q(json!({}))), None);
        assert_eq!(up.get(Counted::Pages).unwrap().select(&q(json!({"size": "x"}))).unwrap().price, d("0.001"));
        assert!(up.requests.is_some());
        // the stored form is normalised and parses back to the same prices
        let stored = up.to_json();
        assert_eq!(stored["images"]["hd/1024x1792"], json!(0.12));
        assert_eq!(UnitPrices::parse(&stored).unwrap(), up);
    }

    #[test]
    fn rejects_bad_unit_prices() {
        for (bad, says) in [
            (json!({"images": -0.1}), "must not be negative"),
            (json!({"images": {}}), "empty object"),
            (json!({"images": "0.1"}), "got a string"),
            (json!({"tokens": 1}), "unknown unit"),
            (json!({"images": {"HD": 1, "hd": 2}}), "twice"),
            (json!({"images": {" ": 1}}), "empty selector"),
        ] {
            let e = UnitPrices::parse(&bad).unwrap_err().0;
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
