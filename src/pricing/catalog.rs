//! The price catalog held in memory, and how model names resolve against it.
//!
//! Pure Rust: `catalog_cache` fills it from `llm_cost.prices`, the alias tables
//! and the modes of `llm_cost.models`; this module only answers "which price
//! row prices this call".
//!
//! The provider is lower-cased and passes through `llm_cost.provider_aliases`
//! (`google` → `gemini`, `aws.bedrock` → `bedrock`); a provider that is neither
//! an alias nor in the catalog loses a trailing API suffix first (the Vercel AI
//! SDK's `openai.chat`, `anthropic.messages`: `model_names::PROVIDER_API_SUFFIXES`).
//!
//! Resolution order (the first step that finds a model wins):
//! 1. in the provider: the name as written (exact, then ignoring case, then
//!    `llm_cost.model_aliases`, then its dated variant, see below), then a
//!    fine-tune's base (`ft:<base>` rows first), then the name's normalised
//!    forms (`model_names::name_forms`: ARNs, paths, region prefixes, Bedrock
//!    and Google versions, Vertex `@` dates, OpenRouter variants and dotted
//!    Claude versions), each looked up the same way;
//! 2. the provider prefix form: `openai/gpt-4o` (in the model, with any provider);
//! 3. the provider's family: `vertex_ai` also finds `vertex_ai-language-models`;
//! 4. the provider's siblings (`model_names::SIBLING_PROVIDERS`): `bedrock`
//!    also finds `bedrock_converse`, `cohere` finds `cohere_chat`, `gemini` and
//!    `vertex_ai` find each other's models.
//!
//! When a name finds a `responses`-mode entry and the same provider has a
//! chat/completion entry for the name without its `vendor/` prefix, the latter
//! prices it (`perplexity/sonar` under `perplexity` is Perplexity's `sonar`).
//!
//! Dated names never price as a different snapshot. A name ending in a date
//! (`-2024-08-06`, `-20241022`, `@20241022`, `-0613`, `-2411`) that the catalog
//! does not list resolves to
//! - the same snapshot with its date written another way (`gpt-4o-20240806` →
//!   `gpt-4o-2024-08-06`);
//! - else, when the catalog lists no dated snapshot of the base name at all,
//!   the undated base name, if its prices were in force at the name's date
//!   (by the end of that day, or of that month for Mistral's year-month
//!   `-2411`; OpenAI's and xAI's month-day `-0613` has no year and is not checked);
//! - else nothing: `mistral-large-2411` is not `mistral-large-2512`,
//!   `gpt-3.5-turbo-0613` is not `gpt-3.5-turbo` (which points at -0125),
//!   `mistral-medium-2505` is not `mistral-medium` (a 2023 model), and
//!   `gpt-4o-2099-01-01` is not `gpt-4o` (the catalog cannot tell which of
//!   its snapshots the undated name meant then). `unresolved_reason` says so.
//!
//! `name-latest` resolves to the undated name, else its newest dated snapshot.
//! Resolutions are memoised per backend, so all of this runs once per name.

use crate::pricing::formula::{PgTimestamp, PriceRow, ServiceTier};
use crate::pricing::model_names::{self, Rule, Rules};
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::collections::BTreeMap;

const MEMO_LIMIT: usize = 50_000;

/// How a model name was resolved; reported by `cost_breakdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedBy {
    Exact,
    CaseInsensitive,
    Alias,
    Variant,
    ProviderPrefix,
    ProviderFamily,
    /// Found under a sibling provider (`bedrock` → `bedrock_converse`).
    ProviderSibling,
    /// Found under a normalised form of the name (see `Resolved::rules`).
    Normalised,
    /// A fine-tuned model, priced by its base's fine-tuning rate or as its base.
    FineTune,
}

impl ResolvedBy {
    pub fn name(self) -> &'static str {
        match self {
            ResolvedBy::Exact => "exact",
            ResolvedBy::CaseInsensitive => "case_insensitive",
            ResolvedBy::Alias => "alias",
            ResolvedBy::Variant => "variant",
            ResolvedBy::ProviderPrefix => "provider_prefix",
            ResolvedBy::ProviderFamily => "provider_family",
            ResolvedBy::ProviderSibling => "provider_sibling",
            ResolvedBy::Normalised => "normalised",
            ResolvedBy::FineTune => "fine_tune",
        }
    }
}

/// All price rows of one (provider, model), per service tier, oldest first.
#[derive(Debug, Default)]
pub struct ModelPrices {
    pub provider: String,
    pub model: String,
    by_tier: [Vec<PriceRow>; 4],
}

impl ModelPrices {
    /// The row in force at `at` for `tier`, falling back to standard prices when
    /// the tier has none in force.
    pub fn row_at(&self, tier: ServiceTier, at: PgTimestamp) -> Option<&PriceRow> {
        let in_force = |rows: &'_ [PriceRow]| -> Option<usize> {
            let n = rows.partition_point(|r| r.valid_from <= at);
            n.checked_sub(1)
        };
        let rows = &self.by_tier[tier.index()];
        if let Some(i) = in_force(rows) {
            return Some(&rows[i]);
        }
        let standard = &self.by_tier[ServiceTier::Standard.index()];
        in_force(standard).map(|i| &standard[i])
    }

    /// When the model's first price (any tier) took effect.
    pub fn first_valid_from(&self) -> PgTimestamp {
        self.by_tier.iter().filter_map(|rows| rows.first()).map(|r| r.valid_from).min().unwrap_or(PgTimestamp::MAX)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub model: usize,
    pub by: ResolvedBy,
    /// The rewrites the name went through (empty when none).
    pub rules: Rules,
}

impl Resolved {
    fn new(model: usize, by: ResolvedBy) -> Resolved {
        Resolved { model, by, rules: Rules::default() }
    }

    /// True when the name is a fine-tune id.
    pub fn fine_tune(&self) -> bool {
        self.rules.has(Rule::FineTune) || self.rules.has(Rule::FineTuneBase)
    }
}

