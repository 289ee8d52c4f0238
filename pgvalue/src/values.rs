//! The values themselves, apart from the generated types: what a parameter is written as, what
//! a column is read as, and the messages of the parameters refused.

use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::error::Error as StdError;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// A parameter ready to be sent: tokio-postgres checks it against the statement's parameter
/// type (a `String` for a `uuid` parameter is refused, as on Spin).
pub type Param = Box<dyn ToSql + Sync + Send>;

type BoxError = Box<dyn StdError + Sync + Send>;

// ---- parameters refused ------------------------------------------------------------------
// Each returns the message of a `bad-parameter` error.

/// A `date` parameter: (year, month, day).
pub fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

/// A `time` parameter: (hour, minute, second, nanosecond).
pub fn time((h, mi, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns).ok_or_else(|| "invalid time".to_string())
}

/// A `datetime` parameter: (year, month, day, hour, minute, second, nanosecond), in UTC.
pub fn datetime((y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32)) -> Result<UtcDateTime, String> {
    let date = NaiveDate::from_ymd_opt(y, mo.into(), d.into());
    let time = NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns);
    match (date, time) {
        (Some(date), Some(time)) => Ok(UtcDateTime(NaiveDateTime::new(date, time))),
        _ => Err("invalid datetime".to_string()),
    }
}

/// A `uuid` parameter, in any form the `uuid` crate parses.
pub fn uuid(s: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(s).map_err(|e| format!("invalid uuid: {e}"))
}

/// A `decimal` parameter: base 10 text.
pub fn decimal(s: &str) -> Result<rust_decimal::Decimal, String> {
    s.parse().map_err(|e| format!("invalid decimal `{s}`: {e}"))
}

/// An `array-decimal` parameter: the first element that is not a decimal refuses it.
pub fn decimals(v: &[Option<String>]) -> Result<Vec<Option<rust_decimal::Decimal>>, String> {
    v.iter().map(|d| d.as_deref().map(decimal).transpose()).collect()
}

// ---- columns read --------------------------------------------------------------------------

/// A `date` value: (year, month, day).
pub fn date_parts(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

/// A `time` value: (hour, minute, second, nanosecond).
pub fn time_parts(t: NaiveTime) -> (u8, u8, u8, u32) {
    (t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond())
}

/// A `datetime` value, from a `timestamp` or a `timestamptz` taken in UTC: (year, month, day,
/// hour, minute, second, nanosecond).
pub fn datetime_parts(d: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    (d.year(), d.month() as u8, d.day() as u8, d.hour() as u8, d.minute() as u8, d.second() as u8, d.nanosecond())
}

// ---- values tokio-postgres has no type for ---------------------------------------------------

/// `db-null`: NULL for a parameter of any type.
#[derive(Debug)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// JSON bytes for a `jsonb` or `json` parameter.
#[derive(Debug)]
pub struct JsonBytes(pub Vec<u8>);

impl ToSql for JsonBytes {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
    to_sql_checked!();
}

/// A UTC instant, accepted for both `timestamp` and `timestamptz` (the interface's
/// `datetime` is documented as UTC without zone).
#[derive(Debug)]
pub struct UtcDateTime(pub NaiveDateTime);

impl ToSql for UtcDateTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::TIMESTAMPTZ {
            self.0.and_utc().to_sql(ty, out)
        } else {
            self.0.to_sql(ty, out)
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }
    to_sql_checked!();
}

/// An `interval`, as the interface's record has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub micros: i64,
    pub days: i32,
    pub months: i32,
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("bad interval".into());
        }
        Ok(Interval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        })
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// The raw wire bytes of any value (for `unsupported`, enums and JSON).
#[derive(Debug)]
pub struct Raw(pub Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

// ---- ranges (int4range, int8range, numrange) ---------------------------------------------

/// Whether a range's bound belongs to it (the interface's `range-bound-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    Inclusive,
    Exclusive,
}

/// A range in the interface's terms: each bound absent (unbounded) or a value with its kind.
/// An empty range reads as two absent bounds.
#[derive(Debug, PartialEq)]
pub struct Range<T>(pub Option<(T, BoundKind)>, pub Option<(T, BoundKind)>);

/// A value that can be the bound of a range, with the range type it belongs to.
pub trait RangeElement: Sized + std::fmt::Debug + Sync {
    const RANGE: Type;
    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError>;
    fn decode(raw: &[u8]) -> Result<Self, BoxError>;
}

impl RangeElement for i32 {
    const RANGE: Type = Type::INT4_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        out.put_i32(*self);
        Ok(())
    }
    fn decode(raw: &[u8]) -> Result<Self, BoxError> {
        Ok(i32::from_be_bytes(raw.try_into()?))
    }
}

impl RangeElement for i64 {
    const RANGE: Type = Type::INT8_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        out.put_i64(*self);
        Ok(())
    }
    fn decode(raw: &[u8]) -> Result<Self, BoxError> {
        Ok(i64::from_be_bytes(raw.try_into()?))
    }
}

