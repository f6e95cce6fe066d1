//! Forecasting daily spend: a linear trend plus a weekday pattern, fitted to
//! the recent daily history by least squares, with a band from the fit's
//! residuals.
//!
//! Why not "average so far × days": spend that grows (or shrinks) through a
//! month, or that is low on weekends, makes that projection wrong in a
//! predictable direction. The tests below generate histories with a known
//! trend and weekly seasonality and check that this model's error is lower.
//!
//! SQL: `llm_cost.spend_forecast(day, cost, first_day, horizon_days)` is an
//! aggregate (parallel, with a combine function) over daily spend rows; several
//! rows for one day add up, days without rows count as zero spend from the first
//! day seen. It returns jsonb: the method used, history length, the daily run
//! rate (mean of the last 7 days), and for each of the `horizon_days` days from
//! `first_day` the expected spend, its running total and a 90% band around it.

use crate::analytics::aggregate_state::{add_day, merge_days, read_days, write_days, DailySpend};
use pgrx::prelude::*;
use pgrx::{AnyNumeric, Internal, JsonB};
use rustc_hash::FxHashMap;

/// How many days of history the fit uses at most (8 weeks).
pub const WINDOW_DAYS: i32 = 56;
/// z for a two-sided 90% band.
const Z90: f64 = 1.645;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// trend and weekday pattern (two weeks of history or more)
    TrendWeekday,
    /// trend only (a few days)
    Trend,
    /// the mean (one or two days)
    Average,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::TrendWeekday => "trend+weekday",
            Method::Trend => "trend",
            Method::Average => "average",
        }
    }
}

/// A fitted daily spend model: spend(day) = intercept + slope·(day - origin) + weekday[day mod 7].
#[derive(Debug, Clone)]
pub struct DailyModel {
    pub method: Method,
    origin: i32,
    intercept: f64,
    slope: f64,
    weekday: [f64; 7],
    /// Standard deviation of the daily residuals.
    pub sigma: f64,
    pub history_days: usize,
    /// Mean spend of the last (up to) 7 days of history.
    pub run_rate: f64,
}

fn weekday(day: i32) -> usize {
    day.rem_euclid(7) as usize
}

