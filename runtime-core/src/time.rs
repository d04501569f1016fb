//! RFC 3339 timestamps in UTC, as runc prints them (`created`, log lines), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Format `t` as `2006-01-02T15:04:05.999999999Z` (Go's RFC3339Nano: trailing zeros of the
/// fraction dropped) or, with `nanos` false, `2006-01-02T15:04:05Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
/// assert_eq!(runtime_core::time::rfc3339(t, true), "2023-11-14T22:13:20.12Z");
/// assert_eq!(runtime_core::time::rfc3339(t, false), "2023-11-14T22:13:20Z");
/// ```
pub fn rfc3339(t: SystemTime, nanos: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, da) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos && d.subsec_nanos() != 0 {
        let frac = format!("{:09}", d.subsec_nanos());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Now, with nanoseconds (the `created` field of a container's state).
///
/// ```
/// let t = runtime_core::time::rfc3339_now();
/// assert!(t.ends_with('Z') && t.len() > 20);
/// ```
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH, true), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap, false), "2000-02-29T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_796_000_000, 5);
        assert_eq!(rfc3339(t, true), "2026-11-30T00:53:20.000000005Z");
    }
}
