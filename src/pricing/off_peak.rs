//! Time-of-day prices: a price row's off-peak rates and the windows in which
//! they apply.
//!
//! A window is LiteLLM's `off_peak_pricing.windows[]` entry:
//!
//! ```text
//! {"hours_utc": ["00:00-01:00", "10:00-00:00"] | "00:00-00:00",
//!  "weekdays": [1, 2, 3, 4, 5],            -- ISO, 1 = Monday; optional: every day
//!  "weekday_timezone": "Asia/Shanghai"}    -- optional: UTC
//! ```
//!
//! Hours are always UTC, `[start, end)`, minute precision; an end of `00:00`
//! (or `24:00`) is midnight at the end of the day, so `00:00-00:00` is the whole
//! day. A range may not cross midnight (write two ranges: the weekday of each
//! part differs). The weekday is the call's weekday in `weekday_timezone`
//! (LiteLLM's rule for providers whose week follows local time). A call is
//! off-peak when some window holds both its UTC time of day and its weekday.
//!
//! Stored normalised in `llm_cost.prices.off_peak_windows`: always an array of
//! objects with all three keys, `hours_utc` a list, weekdays sorted without
//! duplicates (see `normalise`).

use crate::pricing::decimal::Decimal;
use serde_json::{json, Map, Value};

pub const MICROS_PER_MINUTE: i64 = 60_000_000;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Seconds from 1970-01-01 to 2000-01-01 (Postgres' timestamp epoch).
const UNIX_TO_PG_EPOCH_SECS: i64 = 946_684_800;

/// A window as written, validated: the normalised JSON plus what matching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Bit `d - 1` set: ISO weekday `d` is in the window.
    pub weekdays: u8,
    /// `[start, end)` in minutes of the UTC day; `end` 1440 is midnight.
    pub minutes: Vec<(u16, u16)>,
    /// `None` for UTC.
    pub weekday_timezone: Option<String>,
}

