//! Exact money for quotes: amounts in integer thousandths of a unit, quantities in
//! thousandths, percentage rates in hundredths of a percent. No floating point is used for any
//! value or computation.
//!
//! | type         | unit                      | decimals read | written as          |
//! |--------------|---------------------------|---------------|---------------------|
//! | [`Money`]    | thousandth of a unit      | ≤ 3           | `"1234.50"`, `"1.235"` |
//! | [`Quantity`] | thousandth of a unit      | ≤ 3           | `"2.5"`, `"3"`      |
//! | [`Rate`]     | hundredth of a percent    | ≤ 2           | `"8.25"` (percent)  |
//!
//! Thousandths because a quote's currency has at most three minor units (KWD, BHD, ...;
//! [`crate::currency`]); quote amounts are stored as `numeric(13,3)` (migration 0018). An
//! amount is written with two decimals, and a third when it has one (`"12.34"`, `"12.345"`),
//! so that two-decimal amounts read as they always did. It is at most [`Money::MAX`] =
//! 9999999999.99 in magnitude; arithmetic that would leave that range is a
//! [`MoneyError::Overflow`], never a panic or a wrap-around.
//!
//! # Quote totals and rounding
//!
//! Every rounding is **half away from zero** (0.125 → 0.13, −0.125 → −0.13) to the smallest
//! unit of the quote's currency (the cent for USD, the whole yen for JPY, the fils for KWD:
//! [`crate::currency::Currency::step`]), and happens at exactly these four points
//! ([`Totals::compute_in`]):
//!
//! 1. line total = round(quantity × unit price), each line on its own, so the lines printed
//!    on a quote add up to the printed subtotal;
//! 2. subtotal   = Σ line totals (exact, no rounding);
//! 3. markup     = round(subtotal × markup rate / 100);
//! 4. tax        = round((subtotal + markup) × tax rate / 100);
//!
//! and total = subtotal + markup + tax (exact). Intermediate products are exact (`i128`).
//! Unit prices must already be in the currency's smallest unit: the quote rules refuse
//! `"10.50"` on a JPY quote and `"1.2345"` anywhere rather than round them. JPY: 0.5 × 101 =
//! 50.5 → 51; KWD: 3 × 1.235 = 3.705, and 8.25 % tax on it 0.3056625 → 0.306.
//!
//! Worked example in cents ([`Totals::compute`]), markup 12.5 %, tax 8.25 %:
//!
//! ```text
//!   3     × 19.99 = 59.97                 → 59.97
//!   0.333 × 10.00 =  3.33                 →  3.33
//!   2.5   ×  0.01 =  0.025                →  0.03   (half away from zero)
//!   subtotal      = 59.97 + 3.33 + 0.03   = 63.33
//!   markup        = 63.33 × 12.5 %        =  7.91625  →  7.92
//!   tax           = (63.33 + 7.92) × 8.25 % = 71.25 × 0.0825 = 5.878125 → 5.88
//!   total         = 63.33 + 7.92 + 5.88   = 77.13
//! ```
//!
//! # Reading numbers
//!
//! Values come as decimal strings (`"19.99"`; plain notation only, no exponent, no `NaN`,
//! no thousands separators) or as JSON numbers. A JSON number is read from its decimal text
//! (`serde_json::Number`'s shortest round-trip form), which is exact for every number of
//! up to 15 significant digits: every value these types accept within the quote limits.
//! More decimals than a type carries are refused ([`MoneyError::TooPrecise`]), never rounded
//! away silently; trailing zeros are fine (`"19.990"`). Clients that send numbers with more
//! than 15 significant digits should send strings, which are always read exactly.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// Why a value could not be read or computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a number: `""`, `"abc"`, `"1,50"`, `"NaN"`, `"1e3"` as a string, `true`, ...
    Invalid,
    /// More decimal places than the type carries.
    TooPrecise { max_decimals: u32 },
    /// A value read from input is too large for the type.
    OutOfRange,
    /// A computed amount would exceed [`Money::MAX`] in magnitude.
    Overflow,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::Invalid => f.write_str("not a number; send a number or a decimal string such as \"19.99\""),
            MoneyError::TooPrecise { max_decimals } => write!(f, "at most {max_decimals} decimal places"),
            MoneyError::OutOfRange => f.write_str("the number is too large"),
            MoneyError::Overflow => write!(f, "the amount would exceed {}", Money::MAX),
        }
    }
}

impl std::error::Error for MoneyError {}

/// `numerator / denominator` rounded to the nearest integer, halves away from zero
/// (7/2 → 4, −7/2 → −4, 5/4 → 1). `None` when the denominator is not positive.
pub fn round_half_away_from_zero(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator <= 0 {
        return None;
    }
    let quotient = numerator / denominator; // truncates toward zero
    let remainder = numerator % denominator; // has the sign of the numerator
                                             // |remainder| < denominator ≤ i128::MAX, so twice it fits in u128.
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        Some(quotient + numerator.signum())
    } else {
        Some(quotient)
    }
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

