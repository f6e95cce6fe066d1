//! Provider usage objects → our five token counts (pure Rust, no pgrx).
//!
//! Our semantics, one rule for every provider: `input` includes cache reads
//! and cache writes, `output` includes reasoning. Providers disagree:
//! Anthropic's and Bedrock's `input_tokens` exclude the cache (so we add it),
//! Gemini's `candidatesTokenCount` excludes thinking tokens (so we add them).

use crate::pricing::formula::Tokens;
use serde_json::{Map, Value};
use std::fmt;

/// Which provider's shape a usage object had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageShape {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
    BedrockConverse,
    OpenAiEmbedding,
    OpenAiImage,
    OpenAiTranscription,
    OpenAiRealtime,
}

impl UsageShape {
    /// A stable lower-case name, e.g. `"openai_chat"`.
    pub fn name(self) -> &'static str {
        match self {
            UsageShape::OpenAiChat => "openai_chat",
            UsageShape::OpenAiResponses => "openai_responses",
            UsageShape::Anthropic => "anthropic",
            UsageShape::Gemini => "gemini",
            UsageShape::BedrockConverse => "bedrock_converse",
            UsageShape::OpenAiEmbedding => "openai_embedding",
            UsageShape::OpenAiImage => "openai_image",
            UsageShape::OpenAiTranscription => "openai_transcription",
            UsageShape::OpenAiRealtime => "openai_realtime",
        }
    }
}

/// Why a usage object could not be read; `Display` names the field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawUsageError {
    /// The top level is not a JSON object.
    NotAnObject { found: &'static str },
    /// An object with none of the keys we know.
    Unrecognised,
    /// A count that is not a non-negative integer, or a details member that is not an object.
    BadField { field: String, reason: &'static str },
    /// An integer beyond bigint, or a sum of counts that overflows it.
    OutOfRange { field: String },
    /// Counts that contradict each other: more cached than prompt tokens, or
    /// more reasoning than output tokens.
    Inconsistent { tokens: Tokens },
    /// Units that do not fit their parents (docs/charges.md): audio and image
    /// tokens beyond the uncached input or the output outside reasoning,
    /// 1-hour cache writes beyond cache writes, a TTL split that does not add up.
    UnitsDontFit { detail: String },
}

impl RawUsageError {
    /// True for a count or sum beyond bigint (the caller maps it to its own SQLSTATE).
    pub fn is_out_of_range(&self) -> bool {
        matches!(self, RawUsageError::OutOfRange { .. })
    }
}

impl fmt::Display for RawUsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawUsageError::NotAnObject { found } => {
                write!(f, "raw_usage must be a JSON object (a provider's usage object), got {found}")
            }
            RawUsageError::Unrecognised => write!(
                f,
                "raw_usage is not a usage object we recognise: expected OpenAI, Anthropic, Gemini or Bedrock token counts"
            ),
            RawUsageError::BadField { field, reason } => write!(f, "raw_usage.{field} {reason}"),
            RawUsageError::OutOfRange { field } => write!(f, "raw_usage.{field} is out of range for bigint"),
            RawUsageError::Inconsistent { tokens: t } => write!(
                f,
                "raw_usage counts contradict each other: {} input tokens of which {} cached and {} written to the cache, \
                 {} output tokens of which {} reasoning",
                t.input, t.cached_input, t.cache_write, t.output, t.reasoning
            ),
            RawUsageError::UnitsDontFit { detail } => {
                write!(f, "raw_usage units do not fit the token counts: {detail}")
            }
        }
    }
}

/// Reads counts out of one object, naming fields by their path for errors.
struct Counts<'a> {
    obj: &'a Map<String, Value>,
    path: String,
}

impl<'a> Counts<'a> {
    fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A count: absent or null is 0; otherwise a non-negative integer
    /// (12.0 is accepted, 12.5 is not).
    fn get(&self, key: &str) -> Result<i64, RawUsageError> {
        let v = match self.obj.get(key) {
            None | Some(Value::Null) => return Ok(0),
            Some(v) => v,
        };
        let bad = |reason| RawUsageError::BadField { field: self.field_path(key), reason };
        let n = match v {
            Value::Number(n) => n,
            _ => {
                return Err(bad(match v {
                    Value::String(_) => "must be a non-negative integer, got a string",
                    Value::Bool(_) => "must be a non-negative integer, got a boolean",
                    Value::Array(_) => "must be a non-negative integer, got an array",
                    _ => "must be a non-negative integer, got an object",
                }))
            }
        };
        if let Some(i) = n.as_i64() {
            return if i < 0 { Err(bad("must not be negative")) } else { Ok(i) };
        }
        if n.as_u64().is_some() {
            return Err(RawUsageError::OutOfRange { field: self.field_path(key) });
        }
        // Not an i64/u64: a fraction, an exponent form, or an integer beyond
        // u64 (which arbitrary_precision keeps as text).
        let text = n.to_string();
        // With arbitrary_precision, as_f64 is None past f64's range (jsonb
        // happily stores 1e400); such a magnitude is far beyond bigint.
        let f = match n.as_f64() {
            Some(f) => f,
            None if text.starts_with('-') => return Err(bad("must not be negative")),
            None => return Err(RawUsageError::OutOfRange { field: self.field_path(key) }),
        };
        if f < 0.0 {
            return Err(bad("must not be negative"));
        }
        if f.fract() != 0.0 {
            return Err(bad("must be a whole number of tokens"));
        }
        // `i64::MAX as f64` rounds up to 2^63, the first value past bigint.
        if f >= i64::MAX as f64 || !text.contains(['.', 'e', 'E']) {
            return Err(RawUsageError::OutOfRange { field: self.field_path(key) });
        }
        Ok(f as i64)
    }

    /// A nested details object (`prompt_tokens_details`); absent or null is empty.
    fn nested(&self, key: &str) -> Result<Option<Counts<'a>>, RawUsageError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(obj)) => Ok(Some(Counts { obj, path: self.field_path(key) })),
            Some(other) => Err(RawUsageError::BadField {
                field: self.field_path(key),
                reason: match other {
                    Value::Array(_) => "must be an object, got an array",
                    Value::String(_) => "must be an object, got a string",
                    Value::Number(_) => "must be an object, got a number",
                    _ => "must be an object, got a boolean",
                },
            }),
        }
    }

    fn has_any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.obj.contains_key(*k))
    }
}

/// A checked sum; overflow is reported against `field` of `c`.
fn add(c: &Counts, a: i64, b: i64, field: &str) -> Result<i64, RawUsageError> {
    a.checked_add(b).ok_or_else(|| RawUsageError::OutOfRange { field: c.field_path(field) })
}

const GEMINI_KEYS: [&str; 3] = ["promptTokenCount", "candidatesTokenCount", "totalTokenCount"];
const OPENAI_CHAT_KEYS: [&str; 2] = ["prompt_tokens", "completion_tokens"];
const IN_OUT_KEYS: [&str; 2] = ["input_tokens", "output_tokens"];
/// Keys only Anthropic's usage has beside `input_tokens`/`output_tokens`.
const ANTHROPIC_KEYS: [&str; 4] =
    ["cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation", "server_tool_use"];
