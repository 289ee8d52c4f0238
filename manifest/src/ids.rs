//! The identifiers of a manifest, checked as Spin checks them: words of ASCII letters and
//! digits joined by one delimiter, each word starting with a letter and either all lowercase
//! or all UPPERCASE. Component ids join words with `-`, variable names with `_` (lowercase
//! only); store and database labels may use either.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// Check `id` as words joined by `delimiter`; `lowercase_only` refuses UPPERCASE words.
pub fn check(id: &str, delimiter: char, lowercase_only: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".into());
    }
    let wrong = if delimiter == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!("words must be separated with {delimiter:?}, not {wrong:?}"));
    }
    for word in id.split(delimiter) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delimiter:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!("{delimiter:?}-separated words must start with an ASCII letter; got {first:?}"));
        }
        let upper = first.is_ascii_uppercase();
        for c in chars {
            if !c.is_ascii_alphanumeric() {
                return Err(format!("{delimiter:?}-separated words may only contain alphanumeric ASCII; got {c:?}"));
            }
            if c.is_ascii_alphabetic() && c.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delimiter:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lowercase_only && upper {
            return Err(format!("lowercase identifiers must be all lowercase; got {id:?}"));
        }
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $delimiter:expr, $lower:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, String> {
                check(s, $delimiter, $lower).map(|()| $name(s.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A component id: `-`-separated words (`quote-processor`).
    ComponentId, '-', false
);
id_type!(
    /// An application or component variable name: lowercase `_`-separated words (`db_url`).
    VariableName, '_', true
);

/// A key-value store or SQLite database label: kebab-case or snake_case.
pub fn check_label(label: &str) -> bool {
    check(label, '-', false).is_ok() || check(label, '_', false).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_are_kebab_words() {
        for ok in ["a", "quote-processor", "A", "AB-cd", "v2-api"] {
            assert!(ComponentId::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("a_b", "separated with '-'"),
            ("a-1", "start with an ASCII letter"),
            ("a--b", "must not be empty"),
            ("Ab", "all lowercase or all UPPERCASE"),
            ("a.b", "alphanumeric"),
        ] {
            let e = ComponentId::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn variable_names_are_lowercase_snake_words() {
        for ok in ["db_url", "a1", "a_b2"] {
            assert!(VariableName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Bad", "BAD", "bad-name", "bad__name", "bad_", "1bad", "a_1b", "bad+name"] {
            assert!(VariableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_kebab_or_snake() {
        assert!(check_label("default") && check_label("my-store") && check_label("my_store") && check_label("DEFAULT"));
        assert!(!check_label("camelCase") && !check_label("a b") && !check_label(""));
    }
}