#[derive(Default)]
pub struct Catalog {
    models: Vec<ModelPrices>,
    /// Per model: its `llm_cost.models.mode` is `responses`.
    responses: Vec<bool>,
    exact: HashMap<(String, String), usize>,
    /// provider → lower-cased model → index; ordered so that a prefix scan
    /// finds a model's dated variants.
    folded: HashMap<String, BTreeMap<String, usize>>,
    model_aliases: HashMap<(String, String), (String, String)>,
    provider_aliases: HashMap<String, String>,
    /// Providers sorted by name, for the family step.
    providers: Vec<String>,
    /// `provider \0 model` as written → resolution; names repeat, so most
    /// lookups stop here.
    memo: RefCell<HashMap<String, Option<Resolved>>>,
    /// Reused to build memo keys without allocating.
    key: RefCell<String>,
}

impl Catalog {
    /// Builds the catalog from price rows (any order), the alias tables and the
    /// (provider, model) pairs whose mode is `responses`.
    pub fn new(
        rows: Vec<PriceRow>,
        model_aliases: Vec<(String, String, String, String)>,
        provider_aliases: Vec<(String, String)>,
        responses_models: Vec<(String, String)>,
    ) -> Catalog {
        let mut c = Catalog { provider_aliases: provider_aliases.into_iter().collect(), ..Default::default() };
        for row in rows {
            let key = (row.provider.clone(), row.model.clone());
            let idx = *c.exact.entry(key).or_insert_with(|| {
                c.models.push(ModelPrices {
                    provider: row.provider.clone(),
                    model: row.model.clone(),
                    ..Default::default()
                });
                c.models.len() - 1
            });
            c.models[idx].by_tier[row.service_tier.index()].push(row);
        }
        for (idx, m) in c.models.iter_mut().enumerate() {
            for rows in &mut m.by_tier {
                rows.sort_by_key(|r| r.valid_from);
            }
            // When two models differ only in case, the first one loaded wins the folded slot;
            // an exact spelling still finds each of them.
            c.folded.entry(m.provider.clone()).or_default().entry(m.model.to_lowercase()).or_insert(idx);
        }
        c.responses = vec![false; c.models.len()];
        for key in responses_models {
            if let Some(&idx) = c.exact.get(&key) {
                c.responses[idx] = true;
            }
        }
        c.providers = c.folded.keys().cloned().collect();
        c.providers.sort();
        for (provider, alias, target_provider, target_model) in model_aliases {
            c.model_aliases.insert((provider, alias.to_lowercase()), (target_provider, target_model));
        }
        c
    }

