//! `validation_type`: everything (`comprehensive`) or the checks of one category.

use crate::check::Category;
use shared::{FieldError, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationType {
    Comprehensive,
    Only(Category),
}

pub const NAMES: [&str; 6] =
    ["comprehensive", "performance", "security", "reliability", "functionality", "infrastructure"];

impl ValidationType {
    pub fn parse(name: &str) -> Result<ValidationType, Problem> {
        if name == "comprehensive" {
            return Ok(ValidationType::Comprehensive);
        }
        match Category::ALL.iter().find(|c| c.as_str() == name) {
            Some(c) => Ok(ValidationType::Only(*c)),
            None => Err(invalid(name)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationType::Comprehensive => "comprehensive",
            ValidationType::Only(c) => c.as_str(),
        }
    }

    pub fn includes(self, category: Category) -> bool {
        match self {
            ValidationType::Comprehensive => true,
            ValidationType::Only(c) => c == category,
        }
    }
}

pub fn invalid(name: &str) -> Problem {
    let shown: String = name.chars().take(40).collect();
    Problem::validation(vec![FieldError::new(
        "validation_type",
        "invalid_value",
        format!("validation_type must be one of {}, not `{shown}`", NAMES.join(", ")),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_unknown_ones_list_the_allowed() {
        for n in NAMES {
            assert_eq!(ValidationType::parse(n).unwrap().as_str(), n);
        }
        let p = ValidationType::parse("business").unwrap_err();
        assert_eq!((p.status, p.errors[0].field.as_str()), (400, "validation_type"));
        assert!(p.errors[0]
            .message
            .contains("comprehensive, performance, security, reliability, functionality, infrastructure"));
    }

    #[test]
    fn a_category_includes_only_itself() {
        let t = ValidationType::parse("security").unwrap();
        assert!(t.includes(Category::Security));
        assert!(!t.includes(Category::Performance));
        assert!(Category::ALL.iter().all(|c| ValidationType::Comprehensive.includes(*c)));
    }
}