/// An exact amount in thousandths of a unit, at most [`Money::MAX`] in magnitude. Written as
/// `"1234.50"` (a third decimal only when it has one: `"1.235"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// 9999999999.99, the largest amount of a quote (it was `numeric(12,2)`'s largest value, and
/// stays the limit now that amounts are `numeric(13,3)`).
const MAX_THOUSANDTHS: i64 = 9_999_999_999_990;

/// Thousandths in a cent: the rounding step of two-decimal amounts.
pub const CENT: i64 = 10;

impl Money {
    pub const ZERO: Money = Money(0);
    pub const MAX: Money = Money(MAX_THOUSANDTHS);
    pub const DECIMALS: u32 = 3;

    /// `Err(OutOfRange)` beyond ±[`Money::MAX`].
    pub fn from_thousandths(thousandths: i64) -> Result<Money, MoneyError> {
        Money::in_range(thousandths as i128).ok_or(MoneyError::OutOfRange)
    }

    pub fn thousandths(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whether the amount is a whole number of `step` thousandths ([`CENT`], a currency's
    /// [`crate::currency::Currency::step`]).
    pub fn is_multiple_of(self, step: i64) -> bool {
        self.0 % step.max(1) == 0
    }

    /// A plain decimal string with at most 3 decimals: `"1234.5"`, `"-0.05"`, `"10"`.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let thousandths = parse_scaled(text, Self::DECIMALS, false)?;
        Money::from_thousandths(thousandths)
    }

    /// A JSON number or a decimal string.
    pub fn from_json(value: &Value) -> Result<Money, MoneyError> {
        Money::from_thousandths(json_scaled(value, Self::DECIMALS)?)
    }

    /// [`Money::from_json`] for amounts kept in cents (the item catalog): `TooPrecise` beyond
    /// two decimals.
    pub fn cents_from_json(value: &Value) -> Result<Money, MoneyError> {
        Money::from_json(value)?.in_cents()
    }

    /// `self`, when it has at most two decimals.
    fn in_cents(self) -> Result<Money, MoneyError> {
        if self.is_multiple_of(CENT) {
            Ok(self)
        } else {
            Err(MoneyError::TooPrecise { max_decimals: 2 })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        Money::in_range(self.0 as i128 + other.0 as i128).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        Money::in_range(self.0 as i128 - other.0 as i128).ok_or(MoneyError::Overflow)
    }

    /// `self × quantity`, rounded to cents half away from zero.
    pub fn times(self, quantity: Quantity) -> Result<Money, MoneyError> {
        self.times_in(quantity, CENT)
    }

    /// `self × rate / 100`, rounded to cents half away from zero.
    pub fn percent(self, rate: Rate) -> Result<Money, MoneyError> {
        self.percent_in(rate, CENT)
    }

    /// `self × quantity`, rounded half away from zero to a multiple of `step` thousandths
    /// (a currency's smallest unit: [`CENT`] for USD, 1000 for JPY, 1 for KWD).
    pub fn times_in(self, quantity: Quantity, step: i64) -> Result<Money, MoneyError> {
        let exact = self.0 as i128 * quantity.0 as i128; // in millionths; |·| < 2^107
        Money::rounded_to(exact, Quantity::ONE.0 as i128, step)
    }

    /// `self × rate / 100`, rounded half away from zero to a multiple of `step` thousandths.
    pub fn percent_in(self, rate: Rate, step: i64) -> Result<Money, MoneyError> {
        let exact = self.0 as i128 * rate.0 as i128; // in 1/10000 thousandths
        Money::rounded_to(exact, Rate::ONE_PERCENT.0 as i128 * 100, step)
    }

    fn rounded_to(numerator: i128, denominator: i128, step: i64) -> Result<Money, MoneyError> {
        let step = step.max(1) as i128;
        round_half_away_from_zero(numerator, denominator * step)
            .and_then(|units| units.checked_mul(step))
            .and_then(Money::in_range)
            .ok_or(MoneyError::Overflow)
    }

    fn in_range(thousandths: i128) -> Option<Money> {
        (-(MAX_THOUSANDTHS as i128)..=MAX_THOUSANDTHS as i128)
            .contains(&thousandths)
            .then_some(Money(thousandths as i64))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, Self::DECIMALS, 2)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Money, MoneyError> {
        Money::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Quantity
// ---------------------------------------------------------------------------------------------

/// An exact quantity in thousandths of a unit (`2.5` is 2500). Written without trailing
/// zeros: `"2.5"`, `"3"`, `"0.333"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(i64);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
    pub const ONE: Quantity = Quantity(1000);
    pub const DECIMALS: u32 = 3;

    pub fn from_thousandths(thousandths: i64) -> Quantity {
        Quantity(thousandths)
    }

    pub fn thousandths(self) -> i64 {
        self.0
    }

    /// A whole number of units; `None` if it does not fit.
    pub fn from_units(units: i64) -> Option<Quantity> {
        units.checked_mul(Self::ONE.0).map(Quantity)
    }

    /// A plain decimal string with at most 3 decimals.
    pub fn parse(text: &str) -> Result<Quantity, MoneyError> {
        parse_scaled(text, Self::DECIMALS, false).map(Quantity)
    }

    /// A JSON number or a decimal string.
    pub fn from_json(value: &Value) -> Result<Quantity, MoneyError> {
        json_scaled(value, Self::DECIMALS).map(Quantity)
    }

    /// `self × k`; `None` on overflow.
    pub fn checked_mul(self, k: i64) -> Option<Quantity> {
        self.0.checked_mul(k).map(Quantity)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, Self::DECIMALS, 0)
    }
}

impl FromStr for Quantity {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Quantity, MoneyError> {
        Quantity::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Rate
// ---------------------------------------------------------------------------------------------

/// An exact percentage in hundredths of a percent (`8.25` % is 825). Written as `"8.25"`,
/// the way `numeric(5,2)` columns read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(i64);

impl Rate {
    pub const ZERO: Rate = Rate(0);
    pub const ONE_PERCENT: Rate = Rate(100);
    pub const DECIMALS: u32 = 2;

    pub fn from_hundredths(hundredths: i64) -> Rate {
        Rate(hundredths)
    }

    pub fn hundredths(self) -> i64 {
        self.0
    }

    /// A whole number of percent; `None` if it does not fit.
    pub fn from_percent(percent: i64) -> Option<Rate> {
        percent.checked_mul(Self::ONE_PERCENT.0).map(Rate)
    }

    /// A plain decimal string (percent) with at most 2 decimals: `"8.25"`.
    pub fn parse(text: &str) -> Result<Rate, MoneyError> {
        parse_scaled(text, Self::DECIMALS, false).map(Rate)
    }

    /// A JSON number or a decimal string (percent).
    pub fn from_json(value: &Value) -> Result<Rate, MoneyError> {
        json_scaled(value, Self::DECIMALS).map(Rate)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, Self::DECIMALS, Self::DECIMALS)
    }
}

impl FromStr for Rate {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Rate, MoneyError> {
        Rate::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Totals
// ---------------------------------------------------------------------------------------------

/// Something priced on a quote: a quantity at a unit price.
pub trait Priced {
    fn quantity(&self) -> Quantity;
    fn unit_price(&self) -> Money;
}

impl Priced for (Quantity, Money) {
    fn quantity(&self) -> Quantity {
        self.0
    }
    fn unit_price(&self) -> Money {
        self.1
    }
}

/// The totals of a quote, computed by the rule in the module documentation. Serialises
/// every amount as a decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// One per line, in order.
    pub line_totals: Vec<Money>,
    pub subtotal: Money,
    pub markup_amount: Money,
    pub tax_amount: Money,
    pub total: Money,
}

impl Totals {
    /// Refuses negative quantities, prices and rates (`OutOfRange`), so totals are never
    /// negative; `Overflow` when any amount would exceed [`Money::MAX`].
    /// Every rounding is to cents.
    pub fn compute<L: Priced>(lines: &[L], markup_rate: Rate, tax_rate: Rate) -> Result<Totals, MoneyError> {
        Totals::compute_in(lines, markup_rate, tax_rate, CENT)
    }

    /// [`Totals::compute`] with every rounding to a multiple of `step` thousandths: the
    /// smallest unit of the quote's currency ([`crate::currency::Currency::step`]: [`CENT`]
    /// for USD, 1000 for JPY, 1 for KWD).
    pub fn compute_in<L: Priced>(
        lines: &[L],
        markup_rate: Rate,
        tax_rate: Rate,
        step: i64,
    ) -> Result<Totals, MoneyError> {
        if markup_rate.0 < 0 || tax_rate.0 < 0 {
            return Err(MoneyError::OutOfRange);
        }
        let mut line_totals = Vec::with_capacity(lines.len());
        let mut subtotal = Money::ZERO;
        for line in lines {
            if line.quantity().0 < 0 || line.unit_price().is_negative() {
                return Err(MoneyError::OutOfRange);
            }
            let line_total = line.unit_price().times_in(line.quantity(), step)?;
            subtotal = subtotal.checked_add(line_total)?;
            line_totals.push(line_total);
        }
        let markup_amount = subtotal.percent_in(markup_rate, step)?;
        let tax_amount = subtotal.checked_add(markup_amount)?.percent_in(tax_rate, step)?;
        let total = subtotal.checked_add(markup_amount)?.checked_add(tax_amount)?;
        Ok(Totals { line_totals, subtotal, markup_amount, tax_amount, total })
    }
}

// ---------------------------------------------------------------------------------------------
// serde: written as decimal strings, read from numbers or strings
// ---------------------------------------------------------------------------------------------

macro_rules! decimal_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t>::from_json(&Value::deserialize(d)?).map_err(D::Error::custom)
            }
        }
    };
}

