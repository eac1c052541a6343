//! Every hostile input at once, each run as CI would meet it: under a
//! memory limit and a timeout, in a sandbox folder whose every file is
//! listed before and after. Whatever the input, socle answers 0, 1 or 2,
//! writes only where it was told to, and leaves no temporary folder.
//! (The cases are generated here; none is committed as a large file.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::git;

/// The address space each run may take (`ulimit -v`, KiB): well above
/// what socle needs, far below what an unbounded input would take.
const MEMORY_KIB: u64 = 3 << 20;
/// The wall-clock time each run may take.
const SECONDS: u32 = 120;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: hunter2hunter2\n";

enum Target {
    /// `socle check` (with these extra arguments) on a repository holding
    /// these files; nothing at all may change.
    Check(Vec<(String, Vec<u8>)>, Vec<&'static str>),
    /// `socle new --spec spec.yaml --out out`: only `out` may appear.
    New(Vec<u8>),
}

struct Case {
    name: &'static str,
    target: Target,
}

fn check(name: &'static str, files: &[(&str, Vec<u8>)]) -> Case {
    check_with(name, files, &[])
}

fn check_with(name: &'static str, files: &[(&str, Vec<u8>)], args: &[&'static str]) -> Case {
    Case {
        name,
        target: Target::Check(
            files
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.clone()))
                .collect(),
            args.to_vec(),
        ),
    }
}

fn nested(open: &str, close: &str, depth: usize) -> Vec<u8> {
    format!("a: {}1{}\n", open.repeat(depth), close.repeat(depth)).into_bytes()
}

fn block_nested(depth: usize) -> Vec<u8> {
    let mut text = String::new();
    for i in 0..depth {
        text.push_str(&" ".repeat(i));
        text.push_str("k:\n");
    }
    text.into_bytes()
}

fn utf16(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn noise(len: usize) -> Vec<u8> {
    // A fixed generator: the same bytes on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn laughs() -> Vec<u8> {
    let mut text =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
            .to_owned();
    let names: Vec<char> = ('b'..='j').collect();
    let mut previous = 'a';
    for n in names {
        let refs = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("{n}: &{n} [{refs}]\n"));
        previous = n;
    }
    text.into_bytes()
}

fn with_map(name: &'static str, bytes: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("deploy.yaml", CONFIG_MAP.as_bytes().to_vec()),
        (name, bytes),
    ]
}

fn policy(body: &str) -> Vec<u8> {
    format!("package team\n\n{body}\n").into_bytes()
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: apps\ndata:\n  a: b\n";

fn cases() -> Vec<Case> {
    let padded = {
        let mut t = SECRET.to_owned();
        let pad = format!("# {}\n", "x".repeat(98));
        while t.len() <= 11 << 20 {
            t.push_str(&pad);
        }
        t.into_bytes()
    };
    let big_list = {
        let mut t = String::from("items:\n");
        while t.len() < 10 << 20 {
            t.push_str("- abcdefghijklmnopqrstuvwxyz0123456789\n");
        }
        t.into_bytes()
    };
    let mut nul = SECRET.as_bytes().to_vec();
    nul.insert(20, 0);
    vec![
        check("secret padded past the size limit", &[("s.yaml", padded)]),
        check("10 MB list", &[("big.yaml", big_list)]),
        check("utf-16 secret", &[("s.yaml", utf16(SECRET))]),
        check("nul byte in a secret", &[("s.yaml", nul)]),
        check("random bytes named yaml", &[("blob.yaml", noise(200_000))]),
        check("100k flow levels", &[("deep.yaml", nested("[", "]", 100_000))]),
        check("100k mapping levels", &[("deep.yaml", nested("{a: ", "}", 100_000))]),
        check("20k block levels", &[("deep.yaml", block_nested(20_000))]),
        check("billion laughs", &[("laughs.yaml", laughs())]),
        check("one 5 MB line", &[("line.yaml", format!("a: {}\n", "x".repeat(5 << 20)).into_bytes())]),
        check(
            "kustomization cycle",
            &[
                ("a/kustomization.yaml", b"resources: [../b]\n".to_vec()),
                ("b/kustomization.yaml", b"resources: [../a]\n".to_vec()),
            ],
        ),
        check(
            "kustomization reaching outside",
            &[("k/kustomization.yaml", b"resources: [../../../../etc/passwd, /etc/shadow]\n".to_vec())],
        ),
        check_with(
            "recursive policy",
            &with_map("policies/loop.rego", policy("f(x) := f(x + 1)\n\ndeny contains m if { f(1) > 0; m := \"x\" }")),
            &[],
        ),
        check_with(
            "greedy policy",
            &with_map("policies/big.rego", policy("deny contains m if { count(numbers.range(1, 1e9)) > 0; m := \"x\" }")),
            &[],
        ),
        check_with(
            "slow policy",
            &with_map(
                "policies/slow.rego",
                policy("deny contains m if { some i in numbers.range(1, 3000000); some j in numbers.range(1, 3000000); i == j + 10000000; m := \"x\" }"),
            ),
            &["--policy-timeout", "500"],
        ),
        check_with(
            "policy too deep to parse",
            &with_map(
                "policies/deep.rego",
                format!("package team\n\nx := {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            ),
            &[],
        ),
        check_with("cached check of a secret", &[("s.yaml", SECRET.as_bytes().to_vec())], &["--cache"]),
        Case { name: "spec of 2 MB", target: Target::New(format!("client:\n  name: {}\n", "x".repeat(2 << 20)).into_bytes()) },
        Case { name: "deep spec", target: Target::New(nested("[", "]", 100_000)) },
        Case { name: "spec of random bytes", target: Target::New(noise(50_000)) },
        Case { name: "spec bomb", target: Target::New(laughs()) },
    ]
}

/// Every file and folder under `dir`: relative path → (size, modified).
fn listing(dir: &Path) -> BTreeMap<PathBuf, String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata().ok();
            let stamp = meta.map(|m| {
                if m.is_dir() {
                    "dir".to_owned()
                } else {
                    format!("{} {:?}", m.len(), m.modified().ok())
                }
            });
            (
                e.path().strip_prefix(dir).unwrap_or(e.path()).to_path_buf(),
                stamp.unwrap_or_default(),
            )
        })
        .collect()
}

