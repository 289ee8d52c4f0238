//! Timestamps as PostgreSQL writes them in JSON (`2026-11-28T18:00:00.5+01:00`), turned into
//! the one form the API answers with: RFC 3339 in UTC (`2026-11-28T17:00:00.500000Z`).

/// `text` in UTC, or `None` when it is not an ISO 8601 date or timestamp. A timestamp without
/// an offset is taken as UTC; a date is returned as it is.
pub fn utc(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if b.len() == 10 {
        return Some(text.to_string());
    }
    if !matches!(b.get(10), Some(b'T' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut micros = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let fraction = &text[i + 1..i + 1 + digits];
        micros = format!("{fraction:0<6}")[..6].parse().ok()?;
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = num(i + 1, 2)?;
            let minutes = match b.get(i + 3) {
                None => 0,
                Some(b':') if b.len() == i + 6 => num(i + 4, 2)?,
                _ => return None,
            };
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    Some(if micros == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z")
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn timestamps_come_out_in_utc() {
        assert_eq!(utc("2026-11-28T17:00:00+00:00").as_deref(), Some("2026-11-28T17:00:00Z"));
        assert_eq!(utc("2026-11-28T18:00:00.5+01:00").as_deref(), Some("2026-11-28T17:00:00.500000Z"));
        assert_eq!(utc("2026-11-28T17:00:00.123456").as_deref(), Some("2026-11-28T17:00:00.123456Z"));
        assert_eq!(utc("2026-01-01T01:30:00+05:30").as_deref(), Some("2025-12-31T20:00:00Z"));
        assert_eq!(utc("2024-02-28T22:00:00-03:00").as_deref(), Some("2024-02-29T01:00:00Z"));
        assert_eq!(utc("2026-11-28 17:00:00+02").as_deref(), Some("2026-11-28T15:00:00Z"));
        assert_eq!(utc("2026-11-28").as_deref(), Some("2026-11-28"));
    }

    #[test]
    fn anything_else_is_not_a_timestamp() {
        for bad in ["infinity", "-infinity", "2026-11-28T17:00", "28/11/2026", "2026-11-28T17:00:00+0", ""] {
            assert_eq!(utc(bad), None, "{bad}");
        }
    }
}
