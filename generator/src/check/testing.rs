//! `socle policy test`: the `test_` rules of `*_test.rego` modules, as
//! `opa test` runs them, for the embedded policies and a repository's own.

use super::engine::{rego_files, start, Embedded, PolicyError};
use super::sandbox::{Bounds, Worker};
use super::worker::Reply;

#[derive(Debug)]
pub struct TestResult {
    pub module: String,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn package_of(source: &str) -> Option<String> {
    source.lines().find_map(|l| {
        l.trim()
            .strip_prefix("package ")
            .map(|p| p.trim().to_owned())
    })
}

fn test_names(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .lines()
        .filter(|l| l.starts_with("test_"))
        .filter_map(|l| {
            l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
        })
        .map(str::to_owned)
        .collect();
    names.dedup();
    names
}

/// Every `test_` rule of the `_test.rego` modules, judged by `eval`
/// (query → passed, detail).
fn each_test(
    modules: &[(String, String)],
    mut eval: impl FnMut(String) -> (bool, String),
) -> Vec<TestResult> {
    let mut out = Vec::new();
    for (path, source) in modules.iter().filter(|(p, _)| p.ends_with("_test.rego")) {
        let Some(package) = package_of(source) else {
            continue;
        };
        for name in test_names(source) {
            let (passed, detail) = eval(format!("data.{package}.{name}"));
            out.push(TestResult {
                module: path.clone(),
                name,
                passed,
                detail,
            });
        }
    }
    out
}

fn run(engine: &mut regorus::Engine, modules: &[(String, String)]) -> Vec<TestResult> {
    each_test(modules, |query| match engine.eval_query(query, false) {
        Ok(r) => {
            let value = r
                .result
                .first()
                .and_then(|x| x.expressions.first())
                .map(|e| e.value.clone());
            match value {
                Some(v) if v == regorus::Value::from(true) => (true, String::new()),
                Some(v) => (false, format!("evaluated to {v}")),
                None => (false, "undefined".to_owned()),
            }
        }
        Err(e) => (false, e.to_string()),
    })
}

pub fn embedded() -> Result<Vec<TestResult>, PolicyError> {
    let mut engine = Embedded::load_with(true)?.engine();
    let tree = crate::source::Tree::embedded_policies();
    let modules: Vec<(String, String)> = rego_files(&tree.files, "", true)
        .into_iter()
        .map(|(p, s)| (format!("policies/{p}"), s))
        .collect();
    Ok(run(&mut engine, &modules))
}

/// The repository's own tests, in a bounded worker ([`super::sandbox`]):
/// a test that hits a bound fails with the bound's name, and the tests
/// after it run on a new worker.
pub fn local(
    files: &[(String, Vec<u8>)],
    rego_v0: bool,
    bounds: Bounds,
) -> Result<Vec<TestResult>, PolicyError> {
    let modules = rego_files(files, "policies/", true);
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let mut worker = Some(start(&modules, rego_v0, bounds)?.0);
    let out = each_test(&modules, |query| {
        let reply = match &mut worker {
            Some(w) => w.query(&query),
            None => Worker::start(&modules, rego_v0, bounds)
                .and_then(|(w, _)| worker.insert(w).query(&query)),
        };
        match reply {
            Ok(Reply::Values(values)) => match values.first() {
                Some(serde_json::Value::Bool(true)) => (true, String::new()),
                Some(v) => (false, format!("evaluated to {v}")),
                None => (false, "undefined".to_owned()),
            },
            Ok(Reply::Error(e)) => (false, e),
            Ok(other) => (false, format!("unexpected reply {other:?}")),
            Err(stopped) => {
                worker = None;
                (false, stopped.to_string())
            }
        }
    });
    Ok(out)
}
