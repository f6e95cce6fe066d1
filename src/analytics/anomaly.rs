//! Spend anomalies: days whose spend breaks from the scope's own history.
//!
//! For each day judged, the baseline is the 28 days before it:
//! - a weekday pattern: each weekday's median spend over the overall median,
//!   so a quiet Sunday is compared with Sundays, not with Tuesdays;
//! - a robust trend of the de-seasonalised spend (Theil-Sen: the median of the
//!   slopes between all pairs of days), so steady growth is not a spike;
//! - the spread around that trend: the median absolute deviation (MAD), at
//!   least 10% of the level. Medians everywhere: one earlier outlier moves none.
//!
//! The score is (de-seasonalised spend - trend) / (1.4826 · MAD): about a
//! z-score for normal noise. A day is flagged when |score| >= threshold.
//!
//! SQL: `llm_cost.anomaly_scan(day, cost, from_day, to_day, threshold)` is an
//! aggregate (parallel, with a combine function) over daily spend rows of one
//! scope; it returns jsonb, an array of flagged days in [from_day, to_day):
//! day, spend, expected, score.

use crate::analytics::aggregate_state::{add_day, merge_days, read_days, write_days, DailySpend};
use pgrx::prelude::*;
use pgrx::{AnyNumeric, Internal, JsonB};
use rustc_hash::FxHashMap;

/// Days of history each judged day is compared with.
pub const BASELINE_DAYS: i32 = 28;
/// Fewer days of history than this (from the first day with spend): not judged.
pub const MIN_HISTORY_DAYS: i32 = 14;

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub day: i32,
    pub spend: f64,
    pub expected: f64,
    pub score: f64,
}