/// Least-squares line through (x, y).
fn line(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

impl DailyModel {
    /// Fits the days before `first_day` (at most WINDOW_DAYS of them, from the
    /// first day with spend). None without any history.
    pub fn fit(daily: &FxHashMap<i32, f64>, first_day: i32) -> Option<DailyModel> {
        let first_seen = daily.keys().copied().filter(|&d| d < first_day).min()?;
        let start = first_seen.max(first_day - WINDOW_DAYS);
        let days: Vec<i32> = (start..first_day).collect();
        let ys: Vec<f64> = days.iter().map(|d| daily.get(d).copied().unwrap_or(0.0)).collect();
        let n = days.len();
        let xs: Vec<f64> = days.iter().map(|&d| (d - start) as f64).collect();
        let run_rate = ys[n.saturating_sub(7)..].iter().sum::<f64>() / n.min(7) as f64;
        let method = match n {
            0..=2 => Method::Average,
            3..=13 => Method::Trend,
            _ => Method::TrendWeekday,
        };
        let mut weekday_effect = [0.0; 7];
        let (mut intercept, mut slope) = (ys.iter().sum::<f64>() / n as f64, 0.0);
        if method != Method::Average {
            // Alternate: the line through spend without the weekday pattern,
            // then the pattern as each weekday's mean departure from the line.
            for _ in 0..4 {
                let adjusted: Vec<f64> = days.iter().zip(&ys).map(|(&d, y)| y - weekday_effect[weekday(d)]).collect();
                (intercept, slope) = line(&xs, &adjusted);
                if method == Method::Trend {
                    break;
                }
                let mut sums = [0.0; 7];
                let mut counts = [0usize; 7];
                for ((&d, &x), &y) in days.iter().zip(&xs).zip(&ys) {
                    sums[weekday(d)] += y - (intercept + slope * x);
                    counts[weekday(d)] += 1;
                }
                for w in 0..7 {
                    weekday_effect[w] = if counts[w] > 0 { sums[w] / counts[w] as f64 } else { 0.0 };
                }
                let mean = weekday_effect.iter().sum::<f64>() / 7.0;
                weekday_effect.iter_mut().for_each(|e| *e -= mean);
            }
        }
        let parameters = match method {
            Method::Average => 1,
            Method::Trend => 2,
            Method::TrendWeekday => 8,
        };
        let model = DailyModel {
            method,
            origin: start,
            intercept,
            slope,
            weekday: weekday_effect,
            sigma: 0.0,
            history_days: n,
            run_rate,
        };
        let squares: f64 = days.iter().zip(&ys).map(|(&d, y)| (y - model.raw(d)).powi(2)).sum();
        let sigma =
            if n > parameters { (squares / (n - parameters) as f64).sqrt() } else { model.run_rate.abs() / 2.0 };
        Some(DailyModel { sigma, ..model })
    }

    fn raw(&self, day: i32) -> f64 {
        self.intercept + self.slope * (day - self.origin) as f64 + self.weekday[weekday(day)]
    }

    /// Expected spend on `day` (never below zero).
    pub fn predict(&self, day: i32) -> f64 {
        self.raw(day).max(0.0)
    }
}

/// The aggregate's state: spend per day, and the forecast's arguments.
#[derive(Default, Clone)]
struct State {
    daily: DailySpend,
    first_day: Option<i32>,
    horizon: i32,
}

/// # Safety
/// As for `aggregate_state::state`: `fcinfo` is the current call's, and `internal`,
/// if initialized, holds a `State`.
unsafe fn state(internal: &mut Internal, fcinfo: pg_sys::FunctionCallInfo) -> &mut State {
    // SAFETY: the caller's guarantee is aggregate_state::state's.
    unsafe { crate::analytics::aggregate_state::state(internal, fcinfo, "spend_forecast") }
}

#[pg_extern(immutable, parallel_safe)]
fn _spend_forecast_add(
    mut internal: Internal,
    day: Option<pgrx::datum::Date>,
    cost: Option<AnyNumeric>,
    first_day: Option<pgrx::datum::Date>,
    horizon_days: Option<i32>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `State`, in the aggregate's context).
    let s = unsafe { state(&mut internal, fcinfo) };
    if s.first_day.is_none() {
        let first = first_day
            .unwrap_or_else(|| crate::pg::errors::invalid_parameter("spend_forecast: first_day must not be NULL"));
        let horizon = horizon_days.unwrap_or(-1);
        if !(0..=3660).contains(&horizon) {
            crate::pg::errors::invalid_parameter(format!(
                "spend_forecast: horizon_days must be between 0 and 3660 (got {horizon})"
            ));
        }
        s.first_day = Some(first.to_pg_epoch_days());
        s.horizon = horizon;
    }
    if let (Some(day), Some(cost)) = (day, cost) {
        add_day(&mut s.daily, day, cost);
    }
    internal
}

#[pg_extern(immutable, parallel_safe)]
fn _spend_forecast_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `a` and `b` are this
    // aggregate's states, which only `state` makes (each a `State`).
    unsafe {
        crate::analytics::aggregate_state::combine(a, b, fcinfo, "spend_forecast", |s: &mut State, other: State| {
            merge_days(&mut s.daily, other.daily);
            if s.first_day.is_none() {
                s.first_day = other.first_day;
                s.horizon = other.horizon;
            }
        })
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _spend_forecast_serialize(internal: Internal) -> Vec<u8> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    let Some(s) = (unsafe { internal.get::<State>() }) else { return Vec::new() };
    let mut bytes = Vec::with_capacity(8);
    bytes.extend(s.first_day.unwrap_or(i32::MIN).to_le_bytes());
    bytes.extend(s.horizon.to_le_bytes());
    write_days(&s.daily, &mut bytes);
    bytes
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _spend_forecast_deserialize(bytes: Vec<u8>, _unused: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut internal = Internal::default();
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `State`, in the aggregate's context).
    let s = unsafe { state(&mut internal, fcinfo) };
    if bytes.len() >= 8 {
        let first = i32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        s.first_day = (first != i32::MIN).then_some(first);
        s.horizon = i32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        s.daily = read_days(&bytes[8..]);
    }
    internal
}

fn money(v: f64) -> serde_json::Value {
    // six decimals: a forecast is an estimate, shown to a millionth of a unit
    let rounded = (v * 1e6).round() / 1e6;
    serde_json::Number::from_f64(rounded).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}

/// The forecast as jsonb (see the module comment); NULL without history.
pub fn forecast_json(daily: &FxHashMap<i32, f64>, first_day: i32, horizon: i32) -> Option<serde_json::Value> {
    let model = DailyModel::fit(daily, first_day)?;
    let (mut expected, mut cumulative, mut low, mut high) = (vec![], vec![], vec![], vec![]);
    let mut total = 0.0;
    for k in 0..horizon {
        let e = model.predict(first_day + k);
        total += e;
        let band = Z90 * model.sigma * ((k + 1) as f64).sqrt();
        expected.push(money(e));
        cumulative.push(money(total));
        low.push(money((total - band).max(0.0)));
        high.push(money(total + band));
    }
    Some(serde_json::json!({
        "method": model.method.name(),
        "history_days": model.history_days,
        "daily_run_rate": money(model.run_rate),
        "daily_sigma": money(model.sigma),
        "expected": expected,
        "cumulative": cumulative,
        "low": low,
        "high": high,
    }))
}

#[pg_extern(immutable, parallel_safe)]
fn _spend_forecast_final(internal: Internal) -> Option<JsonB> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    let s = unsafe { internal.get::<State>() }?;
    forecast_json(&s.daily, s.first_day?, s.horizon).map(JsonB)
}

const USECS_PER_DAY: i64 = 86_400_000_000;

/// A spend_forecast applied to the span [at, until): the expected spend in it,
/// a 90% band, and when `spent` plus that spend reaches `amount`.
pub struct Projection {
    pub expected: f64,
    pub band: f64,
    pub exhausts_at: Option<i64>,
}

/// `expected`: spend per day from `first_day` (days since 2000-01-01, UTC);
/// times are microseconds since 2000-01-01 UTC. Parts of days count in proportion.
pub fn project(
    expected: &[f64],
    sigma: f64,
    first_day: i32,
    at: i64,
    until: i64,
    spent: f64,
    amount: Option<f64>,
) -> Projection {
    let mut total = 0.0;
    let mut days_covered = 0.0;
    let mut exhausts_at = match amount {
        Some(a) if spent >= a => Some(at),
        _ => None,
    };
    for (k, &per_day) in expected.iter().enumerate() {
        let day_start = (first_day as i64 + k as i64) * USECS_PER_DAY;
        let (start, end) = (day_start.max(at), (day_start + USECS_PER_DAY).min(until));
        if end <= start {
            continue;
        }
        let fraction = (end - start) as f64 / USECS_PER_DAY as f64;
        let before = total;
        total += per_day * fraction;
        days_covered += fraction;
        if let (None, Some(a)) = (exhausts_at, amount) {
            if spent + total >= a && per_day > 0.0 {
                let into_day = (a - spent - before) / per_day; // days after `start`
                exhausts_at = Some(start + (into_day * USECS_PER_DAY as f64) as i64);
            }
        }
    }
    Projection { expected: total, band: Z90 * sigma * days_covered.sqrt(), exhausts_at }
}

fn numeric(v: f64) -> Option<AnyNumeric> {
    AnyNumeric::try_from(format!("{:.6}", v).as_str()).ok()
}

/// Applies a spend_forecast (jsonb) to [at, until) after `spent`: the
/// expected total, its 90% band, and when it reaches `amount`.
#[pg_extern(immutable, parallel_safe)]
#[allow(clippy::type_complexity)] // pgrx reads the result columns' names from the `name!`s in this signature
fn forecast_project(
    forecast: Option<JsonB>,
    first_day: pgrx::datum::Date,
    at: TimestampWithTimeZone,
    until: TimestampWithTimeZone,
    spent: AnyNumeric,
    amount: Option<AnyNumeric>,
) -> TableIterator<
    'static,
    (
        name!(expected, Option<AnyNumeric>),
        name!(low, Option<AnyNumeric>),
        name!(high, Option<AnyNumeric>),
        name!(exhausts_at, Option<TimestampWithTimeZone>),
    ),
> {
    let spent_f = f64::try_from(spent.clone()).unwrap_or(0.0);
    let amount_f = amount.and_then(|a| f64::try_from(a).ok());
    let (at_us, until_us): (i64, i64) = (at.into_inner(), until.into_inner());
    let Some(JsonB(json)) = forecast else {
        return TableIterator::once((Some(spent), None, None, None));
    };
    let expected: Vec<f64> =
        json["expected"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let sigma = json["daily_sigma"].as_f64().unwrap_or(0.0);
    let p = project(&expected, sigma, first_day.to_pg_epoch_days(), at_us, until_us, spent_f, amount_f);
    // SAFETY: a timestamptz is a by-value i64 Datum; any i64 is one.
    let exhausts =
        p.exhausts_at.and_then(|t| unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(t), false) });
    TableIterator::once((
        numeric(spent_f + p.expected),
        numeric(spent_f + (p.expected - p.band).max(0.0)),
        numeric(spent_f + p.expected + p.band),
        exhausts,
    ))
}

