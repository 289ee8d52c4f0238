//! ISO 4217 currencies of quotes: the active codes with their minor units, and how an
//! amount is printed in one.
//!
//! | minor units | codes                                                            |
//! |-------------|------------------------------------------------------------------|
//! | 0           | BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF |
//! | 3           | BHD IQD JOD KWD LYD OMR TND                                      |
//! | 2           | every other code of [`ACTIVE`]                                   |
//!
//! Left out: the codes without minor units in the standard's sense (precious metals XAU,
//! XAG, XPD, XPT; XDR, XSU, XUA, the bond units XBA–XBD, XTS, XXX) and the unidades de fomento
//! with four (CLF, UYW): a quote is not priced in them.
//!
//! # Amounts in a currency
//!
//! Amounts are [`Money`] (thousandths of a unit) whatever the currency. A quote's amounts are
//! rounded to its currency's smallest unit ([`Currency::step`], used by
//! [`crate::money::Totals::compute_in`]): whole yen, cents of a dollar, thousandths of a
//! dinar; the database keeps three decimals (`numeric(13,3)`, migration 0018).
//!
//! # Printing
//!
//! [`format`] writes the code, a space, then the amount with `,` between thousands and `.`
//! before the minor units the currency has: `USD 1,234.50`, `JPY 1,235`, `KWD 12.345`.
//! The code rather than a symbol, because symbols are ambiguous (`$` is USD, CAD, AUD, MXN,
//! ...; `kr` is SEK, NOK, DKK, ISK) and a quote is read by a client in another country;
//! fixed separators, because the reader's locale is unknown and the code already says
//! which currency it is. This is the form of bank statements and invoices across borders.

use crate::money::Money;

/// The currency of a quote whose owner chose none.
pub const DEFAULT: &str = "USD";

/// Active ISO 4217 codes and their minor units (decimal places), in code order.
#[rustfmt::skip]
pub const ACTIVE: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3), ("BIF", 0),
    ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2),
    ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLP", 0),
    ("CNY", 2), ("COP", 2), ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2),
    ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2),
    ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2),
    ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2),
    ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0), ("SAR", 2),
    ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2), ("SLE", 2), ("SOS", 2),
    ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2),
    ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2),
    ("UGX", 0), ("USD", 2), ("USN", 2), ("UYI", 0), ("UYU", 2), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0),
    ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// A code of [`ACTIVE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_units: u8,
}

