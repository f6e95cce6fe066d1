//! Model and provider names as apps log them, rewritten into the forms the
//! catalog files them under. Pure string functions: `catalog` decides when to
//! use them (only after the name as written found nothing) and checks each
//! rewritten name against the catalog, so a rule never invents a model.
//!
//! Each rule is one small function below; `name_forms` chains them.

/// One rewrite a name went through; several can apply to one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Rule {
    /// `arn:aws:bedrock:<region>:<account>:inference-profile/<id>` or `foundation-model/<id>` → `<id>`.
    BedrockArn = 1,
    /// `models/x`, `publishers/google/models/x`, `projects/p/locations/l/publishers/anthropic/models/x`,
    /// `accounts/fireworks/models/x` → `x`.
    Path = 2,
    /// OpenRouter variants priced as their model: `:beta`, `:thinking`, `:online`, `:extended`.
    RouterVariant = 4,
    /// Bedrock cross-region inference profiles: `us.`, `eu.`, `apac.`, `global.`, `us-gov.`, `jp.`, `au.`, ... .
    RegionPrefix = 8,
    /// Bedrock model versions: `-v1:0`, `-v2:0`, `-v1`, `:0` dropped, or added to a dated id that lacks one.
    BedrockVersion = 16,
    /// Vertex AI's `@` dates: `claude-3-5-sonnet-v2@20241022` → `claude-3-5-sonnet-20241022`.
    VertexDate = 32,
    /// Google's stable version numbers: `gemini-2.0-flash-001` → `gemini-2.0-flash`.
    GoogleVersion = 64,
    /// Versions written with dots (OpenRouter): `claude-sonnet-4.5` → `claude-sonnet-4-5`.
    DottedVersion = 128,
    /// Fireworks' short names: `llama-v3p1-8b-instruct` → `accounts/fireworks/models/llama-v3p1-8b-instruct`.
    FireworksPath = 256,
    /// A fine-tuned model priced by the catalog's fine-tuning rate for its base (`ft:<base>` rows).
    FineTune = 512,
    /// A fine-tuned model priced as its base model (the catalog has no fine-tuning rate for it).
    FineTuneBase = 1024,
    /// The name matched a `responses`-mode entry; the provider's chat/completion entry of the same model wins.
    ChatOverResponses = 2048,
}

impl Rule {
    pub const ALL: [Rule; 12] = [
        Rule::BedrockArn,
        Rule::Path,
        Rule::RouterVariant,
        Rule::RegionPrefix,
        Rule::BedrockVersion,
        Rule::VertexDate,
        Rule::GoogleVersion,
        Rule::DottedVersion,
        Rule::FireworksPath,
        Rule::FineTune,
        Rule::FineTuneBase,
        Rule::ChatOverResponses,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::BedrockArn => "bedrock_arn",
            Rule::Path => "path",
            Rule::RouterVariant => "router_variant",
            Rule::RegionPrefix => "region_prefix",
            Rule::BedrockVersion => "bedrock_version",
            Rule::VertexDate => "vertex_date",
            Rule::GoogleVersion => "google_version",
            Rule::DottedVersion => "dotted_version",
            Rule::FireworksPath => "fireworks_path",
            Rule::FineTune => "fine_tune",
            Rule::FineTuneBase => "fine_tune_base",
            Rule::ChatOverResponses => "chat_over_responses",
        }
    }
}

/// A set of rules, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules(pub u16);

impl Rules {
    pub fn with(self, r: Rule) -> Rules {
        Rules(self.0 | r as u16)
    }
    pub fn has(self, r: Rule) -> bool {
        self.0 & r as u16 != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn names(self) -> Vec<&'static str> {
        Rule::ALL.iter().filter(|r| self.has(**r)).map(|r| r.name()).collect()
    }
}

/// The `<id>` of a Bedrock foundation-model or inference-profile ARN. Provisioned
/// throughput and application inference profiles have opaque ids: `None`.
pub fn strip_bedrock_arn(m: &str) -> Option<&str> {
    let rest = m.strip_prefix("arn:")?;
    // partition : service : region : account : resource (the id itself may hold ':')
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, _account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if service != "bedrock" {
        return None;
    }
    let (kind, id) = resource.split_once('/')?;
    matches!(kind, "foundation-model" | "inference-profile").then_some(id).filter(|id| !id.is_empty())
}

