//! `socle diff --env A..B` as a table: one row per setting that differs,
//! grouped by component, with the two environments side by side. Long and
//! multi-line values (a Python config, a realm) are cut down to the first
//! line where they differ, so a row stays readable and says where to look.

use socle::update::envdiff::ComponentDiff;

/// A value cell's widest text: wider values are cut with an ellipsis.
const CELL: usize = 48;

pub(crate) struct Table {
    from: String,
    to: String,
    rows: Vec<Row>,
    components: usize,
}

struct Row {
    /// Empty on the rows after a component's first.
    component: String,
    setting: String,
    from: String,
    to: String,
    /// Why the difference is unexpected (e.g. prod runs an older chart).
    flag: Option<String>,
}

impl Table {
    pub(crate) fn of(from: &str, to: &str, components: &[ComponentDiff]) -> Self {
        let mut rows = Vec::new();
        for c in components {
            for (i, d) in c.differences.iter().enumerate() {
                let (a, b) = cells(d.from.as_deref(), d.to.as_deref());
                rows.push(Row {
                    component: if i == 0 {
                        c.component.clone()
                    } else {
                        String::new()
                    },
                    setting: d.key.clone(),
                    from: a,
                    to: b,
                    flag: d.flag.clone(),
                });
            }
        }
        Table {
            from: from.to_owned(),
            to: to.to_owned(),
            rows,
            components: components.len(),
        }
    }

    fn summary(&self) -> String {
        let flagged = self.rows.iter().filter(|r| r.flag.is_some()).count();
        format!(
            "{} setting(s) of {} component(s) differ between {} and {}; {flagged} unexpected difference(s).",
            self.rows.len(),
            self.components,
            self.from,
            self.to
        )
    }

    /// GitHub- and GitLab-flavoured Markdown, for a pull request's
    /// description or a review comment.
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!(
            "| component | setting | {} | {} | |\n| --- | --- | --- | --- | --- |\n",
            escape(&self.from),
            escape(&self.to)
        );
        for r in &self.rows {
            let component = if r.component.is_empty() {
                String::new()
            } else {
                format!("**{}**", escape(&r.component))
            };
            let note = r
                .flag
                .as_deref()
                .map(|f| format!("⚠ {}", escape(f)))
                .unwrap_or_default();
            out.push_str(&format!(
                "| {component} | `{}` | {} | {} | {note} |\n",
                escape(&r.setting),
                code(&r.from),
                code(&r.to),
            ));
        }
        out.push_str(&format!("\n{}\n", self.summary()));
        out
    }

    /// Aligned columns for a terminal; unexpected differences are marked
    /// `!` (and red with colour).
    pub(crate) fn terminal(&self, colour: bool) -> String {
        let header = ["component", "setting", &self.from, &self.to];
        let mut widths = header.map(|h| h.chars().count());
        // A deep values path keeps its end, the part that names the setting.
        let settings: Vec<String> = self.rows.iter().map(|r| cut_front(&r.setting)).collect();
        for (r, setting) in self.rows.iter().zip(&settings) {
            for (w, cell) in widths
                .iter_mut()
                .zip([&r.component, setting, &r.from, &r.to])
            {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 4], mark: &str| {
            let mut l = format!("{mark:<2}");
            for (cell, w) in cells.iter().zip(widths) {
                l.push_str(&pad(cell, w));
                l.push_str("  ");
            }
            l.trim_end().to_owned()
        };
        let mut out = line(header, "") + "\n";
        out.push_str(&line(
            widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
            "",
        ));
        out.push('\n');
        for (r, setting) in self.rows.iter().zip(&settings) {
            let mark = if r.flag.is_some() { "!" } else { "" };
            let mut l = line([&r.component, setting, &r.from, &r.to], mark);
            if let Some(flag) = &r.flag {
                let note = format!("  unexpected: {flag}");
                l = socle::colour::paint(colour, socle::colour::DENY, &format!("{l}{note}"));
            }
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }
}

/// The two cells of a difference: short one-line values as they are; for
/// the rest, the first line where the two differ, with its number.
fn cells(a: Option<&str>, b: Option<&str>) -> (String, String) {
    let (Some(a), Some(b)) = (a, b) else {
        let show = |v: Option<&str>| v.map_or_else(|| "(unset)".to_owned(), |v| cut(first_line(v)));
        return (show(a), show(b));
    };
    if !a.contains('\n') && !b.contains('\n') {
        return (cut(a), cut(b));
    }
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = (0..al.len().max(bl.len()))
        .find(|&i| al.get(i) != bl.get(i))
        .unwrap_or(0);
    let show = |lines: &[&str]| match lines.get(at) {
        Some(l) => cut(&format!("l.{}: {}", at + 1, l.trim())),
        None => format!("({} lines)", lines.len()),
    };
    (show(&al), show(&bl))
}

fn first_line(v: &str) -> &str {
    v.lines().next().unwrap_or("")
}

fn cut(v: &str) -> String {
    if v.chars().count() <= CELL {
        return v.to_owned();
    }
    let mut s: String = v.chars().take(CELL - 1).collect();
    s.push('…');
    s
}

/// A setting wider than a cell, cut at its start.
fn cut_front(v: &str) -> String {
    let n = v.chars().count();
    if n <= CELL {
        return v.to_owned();
    }
    std::iter::once('…')
        .chain(v.chars().skip(n - (CELL - 1)))
        .collect()
}

fn pad(cell: &str, width: usize) -> String {
    let n = cell.chars().count();
    format!("{cell}{}", " ".repeat(width.saturating_sub(n)))
}

/// A Markdown table cell: pipes escaped, no line breaks.
fn escape(v: &str) -> String {
    v.replace('|', "\\|").replace('\n', " ")
}

/// A value as inline code (the cell may hold backticks of its own).
fn code(v: &str) -> String {
    if v.contains('`') {
        format!("`` {} ``", escape(v))
    } else {
        format!("`{}`", escape(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_shows_the_first_line_that_differs() {
        let a = "import os\nA = 1\nURL = 'https://dev.example'\nB = 2";
        let b = "import os\nA = 1\nURL = 'https://prod.example'\nB = 2";
        let (x, y) = cells(Some(a), Some(b));
        assert_eq!(x, "l.3: URL = 'https://dev.example'");
        assert_eq!(y, "l.3: URL = 'https://prod.example'");
        let (x, y) = cells(None, Some("3"));
        assert_eq!((x.as_str(), y.as_str()), ("(unset)", "3"));
        assert_eq!(cut(&"x".repeat(100)).chars().count(), CELL);
        let key = format!("values {}.memory", "a.".repeat(40));
        let shown = cut_front(&key);
        assert!(
            shown.starts_with('…') && shown.ends_with(".memory"),
            "{shown}"
        );
        assert_eq!(shown.chars().count(), CELL);
        assert_eq!(code("a|b"), "`a\\|b`");
    }
}
