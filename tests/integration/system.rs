//! The system simulation: its kustomize model against kustomize itself,
//! and the model of the generated repositories.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{materialise, render, tool};

type Identity = (String, String, String);

/// (kind, name, namespace) of every object `kubectl kustomize` emits.
fn kustomize(kubectl: &std::path::Path, root: &std::path::Path, dir: &str) -> BTreeSet<Identity> {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(root.join(dir))
        .output()
        .expect("kubectl kustomize runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut set = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let v: serde_json::Value = match serde_saphyr::from_str(doc) {
            Ok(v) => v,
            Err(e) => panic!("kustomize output of {dir} does not parse: {e}"),
        };
        if v.is_null() {
            continue;
        }
        let get = |p: &[&str]| {
            let mut x = &v;
            for k in p {
                x = &x[*k];
            }
            x.as_str().unwrap_or_default().to_owned()
        };
        set.insert((
            get(&["kind"]),
            get(&["metadata", "name"]),
            get(&["metadata", "namespace"]),
        ));
    }
    set
}

/// The model emits exactly the objects kustomize does, for every
/// kustomization of the default and full repositories.
#[test]
fn the_kustomize_model_emits_what_kustomize_emits() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let list: Vec<(String, Vec<u8>)> =
            files.iter().map(|(p, b)| (p.clone(), b.clone())).collect();
        let dir = materialise(&files);
        let roots: Vec<String> = list
            .iter()
            .filter_map(|(p, _)| p.strip_suffix("/kustomization.yaml").map(str::to_owned))
            .collect();
        assert!(
            roots.len() > 40,
            "{spec:?}: only {} kustomizations",
            roots.len()
        );
        for root in &roots {
            let (objects, gaps) = socle::check::system::kustomize_identities(&list, root);
            assert!(gaps.is_empty(), "{spec:?} {root}: {gaps:?}");
            let modelled: BTreeSet<Identity> = objects.into_iter().collect();
            let real = kustomize(&kubectl, dir.path(), root);
            assert_eq!(
                modelled, real,
                "{spec:?}: {root}: model differs from kustomize"
            );
        }
    }
}