/// The model after the last `/models/` of a resource path, or after a leading `models/`.
pub fn strip_path(m: &str) -> Option<&str> {
    let name = match m.rfind("/models/") {
        Some(i) => &m[i + "/models/".len()..],
        None => m.strip_prefix("models/")?,
    };
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// OpenRouter's variant suffixes that bill as the model itself. `:free` is not
/// one of them (it is free only where the catalog lists it), nor are `:nitro`
/// and `:floor` (they pick providers by speed or price, so the rate varies).
pub fn strip_router_variant(m: &str) -> Option<&str> {
    ["beta", "thinking", "online", "extended"].iter().find_map(|s| {
        let base = m.strip_suffix(s)?.strip_suffix(':')?;
        (!base.is_empty()).then_some(base)
    })
}

/// True for OpenRouter's `:free` variant.
pub fn is_free_variant(m: &str) -> bool {
    m.ends_with(":free")
}

/// Bedrock geographic and global cross-region inference profile prefixes.
pub const REGION_PREFIXES: [&str; 11] =
    ["us-gov.", "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "in.", "uk.", "sa."];

/// `us.anthropic.claude-...` → `anthropic.claude-...`: only before a Bedrock id
/// (`vendor.model` with a known vendor).
pub fn strip_region_prefix(m: &str) -> Option<&str> {
    REGION_PREFIXES.iter().find_map(|p| m.strip_prefix(p).filter(|rest| is_bedrock_id(rest)))
}

/// Model vendors in Bedrock ids (`anthropic.claude-...`, `amazon.nova-...`).
pub const BEDROCK_VENDORS: [&str; 20] = [
    "ai21",
    "amazon",
    "anthropic",
    "cohere",
    "deepseek",
    "google",
    "luma",
    "meta",
    "minimax",
    "mistral",
    "moonshot",
    "moonshotai",
    "nvidia",
    "openai",
    "qwen",
    "stability",
    "twelvelabs",
    "writer",
    "xai",
    "zai",
];

/// True for a Bedrock model id: `vendor.model` with a known vendor.
pub fn is_bedrock_id(m: &str) -> bool {
    m.split_once('.').is_some_and(|(vendor, rest)| !rest.is_empty() && BEDROCK_VENDORS.contains(&vendor))
}

/// A trailing Bedrock model version: `-v2:0`, `-v1`, `:0` → the id without it
/// (Bedrock ids only: `deepseek-v3` is a model, not a version).
pub fn strip_bedrock_version(m: &str) -> Option<&str> {
    if !is_bedrock_id(m) {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // -vN:M
    if let Some((head, minor)) = m.rsplit_once(':') {
        if digits(minor) {
            if let Some((base, v)) = head.rsplit_once("-v") {
                if digits(v) && !base.is_empty() {
                    return Some(base);
                }
            }
            return (!head.is_empty()).then_some(head);
        }
    }
    // -vN
    let (base, v) = m.rsplit_once("-v")?;
    (digits(v) && !base.is_empty()).then_some(base)
}

/// Versions to try on a dated Bedrock id written without one
/// (`anthropic.claude-3-5-sonnet-20241022` → `...-v2:0`): the date already names
/// the snapshot, so any version of it is the same model. Undated ids get none.
pub fn with_bedrock_versions(m: &str) -> Vec<String> {
    let dated = m.split('-').any(|part| part.len() == 8 && part.bytes().all(|b| b.is_ascii_digit()));
    if !dated || !is_bedrock_id(m) || strip_bedrock_version(m).is_some() {
        return Vec::new();
    }
    ["-v1:0", "-v2:0", "-v1"].iter().map(|v| format!("{m}{v}")).collect()
}

/// Vertex AI names a snapshot `name@YYYYMMDD`, sometimes with a `-vN` before the
/// `@` (`claude-3-5-sonnet-v2@20241022`, Anthropic's `claude-3-5-sonnet-20241022`):
/// the names to try, `name@date` then `name-date`.
pub fn vertex_date_forms(m: &str) -> Vec<String> {
    let Some((base, date)) = m.rsplit_once('@') else {
        return Vec::new();
    };
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) || base.is_empty() {
        return Vec::new();
    }
    let unversioned = match base.rsplit_once("-v") {
        Some((b, v)) if !b.is_empty() && !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => base,
    };
    let mut out = Vec::new();
    if unversioned != base {
        out.push(format!("{unversioned}@{date}"));
    }
    out.push(format!("{unversioned}-{date}"));
    out
}

/// Google's stable version number: `gemini-2.0-flash-001` → `gemini-2.0-flash`
/// (the undated name points at the stable version). Only Gemini
/// models: elsewhere `-002` is part of the name (`davinci-002` is not `davinci`).
pub fn strip_google_version(m: &str) -> Option<&str> {
    // (Google's embedding models' -004/-005 are different models, not versions.)
    if !m.rsplit('/').next().unwrap_or(m).starts_with("gemini") {
        return None;
    }
    let (base, v) = m.rsplit_once('-')?;
    (v.len() == 3 && v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()) && !base.is_empty()).then_some(base)
}

/// Claude versions written with dots, as OpenRouter does: `claude-sonnet-4.5` →
/// `claude-sonnet-4-5`, `claude-3.5-sonnet` → `claude-3-5-sonnet`.
pub fn dash_claude_version(m: &str) -> Option<String> {
    if !m.contains("claude") {
        return None;
    }
    let b = m.as_bytes();
    let mut out = String::with_capacity(m.len());
    let mut changed = false;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' && i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() {
            out.push('-');
            changed = true;
        } else {
            out.push(c as char);
        }
    }
    changed.then_some(out)
}