impl WindowSpec {
    pub fn to_json(&self) -> Value {
        let hours: Vec<Value> =
            self.minutes.iter().map(|&(s, e)| Value::String(format!("{}-{}", hhmm(s), hhmm(e % 1440)))).collect();
        let days: Vec<Value> = (1..=7u8).filter(|d| self.weekdays & (1 << (d - 1)) != 0).map(|d| json!(d)).collect();
        json!({
            "hours_utc": hours,
            "weekdays": days,
            "weekday_timezone": self.weekday_timezone.as_deref().unwrap_or("UTC"),
        })
    }
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `HH:MM` → minutes; `24:00` → 1440.
fn parse_hhmm(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
        return None;
    }
    let h = (b[0] - b'0') as u16 * 10 + (b[1] - b'0') as u16;
    let m = (b[3] - b'0') as u16 * 10 + (b[4] - b'0') as u16;
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn parse_range(v: &Value) -> Result<(u16, u16), String> {
    let s = v.as_str().ok_or_else(|| format!("an hours_utc range must be a string like \"10:00-18:00\", got {v}"))?;
    let bad = || format!("hours_utc range \"{s}\" is not HH:MM-HH:MM (UTC, 00:00 to 24:00)");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start = parse_hhmm(a.trim()).ok_or_else(bad)?;
    let mut end = parse_hhmm(b.trim()).ok_or_else(bad)?;
    if start == 1440 {
        return Err(format!("hours_utc range \"{s}\" starts at 24:00; the day's first minute is 00:00"));
    }
    if end == 0 {
        end = 1440; // "10:00-00:00": until midnight; "00:00-00:00": the whole day
    }
    if start == end {
        return Err(format!("hours_utc range \"{s}\" is empty (write 00:00-00:00 for the whole day)"));
    }
    if start > end {
        return Err(format!(
            "hours_utc range \"{s}\" crosses midnight; write it as two ranges, \"{}-00:00\" and \"00:00-{}\" (the weekday of each part differs)",
            hhmm(start),
            hhmm(end)
        ));
    }
    Ok((start, end))
}

/// Parses one window object. `zone_ok` says whether a time zone name is known.
fn parse_window(v: &Value, inherited_zone: Option<&str>, zone_ok: &dyn Fn(&str) -> bool) -> Result<WindowSpec, String> {
    let obj = v.as_object().ok_or_else(|| format!("each window must be an object with hours_utc, got {v}"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "hours_utc" | "weekdays" | "weekday_timezone")) {
        return Err(format!("unknown window key \"{k}\"; a window has hours_utc, weekdays and weekday_timezone"));
    }
    let mut minutes = match obj.get("hours_utc") {
        None | Some(Value::Null) => return Err("a window needs hours_utc (\"HH:MM-HH:MM\" or a list of them)".into()),
        Some(s @ Value::String(_)) => vec![parse_range(s)?],
        Some(Value::Array(a)) if !a.is_empty() => a.iter().map(parse_range).collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(format!("hours_utc must be \"HH:MM-HH:MM\" or a non-empty list of them, got {other}"))
        }
    };
    minutes.sort_unstable();
    minutes.dedup();
    let weekdays = match obj.get("weekdays") {
        None | Some(Value::Null) => 0x7f,
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut mask = 0u8;
            for d in a {
                match d.as_i64() {
                    Some(n @ 1..=7) if d.is_i64() || d.is_u64() => mask |= 1 << (n - 1),
                    _ => return Err(format!("weekdays are ISO day numbers 1 (Monday) to 7 (Sunday), got {d}")),
                }
            }
            mask
        }
        Some(other) => return Err(format!("weekdays must be a non-empty list of ISO day numbers 1-7, got {other}")),
    };
    let zone = match obj.get("weekday_timezone") {
        None | Some(Value::Null) => inherited_zone.map(str::to_string),
        Some(Value::String(z)) => Some(z.clone()),
        Some(other) => {
            return Err(format!("weekday_timezone must be a time zone name such as \"Asia/Shanghai\", got {other}"))
        }
    };
    let zone = match zone {
        Some(z) if z.trim().is_empty() => return Err("weekday_timezone must not be empty".into()),
        Some(z) if !zone_ok(&z) => return Err(format!("weekday_timezone \"{z}\" is not a time zone Postgres knows")),
        Some(z) if z == "UTC" => None,
        z => z,
    };
    Ok(WindowSpec { weekdays, minutes, weekday_timezone: zone })
}

/// Parses windows as `set_price` and imports accept them: an array of window
/// objects, or LiteLLM's `off_peak_pricing`-style object `{"windows": [...],
/// "weekday_timezone": ...}` (its rate keys are ignored here).
pub fn parse(v: &Value, zone_ok: &dyn Fn(&str) -> bool) -> Result<Vec<WindowSpec>, String> {
    let (list, zone) = match v {
        Value::Array(a) => (a, None),
        Value::Object(o) => {
            let list = match o.get("windows") {
                Some(Value::Array(a)) => a,
                _ => return Err("an object of off-peak windows needs \"windows\": [...]".into()),
            };
            let zone = match o.get("weekday_timezone") {
                None | Some(Value::Null) => None,
                Some(Value::String(z)) => Some(z.as_str()),
                Some(other) => return Err(format!("weekday_timezone must be a time zone name, got {other}")),
            };
            (list, zone)
        }
        other => return Err(format!("off-peak windows must be a JSON array of windows, got {other}")),
    };
    if list.is_empty() {
        return Err("off-peak windows must not be empty (pass NULL for no off-peak prices)".into());
    }
    list.iter()
        .enumerate()
        .map(|(i, w)| parse_window(w, zone, zone_ok).map_err(|e| format!("window {}: {e}", i + 1)))
        .collect()
}

/// The stored form of parsed windows.
pub fn normalise(windows: &[WindowSpec]) -> Value {
    Value::Array(windows.iter().map(WindowSpec::to_json).collect())
}

/// Where a window takes its weekday.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Utc,
    /// A fixed offset east of UTC, in microseconds (pure-Rust tests).
    Offset(i64),
    /// A Postgres time zone (`pg_tzset`; lives as long as the backend) and the
    /// function that reads a weekday in it (a pointer, so that pure-Rust tests
    /// never link Postgres' symbols).
    Pg(*const pgrx::pg_sys::pg_tz, fn(i64, *const pgrx::pg_sys::pg_tz) -> Option<u8>),
}

