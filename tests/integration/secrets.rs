//! `socle secrets list`: every secret-store entry a repository expects, on
//! the default repository (text and JSON, snapshotted), on a repository
//! socle did not write, and its usage errors.

use std::collections::BTreeMap;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::support::{fixture, materialise, render};

fn socle() -> Command {
    let mut cmd = Command::cargo_bin("socle").expect("socle binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = socle().args(args).output().expect("socle runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn default_repository_lists_every_entry_once_per_environment() {
    let repo = materialise(&render(None));
    let dir = repo.path().to_str().expect("utf-8 path");

    let (code, text, stderr) = run(&["secrets", "list", dir]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    insta::assert_snapshot!("secrets_list_default_text", text);

    let (code, json, _) = run(&["secrets", "list", dir, "--format", "json"]);
    assert_eq!(code, 0);
    let listing: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(listing["version"], 1);
    assert_eq!(
        listing["environments"],
        serde_json::json!(["dev", "prod", "staging"])
    );
    let entries = listing["entries"].as_array().expect("entries");
    let mut per_env: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *per_env
            .entry(
                e["environment"]
                    .as_str()
                    .expect("every entry has its environment"),
            )
            .or_default() += 1;
        // Every key is the client's, of its environment.
        let key = e["key"].as_str().unwrap_or_default();
        let env = e["environment"].as_str().unwrap_or_default();
        assert!(key.starts_with(&format!("acme/{env}/")), "{key} in {env}");
        assert!(!e["readers"].as_array().expect("readers").is_empty());
        assert!(
            !e["properties"].as_array().expect("properties").is_empty(),
            "{key}"
        );
    }
    // One line per entry (its readers indented beneath), then the summary.
    let lines = text.lines().filter(|l| !l.starts_with(' ')).count();
    assert_eq!(lines, entries.len() + 1, "{text}");
    assert!(
        entries.len() >= 100,
        "the default repository expects about a hundred entries, found {}",
        entries.len()
    );
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!(
            "{} store entries (dev {}, prod {}, staging {}), read by ",
            entries.len(),
            per_env["dev"],
            per_env["prod"],
            per_env["staging"]
        )),
        "{summary}"
    );

    // An entry two components read is one entry with both readers: the
    // realm reads each client's secret, the client reads it too.
    let oidc = entries
        .iter()
        .find(|e| e["key"] == "acme/prod/grafana/oidc")
        .expect("grafana's OIDC client secret");
    assert_eq!(
        oidc["components"],
        serde_json::json!(["keycloak", "kube-prometheus-stack"])
    );
    // Argo CD reads its client secret too (argocd-values.yaml, extraObjects),
    // in the environment that installs it.
    for env in ["dev", "staging", "prod"] {
        let argocd = entries
            .iter()
            .find(|e| e["key"] == format!("acme/{env}/argocd/oidc"))
            .expect("Argo CD's OIDC client secret");
        assert_eq!(
            argocd["components"],
            serde_json::json!(["argocd", "keycloak"]),
            "{env}"
        );
        let reader = argocd["readers"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["component"] == "argocd"))
            .expect("argocd reader");
        assert_eq!(reader["file"], format!("argocd/{env}/argocd-values.yaml"));
        assert_eq!(reader["namespace"], "argocd");
        assert_eq!(reader["application"], Value::Null);
    }

    // One environment, as JSON: the format's snapshot.
    let (code, prod, _) = run(&["secrets", "list", dir, "--env", "prod", "--format", "json"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("secrets_list_default_prod_json", prod);
    let prod: Value = serde_json::from_str(&prod).expect("JSON");
    assert_eq!(
        prod["entries"].as_array().map(Vec::len),
        Some(per_env["prod"])
    );
}

#[test]
fn full_spec_reads_from_its_secret_stores() {
    let repo = materialise(&render(Some("full.yaml")));
    let dir = repo.path().to_str().expect("utf-8 path");
    let (code, json, stderr) = run(&["secrets", "list", dir, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let listing: Value = serde_json::from_str(&json).expect("JSON");
    let entries = listing["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    for e in entries {
        assert_eq!(
            e["store"],
            serde_json::json!({"kind": "SecretStore", "name": "vault"}),
            "{e}"
        );
        assert!(e["environment"].is_string(), "{e}");
    }
    // The hub registers the other clusters from the store.
    assert!(
        entries
            .iter()
            .any(|e| e["key"] == "fullopt/dev/argocd/cluster"
                && e["components"] == serde_json::json!(["argocd"])),
        "{json}"
    );
}

/// NiFi's flows find its object-store keys in its containers' environment;
/// the chart facts tie that environment to the Secret, so without its
/// ExternalSecret check says nothing creates it.
#[test]
fn nifi_needs_the_secret_of_its_object_store_keys() {
    let mut files = render(None);
    let path = "components/nifi/manifests/prod/externalsecrets.yaml";
    let text = String::from_utf8(files[path].clone()).expect("utf-8");
    let cut = text
        .find("---\n# The keys of NiFi")
        .expect("nifi-s3 is rendered");
    files.insert(path.to_owned(), text.as_bytes()[..cut].to_vec());
    let (_, findings) = crate::support::check_json(&files);
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-009",
            &["Secret data-platform-integration/nifi-s3"]
        ),
        "{findings:#?}"
    );
}

#[test]
fn a_repository_socle_did_not_write() {
    let dir = fixture("secrets/foreign");
    let dir = dir.to_str().expect("utf-8 path");
    let (code, text, stderr) = run(&["secrets", "list", dir]);
    assert_eq!(code, 0, "{stderr}");
    // A file that does not parse is named on stderr; stdout stays the listing.
    assert!(
        stderr.contains("warning: charts/monitoring/broken.yaml:") && stderr.contains("not listed"),
        "{stderr}"
    );
    insta::assert_snapshot!("secrets_list_foreign_text", text);
    let (code, json, _) = run(&["secrets", "list", dir, "--format", "json"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("secrets_list_foreign_json", json);

    let (code, staging, _) = run(&["secrets", "list", dir, "--env", "staging"]);
    assert_eq!(code, 0);
    assert_eq!(
        staging
            .lines()
            .next()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>()),
        Some(vec!["staging", "shop/db"]),
        "{staging}"
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let (code, out, err) = run(&["secrets", "list", "/nonexistent/socle-repo"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("/nonexistent/socle-repo: not a directory; pass the repository"),
        "{err}"
    );

    let dir = fixture("secrets/foreign");
    let (code, _, err) = run(&["secrets", "list", dir.to_str().unwrap(), "--env", "qa"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no environment \"qa\"") && err.contains("known: production, staging"),
        "{err}"
    );

    let (code, _, err) = run(&["secrets", "list", "--format", "yaml"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_closed_stdout_is_success() {
    let repo = materialise(&render(None));
    let mut child = socle()
        .args(["secrets", "list", "--format", "json"])
        .arg(repo.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("socle runs");
    // Close the pipe before socle writes its 100 KB.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("socle ends");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
