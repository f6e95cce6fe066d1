//! The per-backend index of enabled budgets, for matching inserted usage rows.
//!
//! A budget covers the rows that match all its non-NULL scope columns. Budgets
//! are indexed by (scope_mask, scope_key), the same generated columns the SQL
//! side uses, so a row costs one hash probe per scope shape in use, however
//! many budgets exist. Reloaded when `llm_cost.budgets` changes (see
//! `invalidation`).

use crate::budgets::pending_spend::SpendDelta;
use crate::pg::invalidation::{self, Cache};
use crate::pricing::catalog_cache::text;
use crate::pricing::decimal::Decimal;
use pgrx::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// The dimensions of a usage row a budget can scope on or be kept per.
#[derive(Clone, Copy, Default)]
pub struct RowDims<'a> {
    pub tenant_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub execution_id: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub model: Option<&'a str>,
    /// The row's tags, read only while some budget has tags.
    pub tags: Option<&'a serde_json::Value>,
}

/// What a budget's amount limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Cost,
    Tokens,
    Calls,
}

impl Unit {
    fn parse(unit: &str) -> Unit {
        match unit {
            "tokens" => Unit::Tokens,
            "calls" => Unit::Calls,
            _ => Unit::Cost,
        }
    }
}

pub struct Budget {
    pub id: i64,
    pub amount: Decimal,
    pub unit: Unit,
    pub period: String,
    pub timezone: String,
    /// For a rolling budget, the width of its window's slots in microseconds
    /// (`llm_cost.window_slot_seconds`); None for calendar periods.
    pub slot_micros: Option<i64>,
    /// Only rows whose tags contain these count (`usage.tags @> budgets.tags`).
    pub tags: Option<serde_json::Value>,
    /// The `per` dimension, as its column name.
    pub per: Option<String>,
    pub thresholds: Vec<Decimal>,
    /// (minute, period start) of the last lookup: rows arrive in time order, and
    /// every period boundary since 1980 falls on a whole minute (the last UTC
    /// offset with seconds, Liberia's, ended in 1972), so a row in the same
    /// minute has the same start.
    pub last_period: std::cell::Cell<(i64, i64)>,
}

impl Budget {
    pub fn is_rolling(&self) -> bool {
        self.slot_micros.is_some()
    }

    /// A running total's figure in this budget's unit.
    pub fn used(&self, total: &SpendDelta) -> Decimal {
        match self.unit {
            Unit::Cost => total.cost,
            Unit::Tokens => Decimal::from_i64(total.tokens),
            Unit::Calls => Decimal::from_i64(total.calls),
        }
    }

    fn covers_tags(&self, row: &RowDims) -> bool {
        match (&self.tags, row.tags) {
            (None, _) => true,
            (Some(wanted), Some(tags)) => jsonb_contains(tags, wanted),
            (Some(_), None) => false,
        }
    }

    /// The per value a row counts under: "" without per, None when the row
    /// lacks that dimension (a per budget does not cover it).
    pub fn per_value(&self, row: &RowDims) -> Option<String> {
        let Some(per) = self.per.as_deref() else { return Some(String::new()) };
        let v = match per {
            "tenant_id" => row.tenant_id,
            "project_id" => row.project_id,
            "user_id" => row.user_id,
            "agent_id" => row.agent_id,
            "session_id" => row.session_id,
            "execution_id" => row.execution_id,
            "operation" => row.operation,
            "provider" => return row.provider.map(str::to_lowercase),
            "model" => row.model,
            _ => None,
        };
        v.map(str::to_string)
    }
}

#[derive(Default)]
pub struct BudgetIndex {
    budgets: Vec<Budget>,
    /// Per scope shape in use (mask), the budgets by scope key.
    by_scope: Vec<(i32, FxHashMap<String, Vec<usize>>)>,
    /// Whether any budget has tags (only then are a row's tags read).
    pub any_tags: bool,
}

/// `a @> b` for jsonb, as Postgres decides it (JsonbDeepContains): an object
/// contains an object whose every key it has with a contained value; an array
/// contains an array each of whose elements one of its elements contains;
/// scalars contain only an equal scalar (numbers by value: 1 equals 1.0).
pub fn jsonb_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            b.iter().all(|(key, wanted)| a.get(key).is_some_and(|have| jsonb_contains(have, wanted)))
        }
        (Value::Array(a), Value::Array(b)) => b.iter().all(|wanted| a.iter().any(|have| jsonb_contains(have, wanted))),
        (Value::Number(a), Value::Number(b)) => same_number(&a.to_string(), &b.to_string()),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        (a, b) => a == b,
    }
}

/// Two JSON numbers equal as Postgres numerics (1 = 1.0), however long. jsonb
/// prints them without exponents, so past what Decimal holds (38 digits, 30
/// decimals) the digits without trailing fractional zeros compare instead.
fn same_number(a: &str, b: &str) -> bool {
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => without_trailing_zeros(a) == without_trailing_zeros(b),
    }
}

fn without_trailing_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// `llm_cost.scope_key(mask, ...)`, byte for byte: the parts of the set bits,
/// NULL as \x1e, joined by \x1f, provider lower-cased.
pub fn scope_key(mask: i32, row: &RowDims, out: &mut String) {
    out.clear();
    let parts = [row.tenant_id, row.project_id, row.user_id, row.agent_id, row.session_id, row.provider, row.model];
    for (bit, part) in parts.iter().enumerate() {
        if bit > 0 {
            out.push('\x1f');
        }
        if mask & (1 << bit) != 0 {
            match part {
                Some(v) if bit == 5 => out.push_str(&v.to_lowercase()),
                Some(v) => out.push_str(v),
                None => out.push('\x1e'),
            }
        }
    }
}

