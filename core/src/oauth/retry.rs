//! `Retry-After` (RFC 9110 §10.2.3): how long a server asks the client to wait before
//! retrying, e.g. on a 429 or 503 from the token endpoint.
//!
//! The header is either `delay-seconds` (a count of seconds) or an `HTTP-date`. A delay
//! needs no clock; a date only means something relative to "now", which this crate
//! never reads. [`retry_after`] therefore handles delays only, and [`retry_after_at`]
//! takes `now` as an input (the machine's usual way of knowing the time) and handles
//! both forms.

use crate::time::Timestamp;

/// The delay in milliseconds from a `Retry-After` value in `delay-seconds` form
/// (`1*DIGIT`, surrounding whitespace ignored).
///
/// Returns `None` for an `HTTP-date` (turning a date into a delay needs the current
/// time: use [`retry_after_at`]) and for anything malformed. Huge values saturate at
/// `u64::MAX` rather than failing; callers cap the wait to their own policy.
///
/// ```
/// use bearerflow::oauth::retry_after;
/// assert_eq!(retry_after("120"), Some(120_000));
/// assert_eq!(retry_after(" 0 "), Some(0));
/// assert_eq!(retry_after("Fri, 31 Dec 1999 23:59:59 GMT"), None);
/// assert_eq!(retry_after("-5"), None);
/// ```
pub fn retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: the only possible failure is overflow, which saturates.
    let secs = v.parse::<u64>().unwrap_or(u64::MAX);
    Some(secs.saturating_mul(1000))
}

/// The delay in milliseconds from a `Retry-After` value in either form, given the
/// current time: `delay-seconds`, or an `HTTP-date` (IMF-fixdate, and the obsolete
/// RFC 850 and asctime formats recipients must accept, RFC 9110 §5.6.7) minus `now`,
/// zero when the date is already past.
///
/// ```
/// use bearerflow::oauth::retry_after_at;
/// use bearerflow::time::Timestamp;
/// // 1994-11-06T08:49:37Z is unix 784111777.
/// let now = Timestamp(784_111_777_000 - 30_000);
/// assert_eq!(retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(30_000));
/// assert_eq!(retry_after_at("Sunday, 06-Nov-94 08:49:37 GMT", now), Some(30_000));
/// assert_eq!(retry_after_at("Sun Nov  6 08:49:37 1994", now), Some(30_000));
/// assert_eq!(retry_after_at("5", now), Some(5_000));
/// ```
pub fn retry_after_at(value: &str, now: Timestamp) -> Option<u64> {
    if let Some(ms) = retry_after(value) {
        return Some(ms);
    }
    let at = http_date_unix_secs(value.trim(), now)?;
    let at_ms = at.saturating_mul(1000);
    Some(at_ms.saturating_sub(now.as_millis()))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == s)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `hh:mm:ss` as seconds since midnight (`60` seconds allowed for a leap second).
fn time_of_day(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let h = digits(it.next()?, 2, 2)?;
    let m = digits(it.next()?, 2, 2)?;
    let sec = digits(it.next()?, 2, 2)?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(sec))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative before).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Unix seconds of a date, `None` if the date does not exist; dates before 1970 give 0.
fn unix_secs(year: i64, month: u32, day: u32, tod: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let days = u64::try_from(days).unwrap_or(0);
    Some(days.saturating_mul(86_400).saturating_add(tod))
}

/// The current year at `now` (for the RFC 850 two-digit year rule).
fn year_of(now: Timestamp) -> i64 {
    // `now` is at most ~2.1e11 days, so every product below fits in an i64. Start from
    // the mean Gregorian year length and correct by at most a step or two.
    let days = i64::try_from(now.as_millis() / 86_400_000).unwrap_or(0);
    let mut y = 1970 + days * 400 / 146_097;
    while days_from_civil(y, 1, 1) > days {
        y -= 1;
    }
    while days_from_civil(y + 1, 1, 1) <= days {
        y += 1;
    }
    y
}

fn is_weekday(s: &str, long: bool) -> bool {
    const SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const LONG: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    if long {
        LONG.contains(&s)
    } else {
        SHORT.contains(&s)
    }
}

