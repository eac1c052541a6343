//! The Mermaid graphs socle prints (`socle graph --format mermaid`) and
//! embeds in the generated README, through Mermaid's own parser (the one
//! GitHub and GitLab render with): default, full and hostile specs, and a
//! repository with a broken link, whose edge is drawn in red. `.ci/run`
//! installs the parser (`tests/tools/mermaid`) and sets
//! `SOCLE_MERMAID_CHECK`; with `SOCLE_REQUIRE_TOOLS` a missing parser fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

use crate::support::{materialise, render, text, tool};

/// `node` and the parser script, or None when they are not installed.
fn parser() -> Option<(PathBuf, PathBuf)> {
    let node = tool("node")?;
    let script = match std::env::var_os("SOCLE_MERMAID_CHECK") {
        Some(s) => PathBuf::from(s),
        None => {
            assert!(
                std::env::var_os("SOCLE_REQUIRE_TOOLS").is_none(),
                "SOCLE_MERMAID_CHECK is required (SOCLE_REQUIRE_TOOLS is set)"
            );
            eprintln!("skipped: SOCLE_MERMAID_CHECK not set (run .ci/run to install the parser)");
            return None;
        }
    };
    Some((node, script))
}

/// Runs the parser on `files`: whether every diagram parsed, and its output.
fn parse(parser: &(PathBuf, PathBuf), files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(&parser.0)
        .arg(&parser.1)
        .args(files)
        .output()
        .expect("run the Mermaid parser");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `socle graph DIR --env ENV --format mermaid`, written beside the repository.
fn graph(dir: &Path, env: &str, out: &Path) -> PathBuf {
    let run = Command::cargo_bin("socle")
        .expect("socle binary")
        .arg("graph")
        .arg(dir)
        .args(["--env", env, "--format", "mermaid"])
        .output()
        .expect("run socle graph");
    assert!(
        run.status.success(),
        "socle graph --env {env}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let path = out.join(format!("{env}.mmd"));
    fs_err::write(&path, &run.stdout).expect("write graph");
    path
}

#[test]
fn graphs_and_the_readme_parse_with_mermaid() {
    let Some(parser) = parser() else { return };
    let out = tempfile::tempdir().expect("tempdir");
    let mut inputs = Vec::new();
    for spec in [None, Some("full.yaml"), Some("hostile.yaml")] {
        let files = render(spec);
        let dir = materialise(&files);
        let label = spec.unwrap_or("default").trim_end_matches(".yaml");
        let folder = out.path().join(label);
        fs_err::create_dir_all(&folder).expect("mkdir");
        let readme = folder.join("README.md");
        fs_err::write(&readme, text(&files, "README.md")).expect("write README");
        inputs.push(readme);
        let envs: Vec<String> = files
            .keys()
            .filter_map(|p| p.strip_prefix("argocd/")?.split_once('/'))
            .map(|(env, _)| env.to_owned())
            .filter(|env| !env.contains('.'))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(envs.len() >= 2, "{label}: environments {envs:?}");
        for env in &envs {
            inputs.push(graph(dir.path(), env, &folder));
        }
    }
    let (ok, output) = parse(&parser, &inputs);
    assert!(ok, "{output}");
    // Three READMEs of one graph per environment, and each graph alone.
    assert!(output.contains("flowchart"), "{output}");
}

#[test]
fn a_broken_link_is_drawn_and_still_parses() {
    let Some(parser) = parser() else { return };
    let mut files = render(None);
    let path = "spark/overlays/dev/lineage.yaml";
    let before = text(&files, path).to_owned();
    assert!(before.contains("http://datahub-datahub-gms."), "{path}");
    files.insert(
        path.to_owned(),
        before
            .replacen("http://datahub-datahub-gms.", "http://datahub-gms.", 1)
            .into_bytes(),
    );
    let dir = materialise(&files);
    let out = tempfile::tempdir().expect("tempdir");
    let graph = graph(dir.path(), "dev", out.path());
    let drawn = fs_err::read_to_string(&graph).expect("read graph");
    assert!(
        drawn.contains("linkStyle"),
        "no broken edge drawn:\n{drawn}"
    );
    let (ok, output) = parse(&parser, &[graph]);
    assert!(ok, "{output}");
}

#[test]
fn the_parser_refuses_a_broken_diagram() {
    let Some(parser) = parser() else { return };
    let out = tempfile::tempdir().expect("tempdir");
    let bad = out.path().join("bad.mmd");
    fs_err::write(&bad, "flowchart LR\n  a[\"x\"] -->|\"y| b\n").expect("write");
    let (ok, output) = parse(&parser, &[bad]);
    assert!(!ok, "a broken diagram parsed:\n{output}");
}

/// The README's architecture picture: every enabled component in its
/// namespace, and the use case's data flow between enabled components only.
#[test]
fn the_architecture_picture_draws_enabled_components_and_their_data_flow() {
    for (spec, airbyte) in [(None, false), (Some("full.yaml"), true)] {
        let files = render(spec);
        let readme = text(&files, "README.md");
        let block = readme
            .split("### Architecture")
            .nth(1)
            .and_then(|r| r.split("```mermaid\n").nth(1))
            .and_then(|r| r.split("```").next())
            .expect("an architecture block");
        assert!(block.starts_with("flowchart LR\n"), "{block}");
        assert!(
            block.contains("subgraph ns_processing[\"data-platform-processing\"]")
                && block.contains("    trino[\"Trino\"]"),
            "{block}"
        );
        assert!(
            block.contains("spark_operator -->|\"Iceberg commits\"| lakekeeper"),
            "{block}"
        );
        // Airbyte only where the spec chooses it, and its arrow only where
        // the platform's own MinIO receives the extracts.
        assert_eq!(
            block.contains("    airbyte[\"Airbyte\"]"),
            airbyte,
            "{spec:?}: {block}"
        );
        assert_eq!(
            block.contains("airbyte -->|\"raw extracts land\"| minio"),
            airbyte && block.contains("    minio[\""),
            "{spec:?}: {block}"
        );
        // Every arrow joins two nodes of the picture.
        let nodes: std::collections::BTreeSet<&str> = block
            .lines()
            .filter_map(|l| l.trim().split_once("[\"").map(|(id, _)| id))
            .filter(|id| !id.starts_with("subgraph"))
            .collect();
        for arrow in block.lines().filter(|l| l.contains("-->")) {
            let from = arrow.trim().split(' ').next().unwrap();
            let to = arrow.trim().rsplit(' ').next().unwrap();
            assert!(nodes.contains(from) && nodes.contains(to), "{arrow}");
        }
    }
}
