//! Fuzzing the price-file importer, `llm_cost.import_prices`, over a real
//! connection.
//!
//! Inputs are real entries of LiteLLM's price file, mutated: numbers replaced
//! by huge, negative, tiny, over-precise or out-of-range ones; types swapped;
//! keys dropped and duplicated; hostile model and provider names (control
//! characters, 10 KB, SQL metacharacters, empty); deep nesting; unknown
//! providers and modes; odd tier keys; broken JSON text. Every call must
//!
//! - succeed, or fail with a data (22xxx) or constraint (23xxx) SQLSTATE, never
//!   XX000 (a Rust panic), a crashed backend or a hang (statement_timeout), and change nothing;
//! - on success: add exactly the number of rows it returns, each with finite,
//!   non-negative amounts below 10^15; importing the same file again adds 0
//!   rows (in the same transaction and, now and then, after a commit); and
//!   `llm_cost()` prices every added row without an error. Where the row's
//!   names are ones pricing can look up exactly, the price used must be that
//!   very row and the cost (of 1000 input and 1000 output tokens, and of a call
//!   with cache reads, cache writes and reasoning tokens) must equal the one
//!   computed from it in SQL: a row the importer stores but pricing ignores or
//!   cannot compute with is a bug.
//!
//! Each import runs in its own transaction, inside a savepoint; most are
//! rolled back afterwards, about one in eight is committed, so later imports
//! meet earlier ones' prices. The database holds the shipped catalog cut down
//! to the seed entries' models, a custom price and aliases.
//!
//! The corpus in tests/corpus/import_prices/ (inputs that found bugs plus some
//! representative nasty ones) is replayed first with the same checks. A failing
//! generated input is written to `$CARGO_TARGET_TMPDIR/import_fuzz_failures/`;
//! copy it into the corpus once fixed.
//!
//! `LLM_COST_FUZZ_SEED` and `LLM_COST_FUZZ_CASES` override the fixed seed and
//! the number of generated files.

mod common;

use common::{sqlstate, TestCluster};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 0x5eed_1e7c_0575_2025;
const DEFAULT_CASES: usize = 3000;
const DEFAULT_GENAI_CASES: usize = 800;

// ---------------------------------------------------------------------------
// A small deterministic PRNG (xorshift64*), as in src/ledger/raw_usage.rs.
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------
// JSON with everything a price file can throw at us: raw number text (1e400,
// 30 digits), duplicate keys, and raw fragments (invalid escapes).
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    /// The number's text as written.
    Num(String),
    Str(String),
    /// Emitted verbatim (may make the document invalid on purpose).
    Raw(String),
    Arr(Vec<J>),
    /// Keys in order; duplicates allowed.
    Obj(Vec<(String, J)>),
}