/// Runs socle under the memory limit and timeout, with its home, cache
/// and temporary folders inside `sandbox`.
fn run(sandbox: &Path, cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let exe = assert_cmd::cargo::cargo_bin("socle");
    let out = Command::new("timeout")
        .args(["--kill-after=5", &SECONDS.to_string(), "sh", "-c"])
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(args)
        .current_dir(cwd)
        .env("HOME", sandbox.join("home"))
        .env("XDG_CACHE_HOME", sandbox.join("cache"))
        .env("TMPDIR", sandbox.join("tmp"))
        .output()
        .expect("timeout and sh run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        stderr.chars().take(2000).collect::<String>(),
    )
}

#[test]
fn hostile_inputs_get_an_answer_within_bounds_and_touch_nothing_else() {
    let mut failures = Vec::new();
    for case in cases() {
        let sandbox = tempfile::tempdir().expect("tempdir");
        let root = sandbox.path();
        for d in ["home", "cache", "tmp", "repo"] {
            fs_err::create_dir_all(root.join(d)).expect("mkdir");
        }
        let repo = root.join("repo");
        let (allowed, code, stderr) = match &case.target {
            Target::Check(files, extra) => {
                for (path, bytes) in files {
                    let full = repo.join(path);
                    fs_err::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    fs_err::write(full, bytes).expect("write");
                }
                git(&repo, &["init", "-q"]);
                let before = listing(root);
                let mut args = vec!["check"];
                args.extend(extra.iter().copied());
                args.push(".");
                let (code, stderr) = run(root, &repo, &args);
                let after = listing(root);
                let changed: Vec<_> = after
                    .iter()
                    .filter(|(p, s)| before.get(*p) != Some(s))
                    .map(|(p, _)| p.clone())
                    .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
                    // The check cache is the one thing --cache may write.
                    .filter(|p| !p.starts_with("cache"))
                    .collect();
                (changed, code, stderr)
            }
            Target::New(spec) => {
                fs_err::write(root.join("spec.yaml"), spec).expect("write spec");
                let before = listing(root);
                let (code, stderr) = run(
                    root,
                    root,
                    &["new", "-q", "--spec", "spec.yaml", "--out", "out"],
                );
                let after = listing(root);
                let changed: Vec<_> = after
                    .keys()
                    .filter(|p| before.get(*p) != after.get(*p))
                    .filter(|p| !p.starts_with("out"))
                    .cloned()
                    .collect();
                (changed, code, stderr)
            }
        };
        if !matches!(code, Some(0..=2)) {
            failures.push(format!("{}: exit {code:?}: {stderr}", case.name));
        }
        if !allowed.is_empty() {
            failures.push(format!(
                "{}: wrote outside its target: {allowed:?}",
                case.name
            ));
        }
        let leftovers: Vec<_> = fs_err::read_dir(root.join("tmp"))
            .expect("tmp")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .chain(
                fs_err::read_dir(root)
                    .expect("sandbox")
                    .filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .filter(|n| n.to_string_lossy().starts_with(".socle-")),
            )
            .collect();
        if !leftovers.is_empty() {
            failures.push(format!("{}: left {leftovers:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