/// The base model of a fine-tune id: OpenAI's `ft:<base>:<org>:<name>:<id>`
/// (or `ft:<base>`), Azure OpenAI's `<base>.ft-<id>`.
pub fn fine_tune_base(m: &str) -> Option<&str> {
    if let Some(rest) = m.strip_prefix("ft:") {
        let base = rest.split(':').next()?;
        return (!base.is_empty()).then_some(base);
    }
    let i = m.find(".ft-")?;
    (i > 0).then_some(&m[..i])
}

/// The forms to look a name up by, in order, each with the rules that made it:
/// the chain ARN → path → router variant → region prefix → Bedrock version →
/// Vertex date → Google version → dotted Claude version, every step from the
/// previous one's result. Fine-tunes and Fireworks short names are handled by
/// the caller, which knows the provider.
pub fn name_forms(model: &str) -> Vec<(String, Rules)> {
    let mut out: Vec<(String, Rules)> = Vec::new();
    let mut cur = model.to_string();
    let mut rules = Rules::default();
    let step =
        |cur: &mut String, rules: &mut Rules, rule: Rule, next: Option<String>, out: &mut Vec<(String, Rules)>| {
            if let Some(next) = next {
                if next != *cur {
                    *cur = next;
                    *rules = rules.with(rule);
                    out.push((cur.clone(), *rules));
                }
            }
        };
    let next = strip_bedrock_arn(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::BedrockArn, next, &mut out);
    let next = strip_path(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::Path, next, &mut out);
    let next = strip_router_variant(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::RouterVariant, next, &mut out);
    let next = strip_region_prefix(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::RegionPrefix, next, &mut out);
    // versions added to a dated id are tried, not chained
    for v in with_bedrock_versions(&cur) {
        out.push((v, rules.with(Rule::BedrockVersion)));
    }
    let next = strip_bedrock_version(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::BedrockVersion, next, &mut out);
    let mut vertex = vertex_date_forms(&cur);
    if let Some(last) = vertex.pop() {
        for form in vertex {
            out.push((form, rules.with(Rule::VertexDate)));
        }
        step(&mut cur, &mut rules, Rule::VertexDate, Some(last), &mut out);
    }
    let next = strip_google_version(&cur).map(str::to_string);
    step(&mut cur, &mut rules, Rule::GoogleVersion, next, &mut out);
    let next = dash_claude_version(&cur);
    step(&mut cur, &mut rules, Rule::DottedVersion, next, &mut out);
    out
}

/// API suffixes the Vercel AI SDK appends to a provider (`openai.chat`,
/// `anthropic.messages`, `google.vertex.chat`): dropped when the full name is
/// neither a provider nor an alias.
pub const PROVIDER_API_SUFFIXES: [&str; 11] = [
    ".chat",
    ".responses",
    ".completion",
    ".completions",
    ".messages",
    ".embedding",
    ".embeddings",
    ".text",
    ".image",
    ".transcription",
    ".speech",
];

pub fn strip_provider_api_suffix(p: &str) -> Option<&str> {
    PROVIDER_API_SUFFIXES.iter().find_map(|s| p.strip_suffix(s)).filter(|b| !b.is_empty())
}

/// Catalog providers that sell the same models under another name in the price
/// list, searched (after the provider itself and its family) in this order:
/// LiteLLM files Bedrock's Converse-only models (every current Claude, Nova,
/// Llama 4) under `bedrock_converse`, Cohere's chat models under `cohere_chat`,
/// Google's models under either `gemini` (AI Studio) or `vertex_ai` (Vertex
/// AI), mostly at the same list prices (where they differ the catalog ships
/// the model under both: scripts/gen_catalog.py), and OpenAI's legacy
/// completion models under `text-completion-openai`.
pub const SIBLING_PROVIDERS: [(&str, &[&str]); 7] = [
    ("bedrock", &["bedrock_converse"]),
    ("bedrock_converse", &["bedrock"]),
    ("cohere", &["cohere_chat"]),
    ("cohere_chat", &["cohere"]),
    ("gemini", &["vertex_ai", "vertex_ai-language-models"]),
    ("vertex_ai", &["gemini"]),
    // LiteLLM files OpenAI's legacy completion models (davinci-002, their
    // ft: rates) under text-completion-openai; apps log them as openai.
    ("openai", &["text-completion-openai"]),
];

