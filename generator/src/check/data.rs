//! `socle check --data PATH`: documents the repository policies read as
//! `data`, loaded as conftest (through OPA's loader) loads them.
//!
//! A file's document is merged at the root of `data`; a folder is walked,
//! and each JSON or YAML file in it is merged under the path of its folder
//! relative to the one given (`--data d` with `d/team/limits.yaml` holding
//! `max: 3` gives `data.team.max`), the file's own name not counted. Two
//! files that set the same leaf are an error, as in OPA.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Together, the files of `--data` cannot exceed this: they are held in
/// memory and copied into every policy worker.
pub const MAX_TOTAL: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("--data {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--data {}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("--data {}: sets data.{key}, which {} already sets; give each value one file", path.display(), other.display())]
    Conflict {
        path: PathBuf,
        other: PathBuf,
        key: String,
    },
    #[error("--data: the files add up to more than {} MB; pass the folders the policies read", MAX_TOTAL / (1024 * 1024))]
    TooLarge,
}

fn is_data_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "yaml" | "yml")
    )
}

/// The `data` document of `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Value, DataError> {
    let mut data = Value::Object(Map::new());
    // Which file set each leaf, to name both sides of a conflict.
    let mut owners: Vec<(String, PathBuf)> = Vec::new();
    let mut total = 0u64;
    for root in paths {
        let meta = fs_err::metadata(root).map_err(|source| DataError::Read {
            path: root.clone(),
            source,
        })?;
        let mut files: Vec<(PathBuf, Vec<String>)> = Vec::new();
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
                let entry = entry.map_err(|e| DataError::Read {
                    path: root.clone(),
                    source: e.into(),
                })?;
                if !entry.file_type().is_file() || !is_data_file(entry.path()) {
                    continue;
                }
                let prefix = entry
                    .path()
                    .parent()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(|p| {
                        p.components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                files.push((entry.path().to_path_buf(), prefix));
            }
        } else if is_data_file(root) {
            files.push((root.clone(), Vec::new()));
        } else {
            return Err(DataError::Parse {
                path: root.clone(),
                line: None,
                message: "not a JSON or YAML file (.json, .yaml, .yml)".into(),
            });
        }
        for (path, prefix) in files {
            let bytes = fs_err::read(&path).map_err(|source| DataError::Read {
                path: path.clone(),
                source,
            })?;
            total += bytes.len() as u64;
            if total > MAX_TOTAL {
                return Err(DataError::TooLarge);
            }
            let document = parse(&path, &bytes)?;
            let mut nested = document;
            for key in prefix.iter().rev() {
                let mut m = Map::new();
                m.insert(key.clone(), nested);
                nested = Value::Object(m);
            }
            merge(&mut data, nested, &mut String::new(), &path, &mut owners)?;
        }
    }
    Ok(data)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Value, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::Parse {
        path: path.to_path_buf(),
        line: None,
        message: format!("not UTF-8 ({e})"),
    })?;
    // JSON is YAML; one parser keeps the bounds on depth and size.
    let mut documents: Vec<Value> =
        crate::yaml::from_multiple(text).map_err(|e| DataError::Parse {
            path: path.to_path_buf(),
            line: crate::yaml::error_line(&e),
            message: crate::yaml::error_message(&e),
        })?;
    documents.retain(|d| !d.is_null());
    match documents.len() {
        0 => Ok(Value::Object(Map::new())),
        1 => match documents.remove(0) {
            v @ Value::Object(_) => Ok(v),
            other => Err(DataError::Parse {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "a data file holds an object (keys under data), not {}",
                    kind(&other)
                ),
            }),
        },
        n => Err(DataError::Parse {
            path: path.to_path_buf(),
            line: None,
            message: format!("{n} YAML documents; a data file holds one"),
        }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "null",
    }
}

fn merge(
    into: &mut Value,
    from: Value,
    key: &mut String,
    path: &Path,
    owners: &mut Vec<(String, PathBuf)>,
) -> Result<(), DataError> {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                let len = key.len();
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(&k);
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v, key, path, owners)?,
                    None => {
                        owners.push((key.clone(), path.to_path_buf()));
                        a.insert(k, v);
                    }
                }
                key.truncate(len);
            }
            Ok(())
        }
        _ => {
            // The file that set this key, or the object holding it.
            let other = owners
                .iter()
                .filter(|(k, _)| {
                    key.as_str() == k
                        || key
                            .strip_prefix(k.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
                .max_by_key(|(k, _)| k.len())
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            Err(DataError::Conflict {
                path: path.to_path_buf(),
                other,
                key: key.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_nest_files_merge_and_conflicts_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::create_dir_all(d.join("team/a")).unwrap();
        fs_err::write(d.join("root.yaml"), "services:\n  ports: [22, 21]\n").unwrap();
        fs_err::write(d.join("team/limits.json"), "{\"max\": 3}").unwrap();
        fs_err::write(d.join("team/a/x.yml"), "names: [a]\n").unwrap();
        fs_err::write(d.join("README.md"), "not data").unwrap();
        let data = load(&[d.to_path_buf()]).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"services": {"ports": [22, 21]}, "team": {"max": 3, "a": {"names": ["a"]}}})
        );
        let file = load(&[d.join("team/limits.json")]).unwrap();
        assert_eq!(file, serde_json::json!({"max": 3}));

        fs_err::write(d.join("team/more.yaml"), "max: 4\n").unwrap();
        let e = load(&[d.to_path_buf()]).unwrap_err().to_string();
        assert!(
            e.contains("data.team.max") && e.contains("limits.json") && e.contains("more.yaml"),
            "{e}"
        );
    }

    #[test]
    fn bad_files_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.yaml");
        fs_err::write(&f, "a: 1\n  b: [\n").unwrap();
        let e = load(std::slice::from_ref(&f)).unwrap_err().to_string();
        assert!(e.contains("bad.yaml:"), "{e}");
        fs_err::write(&f, "- 1\n").unwrap();
        assert!(load(std::slice::from_ref(&f))
            .unwrap_err()
            .to_string()
            .contains("a list"));
        let e = load(&[dir.path().join("nope.yaml")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.yaml"), "{e}");
    }
}