impl BudgetIndex {
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }

    pub fn budget(&self, id: i64) -> Option<&Budget> {
        // Loaded ORDER BY id.
        self.budgets.binary_search_by_key(&id, |b| b.id).ok().map(|i| &self.budgets[i])
    }

    /// Calls `f` for every budget covering the row (before its `per` check).
    pub fn for_each_match(&self, row: &RowDims, mut f: impl FnMut(&Budget)) {
        let mut key = String::new();
        for (mask, budgets) in &self.by_scope {
            scope_key(*mask, row, &mut key);
            if let Some(hits) = budgets.get(key.as_str()) {
                for &i in hits {
                    if self.budgets[i].covers_tags(row) {
                        f(&self.budgets[i]);
                    }
                }
            }
        }
    }
}

thread_local! {
    static BUDGETS: RefCell<Option<Rc<BudgetIndex>>> = const { RefCell::new(None) };
}

pub fn with_budgets<R>(f: impl FnOnce(&BudgetIndex) -> R) -> R {
    f(&invalidation::cached(&BUDGETS, Cache::Budgets, load))
}

fn load() -> BudgetIndex {
    // as the extension's owner: a role that may only insert usage still has budgets
    crate::pg::extension_owner::run_as_owner(|| {
        Spi::connect(|client| {
            invalidation::watch(client);
            let rows = client
                .select(
                    // unit, window and tags through to_jsonb: a database still on
                    // 0.2.0 (library updated, ALTER EXTENSION UPDATE not run yet)
                    // has no such columns
                    "SELECT id, amount::text, period, timezone, per, thresholds::text[], scope_mask, scope_key,
                        coalesce(to_jsonb(b) ->> 'unit', 'cost'),
                        CASE WHEN period = 'rolling'
                             THEN extract(epoch FROM (to_jsonb(b) ->> 'window')::interval)::text END,
                        to_jsonb(b) ->> 'tags'
                   FROM llm_cost.budgets AS b
                  WHERE enabled AND includes IN ('all', 'llm')
                  ORDER BY id",
                    None,
                    &[],
                )
                .unwrap_or_else(|e| error!("llm_cost: cannot read llm_cost.budgets: {e}"));
            let mut index = BudgetIndex::default();
            for r in rows {
                let thresholds: Vec<Option<String>> = r.get(6).ok().flatten().unwrap_or_default();
                let tags = r.get::<String>(11).ok().flatten().map(|t| {
                    serde_json::from_str(&t).unwrap_or_else(|e| error!("llm_cost: unreadable budget tags {t}: {e}"))
                });
                index.any_tags |= tags.is_some();
                let budget = Budget {
                    id: r.get::<i64>(1).ok().flatten().unwrap_or_default(),
                    amount: Decimal::parse(&text(&r, 2)).unwrap_or(Decimal::ZERO),
                    unit: Unit::parse(&text(&r, 9)),
                    period: text(&r, 3),
                    timezone: text(&r, 4),
                    slot_micros: r.get::<String>(10).ok().flatten().map(|seconds| slot_micros(&seconds)),
                    tags,
                    per: r.get::<String>(5).ok().flatten(),
                    thresholds: thresholds.iter().flatten().filter_map(|t| Decimal::parse(t).ok()).collect(),
                    last_period: std::cell::Cell::new((i64::MIN, 0)),
                };
                let mask = r.get::<i32>(7).ok().flatten().unwrap_or_default();
                let key = text(&r, 8);
                let shape = match index.by_scope.iter().position(|(m, _)| *m == mask) {
                    Some(i) => i,
                    None => {
                        index.by_scope.push((mask, FxHashMap::default()));
                        index.by_scope.len() - 1
                    }
                };
                index.by_scope[shape].1.entry(key).or_default().push(index.budgets.len());
                index.budgets.push(budget);
            }
            index
        })
    })
}

/// `llm_cost.window_slot_seconds` (sql/budgets.sql), in microseconds, from a
/// window's length in seconds: 1 s up to a one-hour window, window/3600
/// beyond, in whole seconds. The two must agree (a pg_test compares them).
pub fn slot_micros(window_seconds: &str) -> i64 {
    let seconds =
        Decimal::parse(window_seconds).unwrap_or_else(|_| error!("llm_cost: unreadable window {window_seconds}"));
    let per_3600 = seconds.mantissa() / 10i128.pow(seconds.scale()) / 3600;
    (per_3600.max(1) as i64) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::jsonb_contains;

    fn contains(a: &str, b: &str) -> bool {
        jsonb_contains(&serde_json::from_str(a).unwrap(), &serde_json::from_str(b).unwrap())
    }

    #[test]
    fn numbers_compare_by_value_however_long() {
        assert!(contains(r#"{"n": 1.0}"#, r#"{"n": 1}"#));
        // 43 digits: past i128, still equal to 1 for Postgres
        assert!(contains(r#"{"n": 1}"#, r#"{"n": 1.000000000000000000000000000000000000000000}"#));
        assert!(!contains(r#"{"n": 1.000000000000000000000000000000000000000001}"#, r#"{"n": 1}"#));
        // 35 decimals: past Decimal's 30
        let tiny = r#"{"x": 0.0000000000000000000000000000000001}"#;
        assert!(contains(r#"{"x": 0.00000000000000000000000000000000010}"#, tiny));
        assert!(!contains(r#"{"x": 0.00000000000000000000000000000000011}"#, tiny));
        let big = r#"{"n": 100000000000000000000000000000000000000000}"#;
        assert!(contains(big, r#"{"n": 100000000000000000000000000000000000000000.0}"#));
        assert!(!contains(r#"{"n": 10}"#, r#"{"n": 1}"#));
    }
}
