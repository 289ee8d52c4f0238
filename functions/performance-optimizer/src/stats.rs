//! Figures of a list of measured latencies, computed the way the SQL views compute theirs:
//! percentiles by the nearest-rank method (the smallest value with at least p % of the values
//! at or below it, index ⌈p/100 · n⌉ − 1 of the sorted list; PostgreSQL's `percentile_disc`).

/// Summary of a non-empty list of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub avg: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// The nearest-rank `p` percentile (0 < p ≤ 100) of sorted, non-empty `values`.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

pub fn summarise(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        n: sorted.len(),
        avg: sorted.iter().sum::<f64>() / sorted.len() as f64,
        p50: nearest_rank(&sorted, 50.0),
        p95: nearest_rank(&sorted, 95.0),
        p99: nearest_rank(&sorted, 99.0),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
    })
}

/// Rounded to `places` decimals for display; comparisons use the unrounded value.
pub fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// `part / whole` in percent; `None` without a whole (never a made-up 100).
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_ten_values() {
        let s = summarise(&[100.0, 10.0, 90.0, 20.0, 80.0, 30.0, 70.0, 40.0, 60.0, 50.0]).unwrap();
        assert_eq!((s.p50, s.p95, s.p99, s.min, s.max, s.avg), (50.0, 100.0, 100.0, 10.0, 100.0, 55.0));
    }

    #[test]
    fn nearest_rank_on_a_hundred_and_on_one() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarise(&hundred).unwrap();
        assert_eq!((s.p50, s.p95, s.p99), (50.0, 95.0, 99.0));
        let s = summarise(&[7.5]).unwrap();
        assert_eq!((s.p50, s.p95, s.p99), (7.5, 7.5, 7.5));
        assert_eq!(summarise(&[]), None);
    }

    #[test]
    fn rates_need_a_whole() {
        assert_eq!(rate(1, 0), None);
        assert_eq!(rate(19, 20), Some(95.0));
    }
}
