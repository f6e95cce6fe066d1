//! Exact, mergeable latency histograms: how many calls took each whole number
//! of milliseconds. Unlike a sketch, percentiles read from them are exact
//! (`latency_ms` is an integer), and unlike `percentile_disc` they can be
//! stored per day in a rollup and merged, and their aggregates run in parallel.
//!
//! SQL form: a `bigint[]` of sorted (latency_ms, calls) pairs, flattened:
//! `{120, 3, 450, 1}` = three calls of 120 ms and one of 450 ms.
//!
//! - `latency_histogram(latency_ms)`: aggregate over raw calls
//! - `latency_histogram_merge(histogram)`: aggregate over histograms
//! - `latency_histogram_add(a, b, sign)`: a + b, or a - b with sign -1 (rollup corrections)
//! - `histogram_percentile(histogram, fraction)`: like `percentile_disc`
//! - `histogram_mean(histogram)`

use pgrx::prelude::*;
use pgrx::Internal;
use rustc_hash::FxHashMap;

/// Calls per latency in ms.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Histogram(FxHashMap<i64, i64>);

impl Histogram {
    pub fn add(&mut self, latency_ms: i64, calls: i64) {
        let count = self.0.entry(latency_ms).or_insert(0);
        *count += calls;
        if *count == 0 {
            self.0.remove(&latency_ms);
        }
    }

    pub fn merge(&mut self, other: &Histogram, sign: i64) {
        for (&latency, &calls) in &other.0 {
            self.add(latency, sign * calls);
        }
    }

    /// From the flat pairs form; an odd length or a negative count is an error.
    pub fn from_pairs(pairs: &[i64]) -> Result<Histogram, String> {
        if !pairs.len().is_multiple_of(2) {
            return Err(format!("a latency histogram has an even number of elements, not {}", pairs.len()));
        }
        let mut h = Histogram::default();
        for pair in pairs.chunks_exact(2) {
            h.add(pair[0], pair[1]);
        }
        Ok(h)
    }

    /// The flat pairs form, sorted by latency.
    pub fn to_pairs(&self) -> Vec<i64> {
        let mut entries: Vec<(i64, i64)> = self.0.iter().map(|(&l, &c)| (l, c)).collect();
        entries.sort_unstable();
        entries.into_iter().flat_map(|(l, c)| [l, c]).collect()
    }

    pub fn calls(&self) -> i64 {
        self.0.values().sum()
    }

