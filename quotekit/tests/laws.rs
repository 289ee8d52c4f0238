//! The laws of money and quotes, checked on generated inputs (proptest: random cases, and on a
//! failure the smallest case that still fails):
//!
//! - an amount reads back from what it is written as, and reading is independent of notation;
//! - a quote's totals follow `quotekit::money`'s rule: each line is the exact product rounded
//!   half away from zero to the cent, the subtotal is their sum, the total is subtotal + markup
//!   + tax, nothing is negative, and the order of the lines changes nothing;
//! - a quote's status moves only along `next()`, and a final status never moves.
//!
//! The expected figures are computed here from the inputs' integer units, independently of the
//! code under test.

use proptest::prelude::*;
use quotekit::money::{Money, Quantity, Rate, Totals};
use quotekit::quote::{transition, QuoteStatus};

/// Cents written as the API writes a two-decimal amount.
fn cents_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// `numerator / denominator` rounded half away from zero (denominator > 0).
fn round_half_away(numerator: i128, denominator: i128) -> i128 {
    let half = denominator / 2;
    if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        -((-numerator + half) / denominator)
    }
}

fn quantity(thousandths: i64) -> Quantity {
    Quantity::parse(&format!("{}.{:03}", thousandths / 1000, thousandths % 1000)).unwrap()
}

fn rate(hundredths: i64) -> Rate {
    Rate::parse(&format!("{}.{:02}", hundredths / 100, hundredths % 100)).unwrap()
}

fn price(cents: i64) -> Money {
    Money::parse(&cents_text(cents)).unwrap()
}

/// Lines of a quote: (quantity in thousandths, unit price in cents), small enough that no
/// total leaves the range of an amount.
fn lines() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((0i64..1_000_000, 0i64..10_000_000), 0..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_amount_reads_back_from_what_it_is_written_as(cents in -999_999_999_999i64..=999_999_999_999) {
        let m = price(cents);
        prop_assert_eq!(m.to_string(), cents_text(cents));
        prop_assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        // Notation does not matter: trailing zeros, a JSON number.
        prop_assert_eq!(Money::parse(&format!("{}0", cents_text(cents))).unwrap(), m);
        let number: serde_json::Value = serde_json::from_str(&cents_text(cents)).unwrap();
        prop_assert_eq!(Money::from_json(&number).unwrap(), m);
    }

    #[test]
    fn totals_follow_the_rounding_rule(
        lines in lines(),
        markup in 0i64..10_000,
        tax in 0i64..10_000,
    ) {
        let priced: Vec<(Quantity, Money)> = lines.iter().map(|&(q, p)| (quantity(q), price(p))).collect();
        let totals = Totals::compute(&priced, rate(markup), rate(tax)).unwrap();
        // Each line: the exact product (thousandths × cents / 1000) rounded to the cent.
        let expected_lines: Vec<i128> =
            lines.iter().map(|&(q, p)| round_half_away(i128::from(q) * i128::from(p), 1000)).collect();
        let written: Vec<String> = totals.line_totals.iter().map(Money::to_string).collect();
        let expected_written: Vec<String> = expected_lines.iter().map(|c| cents_text(*c as i64)).collect();
        prop_assert_eq!(written, expected_written);
        let subtotal: i128 = expected_lines.iter().sum();
        let markup_amount = round_half_away(subtotal * i128::from(markup), 10_000);
        let tax_amount = round_half_away((subtotal + markup_amount) * i128::from(tax), 10_000);
        prop_assert_eq!(totals.subtotal.to_string(), cents_text(subtotal as i64));
        prop_assert_eq!(totals.markup_amount.to_string(), cents_text(markup_amount as i64));
        prop_assert_eq!(totals.tax_amount.to_string(), cents_text(tax_amount as i64));
        prop_assert_eq!(totals.total.to_string(), cents_text((subtotal + markup_amount + tax_amount) as i64));
        prop_assert!(!totals.total.is_negative());
    }

    #[test]
    fn the_order_of_the_lines_changes_no_total(
        lines in lines().prop_shuffle(),
        markup in 0i64..10_000,
        tax in 0i64..10_000,
    ) {
        let priced: Vec<(Quantity, Money)> = lines.iter().map(|&(q, p)| (quantity(q), price(p))).collect();
        let mut reversed = priced.clone();
        reversed.reverse();
        let a = Totals::compute(&priced, rate(markup), rate(tax)).unwrap();
        let b = Totals::compute(&reversed, rate(markup), rate(tax)).unwrap();
        prop_assert_eq!((a.subtotal, a.markup_amount, a.tax_amount, a.total), (b.subtotal, b.markup_amount, b.tax_amount, b.total));
    }

    #[test]
    fn negative_inputs_are_refused_never_priced(q in 1i64..1_000_000, p in 1i64..1_000_000) {
        let negative_price = Money::parse(&format!("-{}", cents_text(p))).unwrap();
        prop_assert!(Totals::compute(&[(quantity(q), negative_price)], rate(0), rate(0)).is_err());
        let negative_rate = Rate::parse(&format!("-{}", q % 10_000 + 1)).unwrap();
        prop_assert!(Totals::compute(&[(quantity(q), price(p))], negative_rate, rate(0)).is_err());
    }

    #[test]
    fn a_status_moves_only_along_next(from in 0usize..6, to in 0usize..6) {
        let (from, to) = (QuoteStatus::ALL[from], QuoteStatus::ALL[to]);
        let allowed = from == to || from.next().contains(&to);
        prop_assert_eq!(transition(from, to).is_ok(), allowed);
        if from.next().is_empty() && from != to {
            prop_assert!(transition(from, to).is_err(), "{} is final", from);
        }
        // Nothing leads back to draft.
        if to == QuoteStatus::Draft && from != QuoteStatus::Draft {
            prop_assert!(transition(from, to).is_err());
        }
    }
}
