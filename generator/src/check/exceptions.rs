//! `policies/exceptions.yaml`: the only way to waive an embedded rule, and
//! one that cannot be forgotten: every entry names an owner, a reason and an
//! expiry date; an expired entry is itself a denial, an unused one a warning.

use serde::Deserialize;

use super::finding::{Finding, Severity};
use crate::locate::LineIndex;

pub const PATH: &str = "policies/exceptions.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub rule: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    pub reason: String,
    pub owner: String,
    /// `YYYY-MM-DD`, the last day the exception applies.
    pub expires: String,
}

#[derive(Default)]
pub struct Exceptions {
    entries: Vec<(Exception, usize, Option<globset::GlobMatcher>)>,
    problems: Vec<Finding>,
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl Exceptions {
    pub fn load(files: &[(String, Vec<u8>)]) -> Self {
        let Some((_, bytes)) = files.iter().find(|(p, _)| p == PATH) else {
            return Self::default();
        };
        let text = String::from_utf8_lossy(bytes);
        let lines = LineIndex::new(&text);
        let mut out = Self::default();
        let list: Vec<serde_json::Value> = match crate::yaml::from_str(&text) {
            Ok(serde_json::Value::Array(items)) => items,
            Ok(serde_json::Value::Null) => Vec::new(),
            // A file that is not YAML is already reported by the parser.
            Err(_) => return out,
            Ok(_) => {
                out.problems.push(Finding::new(
                    "SOC-PARSE-001",
                    Severity::Deny,
                    PATH,
                    Some(1),
                    "expected a list of exceptions",
                ));
                return out;
            }
        };
        for (i, item) in list.into_iter().enumerate() {
            let line = lines.line_of(&format!("/{i}")).unwrap_or(1);
            let entry: Exception = match serde_json::from_value(item) {
                Ok(e) => e,
                Err(e) => {
                    out.problems.push(Finding::new(
                        "SOC-PARSE-001",
                        Severity::Deny,
                        PATH,
                        Some(line),
                        format!("exception {}: {e} (each needs rule, path or resource, reason, owner, expires)", i + 1),
                    ));
                    continue;
                }
            };
            if !valid_date(&entry.expires) || (entry.path.is_none() && entry.resource.is_none()) {
                out.problems.push(Finding::new(
                    "SOC-PARSE-001",
                    Severity::Deny,
                    PATH,
                    Some(line),
                    format!("exception {}: needs `expires: YYYY-MM-DD` and a `path` glob or a `resource` (Kind/namespace/name)", i + 1),
                ));
                continue;
            }
            let glob = match entry
                .path
                .as_deref()
                .map(|p| globset::Glob::new(p).map(|g| g.compile_matcher()))
            {
                Some(Err(e)) => {
                    out.problems.push(Finding::new(
                        "SOC-PARSE-001",
                        Severity::Deny,
                        PATH,
                        Some(line),
                        format!("exception {}: bad path glob: {e}", i + 1),
                    ));
                    continue;
                }
                Some(Ok(g)) => Some(g),
                None => None,
            };
            out.entries.push((entry, line, glob));
        }
        out
    }

    /// Mark covered findings, and add findings about the exceptions themselves.
    pub fn apply(&self, mut findings: Vec<Finding>, today: String) -> Vec<Finding> {
        let mut extra = self.problems.clone();
        for (entry, line, glob) in &self.entries {
            if entry.expires.as_str() < today.as_str() {
                extra.push(Finding::new(
                    "SOC-EXC-001",
                    Severity::Deny,
                    PATH,
                    Some(*line),
                    format!(
                        "exception for {} (owner {}) expired on {}",
                        entry.rule, entry.owner, entry.expires
                    ),
                ));
                continue;
            }
            let mut used = false;
            for f in findings
                .iter_mut()
                .filter(|f| f.excepted_by.is_none() && f.rule.eq_ignore_ascii_case(&entry.rule))
            {
                let by_path = glob.as_ref().is_some_and(|g| g.is_match(&f.file));
                let by_resource = entry.resource.is_some() && entry.resource == f.resource;
                if by_path || by_resource {
                    f.excepted_by =
                        Some(format!("{PATH}:{line} ({}: {})", entry.owner, entry.reason));
                    used = true;
                }
            }
            if !used {
                extra.push(Finding::new(
                    "SOC-EXC-002",
                    Severity::Warn,
                    PATH,
                    Some(*line),
                    format!("exception for {} matches no finding; delete it", entry.rule),
                ));
            }
        }
        findings.extend(extra);
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert!(valid_date(&t) && t.as_str() > "2024-01-01", "{t}");
    }

    #[test]
    fn expired_unused_and_applied() {
        let file = b"- rule: SOC-K8S-002\n  path: apps/**\n  reason: vendor\n  owner: ops\n  expires: 2099-01-01\n- rule: SOC-K8S-001\n  path: x/**\n  reason: r\n  owner: o\n  expires: 2000-01-01\n- rule: SOC-K8S-004\n  resource: Pod/ns/p\n  reason: r\n  owner: o\n  expires: 2099-01-01\n".to_vec();
        let ex = Exceptions::load(&[(PATH.into(), file)]);
        let findings = vec![Finding::new(
            "SOC-K8S-002",
            Severity::Deny,
            "apps/a.yaml",
            Some(3),
            "m",
        )];
        let out = ex.apply(findings, "2026-11-23".into());
        assert!(out[0]
            .excepted_by
            .as_deref()
            .unwrap()
            .starts_with("policies/exceptions.yaml:1"));
        let rules: Vec<_> = out[1..].iter().map(|f| (f.rule.as_str(), f.line)).collect();
        assert_eq!(
            rules,
            vec![("SOC-EXC-001", Some(6)), ("SOC-EXC-002", Some(11))]
        );
    }
}