    /// The smallest latency whose cumulative share of calls reaches `fraction`
    /// (percentile_disc); None without calls.
    pub fn percentile(&self, fraction: f64) -> Option<i64> {
        let total = self.calls();
        if total <= 0 {
            return None;
        }
        let mut entries: Vec<(i64, i64)> = self.0.iter().map(|(&l, &c)| (l, c)).collect();
        entries.sort_unstable();
        // percentile_disc: the first value whose position p (1-based) has p / total >= fraction
        let target = ((fraction * total as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (latency, calls) in entries {
            seen += calls;
            if seen >= target {
                return Some(latency);
            }
        }
        None
    }

    /// Mean latency as an exact (sum, calls) pair.
    pub fn sum_and_calls(&self) -> (i128, i64) {
        (self.0.iter().map(|(&l, &c)| l as i128 * c as i128).sum(), self.calls())
    }
}

fn pairs_or_error(pairs: &[Option<i64>]) -> Histogram {
    let flat: Vec<i64> = pairs
        .iter()
        .map(|v| v.unwrap_or_else(|| crate::pg::errors::invalid_parameter("a latency histogram cannot contain NULL")))
        .collect();
    Histogram::from_pairs(&flat).unwrap_or_else(|e| crate::pg::errors::invalid_parameter(&e))
}

/// # Safety
/// As for `aggregate_state::state`: `fcinfo` is the current call's, and `internal`,
/// if initialized, holds a `Histogram`.
unsafe fn state(internal: &mut Internal, fcinfo: pg_sys::FunctionCallInfo) -> &mut Histogram {
    // SAFETY: the caller's guarantee is aggregate_state::state's.
    unsafe { crate::analytics::aggregate_state::state(internal, fcinfo, "latency_histogram") }
}

#[pg_extern(immutable, parallel_safe)]
fn _latency_histogram_add_call(
    mut internal: Internal,
    latency_ms: Option<i32>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `Histogram`, in the aggregate's context).
    let h = unsafe { state(&mut internal, fcinfo) };
    if let Some(latency) = latency_ms {
        h.add(latency as i64, 1);
    }
    internal
}

#[pg_extern(immutable, parallel_safe)]
fn _latency_histogram_add_histogram(
    mut internal: Internal,
    histogram: Option<pgrx::Array<'_, i64>>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `Histogram`, in the aggregate's context).
    let h = unsafe { state(&mut internal, fcinfo) };
    if let Some(pairs) = histogram {
        // straight into the state: merging rollups is the hot path of cost_summary
        if pairs.len() % 2 != 0 {
            crate::pg::errors::invalid_parameter(format!(
                "a latency histogram has an even number of elements, not {}",
                pairs.len()
            ));
        }
        let mut values = pairs.iter();
        while let (Some(latency), Some(calls)) = (values.next(), values.next()) {
            match (latency, calls) {
                (Some(latency), Some(calls)) => h.add(latency, calls),
                _ => crate::pg::errors::invalid_parameter("a latency histogram cannot contain NULL"),
            }
        }
    }
    internal
}

/// Not strict (Option arguments): Postgres requires that of a combine function
/// over an internal state.
#[pg_extern(immutable, parallel_safe)]
fn _latency_histogram_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: `fcinfo` is the one pgrx hands this call; `a` and `b` are this
    // aggregate's states, which only `state` makes (each a `Histogram`).
    unsafe {
        crate::analytics::aggregate_state::combine(
            a,
            b,
            fcinfo,
            "latency_histogram",
            |h: &mut Histogram, other: Histogram| h.merge(&other, 1),
        )
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _latency_histogram_serialize(internal: Internal) -> Vec<u8> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    let pairs = unsafe { internal.get::<Histogram>() }.map(|h| h.to_pairs()).unwrap_or_default();
    pairs.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[pg_extern(immutable, parallel_safe, strict)]
fn _latency_histogram_deserialize(bytes: Vec<u8>, _unused: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let pairs: Vec<i64> = bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
    let mut internal = Internal::default();
    // SAFETY: `fcinfo` is the one pgrx hands this call; `internal` is ours or an
    // aggregate state, which only `state` makes (a `Histogram`, in the aggregate's context).
    *unsafe { state(&mut internal, fcinfo) } =
        Histogram::from_pairs(&pairs).unwrap_or_else(|e| error!("llm_cost: {e}"));
    internal
}

#[pg_extern(immutable, parallel_safe)]
fn _latency_histogram_final(internal: Internal) -> Option<Vec<i64>> {
    // SAFETY: `internal` comes from Postgres's aggregate machinery (SQL cannot make an
    // internal value); this aggregate's state is only made by `state`, as this type,
    // in the aggregate's memory context, alive for this call.
    unsafe { internal.get::<Histogram>() }.map(|h| h.to_pairs())
}

/// a + b (sign 1) or a - b (sign -1); counts that reach zero disappear.
#[pg_extern(immutable, parallel_safe)]
fn latency_histogram_add(a: Option<Vec<Option<i64>>>, b: Option<Vec<Option<i64>>>, sign: default!(i32, 1)) -> Vec<i64> {
    if sign != 1 && sign != -1 {
        crate::pg::errors::invalid_parameter("latency_histogram_add: sign must be 1 or -1");
    }
    let mut h = a.map(|p| pairs_or_error(&p)).unwrap_or_default();
    if let Some(b) = b {
        h.merge(&pairs_or_error(&b), sign as i64);
    }
    h.to_pairs()
}

/// The latency at `fraction` (0..1) of the calls, as percentile_disc would give.
#[pg_extern(immutable, parallel_safe, strict)]
fn histogram_percentile(histogram: Vec<Option<i64>>, fraction: f64) -> Option<i32> {
    if !(0.0..=1.0).contains(&fraction) {
        crate::pg::errors::invalid_parameter(format!(
            "histogram_percentile: fraction must be between 0 and 1, not {fraction}"
        ));
    }
    pairs_or_error(&histogram).percentile(fraction).map(|v| v as i32)
}

/// Mean latency of the calls in the histogram, exact as numeric.
#[pg_extern(immutable, parallel_safe, strict)]
fn histogram_mean(histogram: Vec<Option<i64>>) -> Option<pgrx::AnyNumeric> {
    let (sum, calls) = pairs_or_error(&histogram).sum_and_calls();
    if calls == 0 {
        return None;
    }
    let sum = pgrx::AnyNumeric::from(sum);
    Some(sum / pgrx::AnyNumeric::from(calls))
}

// The latency_histogram and latency_histogram_merge aggregates over the
// functions above, and the comments on them. CREATE EXTENSION runs this
// before sql/analytics.sql, which requires it by name (src/lib.rs).
extension_sql!(
    r#"
CREATE AGGREGATE llm_cost.latency_histogram(integer) (
    SFUNC = llm_cost._latency_histogram_add_call,
    STYPE = internal,
    FINALFUNC = llm_cost._latency_histogram_final,
    COMBINEFUNC = llm_cost._latency_histogram_combine,
    SERIALFUNC = llm_cost._latency_histogram_serialize,
    DESERIALFUNC = llm_cost._latency_histogram_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE llm_cost.latency_histogram(integer) IS
  'Exact histogram of latencies in ms as sorted (latency, calls) pairs, e.g. {120,3,450,1}; merge with latency_histogram_merge, read with histogram_percentile. Example: SELECT llm_cost.histogram_percentile(llm_cost.latency_histogram(latency_ms), 0.95) FROM llm_cost.usage;';

CREATE AGGREGATE llm_cost.latency_histogram_merge(bigint[]) (
    SFUNC = llm_cost._latency_histogram_add_histogram,
    STYPE = internal,
    FINALFUNC = llm_cost._latency_histogram_final,
    COMBINEFUNC = llm_cost._latency_histogram_combine,
    SERIALFUNC = llm_cost._latency_histogram_serialize,
    DESERIALFUNC = llm_cost._latency_histogram_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE llm_cost.latency_histogram_merge(bigint[]) IS
  'Merges latency histograms (e.g. per-day rollups) into one; percentiles of the merge are exact.';

COMMENT ON FUNCTION llm_cost.latency_histogram_add(bigint[], bigint[], integer) IS
  'Histogram a plus b (sign 1) or minus b (sign -1); used to correct rollups.';
COMMENT ON FUNCTION llm_cost.histogram_percentile(bigint[], double precision) IS
  'The latency at a fraction (0..1) of the calls in a histogram, as percentile_disc would give over the raw values.';
COMMENT ON FUNCTION llm_cost.histogram_mean(bigint[]) IS 'Mean latency of the calls in a histogram.';
COMMENT ON FUNCTION llm_cost._latency_histogram_add_call(internal, integer) IS 'Internal: latency_histogram state function.';
COMMENT ON FUNCTION llm_cost._latency_histogram_add_histogram(internal, bigint[]) IS 'Internal: latency_histogram_merge state function.';
COMMENT ON FUNCTION llm_cost._latency_histogram_combine(internal, internal) IS 'Internal: combines partial latency histograms (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._latency_histogram_serialize(internal) IS 'Internal: latency histogram state to bytes (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._latency_histogram_deserialize(bytea, internal) IS 'Internal: latency histogram state from bytes (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._latency_histogram_final(internal) IS 'Internal: latency histogram state to its bigint[] form.';
"#,
    name = "latency_histogram",
    requires = [
        _latency_histogram_add_call,
        _latency_histogram_add_histogram,
        _latency_histogram_combine,
        _latency_histogram_serialize,
        _latency_histogram_deserialize,
        _latency_histogram_final,
        latency_histogram_add,
        histogram_percentile,
        histogram_mean
    ]
);

#[cfg(test)]
mod tests {
    use super::Histogram;

    fn of(values: &[i64]) -> Histogram {
        let mut h = Histogram::default();
        for &v in values {
            h.add(v, 1);
        }
        h
    }

    #[test]
    fn percentile_is_percentile_disc() {
        let h = of(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(h.percentile(0.95), Some(100));
        assert_eq!(h.percentile(0.9), Some(90));
        assert_eq!(h.percentile(0.5), Some(50));
        assert_eq!(h.percentile(0.0), Some(10));
        assert_eq!(h.percentile(1.0), Some(100));
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn merge_and_subtract_round_trip() {
        let a = of(&[5, 5, 7]);
        let b = of(&[7, 9]);
        let mut m = a.clone();
        m.merge(&b, 1);
        assert_eq!(m.to_pairs(), vec![5, 2, 7, 2, 9, 1]);
        m.merge(&b, -1);
        assert_eq!(m, a);
        assert_eq!(Histogram::from_pairs(&m.to_pairs()).unwrap(), a);
        assert!(Histogram::from_pairs(&[1, 2, 3]).is_err());
    }
}