const BEDROCK_KEYS: [&str; 2] = ["inputTokens", "outputTokens"];

/// whisper-1's transcription usage carries no tokens: `{"type": "duration", "seconds": 9}`.
fn is_duration_usage(c: &Counts) -> bool {
    matches!(c.obj.get("type"), Some(Value::String(t)) if t == "duration") && c.obj.contains_key("seconds")
}

fn is_known(c: &Counts) -> bool {
    c.has_any(&GEMINI_KEYS)
        || c.has_any(&OPENAI_CHAT_KEYS)
        || c.has_any(&IN_OUT_KEYS)
        || c.has_any(&BEDROCK_KEYS)
        || is_duration_usage(c)
}

/// Normalises a provider usage object (or a whole response carrying one in
/// `usage` / `usageMetadata`) into our token counts, which must be consistent
/// (cache reads and writes within input, reasoning within output).
///
/// Units are not looked at: a malformed unit field does not stop the tokens
/// from being read (see [`normalise_all`]).
pub fn normalise(v: &Value) -> Result<(Tokens, UsageShape), RawUsageError> {
    let (t, _units, shape) = read_all(v)?;
    check_tokens(&t)?;
    Ok((t, shape))
}

/// Tokens, units (docs/charges.md names; None when there are none) and the shape.
///
/// Counted units come from the usage object and, for a whole response, from
/// the response body (OpenAI `web_search_call` output items and image `data`,
/// Gemini grounding queries). Token subsets must fit their parents as
/// docs/charges.md says; zero counts are left out.
#[allow(clippy::type_complexity)] // the interface the insert trigger uses, spelled out
pub fn normalise_all(v: &Value) -> Result<(Tokens, Option<Map<String, Value>>, UsageShape), RawUsageError> {
    let (t, units, shape) = read_all(v)?;
    check_tokens(&t)?;
    if let Some(e) = units.err {
        return Err(e);
    }
    check_fit(&t, &units.map)?;
    Ok((t, (!units.map.is_empty()).then_some(units.map), shape))
}

fn check_tokens(t: &Tokens) -> Result<(), RawUsageError> {
    if t.cached_input.checked_add(t.cache_write).is_none_or(|c| c > t.input) || t.reasoning > t.output {
        return Err(RawUsageError::Inconsistent { tokens: *t });
    }
    Ok(())
}

/// The subset rules of docs/charges.md; `t` is already consistent.
fn check_fit(t: &Tokens, u: &Map<String, Value>) -> Result<(), RawUsageError> {
    let get = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
    let misfit = |detail: String| Err(RawUsageError::UnitsDontFit { detail });
    let write_1h = get("cache_write_1h_tokens");
    if write_1h > t.cache_write {
        return misfit(format!("{write_1h} 1-hour cache writes of {} cache_write_tokens", t.cache_write));
    }
    let uncached = t.input - t.cached_input - t.cache_write;
    let (audio_in, image_in) = (get("audio_input_tokens"), get("image_input_tokens"));
    if audio_in.checked_add(image_in).is_none_or(|s| s > uncached) {
        return misfit(format!(
            "{audio_in} audio + {image_in} image input tokens, but only {uncached} uncached input tokens \
             ({} input, {} cached, {} cache writes)",
            t.input, t.cached_input, t.cache_write
        ));
    }
    let plain_out = t.output - t.reasoning;
    let (audio_out, image_out) = (get("audio_output_tokens"), get("image_output_tokens"));
    if audio_out.checked_add(image_out).is_none_or(|s| s > plain_out) {
        return misfit(format!(
            "{audio_out} audio + {image_out} image output tokens, but only {plain_out} output tokens outside \
             reasoning ({} output, {} reasoning)",
            t.output, t.reasoning
        ));
    }
    Ok(())
}

/// Units as they are read. A unit field that cannot be read is remembered
/// (the first one) rather than returned at once, so that `normalise` still
/// reads the tokens of such an object as it always did.
#[derive(Default)]
struct Units {
    map: Map<String, Value>,
    err: Option<RawUsageError>,
}

impl Units {
    fn fail(&mut self, e: RawUsageError) {
        self.err.get_or_insert(e);
    }

    /// A token subset or a whole count; 0 and unreadable values are left out.
    fn count(&mut self, name: &str, r: Result<i64, RawUsageError>) {
        match r {
            Ok(0) => {}
            Ok(n) => {
                self.map.insert(name.to_string(), Value::from(n));
            }
            Err(e) => self.fail(e),
        }
    }

    /// A qualifier (`size`, `quality`, ...) when the response states one.
    fn qualifier(&mut self, name: &str, v: Option<&Value>) {
        if let Some(Value::String(s)) = v {
            if !s.trim().is_empty() {
                self.map.insert(name.to_string(), Value::String(s.clone()));
            }
        }
    }
}

/// `details.key` of `c`, 0 when the details object is absent.
fn detail(c: &Counts, details: &str, key: &str) -> Result<i64, RawUsageError> {
    match c.nested(details)? {
        Some(d) => d.get(key),
        None => Ok(0),
    }
}

/// A subset reported over all of the input, minus its cached part:
/// `details.key - details.cached_tokens_details.key` (OpenAI reports cached
/// audio and image tokens there, where it reports them at all). Our subsets
/// are of uncached input only.
fn uncached_detail(c: &Counts, details: &str, key: &str) -> Result<i64, RawUsageError> {
    let Some(d) = c.nested(details)? else { return Ok(0) };
    let all = d.get(key)?;
    let cached = detail(&d, "cached_tokens_details", key)?;
    if cached > all {
        return Err(RawUsageError::UnitsDontFit {
            detail: format!("{}.cached_tokens_details.{key} ({cached}) exceeds {}.{key} ({all})", d.path, d.path),
        });
    }
    Ok(all - cached)
}

/// The usage object and, when `v` was a whole response, that response.
type Located<'a> = (Counts<'a>, Option<&'a Map<String, Value>>);

fn locate(v: &Value) -> Result<Located<'_>, RawUsageError> {
    let top = match v {
        Value::Object(obj) => obj,
        other => return Err(RawUsageError::NotAnObject { found: crate::pricing::units::kind(other) }),
    };
    let c = Counts { obj: top, path: String::new() };
    if is_known(&c) {
        return Ok((c, None));
    }
    let inner = ["usage", "usageMetadata"].into_iter().find_map(|k| match top.get(k) {
        Some(Value::Object(obj)) => Some((k, obj)),
        _ => None,
    });
    match inner {
        Some((k, obj)) => {
            let c = Counts { obj, path: k.to_string() };
            if is_known(&c) {
                Ok((c, Some(top)))
            } else {
                Err(RawUsageError::Unrecognised)
            }
        }
        None => Err(RawUsageError::Unrecognised),
    }
}

