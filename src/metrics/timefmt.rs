//! Time formats the monitoring views use: Go-style durations (`3d4h5m6s`), RFC 3339 and
//! `YYYY-MM-DD HH:mm`, without a calendar crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `3d4h5m6s` as v2 prints uptimes: `Ny Nd Nh Nm Ns`, leading zero units dropped.
pub fn uptime(d: Duration) -> String {
    let mut s = d.as_secs();
    let years = s / (365 * 86_400);
    s %= 365 * 86_400;
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    let mut started = false;
    for (v, unit) in [(years, 'y'), (days, 'd'), (h, 'h'), (m, 'm')] {
        if v > 0 || started {
            out.push_str(&format!("{v}{unit}"));
            started = true;
        }
    }
    out.push_str(&format!("{sec}s"));
    out
}

/// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn parts(unix_secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, mo, d) = civil(unix_secs.div_euclid(86_400));
    let rem = unix_secs.rem_euclid(86_400);
    (y, mo, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// RFC 3339 in UTC, e.g. `2025-01-02T03:04:05Z`.
pub fn rfc3339(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(unix_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `YYYY-MM-DD HH:mm` in UTC (v2's `*_format` fields); empty for 0.
pub fn short(unix_secs: i64) -> String {
    if unix_secs == 0 {
        return String::new();
    }
    let (y, mo, d, h, mi, _) = parts(unix_secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_drops_leading_zero_units() {
        assert_eq!(uptime(Duration::from_secs(5)), "5s");
        assert_eq!(uptime(Duration::from_secs(3600 + 5)), "1h0m5s");
        assert_eq!(
            uptime(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5 * 60 + 6)),
            "3d4h5m6s"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(short(951_782_400), "2000-02-29 00:00");
        assert_eq!(short(0), "");
    }
}