/// Judges each day in [from_day, to_day) against the BASELINE_DAYS before it.
/// Days are judged in order from the start of the history, and a day found
/// anomalous is replaced by its expected spend in the baseline of later days:
/// one spike cannot make the next one on the same weekday look normal, nor
/// the normal days after it look like drops.
pub fn scan(daily: &FxHashMap<i32, f64>, from_day: i32, to_day: i32, threshold: f64) -> Vec<Anomaly> {
    let Some(first_seen) = daily.keys().copied().min() else { return Vec::new() };
    let mut cleaned: FxHashMap<i32, f64> = daily.clone();
    let mut found = Vec::new();
    for day in (first_seen + MIN_HISTORY_DAYS)..to_day {
        let spend = |d: i32| cleaned.get(&d).copied().unwrap_or(0.0);
        let start = (day - BASELINE_DAYS).max(first_seen);
        let history: Vec<(i32, f64)> = (start..day).map(|d| (d, spend(d))).collect();
        let overall = median(&mut history.iter().map(|h| h.1).collect::<Vec<_>>());
        if overall <= 0.0 {
            continue; // mostly idle history: nothing to compare with
        }
        let mut factor = [1.0; 7];
        for (w, f) in factor.iter_mut().enumerate() {
            let mut same: Vec<f64> = history.iter().filter(|h| h.0.rem_euclid(7) as usize == w).map(|h| h.1).collect();
            if !same.is_empty() {
                *f = (median(&mut same) / overall).max(0.05);
            }
        }
        // the de-seasonalised history's robust trend (Theil-Sen: the median of
        // pairwise slopes), projected to the day judged, is the level
        let points: Vec<(f64, f64)> =
            history.iter().map(|&(d, y)| ((d - day) as f64, y / factor[d.rem_euclid(7) as usize])).collect();
        let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
        for (i, a) in points.iter().enumerate() {
            for b in &points[i + 1..] {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
        let slope = median(&mut slopes);
        let mut intercepts: Vec<f64> = points.iter().map(|(x, z)| z - slope * x).collect();
        let level = median(&mut intercepts).max(0.0);
        let mut deviations: Vec<f64> = points.iter().map(|(x, z)| (z - (level + slope * x)).abs()).collect();
        // a floor on the spread: in busy, regular history a few percent would be
        // "many deviations"; a cost anomaly should be a real break
        let spread = (1.4826 * median(&mut deviations)).max(0.1 * level).max(1e-9);
        let w = day.rem_euclid(7) as usize;
        let y = daily.get(&day).copied().unwrap_or(0.0);
        let expected = level * factor[w];
        let score = (y / factor[w] - level) / spread;
        if score.abs() >= threshold {
            cleaned.insert(day, expected);
            if day >= from_day {
                found.push(Anomaly { day, spend: y, expected, score });
            }
        }
    }
    found
}

#[derive(Default, Clone)]
struct State {
    daily: DailySpend,
    window: Option<(i32, i32, f64)>,
}

/// # Safety
/// As for `aggregate_state::state`: `fcinfo` is the current call's, and `internal`,
/// if initialized, holds a `State`.
unsafe fn state(internal: &mut Internal, fcinfo: pg_sys::FunctionCallInfo) -> &mut State {
    // SAFETY: the caller's guarantee is aggregate_state::state's.
    unsafe { crate::analytics::aggregate_state::state(internal, fcinfo, "anomaly_scan") }
}

#[pg_extern(immutable, parallel_safe)]
fn _anomaly_scan_add(
    mut internal: Internal,
    day: Option<pgrx::datum::Date>,
    cost: Option<AnyNumeric>,
    from_day: Option<pgrx::datum::Date>,
    to_day: Option<pgrx::datum::Date>,
    threshold: Option<f64>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `State`, in the aggregate's context).
    let s = unsafe { state(&mut internal, fcinfo) };
    if s.window.is_none() {
        let (Some(from), Some(to)) = (from_day, to_day) else {
            crate::pg::errors::invalid_parameter("anomaly_scan: from_day and to_day must not be NULL")
        };
        let threshold = threshold.unwrap_or(3.5);
        if !(threshold.is_finite() && threshold > 0.0) {
            crate::pg::errors::invalid_parameter(format!(
                "anomaly_scan: threshold must be a positive number (got {threshold})"
            ));
        }
        s.window = Some((from.to_pg_epoch_days(), to.to_pg_epoch_days(), threshold));
    }
    if let (Some(day), Some(cost)) = (day, cost) {
        add_day(&mut s.daily, day, cost);
    }
    internal
}

#[pg_extern(immutable, parallel_safe)]
fn _anomaly_scan_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `a` and `b` are this
    // aggregate's states, which only `state` makes (each a `State`).
    unsafe {
        crate::analytics::aggregate_state::combine(a, b, fcinfo, "anomaly_scan", |s: &mut State, other: State| {
            merge_days(&mut s.daily, other.daily);
            s.window = s.window.or(other.window);
        })
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _anomaly_scan_serialize(internal: Internal) -> Vec<u8> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    let Some(s) = (unsafe { internal.get::<State>() }) else { return Vec::new() };
    let (from, to, threshold) = s.window.unwrap_or((i32::MIN, i32::MIN, 0.0));
    let mut bytes = Vec::with_capacity(16);
    bytes.extend(from.to_le_bytes());
    bytes.extend(to.to_le_bytes());
    bytes.extend(threshold.to_le_bytes());
    write_days(&s.daily, &mut bytes);
    bytes
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _anomaly_scan_deserialize(bytes: Vec<u8>, _unused: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut internal = Internal::default();
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `State`, in the aggregate's context).
    let s = unsafe { state(&mut internal, fcinfo) };
    if bytes.len() >= 16 {
        let from = i32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        let to = i32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        let threshold = f64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        s.window = (from != i32::MIN).then_some((from, to, threshold));
        s.daily = read_days(&bytes[16..]);
    }
    internal
}

#[pg_extern(immutable, parallel_safe)]
fn _anomaly_scan_final(internal: Internal) -> Option<JsonB> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    let s = unsafe { internal.get::<State>() }?;
    let (from, to, threshold) = s.window?;
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let found: Vec<serde_json::Value> = scan(&s.daily, from, to, threshold)
        .into_iter()
        .map(|a| {
            let date = pgrx::datum::Date::saturating_from_raw(a.day);
            serde_json::json!({
                "day": date.to_string(),
                "spend": round(a.spend),
                "expected": round(a.expected),
                "score": (a.score * 100.0).round() / 100.0,
            })
        })
        .collect();
    Some(JsonB(serde_json::Value::Array(found)))
}

// The anomaly_scan aggregate over the functions above, and the comments on
// them. CREATE EXTENSION runs this before sql/insights.sql, which requires it
// by name (src/lib.rs).
extension_sql!(
    r#"
CREATE AGGREGATE llm_cost.anomaly_scan(day date, cost numeric, from_day date, to_day date, threshold double precision) (
    SFUNC = llm_cost._anomaly_scan_add,
    STYPE = internal,
    FINALFUNC = llm_cost._anomaly_scan_final,
    COMBINEFUNC = llm_cost._anomaly_scan_combine,
    SERIALFUNC = llm_cost._anomaly_scan_serialize,
    DESERIALFUNC = llm_cost._anomaly_scan_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE llm_cost.anomaly_scan(date, numeric, date, date, double precision) IS
  'Over one scope''s daily spend rows: the days in [from_day, to_day) whose spend breaks from the 28 days before (weekday pattern, median and MAD; anomalies found are left out of later baselines), as a jsonb array of {day, spend, expected, score}. |score| >= threshold flags a day; 3.5 is a good start.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_add(internal, date, numeric, date, date, double precision) IS 'Internal: anomaly_scan state function.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_combine(internal, internal) IS 'Internal: combines partial anomaly_scan states (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._anomaly_scan_serialize(internal) IS 'Internal: anomaly_scan state to bytes.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_deserialize(bytea, internal) IS 'Internal: anomaly_scan state from bytes.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_final(internal) IS 'Internal: runs the detector and lists the anomalies.';
"#,
    name = "anomaly_scan",
    requires = [
        _anomaly_scan_add,
        _anomaly_scan_combine,
        _anomaly_scan_serialize,
        _anomaly_scan_deserialize,
        _anomaly_scan_final
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 weeks from day 0 (a Saturday): weekdays ~100, weekends ~30, ±10% noise.
    fn clean(days: i32) -> FxHashMap<i32, f64> {
        (0..days)
            .map(|d| {
                let weekend = matches!(d.rem_euclid(7), 0 | 1);
                let noise = 0.9 + 0.2 * (((d as u64 * 7919) % 101) as f64 / 100.0);
                (d, if weekend { 30.0 } else { 100.0 } * noise)
            })
            .collect()
    }

    #[test]
    fn finds_planted_spikes_and_nothing_else() {
        let mut daily = clean(70);
        // a weekday spike, a weekend day at a normal *weekday* level, a drop to zero
        daily.insert(40, 400.0);
        daily.insert(49, 100.0); // day 49 is a Saturday
        daily.insert(60, 0.0);
        let found: Vec<i32> = scan(&daily, 14, 70, 3.5).iter().map(|a| a.day).collect();
        assert_eq!(found, vec![40, 49, 60]);
    }

    #[test]
    fn steady_growth_and_busy_regular_days_are_not_anomalies() {
        // +3% a day for 10 weeks, weekly pattern, ±2% noise
        let daily: FxHashMap<i32, f64> = (0..70i32)
            .map(|d| {
                let weekend = matches!(d.rem_euclid(7), 0 | 1);
                let noise = 0.98 + 0.04 * (((d as u64 * 7919) % 101) as f64 / 100.0);
                (d, (100.0 + 3.0 * d as f64) * if weekend { 0.3 } else { 1.0 } * noise)
            })
            .collect();
        assert!(scan(&daily, 14, 70, 3.5).is_empty(), "{:?}", scan(&daily, 14, 70, 3.5));
        let mut spiked = daily.clone();
        *spiked.get_mut(&60).unwrap() *= 2.0;
        assert_eq!(scan(&spiked, 14, 70, 3.5).iter().map(|a| a.day).collect::<Vec<_>>(), vec![60]);
    }

    #[test]
    fn one_outlier_does_not_hide_the_next() {
        let mut daily = clean(70);
        daily.insert(40, 1000.0);
        daily.insert(47, 400.0); // a week later, same weekday
        let found: Vec<i32> = scan(&daily, 14, 70, 3.5).iter().map(|a| a.day).collect();
        assert_eq!(found, vec![40, 47]);
        assert!(scan(&clean(70), 14, 70, 3.5).is_empty(), "no false alarm on clean weeks");
    }
}