/// A window ready for matching.
#[derive(Debug, Clone)]
pub struct Window {
    weekdays: u8,
    /// `[start, end)` in microseconds of the UTC day.
    ranges: Vec<(i64, i64)>,
    zone: Zone,
    /// The window as stored, for `cost_breakdown`.
    pub json: Value,
}

impl Window {
    pub fn new(spec: &WindowSpec, zone: Zone) -> Window {
        Window {
            weekdays: spec.weekdays,
            ranges: spec
                .minutes
                .iter()
                .map(|&(s, e)| (s as i64 * MICROS_PER_MINUTE, e as i64 * MICROS_PER_MINUTE))
                .collect(),
            zone,
            json: spec.to_json(),
        }
    }

    fn contains(&self, at: i64) -> bool {
        let time_of_day = at.rem_euclid(MICROS_PER_DAY);
        self.ranges.iter().any(|&(s, e)| s <= time_of_day && time_of_day < e)
            && self.weekdays & (1 << (iso_weekday(at, self.zone) - 1)) != 0
    }
}

/// ISO weekday (1 = Monday) of a Postgres timestamp (µs since 2000-01-01 UTC) in `zone`.
pub fn iso_weekday(at: i64, zone: Zone) -> u8 {
    let local = match zone {
        Zone::Utc => at,
        Zone::Offset(off) => at.saturating_add(off),
        Zone::Pg(tz, weekday) => match weekday(at, tz) {
            Some(d) => return d,
            None => at,
        },
    };
    // 2000-01-01 was a Saturday (ISO 6).
    (local.div_euclid(MICROS_PER_DAY) + 5).rem_euclid(7) as u8 + 1
}

/// A price row's off-peak rates and windows.
#[derive(Debug, Clone)]
pub struct OffPeak {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Option<Decimal>,
    pub windows: Vec<Window>,
}

impl OffPeak {
    /// The first window that holds `at`; infinite times are never off-peak.
    pub fn window_at(&self, at: i64) -> Option<usize> {
        if at == i64::MIN || at == i64::MAX {
            return None;
        }
        self.windows.iter().position(|w| w.contains(at))
    }
}

/// The Postgres time zone of that name (`pg_tzset`), if Postgres knows it.
pub fn pg_zone(name: &str) -> Option<*const pgrx::pg_sys::pg_tz> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name; pg_tzset returns NULL for an unknown zone.
    let tz = unsafe { pgrx::pg_sys::pg_tzset(c.as_ptr()) };
    (!tz.is_null()).then_some(tz as *const _)
}

/// Whether Postgres knows a time zone name (for `parse` inside the backend).
pub fn zone_known(name: &str) -> bool {
    pg_zone(name).is_some()
}

/// ISO weekday of `at` in a Postgres time zone (`pg_localtime`).
fn pg_weekday(at: i64, tz: *const pgrx::pg_sys::pg_tz) -> Option<u8> {
    let unix: pgrx::pg_sys::pg_time_t = at.div_euclid(1_000_000) + UNIX_TO_PG_EPOCH_SECS;
    // SAFETY: tz came from pg_tzset, whose zones live until the backend exits.
    let tm = unsafe { pgrx::pg_sys::pg_localtime(&unix, tz) };
    if tm.is_null() {
        return None;
    }
    // tm_wday: 0 = Sunday
    // SAFETY: a non-null result points at pg_localtime's static struct pg_tm,
    // read here before anything else can call it again.
    let wday = unsafe { (*tm).tm_wday } as u8;
    Some(if wday == 0 { 7 } else { wday })
}

/// Where a parsed window takes its weekday, inside the backend.
pub fn backend_zone(spec: &WindowSpec) -> Zone {
    match spec.weekday_timezone.as_deref().and_then(pg_zone) {
        Some(tz) => Zone::Pg(tz, pg_weekday),
        None => Zone::Utc,
    }
}

