//! `socle check --format html`: one self-contained page, opened in a real
//! headless Chromium (Debian's `chromium-headless-shell`), which also takes
//! the screenshot kept in `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{git, new_repo, repo_root, socle_in, tool};

fn browser() -> Option<PathBuf> {
    // Missing: a skip, or a failure in CI (`.ci/run` installs it).
    tool("chromium-headless-shell")
}

fn chromium(browser: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(browser)
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn the_html_report_is_self_contained_and_opens_in_a_browser() {
    let (tmp, dir) = new_repo();
    // A denial with a snippet (a literal password), and a broken link of
    // the system (Airflow pointed at a Trino nothing creates).
    fs_err::write(
        dir.join("platform/leak.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n  namespace: data-platform-core\ndata:\n  password: hunter2hunter2\n",
    )
    .unwrap();
    crate::support::point_airflow_at_a_missing_trino(&dir);
    git(&dir, &["add", "-A"]);
    let page = tmp.path().join("report.html");
    let (code, json, err) = socle_in(
        &dir,
        &[
            "check",
            "--format",
            &format!("html={}", page.display()),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let active: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["excepted_by"].is_null())
        .collect();
    assert!(active.iter().any(|f| f["rule"] == "SOC-SYS-004"), "{json}");
    let html = fs_err::read_to_string(&page).unwrap();

    // Self-contained: nothing fetched, nothing run.
    for fetch in ["<script", "<link", "@import", "src=\"http", "url(http"] {
        assert!(!html.contains(fetch), "the page fetches or runs {fetch}");
    }
    assert!(html.contains("Denied: the check fails."));
    // The literal password's line, highlighted among its neighbours.
    assert!(
        html.contains("<span class=\"hit\"><i>7</i>  password: hunter2hunter2</span>"),
        "no snippet:\n{html}"
    );
    // The system graph of each environment, the broken link in red.
    assert_eq!(
        html.matches("<svg ").count(),
        3,
        "one picture per environment"
    );
    assert!(html.contains("class=\"link broken\""));
    assert!(
        html.contains("<ul class=\"broken\">") && html.contains("trinoo"),
        "the broken link is listed"
    );

    let Some(browser) = browser() else { return };
    // The browser's DOM has one article per finding, active or excepted.
    let dom = chromium(&browser, &["--dump-dom"], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let articles = dom.matches("<article class=\"finding").count();
    assert_eq!(
        articles,
        json["findings"].as_array().unwrap().len(),
        "{dom}"
    );
    assert!(dom.contains("<svg"), "the SVG survives parsing");

    // And a screenshot of the page, kept for people to look at.
    let shots = repo_root().join("target/screenshots");
    fs_err::create_dir_all(&shots).unwrap();
    let shot = shots.join("check-report.png");
    let _ = fs_err::remove_file(&shot);
    let out = chromium(
        &browser,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,2200",
        ],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = fs_err::read(&shot).expect("the screenshot");
    assert_eq!(png_size(&png), (1400, 2200));
    // A blank page compresses to a few kilobytes; this one has text,
    // colours and a graph.
    assert!(png.len() > 40_000, "{} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
}
