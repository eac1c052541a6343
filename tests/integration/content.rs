//! What the generated repository contains: file list, representative files,
//! hostile values, wave order, template hygiene.

use std::collections::BTreeMap;

use crate::support::{render, repo_root, to_json, yaml_docs};

#[test]
fn file_list_snapshot() {
    let files = render(None);
    let list: Vec<&String> = files.keys().collect();
    insta::assert_yaml_snapshot!("file_list_default", list);
    let files = render(Some("full.yaml"));
    let list: Vec<&String> = files.keys().collect();
    insta::assert_yaml_snapshot!("file_list_full", list);
}

#[test]
fn representative_files_snapshot() {
    let files = render(None);
    for path in [
        "argocd/prod/project.yaml",
        "argocd/dev/bootstrap.yaml",
        "argocd/dev/argocd-values.yaml",
        "argocd/prod/applications/trino.yaml",
        "argocd/dev/applications/platform.yaml",
        "argocd/dev/applications/nifi.yaml",
        "components/trino/values-prod.yaml",
        "components/postgresql/values-prod.yaml",
        "platform/overlays/prod/kustomization.yaml",
        "platform/base/namespaces/processing/networkpolicies.yaml",
        "README.md",
    ] {
        let text = String::from_utf8_lossy(
            files
                .get(path)
                .unwrap_or_else(|| panic!("{path} not rendered")),
        );
        insta::assert_snapshot!(path.replace('/', "__"), text);
    }
}

/// Walk every string of a YAML value.
fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k);
            strings(v, out)
        }),
        _ => {}
    }
}

#[test]
fn hostile_values_read_back_exactly() {
    let spec: serde_json::Value = crate::support::yaml(
        &fs_err::read_to_string(crate::support::fixture("specs/hostile.yaml")).unwrap(),
    )
    .unwrap();
    let name = spec["client"]["name"].as_str().unwrap().to_owned();
    let description = spec["data_domains"][0]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = render(Some("hostile.yaml"));
    let docs = yaml_docs(&files); // panics on any YAML file that does not parse
    let mut seen = 0;
    for (path, doc) in &docs {
        let mut all = Vec::new();
        strings(doc, &mut all);
        // A document carried as text (a realm in a ConfigMap) is read too.
        let embedded: Vec<serde_json::Value> = all
            .iter()
            .filter(|s| s.contains("«M»") && s.contains('\n'))
            .filter_map(|s| crate::support::yaml::<serde_json::Value>(s).ok())
            .filter(|v| v.is_object())
            .collect();
        let mut inner = Vec::new();
        for v in &embedded {
            strings(v, &mut inner);
        }
        for s in all.into_iter().chain(inner).filter(|s| s.contains("«M»")) {
            if s.contains('\n')
                && crate::support::yaml::<serde_json::Value>(s).is_ok_and(|v| v.is_object())
            {
                continue;
            }
            seen += 1;
            assert!(
                s.contains(&name) || s.contains(&description) || path == "socle.yaml",
                "{path}: a hostile value came out altered: {s:?}"
            );
        }
    }
    assert!(seen >= 3, "hostile values reached only {seen} YAML strings");
    let project = docs
        .iter()
        .find(|(p, _)| p == "argocd/dev/project.yaml")
        .map(|(_, d)| d)
        .expect("dev project");
    assert_eq!(
        project["spec"]["description"].as_str(),
        Some(format!("{name} data platform (dev)").as_str())
    );
}