impl Currency {
    /// The currency of an active code, written in capitals (`"EUR"`); `None` otherwise.
    pub fn lookup(code: &str) -> Option<Currency> {
        ACTIVE.iter().find(|(c, _)| *c == code).map(|&(code, minor_units)| Currency { code, minor_units })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Decimal places of the currency's minor unit (0, 2 or 3).
    pub fn minor_units(self) -> u8 {
        self.minor_units
    }

    /// The smallest amount a quote in this currency carries, in thousandths of a unit
    /// ([`Money`]'s unit): 1000 without minor units, 10 with two, 1 with three.
    pub fn step(self) -> i64 {
        10i64.pow(3u32.saturating_sub(self.minor_units.into()))
    }

    /// Whether `amount` is a whole number of the currency's smallest unit.
    pub fn carries(self, amount: Money) -> bool {
        amount.is_multiple_of(self.step())
    }

    /// `USD 1,234.50`, `JPY 1,235`, `KWD 12.340`: see the module documentation. An amount
    /// finer than the currency's minor unit is rounded half away from zero.
    pub fn format(self, amount: Money) -> String {
        print(self.code, self.minor_units, amount)
    }
}

/// `amount` printed in the currency `code` ([`Currency::format`]); an unknown code is
/// printed as given with two decimals.
pub fn format(amount: Money, code: &str) -> String {
    match Currency::lookup(code) {
        Some(c) => c.format(amount),
        None => print(code, 2, amount),
    }
}

/// `amount` without the code, with the minor units of `code` (`1,235` in JPY, `1,234.50`
/// in EUR): for columns whose heading or row already names the currency.
pub fn number(amount: Money, code: &str) -> String {
    digits(Currency::lookup(code).map_or(2, Currency::minor_units), amount)
}

fn print(code: &str, minor_units: u8, amount: Money) -> String {
    format!("{code} {}", digits(minor_units, amount))
}

fn digits(minor_units: u8, amount: Money) -> String {
    let thousandths = amount.thousandths();
    let sign = if thousandths < 0 { "-" } else { "" };
    let minor_units = u32::from(minor_units.min(3));
    let step = 10u64.pow(3 - minor_units);
    // In the currency's minor units, halves away from zero.
    let minor = (thousandths.unsigned_abs() + step / 2) / step;
    let one = 10u64.pow(minor_units);
    let fraction = match minor_units {
        0 => String::new(),
        n => format!(".{:0width$}", minor % one, width = n as usize),
    };
    format!("{sign}{}{fraction}", grouped(minor / one))
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Quantity, Rate, Totals};

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn the_table_is_sorted_unique_capital_codes_with_0_2_or_3_minor_units() {
        for pair in ACTIVE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (code, minor) in ACTIVE {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(matches!(minor, 0 | 2 | 3), "{code}");
        }
        assert!(ACTIVE.len() > 150);
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        for code in ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "XPF", "PYG"] {
            assert_eq!(Currency::lookup(code).unwrap().minor_units(), 0, "{code}");
        }
        for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"] {
            assert_eq!(Currency::lookup(code).unwrap().minor_units(), 3, "{code}");
        }
        for code in ["USD", "EUR", "GBP", "CHF", "CAD", "INR", "BRL", "ZAR"] {
            assert_eq!(Currency::lookup(code).unwrap().minor_units(), 2, "{code}");
        }
    }

    #[test]
    fn unknown_retired_and_lower_case_codes_are_not_currencies() {
        for code in ["", "US", "USDX", "usd", "Eur", "XXX", "XAU", "DEM", "HRK", "ABC"] {
            assert_eq!(Currency::lookup(code), None, "{code}");
        }
    }

    #[test]
    fn amounts_print_with_the_code_thousands_and_the_minor_units() {
        let f = |s: &str, c: &str| format(m(s), c);
        assert_eq!(f("1234.50", "USD"), "USD 1,234.50");
        assert_eq!(f("1234.50", "EUR"), "EUR 1,234.50");
        assert_eq!(f("1235", "JPY"), "JPY 1,235");
        assert_eq!(f("1234.50", "JPY"), "JPY 1,235"); // half away from zero
        assert_eq!(f("12.34", "KWD"), "KWD 12.340");
        assert_eq!(f("1234.567", "KWD"), "KWD 1,234.567");
        assert_eq!(f("0.005", "USD"), "USD 0.01"); // half away from zero
        assert_eq!(f("-0.005", "USD"), "USD -0.01");
        assert_eq!(f("0.004", "EUR"), "EUR 0.00");
        assert_eq!(f("0", "USD"), "USD 0.00");
        assert_eq!(f("0.05", "GBP"), "GBP 0.05");
        assert_eq!(f("999", "USD"), "USD 999.00");
        assert_eq!(f("1000", "USD"), "USD 1,000.00");
        assert_eq!(f("9999999999.99", "USD"), "USD 9,999,999,999.99");
        assert_eq!(f("-1234567.8", "EUR"), "EUR -1,234,567.80");
        assert_eq!(f("1234.5", "ZZZ"), "ZZZ 1,234.50");
        assert_eq!(number(m("1234.5"), "JPY"), "1,235");
        assert_eq!(number(m("1234.5"), "EUR"), "1,234.50");
        assert_eq!(number(m("0.5"), "BHD"), "0.500");
        assert_eq!(number(m("3.705"), "OMR"), "3.705");
    }

    #[test]
    fn a_currency_without_minor_units_steps_by_whole_units() {
        let jpy = Currency::lookup("JPY").unwrap();
        assert_eq!(jpy.step(), 1000);
        assert!(jpy.carries(m("1235")) && !jpy.carries(m("10.50")));
        let usd = Currency::lookup("USD").unwrap();
        assert_eq!(usd.step(), 10);
        assert!(usd.carries(m("10.50")) && !usd.carries(m("10.505")));
        let kwd = Currency::lookup("KWD").unwrap();
        assert_eq!(kwd.step(), 1);
        assert!(kwd.carries(m("10.505")));
    }

    #[test]
    fn totals_in_a_currency_without_minor_units_are_whole() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        let r = |s: &str| Rate::parse(s).unwrap();
        // 0.5 × 101 = 50.5 → 51; 3 × 333 = 999; subtotal 1050; markup 12.5 % = 131.25 → 131;
        // tax 8.25 % of 1181 = 97.4325 → 97; total 1278.
        let lines = [(q("0.5"), m("101")), (q("3"), m("333"))];
        let t = Totals::compute_in(&lines, r("12.5"), r("8.25"), 1000).unwrap();
        assert_eq!(t.line_totals, vec![m("51"), m("999")]);
        assert_eq!((t.subtotal, t.markup_amount, t.tax_amount, t.total), (m("1050"), m("131"), m("97"), m("1278")));
        for a in t.line_totals.iter().chain([&t.subtotal, &t.markup_amount, &t.tax_amount, &t.total]) {
            assert!(a.is_multiple_of(1000), "{a}");
        }
        // The same lines in cents keep the fractions.
        let cents = Totals::compute(&lines, r("12.5"), r("8.25")).unwrap();
        assert_eq!(cents.line_totals[0], m("50.5"));
        assert_eq!(Totals::compute_in(&lines, r("12.5"), r("8.25"), 10).unwrap(), cents);
    }

    #[test]
    fn totals_in_a_three_decimal_currency_keep_the_third_decimal() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        let r = |s: &str| Rate::parse(s).unwrap();
        let kwd = Currency::lookup("KWD").unwrap();
        // 3 × 1.235 = 3.705; 0.333 × 1.001 = 0.333333 → 0.333; subtotal 4.038;
        // markup 2.5 % = 0.10095 → 0.101; tax 8.25 % of 4.139 = 0.3414675 → 0.341; total 4.480.
        let lines = [(q("3"), m("1.235")), (q("0.333"), m("1.001"))];
        let t = Totals::compute_in(&lines, r("2.5"), r("8.25"), kwd.step()).unwrap();
        assert_eq!(t.line_totals, vec![m("3.705"), m("0.333")]);
        assert_eq!(
            (t.subtotal, t.markup_amount, t.tax_amount, t.total),
            (m("4.038"), m("0.101"), m("0.341"), m("4.48"))
        );
        assert_eq!(kwd.format(t.total), "KWD 4.480");
        assert_eq!(t.line_totals[0].to_string(), "3.705");
        // In cents the same quote loses the third decimal: 3.71 + 0.33.
        let usd = Totals::compute_in(&lines, r("2.5"), r("8.25"), 10).unwrap();
        assert_eq!(usd.subtotal, m("4.04"));
    }
}