impl RangeElement for rust_decimal::Decimal {
    const RANGE: Type = Type::NUM_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        self.to_sql(&Type::NUMERIC, out).map(drop)
    }
    fn decode(raw: &[u8]) -> Result<Self, BoxError> {
        rust_decimal::Decimal::from_sql(&Type::NUMERIC, raw)
    }
}

// The flags byte of PostgreSQL's binary range format.
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LOWER_INCLUSIVE: u8 = 0x02;
const RANGE_UPPER_INCLUSIVE: u8 = 0x04;
const RANGE_LOWER_UNBOUNDED: u8 = 0x08;
const RANGE_UPPER_UNBOUNDED: u8 = 0x10;

impl<T: RangeElement> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty != T::RANGE {
            return Err(format!("a {} parameter cannot be written as {ty}", T::RANGE).into());
        }
        let flag = |b: &Option<(T, BoundKind)>, unbounded: u8, inclusive: u8| match b {
            None => unbounded,
            Some((_, BoundKind::Inclusive)) => inclusive,
            Some((_, BoundKind::Exclusive)) => 0,
        };
        out.put_u8(
            flag(&self.0, RANGE_LOWER_UNBOUNDED, RANGE_LOWER_INCLUSIVE)
                | flag(&self.1, RANGE_UPPER_UNBOUNDED, RANGE_UPPER_INCLUSIVE),
        );
        for (value, _) in self.0.iter().chain(self.1.iter()) {
            let at = out.len();
            out.put_i32(0);
            value.encode(out)?;
            let len = i32::try_from(out.len() - at - 4)?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT4_RANGE || *ty == Type::INT8_RANGE || *ty == Type::NUM_RANGE
    }
    to_sql_checked!();
}

