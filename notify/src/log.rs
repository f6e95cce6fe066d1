//! Log lines on stderr, one per event, each starting with a UTC timestamp and
//! a level, then `key=value` pairs with the notification's id, so that
//! `journalctl -u llm-cost-notify | grep id=42` tells one alert's story.
//! No logging framework: the listener writes a handful of lines per alert.

use std::time::{SystemTime, UNIX_EPOCH};

/// Writes one log line to stderr: `2026-05-05T12:00:00.123Z INFO message`.
pub fn line(level: &str, message: std::fmt::Arguments) {
    eprintln!("{} {level} {message}", rfc3339_now());
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::line("INFO", format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::line("WARN", format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::line("ERROR", format_args!($($arg)*)) };
}

/// Seconds and milliseconds since the Unix epoch.
fn now() -> (i64, u32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_millis())
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's days_from_civil inverse).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn split(secs: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, days)
}

/// `2026-05-05T12:00:00.123Z`
pub fn rfc3339_now() -> String {
    let (secs, millis) = now();
    let (y, mo, d, h, mi, s, _) = split(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

/// `Tue, 05 May 2026 12:00:00 +0000`, for an e-mail's Date header.
pub fn rfc2822(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, days) = split(secs);
    let wd = DAYS[days.rem_euclid(7) as usize];
    format!("{wd}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} +0000", MONTHS[mo as usize - 1])
}

pub fn rfc2822_now() -> String {
    rfc2822(now().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2026-05-05 12:34:56 UTC
        assert_eq!(rfc2822(1_777_984_496), "Tue, 05 May 2026 12:34:56 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