    pub fn model(&self, idx: usize) -> &ModelPrices {
        &self.models[idx]
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Resolves a provider and model as a user wrote them.
    pub fn resolve(&self, provider: &str, model: &str) -> Option<Resolved> {
        {
            let mut key = self.key.borrow_mut();
            key.clear();
            key.push_str(provider);
            key.push('\0');
            key.push_str(model);
            if let Some(hit) = self.memo.borrow().get(key.as_str()) {
                return *hit;
            }
        }
        let found = self.resolve_uncached(provider, model);
        let key = self.key.borrow().clone();
        let mut memo = self.memo.borrow_mut();
        // Bounded: a stream of unique garbage names must not grow the backend.
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(key, found);
        found
    }

    /// The catalog provider a provider name means: lower case, through
    /// `provider_aliases`, and without a Vercel-style API suffix when the full
    /// name is neither an alias nor a catalog provider.
    pub fn canonical_provider(&self, provider: &str) -> String {
        let p = provider.trim().to_lowercase();
        if let Some(target) = self.provider_aliases.get(&p) {
            return target.clone();
        }
        if self.folded.contains_key(&p) {
            return p;
        }
        match model_names::strip_provider_api_suffix(&p) {
            Some(base) => self.provider_aliases.get(base).cloned().unwrap_or_else(|| base.to_string()),
            None => p,
        }
    }

    fn resolve_uncached(&self, provider: &str, model: &str) -> Option<Resolved> {
        let p = self.canonical_provider(provider);
        let model = model.trim();
        if let Some(r) = self.in_provider(&p, model, None) {
            return Some(r);
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            let q = self.canonical_provider(prefix);
            if self.folded.contains_key(&q) || !model_names::siblings(&q).is_empty() {
                let found = self.in_provider(&q, rest, None).or_else(|| self.in_relatives(&q, rest).map(|(r, _)| r));
                if let Some(r) = found {
                    return Some(Resolved { by: ResolvedBy::ProviderPrefix, ..r });
                }
            }
        }
        self.in_relatives(&p, model).map(|(r, by)| Resolved { by, ..r })
    }

    /// The provider's family members (`vertex_ai-*`), then its siblings and their families.
    fn in_relatives(&self, p: &str, model: &str) -> Option<(Resolved, ResolvedBy)> {
        if let Some(r) = self.in_family(p, model) {
            return Some((r, ResolvedBy::ProviderFamily));
        }
        // siblings are searched by name only: the list names the family members it means
        for s in model_names::siblings(p) {
            if let Some(r) = self.in_provider(s, model, None) {
                return Some((r, ResolvedBy::ProviderSibling));
            }
        }
        None
    }

    fn family(&self, p: &str) -> impl Iterator<Item = &String> {
        let family = format!("{p}-");
        let start = self.providers.partition_point(|name| name.as_str() < family.as_str());
        self.providers[start..].iter().take_while(move |name| name.starts_with(&family))
    }

    fn in_family(&self, p: &str, model: &str) -> Option<Resolved> {
        // LiteLLM files some models under a family member but keeps the root in
        // the name (`vertex_ai-anthropic_models` / `vertex_ai/claude-3-5-haiku`).
        self.family(p).find_map(|name| self.in_provider(name, model, Some(p)))
    }

    /// Step 1 within one provider: the name as written, a fine-tune's base,
    /// then the name's normalised forms. A family member (`root` set) also
    /// files names under `root/name`.
    fn in_provider(&self, provider: &str, model: &str, root: Option<&str>) -> Option<Resolved> {
        if let Some(r) = self.lookup(provider, model, root) {
            return Some(r);
        }
        if let Some(base) = model_names::fine_tune_base(model) {
            // OpenAI bills a fine-tuned model's calls at its own rate: `ft:<base>` rows
            if let Some(r) = self.lookup(provider, &format!("ft:{base}"), root) {
                return Some(Resolved { by: ResolvedBy::FineTune, rules: r.rules.with(Rule::FineTune), ..r });
            }
            let r = self.normalised_in(provider, base, root)?;
            return Some(Resolved { by: ResolvedBy::FineTune, rules: r.rules.with(Rule::FineTuneBase), ..r });
        }
        self.normalised_in(provider, model, root).map(|r| Resolved { by: ResolvedBy::Normalised, ..r })
    }

    /// The name as written or any of its normalised forms, within one provider.
    fn normalised_in(&self, provider: &str, model: &str, root: Option<&str>) -> Option<Resolved> {
        if let Some(r) = self.lookup(provider, model, root) {
            return Some(r);
        }
        if model_names::is_free_variant(model) {
            // free only where the catalog lists the :free model itself
            return None;
        }
        for (form, rules) in model_names::name_forms(model) {
            if let Some(r) = self.lookup(provider, &form, root) {
                return Some(Resolved { rules: Rules(r.rules.0 | rules.0), ..r });
            }
        }
        if provider == "fireworks_ai" && !model.contains('/') {
            let r = self.resolve_in(provider, &format!("accounts/fireworks/models/{model}"))?;
            return Some(Resolved { rules: r.rules.with(Rule::FireworksPath), ..r });
        }
        None
    }

    /// One name within one provider (and under `root/` there), preferring chat entries.
    fn lookup(&self, provider: &str, model: &str, root: Option<&str>) -> Option<Resolved> {
        let r =
            self.resolve_in(provider, model).or_else(|| self.resolve_in(provider, &format!("{}/{model}", root?)))?;
        Some(self.prefer_chat(provider, r))
    }

    /// A `responses`-mode match gives way to the provider's chat/completion
    /// entry of the same name without its `vendor/` prefix.
    fn prefer_chat(&self, provider: &str, r: Resolved) -> Resolved {
        if !self.responses[r.model] {
            return r;
        }
        let Some((_, rest)) = self.models[r.model].model.split_once('/') else { return r };
        match self.direct(provider, rest) {
            Some(chat) if !self.responses[chat.model] => {
                Resolved { model: chat.model, by: ResolvedBy::Normalised, rules: r.rules.with(Rule::ChatOverResponses) }
            }
            _ => r,
        }
    }

    /// The name as written within one provider: exact, case-insensitive, alias, dated variant.
    fn resolve_in(&self, provider: &str, model: &str) -> Option<Resolved> {
        if let Some(r) = self.direct(provider, model) {
            return Some(r);
        }
        let lower = model.to_lowercase();
        if let Some((tp, tm)) = self.model_aliases.get(&(provider.to_string(), lower.clone())) {
            if let Some(r) = self.direct(tp, tm) {
                return Some(Resolved { by: ResolvedBy::Alias, ..r });
            }
        }
        self.dated_variant(provider, &lower).ok().map(|idx| Resolved::new(idx, ResolvedBy::Variant))
    }

    /// The dated-variant rule (see the module documentation); `Err` says why not.
    fn dated_variant(&self, provider: &str, lower: &str) -> Result<usize, Refusal> {
        let models = self.folded.get(provider).ok_or(Refusal::NotDated)?;
        if let Some(base) = lower.strip_suffix("-latest") {
            if let Some(&idx) = models.get(base) {
                return Ok(idx);
            }
            // No undated model: take the newest dated one.
            return newest_dated_variant(models, base).ok_or(Refusal::NotDated);
        }
        let i = date_suffix_start(lower).ok_or(Refusal::NotDated)?;
        let (base, date) = (&lower[..i], &lower[i + 1..]);
        let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>();
        let want = digits(date);
        let mut snapshots = dated_variants(models, base).peekable();
        if snapshots.peek().is_some() {
            let mut others = Vec::new();
            for (name, idx) in snapshots {
                if digits(&name[base.len() + 1..]) == want {
                    return Ok(idx);
                }
                others.push(name.to_string());
            }
            return Err(Refusal::OtherSnapshots { base: base.to_string(), others });
        }
        let &idx = models.get(base).ok_or(Refusal::NotDated)?;
        match date_timestamp(date) {
            Some(ts) if self.models[idx].first_valid_from() > ts => {
                Err(Refusal::PricedLater { base: base.to_string() })
            }
            _ => Ok(idx),
        }
    }

    fn direct(&self, provider: &str, model: &str) -> Option<Resolved> {
        if let Some(&idx) = self.exact.get(&(provider.to_string(), model.to_string())) {
            return Some(Resolved::new(idx, ResolvedBy::Exact));
        }
        let idx = *self.folded.get(provider)?.get(&model.to_lowercase())?;
        Some(Resolved::new(idx, ResolvedBy::CaseInsensitive))
    }

    /// Why a name does not resolve (call only when `resolve` returned `None`).
    pub fn unresolved_reason(&self, provider: &str, model: &str) -> String {
        let p = self.canonical_provider(provider);
        let model = model.trim();
        let mut names: Vec<String> = vec![model.to_string()];
        if let Some(base) = model_names::fine_tune_base(model) {
            names.push(format!("ft:{base}"));
            names.push(base.to_string());
        }
        let more: Vec<String> = names.iter().flat_map(|n| model_names::name_forms(n)).map(|(f, _)| f).collect();
        names.extend(more);
        if names.iter().any(|n| model_names::is_free_variant(n)) {
            return format!(
                "\"{model}\" is a :free variant, and the catalog has no price for it: free models are priced 0 only where the catalog lists them"
            );
        }
        let known = |q: &str| {
            self.folded.contains_key(q) || !model_names::siblings(q).is_empty() || self.family(q).next().is_some()
        };
        let mut providers: Vec<String> = vec![p.clone()];
        providers.extend(self.family(&p).cloned());
        providers.extend(model_names::siblings(&p).iter().map(|s| s.to_string()));
        let mut prefixed = None;
        if let Some((prefix, rest)) = model.split_once('/') {
            let q = self.canonical_provider(prefix);
            if known(&q) {
                prefixed = Some((q.clone(), rest.to_string()));
            }
            names.push(rest.to_string());
            names.extend(model_names::name_forms(rest).into_iter().map(|(f, _)| f));
            providers.push(q.clone());
            providers.extend(model_names::siblings(&q).iter().map(|s| s.to_string()));
        }
        // family members also file names under `root/name` (see in_family)
        let rooted: Vec<String> = names.iter().map(|n| format!("{p}/{n}")).collect();
        for prov in &providers {
            for name in names.iter().chain(&rooted) {
                match self.dated_variant(prov, &name.to_lowercase()) {
                    Err(Refusal::OtherSnapshots { base, others }) => {
                        let shown: Vec<&str> = others.iter().take(4).map(String::as_str).collect();
                        return format!(
                            "\"{name}\" is a dated snapshot that {prov} has no price for; the catalog has other snapshots of {base} ({}), and a dated name is never priced as a different snapshot or as an undated name that may point at one",
                            shown.join(", ")
                        );
                    }
                    Err(Refusal::PricedLater { base }) => {
                        return format!(
                            "\"{name}\" is a dated snapshot that {prov} has no price for, and the prices of {base} start after that date"
                        );
                    }
                    _ => {}
                }
            }
        }
        match (known(&p), prefixed) {
            (_, Some((q, rest))) => format!(
                "no model \"{model}\" under provider {p}, nor \"{rest}\" under {q} (the provider named in the model)"
            ),
            (false, None) => format!(
                "unknown provider \"{}\": not a provider in llm_cost.prices nor an alias in llm_cost.provider_aliases",
                provider.trim()
            ),
            (true, None) => {
                format!("no model \"{model}\" under provider {p} (nor its family or sibling providers)")
            }
        }
    }
}

/// Why the dated-variant rule found nothing.
enum Refusal {
    /// Not a dated name, or nothing to resolve it to.
    NotDated,
    /// The catalog has other snapshots of the base name.
    OtherSnapshots { base: String, others: Vec<String> },
    /// The undated base name's prices start after the name's date.
    PricedLater { base: String },
}

/// `name-latest`, `name-2024-08-06`, `name-20241022`, `name@20241022`, `name-0613` → `name`.
#[cfg(test)]
fn strip_version_suffix(model: &str) -> Option<&str> {
    if let Some(base) = model.strip_suffix("-latest") {
        return Some(base);
    }
    date_suffix_start(model).map(|i| &model[..i])
}

/// Where a trailing date (with its separator) starts, if the name ends in one.
fn date_suffix_start(model: &str) -> Option<usize> {
    let b = model.as_bytes();
    let digits_at = |from: usize, n: usize| b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit);
    let sep = |i: usize| b[i] == b'-' || b[i] == b'@';
    let n = b.len();
    // -YYYY-MM-DD
    if n > 11
        && sep(n - 11)
        && digits_at(n - 10, 4)
        && b[n - 6] == b'-'
        && digits_at(n - 5, 2)
        && b[n - 3] == b'-'
        && digits_at(n - 2, 2)
    {
        return Some(n - 11);
    }
    // -YYYYMMDD and -MMDD
    for len in [8, 4] {
        if n > len + 1 && sep(n - len - 1) && digits_at(n - len, len) {
            return Some(n - len - 1);
        }
    }
    None
}

