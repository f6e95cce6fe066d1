//! The price catalog held in memory, and how model names resolve against it.
//!
//! Pure Rust: `catalog_cache` fills it from `llm_cost.prices` and the alias
//! tables; this module only answers "which price row prices this call".
//!
//! Resolution order (the first step that finds a model wins):
//! 1. exact `(provider, model)`, then the same ignoring the model name's case;
//! 2. `llm_cost.model_aliases`;
//! 3. dated and suffixed variants: `gpt-4o-2024-08-06` → `gpt-4o`,
//!    `claude-3-5-sonnet-latest` → the newest dated `claude-3-5-sonnet-YYYYMMDD`;
//! 4. the provider prefix form: `openai/gpt-4o` (in the model, with any provider);
//! 5. the provider's family: `vertex_ai` also finds `vertex_ai-language-models`.
//!
//! Provider names are case-insensitive and pass through `llm_cost.provider_aliases`
//! (`google` → `gemini`) first.

use crate::formula::{PgTimestamp, PriceRow, ServiceTier};
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
}

#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub model: usize,
    pub by: ResolvedBy,
}

#[derive(Default)]
pub struct Catalog {
    models: Vec<ModelPrices>,
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
    /// Builds the catalog from price rows (any order) and the alias tables.
    pub fn new(
        rows: Vec<PriceRow>,
        model_aliases: Vec<(String, String, String, String)>,
        provider_aliases: Vec<(String, String)>,
    ) -> Catalog {
        let mut c = Catalog::default();
        c.provider_aliases = provider_aliases.into_iter().collect();
        for row in rows {
            let key = (row.provider.clone(), row.model.clone());
            let idx = *c.exact.entry(key).or_insert_with(|| {
                c.models.push(ModelPrices { provider: row.provider.clone(), model: row.model.clone(), ..Default::default() });
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

    fn canonical_provider(&self, provider: &str) -> String {
        let p = provider.trim().to_lowercase();
        self.provider_aliases.get(&p).cloned().unwrap_or(p)
    }

    fn resolve_uncached(&self, provider: &str, model: &str) -> Option<Resolved> {
        let p = self.canonical_provider(provider);
        let model = model.trim();
        if let Some(r) = self.resolve_in(&p, model) {
            return Some(r);
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            let q = self.canonical_provider(prefix);
            if self.folded.contains_key(&q) {
                if let Some(r) = self.resolve_in(&q, rest) {
                    return Some(Resolved { by: ResolvedBy::ProviderPrefix, ..r });
                }
            }
        }
        let family = format!("{p}-");
        let start = self.providers.partition_point(|name| name.as_str() < family.as_str());
        // LiteLLM files some models under a family member but keeps the root in
        // the name (`vertex_ai-anthropic_models` / `vertex_ai/claude-3-5-haiku`).
        let rooted = format!("{p}/{model}");
        for name in self.providers[start..].iter().take_while(|name| name.starts_with(&family)) {
            if let Some(r) = self.resolve_in(name, model).or_else(|| self.resolve_in(name, &rooted)) {
                return Some(Resolved { by: ResolvedBy::ProviderFamily, ..r });
            }
        }
        None
    }

    /// Steps 1–3 within one provider.
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
        let base = strip_version_suffix(&lower)?;
        let models = self.folded.get(provider)?;
        if let Some(&idx) = models.get(base) {
            return Some(Resolved { model: idx, by: ResolvedBy::Variant });
        }
        // No undated model: take the newest dated one (`-latest`, or a date we do not know).
        newest_dated_variant(models, base).map(|idx| Resolved { model: idx, by: ResolvedBy::Variant })
    }

    fn direct(&self, provider: &str, model: &str) -> Option<Resolved> {
        if let Some(&idx) = self.exact.get(&(provider.to_string(), model.to_string())) {
            return Some(Resolved { model: idx, by: ResolvedBy::Exact });
        }
        let idx = *self.folded.get(provider)?.get(&model.to_lowercase())?;
        Some(Resolved { model: idx, by: ResolvedBy::CaseInsensitive })
    }
}

/// `name-latest`, `name-2024-08-06`, `name-20241022`, `name@20241022`, `name-0613` → `name`.
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
    if n > 11 && sep(n - 11) && digits_at(n - 10, 4) && b[n - 6] == b'-' && digits_at(n - 5, 2) && b[n - 3] == b'-' && digits_at(n - 2, 2) {
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

fn newest_dated_variant(models: &BTreeMap<String, usize>, base: &str) -> Option<usize> {
    let prefix = base.to_string();
    models
        .range(prefix.clone()..)
        .take_while(|(name, _)| name.starts_with(&prefix))
        .filter(|(name, _)| date_suffix_start(name) == Some(base.len()))
        // Compare the dates' digits, so 2024-10-22 and 20241022 order together.
        .max_by_key(|(name, _)| name[base.len()..].bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>())
        .map(|(_, &idx)| idx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;

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
        )
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
        assert_eq!(resolve(&c, "vertex_ai", "claude-3-5-haiku"), Some(("vertex_ai/claude-3-5-haiku".into(), ProviderFamily)));
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
}
