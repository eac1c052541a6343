//! Secrets kustomize generates from files SOPS encrypted.
//!
//! SOC-SEC-004 refuses a `secretGenerator` that reads a file committed to
//! the repository: its values are there in the clear. Flux's
//! kustomize-controller (with `decryption.provider: sops`) decrypts the
//! files and env files a `secretGenerator` reads before it builds them, so
//! an entry whose files are all SOPS encrypted commits ciphertext, not a
//! credential, and its finding is dropped. A value a YAML file leaves in
//! the clear (outside its `encrypted_regex`) is still judged where it is,
//! by the rules on that file; an env file with one is not taken as
//! encrypted. Literals are never encrypted: they stay denied. The files
//! are read here, at the tree, because the rule judges the kustomization
//! alone (its result is remembered while the kustomization is unchanged,
//! whatever becomes of the files it names).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::finding::Finding;
use super::parse::{is_kustomization, Document};
use super::system::kustomize::join;

const RULE: &str = "SOC-SEC-004";

/// The lines of each kustomization whose secretGenerator entries read only
/// SOPS-encrypted files.
#[derive(Default)]
pub(crate) struct Sealed {
    lines: HashMap<String, Vec<usize>>,
}

impl Sealed {
    pub(crate) fn of(files: &[(String, Vec<u8>)], documents: &[&Document]) -> Self {
        let generators: Vec<&&Document> = documents
            .iter()
            .filter(|d| is_kustomization(&d.path) && d.value["secretGenerator"].is_array())
            .collect();
        if generators.is_empty() {
            return Self::default();
        }
        let bytes: HashMap<&str, &[u8]> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let mut docs: HashMap<&str, Vec<&Document>> = HashMap::new();
        for d in documents {
            docs.entry(d.path.as_str()).or_default().push(d);
        }
        let encrypted = |path: &str| {
            docs.get(path)
                .is_some_and(|ds| !ds.is_empty() && ds.iter().all(|d| sops_document(&d.value)))
                || bytes.get(path).is_some_and(|b| sops_text(b))
        };
        let mut out = Self::default();
        for k in generators {
            let dir = k.path.rsplit_once('/').map_or("", |(d, _)| d);
            // Entries sharing a line (`files: [a, b]`) are sealed together
            // or not at all.
            let mut by_line: BTreeMap<usize, bool> = BTreeMap::new();
            for (i, generator) in k.value["secretGenerator"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                for field in ["files", "envs", "env"] {
                    let names: Vec<(Value, &str)> = match &generator[field] {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .filter_map(|(j, n)| Some((json!(j), n.as_str()?)))
                            .collect(),
                        Value::String(s) => vec![(Value::Null, s.as_str())],
                        _ => continue,
                    };
                    for (j, name) in names {
                        let mut at = vec![json!("secretGenerator"), json!(i), json!(field)];
                        if !j.is_null() {
                            at.push(j);
                        }
                        // `key=path` names the key the file's content goes to.
                        let file = name.split_once('=').map_or(name, |(_, p)| p);
                        let sealed = encrypted(&join(dir, file));
                        let line = k.line_of(&at);
                        let all = by_line.entry(line).or_insert(true);
                        *all &= sealed;
                    }
                }
            }
            let lines: Vec<usize> = by_line
                .into_iter()
                .filter_map(|(line, sealed)| sealed.then_some(line))
                .collect();
            if !lines.is_empty() {
                out.lines.entry(k.path.clone()).or_default().extend(lines);
            }
        }
        out
    }

    /// Drop SOC-SEC-004 on entries that read only encrypted files.
    pub(crate) fn settle(&self, findings: &mut Vec<Finding>) {
        if self.lines.is_empty() {
            return;
        }
        findings.retain(|f| {
            f.rule != RULE
                || !f.line.is_some_and(|line| {
                    self.lines
                        .get(&f.file)
                        .is_some_and(|lines| lines.contains(&line))
                })
        });
    }
}

/// A YAML or JSON document SOPS encrypted: its `sops` metadata holds the
/// MAC of its values.
fn sops_document(v: &Value) -> bool {
    super::schema::is_sops_metadata(v.get("sops"))
}

/// An env or INI file SOPS encrypted: its MAC is written as a line of its
/// own (`sops_mac=ENC[…]` in an env file, `mac = ENC[…]` under `[sops]` in
/// an INI file), and every value beside it is ciphertext (or empty). No
/// rule reads such a file's values, so one left in the clear (an
/// `--encrypted-regex` that missed it) keeps the generator's denial.
fn sops_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut in_sops = false;
    let mut mac = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_sops = line == "[sops]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if in_sops || key.starts_with("sops_") {
            mac |= (key == "mac" || key == "sops_mac") && value.starts_with("ENC[");
        } else if !value.is_empty() && !value.starts_with("ENC[") {
            return false;
        }
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sops_env_and_ini_files_are_told_by_their_mac() {
        assert!(sops_text(
            b"DB_PASSWORD=ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]\nsops_mac=ENC[AES256_GCM,data:m,iv:x,tag:y,type:str]\n"
        ));
        assert!(sops_text(
            b"[db]\npassword = ENC[AES256_GCM,data:abc]\n[sops]\nmac = ENC[AES256_GCM,data:m]\n"
        ));
        assert!(!sops_text(b"DB_PASSWORD=hunter2\n"));
        // A value left in the clear beside the MAC.
        assert!(!sops_text(
            b"DB_PASSWORD=hunter2\nsops_mac=ENC[AES256_GCM,data:m,iv:x,tag:y,type:str]\n"
        ));
        // A MAC outside the `[sops]` section is a value like any other.
        assert!(!sops_text(b"[db]\nmac = ENC[AES256_GCM,data:m]\n"));
    }
}