decimal_serde!(Money);
decimal_serde!(Quantity);
decimal_serde!(Rate);

// ---------------------------------------------------------------------------------------------
// Scaled decimal text
// ---------------------------------------------------------------------------------------------

/// Longest text considered a number at all.
const MAX_NUMBER_TEXT: usize = 64;

fn json_scaled(value: &Value, scale: u32) -> Result<i64, MoneyError> {
    match value {
        // The number's own decimal text: exact for integers, shortest round-trip for others.
        Value::Number(n) => parse_scaled(&n.to_string(), scale, true),
        Value::String(s) => parse_scaled(s, scale, false),
        _ => Err(MoneyError::Invalid),
    }
}

/// `-?digits(.digits)?` (and an exponent when `exponent_allowed`, as JSON numbers print)
/// as an integer count of `10^-scale`. Refuses digits beyond `scale` unless they are zeros.
fn parse_scaled(text: &str, scale: u32, exponent_allowed: bool) -> Result<i64, MoneyError> {
    if text.is_empty() || text.len() > MAX_NUMBER_TEXT {
        return Err(MoneyError::Invalid);
    }
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (int_digits, rest) = split_digits(rest);
    if int_digits.is_empty() {
        return Err(MoneyError::Invalid);
    }
    let (frac_digits, rest) = match rest.split_first() {
        Some((b'.', after)) => {
            let (frac, rest) = split_digits(after);
            if frac.is_empty() {
                return Err(MoneyError::Invalid);
            }
            (frac, rest)
        }
        _ => (&rest[..0], rest),
    };
    let exponent = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', after)) if exponent_allowed => parse_exponent(after)?,
        Some(_) => return Err(MoneyError::Invalid),
    };

    // value = digits × 10^(exponent − fraction length); we want value × 10^scale.
    let digits = || int_digits.iter().chain(frac_digits).map(|d| d - b'0');
    let Some(first) = digits().position(|d| d != 0) else { return Ok(0) };
    let len = int_digits.len() + frac_digits.len();
    let last = len - digits().rev().position(|d| d != 0).unwrap_or(0);
    let shift = scale as i64 + exponent - frac_digits.len() as i64 + (len - last) as i64;
    if shift < 0 {
        return Err(MoneyError::TooPrecise { max_decimals: scale });
    }
    // 18 digits always fit in i64.
    if (last - first) as i64 + shift > 18 {
        return Err(MoneyError::OutOfRange);
    }
    let mut v = digits().skip(first).take(last - first).fold(0i64, |v, d| v * 10 + d as i64);
    for _ in 0..shift {
        v *= 10;
    }
    Ok(if negative { -v } else { v })
}

