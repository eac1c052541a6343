//! The DBT project rendered under `dbt/`: its structure read from the files
//! (marts and tests for every data domain of the spec, documentation of every
//! model, one Trino target per environment with credentials from env_var()),
//! then the real dbt through `tests/tools/dbt_check.sh`: `dbt build` on the
//! local DuckDB target and `dbt parse` on every Trino target.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{fixture, materialise, render};

const SPECS: [Option<&str>; 2] = [None, Some("full.yaml")];

/// The dbt project and profile name, the same for every client so that
/// macros, selectors and DAGs never depend on the spec.
const PROJECT: &str = "data_platform";

/// What the tests expect from a spec, read from the spec itself.
struct Spec {
    domains: Vec<String>,
    /// Environment name and its namespace suffix.
    envs: Vec<(String, String)>,
}

fn spec(name: Option<&str>) -> Spec {
    let text = match name {
        Some(n) => fs_err::read_to_string(fixture(&format!("specs/{n}"))).unwrap(),
        None => socle::spec::EXAMPLE.to_owned(),
    };
    let v: Value = crate::support::yaml(&text).unwrap();
    let names = |key: &str| -> Vec<Value> { v[key].as_array().cloned().unwrap_or_default() };
    Spec {
        domains: names("data_domains")
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect(),
        envs: names("environments")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["namespace_suffix"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
    }
}

fn ident(slug: &str) -> String {
    slug.replace('-', "_")
}

/// The files under `dbt/`, by path relative to it.
fn dbt_files(spec: Option<&str>) -> BTreeMap<String, String> {
    render(spec)
        .into_iter()
        .filter_map(|(path, bytes)| {
            let rel = path.strip_prefix("dbt/")?.to_owned();
            Some((rel, String::from_utf8(bytes).expect("utf-8")))
        })
        .collect()
}

fn yaml(files: &BTreeMap<String, String>, path: &str) -> Value {
    let text = files
        .get(path)
        .unwrap_or_else(|| panic!("dbt/{path} is missing"));
    crate::support::yaml(text).unwrap_or_else(|e| panic!("dbt/{path}: {e}"))
}

fn seq(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// Every `models:` entry of the YAML files under models/, by model name.
fn documented_models(files: &BTreeMap<String, String>) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for path in files.keys() {
        if path.starts_with("models/") && (path.ends_with(".yml") || path.ends_with(".yaml")) {
            for m in seq(&yaml(files, path)["models"]) {
                let name = m["name"].as_str().expect("model name").to_owned();
                let previous = out.insert(name.clone(), (path.clone(), m));
                assert!(previous.is_none(), "model {name} is described twice");
            }
        }
    }
    out
}

fn model_files(files: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    files
        .keys()
        .filter(|p| p.starts_with("models/") && p.ends_with(".sql"))
        .map(|p| {
            let name = p.rsplit('/').next().unwrap().trim_end_matches(".sql");
            (name.to_owned(), p.clone())
        })
        .collect()
}

/// Names of the generic tests of a model or column entry; fails on the
/// pre-1.8 `tests:` key and on test arguments outside `arguments:`.
fn test_names(owner: &str, entry: &Value) -> Vec<String> {
    assert!(
        entry.get("tests").is_none(),
        "{owner}: uses `tests:`, not `data_tests:`"
    );
    seq(&entry["data_tests"])
        .iter()
        .map(|t| match t {
            Value::String(s) => s.clone(),
            Value::Object(m) => {
                let (k, body) = m.iter().next().expect("test entry");
                let name = k.as_str().to_owned();
                if let Value::Object(b) = body {
                    for key in b.keys() {
                        let key = key.as_str();
                        assert!(
                            ["arguments", "config", "name", "description"].contains(&key),
                            "{owner}: test {name} has `{key}` outside `arguments:`"
                        );
                    }
                }
                name
            }
            other => panic!("{owner}: unexpected test {other:?}"),
        })
        .collect()
}

/// The accepted values of every `data_domain` column with that test, in the
/// models and the seeds.
fn domain_value_lists(files: &BTreeMap<String, String>) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for path in files.keys().filter(|p| p.ends_with(".yml")) {
        let doc = yaml(files, path);
        for kind in ["models", "seeds"] {
            for node in seq(&doc[kind]) {
                for col in seq(&node["columns"]) {
                    if col["name"].as_str() != Some("data_domain") {
                        continue;
                    }
                    for t in seq(&col["data_tests"]) {
                        let values = &t["accepted_values"]["arguments"]["values"];
                        if !values.is_null() {
                            let set = seq(values)
                                .iter()
                                .map(|v| v.as_str().unwrap().to_owned())
                                .collect();
                            out.push((format!("{path}: {}", node["name"].as_str().unwrap()), set));
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_domain_has_its_marts_tests_and_sample_data() {
    for name in SPECS {
        let spec = spec(name);
        let files = dbt_files(name);
        let expected: BTreeSet<String> = spec.domains.iter().cloned().collect();

        // data_domain is checked against exactly the spec's domains in the
        // staging and analytics models and in the raw samples.
        let lists = domain_value_lists(&files);
        for model in [
            "stg_parties",
            "stg_transactions",
            "fct_transactions",
            "dim_parties",
            "agg_daily_by_domain",
        ] {
            assert!(
                lists.iter().any(|(owner, _)| owner.ends_with(model)),
                "{name:?}: {model}.data_domain has no accepted_values test"
            );
        }
        for (owner, values) in &lists {
            assert_eq!(values, &expected, "{name:?}: {owner}");
        }

        // The side-by-side mart has real SQL and documented columns per domain.
        let monthly = &files["models/analytics/agg_monthly_by_domain.sql"];
        let docs = documented_models(&files);
        let columns: BTreeSet<String> = seq(&docs["agg_monthly_by_domain"].1["columns"])
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        for d in &spec.domains {
            let id = ident(d);
            for col in [
                format!("{id}_transaction_count"),
                format!("{id}_completed_amount_eur"),
            ] {
                assert!(
                    monthly.contains(&format!("data_domain = '{d}' then"))
                        && monthly.contains(&format!(" as {col},")),
                    "{name:?}: agg_monthly_by_domain.sql has no {col} for {d}"
                );
                assert!(columns.contains(&col), "{name:?}: {col} is not documented");
            }
        }

        // The domain completeness test lists every domain.
        let every = &files["tests/assert_every_domain_has_activity.sql"];
        for d in &spec.domains {
            assert!(
                every.contains(&format!("select '{d}' as data_domain")),
                "{name:?}: assert_every_domain_has_activity misses {d}"
            );
        }

        // The analytics tables are partitioned by domain on Trino.
        for model in ["fct_transactions", "dim_parties", "agg_daily_by_domain"] {
            let sql = &files[&format!("models/analytics/{model}.sql")];
            assert!(
                sql.contains("iceberg_properties(") && sql.contains("partitioning=['data_domain'"),
                "{name:?}: {model} is not partitioned by data_domain"
            );
        }

        // Sample raw data: every domain has its parties and transactions,
        // and every transaction's party and currency exist.
        let rows = |file: &str| -> Vec<BTreeMap<String, String>> {
            let text = &files[&format!("seeds/raw/{file}")];
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap().split(',').collect();
            lines
                .map(|l| {
                    let cells: Vec<&str> = l.split(',').collect();
                    assert_eq!(cells.len(), header.len(), "{file}: {l}");
                    header
                        .iter()
                        .zip(cells)
                        .map(|(h, c)| (h.to_string(), c.to_owned()))
                        .collect()
                })
                .collect()
        };
        let parties = rows("parties.csv");
        let transactions = rows("transactions.csv");
        let currencies: BTreeSet<String> = rows("exchange_rates.csv")
            .into_iter()
            .map(|r| r["currency"].clone())
            .collect();
        let party_ids: BTreeSet<&String> = parties.iter().map(|r| &r["party_id"]).collect();
        for d in &spec.domains {
            let n_parties = parties.iter().filter(|r| &r["data_domain"] == d).count();
            let n_tx = transactions
                .iter()
                .filter(|r| &r["data_domain"] == d)
                .count();
            assert!(
                n_parties >= 5 && n_tx >= 20,
                "{name:?}: domain {d} has {n_parties} parties and {n_tx} transactions"
            );
        }
        for t in &transactions {
            assert!(party_ids.contains(&t["party_id"]), "{name:?}: {t:?}");
            assert!(currencies.contains(&t["currency"]), "{name:?}: {t:?}");
            assert!(
                spec.domains.contains(&t["data_domain"]),
                "{name:?}: {t:?} is in no domain of the spec"
            );
        }
    }
}

#[test]
fn every_model_is_documented_and_tested() {
    for name in SPECS {
        let files = dbt_files(name);
        let sql = model_files(&files);
        let docs = documented_models(&files);
        assert!(sql.len() >= 7, "{name:?}: only {} models", sql.len());
        assert_eq!(
            sql.keys().collect::<Vec<_>>(),
            docs.keys().collect::<Vec<_>>(),
            "{name:?}: model files and model YAML entries differ"
        );
        let mut kinds = BTreeSet::new();
        for (model, (path, entry)) in &docs {
            let owner = format!("{name:?} {path}: {model}");
            let description = entry["description"].as_str().unwrap_or("").trim();
            assert!(description.len() > 20, "{owner}: no real description");
            let columns = seq(&entry["columns"]);
            assert!(!columns.is_empty(), "{owner}: no columns documented");
            let mut tests = test_names(&owner, entry);
            for c in &columns {
                let col = c["name"].as_str().unwrap();
                assert!(
                    c["description"]
                        .as_str()
                        .is_some_and(|d| !d.trim().is_empty()),
                    "{owner}.{col}: no description"
                );
                tests.extend(test_names(&format!("{owner}.{col}"), c));
            }
            assert!(!tests.is_empty(), "{owner}: no data_tests");
            kinds.extend(tests);
        }
        for kind in [
            "unique",
            "not_null",
            "relationships",
            "accepted_values",
            "unique_combination",
        ] {
            assert!(kinds.contains(kind), "{name:?}: no model uses {kind}");
        }
        // Seeds are documented too, and the generic test exists.
        for seed in seq(&yaml(&files, "seeds/raw/_raw.yml")["seeds"]) {
            let seed_name = seed["name"].as_str().unwrap();
            assert!(
                files.contains_key(&format!("seeds/raw/{seed_name}.csv")),
                "{name:?}: seed {seed_name} described but missing"
            );
            assert!(seed["description"].as_str().is_some(), "{seed_name}");
        }
        assert!(
            files["tests/generic/unique_combination.sql"].contains("{% test unique_combination(")
        );
    }
}

#[test]
fn raw_tables_are_sources_on_trino_and_seeds_offline() {
    let files = dbt_files(None);
    let sources = yaml(&files, "models/staging/_sources.yml");
    let raw = seq(&sources["sources"])
        .into_iter()
        .find(|s| s["name"].as_str() == Some("raw"))
        .expect("source raw");
    assert_eq!(raw["schema"].as_str(), Some("raw"));
    let declared: BTreeSet<String> = seq(&raw["tables"])
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let mut read = BTreeSet::new();
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".sql")) {
        for part in text.split("raw_table('").skip(1) {
            let table = part.split('\'').next().unwrap();
            if !path.starts_with("macros/") {
                read.insert(table.to_owned());
            }
        }
        if path.starts_with("models/") {
            assert!(
                !text.contains("source("),
                "{path}: reads a source directly; use raw_table()"
            );
        }
    }
    assert!(!read.is_empty());
    assert_eq!(read, declared, "raw tables read vs declared");
    for t in &read {
        assert!(
            files.contains_key(&format!("seeds/raw/{t}.csv")),
            "no seed for {t}"
        );
    }
    // The seeds load on DuckDB only: dbt never writes the platform's raw schema.
    let project = yaml(&files, "dbt_project.yml");
    let seeds = &project["seeds"][PROJECT]["raw"];
    assert_eq!(seeds["+schema"].as_str(), Some("raw"));
    let enabled = seeds["+enabled"].as_str().unwrap_or("");
    assert!(enabled.contains("target.type == 'duckdb'"), "{enabled}");
    let macro_text = &files["macros/raw_table.sql"];
    assert!(
        macro_text.contains("ref(table_name)") && macro_text.contains("source('raw', table_name)")
    );
}

#[test]
fn profiles_have_one_trino_target_per_environment_with_env_credentials() {
    for name in SPECS {
        let spec = spec(name);
        let files = dbt_files(name);
        let project = yaml(&files, "dbt_project.yml");
        let id = PROJECT;
        assert_eq!(project["name"].as_str(), Some(id), "{name:?}");
        assert_eq!(project["profile"].as_str(), Some(id), "{name:?}");
        assert!(project["models"][id].is_object(), "{name:?}");

        let profiles = yaml(&files, "profiles.yml");
        let top = profiles.as_object().unwrap();
        assert_eq!(top.len(), 1, "{name:?}: one profile");
        let profile = &profiles[id];
        assert_eq!(profile["target"].as_str(), Some("local"), "{name:?}");
        let outputs = profile["outputs"].as_object().unwrap();
        let local = &profile["outputs"]["local"];
        assert_eq!(local["type"].as_str(), Some("duckdb"));
        assert_eq!(
            local["path"].as_str(),
            Some(format!("{id}.duckdb").as_str())
        );

        let trino: Vec<&str> = outputs
            .iter()
            .filter(|(_, o)| o["type"].as_str() == Some("trino"))
            .map(|(k, _)| k.as_str())
            .collect();
        let env_names: Vec<&str> = spec.envs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            trino, env_names,
            "{name:?}: one Trino target per environment"
        );
        assert_eq!(outputs.len(), env_names.len() + 1, "{name:?}");

        for (env, suffix) in &spec.envs {
            let o = &profile["outputs"][env.as_str()];
            let field = |k: &str| o[k].as_str().unwrap_or("").to_owned();
            let host = format!("trino.data-platform-processing{suffix}.svc.cluster.local");
            assert_eq!(
                field("host"),
                format!("{{{{ env_var('DBT_TRINO_HOST', '{host}') }}}}"),
                "{name:?} {env}"
            );
            assert!(field("port").contains("env_var('DBT_TRINO_PORT', '8080')"));
            assert!(field("user").contains("env_var('DBT_TRINO_USER'"));
            assert_eq!(o["catalog"].as_str(), Some("iceberg"));
            assert_eq!(o["http_scheme"].as_str(), Some("http"));
            // The token has no default: a run without it must fail.
            assert_eq!(
                o["http_headers"]["Authorization"].as_str(),
                Some("Bearer {{ env_var('DBT_TRINO_JWT') }}"),
                "{name:?} {env}"
            );
            for secret in [
                "password",
                "jwt_token",
                "token",
                "client_secret",
                "private_key",
            ] {
                if let Some(v) = o.get(secret) {
                    assert!(format!("{v:?}").contains("env_var("), "{env}.{secret}");
                }
            }
        }
    }
}

#[test]
fn readme_documents_targets_and_pod_environment() {
    let files = dbt_files(Some("full.yaml"));
    let readme = &files["README.md"];
    for needle in [
        "dbt build --target local",
        "dbt build --target <environment>",
        "DBT_TRINO_HOST",
        "DBT_TRINO_PORT",
        "DBT_TRINO_USER",
        "DBT_TRINO_JWT",
        "trino.data-platform-processing-dev.svc.cluster.local:8080",
        "`customer-360`: Everything about customers",
        "`iot`",
        "{{ raw_table('name') }}",
    ] {
        assert!(readme.contains(needle), "dbt/README.md lacks {needle:?}");
    }
    assert!(!readme.contains("\\{{"), "an escaped brace leaked");
}

#[test]
fn real_dbt_builds_locally_and_parses_every_trino_target() {
    let Some(dbt) = crate::support::tool("dbt") else {
        return;
    };
    for name in SPECS {
        let dir = materialise(&render(name));
        let (ok, text) = crate::support::dbt_check(&dbt, dir.path());
        assert!(ok, "dbt_check.sh on {name:?}:\n{text}");
        let spec = spec(name);
        let targets: Vec<&str> = spec.envs.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            text.contains(&format!("parse on: {}", targets.join(" "))),
            "{name:?}: not every environment was parsed:\n{text}"
        );
    }
}
