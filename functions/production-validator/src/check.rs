//! One check's result: what was checked, the verdict, how much it matters, and the evidence
//! (the measured figures or the offending rows) behind the verdict.

use serde_json::{json, Value};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Performance,
    Security,
    Reliability,
    Functionality,
    Infrastructure,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Performance,
        Category::Security,
        Category::Reliability,
        Category::Functionality,
        Category::Infrastructure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Performance => "performance",
            Category::Security => "security",
            Category::Reliability => "reliability",
            Category::Functionality => "functionality",
            Category::Infrastructure => "infrastructure",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warning,
    Fail,
    /// Nothing to judge (no data, or a prerequisite failed): never counted as a pass.
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warning => "warning",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// How much a failure of the check matters; orders recommendations and weighs the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// The check's weight in the score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Critical => 4,
            Severity::High => 3,
            Severity::Medium => 2,
            Severity::Low => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub category: Category,
    pub name: &'static str,
    pub subject: Option<String>,
    pub status: Status,
    pub severity: Severity,
    pub message: String,
    pub evidence: Value,
    /// What to do when the check does not pass (the recommendation).
    pub remedy: String,
    pub duration_ms: f64,
}

impl Check {
    pub fn to_json(&self) -> Value {
        json!({
            "category": self.category.as_str(),
            "name": self.name,
            "subject": self.subject,
            "status": self.status.as_str(),
            "severity": self.severity.as_str(),
            "message": self.message,
            "evidence": self.evidence,
            "duration_ms": (self.duration_ms * 100.0).round() / 100.0,
        })
    }
}

/// Builds a check while it runs: the clock starts at `start`.
pub struct Probe {
    category: Category,
    name: &'static str,
    severity: Severity,
    subject: Option<String>,
    started: Instant,
}

pub fn start(category: Category, name: &'static str, severity: Severity) -> Probe {
    Probe { category, name, severity, subject: None, started: Instant::now() }
}

impl Probe {
    pub fn subject(mut self, subject: &str) -> Probe {
        self.subject = Some(subject.to_string());
        self
    }

    pub fn done(self, status: Status, message: impl Into<String>, evidence: Value, remedy: impl Into<String>) -> Check {
        Check {
            category: self.category,
            name: self.name,
            subject: self.subject,
            status,
            severity: self.severity,
            message: message.into(),
            evidence,
            remedy: remedy.into(),
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    /// The check could not look at what it checks (a query failed): a skip with the reason,
    /// so a broken check never passes.
    pub fn unavailable(self, what: &str, error: impl std::fmt::Display) -> Check {
        eprintln!("check {} could not run: {error}", self.name);
        self.done(
            Status::Skip,
            format!("could not read {what}"),
            json!({ "error": "query failed; see the function's log" }),
            format!("make {what} readable to the service role and run the validation again"),
        )
    }
}

/// Classify `value` against an upper bound: pass ≤ `pass_max`, warning ≤ `warn_max`, else fail.
pub fn by_upper_bound(value: f64, pass_max: f64, warn_max: f64) -> Status {
    if value <= pass_max {
        Status::Pass
    } else if value <= warn_max {
        Status::Warning
    } else {
        Status::Fail
    }
}

/// The median (the upper one of an even count) of a few measurements; `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    // A handful of values: insertion sort, without pulling a general sort into the component.
    let mut sorted: Vec<f64> = Vec::with_capacity(values.len());
    for &v in values {
        let at = sorted.iter().position(|&s| s > v).unwrap_or(sorted.len());
        sorted.insert(at, v);
    }
    sorted.get(sorted.len() / 2).copied()
}

/// `v` rounded to `decimals` decimals, for messages (`180`, `0.05`, `12.3`).
pub fn fixed(v: f64, decimals: u32) -> String {
    let scale = 10i64.pow(decimals);
    let n = (v * scale as f64).round() as i64;
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs();
    let (whole, frac) = (n / scale as u64, n % scale as u64);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac:0width$}", width = decimals as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_a_few_measurements() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[0.1, 0.06, 0.05, 0.11, 0.06]), Some(0.06));
        assert_eq!(median(&[4.0, 1.0]), Some(4.0));
    }

    #[test]
    fn fixed_rounds_to_the_given_decimals() {
        assert_eq!(fixed(1.25, 1), "1.3");
        assert_eq!(fixed(0.049, 2), "0.05");
        assert_eq!(fixed(180.0, 0), "180");
        assert_eq!(fixed(-2.5, 1), "-2.5");
        assert_eq!(fixed(1.23456, 2), "1.23");
    }
}
