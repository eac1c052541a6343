//! What changed since the previous version a range checked.
//!
//! Most commits of a GitOps repository change one file: a values file, a
//! runbook, a README, a script. The parts of a check that read the file
//! list and some of the documents (the repository rules, the key of the
//! system simulation) often see exactly what they saw for the previous
//! version. Knowing it from the few files that changed spares them a pass
//! over every document of the repository that would only tell them so: a
//! third of what such a commit cost.

/// The versions of the previous tree's files, in its order, and what its
/// check found that the next version may reuse.
#[derive(Default)]
pub(crate) struct Previous {
    keys: Vec<(String, String)>,
    /// The previous version's repository rules' findings, which read the
    /// file list and some of the documents (see
    /// `Embedded::repository_reads`).
    pub(crate) repository: Option<Vec<crate::check::Finding>>,
    /// The folders the previous version's GitOps objects apply whole (see
    /// `deployed`), when its check needed them.
    pub(crate) folders: Option<std::collections::BTreeSet<String>>,
}

/// How one version of the repository differs from the previous one.
pub(crate) struct Delta {
    /// The files whose version changed, with their previous version;
    /// `None` when the file list itself changed (or there is no previous
    /// version), which every part reads.
    changed: Option<Vec<(String, String)>>,
}

impl Previous {
    /// The delta from the previous version to `keys` (path, version), which
    /// then becomes the previous one.
    pub(crate) fn advance(&mut self, keys: &[(String, String)]) -> Delta {
        let same_list =
            self.keys.len() == keys.len() && self.keys.iter().zip(keys).all(|(a, b)| a.0 == b.0);
        if !same_list {
            self.keys = keys.to_vec();
            return Delta { changed: None };
        }
        let mut changed = Vec::new();
        for (old, new) in self.keys.iter_mut().zip(keys) {
            if old.1 != new.1 {
                let was = std::mem::replace(&mut old.1, new.1.clone());
                changed.push((new.0.clone(), was));
            }
        }
        Delta {
            changed: Some(changed),
        }
    }
}

impl Delta {
    /// The files whose version changed, each with its previous version,
    /// when the file list did not change.
    pub(crate) fn changed_from(&self) -> Option<&[(String, String)]> {
        self.changed.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(delta: &Delta) -> Option<Vec<&str>> {
        delta
            .changed_from()
            .map(|c| c.iter().map(|(p, _)| p.as_str()).collect())
    }

    fn keys(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_changed_files_are_named_with_their_previous_version() {
        let mut previous = Previous::default();
        let first = previous.advance(&keys(&[("README.md", "a"), ("ns.yaml", "b")]));
        assert_eq!(paths(&first), None, "no previous version");
        let readme = previous.advance(&keys(&[("README.md", "c"), ("ns.yaml", "b")]));
        assert_eq!(paths(&readme), Some(vec!["README.md"]));
        assert_eq!(
            readme.changed_from(),
            Some(&[("README.md".to_owned(), "a".to_owned())][..])
        );
        let same = previous.advance(&keys(&[("README.md", "c"), ("ns.yaml", "b")]));
        assert_eq!(paths(&same), Some(vec![]));
        let both = previous.advance(&keys(&[("README.md", "d"), ("ns.yaml", "e")]));
        assert_eq!(
            both.changed_from(),
            Some(
                &[
                    ("README.md".to_owned(), "c".to_owned()),
                    ("ns.yaml".to_owned(), "b".to_owned())
                ][..]
            )
        );
    }

    #[test]
    fn a_file_added_removed_or_renamed_changes_the_list() {
        let mut previous = Previous::default();
        previous.advance(&keys(&[("a.md", "1"), ("ns.yaml", "1")]));
        let added = previous.advance(&keys(&[("a.md", "1"), ("b.md", "1"), ("ns.yaml", "1")]));
        assert_eq!(paths(&added), None);
        let removed = previous.advance(&keys(&[("a.md", "1"), ("ns.yaml", "1")]));
        assert_eq!(paths(&removed), None);
        let renamed = previous.advance(&keys(&[("c.md", "1"), ("ns.yaml", "1")]));
        assert_eq!(paths(&renamed), None);
        let after = previous.advance(&keys(&[("c.md", "2"), ("ns.yaml", "1")]));
        assert_eq!(paths(&after), Some(vec!["c.md"]));
    }
}