fn read_all(v: &Value) -> Result<(Tokens, Units, UsageShape), RawUsageError> {
    let (c, whole) = locate(v)?;
    let mut u = Units::default();
    let in_details = |k| c.nested(k).ok().flatten().is_some_and(|d| d.obj.contains_key("text_tokens"));
    let (t, shape) = if c.has_any(&GEMINI_KEYS) {
        (gemini(&c, whole, &mut u)?, UsageShape::Gemini)
    } else if c.obj.contains_key("prompt_tokens")
        && !c.has_any(&["completion_tokens", "prompt_tokens_details", "completion_tokens_details"])
    {
        (openai_embedding(&c)?, UsageShape::OpenAiEmbedding)
    } else if c.has_any(&OPENAI_CHAT_KEYS) {
        (openai_chat(&c, &mut u)?, UsageShape::OpenAiChat)
    } else if is_duration_usage(&c) || c.obj.contains_key("input_token_details") {
        // Transcription (`type: tokens` or `duration`); the Realtime API's
        // usage has the same `input_token_details` spelling and no `type`.
        let shape =
            if c.obj.contains_key("type") { UsageShape::OpenAiTranscription } else { UsageShape::OpenAiRealtime };
        (openai_token_details(&c, &mut u)?, shape)
    } else if c.has_any(&IN_OUT_KEYS) && c.has_any(&ANTHROPIC_KEYS) {
        (anthropic(&c, &mut u)?, UsageShape::Anthropic)
    } else if c.has_any(&IN_OUT_KEYS)
        && (in_details("input_tokens_details") || whole.is_some_and(|w| matches!(w.get("data"), Some(Value::Array(_)))))
    {
        // The Images API: its input details split text and image tokens
        // (the Responses API's give cached tokens), its response has `data`.
        (openai_image(&c, whole, &mut u)?, UsageShape::OpenAiImage)
    } else if c.has_any(&IN_OUT_KEYS) {
        (openai_responses(&c, whole, &mut u)?, UsageShape::OpenAiResponses)
    } else {
        (bedrock(&c, &mut u)?, UsageShape::BedrockConverse)
    };
    Ok((t, u, shape))
}

/// Gemini `usageMetadata`. `promptTokenCount` includes the cached content;
/// `candidatesTokenCount` excludes thinking tokens, which we add to output.
fn gemini(c: &Counts, whole: Option<&Map<String, Value>>, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let thoughts = c.get("thoughtsTokenCount")?;
    let input = add(c, c.get("promptTokenCount")?, c.get("toolUsePromptTokenCount")?, "promptTokenCount")?;
    let output = add(c, c.get("candidatesTokenCount")?, thoughts, "candidatesTokenCount")?;
    let t =
        Tokens { input, output, cached_input: c.get("cachedContentTokenCount")?, cache_write: 0, reasoning: thoughts };
    // promptTokensDetails splits the whole prompt by modality, cached content
    // included; cacheTokensDetails splits the cached part the same way. Our
    // subsets are of uncached input, so cached audio/image tokens (already
    // priced as cache reads) come off: AUDIO(prompt) - AUDIO(cache).
    let prompt = modality_counts(c, "promptTokensDetails");
    let cache = modality_counts(c, "cacheTokensDetails");
    let out = modality_counts(c, "candidatesTokensDetails");
    match (prompt, cache, out) {
        (Ok(prompt), Ok(cache), Ok(out)) => {
            for (modality, name) in [("AUDIO", "audio_input_tokens"), ("IMAGE", "image_input_tokens")] {
                let (all, cached) = (prompt.of(modality), cache.of(modality));
                let r = if cached > all {
                    Err(RawUsageError::UnitsDontFit {
                        detail: format!("{cached} cached {modality} tokens but {all} {modality} prompt tokens"),
                    })
                } else {
                    Ok(all - cached)
                };
                u.count(name, r);
            }
            // Thoughts are outside candidatesTokensDetails, as they are
            // outside candidatesTokenCount.
            u.count("audio_output_tokens", Ok(out.of("AUDIO")));
            u.count("image_output_tokens", Ok(out.of("IMAGE")));
        }
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => u.fail(e),
    }
    if let Some(w) = whole {
        u.count("web_search_queries", Ok(gemini_grounding_queries(w)));
    }
    Ok(t)
}

/// Token counts by modality from a `[{modality, tokenCount}]` array.
#[derive(Default)]
struct ByModality(Vec<(String, i64)>);

impl ByModality {
    fn of(&self, modality: &str) -> i64 {
        self.0.iter().filter(|(m, _)| m == modality).map(|(_, n)| n).sum()
    }
}

fn modality_counts(c: &Counts, key: &str) -> Result<ByModality, RawUsageError> {
    let bad = |reason| RawUsageError::BadField { field: c.field_path(key), reason };
    let items = match c.obj.get(key) {
        None | Some(Value::Null) => return Ok(ByModality::default()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("must be an array of {modality, tokenCount}")),
    };
    let mut out = ByModality::default();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else { return Err(bad("must be an array of {modality, tokenCount}")) };
        let entry = Counts { obj, path: format!("{}[{i}]", c.field_path(key)) };
        let modality = match obj.get("modality") {
            Some(Value::String(m)) => m.to_ascii_uppercase(),
            _ => String::new(),
        };
        let n = entry.get("tokenCount")?;
        let sum = out
            .of(&modality)
            .checked_add(n)
            .ok_or_else(|| RawUsageError::OutOfRange { field: entry.field_path("tokenCount") })?;
        out.0.retain(|(m, _)| *m != modality);
        out.0.push((modality, sum));
    }
    Ok(out)
}