fn split_digits(bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(bytes.iter().take_while(|b| b.is_ascii_digit()).count())
}

/// `[+-]?digits`, saturating far beyond any exponent that could give an in-range value.
fn parse_exponent(bytes: &[u8]) -> Result<i64, MoneyError> {
    let (negative, rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    let (digits, rest) = split_digits(rest);
    if digits.is_empty() || !rest.is_empty() {
        return Err(MoneyError::Invalid);
    }
    let magnitude = digits.iter().fold(0i64, |e, d| (e * 10 + (d - b'0') as i64).min(1_000_000));
    Ok(if negative { -magnitude } else { magnitude })
}

/// `value × 10^-scale` in plain notation, with between `min_decimals` and `scale` decimals.
fn write_scaled(f: &mut fmt::Formatter<'_>, value: i64, scale: u32, min_decimals: u32) -> fmt::Result {
    let unit = 10u64.pow(scale);
    let magnitude = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    let mut frac = format!("{:0width$}", magnitude % unit, width = scale as usize);
    while frac.len() > min_decimals as usize && frac.ends_with('0') {
        frac.pop();
    }
    if frac.is_empty() {
        write!(f, "{sign}{}", magnitude / unit)
    } else {
        write!(f, "{sign}{}.{frac}", magnitude / unit)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// A deterministic pseudo-random generator for property tests (xorshift64*), shared with the
/// quote tests so both draw from the same, reproducible stream.
#[cfg(test)]
pub(crate) mod testing {
    pub struct XorShift(u64);

    impl XorShift {
        pub fn new(seed: u64) -> XorShift {
            XorShift(seed.max(1))
        }

        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform-ish in `lo..=hi`.
        pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % ((hi - lo) as u64 + 1)) as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::XorShift;
    use super::*;
    use serde_json::json;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }
    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }
    fn r(s: &str) -> Rate {
        Rate::parse(s).unwrap()
    }
    fn line(qty: &str, price: &str) -> (Quantity, Money) {
        (q(qty), m(price))
    }

    // --- rounding -------------------------------------------------------------------------

    #[test]
    fn halves_round_away_from_zero() {
        let cases =
            [(5, 2, 3), (-5, 2, -3), (7, 2, 4), (-7, 2, -4), (5, 4, 1), (6, 4, 2), (-6, 4, -2), (0, 7, 0), (1, 3, 0)];
        for (n, d, want) in cases {
            assert_eq!(round_half_away_from_zero(n, d), Some(want), "{n}/{d}");
        }
        assert_eq!(round_half_away_from_zero(1, 0), None);
        assert_eq!(round_half_away_from_zero(1, -2), None);
        assert_eq!(round_half_away_from_zero(i128::MIN, 1), Some(i128::MIN));
        assert_eq!(round_half_away_from_zero(i128::MAX, i128::MAX), Some(1));
    }

    // --- worked examples ------------------------------------------------------------------

    #[test]
    fn three_at_19_99_is_59_97() {
        assert_eq!(m("19.99").times(q("3")).unwrap(), m("59.97"));
    }

    #[test]
    fn a_third_of_ten_is_3_33() {
        assert_eq!(m("10.00").times(q("0.333")).unwrap(), m("3.33"));
    }

    #[test]
    fn two_and_a_half_cents_round_up_to_three() {
        assert_eq!(m("0.01").times(q("2.5")).unwrap(), m("0.03"));
    }

    #[test]
    fn markup_of_12_5_percent_on_100_05_is_12_51() {
        // 100.05 × 0.125 = 12.50625
        assert_eq!(m("100.05").percent(r("12.5")).unwrap(), m("12.51"));
    }

    #[test]
    fn tax_of_8_25_percent_on_71_25_is_5_88() {
        // 71.25 × 0.0825 = 5.878125
        assert_eq!(m("71.25").percent(r("8.25")).unwrap(), m("5.88"));
    }

    #[test]
    fn module_doc_example_totals_77_13() {
        let lines = [line("3", "19.99"), line("0.333", "10.00"), line("2.5", "0.01")];
        let t = Totals::compute(&lines, r("12.5"), r("8.25")).unwrap();
        assert_eq!(t.line_totals, vec![m("59.97"), m("3.33"), m("0.03")]);
        assert_eq!(
            (t.subtotal, t.markup_amount, t.tax_amount, t.total),
            (m("63.33"), m("7.92"), m("5.88"), m("77.13"))
        );
    }

    #[test]
    fn tax_applies_to_subtotal_plus_markup() {
        // 100 + 10 % markup = 110; 10 % tax of 110 = 11 (not 10).
        let t = Totals::compute(&[line("1", "100")], r("10"), r("10")).unwrap();
        assert_eq!((t.markup_amount, t.tax_amount, t.total), (m("10.00"), m("11.00"), m("121.00")));
    }

    #[test]
    fn lines_are_rounded_one_by_one() {
        // Two lines of 0.005 each: 0.01 + 0.01, where rounding the sum would give 0.01.
        let t = Totals::compute(&[line("0.5", "0.01"), line("0.5", "0.01")], Rate::ZERO, Rate::ZERO).unwrap();
        assert_eq!(t.subtotal, m("0.02"));
    }

    #[test]
    fn totals_serialise_as_decimal_strings() {
        let t = Totals::compute(&[line("2", "617.25")], Rate::ZERO, Rate::ZERO).unwrap();
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"line_totals": ["1234.50"], "subtotal": "1234.50", "markup_amount": "0.00", "tax_amount": "0.00", "total": "1234.50"})
        );
    }

    // --- edge cases -----------------------------------------------------------------------

    #[test]
    fn an_empty_quote_totals_zero() {
        let t = Totals::compute::<(Quantity, Money)>(&[], r("1000"), r("100")).unwrap();
        assert_eq!((t.subtotal, t.total), (Money::ZERO, Money::ZERO));
        assert!(t.line_totals.is_empty());
    }

    #[test]
    fn zero_rates_leave_the_subtotal_alone() {
        let t = Totals::compute(&[line("7", "3.10")], Rate::ZERO, Rate::ZERO).unwrap();
        assert_eq!(
            (t.subtotal, t.markup_amount, t.tax_amount, t.total),
            (m("21.70"), Money::ZERO, Money::ZERO, m("21.70"))
        );
    }

    #[test]
    fn the_largest_amount_is_9999999999_99() {
        assert_eq!(Money::MAX.to_string(), "9999999999.99");
        assert_eq!(m("9999999999.99"), Money::MAX);
        assert_eq!(Money::parse("9999999999.991"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::parse("10000000000.00"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::parse("-10000000000"), Err(MoneyError::OutOfRange));
        assert_eq!(Money::from_thousandths(i64::MAX), Err(MoneyError::OutOfRange));
        assert_eq!(Money::from_thousandths(i64::MIN), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn overflow_is_an_error_never_a_panic() {
        assert_eq!(Money::MAX.checked_add(m("0.01")), Err(MoneyError::Overflow));
        assert_eq!(Money::from_thousandths(-MAX_THOUSANDTHS - 1), Err(MoneyError::OutOfRange));
        assert_eq!(
            Money::from_thousandths(-MAX_THOUSANDTHS).unwrap().checked_sub(m("0.01")),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::MAX.times(q("1.001")), Err(MoneyError::Overflow));
        assert_eq!(Money::MAX.times(Quantity::from_thousandths(i64::MAX)), Err(MoneyError::Overflow));
        assert_eq!(Money::MAX.percent(Rate::from_hundredths(i64::MAX)), Err(MoneyError::Overflow));
        assert_eq!(Money::MAX.percent(r("100")), Ok(Money::MAX));
        // Validation allows 1,000,000 × 1,000,000,000: the line overflows, and says so.
        let big = [line("1000000", "1000000000")];
        assert_eq!(Totals::compute(&big, Rate::ZERO, Rate::ZERO), Err(MoneyError::Overflow));
        // Subtotal fits, markup does not.
        assert_eq!(Totals::compute(&[(Quantity::ONE, Money::MAX)], r("0.01"), Rate::ZERO), Err(MoneyError::Overflow));
        // Subtotal + markup fits, so does the tax; the total does not.
        let third = Money::from_thousandths(MAX_THOUSANDTHS / 3).unwrap();
        assert_eq!(Totals::compute(&[(Quantity::ONE, third)], r("100"), r("100")), Err(MoneyError::Overflow));
        assert!(Totals::compute(&[(Quantity::ONE, third)], r("100"), r("50")).is_ok());
        // Lines fit one by one, not together.
        assert_eq!(
            Totals::compute(&[(Quantity::ONE, Money::MAX), (Quantity::ONE, m("0.01"))], Rate::ZERO, Rate::ZERO),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn negative_inputs_are_refused_by_totals() {
        assert_eq!(Totals::compute(&[line("-1", "5")], Rate::ZERO, Rate::ZERO), Err(MoneyError::OutOfRange));
        assert_eq!(Totals::compute(&[line("1", "-5")], Rate::ZERO, Rate::ZERO), Err(MoneyError::OutOfRange));
        assert_eq!(Totals::compute(&[line("1", "5")], r("-1"), Rate::ZERO), Err(MoneyError::OutOfRange));
        assert_eq!(Totals::compute(&[line("1", "5")], Rate::ZERO, r("-1")), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn negative_amounts_round_and_print_symmetrically() {
        assert_eq!(m("-0.01").times(q("2.5")).unwrap(), m("-0.03"));
        assert_eq!(m("-0.05").to_string(), "-0.05");
        assert_eq!(m("-1234.5").to_string(), "-1234.50");
        assert_eq!(m("-0").to_string(), "0.00");
    }

    // --- reading and writing --------------------------------------------------------------

    #[test]
    fn money_reads_plain_decimals() {
        assert_eq!(m("1234.5").thousandths(), 1_234_500);
        assert_eq!(m("1234.50").thousandths(), 1_234_500);
        assert_eq!(m("19.990").thousandths(), 19_990);
        assert_eq!(m("1.235").thousandths(), 1_235);
        assert_eq!(m("0").thousandths(), 0);
        assert_eq!(m("007.10").thousandths(), 7_100);
        assert_eq!(m("0.0000").thousandths(), 0);
    }

    #[test]
    fn money_refuses_non_numbers() {
        for bad in [
            "", "-", ".", "1.", ".5", "+1", "1,50", "1 000", " 1", "1 ", "NaN", "nan", "inf", "Infinity", "1e3",
            "0x10", "1.2.3", "--1", "1-", "١٢",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError::Invalid), "{bad:?}");
        }
        assert_eq!(Money::parse(&"1".repeat(65)), Err(MoneyError::Invalid));
    }

    #[test]
    fn more_decimals_than_the_type_carries_are_refused() {
        assert_eq!(Money::parse("1.2345"), Err(MoneyError::TooPrecise { max_decimals: 3 }));
        assert_eq!(Money::parse("0.0001"), Err(MoneyError::TooPrecise { max_decimals: 3 }));
        assert_eq!(Quantity::parse("1.0005"), Err(MoneyError::TooPrecise { max_decimals: 3 }));
        assert_eq!(Rate::parse("8.255"), Err(MoneyError::TooPrecise { max_decimals: 2 }));
        assert_eq!(Money::from_json(&json!(19.9999)), Err(MoneyError::TooPrecise { max_decimals: 3 }));
        // The catalog keeps cents.
        assert_eq!(Money::cents_from_json(&json!("19.999")), Err(MoneyError::TooPrecise { max_decimals: 2 }));
        assert_eq!(Money::cents_from_json(&json!(19.990)), Ok(m("19.99")));
    }

    #[test]
    fn json_numbers_are_read_exactly() {
        let cases = [
            (json!(19.99), 19_990),
            (json!(0.1), 100),
            (json!(0.3), 300),
            (json!(1234.5), 1_234_500),
            (json!(1.235), 1_235),
            (json!(10), 10_000),
            (json!(-2.05), -2_050),
            (json!(9999999999.99), MAX_THOUSANDTHS),
            (json!(1.1e2), 110_000),
        ];
        for (v, thousandths) in cases {
            assert_eq!(Money::from_json(&v), Ok(Money(thousandths)), "{v}");
        }
        // Parsed from request text, as the handlers see it.
        let v: Value = serde_json::from_str(r#"[0.07, 1e2, 1E-2, 2.50, 1.005e1, 12345678901.5]"#).unwrap();
        let got: Vec<_> = v.as_array().unwrap().iter().map(Money::from_json).collect();
        assert_eq!(got[..5], [Ok(Money(70)), Ok(Money(100_000)), Ok(Money(10)), Ok(Money(2_500)), Ok(Money(10_050))]);
        assert_eq!(got[5], Err(MoneyError::OutOfRange));
        assert_eq!(Quantity::from_json(&json!(0.333)), Ok(Quantity(333)));
        assert_eq!(Rate::from_json(&json!(8.25)), Ok(Rate(825)));
    }

    #[test]
    fn json_numbers_that_are_not_amounts_are_refused() {
        assert_eq!(Money::from_json(&json!(1e-7)), Err(MoneyError::TooPrecise { max_decimals: 3 }));
        assert_eq!(Money::from_json(&json!(1e300)), Err(MoneyError::OutOfRange));
        assert_eq!(Money::from_json(&json!(u64::MAX)), Err(MoneyError::OutOfRange));
        assert_eq!(Quantity::from_json(&json!(1e30)), Err(MoneyError::OutOfRange));
        for v in [json!(true), json!(null), json!([]), json!({}), json!("1e3")] {
            assert_eq!(Money::from_json(&v), Err(MoneyError::Invalid), "{v}");
        }
    }

    #[test]
    fn exponents_are_bounded() {
        assert_eq!(parse_scaled("1e99999999999999999999", 2, true), Err(MoneyError::OutOfRange));
        assert_eq!(parse_scaled("1e-99999999999999999999", 2, true), Err(MoneyError::TooPrecise { max_decimals: 2 }));
        assert_eq!(parse_scaled("0e99999999999999999999", 2, true), Ok(0));
        assert_eq!(parse_scaled("1e", 2, true), Err(MoneyError::Invalid));
        assert_eq!(parse_scaled("1e+", 2, true), Err(MoneyError::Invalid));
        assert_eq!(parse_scaled("1.5e-1", 2, true), Ok(15));
    }

    #[test]
    fn display_forms() {
        assert_eq!(m("1234.5").to_string(), "1234.50");
        assert_eq!(m("0.05").to_string(), "0.05");
        assert_eq!(m("1.235").to_string(), "1.235");
        assert_eq!(m("12.340").to_string(), "12.34");
        assert_eq!(m("-0.005").to_string(), "-0.005");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(q("2.5").to_string(), "2.5");
        assert_eq!(q("3").to_string(), "3");
        assert_eq!(q("0.333").to_string(), "0.333");
        assert_eq!(q("10.100").to_string(), "10.1");
        assert_eq!(r("8.25").to_string(), "8.25");
        assert_eq!(r("12.5").to_string(), "12.50");
        assert_eq!(r("0").to_string(), "0.00");
    }

    #[test]
    fn serde_writes_strings_and_reads_numbers_or_strings() {
        assert_eq!(serde_json::to_string(&m("1234.5")).unwrap(), r#""1234.50""#);
        assert_eq!(serde_json::to_string(&q("2.5")).unwrap(), r#""2.5""#);
        assert_eq!(serde_json::to_string(&r("8.25")).unwrap(), r#""8.25""#);
        assert_eq!(serde_json::from_str::<Money>(r#""1234.50""#).unwrap(), m("1234.5"));
        assert_eq!(serde_json::from_str::<Money>("1234.5").unwrap(), m("1234.5"));
        assert_eq!(serde_json::from_str::<Quantity>("2.5").unwrap(), q("2.5"));
        assert!(serde_json::from_str::<Money>(r#""12.3456""#).is_err());
        assert!(serde_json::from_str::<Rate>("true").is_err());
    }

    // --- properties -----------------------------------------------------------------------

    /// A random line: quantity 0.001..=1000 (sometimes whole), price 0..=10,000.00 (cents).
    fn random_line(rng: &mut XorShift) -> (Quantity, Money) {
        let qty = if rng.next().is_multiple_of(3) { rng.range(1, 1000) * 1000 } else { rng.range(1, 1_000_000) };
        let price = if rng.next().is_multiple_of(10) { 0 } else { rng.range(0, 1_000_000) * CENT };
        (Quantity(qty), Money(price))
    }

    fn random_quote(rng: &mut XorShift) -> (Vec<(Quantity, Money)>, Rate, Rate) {
        let n = rng.range(0, 20) as usize;
        let lines = (0..n).map(|_| random_line(rng)).collect();
        (lines, Rate(rng.range(0, 100_000)), Rate(rng.range(0, 10_000)))
    }

    /// Σ quantity × price, unrounded, in millionths.
    fn exact_subtotal(lines: &[(Quantity, Money)]) -> i128 {
        lines.iter().map(|(q, p)| q.0 as i128 * p.0 as i128).sum()
    }

    const CASES: u64 = 10_000;

    #[test]
    fn property_total_is_subtotal_plus_markup_plus_tax_and_never_negative() {
        let mut rng = XorShift::new(0x5EED_0001);
        for _ in 0..CASES {
            let (lines, markup, tax) = random_quote(&mut rng);
            let t = Totals::compute(&lines, markup, tax).unwrap();
            assert_eq!(t.total.0, t.subtotal.0 + t.markup_amount.0 + t.tax_amount.0);
            assert_eq!(t.subtotal.0, t.line_totals.iter().map(|m| m.0).sum::<i64>());
            assert!(t.line_totals.iter().all(|m| m.0 >= 0));
            assert!(t.subtotal.0 >= 0 && t.markup_amount.0 >= 0 && t.tax_amount.0 >= 0 && t.total.0 >= 0);
        }
    }

    #[test]
    fn property_every_rounding_is_within_half_a_cent() {
        let mut rng = XorShift::new(0x5EED_0002);
        for _ in 0..CASES {
            let (lines, markup, tax) = random_quote(&mut rng);
            let t = Totals::compute(&lines, markup, tax).unwrap();
            for ((q, p), lt) in lines.iter().zip(&t.line_totals) {
                // |line × 1000 − q × p| ≤ 5000 (millionths: half a cent), ties away from zero.
                // Off by at most half a cent; a half goes up (away from zero), never down.
                let err = lt.0 as i128 * 1000 - q.0 as i128 * p.0 as i128;
                assert!((-4_999..=5_000).contains(&err), "{q} × {p} = {lt}");
            }
            let err = t.markup_amount.0 as i128 * 10_000 - t.subtotal.0 as i128 * markup.0 as i128;
            assert!((-49_999..=50_000).contains(&err));
            let base = (t.subtotal.0 + t.markup_amount.0) as i128;
            let err = t.tax_amount.0 as i128 * 10_000 - base * tax.0 as i128;
            assert!((-49_999..=50_000).contains(&err));
        }
    }

    /// Scaling every quantity by an integer k scales the unrounded subtotal by exactly k.
    /// Each rounded line moves by at most ⌊(k+1)/2⌋ cents from k × its rounded value
    /// (|round(kx) − kx| ≤ ½ and |k·round(x) − kx| ≤ k/2, and the difference is whole cents),
    /// so |subtotal(k·q) − k·subtotal(q)| ≤ n·⌊(k+1)/2⌋ cents for n lines; and it is exactly
    /// k·subtotal(q) when every line is a whole number of cents.
    #[test]
    fn property_scaling_quantities_scales_the_subtotal() {
        let mut rng = XorShift::new(0x5EED_0003);
        for _ in 0..CASES {
            let (lines, _, _) = random_quote(&mut rng);
            let k = rng.range(1, 12);
            let scaled: Vec<_> = lines.iter().map(|(q, p)| (q.checked_mul(k).unwrap(), *p)).collect();
            assert_eq!(exact_subtotal(&scaled), k as i128 * exact_subtotal(&lines));
            let base = Totals::compute(&lines, Rate::ZERO, Rate::ZERO).unwrap();
            let big = Totals::compute(&scaled, Rate::ZERO, Rate::ZERO).unwrap();
            let drift = (big.subtotal.0 - k * base.subtotal.0).abs();
            assert!(drift <= lines.len() as i64 * ((k + 1) / 2) * CENT, "k={k} drift={drift} n={}", lines.len());
            let whole_cents = lines.iter().all(|(q, p)| (q.0 as i128 * p.0 as i128) % 10_000 == 0);
            if whole_cents {
                assert_eq!(big.subtotal.0, k * base.subtotal.0);
            }
        }
    }

    #[test]
    fn property_display_parses_back_to_the_same_value() {
        let mut rng = XorShift::new(0x5EED_0004);
        for _ in 0..CASES {
            let money = Money(rng.range(-MAX_THOUSANDTHS, MAX_THOUSANDTHS));
            assert_eq!(Money::parse(&money.to_string()), Ok(money));
            let json = serde_json::to_value(money).unwrap();
            assert_eq!(serde_json::from_value::<Money>(json).unwrap(), money);
            let quantity = Quantity(rng.range(-1_000_000_000_000, 1_000_000_000_000));
            assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
            let rate = Rate(rng.range(-1_000_000, 1_000_000));
            assert_eq!(Rate::parse(&rate.to_string()), Ok(rate));
        }
    }

    #[test]
    fn property_json_numbers_with_up_to_15_digits_are_exact() {
        // Every amount up to Money::MAX, sent as a JSON number, reads back to the same value.
        let mut rng = XorShift::new(0x5EED_0005);
        for _ in 0..CASES {
            let money = Money(rng.range(0, MAX_THOUSANDTHS));
            let text = money.to_string();
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(Money::from_json(&v), Ok(money), "{text}");
        }
    }
}
