//! Sums of `usage.units` for the rollups and dashboards: the `units_sum`
//! aggregates (declared below, used in sql/analytics.sql) fold each call's
//! units into one object of totals per unit name. Only quantities are summed
//! (token subsets and counted units); qualifiers such as `size` are per call
//! and are dropped.

use crate::pricing::decimal::Decimal;
use crate::pricing::units::{Counted, SUBSET_NAMES};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{Map, Number, Value};
use std::str::FromStr;

fn is_quantity(name: &str) -> bool {
    SUBSET_NAMES.contains(&name) || Counted::ALL.iter().any(|c| c.name() == name)
}

/// `total + sign * units`, per unit name; None when nothing is left. Values
/// that are not exact numbers are skipped (the table's CHECK admits none).
pub fn merge(total: Option<&Value>, units: Option<&Value>, sign: i64) -> Option<Value> {
    let mut sums: Vec<(String, Decimal)> = Vec::new();
    let mut add = |obj: &Map<String, Value>, factor: i64| {
        for (name, v) in obj {
            let Value::Number(n) = v else { continue };
            if !is_quantity(name) {
                continue;
            }
            let Ok(d) = Decimal::parse(&n.to_string()).and_then(|d| d.checked_mul_i64(factor)) else { continue };
            match sums.iter_mut().find(|(k, _)| k == name) {
                Some((_, s)) => *s = s.checked_add(d).unwrap_or(*s),
                None => sums.push((name.clone(), d)),
            }
        }
    };
    if let Some(Value::Object(t)) = total {
        add(t, 1);
    }
    if let Some(Value::Object(u)) = units {
        add(u, sign);
    }
    let obj: Map<String, Value> = sums
        .into_iter()
        .filter(|(_, d)| !d.is_zero())
        .map(|(k, d)| {
            (
                k,
                Value::Number(
                    Number::from_str(&d.normalized().to_string()).expect("a Decimal prints as a JSON number"),
                ),
            )
        })
        .collect();
    (!obj.is_empty()).then_some(Value::Object(obj))
}

/// The transition function of `units_sum(units jsonb, sign integer)`: adds a
/// call's units (times sign, -1 to take a row out of a rollup) to the total.
#[pg_extern(immutable, parallel_safe, name = "_units_merge")]
fn units_merge(total: Option<JsonB>, units: Option<JsonB>, sign: i32) -> Option<JsonB> {
    if units.is_none() {
        return total;
    }
    merge(total.as_ref().map(|t| &t.0), units.as_ref().map(|u| &u.0), sign as i64).map(JsonB)
}

/// `units_sum(units jsonb)`'s transition and combine function: `total + units`.
#[pg_extern(immutable, parallel_safe, name = "_units_merge")]
fn units_merge_plus(total: Option<JsonB>, units: Option<JsonB>) -> Option<JsonB> {
    units_merge(total, units, 1)
}

// The units_sum aggregates over these two functions. CREATE EXTENSION runs
// this before sql/analytics.sql, which requires it by name (src/lib.rs).
extension_sql!(
    r#"
-- units_sum(units): the calls' units summed per unit name (exact); units_sum(units, sign) takes rows out with sign -1.
CREATE AGGREGATE llm_cost.units_sum(jsonb) (
    SFUNC = llm_cost._units_merge, STYPE = jsonb, COMBINEFUNC = llm_cost._units_merge, PARALLEL = SAFE);
CREATE AGGREGATE llm_cost.units_sum(jsonb, integer) (SFUNC = llm_cost._units_merge, STYPE = jsonb, PARALLEL = SAFE);
COMMENT ON FUNCTION llm_cost._units_merge(jsonb, jsonb) IS
  'Internal: units_sum''s transition and combine function, total + units per unit name.';
COMMENT ON FUNCTION llm_cost._units_merge(jsonb, jsonb, integer) IS
  'Internal: the signed units_sum''s transition function, total + sign * units per unit name.';
COMMENT ON AGGREGATE llm_cost.units_sum(jsonb) IS
  'Sums calls'' units per unit name (token subsets and counted units, exact); qualifiers such as size are dropped. NULL when there are none.';
COMMENT ON AGGREGATE llm_cost.units_sum(jsonb, integer) IS
  'Internal: units_sum with a sign per row (-1 takes a row out of a rollup).';
"#,
    name = "units_sum",
    requires = [units_merge, units_merge_plus]
);

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn sums_quantities_and_drops_qualifiers() {
        let a = json!({"web_search_queries": 2, "audio_seconds": 1.5, "size": "1024x1024"});
        let b = json!({"web_search_queries": 1, "audio_seconds": 0.25, "images": 3, "quality": "hd"});
        let s = merge(Some(&a), Some(&b), 1).unwrap();
        assert_eq!(s, json!({"web_search_queries": 3, "audio_seconds": 1.75, "images": 3}));
        // taking b out again gives a's quantities back, zeros dropped
        assert_eq!(merge(Some(&s), Some(&b), -1).unwrap(), json!({"web_search_queries": 2, "audio_seconds": 1.5}));
        assert_eq!(merge(Some(&json!({"images": 1})), Some(&json!({"images": 1})), -1), None);
        assert_eq!(merge(None, Some(&json!({"size": "x"})), 1), None);
    }
}
