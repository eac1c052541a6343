//! The one place terminal colour is written. Whether a run has colour is
//! decided once, by the binary, from `--color` and the environment
//! (NO_COLOR, CLICOLOR_FORCE, TERM=dumb); every coloured text (the check's
//! report, diffs, the environment table) goes through [`paint`] with one of
//! the styles below.

use anstyle::{AnsiColor, Style};

/// A file's name heading its findings; a diff's file header.
pub const HEADING: Style = Style::new().bold();
pub const DENY: Style = AnsiColor::Red.on_default();
pub const WARN: Style = AnsiColor::Yellow.on_default();
pub const ADDED: Style = AnsiColor::Green.on_default();
pub const REMOVED: Style = AnsiColor::Red.on_default();
pub const HUNK: Style = AnsiColor::Cyan.on_default();

/// `text` in `style` when `on`, else as it is.
pub fn paint(on: bool, style: Style, text: &str) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// A unified diff with its added, removed and header lines coloured.
pub fn diff(on: bool, diff: &str) -> String {
    if !on {
        return diff.to_owned();
    }
    diff.lines()
        .map(|l| {
            let style = if l.starts_with("+++") || l.starts_with("---") {
                Some(HEADING)
            } else if l.starts_with('+') {
                Some(ADDED)
            } else if l.starts_with('-') {
                Some(REMOVED)
            } else if l.starts_with("@@") {
                Some(HUNK)
            } else {
                None
            };
            match style {
                Some(s) => format!("{}\n", paint(true, s, l)),
                None => format!("{l}\n"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_when_on() {
        assert_eq!(super::paint(false, super::DENY, "deny"), "deny");
        assert_eq!(
            super::paint(true, super::DENY, "deny"),
            "\u{1b}[31mdeny\u{1b}[0m"
        );
        assert_eq!(super::diff(true, "+a\n b\n"), "\u{1b}[32m+a\u{1b}[0m\n b\n");
    }
}
