//! The status machine: draft → sent → accepted | declined | expired; accepted → converted.

use super::*;

/// The `quote_status` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuoteStatus {
    Draft,
    Sent,
    Accepted,
    Declined,
    Expired,
    Converted,
}

impl QuoteStatus {
    pub const ALL: [QuoteStatus; 6] = [
        QuoteStatus::Draft,
        QuoteStatus::Sent,
        QuoteStatus::Accepted,
        QuoteStatus::Declined,
        QuoteStatus::Expired,
        QuoteStatus::Converted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Declined => "declined",
            QuoteStatus::Expired => "expired",
            QuoteStatus::Converted => "converted",
        }
    }

    pub fn parse(s: &str) -> Option<QuoteStatus> {
        QuoteStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses a quote in this one may move to.
    pub fn next(self) -> &'static [QuoteStatus] {
        match self {
            QuoteStatus::Draft => &[QuoteStatus::Sent],
            QuoteStatus::Sent => &[QuoteStatus::Accepted, QuoteStatus::Declined, QuoteStatus::Expired],
            QuoteStatus::Accepted => &[QuoteStatus::Converted],
            QuoteStatus::Declined | QuoteStatus::Expired | QuoteStatus::Converted => &[],
        }
    }
}

impl fmt::Display for QuoteStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change the machine does not allow (409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: QuoteStatus,
    pub to: QuoteStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} quote cannot become {}", self.from, self.to)?;
        match self.from.next() {
            [] => write!(f, "; {} is final", self.from),
            next => {
                let names: Vec<_> = next.iter().map(|s| s.as_str()).collect();
                write!(f, "; it can become {}", names.join(" or "))
            }
        }
    }
}

impl std::error::Error for IllegalTransition {}

impl From<IllegalTransition> for Problem {
    fn from(e: IllegalTransition) -> Problem {
        Problem::new(409, "illegal_transition", "Illegal status change").detail(e.to_string())
    }
}

/// draft → sent → accepted | declined | expired; accepted → converted. `from == to` is
/// allowed and is no move: callers skip the side effects of entering a status (`sent_at`,
/// emails) when the status does not change.
pub fn transition(from: QuoteStatus, to: QuoteStatus) -> Result<(), IllegalTransition> {
    if from == to || from.next().contains(&to) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}
