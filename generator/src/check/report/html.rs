//! `html`: one self-contained page (no script, no stylesheet or font
//! fetched) to read a check in a browser or attach to a pipeline: the
//! verdict, findings by severity with the lines they point at, counts by
//! rule and by file, and each environment's system graph with its broken
//! links in red.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::active;
use crate::check::finding::{Finding, Severity};
use crate::check::system::graph;
use crate::check::Outcome;
use crate::core::catalog::Catalog;

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header.top{background:#1d232a;color:#fff;padding:18px 28px}
header.top h1{margin:0 0 6px;font-size:22px}
.verdict{font-weight:600;font-size:17px;margin:0 0 8px}
.verdict.fail{color:#ff8a80}.verdict.pass{color:#b9f6ca}
ul.counts{list-style:none;padding:0;margin:0;display:flex;gap:18px;flex-wrap:wrap}
ul.counts li{background:#2d353e;padding:4px 10px;border-radius:4px}
nav{padding:8px 28px;background:#e9ecf0;position:sticky;top:0}
nav a{margin-right:16px;color:#1d5fa8;text-decoration:none}
main{padding:8px 28px 40px;max-width:1400px}
h2{margin-top:30px;border-bottom:2px solid #d6dbe1;padding-bottom:4px}
article.finding{background:#fff;border-left:5px solid #999;margin:10px 0;padding:8px 12px;border-radius:3px;box-shadow:0 1px 2px #0001}
article.deny{border-left-color:#c62828}article.warn{border-left-color:#ef8f00}article.excepted{border-left-color:#7a8793;opacity:.85}
article .where{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;color:#44505c}
code.rule{font-weight:700;margin-right:8px}
.badge{display:inline-block;font-size:12px;font-weight:700;padding:1px 6px;border-radius:3px;color:#fff;margin-right:6px}
.badge.deny{background:#c62828}.badge.warn{background:#ef8f00}.badge.excepted{background:#7a8793}
pre.snippet{background:#f3f4f6;padding:6px 0;overflow-x:auto;font-size:12.5px;margin:6px 0 2px}
pre.snippet span{display:block;padding:0 10px}pre.snippet span.hit{background:#ffe0b2}
pre.snippet i{display:inline-block;width:46px;color:#8a96a3;font-style:normal;user-select:none}
table{border-collapse:collapse;background:#fff;margin:8px 0}
th,td{border:1px solid #d6dbe1;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
div.graph{overflow-x:auto;background:#fff;border:1px solid #d6dbe1}
svg .node.outside rect{fill:#eceff1;stroke:#7a8793}
svg .node rect{fill:#e3f2fd;stroke:#1d5fa8}svg .node.missing rect{fill:#ffebee;stroke:#c62828;stroke-dasharray:4 3}
svg .node text{font:12px ui-monospace,Menlo,Consolas,monospace;fill:#1d232a}
svg .wave{font:600 12px system-ui,sans-serif;fill:#44505c}
svg .link{fill:none;stroke:#8a96a3;stroke-width:1.3}svg .link.broken{stroke:#c62828;stroke-width:2.6;stroke-dasharray:6 4}
ul.broken li{color:#c62828}
footer{color:#6b7785;padding:20px 28px;font-size:13px}
";

fn html(outcome: &Outcome) -> String {
    let denials = outcome.count(Severity::Deny);
    let warnings = outcome.count(Severity::Warn);
    let excepted: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.excepted_by.is_some())
        .collect();
    let mut out = String::new();
    let title = format!("socle check: {denials} denial(s), {warnings} warning(s)");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let (class, verdict) = if denials > 0 {
        ("fail", "Denied: the check fails.")
    } else {
        ("pass", "Passed: no denial.")
    };
    let _ = write!(
        out,
        "<header class=\"top\">\n<h1>socle check</h1>\n<p class=\"verdict {class}\">{verdict}</p>\n<ul class=\"counts\"><li>{denials} denial(s)</li><li>{warnings} warning(s)</li><li>{} excepted</li><li>{} file(s)</li><li>{} document(s)</li></ul>\n</header>\n",
        excepted.len(),
        outcome.files,
        outcome.documents
    );
    out.push_str("<nav><a href=\"#findings\">Findings</a><a href=\"#rules\">By rule</a><a href=\"#files\">By file</a><a href=\"#system\">System</a><a href=\"#unchecked\">Not checked</a></nav>\n<main>\n");

    // Findings by severity, each with the lines it points at.
    out.push_str("<section id=\"findings\">\n<h2>Findings by severity</h2>\n");
    let mut any = false;
    for (severity, heading) in [(Severity::Deny, "Denials"), (Severity::Warn, "Warnings")] {
        let found: Vec<&Finding> = active(outcome).filter(|f| f.severity == severity).collect();
        if found.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(out, "<h3>{heading} ({})</h3>", found.len());
        for f in found {
            finding(&mut out, f, outcome, severity_class(severity));
        }
    }
    if !excepted.is_empty() {
        any = true;
        let _ = writeln!(out, "<h3>Covered by an exception ({})</h3>", excepted.len());
        for f in &excepted {
            finding(&mut out, f, outcome, "excepted");
        }
    }
    if !any {
        out.push_str("<p>No finding.</p>\n");
    }
    out.push_str("</section>\n");

    // Counts by rule, with the catalog's title.
    let catalog = Catalog::embedded();
    let mut by_rule: BTreeMap<&str, (Severity, usize)> = BTreeMap::new();
    for f in active(outcome) {
        by_rule.entry(&f.rule).or_insert((f.severity, 0)).1 += 1;
    }
    out.push_str("<section id=\"rules\">\n<h2>By rule</h2>\n");
    if by_rule.is_empty() {
        out.push_str("<p>No rule found anything.</p>\n");
    } else {
        out.push_str("<table><thead><tr><th>rule</th><th>severity</th><th>findings</th><th>what it checks</th></tr></thead><tbody>\n");
        for (rule, (severity, n)) in &by_rule {
            let what = catalog.get(rule).map(|r| r.title.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td><span class=\"badge {}\">{}</span></td><td class=\"n\">{n}</td><td>{}</td></tr>",
                esc(rule),
                severity_class(*severity),
                severity.as_str(),
                esc(what)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");

    // Counts by file.
    let mut by_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for f in active(outcome) {
        let e = by_file.entry(&f.file).or_default();
        match f.severity {
            Severity::Deny => e.0 += 1,
            Severity::Warn => e.1 += 1,
        }
    }
    out.push_str("<section id=\"files\">\n<h2>By file</h2>\n");
    if by_file.is_empty() {
        out.push_str("<p>No file has a finding.</p>\n");
    } else {
        out.push_str("<table><thead><tr><th>file</th><th>denials</th><th>warnings</th></tr></thead><tbody>\n");
        for (file, (d, w)) in &by_file {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{d}</td><td class=\"n\">{w}</td></tr>",
                esc(file)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");

    // Each environment's system, broken links in red.
    out.push_str("<section id=\"system\">\n<h2>System</h2>\n");
    if outcome.systems.is_empty() {
        out.push_str("<p>No environment was modelled: the repository has no Argo CD bootstrap Application socle recognises.</p>\n");
    }
    for system in &outcome.systems {
        let broken = graph::broken_links(system);
        let _ = writeln!(
            out,
            "<h3>{} <small>(bootstrap Application {}; {} Application(s), {} broken link(s))</small></h3>",
            esc(&system.environment),
            esc(&system.root),
            system.applications.iter().filter(|a| a.parent.is_some()).count(),
            broken.len()
        );
        out.push_str("<div class=\"graph\">\n");
        out.push_str(&graph::svg(system));
        out.push_str("</div>\n");
        if !broken.is_empty() {
            out.push_str("<ul class=\"broken\">\n");
            for (from, to, what) in &broken {
                let _ = writeln!(
                    out,
                    "<li><code>{}</code> → <code>{}</code>: {}</li>",
                    esc(from),
                    esc(to),
                    esc(what)
                );
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n");

    // What was not checked, never silently.
    out.push_str("<section id=\"unchecked\">\n<h2>Not checked</h2>\n");
    if outcome.skipped.is_empty()
        && outcome.not_validated.is_empty()
        && outcome.not_modelled.is_empty()
    {
        out.push_str("<p>Everything read was checked.</p>\n");
    }
    if !outcome.not_validated.is_empty() {
        out.push_str("<p>Kinds no schema covers (not validated):</p>\n<ul>\n");
        for (kind, n) in &outcome.not_validated {
            let _ = writeln!(out, "<li><code>{}</code>: {n}</li>", esc(kind));
        }
        out.push_str("</ul>\n");
    }
    if !outcome.not_modelled.is_empty() {
        out.push_str("<p>Not modelled by the system simulation:</p>\n<ul>\n");
        for what in &outcome.not_modelled {
            let _ = writeln!(out, "<li>{}</li>", esc(what));
        }
        out.push_str("</ul>\n");
    }
    if !outcome.skipped.is_empty() {
        out.push_str("<p>Files skipped:</p>\n<ul>\n");
        for (file, why) in &outcome.skipped {
            let _ = writeln!(out, "<li><code>{}</code>: {}</li>", esc(file), esc(why));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n</main>\n");
    let _ = write!(
        out,
        "<footer>socle {}: <code>socle policy explain RULE</code> explains a rule and its remediation.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "deny",
        Severity::Warn => "warn",
    }
}

fn finding(out: &mut String, f: &Finding, outcome: &Outcome, class: &str) {
    let place = match f.line {
        Some(line) => format!("{}:{line}", f.file),
        None => f.file.clone(),
    };
    let _ = write!(
        out,
        "<article class=\"finding {class}\"><div class=\"where\"><span class=\"badge {class}\">{}</span><code class=\"rule\">{}</code>{}",
        if class == "excepted" { "excepted" } else { class },
        esc(&f.rule),
        esc(&place)
    );
    if let Some(resource) = &f.resource {
        let _ = write!(out, " · {}", esc(resource));
    }
    if let Some(commit) = &f.commit {
        let _ = write!(out, " · introduced by {}", esc(commit));
    }
    let _ = write!(out, "</div><p>{}</p>", esc(&f.message));
    if let Some(by) = &f.excepted_by {
        let _ = write!(out, "<p>Exception: {}</p>", esc(by));
    }
    if let (Some(line), Some(lines)) = (f.line, outcome.snippets.get(&f.file)) {
        let shown: Vec<(&usize, &String)> = lines
            .range(line.saturating_sub(super::SNIPPET_CONTEXT)..=line + super::SNIPPET_CONTEXT)
            .collect();
        if !shown.is_empty() {
            out.push_str("<pre class=\"snippet\">");
            for (n, text) in shown {
                let hit = if *n == line { " class=\"hit\"" } else { "" };
                let _ = write!(out, "<span{hit}><i>{n}</i>{}</span>", esc(text));
            }
            out.push_str("</pre>");
        }
    }
    out.push_str("</article>\n");
}

fn esc(text: &str) -> String {
    graph::xml(text)
}

/// The `html` format.
pub(super) struct Html;

impl super::Reporter for Html {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        html(outcome)
    }
}