pub fn siblings(provider: &str) -> &'static [&'static str] {
    SIBLING_PROVIDERS.iter().find(|(p, _)| *p == provider).map(|(_, s)| *s).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_arns() {
        assert_eq!(
            strip_bedrock_arn(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
            ),
            Some("us.anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
        assert_eq!(
            strip_bedrock_arn("arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(
            strip_bedrock_arn("arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.nova-pro-v1:0"),
            Some("amazon.nova-pro-v1:0")
        );
        // opaque ids, other services, plain names
        assert_eq!(strip_bedrock_arn("arn:aws:bedrock:us-east-1:123:application-inference-profile/a1b2c3"), None);
        assert_eq!(strip_bedrock_arn("arn:aws:bedrock:us-east-1:123:provisioned-model/xyz"), None);
        assert_eq!(strip_bedrock_arn("arn:aws:sagemaker:us-east-1:123:endpoint/my-llm"), None);
        assert_eq!(strip_bedrock_arn("anthropic.claude-3-haiku-20240307-v1:0"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(strip_path("models/gemini-2.5-flash"), Some("gemini-2.5-flash"));
        assert_eq!(strip_path("publishers/google/models/gemini-2.0-flash-001"), Some("gemini-2.0-flash-001"));
        assert_eq!(
            strip_path("projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022"),
            Some("claude-3-5-sonnet-v2@20241022")
        );
        assert_eq!(strip_path("accounts/fireworks/models/llama-v3p1-8b-instruct"), Some("llama-v3p1-8b-instruct"));
        assert_eq!(strip_path("gemini-2.5-flash"), None);
        assert_eq!(strip_path("meta-llama/Llama-3-8B"), None);
        assert_eq!(strip_path("models/"), None);
    }

    #[test]
    fn router_variants() {
        assert_eq!(strip_router_variant("claude-3.7-sonnet:thinking"), Some("claude-3.7-sonnet"));
        assert_eq!(strip_router_variant("claude-3-opus:beta"), Some("claude-3-opus"));
        assert_eq!(strip_router_variant("gpt-4o:online"), Some("gpt-4o"));
        assert_eq!(strip_router_variant("llama-3.1-8b-instruct:free"), None);
        assert_eq!(strip_router_variant("llama-3.1-8b-instruct:nitro"), None);
        assert_eq!(strip_router_variant("gpt-4o"), None);
        assert!(is_free_variant("llama-3.1-8b-instruct:free"));
        assert!(!is_free_variant("gpt-4o"));
    }

    #[test]
    fn region_prefixes() {
        assert_eq!(
            strip_region_prefix("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some("anthropic.claude-3-5-haiku-20241022-v1:0")
        );
        assert_eq!(
            strip_region_prefix("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0"),
            Some("anthropic.claude-3-5-sonnet-20240620-v1:0")
        );
        assert_eq!(strip_region_prefix("apac.amazon.nova-lite-v1:0"), Some("amazon.nova-lite-v1:0"));
        assert_eq!(
            strip_region_prefix("global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            Some("anthropic.claude-sonnet-4-5-20250929-v1:0")
        );
        assert_eq!(strip_region_prefix("jp.anthropic.claude-sonnet-4-6"), Some("anthropic.claude-sonnet-4-6"));
        // no vendor.model after it, or not a prefix
        assert_eq!(strip_region_prefix("us.gpt"), None);
        assert_eq!(strip_region_prefix("anthropic.claude-v2"), None);
        assert_eq!(strip_region_prefix("usa.anthropic.claude"), None);
        assert_eq!(strip_region_prefix("eu.acme.model-1"), None);
    }

    #[test]
    fn bedrock_versions() {
        assert_eq!(
            strip_bedrock_version("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            Some("anthropic.claude-3-5-sonnet-20241022")
        );
        assert_eq!(strip_bedrock_version("anthropic.claude-opus-4-6-v1"), Some("anthropic.claude-opus-4-6"));
        assert_eq!(strip_bedrock_version("openai.gpt-oss-120b-1:0"), Some("openai.gpt-oss-120b-1"));
        assert_eq!(strip_bedrock_version("anthropic.claude-sonnet-4-6"), None);
        assert_eq!(strip_bedrock_version("deepseek.v3.2"), None);
        assert_eq!(strip_bedrock_version("deepseek-v3"), None);
        assert_eq!(strip_bedrock_version("kimi-k2:0"), None);
        assert_eq!(
            with_bedrock_versions("anthropic.claude-3-5-sonnet-20241022"),
            vec![
                "anthropic.claude-3-5-sonnet-20241022-v1:0".to_string(),
                "anthropic.claude-3-5-sonnet-20241022-v2:0".into(),
                "anthropic.claude-3-5-sonnet-20241022-v1".into()
            ]
        );
        // undated ids get no guessed version; ids with one keep theirs
        assert!(with_bedrock_versions("amazon.nova-pro").is_empty());
        assert!(with_bedrock_versions("anthropic.claude-3-5-sonnet-20241022-v2:0").is_empty());
    }

    #[test]
    fn vertex_dates() {
        assert_eq!(
            vertex_date_forms("claude-3-5-sonnet-v2@20241022"),
            vec!["claude-3-5-sonnet@20241022".to_string(), "claude-3-5-sonnet-20241022".into()]
        );
        assert_eq!(vertex_date_forms("claude-opus-4-5@20251101"), vec!["claude-opus-4-5-20251101".to_string()]);
        assert!(vertex_date_forms("claude-opus-4-6@default").is_empty());
        assert!(vertex_date_forms("claude-opus-4-6").is_empty());
    }

    #[test]
    fn google_versions() {
        assert_eq!(strip_google_version("gemini-2.0-flash-001"), Some("gemini-2.0-flash"));
        assert_eq!(strip_google_version("gemini-1.5-pro-002"), Some("gemini-1.5-pro"));
        assert_eq!(strip_google_version("gemini-2.5-flash"), None);
        assert_eq!(strip_google_version("mistral-large-2411"), None);
        assert_eq!(strip_google_version("qwen-235"), None);
        assert_eq!(strip_google_version("davinci-002"), None, "not a Google model");
        assert_eq!(strip_google_version("text-embedding-005"), None, "a model of its own");
    }

    #[test]
    fn dotted_claude_versions() {
        assert_eq!(dash_claude_version("claude-sonnet-4.5").as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(dash_claude_version("claude-3.5-sonnet-20241022").as_deref(), Some("claude-3-5-sonnet-20241022"));
        assert_eq!(dash_claude_version("claude-sonnet-4-5"), None);
        assert_eq!(dash_claude_version("gpt-4.1"), None);
    }

    #[test]
    fn fine_tunes() {
        assert_eq!(
            fine_tune_base("ft:gpt-4o-mini-2024-07-18:acme:support-bot:9abcDEF"),
            Some("gpt-4o-mini-2024-07-18")
        );
        assert_eq!(fine_tune_base("ft:gpt-3.5-turbo-0125"), Some("gpt-3.5-turbo-0125"));
        assert_eq!(fine_tune_base("gpt-4o-mini-2024-07-18.ft-0123456789abcdef"), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(fine_tune_base("gpt-4o-mini"), None);
        assert_eq!(fine_tune_base("ft:"), None);
    }

    #[test]
    fn chained_forms() {
        let forms =
            name_forms("arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0");
        let names: Vec<&str> = forms.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                "anthropic.claude-3-5-sonnet-20241022"
            ]
        );
        assert_eq!(forms[1].1.names(), ["bedrock_arn", "region_prefix"]);
        let forms = name_forms("publishers/google/models/gemini-2.0-flash-001");
        assert_eq!(forms.last().unwrap().0, "gemini-2.0-flash");
        assert_eq!(forms.last().unwrap().1.names(), ["path", "google_version"]);
        assert!(name_forms("gpt-4o").is_empty());
    }

    #[test]
    fn provider_api_suffixes() {
        assert_eq!(strip_provider_api_suffix("openai.chat"), Some("openai"));
        assert_eq!(strip_provider_api_suffix("openai.responses"), Some("openai"));
        assert_eq!(strip_provider_api_suffix("anthropic.messages"), Some("anthropic"));
        assert_eq!(strip_provider_api_suffix("google.vertex.chat"), Some("google.vertex"));
        assert_eq!(strip_provider_api_suffix("openai"), None);
        assert_eq!(strip_provider_api_suffix(".chat"), None);
        assert_eq!(siblings("bedrock"), ["bedrock_converse"]);
        assert_eq!(siblings("openai"), ["text-completion-openai"]);
        assert!(siblings("anthropic").is_empty());
    }
}
