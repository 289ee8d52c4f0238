//! What a set of check results adds up to. Every figure derives from the results:
//!
//! - **score** (0–100): Σ weight × credit / Σ weight over the checks that ran (skips are left
//!   out), rounded; weight by severity critical 4, high 3, medium 2, low 1; credit pass 1,
//!   warning ½, fail 0. `None` when every check was skipped (nothing was measured).
//! - **status**: `fail` when any check failed; `warning` when any warned or was skipped (a skip
//!   proves nothing); otherwise `pass`.
//! - **deployment_ready**: only a `comprehensive` validation can say yes; then no critical or
//!   high check failed and every critical check passed (a skipped critical check is not proof).
//! - **risk**: `critical` when a critical check failed; `high` when a high check failed or a
//!   critical check did not pass; `medium` when a medium or low check failed or a high check
//!   did not pass; otherwise `low`.
//! - **recommendations**: one per check that did not pass, most severe first (fail, then
//!   warning, then skip), each with the check's remedy.

use crate::check::{Category, Check, Severity, Status};
use crate::validation_type::ValidationType;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub status: Status,
    pub score: Option<u32>,
    pub deployment_ready: bool,
    pub risk: &'static str,
    pub counts: Counts,
    pub category_scores: Value,
    pub recommendations: Vec<Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub warnings: usize,
    pub failed: usize,
    pub skipped: usize,
}

pub fn summarize(kind: ValidationType, checks: &[Check]) -> Summary {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let counts = Counts {
        total: checks.len(),
        passed: count(Status::Pass),
        warnings: count(Status::Warning),
        failed: count(Status::Fail),
        skipped: count(Status::Skip),
    };
    let status = if counts.failed > 0 {
        Status::Fail
    } else if counts.warnings > 0 || counts.skipped > 0 {
        Status::Warning
    } else {
        Status::Pass
    };
    let failed = |s: Severity| checks.iter().any(|c| c.severity == s && c.status == Status::Fail);
    let not_passed = |s: Severity| checks.iter().any(|c| c.severity == s && c.status != Status::Pass);
    let deployment_ready = kind == ValidationType::Comprehensive
        && !checks.is_empty()
        && !failed(Severity::Critical)
        && !failed(Severity::High)
        && !not_passed(Severity::Critical);
    let risk = if failed(Severity::Critical) {
        "critical"
    } else if failed(Severity::High) || not_passed(Severity::Critical) {
        "high"
    } else if failed(Severity::Medium) || failed(Severity::Low) || not_passed(Severity::High) {
        "medium"
    } else {
        "low"
    };
    let mut categories = Map::new();
    for category in Category::ALL.iter().filter(|c| kind.includes(**c)) {
        let of: Vec<&Check> = checks.iter().filter(|c| c.category == *category).collect();
        categories.insert(category.as_str().into(), json!(score(of.iter().copied())));
    }
    Summary {
        status,
        score: score(checks.iter()),
        deployment_ready,
        risk,
        counts,
        category_scores: Value::Object(categories),
        recommendations: recommendations(checks),
    }
}

pub fn score<'a>(checks: impl Iterator<Item = &'a Check>) -> Option<u32> {
    let (mut earned, mut possible) = (0u32, 0u32);
    for c in checks {
        let w = c.severity.weight() * 2;
        match c.status {
            Status::Pass => earned += w,
            Status::Warning => earned += w / 2,
            Status::Fail => {}
            Status::Skip => continue,
        }
        possible += w;
    }
    // Integer rounding half up: (200·earned + possible) / (2·possible).
    (possible > 0).then(|| (200 * earned + possible) / (2 * possible))
}

fn recommendations(checks: &[Check]) -> Vec<Value> {
    // Most severe first; within a severity failures, then warnings, then skips; otherwise in
    // the order the checks ran.
    let mut open: Vec<&Check> = Vec::new();
    for severity in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low] {
        for status in [Status::Fail, Status::Warning, Status::Skip] {
            open.extend(checks.iter().filter(|c| c.severity == severity && c.status == status));
        }
    }
    open.iter()
        .map(|c| {
            json!({
                "check": c.name,
                "subject": c.subject,
                "category": c.category.as_str(),
                "severity": c.severity.as_str(),
                "status": c.status.as_str(),
                "finding": c.message,
                "action": c.remedy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(category: Category, severity: Severity, status: Status) -> Check {
        Check {
            category,
            name: "x",
            subject: None,
            status,
            severity,
            message: String::new(),
            evidence: Value::Null,
            remedy: "fix it".into(),
            duration_ms: 0.0,
        }
    }

    #[test]
    fn all_passing_is_a_ready_pass_with_low_risk() {
        let checks = vec![
            check(Category::Security, Severity::Critical, Status::Pass),
            check(Category::Performance, Severity::Medium, Status::Pass),
        ];
        let s = summarize(ValidationType::Comprehensive, &checks);
        assert_eq!((s.status, s.score, s.deployment_ready, s.risk), (Status::Pass, Some(100), true, "low"));
        assert!(s.recommendations.is_empty());
        assert_eq!(s.category_scores["security"], 100);
        assert_eq!(s.category_scores["reliability"], Value::Null, "a category without checks has no score");
    }

    #[test]
    fn the_score_weighs_by_severity_and_leaves_skips_out() {
        // critical pass (8 of 8), high warning (3 of 6), medium fail (0 of 4), low skip (left out).
        let checks = vec![
            check(Category::Security, Severity::Critical, Status::Pass),
            check(Category::Security, Severity::High, Status::Warning),
            check(Category::Performance, Severity::Medium, Status::Fail),
            check(Category::Performance, Severity::Low, Status::Skip),
        ];
        let s = summarize(ValidationType::Comprehensive, &checks);
        // 11 of 18 = 61.1 %.
        assert_eq!(s.score, Some(61));
        assert_eq!(s.status, Status::Fail);
        assert_eq!(s.risk, "medium");
        assert!(s.deployment_ready, "no critical or high failure and every critical check passed");
        assert_eq!(s.counts, Counts { total: 4, passed: 1, warnings: 1, failed: 1, skipped: 1 });
        let order: Vec<(&str, &str)> = s
            .recommendations
            .iter()
            .map(|r| (r["severity"].as_str().unwrap(), r["status"].as_str().unwrap()))
            .collect();
        assert_eq!(order, vec![("high", "warning"), ("medium", "fail"), ("low", "skip")]);
    }

    #[test]
    fn a_critical_failure_is_critical_risk_and_not_ready() {
        let checks = vec![check(Category::Security, Severity::Critical, Status::Fail)];
        let s = summarize(ValidationType::Comprehensive, &checks);
        assert_eq!((s.status, s.score, s.deployment_ready, s.risk), (Status::Fail, Some(0), false, "critical"));
    }

    #[test]
    fn skips_are_never_a_pass() {
        let checks = vec![check(Category::Reliability, Severity::Critical, Status::Skip)];
        let s = summarize(ValidationType::Comprehensive, &checks);
        assert_eq!((s.status, s.score, s.deployment_ready, s.risk), (Status::Warning, None, false, "high"));
    }

    #[test]
    fn only_a_comprehensive_validation_declares_readiness() {
        let checks = vec![check(Category::Security, Severity::Critical, Status::Pass)];
        let s = summarize(ValidationType::Only(Category::Security), &checks);
        assert_eq!((s.status, s.deployment_ready), (Status::Pass, false));
        assert_eq!(s.category_scores.as_object().unwrap().len(), 1);
    }
}