/// Billable Grounding with Google Search uses in a whole Gemini response.
///
/// Google bills grounding differently by model generation (the "Pricing"
/// section of https://ai.google.dev/gemini-api/docs/google-search, read for
/// this change, and the Gemini API pricing page it links,
/// https://ai.google.dev/gemini-api/docs/pricing): with Gemini 3 "your project
/// is billed for each search query that the model decides to execute" (two
/// queries for one prompt are two billable uses; $14 / 1,000 search queries),
/// while "with Gemini 2.5 or older models, your project is billed per prompt"
/// ($35 / 1,000 grounded prompts). Empty query strings are not billed.
///
/// So `web_search_queries` is the billable count, which is what a price per
/// query multiplies: the number of distinct non-empty `webSearchQueries`
/// over all candidates, or 1 for a grounded response whose `modelVersion`
/// is Gemini 1.x/2.x. Without a `modelVersion` we count queries (the current
/// generation's rule).
fn gemini_grounding_queries(whole: &Map<String, Value>) -> i64 {
    let Some(Value::Array(candidates)) = whole.get("candidates") else { return 0 };
    let mut queries: Vec<&str> = candidates
        .iter()
        .filter_map(|cand| cand.get("groundingMetadata")?.get("webSearchQueries")?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .filter(|q| !q.trim().is_empty())
        .collect();
    queries.sort_unstable();
    queries.dedup();
    if queries.is_empty() {
        return 0;
    }
    match whole.get("modelVersion") {
        Some(Value::String(m)) if gemini_bills_grounding_per_prompt(m) => 1,
        _ => queries.len() as i64,
    }
}

/// `gemini-2.5-flash`, `models/gemini-1.5-pro-002`, ...: before Gemini 3.
fn gemini_bills_grounding_per_prompt(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    // The generation is the first number after "gemini-", past a variant word
    // such as "live-" (gemini-live-2.5-flash is a Gemini 2.5 model).
    let Some(rest) = name.strip_prefix("gemini-") else { return false };
    let rest = rest.strip_prefix("live-").unwrap_or(rest);
    rest.chars().next().is_some_and(|c| c == '1' || c == '2')
}

/// OpenAI Chat Completions: `prompt_tokens` includes cached tokens,
/// `completion_tokens` includes reasoning; audio and image tokens are
/// reported inside the details objects.
fn openai_chat(c: &Counts, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let t = Tokens {
        input: c.get("prompt_tokens")?,
        output: c.get("completion_tokens")?,
        cached_input: detail(c, "prompt_tokens_details", "cached_tokens")?,
        cache_write: 0,
        reasoning: detail(c, "completion_tokens_details", "reasoning_tokens")?,
    };
    u.count("audio_input_tokens", uncached_detail(c, "prompt_tokens_details", "audio_tokens"));
    u.count("image_input_tokens", uncached_detail(c, "prompt_tokens_details", "image_tokens"));
    u.count("audio_output_tokens", detail(c, "completion_tokens_details", "audio_tokens"));
    u.count("image_output_tokens", detail(c, "completion_tokens_details", "image_tokens"));
    Ok(t)
}

/// OpenAI embeddings: `{prompt_tokens, total_tokens}` and no completion.
fn openai_embedding(c: &Counts) -> Result<Tokens, RawUsageError> {
    Ok(Tokens { input: c.get("prompt_tokens")?, ..Tokens::default() })
}

/// OpenAI Responses API usage; in a whole response, each `web_search_call`
/// output item is one billed web search tool call.
fn openai_responses(c: &Counts, whole: Option<&Map<String, Value>>, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let t = Tokens {
        input: c.get("input_tokens")?,
        output: c.get("output_tokens")?,
        cached_input: detail(c, "input_tokens_details", "cached_tokens")?,
        cache_write: 0,
        reasoning: detail(c, "output_tokens_details", "reasoning_tokens")?,
    };
    u.count("audio_input_tokens", uncached_detail(c, "input_tokens_details", "audio_tokens"));
    u.count("image_input_tokens", uncached_detail(c, "input_tokens_details", "image_tokens"));
    u.count("audio_output_tokens", detail(c, "output_tokens_details", "audio_tokens"));
    u.count("image_output_tokens", detail(c, "output_tokens_details", "image_tokens"));
    if let Some(w) = whole {
        // `output` is an array in a Responses object (Bedrock's `output` is
        // an object and never reaches this function).
        let searches = match w.get("output") {
            Some(Value::Array(items)) => {
                items.iter().filter(|i| i.get("type").and_then(Value::as_str) == Some("web_search_call")).count()
            }
            _ => 0,
        };
        u.count("web_search_queries", Ok(searches as i64));
        if searches > 0 {
            // The response echoes the request's tools, search_context_size included.
            let size = match w.get("tools") {
                Some(Value::Array(tools)) => tools
                    .iter()
                    .filter(|t| t.get("type").and_then(Value::as_str).is_some_and(|ty| ty.starts_with("web_search")))
                    .find_map(|t| t.get("search_context_size")),
                _ => None,
            };
            u.qualifier("search_context_size", size);
        }
    }
    Ok(t)
}

/// OpenAI Images API (generations and edits, GPT image models). Output tokens
/// are image tokens (`output_tokens_details` splits image and text tokens
/// where the model reports it); a whole response gives its `size` and
/// `quality`. The number of images is not counted: these models bill their
/// image tokens, and the catalog's per-image prices for them (LiteLLM's size
/// entries) estimate the same charge, so counting both would bill it twice
/// (docs/charges.md). DALL-E responses carry no usage and never come here.
fn openai_image(c: &Counts, whole: Option<&Map<String, Value>>, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let t = Tokens {
        input: c.get("input_tokens")?,
        output: c.get("output_tokens")?,
        cached_input: detail(c, "input_tokens_details", "cached_tokens")?,
        cache_write: 0,
        reasoning: 0,
    };
    u.count("image_input_tokens", detail(c, "input_tokens_details", "image_tokens"));
    let image_out = match c.nested("output_tokens_details") {
        Ok(Some(d)) => d.get("image_tokens"),
        Ok(None) => Ok(t.output),
        Err(e) => Err(e),
    };
    u.count("image_output_tokens", image_out);
    if let Some(w) = whole {
        u.qualifier("size", w.get("size"));
        u.qualifier("quality", w.get("quality"));
    }
    Ok(t)
}

/// OpenAI audio transcription usage: token-billed models (`type: tokens`,
/// gpt-4o-transcribe) give `input_token_details.{audio_tokens,text_tokens}`;
/// whisper-1 gives `{type: duration, seconds}`, billed per second, no tokens.
/// The Realtime API's usage (`input_token_details` with `cached_tokens`,
/// `output_token_details`) is read here too.
fn openai_token_details(c: &Counts, u: &mut Units) -> Result<Tokens, RawUsageError> {
    if is_duration_usage(c) {
        match c.obj.get("seconds") {
            Some(Value::Number(n)) if !n.to_string().starts_with('-') => {
                if n.as_f64() != Some(0.0) {
                    u.map.insert("audio_seconds".into(), Value::Number(n.clone()));
                }
            }
            _ => u.fail(RawUsageError::BadField {
                field: c.field_path("seconds"),
                reason: "must be a non-negative number of seconds",
            }),
        }
        return Ok(Tokens::default());
    }
    let t = Tokens {
        input: c.get("input_tokens")?,
        output: c.get("output_tokens")?,
        cached_input: detail(c, "input_token_details", "cached_tokens")?,
        cache_write: 0,
        reasoning: 0,
    };
    u.count("audio_input_tokens", uncached_detail(c, "input_token_details", "audio_tokens"));
    u.count("image_input_tokens", uncached_detail(c, "input_token_details", "image_tokens"));
    u.count("audio_output_tokens", detail(c, "output_token_details", "audio_tokens"));
    Ok(t)
}

/// Anthropic Messages: `input_tokens` excludes cache reads and writes (we add
/// them). `cache_creation_input_tokens` counts 5-minute and 1-hour writes;
/// `cache_creation` splits them. Server-side web searches are in
/// `server_tool_use.web_search_requests` (web fetches are free and not counted).
fn anthropic(c: &Counts, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let read = c.get("cache_read_input_tokens")?;
    let split = match c.nested("cache_creation")? {
        Some(d) => Some((d.get("ephemeral_5m_input_tokens")?, d.get("ephemeral_1h_input_tokens")?)),
        None => None,
    };
    let split_sum = match split {
        Some((m5, h1)) => Some(add(c, m5, h1, "cache_creation")?),
        None => None,
    };
    let write = if c.obj.get("cache_creation_input_tokens").is_some_and(|v| !v.is_null()) {
        c.get("cache_creation_input_tokens")?
    } else {
        split_sum.unwrap_or(0)
    };
    let input = add(c, add(c, c.get("input_tokens")?, read, "input_tokens")?, write, "input_tokens")?;
    let t = Tokens { input, output: c.get("output_tokens")?, cached_input: read, cache_write: write, reasoning: 0 };
    if let (Some((m5, h1)), Some(sum)) = (split, split_sum) {
        if sum != write {
            u.fail(RawUsageError::UnitsDontFit {
                detail: format!(
                    "cache_creation splits {sum} cache writes ({m5} for 5 minutes, {h1} for 1 hour) \
                     but cache_creation_input_tokens is {write}"
                ),
            });
        }
        u.count("cache_write_1h_tokens", Ok(h1));
    }
    u.count("web_search_queries", detail(c, "server_tool_use", "web_search_requests"));
    Ok(t)
}

/// Bedrock Converse: like Anthropic, `inputTokens` excludes the cache;
/// `cacheDetails` splits cache writes by TTL (`5m`, `1h`).
fn bedrock(c: &Counts, u: &mut Units) -> Result<Tokens, RawUsageError> {
    let read = c.get("cacheReadInputTokens")?;
    let details = bedrock_cache_details(c);
    let write = match (&details, c.obj.get("cacheWriteInputTokens")) {
        (Ok(Some((all, _))), None | Some(Value::Null)) => *all,
        _ => c.get("cacheWriteInputTokens")?,
    };
    let input = add(c, add(c, c.get("inputTokens")?, read, "inputTokens")?, write, "inputTokens")?;
    let t = Tokens { input, output: c.get("outputTokens")?, cached_input: read, cache_write: write, reasoning: 0 };
    match details {
        Ok(Some((all, h1))) => {
            if all != write {
                u.fail(RawUsageError::UnitsDontFit {
                    detail: format!("cacheDetails split {all} cache writes but cacheWriteInputTokens is {write}"),
                });
            }
            u.count("cache_write_1h_tokens", Ok(h1));
        }
        Ok(None) => {}
        Err(e) => u.fail(e),
    }
    Ok(t)
}

/// `cacheDetails: [{ttl, inputTokens}]` as (all writes, 1-hour writes).
fn bedrock_cache_details(c: &Counts) -> Result<Option<(i64, i64)>, RawUsageError> {
    let bad = |reason| RawUsageError::BadField { field: c.field_path("cacheDetails"), reason };
    let items = match c.obj.get("cacheDetails") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("must be an array of {ttl, inputTokens}")),
    };
    let (mut all, mut h1) = (0i64, 0i64);
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else { return Err(bad("must be an array of {ttl, inputTokens}")) };
        let entry = Counts { obj, path: format!("{}[{i}]", c.field_path("cacheDetails")) };
        let n = entry.get("inputTokens")?;
        let overflow = || RawUsageError::OutOfRange { field: entry.field_path("inputTokens") };
        all = all.checked_add(n).ok_or_else(overflow)?;
        if obj.get("ttl").and_then(Value::as_str) == Some("1h") {
            h1 = h1.checked_add(n).ok_or_else(overflow)?;
        }
    }
    Ok(Some((all, h1)))
}

