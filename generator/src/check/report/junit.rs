//! `junit`: one suite per file and one case per finding, for test
//! dashboards (Jenkins, GitLab), written by quick-junit.

use std::collections::BTreeMap;

use super::active;
use crate::check::finding::{Finding, Severity};
use crate::check::Outcome;

/// One test case per finding, grouped in one suite per rule; a denial is a
/// failure, a warning passes with its message in system-out. Written by
/// quick-junit, so every suite carries the counts (`errors` included) that
/// Jenkins' and GitLab's readers require; two findings at one place get
/// distinct names (`file:line #2`), since readers merge same-named cases.
fn junit(outcome: &Outcome) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in active(outcome) {
        by_rule.entry(&f.rule).or_default().push(f);
    }
    let mut report = Report::new("socle check");
    if by_rule.is_empty() {
        let mut suite = TestSuite::new("socle");
        let mut case = TestCase::new("repository", TestCaseStatus::success());
        case.set_classname("socle");
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    for (rule, findings) in &by_rule {
        let mut suite = TestSuite::new(*rule);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for f in findings {
            let place = f.location();
            let n = seen.entry(place.clone()).or_default();
            *n += 1;
            let name = if *n == 1 {
                place.clone()
            } else {
                format!("{place} #{n}")
            };
            let status = if f.severity == Severity::Deny {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(f.message.clone())
                    .set_type(*rule)
                    .set_description(format!("{place}: {}", f.full_message()));
                status
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(*rule);
            if f.severity == Severity::Warn {
                case.set_system_out(format!("warning: {}", f.message));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    without_total_skipped(&report.to_string().unwrap_or_default())
}

/// Jenkins' JUnit schema (junit-10.xsd), the strictest reader, allows no
/// `skipped` count on `<testsuites>`, which quick-junit writes; each suite
/// keeps its own.
fn without_total_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_owned();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_owned();
    };
    let close = tag[at + 10..]
        .find('"')
        .map_or(tag.len(), |c| at + 10 + c + 1);
    format!("{}{}{}", &xml[..start + at], &tag[close..], &xml[end..])
}

/// The `junit` format.
pub(super) struct Junit;

impl super::Reporter for Junit {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        junit(outcome)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_total_skipped_count_goes_and_the_suites_keep_theirs() {
        let xml = "<?xml?>\n<testsuites name=\"a\" tests=\"1\" skipped=\"0\" failures=\"0\">\n<testsuite skipped=\"0\"/>";
        assert_eq!(
            super::without_total_skipped(xml),
            "<?xml?>\n<testsuites name=\"a\" tests=\"1\" failures=\"0\">\n<testsuite skipped=\"0\"/>"
        );
        assert_eq!(super::without_total_skipped("<x/>"), "<x/>");
    }
}
