//! The promotion view (`socle diff --env A..B`): what separates two
//! environments of a repository, per component, once each component's values
//! are merged as Helm merges them and its Application is read.
//!
//! Differences are expected (replicas, sizing, hosts): they are listed.
//! Some are not: a chart version or an image tag that is further ahead in the
//! later environment than in the earlier one means something skipped
//! promotion, and is flagged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::UpdateError;

#[derive(serde::Serialize)]
pub struct Difference {
    pub key: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Why this difference is unexpected, when it is.
    pub flag: Option<String>,
}

#[derive(serde::Serialize)]
pub struct ComponentDiff {
    pub component: String,
    pub differences: Vec<Difference>,
}

fn read_yaml(path: &Path) -> Result<Option<Value>, UpdateError> {
    match fs_err::read_to_string(path) {
        Ok(text) => crate::yaml::from_str::<Value>(&text)
            .map(Some)
            .map_err(|e| {
                UpdateError::Usage(format!("{}: {}", path.display(), crate::yaml::describe(&e)))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// What an environment deploys of a component: chart versions, sync policy
/// and effective values, as flat key paths.
fn settings(dir: &Path, env: &str, id: &str) -> Result<BTreeMap<String, String>, UpdateError> {
    let mut out = BTreeMap::new();
    let app = dir.join(format!("argocd/{env}/applications/{id}.yaml"));
    if let Some(app) = read_yaml(&app)? {
        let spec = &app["spec"];
        let sources: Vec<&Value> = spec["sources"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_else(|| vec![&spec["source"]]);
        for s in sources {
            if let (Some(chart), Some(rev)) = (s["chart"].as_str(), s["targetRevision"].as_str()) {
                out.insert(format!("chart {chart}"), rev.to_owned());
            }
        }
        let sync = if spec["syncPolicy"]["automated"].is_object() {
            "automated"
        } else {
            "manual"
        };
        out.insert("sync".into(), sync.into());
    }
    let mut values =
        read_yaml(&dir.join(format!("components/{id}/values.yaml")))?.unwrap_or(Value::Null);
    if let Some(over) = read_yaml(&dir.join(format!("components/{id}/values-{env}.yaml")))? {
        if values.is_null() {
            values = over;
        } else {
            crate::model::deep_merge(&mut values, &over);
        }
    }
    if !values.is_null() {
        let mut flat = BTreeMap::new();
        flatten("", &values, &mut flat);
        out.extend(flat.into_iter().map(|(k, v)| (format!("values {k}"), v)));
    }
    Ok(out)
}

/// Numeric parts of a version or tag (`v1.21.1` → [1, 21, 1]); None when it
/// has none, so that unrelated strings are never ordered.
fn version(s: &str) -> Option<Vec<u64>> {
    let core = s.trim_start_matches('v').split(['-', '+', '@']).next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

fn is_version_key(key: &str) -> bool {
    key.starts_with("chart ")
        || key.ends_with(".tag")
        || key.ends_with("Tag")
        || key == "values tag"
}

/// Per component, the settings that differ between `from` and `to`. The
/// environments are taken from the repository's `argocd/` folder.
pub fn compare(dir: &Path, from: &str, to: &str) -> Result<Vec<ComponentDiff>, UpdateError> {
    // A name is one folder under argocd/: anything else (`../x`, a space)
    // would reach files outside the environment.
    for env in [from, to] {
        let plain = (1..=63).contains(&env.len())
            && !env.starts_with('-')
            && env
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !plain {
            return Err(UpdateError::Usage(format!(
                "{env:?} is not an environment name: lower-case letters, digits and dashes, as under argocd/ (e.g. \"staging\")"
            )));
        }
    }
    if from == to {
        return Err(UpdateError::Usage(format!(
            "{from:?} to itself: name two different environments (e.g. `socle promote staging prod`)"
        )));
    }
    for env in [from, to] {
        if !dir.join("argocd").join(env).is_dir() {
            return Err(UpdateError::Usage(format!(
                "environment {env:?} is not in {} (no argocd/{env}/ folder){}",
                dir.display(),
                crate::compose::on_host_hint(dir, env)
            )));
        }
    }
    let mut ids = BTreeSet::new();
    for env in [from, to] {
        let apps = dir.join("argocd").join(env).join("applications");
        if let Ok(entries) = fs_err::read_dir(&apps) {
            for e in entries.flatten() {
                if let Some(id) = e.file_name().to_str().and_then(|n| n.strip_suffix(".yaml")) {
                    ids.insert(id.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let a = settings(dir, from, &id)?;
        let b = settings(dir, to, &id)?;
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let mut differences = Vec::new();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            if x == y {
                continue;
            }
            let flag = match (x.and_then(|v| version(v)), y.and_then(|v| version(v))) {
                (Some(vx), Some(vy)) if is_version_key(key) && vy > vx => Some(format!(
                    "{to} is ahead of {from}: promote through {from} first"
                )),
                _ => None,
            };
            differences.push(Difference {
                key: key.clone(),
                from: x.cloned(),
                to: y.cloned(),
                flag,
            });
        }
        if !differences.is_empty() {
            out.push(ComponentDiff {
                component: id,
                differences,
            });
        }
    }
    Ok(out)
}

/// One setting `socle promote` copies.
#[derive(serde::Serialize)]
pub struct Promotion {
    pub file: String,
    pub key: String,
    pub from: String,
    pub to: String,
}

/// What promotion means here: chart versions and image tags travel from one
/// environment to the next; everything else (replicas, sizing, hosts,
/// storage, sync policy) is the environment's own.
fn promotable(key: &str) -> bool {
    key.starts_with("chart ") || key.ends_with(".tag") || key.ends_with("Tag")
}

/// The JSON pointer of a flat values key (`a.b[0].c` → `/a/b/0/c`).
fn pointer(key: &str) -> String {
    let mut out = String::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        out.push('/');
        out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
}

/// Replace the scalar on `line` (1-based) after its `key:` with `value`,
/// keeping the indentation and the key. None when the line is not a plain
/// `key: value` line.
fn set_scalar(text: &str, line: usize, value: &str) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let l = lines.get_mut(line.checked_sub(1)?)?;
    let colon = l.find(": ")?;
    let eol = if l.ends_with('\n') { "\n" } else { "" };
    let quoted = serde_json::to_string(value).ok()?;
    *l = format!("{}: {quoted}{eol}", &l[..colon]);
    Some(lines.concat())
}

/// What promoting would change: the settings copied, each changed file's
/// contents before and after, and the settings that need a hand (set only
/// in a shared file).
pub struct Plan {
    pub done: Vec<Promotion>,
    /// file → (before, after).
    pub files: BTreeMap<String, (String, String)>,
    pub manual: Vec<String>,
}

/// Copy the promotable settings of `from` into `to`: on disk when `write`,
/// else only planned (`--dry-run`).
pub fn promote(dir: &Path, from: &str, to: &str, write: bool) -> Result<Plan, UpdateError> {
    let mut done = Vec::new();
    let mut manual = Vec::new();
    let mut before: BTreeMap<String, String> = BTreeMap::new();
    // Several settings may land in one file: each edit reads the last.
    let mut after: BTreeMap<String, String> = BTreeMap::new();
    let read = |after: &BTreeMap<String, String>, file: &str| -> std::io::Result<String> {
        match after.get(file) {
            Some(text) => Ok(text.clone()),
            None => fs_err::read_to_string(dir.join(file)),
        }
    };
    for component in compare(dir, from, to)? {
        for d in component.differences.iter().filter(|d| promotable(&d.key)) {
            let (Some(new), Some(old)) = (&d.from, &d.to) else {
                continue;
            };
            let (file, edit) = if let Some(chart) = d.key.strip_prefix("chart ") {
                let file = format!("argocd/{to}/applications/{}.yaml", component.component);
                let text = read(&after, &file)?;
                // The chart source's targetRevision: the line after `chart: <name>`.
                let lines: Vec<&str> = text.lines().collect();
                let at = lines
                    .iter()
                    .position(|l| l.trim() == format!("chart: {chart}"))
                    .and_then(|i| {
                        (i..lines.len().min(i + 4))
                            .find(|j| lines[*j].trim_start().starts_with("targetRevision:"))
                    });
                (
                    file,
                    at.and_then(|j| set_scalar(&text, j + 1, new).map(|t| (text, t))),
                )
            } else {
                let key = d.key.trim_start_matches("values ");
                let file = format!("components/{}/values-{to}.yaml", component.component);
                let text = read(&after, &file).unwrap_or_default();
                let line = crate::locate::LineIndex::new(&text).exact(&pointer(key));
                (
                    file,
                    line.and_then(|l| set_scalar(&text, l, new).map(|t| (text, t))),
                )
            };
            match edit {
                Some((old_text, new_text)) => {
                    before.entry(file.clone()).or_insert(old_text);
                    after.insert(file.clone(), new_text);
                    done.push(Promotion {
                        file,
                        key: d.key.clone(),
                        from: old.clone(),
                        to: new.clone(),
                    });
                }
                None => manual.push(format!(
                    "{}: {} ({from} {new}, {to} {old}) is not set in {file}; set it there by hand",
                    component.component, d.key
                )),
            }
        }
    }
    if write {
        for (file, text) in &after {
            fs_err::write(dir.join(file), text)?;
        }
    }
    let files = before
        .into_iter()
        .filter_map(|(file, old)| {
            let new = after.get(&file)?.clone();
            Some((file, (old, new)))
        })
        .collect();
    Ok(Plan {
        done,
        files,
        manual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_and_scalar_edits() {
        assert_eq!(pointer("image.tag"), "/image/tag");
        assert_eq!(
            pointer("tenant.pools[0].servers"),
            "/tenant/pools/0/servers"
        );
        let text = "# c\nimage:\n  tag: 1.0.0  # pinned\n  pullPolicy: IfNotPresent\n";
        let line = crate::locate::LineIndex::new(text)
            .exact("/image/tag")
            .unwrap();
        assert_eq!(
            set_scalar(text, line, "1.1.0").unwrap(),
            "# c\nimage:\n  tag: \"1.1.0\"\n  pullPolicy: IfNotPresent\n"
        );
    }

    #[test]
    fn versions_order_numerically_and_only_when_numeric() {
        assert!(version("v1.21.1") > version("1.9.0"));
        assert_eq!(version("latest"), None);
        assert_eq!(version("0.12.1-debian"), Some(vec![0, 12, 1]));
    }
}