/// Parse an HTTP-date (RFC 9110 §5.6.7) into unix seconds.
fn http_date_unix_secs(s: &str, now: Timestamp) -> Option<u64> {
    let mut parts = s.split_ascii_whitespace();
    let first = parts.next()?;
    if let Some(wkday) = first.strip_suffix(',') {
        if is_weekday(wkday, false) {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            let day = digits(parts.next()?, 2, 2)?;
            let mon = month(parts.next()?)?;
            let year = digits(parts.next()?, 4, 4)?;
            let tod = time_of_day(parts.next()?)?;
            if parts.next()? != "GMT" || parts.next().is_some() {
                return None;
            }
            return unix_secs(i64::from(year), mon, day, tod);
        }
        if is_weekday(wkday, true) {
            // rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
            let mut dmy = parts.next()?.split('-');
            let day = digits(dmy.next()?, 2, 2)?;
            let mon = month(dmy.next()?)?;
            let yy = i64::from(digits(dmy.next()?, 2, 2)?);
            if dmy.next().is_some() {
                return None;
            }
            let tod = time_of_day(parts.next()?)?;
            if parts.next()? != "GMT" || parts.next().is_some() {
                return None;
            }
            // RFC 9110 §5.6.7: a year more than 50 years in the future means the most
            // recent past year with the same last two digits.
            let current = year_of(now);
            let mut year = current - current.rem_euclid(100) + yy;
            if year > current + 50 {
                year -= 100;
            }
            return unix_secs(year, mon, day, tod);
        }
        return None;
    }
    if is_weekday(first, false) {
        // asctime-date: Sun Nov  6 08:49:37 1994
        let mon = month(parts.next()?)?;
        let day = digits(parts.next()?, 1, 2)?;
        let tod = time_of_day(parts.next()?)?;
        let year = digits(parts.next()?, 4, 4)?;
        if parts.next().is_some() {
            return None;
        }
        return unix_secs(i64::from(year), mon, day, tod);
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delay_seconds() {
        assert_eq!(retry_after("0"), Some(0));
        assert_eq!(retry_after("3"), Some(3000));
        assert_eq!(retry_after("\t42 "), Some(42_000));
        assert_eq!(retry_after("99999999999999999999999"), Some(u64::MAX));
        assert_eq!(retry_after("18446744073709552"), Some(u64::MAX));
        for bad in ["", " ", "1.5", "+3", "-3", "3s", "0x10", "١٢"] {
            assert_eq!(retry_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        let t = 784_111_777u64; // 1994-11-06T08:49:37Z
        let now = Timestamp(0);
        assert_eq!(
            http_date_unix_secs("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(t)
        );
        assert_eq!(
            http_date_unix_secs("Sun Nov  6 08:49:37 1994", now),
            Some(t)
        );
        assert_eq!(
            http_date_unix_secs("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(
            http_date_unix_secs("Tue, 29 Feb 2000 00:00:00 GMT", now),
            Some(951_782_400)
        );
        assert_eq!(
            http_date_unix_secs("Sun, 29 Feb 1900 00:00:00 GMT", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 31 Apr 1994 00:00:00 GMT", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 06 Nov 1994 24:00:00 GMT", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 06 Nov 1994 08:49:37 UTC", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 06 Nov 1994 08:49:37 GMT x", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 06 nov 1994 08:49:37 GMT", now),
            None
        );
        assert_eq!(
            http_date_unix_secs("Sun, 01 Jan 1960 00:00:00 GMT", now),
            Some(0)
        );
    }

    #[test]
    fn rfc850_two_digit_year() {
        // Seen from 2024-06-01, "94" is 1994 and "30" is 2030 (within 50 years).
        let now_2024 = Timestamp(1_717_200_000_000);
        assert_eq!(year_of(now_2024), 2024);
        assert_eq!(
            http_date_unix_secs("Sunday, 06-Nov-94 08:49:37 GMT", now_2024),
            Some(784_111_777)
        );
        assert_eq!(
            http_date_unix_secs("Friday, 01-Jan-30 00:00:00 GMT", now_2024),
            Some(1_893_456_000)
        );
        // Seen from 2090, "30" is 2130? No: 2130 > 2090 + 50, so 2030.
        let now_2090 = Timestamp(days_from_civil(2090, 1, 1) as u64 * 86_400_000);
        assert_eq!(year_of(now_2090), 2090);
        assert_eq!(
            http_date_unix_secs("Friday, 01-Jan-30 00:00:00 GMT", now_2090),
            Some(1_893_456_000)
        );
    }

    #[test]
    fn retry_after_at_past_date_is_zero() {
        let now = Timestamp(2_000_000_000_000);
        assert_eq!(
            retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_at("garbage", now), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<std::string::String>(), now in any::<u64>()) {
            let _ = retry_after(&s);
            let _ = retry_after_at(&s, Timestamp(now));
        }

        #[test]
        fn imf_fixdate_round_trip(days in 0i64..200_000, tod in 0u64..86_400, now in any::<u64>()) {
            // Build a date string from a day count, parse it back.
            let mut y = 1970i64;
            while days_from_civil(y + 1, 1, 1) <= days { y += 1; }
            let mut m = 1u32;
            while m < 12 && days_from_civil(y, m + 1, 1) <= days { m += 1; }
            let d = u32::try_from(days - days_from_civil(y, m, 1) + 1).unwrap();
            let s = std::format!(
                "Mon, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                d, MONTHS[(m - 1) as usize], y, tod / 3600, tod / 60 % 60, tod % 60
            );
            prop_assert_eq!(http_date_unix_secs(&s, Timestamp(now)), Some(days as u64 * 86_400 + tod));
        }
    }
}