impl J {
    fn from_value(v: &serde_json::Value) -> J {
        use serde_json::Value;
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            Value::Object(m) => J::Obj(m.iter().map(|(k, v)| (k.clone(), J::from_value(v))).collect()),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) | J::Raw(n) => out.push_str(n),
            J::Str(s) => write_str(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn fields_mut(&mut self) -> Option<&mut Vec<(String, J)>> {
        match self {
            J::Obj(f) => Some(f),
            _ => None,
        }
    }

    /// Sets (replaces every occurrence of) a key, or appends it.
    fn set(&mut self, key: &str, value: J) {
        if let Some(fields) = self.fields_mut() {
            fields.retain(|(k, _)| k != key);
            fields.push((key.to_string(), value));
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------
// The seed entries: a sample of the real LiteLLM file.
// ---------------------------------------------------------------------------

/// Used only when ../shared/data is not there.
const EMBEDDED_SAMPLE: &str = r#"{
  "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
                  "mode": "one of: chat, embedding, completion", "output_cost_per_token": 0.0,
                  "search_context_cost_per_query": {"search_context_size_high": 0.0}, "supported_regions": ["global"]},
  "gpt-4o": {"cache_read_input_token_cost": 1.25e-06, "cache_read_input_token_cost_priority": 2.125e-06,
             "input_cost_per_token": 2.5e-06, "input_cost_per_token_batches": 1.25e-06,
             "input_cost_per_token_priority": 4.25e-06, "litellm_provider": "openai", "max_input_tokens": 128000,
             "max_output_tokens": 16384, "mode": "chat", "output_cost_per_token": 1e-05,
             "output_cost_per_token_batches": 5e-06, "output_cost_per_token_priority": 1.7e-05,
             "supports_prompt_caching": true},
  "gemini/gemini-2.5-pro": {"cache_read_input_token_cost": 1.25e-07, "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
             "input_cost_per_token": 1.25e-06, "input_cost_per_token_above_200k_tokens": 2.5e-06,
             "litellm_provider": "gemini", "mode": "chat", "output_cost_per_reasoning_token": 1e-05,
             "output_cost_per_token": 1e-05, "output_cost_per_token_above_200k_tokens": 1.5e-05},
  "claude-sonnet-4-20250514": {"cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07,
             "input_cost_per_token": 3e-06, "litellm_provider": "anthropic", "mode": "chat",
             "output_cost_per_token": 1.5e-05, "supports_reasoning": true},
  "deepseek/deepseek-chat": {"input_cost_per_token": 2.7e-07, "litellm_provider": "deepseek", "mode": "chat",
             "output_cost_per_token": 1.1e-06},
  "text-embedding-3-small": {"input_cost_per_token": 2e-08, "litellm_provider": "openai", "mode": "embedding",
             "output_cost_per_token": 0.0},
  "gpt-3.5-turbo-instruct": {"input_cost_per_token": 1.5e-06, "litellm_provider": "text-completion-openai",
             "mode": "completion", "output_cost_per_token": 2e-06},
  "o3-pro": {"input_cost_per_token": 2e-05, "input_cost_per_token_batches": 1e-05, "litellm_provider": "openai",
             "mode": "responses", "output_cost_per_token": 8e-05, "output_cost_per_token_batches": 4e-05},
  "perplexity/sonar": {"input_cost_per_request": 0.005, "input_cost_per_token": 1e-06,
             "litellm_provider": "perplexity", "mode": "chat", "output_cost_per_token": 1e-06}
}"#;

/// About 200 (name, entry) pairs: every entry with tier or service-tier keys
/// up to a cap, sample_spec, and an even spread of the rest.
fn seed_entries() -> (Vec<(String, J)>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/model_prices_and_context_window.json");
    let (text, origin) = match std::fs::read_to_string(&path) {
        Ok(t) => (t, path.display().to_string()),
        Err(_) => (EMBEDDED_SAMPLE.to_string(), "embedded sample".to_string()),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the LiteLLM price file is JSON");
    let map = doc.as_object().expect("the LiteLLM price file is an object");
    let mut chosen: Vec<(String, J)> = Vec::new();
    let mut special = 0;
    for (k, v) in map {
        let interesting = v.as_object().is_some_and(|o| {
            o.keys().any(|f| {
                f.contains("_above_") || f.ends_with("_batches") || f.ends_with("_flex") || f.ends_with("_priority")
            }) || o.contains_key("input_cost_per_request")
        });
        if k == "sample_spec" || (interesting && special < 60 && k.len() % 3 == 0) {
            special += usize::from(k != "sample_spec");
            chosen.push((k.clone(), J::from_value(v)));
        }
    }
    let step = (map.len() / 140).max(1);
    for (i, (k, v)) in map.iter().enumerate() {
        if i % step == 0 && !chosen.iter().any(|(c, _)| c == k) {
            chosen.push((k.clone(), J::from_value(v)));
        }
    }
    (chosen, origin)
}

// ---------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------

const PRICE_FIELDS: &[&str] = &[
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "input_cost_per_request",
    "input_cost_per_token_batches",
    "output_cost_per_token_batches",
    "input_cost_per_token_flex",
    "output_cost_per_token_flex",
    "input_cost_per_token_priority",
    "output_cost_per_token_priority",
    "cache_read_input_token_cost_priority",
    "cache_creation_input_token_cost_batches",
    "input_cost_per_token_above_200k_tokens",
    "output_cost_per_token_above_200k_tokens",
    "cache_read_input_token_cost_above_200k_tokens",
    "cache_creation_input_token_cost_above_200k_tokens",
    "input_cost_per_token_above_272k_tokens_batches",
    "input_cost_per_audio_token",
    "output_cost_per_image",
];

/// Valid JSON numbers that are hard on a price importer.
const NASTY_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "0e0",
    "1",
    "-1",
    "2.5e-06",
    "2.5E-06",
    "1e-30",
    "1e-36",
    "1e-37",
    "1e-40",
    "1e-300",
    "1e-6000",
    "1e400",
    "-1e400",
    "1e15",
    "1e9",
    "1e8",
    "9.99e8",
    "999999999.999999",
    "999999999999999",
    "1e-6",
    "-1e-30",
    "-2.5e-06",
    "123456789012345678901234567890",
    "0.123456789012345678901234567890",
    "0.000000123456789012345678901234567890123",
    "1.00000000000000000000000000000000000001",
    "9223372036854775807",
    "18446744073709551616",
    "1E2",
    "1e+2",
    "5e-324",
    "1.7976931348623157e308",
    "0.000001000000000000000000000000000000",
    "3e-7",
    "1e-24",
    "1e-29",
    "9.999999999999999e8",
    "0.0000000000000000000000000000000000000000001",
    "100000000000000000000000000000000000000000000000000",
    "1e100000",
];

/// Not JSON numbers at all: the document will not parse.
const BROKEN_NUMBERS: &[&str] =
    &["NaN", "Infinity", "-Infinity", "01", "1.", "+1", ".5", "0x10", "1e", "--1", "1e99999999999"];

/// Numbers as strings and other values of the wrong type.
const STRINGY_NUMBERS: &[&str] =
    &["2.5e-06", "NaN", "Infinity", "-Infinity", "1e400", "", " ", "0", "-1", "abc", "$0.01"];

const PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "vertex_ai-language-models",
    "bedrock",
    "azure",
    "deepseek",
    "OpenAI",
    " openai ",
    "OPENAI",
    "google",
    "vertex",
    "aws",
    "together",
    "x-ai",
    "totally_unknown_provider",
    "provider with spaces",
    "p/q",
    "/",
    "Ünïcödé",
    "İ",
    "ß",
    "\u{00a0}openai",
    "openai\u{00a0}",
    "\u{feff}",
];

const MODES: &[&str] = &[
    "chat",
    "completion",
    "responses",
    "embedding",
    "image_generation",
    "Chat",
    " chat",
    "chat ",
    "CHAT",
    "",
    "rerank",
    "one of: chat, embedding, completion",
    "unknown_mode",
];

const SUFFIXES: &[&str] = &["", "_batches", "_flex", "_priority", "_ultrafast", "_decisions"];

fn nasty_name(r: &mut Rng) -> String {
    match r.below(22) {
        0 => String::new(),
        1 => " ".into(),
        2 => "\t\n".into(),
        3 => "x\u{1}y\u{7f}z".into(),
        4 => "'; DROP TABLE llm_cost.prices; --".into(),
        5 => "\"quoted\" \\back\\slash".into(),
        6 => "%s%n%d $1 $$ :name ?".into(),
        7 => "a/b/c".into(),
        8 => "openai/".into(),
        9 => "/".into(),
        10 => "İstanbul ẞ Ǆ".into(),
        11 => "\u{00a0}gpt-4o".into(),
        12 => "gpt-4o ".into(),
        13 => "😀".repeat(1 + r.below(50)),
        14 => "\u{202e}lrt\u{200b}".into(),
        15 => "x".repeat(10_000),
        16 => random_unicode(r, 10_000),
        17 => {
            let n = 1 + r.below(40);
            random_unicode(r, n)
        }
        18 => "NULL".into(),
        19 => "gpt-4o".into(),
        20 => format!("{}/{}", r.pick(PROVIDERS), r.pick(&["gpt-4o", "claude-3-5-sonnet", "x", ""])),
        _ => format!("fuzz-model-{}", r.below(1000)),
    }
}

/// Characters from all over Unicode (no NUL, no surrogates).
fn random_unicode(r: &mut Rng, chars: usize) -> String {
    let mut s = String::new();
    while s.chars().count() < chars {
        let c = match r.below(6) {
            0 => r.below(0x20) as u32 + 1,
            1 => 0x20 + r.below(0x60) as u32,
            2 => 0x80 + r.below(0x780) as u32,
            3 => 0x800 + r.below(0xd000) as u32,
            4 => 0xe000 + r.below(0x2000) as u32,
            _ => 0x10000 + r.below(0x100000) as u32,
        };
        if let Some(c) = char::from_u32(c) {
            s.push(c);
        }
    }
    s
}

fn random_number(r: &mut Rng) -> String {
    if r.chance(50) {
        return r.pick(NASTY_NUMBERS).to_string();
    }
    // d.ddd…e±x with up to 30 digits
    let digits = 1 + r.below(30);
    let mut s = String::new();
    if r.chance(10) {
        s.push('-');
    }
    s.push(char::from(b'0' + r.below(10) as u8));
    if digits > 1 {
        s.push('.');
        for _ in 1..digits {
            s.push(char::from(b'0' + r.below(10) as u8));
        }
    }
    let exp = r.below(60) as i64 - 45;
    let _ = write!(s, "e{exp}");
    s
}

fn deep(r: &mut Rng, depth: usize) -> J {
    let mut v = J::Num(random_number(r));
    let as_array = r.chance(50);
    for _ in 0..depth {
        v = if as_array { J::Arr(vec![v]) } else { J::Obj(vec![("a".into(), v)]) };
    }
    v
}

fn random_value(r: &mut Rng) -> J {
    match r.below(10) {
        0 => J::Null,
        1 => J::Bool(r.chance(50)),
        2 => J::Str(r.pick(STRINGY_NUMBERS).to_string()),
        3 => J::Str(nasty_name(r)),
        4 => J::Arr((0..r.below(4)).map(|_| J::Num(random_number(r))).collect()),
        5 => J::Obj(vec![("value".into(), J::Num(random_number(r)))]),
        6 => {
            let d = 1 + r.below(800);
            deep(r, d)
        }
        7 if r.chance(25) => J::Raw(r.pick(BROKEN_NUMBERS).to_string()),
        _ => J::Num(random_number(r)),
    }
}

fn price_field(r: &mut Rng) -> String {
    if r.chance(70) {
        return r.pick(PRICE_FIELDS).to_string();
    }
    let base = r.pick(&[
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
    ]);
    format!("{base}{}", r.pick(SUFFIXES))
}

/// Odd tier keys: `input_cost_per_token_above_<N>k_tokens` and friends.
fn tier_key(r: &mut Rng, base: &str) -> String {
    let n = r.pick(&[
        "0",
        "1",
        "128",
        "200",
        "272",
        "00200",
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775",
        "9223372036854776",
        "-1",
        "1.5",
        "٣",
        "２００",
        "",
    ]);
    format!("{base}_above_{n}k_tokens{}", if r.chance(20) { r.pick(SUFFIXES) } else { "" })
}

fn mutate_entry(r: &mut Rng, name: &mut String, entry: &mut J) {
    match r.below(16) {
        // a price replaced by a hard number
        0..=3 => {
            let f = price_field(r);
            entry.set(&f, J::Num(random_number(r)));
        }
        // a price of the wrong type
        4 => {
            let f = price_field(r);
            entry.set(&f, random_value(r));
        }
        // any field (provider, mode, or another) of another type
        5 => {
            let f = match entry.fields_mut() {
                Some(fields) if !fields.is_empty() => fields[r.below(fields.len())].0.clone(),
                _ => "litellm_provider".into(),
            };
            let f = if r.chance(40) { r.pick(&["litellm_provider", "mode"]).to_string() } else { f };
            entry.set(&f, random_value(r));
        }
        // drop a key
        6 => {
            if let Some(fields) = entry.fields_mut() {
                if !fields.is_empty() {
                    let i = r.below(fields.len());
                    fields.remove(i);
                }
            }
        }
        // duplicate a key with another value (jsonb keeps the last)
        7 => {
            if let Some(fields) = entry.fields_mut() {
                let key = if !fields.is_empty() && r.chance(60) {
                    fields[r.below(fields.len())].0.clone()
                } else {
                    "input_cost_per_token".into()
                };
                let at = r.below(fields.len() + 1);
                let value = J::Num(random_number(r));
                fields.insert(at, (key, value));
            }
        }
        // hostile model name, sometimes with a provider prefix
        8 => {
            let n = nasty_name(r);
            *name = if r.chance(30) {
                let provider = match entry.fields_mut().and_then(|f| f.iter().find(|(k, _)| k == "litellm_provider")) {
                    Some((_, J::Str(p))) => p.clone(),
                    _ => "openai".into(),
                };
                format!("{provider}/{n}")
            } else {
                n
            };
        }
        // unknown or odd provider
        9 => {
            let p = if r.chance(70) { r.pick(PROVIDERS).to_string() } else { nasty_name(r) };
            entry.set("litellm_provider", J::Str(p));
        }
        // unknown or odd mode
        10 => entry.set("mode", J::Str(r.pick(MODES).to_string())),
        // odd tier keys
        11 => {
            let base = *r.pick(&[
                "input_cost_per_token",
                "output_cost_per_token",
                "cache_read_input_token_cost",
                "cache_creation_input_token_cost",
            ]);
            let key = tier_key(r, base);
            let value = if r.chance(75) { J::Num(random_number(r)) } else { random_value(r) };
            entry.set(&key, value);
            if r.chance(50) {
                // the matching input tier key, so the tier is taken up
                let k = key.replacen(base, "input_cost_per_token", 1);
                entry.set(&k, J::Num(random_number(r)));
            }
        }
        // deep nesting somewhere
        12 => {
            let f = if r.chance(50) { price_field(r) } else { "supported_regions".to_string() };
            let d = 1 + r.below(1000);
            entry.set(&f, deep(r, d));
        }
        // the entry is not an object
        13 => *entry = random_value(r),
        // a 10 KB or control-character string in a field we do not read
        14 => entry.set(&nasty_name(r), J::Str(nasty_name(r))),
        // a service-tier price with a plain value
        _ => {
            let key = format!("{}{}", r.pick(&["input_cost_per_token", "output_cost_per_token"]), r.pick(SUFFIXES));
            entry.set(&key, J::Num(random_number(r)));
        }
    }
}

/// Damage to the document's text: it no longer parses (or parses oddly).
fn mutate_text(r: &mut Rng, text: &mut String) {
    let cut = |t: &String, at: usize| -> usize {
        let mut at = at.min(t.len());
        while !t.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match r.below(7) {
        0 => {
            let at = cut(text, r.below(text.len() + 1));
            text.truncate(at);
        }
        1 => {
            // a lone surrogate, or NUL, as an escape inside the first string
            let esc = r.pick(&["\\ud800", "\\udfff", "\\u0000", "\\uD83D\\u0041", "\\x41", "\\"]);
            if let Some(pos) = text.find('"') {
                text.insert_str(pos + 1, esc);
            }
        }
        2 => {
            let n = r.pick(BROKEN_NUMBERS);
            if let Some(pos) = text.find(':') {
                let end = text[pos..].find([',', '}']).map(|e| pos + e).unwrap_or(text.len());
                text.replace_range(pos + 1..end, n);
            }
        }
        3 => text.insert(0, '\u{feff}'),
        4 => {
            let tail = *r.pick(&[",", "}", " garbage", "\n"]);
            text.push_str(tail);
        }
        5 => *text = text.replace(',', ",,"),
        _ => {
            let at = cut(text, r.below(text.len() + 1));
            let junk = *r.pick(&["\u{1}", "\"", "{", "]", "\\u"]);
            text.insert_str(at, junk);
        }
    }
}

/// One generated price file, and the source name to import it under.
/// How many mutations a generated document gets: none in 3 of 10, one or
/// two in 5, and 3 to 8 in the rest.
fn mutation_count(r: &mut Rng) -> usize {
    match r.below(10) {
        0..=2 => 0,
        3..=5 => 1,
        6..=7 => 2,
        _ => 3 + r.below(6),
    }
}

fn generate(r: &mut Rng, seeds: &[(String, J)]) -> (String, Option<String>) {
    let source = match r.below(40) {
        0 => None,
        1 => Some(String::new()),
        2 => Some("   ".into()),
        3 => Some(nasty_name(r)),
        _ => Some("fuzz".into()),
    };
    // whole-document oddities
    if r.chance(3) {
        let doc = match r.below(6) {
            0 => "{}".to_string(),
            1 => "[]".to_string(),
            2 => "null".to_string(),
            3 => J::Str(nasty_name(r)).text(),
            4 => J::Num(random_number(r)).text(),
            _ => J::Obj((0..3).map(|i| (format!("k{i}"), random_value(r))).collect()).text(),
        };
        return (doc, source);
    }
    let n = if r.chance(5) { 50 + r.below(150) } else { 1 + r.below(12) };
    let mut entries: Vec<(String, J)> = (0..n).map(|_| seeds[r.below(seeds.len())].clone()).collect();
    if r.chance(10) {
        let spec = seeds.iter().find(|(k, _)| k == "sample_spec").cloned();
        entries.extend(spec);
    }
    let mutations = mutation_count(r);
    for _ in 0..mutations {
        let i = r.below(entries.len());
        let (name, entry) = &mut entries[i];
        mutate_entry(r, name, entry);
    }
    // some brand-new models, so that rows are added and priced
    if r.chance(50) {
        for (name, entry) in entries.iter_mut().take(1 + r.below(3)) {
            if r.chance(70) {
                *name = format!("{name}-fuzz{}", r.below(100_000));
            }
            if r.chance(40) {
                entry.set("input_cost_per_token", J::Num(random_number(r)));
            }
        }
    }
    let mut text = J::Obj(entries).text();
    if r.chance(4) {
        mutate_text(r, &mut text);
    }
    (text, source)
}

// ---------------------------------------------------------------------------
// genai-prices' data.json: seeds and mutations.
// ---------------------------------------------------------------------------

/// Used only when ../shared/data is not there.
const EMBEDDED_GENAI_SAMPLE: &str = r#"[
  {"id": "anthropic", "name": "Anthropic", "models": [
    {"id": "claude-opus-4-6", "match": {"or": [{"starts_with": "claude-opus-4-6"}, {"equals": "claude-opus-4-6"}]},
     "prices": [{"prices": {"input_mtok": 5, "output_mtok": 25, "cache_read_mtok": 0.5, "cache_write_mtok": 6.25}},
                {"constraint": {"start_date": "2026-03-13"},
                 "prices": {"input_mtok": 5, "output_mtok": 25, "cache_read_mtok": 0.5, "cache_write_mtok": 6.25}}]},
    {"id": "claude-sonnet-4-5", "match": {"equals": "claude-sonnet-4-5"},
     "prices": {"input_mtok": {"base": 3, "tiers": [{"start": 200000, "price": 6}]},
                "output_mtok": {"base": 15, "tiers": [{"start": 200000, "price": 22.5}]}, "cache_read_mtok": 0.3}}]},
  {"id": "aws", "name": "AWS Bedrock", "models": [
    {"id": "regional.amazon.nova-pro-v1:0", "match": {"equals": "amazon.nova-pro-v1:0"},
     "prices": {"input_mtok": 0.8, "output_mtok": 3.2}}]},
  {"id": "deepseek", "name": "Deepseek", "models": [
    {"id": "deepseek-chat", "match": {"equals": "deepseek-chat"},
     "prices": [{"prices": {"input_mtok": 0.27, "output_mtok": 1.1, "cache_read_mtok": 0.07}},
                {"constraint": {"start_time": "16:30:00Z", "end_time": "00:30:00Z"},
                 "prices": {"input_mtok": 0.135, "output_mtok": 0.55, "cache_read_mtok": 0.035}}]}]},
  {"id": "perplexity", "name": "Perplexity", "models": [
    {"id": "sonar", "match": {"equals": "sonar"}, "prices": {"input_mtok": 1, "output_mtok": 1, "requests_kcount": 12}}]},
  {"id": "fireworks", "name": "Fireworks", "models": [
    {"id": "llama-v3p1-8b-instruct", "match": {"equals": "accounts/fireworks/models/llama-v3p1-8b-instruct"},
     "prices": {"input_mtok": 0.2, "output_mtok": 0.2}}]}
]"#;

/// About 120 (provider id, model) pairs of genai-prices' file: every model
/// with dated, time-of-day, tiered or per-request prices, and a spread of
/// the rest.
fn genai_seed_models() -> (Vec<(String, J)>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/genai_prices_data.json");
    let (text, origin) = match std::fs::read_to_string(&path) {
        Ok(t) => (t, path.display().to_string()),
        Err(_) => (EMBEDDED_GENAI_SAMPLE.to_string(), "embedded sample".to_string()),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("genai-prices' data is JSON");
    let providers = doc.as_array().expect("genai-prices' data is an array");
    let all: Vec<(String, &serde_json::Value)> = providers
        .iter()
        .flat_map(|p| {
            let id = p["id"].as_str().unwrap_or_default().to_string();
            p["models"].as_array().into_iter().flatten().map(move |m| (id.clone(), m))
        })
        .collect();
    let step = (all.len() / 90).max(1);
    let chosen = all
        .iter()
        .enumerate()
        .filter(|(i, (_, m))| {
            let prices = m["prices"].to_string();
            i % step == 0 || m["prices"].is_array() || prices.contains("tiers") || prices.contains("requests_kcount")
        })
        .map(|(_, (p, m))| (p.clone(), J::from_value(m)))
        .collect();
    (chosen, origin)
}

impl J {
    /// The value of a key (its last occurrence), mutable.
    fn field_mut(&mut self, key: &str) -> Option<&mut J> {
        self.fields_mut()?.iter_mut().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

const GENAI_PRICE_FIELDS: &[&str] = &[
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "requests_kcount",
    "input_audio_mtok",
    "output_audio_mtok",
    "cache_audio_read_mtok",
    "output_mtok ",
    "INPUT_MTOK",
];

const GENAI_PROVIDER_IDS: &[&str] = &[
    "aws",
    "google",
    "x-ai",
    "azure",
    "fireworks",
    "openai",
    "cohere",
    "together",
    "voyageai",
    "moonshotai",
    "anthropic",
    "deepseek",
    "AWS",
    " aws",
    "Google",
    "huggingface_together",
    "fuzz-genai-co",
];

const GENAI_DATES: &[&str] = &[
    "2020-01-01",
    "2025-06-10",
    "2026-03-13",
    "2999-12-31",
    "2024-02-29",
    "9999-12-31",
    "0001-01-01",
    "2023-02-29",
    "2026-13-01",
    "0000-01-01",
    "2025-1-1",
    "20250101",
    "yesterday",
    "",
    "2025-06-10T00:00:00Z",
];

const GENAI_TIMES: &[&str] =
    &["00:30:00Z", "16:30:00Z", "00:00:00Z", "12:00:00Z", "23:59:59.999Z", "12:00", "24:00:00Z", "1:00", "noon", ""];

/// A price set of the model (its prices object, or one entry's), to mutate.
fn genai_price_set<'a>(r: &mut Rng, model: &'a mut J) -> Option<&'a mut J> {
    let prices = model.field_mut("prices")?;
    if matches!(prices, J::Obj(_)) {
        return Some(prices);
    }
    match prices {
        J::Arr(items) if !items.is_empty() => {
            let i = r.below(items.len());
            items[i].field_mut("prices")
        }
        _ => None,
    }
}

fn genai_tiered(r: &mut Rng) -> J {
    let tier = |r: &mut Rng| {
        let start = if r.chance(70) {
            r.pick(&["200000", "128000", "272000", "1"]).to_string()
        } else {
            r.pick(&["0", "-5", "1.5", "2e5", "9223372036854775807", "9223372036854775808", "1e400"]).to_string()
        };
        let price = if r.chance(80) { J::Num(random_number(r)) } else { random_value(r) };
        J::Obj(vec![("start".into(), J::Num(start)), ("price".into(), price)])
    };
    let tiers = (0..r.below(3)).map(|_| tier(r)).collect();
    let mut fields = vec![("base".into(), J::Num(random_number(r))), ("tiers".into(), J::Arr(tiers))];
    if r.chance(10) {
        fields.remove(r.below(2));
    }
    J::Obj(fields)
}

fn genai_constraint(r: &mut Rng) -> J {
    match r.below(6) {
        0..=2 => J::Obj(vec![("start_date".into(), J::Str(r.pick(GENAI_DATES).to_string()))]),
        3 => J::Obj(vec![
            ("start_time".into(), J::Str(r.pick(GENAI_TIMES).to_string())),
            ("end_time".into(), J::Str(r.pick(GENAI_TIMES).to_string())),
        ]),
        4 => J::Obj(vec![(r.pick(&["region", "start_date", "weekday", ""]).to_string(), random_value(r))]),
        _ => random_value(r),
    }
}

fn mutate_genai_model(r: &mut Rng, provider: &mut String, model: &mut J) {
    match r.below(14) {
        // a price replaced by a hard number
        0..=2 => {
            let f = r.pick(GENAI_PRICE_FIELDS).to_string();
            let v = J::Num(random_number(r));
            if let Some(set) = genai_price_set(r, model) {
                set.set(&f, v);
            }
        }
        // a price of the wrong type
        3 => {
            let f = r.pick(GENAI_PRICE_FIELDS).to_string();
            let v = random_value(r);
            if let Some(set) = genai_price_set(r, model) {
                set.set(&f, v);
            }
        }
        // a tiered price, sound or not
        4 => {
            let f = r
                .pick(&["input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "requests_kcount"])
                .to_string();
            let v = genai_tiered(r);
            if let Some(set) = genai_price_set(r, model) {
                set.set(&f, v);
            }
        }
        // dated or time-of-day prices, sound or not
        5 | 6 => {
            let first = model.field_mut("prices").cloned().unwrap_or(J::Obj(vec![]));
            let first =
                if matches!(first, J::Arr(_)) { first } else { J::Arr(vec![J::Obj(vec![("prices".into(), first)])]) };
            let mut entries = match first {
                J::Arr(e) => e,
                _ => unreachable!(),
            };
            for _ in 0..1 + r.below(3) {
                let mut prices = J::Obj(vec![
                    ("input_mtok".into(), J::Num(random_number(r))),
                    ("output_mtok".into(), J::Num(random_number(r))),
                ]);
                if r.chance(10) {
                    prices = random_value(r);
                }
                let at = r.below(entries.len() + 1);
                entries.insert(at, J::Obj(vec![("constraint".into(), genai_constraint(r)), ("prices".into(), prices)]));
            }
            model.set("prices", J::Arr(entries));
        }
        // a hostile model id, sometimes AWS's regional form
        7 => {
            let n = nasty_name(r);
            let id = if r.chance(20) { format!("regional.{n}") } else { n };
            model.set("id", J::Str(id));
        }
        // another provider id, mapped or odd
        8 => *provider = if r.chance(75) { r.pick(GENAI_PROVIDER_IDS).to_string() } else { nasty_name(r) },
        // an odd match rule
        9 => {
            let rule = match r.below(4) {
                0 => J::Obj(vec![("equals".into(), J::Str(nasty_name(r)))]),
                1 => J::Obj(vec![(
                    "or".into(),
                    J::Arr((0..r.below(4)).map(|_| J::Obj(vec![("equals".into(), J::Str(nasty_name(r)))])).collect()),
                )]),
                2 => {
                    let mut v = J::Obj(vec![("equals".into(), J::Str(nasty_name(r)))]);
                    for _ in 0..1 + r.below(300) {
                        v = J::Obj(vec![("or".into(), J::Arr(vec![v]))]);
                    }
                    v
                }
                _ => random_value(r),
            };
            model.set("match", rule);
        }
        // drop a key
        10 => {
            if let Some(fields) = model.fields_mut() {
                if !fields.is_empty() {
                    let i = r.below(fields.len());
                    fields.remove(i);
                }
            }
        }
        // the model is not an object
        11 => *model = random_value(r),
        // the prices are not a price set
        12 => model.set("prices", if r.chance(30) { J::Obj(vec![]) } else { random_value(r) }),
        // a duplicated price key with another value (jsonb keeps the last)
        _ => {
            let v = J::Num(random_number(r));
            if let Some(J::Obj(fields)) = genai_price_set(r, model) {
                let at = r.below(fields.len() + 1);
                fields.insert(at, ("input_mtok".into(), v));
            }
        }
    }
}

/// One generated genai-prices document, and the source name to import it under.
fn generate_genai(r: &mut Rng, seeds: &[(String, J)]) -> (String, Option<String>) {
    let source = match r.below(20) {
        0..=3 => None,
        4 => Some("  ".into()),
        5 => Some(nasty_name(r)),
        _ => Some("fuzz-genai".into()),
    };
    if r.chance(4) {
        let doc = match r.below(6) {
            0 => "[]".to_string(),
            1 => "[null]".to_string(),
            2 => "[{}]".to_string(),
            3 => J::Arr((0..3).map(|_| random_value(r)).collect()).text(),
            4 => {
                J::Arr(vec![J::Obj(vec![("id".into(), J::Str("p".into())), ("models".into(), random_value(r))])]).text()
            }
            _ => J::Arr(vec![J::Obj(vec![("id".into(), random_value(r)), ("models".into(), J::Arr(vec![]))])]).text(),
        };
        return (doc, source);
    }
    let n = if r.chance(5) { 30 + r.below(60) } else { 1 + r.below(8) };
    let mut models: Vec<(String, J)> = (0..n).map(|_| seeds[r.below(seeds.len())].clone()).collect();
    let mutations = mutation_count(r);
    for _ in 0..mutations {
        let i = r.below(models.len());
        let (provider, model) = &mut models[i];
        mutate_genai_model(r, provider, model);
    }
    // some brand-new models (a new id, its own match rule), so that rows are added and priced
    if r.chance(50) {
        for (_, model) in models.iter_mut().take(1 + r.below(3)) {
            let id = match model.field_mut("id") {
                Some(J::Str(id)) => format!("{id}-fuzz{}", r.below(100_000)),
                _ => continue,
            };
            model.set("match", J::Obj(vec![("equals".into(), J::Str(id.clone()))]));
            model.set("id", J::Str(id));
        }
    }
    // providers in order of first appearance, each with its models
    let mut providers: Vec<(String, Vec<J>)> = Vec::new();
    for (p, m) in models {
        match providers.iter_mut().find(|(q, _)| *q == p) {
            Some((_, ms)) => ms.push(m),
            None => providers.push((p, vec![m])),
        }
    }
    let doc = J::Arr(
        providers
            .into_iter()
            .map(|(p, ms)| J::Obj(vec![("id".into(), J::Str(p)), ("models".into(), J::Arr(ms))]))
            .collect(),
    );
    let mut text = doc.text();
    if r.chance(4) {
        mutate_text(r, &mut text);
    }
    (text, source)
}

// ---------------------------------------------------------------------------
// The invariants.
// ---------------------------------------------------------------------------

/// Tables an import may touch (or must not touch when it fails).
fn fingerprint(c: &mut postgres::Client) -> Result<Vec<(i64, String)>, postgres::Error> {
    ["prices", "model_aliases", "provider_aliases", "models"]
        .iter()
        .map(|t| {
            let r = c.query_one(
                &format!(
                    "SELECT count(*), coalesce(sum(hashtextextended(x::text, 7)::numeric), 0)::text FROM llm_cost.{t} AS x"
                ),
                &[],
            )?;
            Ok((r.get(0), r.get(1)))
        })
        .collect()
}

#[derive(Default)]
struct Stats {
    cases: usize,
    ok: usize,
    rows_added: i64,
    rows_priced_exactly: i64,
    commits: usize,
    errors: std::collections::BTreeMap<String, usize>,
    /// One message per SQLSTATE and message start, for the report.
    messages: std::collections::BTreeSet<String>,
    phases: [Duration; 5],
}

struct Harness {
    cluster: TestCluster,
    client: postgres::Client,
    baseline: Vec<(i64, String)>,
    aliases: Vec<String>,
    stats: Stats,
    /// What the last import did, for the corpus log.
    last: String,
}

fn is_allowed_error(state: &str) -> bool {
    (state.starts_with("22") || state.starts_with("23")) && state.len() == 5
}

impl Harness {
    /// Connects, waiting for the server to come back if a backend crashed.
    fn connect(cluster: &TestCluster) -> postgres::Client {
        for _ in 0..80 {
            if let Ok(mut c) = postgres::Client::connect(&cluster.conn_string("fuzz"), postgres::NoTls) {
                c.batch_execute("SET statement_timeout = '30s'; SET client_min_messages = warning").unwrap();
                return c;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("the test cluster did not come back");
    }

    fn rebaseline(&mut self) {
        self.baseline = fingerprint(&mut self.client).expect("fingerprint");
        self.aliases = self
            .client
            .query("SELECT alias FROM llm_cost.provider_aliases", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    }

    /// Runs one import and checks every invariant; Err says what broke.
    fn check(&mut self, doc: &str, source: Option<&str>, commit: bool) -> Result<(), String> {
        self.stats.cases += 1;
        let result = self.check_inner(doc, source, commit);
        if result.is_err() {
            // whatever happened, start the next case from a clean connection state
            if self.client.is_closed() || self.client.batch_execute("ROLLBACK").is_err() {
                self.client = Harness::connect(&self.cluster);
            }
            self.rebaseline();
        }
        result
    }

    fn check_inner(&mut self, doc: &str, source: Option<&str>, commit: bool) -> Result<(), String> {
        let db = |what: &str, e: postgres::Error| format!("{what}: {} {e:?}", sqlstate(&e));
        let c = &mut self.client;
        c.batch_execute("BEGIN").map_err(|e| db("BEGIN", e))?;
        let max_id: i64 =
            c.query_one("SELECT coalesce(max(id), 0) FROM llm_cost.prices", &[]).map_err(|e| db("max(id)", e))?.get(0);
        c.batch_execute("SAVEPOINT import").map_err(|e| db("SAVEPOINT", e))?;
        let started = Instant::now();
        let outcome = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, $2)", &[&doc, &source]);
        // No timing threshold here: statement_timeout (30 s) only keeps a hung
        // import from hanging the suite, and fails it as a non-data SQLSTATE.
        self.stats.phases[0] += started.elapsed();
        let added = match outcome {
            Err(e) => {
                let state = sqlstate(&e);
                if c.is_closed() {
                    return Err(format!("the backend died: {state} {e:?}"));
                }
                c.batch_execute("ROLLBACK TO SAVEPOINT import")
                    .map_err(|e2| format!("connection unusable after {state} {e:?}: {e2:?}"))?;
                if !is_allowed_error(&state) {
                    return Err(format!("SQLSTATE {state} is not a data or constraint error: {e:?}"));
                }
                let message = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
                if message.is_empty() {
                    return Err(format!("{state} without a message: {e:?}"));
                }
                let t = Instant::now();
                let after = fingerprint(c).map_err(|e| db("fingerprint", e))?;
                self.stats.phases[1] += t.elapsed();
                if after != self.baseline {
                    return Err(format!("a failed import ({state}) changed stored data"));
                }
                c.batch_execute("ROLLBACK").map_err(|e| db("ROLLBACK", e))?;
                // the message without its quoted names and values
                let head: String =
                    message.split('"').step_by(2).collect::<Vec<_>>().join("\"…\"").chars().take(90).collect();
                self.stats.messages.insert(format!("{state} {head}"));
                self.last = format!("{state} {}", message.chars().take(150).collect::<String>());
                *self.stats.errors.entry(state).or_default() += 1;
                return Ok(());
            }
            Ok(row) => row.get::<_, i32>(0) as i64,
        };
        self.stats.ok += 1;
        self.last = format!("ok, {added} rows added");
        // genai-prices' data.json is an array; its dated changes keep their
        // start date (00:00 UTC); the source defaults to the format's name
        let genai = doc.trim_start().starts_with('[');
        let expected_source = source.unwrap_or(if genai { "genai-prices" } else { "litellm" });
        self.stats.rows_added += added;

        // the count returned is the count added, and every amount is sound
        let t = Instant::now();
        let r = c
            .query_one(
                "SELECT count(*),
                        count(*) FILTER (WHERE NOT (
                            llm_cost.is_valid_amount(input_per_mtok) AND input_per_mtok IS NOT NULL
                            AND llm_cost.is_valid_amount(output_per_mtok) AND output_per_mtok IS NOT NULL
                            AND llm_cost.is_valid_amount(cache_read_per_mtok) AND llm_cost.is_valid_amount(cache_write_per_mtok)
                            AND llm_cost.is_valid_amount(reasoning_per_mtok)
                            AND llm_cost.is_valid_amount(input_per_mtok_above_tier) AND llm_cost.is_valid_amount(output_per_mtok_above_tier)
                            AND llm_cost.is_valid_amount(cache_read_per_mtok_above_tier)
                            AND llm_cost.is_valid_amount(cache_write_per_mtok_above_tier)
                            AND llm_cost.is_valid_amount(per_request)
                            AND coalesce(tier_threshold_tokens > 0, true)
                            AND source = $2
                            AND (valid_from = now()
                                 OR ($3 AND valid_from > '-infinity' AND valid_from < 'infinity'
                                     AND valid_from = date_trunc('day', valid_from, 'UTC')))))
                   FROM llm_cost.prices WHERE id > $1",
                &[&max_id, &expected_source, &genai],
            )
            .map_err(|e| db("counting added rows", e))?;
        self.stats.phases[2] += t.elapsed();
        let t = Instant::now();
        let (stored, unsound): (i64, i64) = (r.get(0), r.get(1));
        if stored != added {
            return Err(format!("import_prices returned {added} but added {stored} rows"));
        }
        if unsound != 0 {
            return Err(format!("{unsound} added rows have unsound amounts, source or valid_from"));
        }

        // pricing every added row at its valid_from (the expected cost multiplies by 10^-6:
        // numeric division would round): never an error; where the names are ones
        // pricing looks up exactly, that very row prices the call, exactly
        let rows = c
            .query(
                "SELECT id, provider, model, service_tier, cost::text, priced_by,
                        -- the expected costs below assume no tier: a genai-prices tier may
                        -- start below the 1000 input tokens priced (LiteLLM's start at 1000 or
                        -- more), and then only that the row prices the call is checked
                        (cost = expected AND mixed_cost = mixed_expected) OR tier_threshold_tokens < 1000,
                        format('%s and %s (with cache and reasoning tokens: %s and %s)', cost, expected, mixed_cost, mixed_expected)
                   FROM (SELECT p.*,
                                llm_cost.llm_cost(p.provider, p.model, 1000, 1000, at => p.valid_from, service_tier => p.service_tier) AS cost,
                                (llm_cost.cost_breakdown(p.provider, p.model, 1000, 1000, at => p.valid_from, service_tier => p.service_tier)
                                    -> 'price' ->> 'id')::bigint AS priced_by,
                                (1000 * p.input_per_mtok + 1000 * p.output_per_mtok) * 0.000001
                                    + coalesce(p.per_request, 0) AS expected,
                                -- 1000 input tokens never exceed a LiteLLM tier threshold (at least 1000)
                                llm_cost.llm_cost(p.provider, p.model, 1000, 1000, 500, 200, 100,
                                                  at => p.valid_from, service_tier => p.service_tier) AS mixed_cost,
                                (300 * p.input_per_mtok + 500 * coalesce(p.cache_read_per_mtok, p.input_per_mtok)
                                 + 200 * coalesce(p.cache_write_per_mtok, p.input_per_mtok) + 900 * p.output_per_mtok
                                 + 100 * coalesce(p.reasoning_per_mtok, p.output_per_mtok)) * 0.000001
                                    + coalesce(p.per_request, 0) AS mixed_expected
                           FROM llm_cost.prices AS p WHERE p.id > $1 OFFSET 0) AS x
                  ORDER BY id",
                &[&max_id],
            )
            .map_err(|e| db("pricing the added rows", e))?;
        self.stats.phases[3] += t.elapsed();
        for row in &rows {
            let (id, provider, model, tier): (i64, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let cost: Option<String> = row.get(4);
            let priced_by: Option<i64> = row.get(5);
            let exact: Option<bool> = row.get(6);
            let costs: String = row.get(7);
            if let Some(cost) = &cost {
                if cost.starts_with('-') || cost.contains("NaN") || cost.contains("inf") {
                    return Err(format!("llm_cost of added row {id} is {cost}"));
                }
            }
            let looked_up_exactly = provider.trim() == provider
                && provider.to_lowercase() == provider
                && !self.aliases.contains(&provider)
                && model.trim() == model;
            if looked_up_exactly {
                if priced_by != Some(id) || exact != Some(true) {
                    let show = |s: &str| s.chars().take(80).collect::<String>();
                    return Err(format!(
                        "added row {id} ({}, {}, {tier}) is not what prices it: priced by row {priced_by:?}, cost and expected cost {costs}",
                        show(&provider),
                        show(&model)
                    ));
                }
                self.stats.rows_priced_exactly += 1;
            }
        }

        // idempotent in the same transaction
        let t = Instant::now();
        let again: i32 = c
            .query_one("SELECT llm_cost.import_prices($1::text::jsonb, $2)", &[&doc, &source])
            .map_err(|e| db("second import in the same transaction", e))?
            .get(0);
        self.stats.phases[4] += t.elapsed();
        if again != 0 {
            return Err(format!("importing the same file again in the same transaction added {again} rows"));
        }
        if !commit {
            c.batch_execute("ROLLBACK").map_err(|e| db("ROLLBACK", e))?;
            return Ok(());
        }
        // and after a commit, in a new transaction (a later now())
        c.batch_execute("COMMIT").map_err(|e| db("COMMIT", e))?;
        self.stats.commits += 1;
        let again: i32 = c
            .query_one("SELECT llm_cost.import_prices($1::text::jsonb, $2)", &[&doc, &source])
            .map_err(|e| db("import after commit", e))?
            .get(0);
        self.rebaseline();
        if again != 0 {
            return Err(format!("importing the same file again after a commit added {again} rows"));
        }
        Ok(())
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/import_prices")
}

fn show_input(doc: &str) -> String {
    if doc.len() <= 3000 {
        return doc.to_string();
    }
    let mut end = 3000;
    while !doc.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &doc[..end], doc.len())
}

#[test]
fn import_prices_survives_random_and_mutated_price_files() {
    let seed = std::env::var("LLM_COST_FUZZ_SEED")
        .ok()
        .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("LLM_COST_FUZZ_SEED is hex"))
        .unwrap_or(DEFAULT_SEED);
    let cases: usize = std::env::var("LLM_COST_FUZZ_CASES").ok().map(|s| s.parse().unwrap()).unwrap_or(DEFAULT_CASES);
    let genai_cases: usize =
        std::env::var("LLM_COST_FUZZ_GENAI_CASES").ok().map(|s| s.parse().unwrap()).unwrap_or(DEFAULT_GENAI_CASES);
    let (seeds, origin) = seed_entries();
    println!("import_fuzz: seed {seed:#x}, {cases} generated files, {} seed entries from {origin}", seeds.len());
    let (genai_seeds, genai_origin) = genai_seed_models();
    println!(
        "import_fuzz: {genai_cases} generated genai-prices files, {} seed models from {genai_origin}",
        genai_seeds.len()
    );

    let cluster = TestCluster::start("import_fuzz", &[]);
    drop(cluster.database_with_extension("fuzz"));
    let client = Harness::connect(&cluster);
    let mut h = Harness {
        cluster,
        client,
        baseline: Vec::new(),
        aliases: Vec::new(),
        stats: Stats::default(),
        last: String::new(),
    };
    // The shipped catalog, cut down to the models of the seed entries: imports
    // meet known prices (unchanged, changed) without every check paying for
    // thousands of unrelated rows.
    let sample = J::Obj(seeds.clone()).text();
    let genai_sample = J::Arr(
        genai_seeds
            .iter()
            .map(|(p, m)| J::Obj(vec![("id".into(), J::Str(p.clone())), ("models".into(), J::Arr(vec![m.clone()]))]))
            .collect(),
    )
    .text();
    h.client
        .execute(
            "DELETE FROM llm_cost.prices WHERE (provider, model) NOT IN
                 (SELECT provider, model FROM llm_cost.litellm_price_rows($1::text::jsonb)
                  UNION ALL
                  SELECT provider, model FROM llm_cost.genai_price_rows($2::text::jsonb))",
            &[&sample, &genai_sample],
        )
        .unwrap();
    // stored data an import could damage: custom prices and aliases
    h.client
        .batch_execute(
            "SELECT llm_cost.set_price('openai', 'gpt-4o', 2, 8);
             SELECT llm_cost.set_price('fuzzco', 'house-model', 1, 1, cache_read_per_mtok => 0.1);
             INSERT INTO llm_cost.model_aliases VALUES ('openai', 'my-gpt', 'openai', 'gpt-4o');
             INSERT INTO llm_cost.provider_aliases VALUES ('fuzz-alias', 'openai');",
        )
        .unwrap();
    h.rebaseline();
    let mut failures: Vec<String> = Vec::new();

    // 1. the corpus, first
    let started = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect()
        })
        .unwrap_or_default();
    files.sort();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let doc = String::from_utf8_lossy(&bytes).into_owned();
        let name = path.file_name().unwrap().to_string_lossy();
        match h.check(&doc, Some("fuzz-corpus"), false) {
            Err(why) => failures.push(format!("corpus file {name}: {why}")),
            Ok(()) => println!("  {name}: {}", h.last),
        }
    }
    println!("import_fuzz: replayed {} corpus files in {:?}", files.len(), started.elapsed());

    // 2. generated files
    let failure_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import_fuzz_failures");
    let mut r = Rng::new(seed);
    let started = Instant::now();
    for case in 0..cases {
        let (doc, source) = generate(&mut r, &seeds);
        let commit = r.chance(8);
        if let Err(why) = h.check(&doc, source.as_deref(), commit) {
            let _ = std::fs::create_dir_all(&failure_dir);
            let file = failure_dir.join(format!("seed-{seed:x}-case-{case}.json"));
            let _ = std::fs::write(&file, &doc);
            failures.push(format!(
                "seed {seed:#x} case {case} (source {source:?}, saved as {}): {why}\n    input: {}",
                file.display(),
                show_input(&doc)
            ));
            if failures.len() >= 20 {
                break;
            }
        }
    }
    let litellm_stats = std::mem::take(&mut h.stats);
    let litellm_elapsed = started.elapsed();

    // 3. generated genai-prices files (a stream of their own, so that the
    // LiteLLM cases above stay what they were)
    let mut r = Rng::new(seed ^ 0x9e4a_1c0d_e5ee_d5a1);
    let started_genai = Instant::now();
    for case in 0..genai_cases {
        if failures.len() >= 20 {
            break;
        }
        let (doc, source) = generate_genai(&mut r, &genai_seeds);
        let commit = r.chance(8);
        if let Err(why) = h.check(&doc, source.as_deref(), commit) {
            let _ = std::fs::create_dir_all(&failure_dir);
            let file = failure_dir.join(format!("seed-{seed:x}-genai-case-{case}.json"));
            let _ = std::fs::write(&file, &doc);
            failures.push(format!(
                "seed {seed:#x} genai case {case} (source {source:?}, saved as {}): {why}\n    input: {}",
                file.display(),
                show_input(&doc)
            ));
        }
    }
    let g = std::mem::replace(&mut h.stats, litellm_stats);
    println!(
        "import_fuzz: {} genai-prices imports in {:?}: {} succeeded ({} rows added, {} priced exactly, {} commits), errors by SQLSTATE {:?}",
        g.cases,
        started_genai.elapsed(),
        g.ok,
        g.rows_added,
        g.rows_priced_exactly,
        g.commits,
        g.errors
    );
    if std::env::var_os("LLM_COST_FUZZ_MESSAGES").is_some() {
        for m in &g.messages {
            println!("  {m}");
        }
    }

    let s = &h.stats;
    println!(
        "import_fuzz: {} imports ({} generated) in {:?}: {} succeeded ({} rows added, {} priced exactly, {} commits), errors by SQLSTATE {:?}",
        s.cases,
        cases,
        litellm_elapsed,
        s.ok,
        s.rows_added,
        s.rows_priced_exactly,
        s.commits,
        s.errors
    );
    println!("import_fuzz: time in import, fingerprint, count, pricing, re-import: {:?}", s.phases);
    if std::env::var_os("LLM_COST_FUZZ_MESSAGES").is_some() {
        for m in &s.messages {
            println!("  {m}");
        }
    }
    assert!(failures.is_empty(), "{} inputs broke an invariant:\n{}", failures.len(), failures.join("\n"));
    // the generator reaches both outcomes, and stores rows that get priced
    if cases >= 1000 {
        assert!(s.ok > cases / 5, "too few imports succeeded ({})", s.ok);
        assert!(s.errors.values().sum::<usize>() > cases / 5, "too few imports failed");
        assert!(s.rows_priced_exactly > 100, "too few added rows were priced ({})", s.rows_priced_exactly);
    }
    if genai_cases >= 400 {
        assert!(g.ok > genai_cases / 5, "too few genai-prices imports succeeded ({})", g.ok);
        assert!(g.errors.values().sum::<usize>() > genai_cases / 10, "too few genai-prices imports failed");
        assert!(g.rows_priced_exactly > 100, "too few added genai-prices rows were priced ({})", g.rows_priced_exactly);
    }
    let alive: i32 = h.client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(alive, 1);
}