impl<'a, T: RangeElement> FromSql<'a> for Range<T> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let (&flags, mut rest) = raw.split_first().ok_or("empty range value")?;
        if flags & RANGE_EMPTY != 0 {
            return Ok(Range(None, None));
        }
        let mut bound = |unbounded: u8, inclusive: u8| -> Result<_, BoxError> {
            if flags & unbounded != 0 {
                return Ok(None);
            }
            let len = i32::from_be_bytes(rest.get(..4).ok_or("short range value")?.try_into()?) as usize;
            let value = T::decode(rest.get(4..4 + len).ok_or("short range value")?)?;
            rest = &rest[4 + len..];
            let kind = if flags & inclusive != 0 { BoundKind::Inclusive } else { BoundKind::Exclusive };
            Ok(Some((value, kind)))
        };
        let lower = bound(RANGE_LOWER_UNBOUNDED, RANGE_LOWER_INCLUSIVE)?;
        let upper = bound(RANGE_UPPER_UNBOUNDED, RANGE_UPPER_INCLUSIVE)?;
        Ok(Range(lower, upper))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    /// `value` as tokio-postgres would send it for a parameter of type `ty`.
    fn written(value: &dyn ToSql, ty: &Type) -> Result<Vec<u8>, BoxError> {
        let mut out = BytesMut::new();
        match value.to_sql_checked(ty, &mut out)? {
            IsNull::Yes => Ok(Vec::new()),
            IsNull::No => Ok(out.to_vec()),
        }
    }

    #[test]
    fn decimals_are_read_as_base_10_text_and_refused_naming_the_text() {
        assert_eq!(decimal("1234.5600").unwrap().to_string(), "1234.5600");
        assert_eq!(decimal("-0.01").unwrap(), Decimal::new(-1, 2));
        let refused = decimal("12,5").unwrap_err();
        assert!(refused.starts_with("invalid decimal `12,5`: "), "{refused}");
        assert_eq!(decimals(&[Some("1.5".into()), None]).unwrap(), vec![Some(Decimal::new(15, 1)), None]);
        assert!(decimals(&[Some("1".into()), Some("x".into())]).unwrap_err().starts_with("invalid decimal `x`"));
    }

    #[test]
    fn dates_and_times_out_of_range_are_refused() {
        assert_eq!(date((2024, 2, 29)).unwrap(), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        assert_eq!(date((2023, 2, 29)).unwrap_err(), "invalid date 2023-2-29");
        assert_eq!(time((23, 59, 59, 999_999_999)).unwrap().nanosecond(), 999_999_999);
        assert_eq!(time((24, 0, 0, 0)).unwrap_err(), "invalid time");
        assert_eq!(datetime((2024, 13, 1, 0, 0, 0, 0)).unwrap_err(), "invalid datetime");
        assert_eq!(datetime((2024, 1, 1, 0, 60, 0, 0)).unwrap_err(), "invalid datetime");
        assert!(uuid("not a uuid").unwrap_err().starts_with("invalid uuid: "));
        assert_eq!(
            uuid("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap().to_string(),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
    }

    #[test]
    fn datetimes_read_as_the_interfaces_tuples() {
        let d = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        let t = NaiveTime::from_hms_nano_opt(23, 5, 9, 123_456_000).unwrap();
        assert_eq!(date_parts(d), (1999, 12, 31));
        assert_eq!(time_parts(t), (23, 5, 9, 123_456_000));
        assert_eq!(datetime_parts(NaiveDateTime::new(d, t)), (1999, 12, 31, 23, 5, 9, 123_456_000));
        // What a parameter is written from, a column reads back as.
        let parts = (2024, 2, 29, 12, 0, 1, 5);
        assert_eq!(datetime_parts(datetime(parts).unwrap().0), parts);
    }

    #[test]
    fn a_datetime_is_written_as_the_same_instant_for_timestamp_and_timestamptz() {
        let at = datetime((2024, 5, 6, 7, 8, 9, 0)).unwrap();
        let plain = written(&at, &Type::TIMESTAMP).unwrap();
        assert_eq!(written(&at, &Type::TIMESTAMPTZ).unwrap(), plain);
        assert_eq!(NaiveDateTime::from_sql(&Type::TIMESTAMP, &plain).unwrap(), at.0);
        assert!(written(&at, &Type::DATE).is_err(), "a datetime is not a date");
    }

    #[test]
    fn an_interval_round_trips_through_its_wire_bytes() {
        let i = Interval { micros: -3_600_000_001, days: 40, months: -14 };
        let bytes = written(&i, &Type::INTERVAL).unwrap();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[..8], (-3_600_000_001i64).to_be_bytes());
        assert_eq!(Interval::from_sql(&Type::INTERVAL, &bytes).unwrap(), i);
        assert!(Interval::from_sql(&Type::INTERVAL, &bytes[..15]).is_err());
        assert!(written(&i, &Type::INT8).is_err());
    }

    #[test]
    fn ranges_round_trip_through_their_wire_bytes() {
        use BoundKind::{Exclusive, Inclusive};
        let r = Range(Some((1i32, Inclusive)), Some((10, Exclusive)));
        let bytes = written(&r, &Type::INT4_RANGE).unwrap();
        assert_eq!(
            bytes,
            [
                &[RANGE_LOWER_INCLUSIVE][..],
                &4i32.to_be_bytes(),
                &1i32.to_be_bytes(),
                &4i32.to_be_bytes(),
                &10i32.to_be_bytes()
            ]
            .concat()
        );
        assert_eq!(Range::<i32>::from_sql(&Type::INT4_RANGE, &bytes).unwrap(), r);

        let r = Range(None, Some((i64::MAX, Inclusive)));
        let bytes = written(&r, &Type::INT8_RANGE).unwrap();
        assert_eq!(bytes[0], RANGE_LOWER_UNBOUNDED | RANGE_UPPER_INCLUSIVE);
        assert_eq!(Range::<i64>::from_sql(&Type::INT8_RANGE, &bytes).unwrap(), r);

        let d = |s| Decimal::from_str(s).unwrap();
        let r = Range(Some((d("-1.25"), Exclusive)), None);
        let bytes = written(&r, &Type::NUM_RANGE).unwrap();
        assert_eq!(bytes[0], RANGE_UPPER_UNBOUNDED);
        assert_eq!(Range::<Decimal>::from_sql(&Type::NUM_RANGE, &bytes).unwrap(), r);

        assert_eq!(Range::<i32>::from_sql(&Type::INT4_RANGE, &[RANGE_EMPTY]).unwrap(), Range(None, None));
        assert!(Range::<i32>::from_sql(&Type::INT4_RANGE, &[0, 0, 0, 0, 4, 0]).is_err(), "a short bound");
    }

    #[test]
    fn a_range_is_written_only_as_its_own_range_type() {
        let r = Range(Some((1i32, BoundKind::Inclusive)), None);
        let refused = written(&r, &Type::INT8_RANGE).unwrap_err().to_string();
        assert_eq!(refused, "a int4range parameter cannot be written as int8range");
        assert!(written(&r, &Type::INT4).is_err());
    }

    #[test]
    fn json_gets_the_jsonb_version_byte_only_for_jsonb() {
        let j = JsonBytes(br#"{"a":1}"#.to_vec());
        assert_eq!(written(&j, &Type::JSONB).unwrap(), [&[1u8][..], br#"{"a":1}"#].concat());
        assert_eq!(written(&j, &Type::JSON).unwrap(), br#"{"a":1}"#);
        assert!(written(&j, &Type::TEXT).is_err());
    }

    #[test]
    fn null_is_null_for_any_type_and_raw_keeps_the_bytes() {
        assert_eq!(written(&Null, &Type::UUID).unwrap(), Vec::<u8>::new());
        let mut out = BytesMut::new();
        assert!(matches!(Null.to_sql_checked(&Type::INT4_RANGE, &mut out).unwrap(), IsNull::Yes));
        assert_eq!(Raw::from_sql(&Type::POINT, &[1, 2, 3]).unwrap().0, [1, 2, 3]);
    }
}
