//! One finding: a rule, where it points, and whether an exception covers it.

use serde::{Deserialize, Serialize};

pub use crate::core::catalog::Severity;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// Repository-relative path.
    pub file: String,
    pub line: Option<usize>,
    /// `Kind/namespace/name` of the document at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `embedded` or the repository policy file the rule comes from.
    pub source: String,
    /// The exception that covers this finding, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excepted_by: Option<String>,
    /// In a range check: the commit that introduced it (short id and subject).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// In a range check: already present at the base, so not held against the range.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre_existing: bool,
    /// In a range check: introduced and then fixed by this later commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
}

impl Finding {
    pub fn new(
        rule: &str,
        severity: Severity,
        file: &str,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            rule: rule.to_owned(),
            severity,
            message: message.into(),
            file: file.to_owned(),
            line,
            resource: None,
            source: "embedded".to_owned(),
            excepted_by: None,
            commit: None,
            pre_existing: false,
            fixed_in: None,
        }
    }

    /// Whether the finding counts: not waived by an exception, not present
    /// before the range under review, not fixed within it.
    pub fn is_active(&self) -> bool {
        self.excepted_by.is_none() && !self.pre_existing && self.fixed_in.is_none()
    }

    /// The message with what a range check knows about the finding's history.
    pub fn full_message(&self) -> String {
        match (&self.commit, &self.fixed_in) {
            (Some(c), Some(fixed)) => {
                format!("{} (introduced in {c}, fixed in {fixed})", self.message)
            }
            (Some(c), None) => format!("{} (introduced in {c})", self.message),
            _ => self.message.clone(),
        }
    }

    pub fn location(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }
}