/// When a dated name's snapshot was out, as late as its date allows: the end of
/// that day for a full date (`2024-08-06`, `20240806`), the end of that month
/// for Mistral's year-month (`2411`: its first two digits, 23 or more, cannot be
/// a month); `None` for other 4-digit dates (OpenAI's and xAI's month-day
/// `0613`, `0709`), whose year is unknown.
fn date_timestamp(date: &str) -> Option<PgTimestamp> {
    let d: Vec<u8> = date.bytes().filter(u8::is_ascii_digit).collect();
    let num = |s: &[u8]| s.iter().fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    let (y, m, day) = match d.len() {
        8 => (num(&d[..4]), num(&d[4..6]), num(&d[6..])),
        4 if num(&d[..2]) >= 23 => (2000 + num(&d[..2]), num(&d[2..]), 0),
        _ => return None,
    };
    if !(1..=12).contains(&m) || !(0..=31).contains(&day) || d.len() == 8 && day == 0 {
        return None;
    }
    // the end of the day, or of the month (day 0: the first of the next month)
    let start_of_next =
        if day == 0 { days_from_civil(y + m / 12, m % 12 + 1, 1) } else { days_from_civil(y, m, day) + 1 };
    Some(start_of_next * 86_400_000_000 - 1)
}

/// Days from 2000-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, day: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