#[cfg(test)]
mod grounding_generation_tests {
    use super::gemini_bills_grounding_per_prompt as per_prompt;

    #[test]
    fn gemini_generations_by_name() {
        assert!(per_prompt("gemini-2.5-flash"));
        assert!(per_prompt("models/gemini-1.5-pro-002"));
        // Gemini Live on 2.5 (LiteLLM parity run found these priced per query)
        assert!(per_prompt("gemini-live-2.5-flash-preview-native-audio-09-2025"));
        assert!(per_prompt("publishers/google/models/gemini-live-2.5-flash"));
        assert!(!per_prompt("gemini-3-pro-preview"));
        assert!(!per_prompt("gemini-live-3-flash"));
        assert!(!per_prompt("deep-research-pro"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value) -> (Tokens, UsageShape) {
        normalise(&v).unwrap()
    }

    fn tc(input: i64, cached_input: i64, cache_write: i64, output: i64, reasoning: i64) -> Tokens {
        Tokens { input, output, cached_input, cache_write, reasoning }
    }

    #[test]
    fn openai_chat_with_details() {
        let v = json!({"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                       "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                                                     "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}});
        assert_eq!(ok(v), (tc(2006, 1920, 0, 300, 192), UsageShape::OpenAiChat));
    }

    #[test]
    fn openai_responses() {
        let v = json!({"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 2000},
                       "output_tokens": 1000, "output_tokens_details": {"reasoning_tokens": 600}, "total_tokens": 6000});
        assert_eq!(ok(v), (tc(5000, 2000, 0, 1000, 600), UsageShape::OpenAiResponses));
    }

    #[test]
    fn anthropic_adds_cache_to_input() {
        let v = json!({"input_tokens": 100, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 8000,
                       "output_tokens": 400, "service_tier": "standard"});
        assert_eq!(ok(v), (tc(10100, 8000, 2000, 400, 0), UsageShape::Anthropic));
    }

    #[test]
    fn gemini_counts_thoughts_as_output() {
        let v = json!({"promptTokenCount": 4000, "cachedContentTokenCount": 1000, "candidatesTokenCount": 500,
                       "thoughtsTokenCount": 250, "totalTokenCount": 4750});
        assert_eq!(ok(v), (tc(4000, 1000, 0, 750, 250), UsageShape::Gemini));
    }

    #[test]
    fn bedrock_converse() {
        let v = json!({"inputTokens": 30, "outputTokens": 628, "totalTokens": 1658,
                       "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 0});
        assert_eq!(ok(v), (tc(1030, 1000, 0, 628, 0), UsageShape::BedrockConverse));
    }

    #[test]
    fn whole_responses_are_unwrapped() {
        let v = json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": [],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5}});
        assert_eq!(ok(v), (tc(10, 0, 0, 5, 0), UsageShape::OpenAiChat));
        let v = json!({"candidates": [], "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3}});
        assert_eq!(ok(v), (tc(7, 0, 0, 3, 0), UsageShape::Gemini));
    }

    #[test]
    fn whole_anthropic_and_bedrock_responses_are_unwrapped() {
        let v = json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                       "content": [], "stop_reason": "end_turn",
                       "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": 1500, "output_tokens": 80}});
        assert_eq!(ok(v), (tc(1512, 1500, 0, 80, 0), UsageShape::Anthropic));
        let v = json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn",
                       "usage": {"inputTokens": 20, "outputTokens": 10, "totalTokens": 30,
                                 "cacheWriteInputTokens": 500}, "metrics": {"latencyMs": 900}});
        assert_eq!(ok(v), (tc(520, 0, 500, 10, 0), UsageShape::BedrockConverse));
    }

    #[test]
    fn gemini_tool_use_prompt_counts_as_input() {
        let v = json!({"promptTokenCount": 300, "toolUsePromptTokenCount": 120, "candidatesTokenCount": 40,
                       "totalTokenCount": 460, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 300}]});
        assert_eq!(ok(v), (tc(420, 0, 0, 40, 0), UsageShape::Gemini));
    }

    #[test]
    fn null_counts_and_details_are_zero() {
        let v = json!({"prompt_tokens": 9, "completion_tokens": null, "prompt_tokens_details": null});
        assert_eq!(ok(v), (tc(9, 0, 0, 0, 0), UsageShape::OpenAiChat));
        // A bare pair is read as the Responses API; the numbers equal Anthropic's.
        assert_eq!(
            ok(json!({"input_tokens": 3, "output_tokens": 4})),
            (tc(3, 0, 0, 4, 0), UsageShape::OpenAiResponses)
        );
    }

    #[test]
    fn whole_number_floats_are_accepted() {
        assert_eq!(ok(json!({"prompt_tokens": 12.0})).0.input, 12);
    }

    #[test]
    fn errors() {
        let err = |v: Value| normalise(&v).unwrap_err();
        assert_eq!(err(json!([1, 2])), RawUsageError::NotAnObject { found: "an array" });
        assert_eq!(err(json!("x")), RawUsageError::NotAnObject { found: "a string" });
        assert_eq!(err(json!({})), RawUsageError::Unrecognised);
        assert_eq!(err(json!({"usage": {"foo": 1}})), RawUsageError::Unrecognised);
        assert!(matches!(err(json!({"prompt_tokens": "12"})), RawUsageError::BadField { .. }));
        assert!(matches!(err(json!({"prompt_tokens": -1})), RawUsageError::BadField { .. }));
        assert!(matches!(err(json!({"prompt_tokens": 1.5})), RawUsageError::BadField { .. }));
        assert!(matches!(err(json!({"prompt_tokens": true})), RawUsageError::BadField { .. }));
        assert!(matches!(err(json!({"prompt_tokens": 1, "prompt_tokens_details": 5})), RawUsageError::BadField { .. }));
        let e = err(json!({"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": "x"}}));
        assert_eq!(
            e.to_string(),
            "raw_usage.prompt_tokens_details.cached_tokens must be a non-negative integer, got a string"
        );
        assert!(err(json!({"prompt_tokens": 1e30})).is_out_of_range());
        assert!(err(serde_json::from_str("{\"prompt_tokens\": 99999999999999999999}").unwrap()).is_out_of_range());
        assert!(err(json!({"prompt_tokens": u64::MAX})).is_out_of_range());
        let sum = json!({"input_tokens": i64::MAX, "cache_read_input_tokens": 1, "output_tokens": 0});
        assert!(err(sum).is_out_of_range());
    }