// The spend_forecast aggregate over the functions above, and the comments on
// them. CREATE EXTENSION runs this before sql/forecast.sql, which requires it
// by name (src/lib.rs).
extension_sql!(
    r#"
CREATE AGGREGATE llm_cost.spend_forecast(day date, cost numeric, first_day date, horizon_days integer) (
    SFUNC = llm_cost._spend_forecast_add,
    STYPE = internal,
    FINALFUNC = llm_cost._spend_forecast_final,
    COMBINEFUNC = llm_cost._spend_forecast_combine,
    SERIALFUNC = llm_cost._spend_forecast_serialize,
    DESERIALFUNC = llm_cost._spend_forecast_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE llm_cost.spend_forecast(date, numeric, date, integer) IS
  'Fits daily spend rows (several rows per day add up; missing days are zero) before first_day with a linear trend and a weekday pattern, and forecasts horizon_days days from first_day: jsonb with method, history_days, daily_run_rate, daily_sigma, and per day expected, cumulative, and a 90% low/high band. Example: SELECT llm_cost.spend_forecast(day, cost, current_date, 7) FROM llm_cost.usage_facts(now() - interval ''56 days'', current_date);';
COMMENT ON FUNCTION llm_cost._spend_forecast_add(internal, date, numeric, date, integer) IS 'Internal: spend_forecast state function.';
COMMENT ON FUNCTION llm_cost._spend_forecast_combine(internal, internal) IS 'Internal: combines partial spend_forecast states (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._spend_forecast_serialize(internal) IS 'Internal: spend_forecast state to bytes.';
COMMENT ON FUNCTION llm_cost._spend_forecast_deserialize(bytea, internal) IS 'Internal: spend_forecast state from bytes.';
COMMENT ON FUNCTION llm_cost._spend_forecast_final(internal) IS 'Internal: fits the model and returns the forecast.';
COMMENT ON FUNCTION llm_cost.forecast_project(jsonb, date, timestamptz, timestamptz, numeric, numeric) IS
  'Applies a spend_forecast starting first_day to [at, until) on top of spent: expected total, 90% band, and when the total reaches amount (NULL if not before until).';
"#,
    name = "spend_forecast",
    requires = [
        _spend_forecast_add,
        _spend_forecast_combine,
        _spend_forecast_serialize,
        _spend_forecast_deserialize,
        _spend_forecast_final,
        forecast_project
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream (no dependency for tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
        }
    }

    /// Daily spend with a trend, a weekday pattern (quiet weekends) and noise.
    fn history(days: i32, base: f64, growth: f64, seed: u64) -> Vec<f64> {
        let mut rng = Lcg(seed);
        (0..days)
            .map(|d| {
                let weekend = matches!(weekday(d), 0 | 1); // day 0 = 2000-01-01, a Saturday
                let season = if weekend { 0.35 } else { 1.15 };
                (base + growth * d as f64) * season * (0.9 + 0.2 * rng.next())
            })
            .collect()
    }

    #[test]
    fn beats_the_naive_month_projection_on_trend_and_weekly_seasonality() {
        // 60 days of history, then forecast the rest of a 30-day month from day 10 of it.
        let (mut ours, mut naive, mut cases) = (0.0, 0.0, 0);
        for seed in 1..=40u64 {
            for &(base, growth) in &[(100.0, 2.0), (100.0, -1.0), (50.0, 0.5), (200.0, 4.0)] {
                let all = history(90, base, growth, seed);
                let month_start = 60;
                let today = month_start + 10;
                let daily: FxHashMap<i32, f64> = (0..today).map(|d| (d, all[d as usize])).collect();
                let spent: f64 = all[month_start as usize..today as usize].iter().sum();
                let actual: f64 = all[month_start as usize..90].iter().sum();
                let model = DailyModel::fit(&daily, today).expect("history");
                let ours_total = spent + (today..90).map(|d| model.predict(d)).sum::<f64>();
                let naive_total = spent / 10.0 * 30.0;
                ours += (ours_total - actual).abs() / actual;
                naive += (naive_total - actual).abs() / actual;
                cases += 1;
            }
        }
        let (ours, naive) = (ours / cases as f64, naive / cases as f64);
        println!("month-end forecast, mean relative error over {cases} histories: ours {ours:.4}, naive {naive:.4}");
        assert!(ours < naive * 0.5, "mean relative error: ours {ours:.4}, naive {naive:.4}");
    }

    #[test]
    fn falls_back_with_little_history_and_stays_non_negative() {
        let daily: FxHashMap<i32, f64> = [(10, 5.0)].into_iter().collect();
        let m = DailyModel::fit(&daily, 11).unwrap();
        assert_eq!(m.method, Method::Average);
        assert_eq!(m.predict(20), 5.0);
        let falling: FxHashMap<i32, f64> = (0..10).map(|d| (d, 100.0 - 12.0 * d as f64)).collect();
        let m = DailyModel::fit(&falling, 10).unwrap();
        assert_eq!(m.method, Method::Trend);
        assert_eq!(m.predict(30), 0.0, "a falling trend bottoms out at zero");
        assert!(DailyModel::fit(&FxHashMap::default(), 5).is_none());
    }

    #[test]
    fn projection_counts_parts_of_days_and_finds_the_exhaustion_instant() {
        let day = USECS_PER_DAY;
        // $10 a day from day 100; from noon of day 100 to the end of day 102: 25 expected
        let p = project(&[10.0, 10.0, 10.0], 0.0, 100, 100 * day + day / 2, 103 * day, 0.0, Some(20.0));
        assert!((p.expected - 25.0).abs() < 1e-9);
        // 20 is reached half-way through day 102 (5 on day 100, 10 on day 101, 5 more)
        assert_eq!(p.exhausts_at, Some(102 * day + day / 2));
        let never = project(&[1.0], 0.0, 100, 100 * day, 101 * day, 0.0, Some(20.0));
        assert_eq!(never.exhausts_at, None);
        let already = project(&[1.0], 0.0, 100, 100 * day, 101 * day, 25.0, Some(20.0));
        assert_eq!(already.exhausts_at, Some(100 * day));
    }

    #[test]
    fn the_band_contains_the_expected_total_and_widens() {
        let daily: FxHashMap<i32, f64> =
            history(40, 100.0, 1.0, 7).into_iter().enumerate().map(|(d, c)| (d as i32, c)).collect();
        let json = forecast_json(&daily, 40, 10).unwrap();
        let cum = json["cumulative"].as_array().unwrap();
        let low = json["low"].as_array().unwrap();
        let high = json["high"].as_array().unwrap();
        for i in 0..10 {
            let (c, l, h) = (cum[i].as_f64().unwrap(), low[i].as_f64().unwrap(), high[i].as_f64().unwrap());
            assert!(l <= c && c <= h);
        }
        let width = |i: usize| high[i].as_f64().unwrap() - low[i].as_f64().unwrap();
        assert!(width(9) > width(0));
        assert_eq!(json["method"], "trend+weekday");
    }
}