/// The dated snapshots of `base` the provider lists (`base-<date>`, `base@<date>`).
fn dated_variants<'a>(
    models: &'a BTreeMap<String, usize>,
    base: &'a str,
) -> impl Iterator<Item = (&'a str, usize)> + 'a {
    models
        .range(base.to_string()..)
        .take_while(move |(name, _)| name.starts_with(base))
        .filter(move |(name, _)| date_suffix_start(name) == Some(base.len()))
        .map(|(name, &idx)| (name.as_str(), idx))
}

fn newest_dated_variant(models: &BTreeMap<String, usize>, base: &str) -> Option<usize> {
    dated_variants(models, base)
        // Compare the dates' digits, so 2024-10-22 and 20241022 order together.
        .max_by_key(|(name, _)| name[base.len()..].bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>())
        .map(|(_, idx)| idx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::decimal::Decimal;

    fn row(id: i64, provider: &str, model: &str, tier: ServiceTier, valid_from: i64, input: &str) -> PriceRow {
        PriceRow {
            id,
            provider: provider.into(),
            model: model.into(),
            service_tier: tier,
            valid_from,
            input: Decimal::parse(input).unwrap(),
            output: Decimal::parse("1").unwrap(),
            cache_read: None,
            cache_write: None,
            reasoning: None,
            tier_threshold: None,
            input_above: None,
            output_above: None,
            cache_read_above: None,
            cache_write_above: None,
            per_request: None,
            off_peak: None,
            subset_rates: None,
            unit_prices: None,
            currency: "USD".into(),
            source: "catalog".into(),
        }
    }

    fn catalog() -> Catalog {
        use ServiceTier::*;
        Catalog::new(
            vec![
                row(1, "openai", "gpt-4o", Standard, i64::MIN, "2.5"),
                row(2, "openai", "gpt-4o", Standard, 1_000, "2"),
                row(3, "openai", "gpt-4o", Batch, i64::MIN, "1.25"),
                row(4, "anthropic", "claude-3-5-sonnet-20240620", Standard, i64::MIN, "3"),
                row(5, "anthropic", "claude-3-5-sonnet-20241022", Standard, i64::MIN, "3.1"),
                row(6, "gemini", "gemini-2.5-pro", Standard, i64::MIN, "1.25"),
                row(7, "vertex_ai-language-models", "gemini-1.5-pro", Standard, i64::MIN, "1.25"),
                row(8, "deepinfra", "meta-llama/Llama-3-8B", Standard, i64::MIN, "0.1"),
                row(9, "vertex_ai-anthropic_models", "vertex_ai/claude-3-5-haiku", Standard, i64::MIN, "1"),
            ],
            vec![("openai".into(), "my-model".into(), "openai".into(), "gpt-4o".into())],
            vec![("google".into(), "gemini".into())],
            vec![],
        )
    }

    /// Names as LiteLLM files them, for the rules below.
    fn names_catalog() -> Catalog {
        use ServiceTier::*;
        let models: &[(&str, &str)] = &[
            ("openai", "gpt-4o"),
            ("openai", "gpt-4o-2024-05-13"),
            ("openai", "gpt-4o-2024-08-06"),
            ("openai", "gpt-4o-mini"),
            ("openai", "gpt-4o-mini-2024-07-18"),
            ("openai", "ft:gpt-4o-mini-2024-07-18"),
            ("openai", "gpt-4.1-2025-04-14"),
            ("openai", "gpt-3.5-turbo"),
            ("openai", "gpt-3.5-turbo-0125"),
            ("openai", "gpt-3.5-turbo-1106"),
            ("mistral", "mistral-large-2512"),
            ("mistral", "mistral-large-latest"),
            ("mistral", "mistral-medium"),
            ("mistral", "mistral-medium-2604"),
            ("mistral", "open-mistral-nemo"),
            ("anthropic", "claude-3-5-sonnet-20240620"),
            ("anthropic", "claude-3-5-sonnet-20241022"),
            ("anthropic", "claude-sonnet-4-5"),
            ("anthropic", "claude-sonnet-4-5-20250929"),
            ("anthropic", "claude-sonnet-4-6"),
            ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
            ("bedrock", "eu.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),
            ("bedrock_converse", "anthropic.claude-sonnet-4-20250514-v1:0"),
            ("bedrock_converse", "amazon.nova-pro-v1:0"),
            ("bedrock_converse", "anthropic.claude-opus-4-6-v1"),
            ("cohere", "command-nightly"),
            ("cohere_chat", "command-r-08-2024"),
            ("gemini", "gemini-2.5-flash"),
            ("vertex_ai", "gemini-2.0-flash"),
            ("vertex_ai-language-models", "gemini-2.5-pro"),
            ("vertex_ai-anthropic_models", "vertex_ai/claude-3-5-haiku@20241022"),
            ("vertex_ai-anthropic_models", "vertex_ai/claude-3-5-sonnet@20240620"),
            ("vertex_ai-anthropic_models", "vertex_ai/claude-opus-4-5@20251101"),
            ("perplexity", "perplexity/sonar"),
            ("perplexity", "sonar"),
            ("perplexity", "perplexity/sonar-pro"),
            ("fireworks_ai", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
            ("openrouter", "meta-llama/llama-3.1-8b-instruct:free"),
            ("xai", "grok-4"),
            ("watsonx", "ibm/granite-3-8b-instruct"),
        ];
        let mut rows: Vec<PriceRow> =
            models.iter().enumerate().map(|(i, (p, m))| row(i as i64 + 1, p, m, Standard, i64::MIN, "1")).collect();
        // priced only from 2025-01-01 (9_132 days after 2000-01-01)
        rows.push(row(100, "testco", "late-model", Standard, 9_132 * 86_400_000_000, "1"));
        let aliases = [
            ("google", "gemini"),
            ("aws.bedrock", "bedrock"),
            ("amazon-bedrock", "bedrock"),
            ("gcp.vertex_ai", "vertex_ai"),
            ("google_genai", "gemini"),
            ("google.generative-ai", "gemini"),
            ("mistral_ai", "mistral"),
            ("x_ai", "xai"),
            ("ibm.watsonx.ai", "watsonx"),
            ("fireworks", "fireworks_ai"),
            ("google.vertex.anthropic", "vertex_ai"),
        ];
        Catalog::new(
            rows,
            vec![],
            aliases.iter().map(|(a, p)| (a.to_string(), p.to_string())).collect(),
            vec![
                ("perplexity".into(), "perplexity/sonar".into()),
                ("perplexity".into(), "perplexity/sonar-pro".into()),
            ],
        )
    }

    /// (resolved provider/model, method, rules)
    fn full(c: &Catalog, p: &str, m: &str) -> Option<(String, &'static str, Vec<&'static str>)> {
        c.resolve(p, m).map(|r| {
            let mp = c.model(r.model);
            (format!("{}/{}", mp.provider, mp.model), r.by.name(), r.rules.names())
        })
    }

    fn to(c: &Catalog, p: &str, m: &str) -> Option<String> {
        full(c, p, m).map(|(t, _, _)| t)
    }

    fn resolve(c: &Catalog, p: &str, m: &str) -> Option<(String, ResolvedBy)> {
        c.resolve(p, m).map(|r| (c.model(r.model).model.clone(), r.by))
    }

    #[test]
    fn each_resolution_path() {
        let c = catalog();
        use ResolvedBy::*;
        assert_eq!(resolve(&c, "openai", "gpt-4o"), Some(("gpt-4o".into(), Exact)));
        assert_eq!(resolve(&c, "OpenAI", "GPT-4o"), Some(("gpt-4o".into(), CaseInsensitive)));
        assert_eq!(resolve(&c, "openai", "my-model"), Some(("gpt-4o".into(), Alias)));
        assert_eq!(resolve(&c, "openai", "gpt-4o-2024-08-06"), Some(("gpt-4o".into(), Variant)));
        assert_eq!(resolve(&c, "openai", "gpt-4o-latest"), Some(("gpt-4o".into(), Variant)));
        assert_eq!(
            resolve(&c, "anthropic", "claude-3-5-sonnet-latest"),
            Some(("claude-3-5-sonnet-20241022".into(), Variant))
        );
        assert_eq!(resolve(&c, "openrouter", "openai/gpt-4o"), Some(("gpt-4o".into(), ProviderPrefix)));
        assert_eq!(resolve(&c, "openai", "openai/gpt-4o-2024-05-13"), Some(("gpt-4o".into(), ProviderPrefix)));
        assert_eq!(resolve(&c, "Google", "gemini-2.5-pro"), Some(("gemini-2.5-pro".into(), Exact)));
        assert_eq!(resolve(&c, "vertex_ai", "gemini-1.5-pro"), Some(("gemini-1.5-pro".into(), ProviderFamily)));
        assert_eq!(
            resolve(&c, "vertex_ai", "claude-3-5-haiku"),
            Some(("vertex_ai/claude-3-5-haiku".into(), ProviderFamily))
        );
        // a model whose own name has a slash is found exactly, not split
        assert_eq!(resolve(&c, "deepinfra", "meta-llama/Llama-3-8B"), Some(("meta-llama/Llama-3-8B".into(), Exact)));
        assert_eq!(resolve(&c, "openai", "gpt-unknown"), None);
        assert_eq!(resolve(&c, "nobody", "gpt-4o"), None);
    }

    #[test]
    fn time_travel_and_tier_fallback() {
        let c = catalog();
        let m = c.model(c.resolve("openai", "gpt-4o").unwrap().model);
        assert_eq!(m.row_at(ServiceTier::Standard, 0).unwrap().id, 1);
        assert_eq!(m.row_at(ServiceTier::Standard, 1_000).unwrap().id, 2);
        assert_eq!(m.row_at(ServiceTier::Batch, 5_000).unwrap().id, 3);
        // no flex prices: standard in force
        assert_eq!(m.row_at(ServiceTier::Flex, 5_000).unwrap().id, 2);
    }

    #[test]
    fn date_suffixes() {
        assert_eq!(strip_version_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(strip_version_suffix("claude-3-opus-20240229"), Some("claude-3-opus"));
        assert_eq!(strip_version_suffix("claude-3-opus@20240229"), Some("claude-3-opus"));
        assert_eq!(strip_version_suffix("gpt-4-0613"), Some("gpt-4"));
        assert_eq!(strip_version_suffix("gpt-4o"), None);
        assert_eq!(strip_version_suffix("o1"), None);
    }

    #[test]
    fn dates_as_timestamps() {
        const DAY: i64 = 86_400_000_000;
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 1, 1), 9_132);
        assert_eq!(date_timestamp("2000-01-01"), Some(DAY - 1));
        assert_eq!(date_timestamp("20241231"), Some(9_132 * DAY - 1));
        assert_eq!(date_timestamp("1999-12-31"), Some(-1));
        // Mistral's year-month: the month's end
        assert_eq!(date_timestamp("2412"), Some(9_132 * DAY - 1));
        assert_eq!(date_timestamp("2411"), Some((9_132 - 31) * DAY - 1));
        // month-day (year unknown) and nonsense
        assert_eq!(date_timestamp("0613"), None);
        assert_eq!(date_timestamp("1106"), None);
        assert_eq!(date_timestamp("2413"), None);
        assert_eq!(date_timestamp("20241399"), None);
        assert_eq!(date_timestamp("20241200"), None);
    }

    #[test]
    fn dated_names_never_price_as_another_snapshot() {
        let c = names_catalog();
        // the snapshot itself, also with its date written another way
        assert_eq!(full(&c, "openai", "gpt-4o-2024-08-06"), Some(("openai/gpt-4o-2024-08-06".into(), "exact", vec![])));
        assert_eq!(full(&c, "openai", "gpt-4o-20240806"), Some(("openai/gpt-4o-2024-08-06".into(), "variant", vec![])));
        assert_eq!(
            to(&c, "anthropic", "claude-3-5-sonnet@20241022").as_deref(),
            Some("anthropic/claude-3-5-sonnet-20241022")
        );
        // another snapshot of the base is known: never it, never the undated name
        assert_eq!(to(&c, "mistral", "mistral-large-2411"), None);
        assert_eq!(to(&c, "mistral", "mistral-medium-2505"), None);
        assert_eq!(to(&c, "openai", "gpt-3.5-turbo-0613"), None);
        assert_eq!(to(&c, "openai", "gpt-4o-2099-01-01"), None);
        assert_eq!(to(&c, "openai", "gpt-4o-mini-2025-06-01"), None);
        assert_eq!(to(&c, "anthropic", "claude-3-5-sonnet-20250101"), None);
        assert_eq!(to(&c, "anthropic", "claude-sonnet-4-5-20260101"), None);
        // no snapshot known: the undated name, if it was priced at that date
        assert_eq!(
            full(&c, "anthropic", "claude-sonnet-4-6-20260101"),
            Some(("anthropic/claude-sonnet-4-6".into(), "variant", vec![]))
        );
        assert_eq!(to(&c, "testco", "late-model-2025-01-01").as_deref(), Some("testco/late-model"));
        assert_eq!(to(&c, "testco", "late-model-20241231"), None);
        assert_eq!(to(&c, "testco", "late-model-2412"), None);
        assert_eq!(to(&c, "testco", "late-model-2501").as_deref(), Some("testco/late-model"));
        // a 4-digit date's year is unknown: not checked
        assert_eq!(to(&c, "testco", "late-model-0613").as_deref(), Some("testco/late-model"));
        // -latest: the undated name, else the newest snapshot
        assert_eq!(to(&c, "mistral", "mistral-medium-latest").as_deref(), Some("mistral/mistral-medium"));
        assert_eq!(
            to(&c, "anthropic", "claude-3-5-sonnet-latest").as_deref(),
            Some("anthropic/claude-3-5-sonnet-20241022")
        );
        // and the reasons
        let why = c.unresolved_reason("mistral", "mistral-large-2411");
        assert!(why.contains("mistral-large-2512") && why.contains("never priced as a different snapshot"), "{why}");
        let why = c.unresolved_reason("testco", "late-model-20241231");
        assert!(why.contains("start after that date"), "{why}");
    }

    #[test]
    fn provider_spellings() {
        let c = names_catalog();
        // aliases: OpenTelemetry gen_ai.system, LangChain, Vercel AI SDK
        assert_eq!(full(&c, "aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap().1, "exact");
        assert_eq!(to(&c, "mistral_ai", "mistral-large-2512").as_deref(), Some("mistral/mistral-large-2512"));
        assert_eq!(to(&c, "x_ai", "grok-4").as_deref(), Some("xai/grok-4"));
        assert_eq!(
            to(&c, "IBM.watsonx.ai", "ibm/granite-3-8b-instruct").as_deref(),
            Some("watsonx/ibm/granite-3-8b-instruct")
        );
        // API suffixes
        assert_eq!(full(&c, "openai.chat", "gpt-4o"), Some(("openai/gpt-4o".into(), "exact", vec![])));
        assert_eq!(to(&c, "openai.responses", "gpt-4o").as_deref(), Some("openai/gpt-4o"));
        assert_eq!(to(&c, "anthropic.messages", "claude-sonnet-4-5").as_deref(), Some("anthropic/claude-sonnet-4-5"));
        assert_eq!(to(&c, "xai.chat", "grok-4").as_deref(), Some("xai/grok-4"));
        assert_eq!(to(&c, "google.generative-ai", "gemini-2.5-flash").as_deref(), Some("gemini/gemini-2.5-flash"));
        assert_eq!(
            to(&c, "google.vertex.anthropic.messages", "claude-opus-4-5@20251101").as_deref(),
            Some("vertex_ai-anthropic_models/vertex_ai/claude-opus-4-5@20251101")
        );
        assert_eq!(to(&c, "nobody.chat", "gpt-4o"), None);
        assert_eq!(to(&c, "openai.chat", "claude-sonnet-4-5"), None);
        // siblings
        assert_eq!(
            full(&c, "bedrock", "anthropic.claude-sonnet-4-20250514-v1:0"),
            Some(("bedrock_converse/anthropic.claude-sonnet-4-20250514-v1:0".into(), "provider_sibling", vec![]))
        );
        assert_eq!(
            to(&c, "amazon-bedrock", "amazon.nova-pro-v1:0").as_deref(),
            Some("bedrock_converse/amazon.nova-pro-v1:0")
        );
        assert_eq!(to(&c, "cohere", "command-r-08-2024").as_deref(), Some("cohere_chat/command-r-08-2024"));
        assert_eq!(to(&c, "google_genai", "gemini-2.0-flash").as_deref(), Some("vertex_ai/gemini-2.0-flash"));
        assert_eq!(to(&c, "gcp.vertex_ai", "gemini-2.5-flash").as_deref(), Some("gemini/gemini-2.5-flash"));
        // a model's own family comes before its siblings
        assert_eq!(
            to(&c, "gcp.vertex_ai", "gemini-2.5-pro").as_deref(),
            Some("vertex_ai-language-models/gemini-2.5-pro")
        );
        // siblings are not everyone: no sibling sells Claude to OpenAI callers, or Nova to Cohere's
        assert_eq!(to(&c, "openai", "claude-sonnet-4-5"), None);
        assert_eq!(to(&c, "cohere", "amazon.nova-pro-v1:0"), None);
        assert_eq!(to(&c, "gemini", "claude-opus-4-5@20251101"), None);
    }

    #[test]
    fn bedrock_names() {
        let c = names_catalog();
        // ARNs and inference profiles: the regional price when the catalog has one
        assert_eq!(
            full(
                &c,
                "bedrock",
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20241022-v2:0"
            ),
            Some(("bedrock/eu.anthropic.claude-3-5-sonnet-20241022-v2:0".into(), "normalised", vec!["bedrock_arn"]))
        );
        assert_eq!(
            full(
                &c,
                "bedrock",
                "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
            ),
            Some((
                "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0".into(),
                "normalised",
                vec!["bedrock_arn", "region_prefix"]
            ))
        );
        assert_eq!(
            to(&c, "bedrock", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0")
                .as_deref(),
            Some("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0")
        );
        assert_eq!(to(&c, "bedrock", "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc123"), None);
        // region prefixes, then the sibling provider
        assert_eq!(
            full(&c, "bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
            Some((
                "bedrock_converse/anthropic.claude-sonnet-4-20250514-v1:0".into(),
                "provider_sibling",
                vec!["region_prefix"]
            ))
        );
        assert_eq!(
            to(&c, "bedrock", "apac.amazon.nova-pro-v1:0").as_deref(),
            Some("bedrock_converse/amazon.nova-pro-v1:0")
        );
        assert_eq!(
            to(&c, "bedrock", "global.anthropic.claude-opus-4-6-v1").as_deref(),
            Some("bedrock_converse/anthropic.claude-opus-4-6-v1")
        );
        // versions: added to a dated id written without one, dropped where the catalog has the id without it
        assert_eq!(
            full(&c, "bedrock", "anthropic.claude-3-5-sonnet-20241022"),
            Some(("bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0".into(), "normalised", vec!["bedrock_version"]))
        );
        assert_eq!(to(&c, "bedrock", "anthropic.claude-opus-4-6").as_deref(), None);
        // another snapshot or version is never taken
        assert_eq!(to(&c, "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"), None);
        assert_eq!(to(&c, "bedrock", "us.anthropic.claude-3-5-sonnet-20250101-v2:0"), None);
        assert_eq!(to(&c, "bedrock", "amazon.nova-pro-v2:0"), None);
    }

    #[test]
    fn google_and_vertex_names() {
        let c = names_catalog();
        assert_eq!(
            full(&c, "gemini", "models/gemini-2.5-flash"),
            Some(("gemini/gemini-2.5-flash".into(), "normalised", vec!["path"]))
        );
        assert_eq!(
            full(&c, "vertex_ai", "publishers/google/models/gemini-2.0-flash-001"),
            Some(("vertex_ai/gemini-2.0-flash".into(), "normalised", vec!["path", "google_version"]))
        );
        assert_eq!(to(&c, "google", "gemini-2.0-flash-001").as_deref(), Some("vertex_ai/gemini-2.0-flash"));
        assert_eq!(
            to(&c, "vertex_ai", "projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022")
                .as_deref(),
            Some("vertex_ai-anthropic_models/vertex_ai/claude-3-5-haiku@20241022")
        );
        assert_eq!(
            to(&c, "vertex_ai", "claude-opus-4-5@20251101").as_deref(),
            Some("vertex_ai-anthropic_models/vertex_ai/claude-opus-4-5@20251101")
        );
        // Vertex's spelling of an Anthropic snapshot, priced by the provider asked for
        assert_eq!(
            full(&c, "anthropic", "claude-3-5-sonnet-v2@20241022"),
            Some(("anthropic/claude-3-5-sonnet-20241022".into(), "normalised", vec!["vertex_date"]))
        );
        assert_eq!(to(&c, "anthropic", "claude-3-5-sonnet-v2@20250101"), None);
        // -v2@date is 3.5 Sonnet v2 (20241022): the catalog has only the 20240620 one on Vertex
        assert_eq!(to(&c, "vertex_ai", "claude-3-5-sonnet-v2@20241022"), None);
        let why = c.unresolved_reason("vertex_ai", "claude-3-5-sonnet-v2@20241022");
        assert!(why.contains("vertex_ai/claude-3-5-sonnet@20240620"), "{why}");
        assert_eq!(to(&c, "gemini", "models/gemini-9-ultra"), None);
        assert_eq!(to(&c, "gemini", "gemini-2.5-flash-002").as_deref(), Some("gemini/gemini-2.5-flash"));
        assert_eq!(to(&c, "gemini", "gemini-2.5-flash-lite-001"), None);
    }

    #[test]
    fn fine_tunes() {
        let c = names_catalog();
        // the catalog's fine-tuning rate for the base
        assert_eq!(
            full(&c, "openai", "ft:gpt-4o-mini-2024-07-18:acme:support:9AbCdEf"),
            Some(("openai/ft:gpt-4o-mini-2024-07-18".into(), "fine_tune", vec!["fine_tune"]))
        );
        // no fine-tuning rate: priced as the base, and said so
        assert_eq!(
            full(&c, "openai", "ft:gpt-4.1-2025-04-14:acme::BcD"),
            Some(("openai/gpt-4.1-2025-04-14".into(), "fine_tune", vec!["fine_tune_base"]))
        );
        assert_eq!(to(&c, "openai", "gpt-4.1-2025-04-14.ft-0123abcd").as_deref(), Some("openai/gpt-4.1-2025-04-14"));
        assert!(c.resolve("openai", "ft:gpt-4.1-2025-04-14:acme::BcD").unwrap().fine_tune());
        // never another snapshot's fine-tune
        assert_eq!(to(&c, "openai", "ft:gpt-4o-mini-2025-01-01:acme::x"), None);
        assert_eq!(to(&c, "openai", "ft:gpt-3.5-turbo-0613:acme::x"), None);
    }

    #[test]
    fn router_names() {
        let c = names_catalog();
        // provider/model under a router, with OpenRouter's dotted Claude versions
        assert_eq!(
            full(&c, "openrouter", "anthropic/claude-sonnet-4.5"),
            Some(("anthropic/claude-sonnet-4-5".into(), "provider_prefix", vec!["dotted_version"]))
        );
        assert_eq!(
            to(&c, "openrouter", "anthropic/claude-3.5-sonnet-20241022").as_deref(),
            Some("anthropic/claude-3-5-sonnet-20241022")
        );
        assert_eq!(to(&c, "openrouter", "openai/gpt-4o:online").as_deref(), Some("openai/gpt-4o"));
        assert_eq!(
            to(&c, "openrouter", "anthropic/claude-sonnet-4.5:thinking").as_deref(),
            Some("anthropic/claude-sonnet-4-5")
        );
        assert_eq!(to(&c, "openrouter", "google/gemini-2.5-flash").as_deref(), Some("gemini/gemini-2.5-flash"));
        // :free is free only where the catalog lists it
        assert_eq!(
            to(&c, "openrouter", "meta-llama/llama-3.1-8b-instruct:free").as_deref(),
            Some("openrouter/meta-llama/llama-3.1-8b-instruct:free")
        );
        assert_eq!(to(&c, "openrouter", "openai/gpt-4o:free"), None);
        assert!(c.unresolved_reason("openrouter", "openai/gpt-4o:free").contains(":free"));
        // :nitro picks providers by speed: not priced as the model
        assert_eq!(to(&c, "openrouter", "openai/gpt-4o:nitro"), None);
        assert_eq!(to(&c, "openrouter", "anthropic/claude-sonnet-4.7"), None);
        // dots are only rewritten for Claude
        assert_eq!(to(&c, "openrouter", "openai/gpt-4.1-2025-04-14").as_deref(), Some("openai/gpt-4.1-2025-04-14"));
        assert_eq!(to(&c, "openrouter", "openai/gpt-4-1-2025-04-14"), None);
    }

    #[test]
    fn chat_entries_over_responses_entries() {
        let c = names_catalog();
        assert_eq!(
            full(&c, "perplexity", "perplexity/sonar"),
            Some(("perplexity/sonar".into(), "normalised", vec!["chat_over_responses"]))
        );
        assert_eq!(full(&c, "perplexity", "sonar"), Some(("perplexity/sonar".into(), "exact", vec![])));
        // no chat entry: the responses entry it is
        assert_eq!(
            full(&c, "perplexity", "perplexity/sonar-pro"),
            Some(("perplexity/perplexity/sonar-pro".into(), "exact", vec![]))
        );
    }

    #[test]
    fn fireworks_short_names() {
        let c = names_catalog();
        assert_eq!(
            full(&c, "fireworks", "llama-v3p1-8b-instruct"),
            Some((
                "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct".into(),
                "normalised",
                vec!["fireworks_path"]
            ))
        );
        assert_eq!(
            to(&c, "fireworks_ai", "accounts/fireworks/models/llama-v3p1-8b-instruct").as_deref(),
            Some("fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct")
        );
        assert_eq!(to(&c, "fireworks_ai", "llama-v3p1-70b-instruct"), None);
        assert_eq!(to(&c, "together_ai", "llama-v3p1-8b-instruct"), None);
    }

    #[test]
    fn unresolved_reasons() {
        let c = names_catalog();
        assert!(c.unresolved_reason("nobody", "gpt-4o").starts_with("unknown provider \"nobody\""));
        assert!(c.unresolved_reason("openai", "gpt-9").starts_with("no model \"gpt-9\" under provider openai"));
        assert_eq!(
            c.unresolved_reason("openrouter", "anthropic/claude-9"),
            "no model \"anthropic/claude-9\" under provider openrouter, nor \"claude-9\" under anthropic (the provider named in the model)"
        );
        let why = c.unresolved_reason("openai", "gpt-3.5-turbo-0613");
        assert!(why.contains("gpt-3.5-turbo-0125"), "{why}");
    }
}