/// The window a breakdown reports.
pub fn window_json(op: &OffPeak, i: usize) -> Value {
    op.windows.get(i).map(|w| w.json.clone()).unwrap_or(Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_zone(z: &str) -> bool {
        matches!(z, "UTC" | "Asia/Shanghai")
    }

    fn parse_str(s: &str) -> Result<Vec<WindowSpec>, String> {
        parse(&serde_json::from_str(s).unwrap(), &any_zone)
    }

    /// µs since 2000-01-01 UTC of a UTC date and time (days counted by hand below).
    fn ts(days_since_2000: i64, h: i64, m: i64) -> i64 {
        days_since_2000 * MICROS_PER_DAY + (h * 60 + m) * MICROS_PER_MINUTE
    }
    // 2026-06-01 is a Monday: 9648 days after 2000-01-01.
    const MON_2026_06_01: i64 = 9648;

    fn deepseek(zone: Zone) -> OffPeak {
        let specs = parse_str(
            r#"[{"hours_utc": ["00:00-01:00", "04:00-06:00", "10:00-00:00"], "weekdays": [1,2,3,4,5]},
                {"hours_utc": "00:00-00:00", "weekdays": [6,7]}]"#,
        )
        .unwrap();
        OffPeak {
            input: Decimal::parse("0.66").unwrap(),
            output: Decimal::parse("1.98").unwrap(),
            cache_read: None,
            windows: specs.iter().map(|s| Window::new(s, zone)).collect(),
        }
    }

    #[test]
    fn weekdays_from_the_epoch() {
        assert_eq!(iso_weekday(0, Zone::Utc), 6); // 2000-01-01 Saturday
        assert_eq!(iso_weekday(ts(MON_2026_06_01, 12, 0), Zone::Utc), 1);
        assert_eq!(iso_weekday(ts(-1, 23, 59), Zone::Utc), 5); // 1999-12-31 Friday
                                                               // 16:00 UTC on Sunday is Monday 00:00 at +08:00
        assert_eq!(iso_weekday(ts(MON_2026_06_01 - 1, 16, 0), Zone::Offset(8 * 3600 * 1_000_000)), 1);
        assert_eq!(iso_weekday(ts(MON_2026_06_01 - 1, 15, 59), Zone::Offset(8 * 3600 * 1_000_000)), 7);
    }

    #[test]
    fn deepseek_windows() {
        let op = deepseek(Zone::Utc);
        let mon = MON_2026_06_01;
        assert_eq!(op.window_at(ts(mon, 0, 0)), Some(0));
        assert_eq!(op.window_at(ts(mon, 0, 59) + 59_999_999), Some(0));
        assert_eq!(op.window_at(ts(mon, 1, 0)), None);
        assert_eq!(op.window_at(ts(mon, 3, 59)), None);
        assert_eq!(op.window_at(ts(mon, 4, 0)), Some(0));
        assert_eq!(op.window_at(ts(mon, 6, 0)), None);
        assert_eq!(op.window_at(ts(mon, 10, 0)), Some(0));
        assert_eq!(op.window_at(ts(mon, 23, 59)), Some(0));
        // Saturday and Sunday: all day
        assert_eq!(op.window_at(ts(mon + 5, 1, 0)), Some(1));
        assert_eq!(op.window_at(ts(mon + 6, 3, 0)), Some(1));
        // infinite times are never off-peak
        assert_eq!(op.window_at(i64::MIN), None);
        assert_eq!(op.window_at(i64::MAX), None);
        // before 2000 (negative timestamps)
        assert_eq!(op.window_at(ts(-1, 2, 0)), None); // Friday 02:00
        assert_eq!(op.window_at(ts(-2, 2, 0)), None); // Thursday 02:00
        assert_eq!(op.window_at(ts(-6, 2, 0)), Some(1)); // 1999-12-26 Sunday
    }

    #[test]
    fn weekday_timezone_moves_the_weekday_not_the_hours() {
        let op = deepseek(Zone::Offset(8 * 3600 * 1_000_000));
        let mon = MON_2026_06_01;
        // Sunday 2026-05-31 15:59 UTC: Sunday in Shanghai -> weekend window
        assert_eq!(op.window_at(ts(mon - 1, 15, 59)), Some(1));
        // Sunday 16:00 UTC = Monday 00:00 in Shanghai; 16:00 UTC is in 10:00-00:00
        assert_eq!(op.window_at(ts(mon - 1, 16, 0)), Some(0));
        // Friday 16:00 UTC = Saturday in Shanghai: the weekend window
        assert_eq!(op.window_at(ts(mon + 4, 16, 0)), Some(1));
        // Monday 02:00 UTC: Monday in both, 02:00 is peak
        assert_eq!(op.window_at(ts(mon, 2, 0)), None);
        // Sunday 02:00 UTC is Sunday in Shanghai: weekend, off-peak
        assert_eq!(op.window_at(ts(mon - 1, 2, 0)), Some(1));
    }

    #[test]
    fn normalised_form() {
        let specs = parse_str(r#"{"windows": [{"hours_utc": "10:00-00:00", "weekdays": [5, 1, 1]}], "weekday_timezone": "Asia/Shanghai"}"#).unwrap();
        assert_eq!(
            normalise(&specs).to_string(),
            r#"[{"hours_utc":["10:00-00:00"],"weekday_timezone":"Asia/Shanghai","weekdays":[1,5]}]"#
        );
        let specs = parse_str(r#"[{"hours_utc": ["12:00-24:00", "00:00-01:30"]}]"#).unwrap();
        assert_eq!(
            normalise(&specs).to_string(),
            r#"[{"hours_utc":["00:00-01:30","12:00-00:00"],"weekday_timezone":"UTC","weekdays":[1,2,3,4,5,6,7]}]"#
        );
        // normalising is idempotent
        let again = parse(&normalise(&specs), &any_zone).unwrap();
        assert_eq!(again, specs);
    }

    #[test]
    fn bad_windows() {
        for (doc, msg) in [
            ("[]", "must not be empty"),
            ("{}", "needs \"windows\""),
            ("42", "must be a JSON array"),
            ("[1]", "must be an object"),
            (r#"[{"weekdays": [1]}]"#, "needs hours_utc"),
            (r#"[{"hours_utc": []}]"#, "non-empty list"),
            (r#"[{"hours_utc": "25:00-26:00"}]"#, "not HH:MM-HH:MM"),
            (r#"[{"hours_utc": "1:00-2:00"}]"#, "not HH:MM-HH:MM"),
            (r#"[{"hours_utc": "10:00"}]"#, "not HH:MM-HH:MM"),
            (r#"[{"hours_utc": "10:60-11:00"}]"#, "not HH:MM-HH:MM"),
            (r#"[{"hours_utc": "22:00-02:00"}]"#, "crosses midnight"),
            (r#"[{"hours_utc": "05:00-05:00"}]"#, "is empty"),
            (r#"[{"hours_utc": "24:00-00:00"}]"#, "starts at 24:00"),
            (r#"[{"hours_utc": [7]}]"#, "must be a string"),
            (r#"[{"hours_utc": "00:00-00:00", "weekdays": [0]}]"#, "ISO day numbers"),
            (r#"[{"hours_utc": "00:00-00:00", "weekdays": [8]}]"#, "ISO day numbers"),
            (r#"[{"hours_utc": "00:00-00:00", "weekdays": [1.5]}]"#, "ISO day numbers"),
            (r#"[{"hours_utc": "00:00-00:00", "weekdays": ["1"]}]"#, "ISO day numbers"),
            (r#"[{"hours_utc": "00:00-00:00", "weekdays": []}]"#, "non-empty list"),
            (r#"[{"hours_utc": "00:00-00:00", "weekday_timezone": "Mars/Olympus"}]"#, "not a time zone"),
            (r#"[{"hours_utc": "00:00-00:00", "weekday_timezone": 8}]"#, "time zone name"),
            (r#"[{"hours_utc": "00:00-00:00", "days": [1]}]"#, "unknown window key \"days\""),
        ] {
            let err = parse_str(doc).expect_err(doc);
            assert!(err.contains(msg), "{doc}: {err}");
        }
        assert!(parse_str(r#"[{"hours_utc": "00:00-00:00"}, {"hours_utc": "x"}]"#)
            .unwrap_err()
            .starts_with("window 2:"));
    }
}