    #[test]
    fn more_errors() {
        let err = |v: Value| normalise(&v).unwrap_err();
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(err(json!(3)), RawUsageError::NotAnObject { found: "a number" });
        assert_eq!(err(json!(null)), RawUsageError::NotAnObject { found: "null" });
        assert_eq!(err(json!({"usage": 5})), RawUsageError::Unrecognised);
        assert_eq!(
            err(json!({"input_tokens": 1, "output_tokens_details": [1]})),
            RawUsageError::BadField {
                field: "output_tokens_details".into(),
                reason: "must be an object, got an array"
            }
        );
        assert_eq!(err(json!({"inputTokens": -5})).to_string(), "raw_usage.inputTokens must not be negative");
        assert_eq!(
            err(json!({"promptTokenCount": 12.5})).to_string(),
            "raw_usage.promptTokenCount must be a whole number of tokens"
        );
        assert!(matches!(err(json!({"output_tokens": {"n": 1}})), RawUsageError::BadField { .. }));
        // Errors inside a wrapper name the full path, overflow included.
        let e = err(json!({"usageMetadata": {"candidatesTokenCount": i64::MAX, "thoughtsTokenCount": 1}}));
        assert_eq!(e, RawUsageError::OutOfRange { field: "usageMetadata.candidatesTokenCount".into() });
        assert_eq!(e.to_string(), "raw_usage.usageMetadata.candidatesTokenCount is out of range for bigint");
        assert!(err(json!({"inputTokens": 1, "cacheWriteInputTokens": i64::MAX})).is_out_of_range());
        // Just past i64 is out of range; i64::MAX itself is fine.
        assert!(err(parse(r#"{"prompt_tokens": 9223372036854775808}"#)).is_out_of_range());
        assert_eq!(ok(json!({"prompt_tokens": i64::MAX})).0.input, i64::MAX);
        assert!(matches!(err(parse(r#"{"prompt_tokens": -99999999999999999999}"#)), RawUsageError::BadField { .. }));
        assert_eq!(ok(parse(r#"{"prompt_tokens": -0}"#)).0.input, 0);
        // Past f64's range: only arbitrary_precision parses it (jsonb stores it).
        if let Ok(v) = serde_json::from_str::<Value>(r#"{"prompt_tokens": 1e400}"#) {
            assert!(err(v).is_out_of_range());
        }
    }

    // ---- units (normalise_all) ----

    fn all(v: &Value) -> (Tokens, Option<Map<String, Value>>, UsageShape) {
        normalise_all(v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn units(v: Value) -> Option<Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    fn corpus(name: &str) -> Value {
        let path = format!("{}/tests/corpus/raw_usage/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn corpus_anthropic_web_search() {
        let v = corpus("anthropic_web_search.json");
        assert_eq!(all(&v), (tc(6039, 0, 0, 931, 0), units(json!({"web_search_queries": 1})), UsageShape::Anthropic));
    }

    #[test]
    fn corpus_anthropic_cache_1h() {
        // 2048 uncached + 1800 read + 248 written (148 for 5 minutes, 100 for 1 hour).
        let v = corpus("anthropic_cache_1h.json");
        assert_eq!(
            all(&v),
            (tc(4096, 1800, 248, 503, 0), units(json!({"cache_write_1h_tokens": 100})), UsageShape::Anthropic)
        );
    }

    #[test]
    fn corpus_openai_responses_web_search() {
        let v = corpus("openai_responses_web_search.json");
        let u = units(json!({"web_search_queries": 1, "search_context_size": "medium"}));
        assert_eq!(all(&v), (tc(328, 0, 0, 356, 0), u, UsageShape::OpenAiResponses));
        // The usage object alone says nothing of the searches.
        assert_eq!(all(&v["usage"]), (tc(328, 0, 0, 356, 0), None, UsageShape::OpenAiResponses));
    }

    #[test]
    fn corpus_openai_embedding() {
        let v = corpus("openai_embedding.json");
        assert_eq!(all(&v), (tc(8, 0, 0, 0, 0), None, UsageShape::OpenAiEmbedding));
        assert_eq!(all(&v["usage"]).2, UsageShape::OpenAiEmbedding);
    }

    #[test]
    fn corpus_openai_image_generation() {
        let v = corpus("openai_image_generation.json");
        // no "images": the image tokens are the charge (see openai_image)
        let u = units(json!({"image_input_tokens": 40, "image_output_tokens": 50,
                             "size": "1024x1024", "quality": "high"}));
        assert_eq!(all(&v), (tc(50, 0, 0, 50, 0), u, UsageShape::OpenAiImage));
        // The bare usage object is still recognised by its text/image split.
        let u = units(json!({"image_input_tokens": 40, "image_output_tokens": 50}));
        assert_eq!(all(&v["usage"]), (tc(50, 0, 0, 50, 0), u, UsageShape::OpenAiImage));
    }

    #[test]
    fn openai_image_output_details_split_text_from_image_tokens() {
        // ImageGenUsage.output_tokens_details (newer GPT image models).
        let v = json!({"input_tokens": 50, "output_tokens": 60, "total_tokens": 110,
                       "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                       "output_tokens_details": {"image_tokens": 45, "text_tokens": 15}});
        assert_eq!(all(&v), (tc(50, 0, 0, 60, 0), units(json!({"image_output_tokens": 45})), UsageShape::OpenAiImage));
    }

    #[test]
    fn corpus_openai_transcriptions() {
        let v = corpus("openai_transcription_tokens.json");
        assert_eq!(
            all(&v),
            (tc(14, 0, 0, 101, 0), units(json!({"audio_input_tokens": 4})), UsageShape::OpenAiTranscription)
        );
        let v = corpus("openai_transcription_duration.json");
        assert_eq!(all(&v), (tc(0, 0, 0, 0, 0), units(json!({"audio_seconds": 9})), UsageShape::OpenAiTranscription));
        // Seconds are kept exactly as given.
        let (_, u, _) = all(&json!({"usage": {"type": "duration", "seconds": 12.5}}));
        assert_eq!(u.unwrap()["audio_seconds"].to_string(), "12.5");
        assert!(matches!(
            normalise_all(&json!({"type": "duration", "seconds": "9"})),
            Err(RawUsageError::BadField { .. })
        ));
        assert!(matches!(
            normalise_all(&json!({"type": "duration", "seconds": -1})),
            Err(RawUsageError::BadField { .. })
        ));
        // normalise does not look at units.
        assert_eq!(
            ok(json!({"type": "duration", "seconds": -1})),
            (tc(0, 0, 0, 0, 0), UsageShape::OpenAiTranscription)
        );
    }

    #[test]
    fn corpus_openai_realtime() {
        // 13 audio input tokens, none of them cached (cached_tokens_details).
        let v = corpus("openai_realtime_response_done.json");
        let u = units(json!({"audio_input_tokens": 13, "audio_output_tokens": 91}));
        assert_eq!(all(&v), (tc(132, 64, 0, 121, 0), u, UsageShape::OpenAiRealtime));
    }

    #[test]
    fn corpus_gemini_grounding_by_model_generation() {
        let mut v = corpus("gemini_grounding.json");
        v["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": 33, "totalTokenCount": 43});
        // No modelVersion: queries are counted (Gemini 3's rule).
        assert_eq!(all(&v), (tc(10, 0, 0, 33, 0), units(json!({"web_search_queries": 2})), UsageShape::Gemini));
        v["modelVersion"] = json!("gemini-3-flash-preview");
        assert_eq!(all(&v).1, units(json!({"web_search_queries": 2})));
        // Gemini 2.5 and older bill one grounded prompt however many queries.
        v["modelVersion"] = json!("gemini-2.5-flash");
        assert_eq!(all(&v).1, units(json!({"web_search_queries": 1})));
        v["modelVersion"] = json!("models/gemini-1.5-pro-002");
        assert_eq!(all(&v).1, units(json!({"web_search_queries": 1})));
        // Empty and repeated queries are not billed.
        v["modelVersion"] = json!("gemini-3-pro-preview");
        v["candidates"][0]["groundingMetadata"]["webSearchQueries"] =
            json!(["", "who won euro 2024", " ", "who won euro 2024"]);
        assert_eq!(all(&v).1, units(json!({"web_search_queries": 1})));
        v["candidates"][0]["groundingMetadata"]["webSearchQueries"] = json!([]);
        assert_eq!(all(&v).1, None);
    }

    #[test]
    fn gemini_modalities_leave_cached_audio_and_images_out() {
        // 1000 prompt tokens (600 text, 300 audio, 100 image); 400 of them
        // cached (300 text, 100 audio): uncached audio 200, image 100.
        let v = json!({"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 1290,
                       "thoughtsTokenCount": 50, "totalTokenCount": 2340,
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 600}, {"modality": "AUDIO", "tokenCount": 300},
                                               {"modality": "IMAGE", "tokenCount": 100}],
                       "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 300}, {"modality": "AUDIO", "tokenCount": 100}],
                       "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]});
        let u = units(json!({"audio_input_tokens": 200, "image_input_tokens": 100, "image_output_tokens": 1290}));
        assert_eq!(all(&v), (tc(1000, 400, 0, 1340, 50), u, UsageShape::Gemini));
        // More cached than prompt audio is a contradiction.
        let bad = json!({"promptTokenCount": 10, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}],
                         "cachedContentTokenCount": 8, "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 8}]});
        assert!(matches!(normalise_all(&bad), Err(RawUsageError::UnitsDontFit { .. })));
        let bad = json!({"promptTokenCount": 10, "promptTokensDetails": {"modality": "AUDIO"}});
        assert!(matches!(normalise_all(&bad), Err(RawUsageError::BadField { .. })));
        assert_eq!(ok(bad).0.input, 10);
    }

    #[test]
    fn openai_chat_audio_and_image_tokens() {
        // Chat Completions usage with the CompletionUsage details fields.
        let v = json!({"prompt_tokens": 1200, "completion_tokens": 400, "total_tokens": 1600,
                       "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": 700, "image_tokens": 100, "text_tokens": 400},
                       "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 350, "text_tokens": 50}});
        let u = units(json!({"audio_input_tokens": 700, "image_input_tokens": 100, "audio_output_tokens": 350}));
        assert_eq!(all(&v), (tc(1200, 200, 0, 400, 0), u, UsageShape::OpenAiChat));
        // The existing zero-audio fixture has no units.
        let v = json!({"prompt_tokens": 2006, "completion_tokens": 300,
                       "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0}});
        assert_eq!(all(&v).1, None);
    }

    #[test]
    fn anthropic_cache_split() {
        // cache_creation without cache_creation_input_tokens: the sum.
        let v = json!({"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 1000,
                       "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10000}});
        assert_eq!(
            all(&v),
            (tc(11005, 1000, 10000, 7, 0), units(json!({"cache_write_1h_tokens": 10000})), UsageShape::Anthropic)
        );
        // A split that does not add up to cache_creation_input_tokens.
        let v = json!({"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 248,
                       "cache_creation": {"ephemeral_5m_input_tokens": 456, "ephemeral_1h_input_tokens": 100}});
        let e = normalise_all(&v).unwrap_err();
        assert!(matches!(e, RawUsageError::UnitsDontFit { .. }), "{e}");
        assert!(e.to_string().contains("cache_creation_input_tokens is 248"), "{e}");
        // ... which normalise, reading tokens only, still accepts as before.
        assert_eq!(ok(v).0.cache_write, 248);
        // server_tool_use alone marks Anthropic usage.
        let v = json!({"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 2}});
        assert_eq!(all(&v), (tc(10, 0, 0, 5, 0), units(json!({"web_search_queries": 3})), UsageShape::Anthropic));
        let v = json!({"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": "3"}});
        assert!(matches!(normalise_all(&v), Err(RawUsageError::BadField { .. })));
    }

    #[test]
    fn bedrock_cache_details_by_ttl() {
        // TokenUsage.cacheDetails (Bedrock API reference): sorted 1h before 5m.
        let v = json!({"inputTokens": 20, "outputTokens": 10, "totalTokens": 1530, "cacheReadInputTokens": 0,
                       "cacheWriteInputTokens": 1500,
                       "cacheDetails": [{"ttl": "1h", "inputTokens": 1000}, {"ttl": "5m", "inputTokens": 500}]});
        assert_eq!(
            all(&v),
            (tc(1520, 0, 1500, 10, 0), units(json!({"cache_write_1h_tokens": 1000})), UsageShape::BedrockConverse)
        );
        let mut v2 = v.clone();
        v2.as_object_mut().unwrap().remove("cacheWriteInputTokens");
        assert_eq!(all(&v2).0, tc(1520, 0, 1500, 10, 0));
        v2["cacheWriteInputTokens"] = json!(900);
        assert!(matches!(normalise_all(&v2), Err(RawUsageError::UnitsDontFit { .. })));
    }

    #[test]
    fn subsets_must_fit_their_parents() {
        let err = |v: Value| normalise_all(&v).unwrap_err();
        // Audio input beyond the uncached input (100 - 60 cached).
        let e = err(json!({"prompt_tokens": 100, "completion_tokens": 0,
                           "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 50}}));
        assert_eq!(
            e.to_string(),
            "raw_usage units do not fit the token counts: 50 audio + 0 image input tokens, \
                                   but only 40 uncached input tokens (100 input, 60 cached, 0 cache writes)"
        );
        // Audio output within reasoning.
        let e = err(json!({"prompt_tokens": 1, "completion_tokens": 100,
                           "completion_tokens_details": {"reasoning_tokens": 80, "audio_tokens": 30}}));
        assert!(matches!(e, RawUsageError::UnitsDontFit { .. }));
        // Cached audio beyond the audio tokens.
        let e = err(json!({"input_tokens": 100, "output_tokens": 1, "input_token_details":
                           {"cached_tokens": 10, "audio_tokens": 5, "cached_tokens_details": {"audio_tokens": 9}}}));
        assert!(matches!(e, RawUsageError::UnitsDontFit { .. }));
        // Token errors still come first.
        assert!(matches!(
            err(
                json!({"prompt_tokens": 5, "completion_tokens": 1, "completion_tokens_details": {"reasoning_tokens": 9}})
            ),
            RawUsageError::Inconsistent { .. }
        ));
    }

    #[test]
    fn shape_names_are_stable() {
        let names: Vec<_> = [
            UsageShape::OpenAiChat,
            UsageShape::OpenAiResponses,
            UsageShape::Anthropic,
            UsageShape::Gemini,
            UsageShape::BedrockConverse,
            UsageShape::OpenAiEmbedding,
            UsageShape::OpenAiImage,
            UsageShape::OpenAiTranscription,
            UsageShape::OpenAiRealtime,
        ]
        .into_iter()
        .map(UsageShape::name)
        .collect();
        assert_eq!(
            names,
            [
                "openai_chat",
                "openai_responses",
                "anthropic",
                "gemini",
                "bedrock_converse",
                "openai_embedding",
                "openai_image",
                "openai_transcription",
                "openai_realtime"
            ]
        );
    }

    /// What the property test below found first: Gemini's cached count with no
    /// prompt count was accepted as 261 cached of 0 input tokens.
    #[test]
    fn contradictory_counts_are_rejected() {
        let v: Value = serde_json::from_str(
            r#"{"cachedContentTokenCount": 261, "completion_tokens": 1e30, "totalTokenCount": 3294}"#,
        )
        .unwrap();
        assert!(matches!(normalise(&v), Err(RawUsageError::Inconsistent { .. })));
        let v: Value = serde_json::from_str(
            r#"{"prompt_tokens": 5, "completion_tokens": 1, "completion_tokens_details": {"reasoning_tokens": 9}}"#,
        )
        .unwrap();
        assert!(matches!(normalise(&v), Err(RawUsageError::Inconsistent { .. })));
    }

    /// Property test: 200,000 random JSON values built from the providers'
    /// field names (numbers of every kind, strings, nesting, arrays) never
    /// make the normaliser panic, and whatever it accepts is a consistent
    /// token count (cache within input, reasoning within output, no negatives);
    /// whatever `normalise_all` accepts has units that fit their parents.
    #[test]
    fn random_usage_objects_never_panic_and_accepted_ones_are_consistent() {
        const KEYS: &[&str] = &[
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "input_tokens",
            "output_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
            "input_tokens_details",
            "output_tokens_details",
            "cached_tokens",
            "reasoning_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "promptTokenCount",
            "candidatesTokenCount",
            "cachedContentTokenCount",
            "thoughtsTokenCount",
            "totalTokenCount",
            "inputTokens",
            "outputTokens",
            "cacheReadInputTokens",
            "cacheWriteInputTokens",
            "usage",
            "usageMetadata",
            "x",
            // units
            "audio_tokens",
            "image_tokens",
            "cached_tokens_details",
            "input_token_details",
            "cache_creation",
            "ephemeral_1h_input_tokens",
            "server_tool_use",
            "web_search_requests",
            "promptTokensDetails",
            "cacheTokensDetails",
            "modality",
            "tokenCount",
            "cacheDetails",
            "seconds",
        ];
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn value(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 3 { 6 } else { 8 } {
                0 => Value::from(next() % 5000),
                1 => Value::from(-((next() % 100) as i64)),
                2 => serde_json::from_str(&format!("{}.5", next() % 1000)).unwrap(),
                3 => serde_json::from_str("1e30").unwrap(),
                4 => Value::from(format!("{}", next() % 100)),
                5 => Value::Null,
                6 => Value::Array((0..next() % 3).map(|_| value(next, depth + 1)).collect()),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..next() % 6 {
                        let key = KEYS[(next() % KEYS.len() as u64) as usize];
                        m.insert(key.to_string(), value(next, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut m = Map::new();
            for _ in 0..1 + next() % 5 {
                let key = KEYS[(next() % KEYS.len() as u64) as usize];
                m.insert(key.to_string(), value(&mut next, 1));
            }
            let v = Value::Object(m);
            if let Ok((t, u, shape)) = normalise_all(&v) {
                // Whatever normalise_all accepts, normalise reads the same, and the units fit.
                assert_eq!(normalise(&v).unwrap(), (t, shape), "{v}");
                let u = u.unwrap_or_default();
                let g = |k: &str| u.get(k).map_or(0, |n| n.as_i64().unwrap());
                assert!(g("cache_write_1h_tokens") <= t.cache_write, "{v}");
                assert!(
                    g("audio_input_tokens") + g("image_input_tokens") <= t.input - t.cached_input - t.cache_write,
                    "{v}"
                );
                assert!(g("audio_output_tokens") + g("image_output_tokens") <= t.output - t.reasoning, "{v}");
                assert!(u.values().all(|n| n.as_i64().is_none_or(|n| n > 0)), "{v}");
            }
            if let Ok((t, _)) = normalise(&v) {
                accepted += 1;
                assert!(
                    t.input >= 0 && t.output >= 0 && t.cached_input >= 0 && t.cache_write >= 0 && t.reasoning >= 0,
                    "{v}"
                );
                assert!(t.cached_input + t.cache_write <= t.input && t.reasoning <= t.output, "{v} gave {t:?}");
            }
        }
        assert!(accepted > 1000, "the generator reaches accepted shapes too ({accepted})");
    }
}