#[test]
fn waves_respect_every_dependency() {
    let blueprint: serde_json::Value = crate::support::yaml_slice(
        &fs_err::read(repo_root().join("blueprints/platform/blueprint.yaml")).unwrap(),
    )
    .unwrap();
    let needs: BTreeMap<String, Vec<String>> = blueprint["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap().to_owned();
            let n = c["needs"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (id, n)
        })
        .collect();
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let mut waves = BTreeMap::new();
        for (path, doc) in yaml_docs(&files) {
            if path.starts_with("argocd/prod/applications/") {
                let j = to_json(&doc);
                let id = j["metadata"]["labels"]["app.kubernetes.io/component"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let wave: i64 = j["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                waves.insert(id, wave);
            }
        }
        assert!(waves.len() > 20, "{waves:?}");
        for (id, wave) in &waves {
            for need in &needs[id] {
                if let Some(w) = waves.get(need) {
                    assert!(
                        w < wave,
                        "{spec:?}: {id} (wave {wave}) needs {need} (wave {w})"
                    );
                }
            }
        }
        // The seeds' order: storage before security, the tools Airflow's
        // DAGs call before Airflow, Zeppelin before the catalog, Velero last.
        // (MinIO is not deployed when the spec names an external S3 store.)
        let order = |a: &str, b: &str| {
            if let (Some(wa), Some(wb)) = (waves.get(a), waves.get(b)) {
                assert!(wa < wb, "{a} must come before {b}: {waves:?}");
            }
        };
        order("openebs", "minio");
        order("minio", "keycloak");
        order("keycloak", "airflow");
        order("trino", "airflow");
        order("trino", "zeppelin");
        let last = waves.values().max().unwrap();
        assert_eq!(waves["velero"], *last);
    }
}

#[test]
fn prod_syncs_by_hand_and_dev_automatically() {
    let files = render(None);
    for (path, doc) in yaml_docs(&files) {
        if let Some(rest) = path.strip_prefix("argocd/") {
            let j = to_json(&doc);
            if j["kind"] != "Application" {
                continue;
            }
            let automated = !j["spec"]["syncPolicy"]["automated"].is_null();
            match rest.split('/').next() {
                Some("prod") => assert!(!automated, "{path} auto-syncs prod"),
                Some("dev") => assert!(automated, "{path} does not auto-sync dev"),
                _ => {}
            }
        }
    }
}

/// `{{value}}` quotes when needed, so it must stand alone as a scalar:
/// `prefix-{{value}}` would produce `prefix-"value"` whenever quoting kicks in.
#[test]
fn templates_never_glue_an_escaped_value_to_text() {
    let root = repo_root().join("blueprints/platform");
    let raw_helpers = [
        "plain", "int", "bool", "json", "indent", "concat", "comment",
    ];
    let mut problems = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let name = path.to_string_lossy();
        if !(name.ends_with(".yaml.hbs") || name.ends_with(".yml.hbs")) {
            continue;
        }
        let text = fs_err::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let mut rest = line;
            let mut offset = 0;
            while let Some(start) = rest.find("{{") {
                let Some(len) = rest[start..].find("}}") else {
                    break;
                };
                let expr = rest[start + 2..start + len].trim_start_matches('~').trim();
                let abs = offset + start;
                let end = abs + len + 2;
                let first = expr.split_whitespace().next().unwrap_or("");
                // `\{{` is a literal mustache for another template engine.
                let literal = line[..abs].ends_with('\\');
                let escaped = !(literal
                    || expr.starts_with(['#', '/', '!', '>', '{'])
                    || first == "else"
                    || raw_helpers.contains(&first));
                if escaped {
                    let before = line[..abs].trim_end_matches(' ');
                    let after = &line[end..];
                    let ok_before = before.is_empty()
                        || before.ends_with(':')
                        || before.ends_with('-')
                        || before.ends_with('[')
                        || before.ends_with(',')
                        || before.ends_with('{')
                        || before.ends_with("}}") && before.trim_start().starts_with("{{#");
                    let ok_after = after.is_empty()
                        || after.starts_with(',')
                        || after.starts_with(']')
                        || after.starts_with('}') && !after.starts_with("}}")
                        || after.starts_with(" #")
                        || after.starts_with("{{/")
                        || after.starts_with("{{else");
                    let glued_before = !line[..abs].ends_with(' ')
                        && !before.is_empty()
                        && !before.ends_with('[')
                        && !before.ends_with('{')
                        && !before.ends_with("}}");
                    if !(ok_before && ok_after) || glued_before {
                        problems.push(format!(
                            "{}:{}: {}",
                            path.strip_prefix(&root).unwrap().display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
                offset = end;
                rest = &line[end..];
            }
        }
    }
    assert!(
        problems.is_empty(),
        "escaped values glued to text (use concat or plain):\n{}",
        problems.join("\n")
    );
}

#[test]
fn environments_sharing_a_cluster_deploy_cluster_wide_parts_once() {
    let files = render(Some("full.yaml"));
    // dev and staging share a cluster: dev, first in the spec, owns it.
    for id in [
        "openebs",
        "cert-manager",
        "prometheus-operator-crds",
        "velero",
        "kube-prometheus-stack",
    ] {
        assert!(
            files.contains_key(&format!("argocd/dev/applications/{id}.yaml")),
            "dev lacks {id}"
        );
        assert!(
            !files.contains_key(&format!("argocd/staging/applications/{id}.yaml")),
            "staging duplicates {id}"
        );
        assert!(
            files.contains_key(&format!("argocd/prod/applications/{id}.yaml")),
            "prod lacks {id}"
        );
    }
    assert!(files.contains_key("argocd/staging/applications/trino.yaml"));
    assert!(!files.contains_key("platform/overlays/staging/cluster/kustomization.yaml"));
    assert!(!files.contains_key("platform/overlays/staging/namespaces/openebs/kustomization.yaml"));
    let staging = String::from_utf8_lossy(
        &files["platform/overlays/staging/namespaces/core/kustomization.yaml"],
    )
    .into_owned();
    assert!(
        staging.contains("namespace: data-platform-core-stg"),
        "{staging}"
    );
    // System namespaces keep their name whatever the suffix.
    let velero =
        String::from_utf8_lossy(&files["argocd/dev/applications/velero.yaml"]).into_owned();
    assert!(velero.contains("namespace: velero\n"), "{velero}");
}

/// Every field every template names exists in the contexts it renders
/// with, in branches the spec does not take too (a typo behind
/// `{{#if enabled.airbyte}}` fails here, not for the first client with
/// Airbyte). The contexts of the default, full and hostile specs and of
/// the default with prod on EKS, GKE and AKS together: a component one leaves out,
/// another renders.
fn unresolved_fields(blueprint: &socle::source::Tree) -> Vec<String> {
    let environments = socle::source::Tree::embedded_environments();
    let mut all = socle::render::TemplateContexts::new();
    let specs = [
        socle::spec::EXAMPLE.to_owned(),
        crate::support::fixture_text("specs/full.yaml"),
        crate::support::fixture_text("specs/hostile.yaml"),
        crate::cloud::eks_spec(),
        crate::cloud::full_spec_on_eks(),
        crate::platform_gke::spec(),
        crate::platform_aks::spec(),
    ];
    for text in specs {
        let generated = socle::generate::generate(&socle::generate::Inputs {
            spec_text: &text,
            spec_origin: "socle.yaml",
            blueprint,
            environments: &environments,
        })
        .expect("renders");
        let contexts = socle::render::Renderer::new(&generated.model, blueprint)
            .contexts()
            .expect("contexts");
        for (source, (text, list)) in contexts {
            all.entry(source)
                .or_insert_with(|| (text, Vec::new()))
                .1
                .extend(list);
        }
    }
    socle::render::unresolved_fields(&all).expect("templates compile")
}

#[test]
fn templates_name_only_fields_their_context_has() {
    let blueprint = socle::source::Tree::embedded_blueprint();
    let problems = unresolved_fields(&blueprint);
    assert!(problems.is_empty(), "fields no context has:\n{problems:#?}");

    // A typo in a branch no spec takes is found, at its line.
    let mut broken = blueprint.clone();
    let (path, bytes) = broken
        .files
        .iter_mut()
        .find(|(p, _)| p == "components/trino/values.yaml.hbs")
        .expect("trino values template");
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    *bytes =
        format!("{text}{{{{#if enabled.no-such-component}}}}\n# {{{{env.nmae}}}}\n{{{{/if}}}}\n")
            .into_bytes()
            .into();
    let line = text.lines().count() + 2;
    let path = path.clone();
    let problems = unresolved_fields(&broken);
    assert!(
        problems.contains(&format!("{path}:{line}: env.nmae")),
        "{problems:#?}"
    );
}

/// Every field every template names is a field of the type of its context
/// (`socle::model::context`), whatever the spec: unlike the check above, no
/// sample spec decides what is checked.
#[test]
fn templates_name_only_fields_their_context_type_has() {
    let blueprint = socle::source::Tree::embedded_blueprint();
    let problems = socle::render::unresolved_in_schema(&blueprint).expect("templates compile");
    assert!(
        problems.is_empty(),
        "fields no context can have:\n{problems:#?}"
    );

    let broken = |template: &str, addition: &str| {
        let mut broken = blueprint.clone();
        let (_, bytes) = broken
            .files
            .iter_mut()
            .find(|(p, _)| p == template)
            .expect("template");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        *bytes = format!("{text}{addition}").into_bytes().into();
        let line = text.lines().count() + 2;
        (
            socle::render::unresolved_in_schema(&broken).expect("templates compile"),
            line,
        )
    };

    // A typo in a branch no spec takes.
    let template = "components/trino/values-[env].yaml.hbs";
    let (problems, line) = broken(
        template,
        "{{#if enabled.no-such-component}}\n# {{env.nmae}}\n{{/if}}\n",
    );
    assert_eq!(
        problems,
        [
            format!("{template}:{}: enabled.no-such-component", line - 1),
            format!("{template}:{line}: env.nmae"),
        ]
    );

    // Inside a list every sample spec leaves empty (no spec of the tests
    // declares storage nodes), where only the type can tell.
    let (problems, line) = broken(
        template,
        "{{#each env.storage.pools}}\n# {{disk}} {{nmae}} {{@root.env.storage.nodes.0.disks}}\n{{/each}}\n",
    );
    assert_eq!(problems, [format!("{template}:{line}: nmae")]);

    // A template without `[env]` in its path renders without `env`.
    let template = "components/trino/values.yaml.hbs";
    let (problems, line) = broken(template, "{{#if false}}\n# {{env.name}}\n{{/if}}\n");
    assert_eq!(problems, [format!("{template}:{line}: env.name")]);
}
