//! Three-way merges of one file: base (what socle rendered last), ours (the
//! working tree) and theirs (the new render).
//!
//! Text merges by lines, as git does. When the lines conflict in a YAML file,
//! the documents are merged again by key path: a team's tweak of one key and
//! the blueprint's new key in the same map then both land, even when they sit
//! on neighbouring lines. Only a key that both sides changed differently is a
//! conflict, and then the file gets git-style conflict markers.

use serde_json::Value;

type Mapping = serde_json::Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// Both sides' changes, without conflict.
    Clean(Vec<u8>),
    /// The line merge with `<<<<<<<` / `>>>>>>>` markers around each conflict.
    Conflict(Vec<u8>),
}

pub fn merge(path: &str, base: &[u8], ours: &[u8], theirs: &[u8]) -> Merged {
    let (Ok(b), Ok(o), Ok(t)) = (
        std::str::from_utf8(base),
        std::str::from_utf8(ours),
        std::str::from_utf8(theirs),
    ) else {
        // Binary: no merge, the team's version stays and theirs is offered.
        return Merged::Conflict(ours.to_vec());
    };
    let lines = diffy::MergeOptions::new()
        .set_conflict_style(diffy::ConflictStyle::Merge)
        .merge(b, o, t);
    match lines {
        Ok(text) => Merged::Clean(text.into_bytes()),
        Err(conflicted) => {
            if is_yaml(path) {
                if let Some(text) = merge_yaml(b, o, t) {
                    return Merged::Clean(text.into_bytes());
                }
            }
            Merged::Conflict(conflicted.into_bytes())
        }
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// A key-path merge of three single-document YAML files, or None when a key
/// conflicts (or a file is not one mapping). The result keeps ours' leading
/// comment block; other comments do not survive a re-serialisation, which is
/// why this runs only where the line merge failed.
fn merge_yaml(base: &str, ours: &str, theirs: &str) -> Option<String> {
    let parse = |s: &str| -> Option<Value> {
        let v: Value = crate::yaml::from_str(s).ok()?;
        v.is_object().then_some(v)
    };
    let (b, o, t) = (parse(base)?, parse(ours)?, parse(theirs)?);
    let merged = merge_value(Some(&b), Some(&o), Some(&t))??;
    let body = crate::yaml::to_string(&merged);
    let header: String = ours
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    Some(format!("{header}{body}"))
}

/// Outer None: conflict. Inner None: the key is absent in the result.
fn merge_value(b: Option<&Value>, o: Option<&Value>, t: Option<&Value>) -> Option<Option<Value>> {
    if o == t {
        return Some(o.cloned());
    }
    if o == b {
        return Some(t.cloned());
    }
    if t == b {
        return Some(o.cloned());
    }
    // Both changed it: only maps on every side can still merge key by key.
    let empty = Mapping::new();
    let map = |v: Option<&Value>| -> Option<Mapping> {
        match v {
            Some(Value::Object(m)) => Some(m.clone()),
            None => Some(empty.clone()),
            _ => None,
        }
    };
    let (bm, om, tm) = (map(b)?, map(o)?, map(t)?);
    if o.is_none() || t.is_none() {
        return None;
    }
    let mut out = Mapping::new();
    // Ours' key order first, then keys only theirs has, in theirs' order.
    let keys: Vec<String> = om
        .keys()
        .chain(tm.keys().filter(|k| !om.contains_key(*k)))
        .chain(
            bm.keys()
                .filter(|k| !om.contains_key(*k) && !tm.contains_key(*k)),
        )
        .cloned()
        .collect();
    for k in keys {
        if let Some(v) = merge_value(bm.get(&k), om.get(&k), tm.get(&k))? {
            out.insert(k, v);
        }
    }
    Some(Some(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Merged) -> (bool, String) {
        match m {
            Merged::Clean(b) => (true, String::from_utf8(b).unwrap()),
            Merged::Conflict(b) => (false, String::from_utf8(b).unwrap()),
        }
    }

    #[test]
    fn separate_lines_merge_by_lines() {
        let base = "a\nb\nc\nd\ne\n";
        let ours = "a\nB\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE\n";
        assert_eq!(
            text(merge(
                "x.md",
                base.as_bytes(),
                ours.as_bytes(),
                theirs.as_bytes()
            )),
            (true, "a\nB\nc\nd\nE\n".into())
        );
    }

    #[test]
    fn same_line_changed_twice_is_a_conflict_with_markers() {
        let (clean, out) = text(merge(
            "x.md",
            b"a\nb\nc\n",
            b"a\nours\nc\n",
            b"a\ntheirs\nc\n",
        ));
        assert!(!clean);
        assert!(
            out.contains("<<<<<<<")
                && out.contains("ours")
                && out.contains("theirs")
                && out.contains(">>>>>>>"),
            "{out}"
        );
    }

    #[test]
    fn yaml_neighbouring_keys_merge_by_key_path() {
        let base = "# values\nserver:\n  replicas: 1\n  port: 80\n";
        let ours = "# values\nserver:\n  replicas: 3\n  port: 80\n";
        let theirs = "# values\nserver:\n  replicas: 1\n  timeout: 30\n  port: 80\n";
        let (clean, out) = text(merge(
            "v.yaml",
            base.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ));
        assert!(clean, "{out}");
        let v: Value = crate::yaml::from_str(&out).unwrap();
        assert_eq!(v["server"]["replicas"], Value::from(3));
        assert_eq!(v["server"]["timeout"], Value::from(30));
        assert!(out.starts_with("# values\n"), "{out}");
    }

    #[test]
    fn yaml_same_key_changed_twice_conflicts() {
        let base = "a:\n  x: 1\n";
        let (clean, out) = text(merge(
            "v.yaml",
            base.as_bytes(),
            b"a:\n  x: 2\n",
            b"a:\n  x: 3\n",
        ));
        assert!(!clean, "{out}");
    }
}
