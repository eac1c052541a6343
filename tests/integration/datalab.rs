//! The datalab and its data protection, as rendered: Zeppelin notes and their
//! interpreters (every table, column and domain value a note queries is one
//! of the DBT project's layout, read from its rendered YAML), notebook storage
//! (s3 or pvc), the Keycloak realm, the object-store protection Job, and the
//! Trino data-access policy evaluated with a real Rego engine on the schemas
//! of that layout.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{json, Value};

use crate::support::{materialise, render, text, to_json, trino_allows, trino_engine, yaml_docs};
use socle::render::FileSet;

const SPECS: [Option<&str>; 2] = [None, Some("full.yaml")];

/// The single YAML document of a file, as JSON.
fn doc(files: &FileSet, path: &str) -> Value {
    let mut one = FileSet::new();
    one.insert(path.to_owned(), files[path].clone());
    let docs = yaml_docs(&one);
    assert_eq!(docs.len(), 1, "{path}: expected one document");
    to_json(&docs[0].1)
}

/// Every document of a file, as JSON.
fn docs(files: &FileSet, path: &str) -> Vec<Value> {
    let mut one = FileSet::new();
    one.insert(path.to_owned(), files[path].clone());
    yaml_docs(&one).iter().map(|(_, v)| to_json(v)).collect()
}

fn spec_of(spec: Option<&str>) -> Value {
    let text = match spec {
        Some(name) => {
            fs_err::read_to_string(crate::support::fixture(&format!("specs/{name}"))).unwrap()
        }
        None => socle::spec::EXAMPLE.to_owned(),
    };
    serde_json::to_value(crate::support::yaml::<serde_json::Value>(&text).unwrap()).unwrap()
}

fn env_names(spec: &Value) -> Vec<String> {
    spec["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

fn domain_slugs(spec: &Value) -> BTreeSet<String> {
    spec["data_domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

fn notes(files: &FileSet) -> BTreeMap<String, Value> {
    files
        .iter()
        .filter(|(p, _)| p.ends_with(".zpln"))
        .map(|(p, b)| {
            let v: Value =
                serde_json::from_slice(b).unwrap_or_else(|e| panic!("{p}: not JSON: {e}"));
            (p.clone(), v)
        })
        .collect()
}

/// `%spark.pyspark` → `spark.pyspark`.
fn interpreter_of(paragraph_text: &str) -> Option<&str> {
    let first = paragraph_text.lines().next()?.trim();
    let name = first.strip_prefix('%')?;
    Some(name.split([' ', '(']).next().unwrap_or(name))
}

/// The tables of the rendered DBT project, the contract the notes query.
struct Layout {
    /// `schema.table` → its documented columns. A model takes the schema of
    /// its folder in dbt_project.yml; a raw table is a table of a source,
    /// with the columns of the seed standing in for it offline.
    tables: BTreeMap<String, BTreeSet<String>>,
    /// The schema dbt stores failing test rows in (one table per test).
    audit: String,
    /// Every value `accepted_values` allows in a `data_domain` column.
    domain_values: BTreeSet<String>,
}

fn column_names(entry: &Value) -> BTreeSet<String> {
    entry["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn dbt_layout(files: &FileSet) -> Layout {
    let project = doc(files, "dbt/dbt_project.yml");
    let folders = &project["models"]["data_platform"];
    let yaml_under = |dir: &str| -> Vec<String> {
        files
            .keys()
            .filter(|p| p.starts_with(dir) && (p.ends_with(".yml") || p.ends_with(".yaml")))
            .cloned()
            .collect()
    };
    let mut domain_values = BTreeSet::new();
    let mut collect_domains = |entry: &Value| {
        for c in entry["columns"].as_array().into_iter().flatten() {
            if c["name"] != "data_domain" {
                continue;
            }
            for t in c["data_tests"].as_array().into_iter().flatten() {
                for v in t["accepted_values"]["arguments"]["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    domain_values.insert(v.as_str().unwrap().to_owned());
                }
            }
        }
    };
    let mut seeds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in yaml_under("dbt/seeds/") {
        for s in doc(files, &path)["seeds"].as_array().into_iter().flatten() {
            collect_domains(s);
            let mut columns = column_names(s);
            if let Some(types) = s["config"]["column_types"].as_object() {
                columns.extend(types.keys().cloned());
            }
            seeds.insert(s["name"].as_str().unwrap().to_owned(), columns);
        }
    }
    let mut tables = BTreeMap::new();
    for path in yaml_under("dbt/models/") {
        let folder = path["dbt/models/".len()..].split('/').next().unwrap();
        let d = doc(files, &path);
        for m in d["models"].as_array().into_iter().flatten() {
            collect_domains(m);
            let schema = folders[folder]["+schema"]
                .as_str()
                .unwrap_or_else(|| panic!("dbt_project.yml: no +schema for models/{folder}"));
            let name = m["name"].as_str().unwrap();
            tables.insert(format!("{schema}.{name}"), column_names(m));
        }
        for s in d["sources"].as_array().into_iter().flatten() {
            let schema = s["schema"].as_str().or(s["name"].as_str()).unwrap();
            for t in s["tables"].as_array().unwrap() {
                let name = t["name"].as_str().unwrap();
                let columns = seeds
                    .get(name)
                    .unwrap_or_else(|| panic!("source table {name}: no seed gives its columns"))
                    .clone();
                tables.insert(format!("{schema}.{name}"), columns);
            }
        }
    }
    let audit = project["data_tests"]["data_platform"]["+schema"]
        .as_str()
        .expect("data_tests +schema")
        .to_owned();
    Layout {
        tables,
        audit,
        domain_values,
    }
}

impl Layout {
    fn schemas(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self
            .tables
            .keys()
            .map(|t| t.split('.').next().unwrap().to_owned())
            .collect();
        s.insert(self.audit.clone());
        s
    }

    fn tables_of(&self, schema: &str) -> BTreeSet<String> {
        self.tables
            .keys()
            .filter(|t| t.starts_with(&format!("{schema}.")))
            .cloned()
            .collect()
    }

    fn columns(&self) -> BTreeSet<String> {
        self.tables.values().flatten().cloned().collect()
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s`.
fn word_at(s: &str) -> &str {
    &s[..s.find(|c: char| !is_word(c)).unwrap_or(s.len())]
}

/// The identifier at the end of `s`.
fn word_before(s: &str) -> &str {
    let start = s.rfind(|c: char| !is_word(c)).map_or(0, |i| i + 1);
    &s[start..]
}

/// A Zeppelin dynamic form: `${name}`, `${name=default}` or a select
/// `${name=default,option|option}`, as byte range and parts.
struct Form {
    range: (usize, usize),
    name: String,
    default: Option<String>,
    options: Vec<String>,
}

fn forms(text: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${") {
        let start = from + i;
        let end = start + text[start..].find('}').expect("unclosed form") + 1;
        let body = &text[start + 2..end - 1];
        let (name, spec) = match body.split_once('=') {
            Some((n, s)) => (n, Some(s)),
            None => (body, None),
        };
        let (default, options) = match spec.map(|s| s.split_once(',').ok_or(s)) {
            None => (None, Vec::new()),
            Some(Err(default)) => (Some(default.to_owned()), Vec::new()),
            Some(Ok((default, options))) => (
                Some(default.to_owned()),
                options.split('|').map(str::to_owned).collect(),
            ),
        };
        out.push(Form {
            range: (start, end),
            name: name.to_owned(),
            default,
            options,
        });
        from = end;
    }
    out
}

/// A paragraph's text as run: its forms filled with their defaults (a form
/// without one with its name), then once more for each option of a select.
fn variants(text: &str) -> Vec<String> {
    let forms = forms(text);
    let fill = |pick: Option<(usize, &str)>| -> String {
        let mut out = String::new();
        let mut at = 0;
        for (i, f) in forms.iter().enumerate() {
            out.push_str(&text[at..f.range.0]);
            out.push_str(match pick {
                Some((j, v)) if j == i => v,
                _ => f.default.as_deref().unwrap_or(&f.name),
            });
            at = f.range.1;
        }
        out.push_str(&text[at..]);
        out
    };
    let mut all = vec![fill(None)];
    for (i, f) in forms.iter().enumerate() {
        for o in &f.options {
            all.push(fill(Some((i, o))));
        }
    }
    all
}

/// A table named in a text: `[qualifier.]schema.table`, where schema is one
/// of `schemas` (the quoted `"table$snapshots"` form of Trino included).
#[derive(Debug)]
struct TableRef {
    qualifier: String,
    schema: String,
    table: String,
}

fn table_refs(text: &str, schemas: &BTreeSet<String>) -> Vec<TableRef> {
    let mut out = Vec::new();
    for schema in schemas {
        let pattern = format!("{schema}.");
        for (i, _) in text.match_indices(&pattern) {
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| is_word(c) || c == '-') {
                continue;
            }
            let rest = &text[i + pattern.len()..];
            let table = word_at(rest.strip_prefix('"').unwrap_or(rest));
            if !table.starts_with(|c: char| c.is_ascii_lowercase()) {
                continue;
            }
            let qualifier = if before == Some('.') {
                word_before(&text[..i - 1])
            } else {
                ""
            };
            out.push(TableRef {
                qualifier: qualifier.to_owned(),
                schema: schema.clone(),
                table: table.to_owned(),
            });
        }
    }
    out
}

/// The schema after every `<catalog>.` in a text.
fn schemas_in(text: &str, catalog: &str) -> Vec<String> {
    let pattern = format!("{catalog}.");
    text.match_indices(&pattern)
        .filter(|(i, _)| {
            !text[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| is_word(c) || c == '.' || c == '-')
        })
        .map(|(i, _)| {
            let rest = &text[i + pattern.len()..];
            word_at(rest.strip_prefix('"').unwrap_or(rest)).to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The values compared with `data_domain = '...'` (or `"..."`, inside a
/// Spark procedure's `where` string).
fn domain_filters(text: &str) -> Vec<String> {
    text.match_indices("data_domain")
        .filter_map(|(i, m)| {
            let rest = text[i + m.len()..].trim_start();
            let rest = rest.strip_prefix('=')?.trim_start();
            let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let value = &rest[1..];
            Some(value[..value.find(quote)?].to_owned())
        })
        .collect()
}

/// The words of a SQL text outside its string literals, lower case.
fn sql_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_string = false;
    for c in sql.chars() {
        if c == '\'' {
            in_string = !in_string;
        } else if !in_string && is_word(c) {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Names with an underscore that a query may use besides the tables and
/// columns of the DBT project and its own aliases: Iceberg metadata tables'
/// columns, Trino and Spark functions and procedures.
const ENGINE_NAMES: &[&str] = &[
    "information_schema",
    "table_schema",
    "table_name",
    "table_type",
    "snapshot_id",
    "committed_at",
    "record_count",
    "file_count",
    "total_data_file_size_in_bytes",
    "date_trunc",
    "date_add",
    "date_diff",
    "count_if",
    "current_date",
    "current_timestamp",
    "rewrite_data_files",
    "rewrite_manifests",
];

/// The names with an underscore a SQL text uses that are neither a table or
/// column of the layout, nor an alias it defines, nor an engine name.
fn unknown_names(sql: &str, layout: &Layout) -> BTreeSet<String> {
    let words = sql_words(sql);
    let aliases: BTreeSet<&str> = words
        .windows(2)
        .filter(|w| w[0] == "as")
        .map(|w| w[1].as_str())
        .collect();
    let columns = layout.columns();
    words
        .iter()
        .filter(|w| w.contains('_') && !w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| {
            !aliases.contains(w.as_str())
                && !columns.contains(*w)
                && !ENGINE_NAMES.contains(&w.as_str())
                && !layout.tables.keys().any(|t| t.ends_with(&format!(".{w}")))
                && !layout.schemas().contains(*w)
        })
        .cloned()
        .collect()
}

/// The catalogs of the Zeppelin interpreters of an environment: Trino's (the
/// database of its JDBC URL) and Spark's (every `spark.sql.catalog.<name>`).
/// None when the environment enables neither setting's interpreter.
fn interpreter_catalogs(files: &FileSet, env: &str) -> Option<(String, BTreeSet<String>)> {
    let settings: Value = serde_json::from_str(text(
        files,
        &format!("components/zeppelin/overlays/{env}/interpreter.json"),
    ))
    .unwrap();
    let settings = &settings["interpreterSettings"];
    let url = settings["trino"]["properties"]["default.url"].as_str()?;
    let trino = url.rsplit('/').next().unwrap().to_owned();
    let spark_props = settings["spark"]["properties"].as_object()?;
    let spark: BTreeSet<String> = spark_props
        .keys()
        .filter_map(|k| k.strip_prefix("spark.sql.catalog."))
        .filter(|k| !k.contains('.'))
        .map(str::to_owned)
        .collect();
    let default = spark_props["spark.sql.defaultCatalog"].as_str().unwrap();
    assert!(spark.contains(default), "{env}: default catalog {default}");
    Some((trino, spark))
}

#[test]
fn notes_are_zeppelin_notes_on_configured_interpreters() {
    for spec in SPECS {
        let files = render(spec);
        let notes = notes(&files);
        assert!(notes.len() >= 4, "{spec:?}: {:?}", notes.keys());
        // Notes are shared by every environment: each interpreter they use
        // is enabled in at least one (environments enable their own list,
        // zeppelin_sso.rs).
        let mut all_settings = Vec::new();
        for env in env_names(&spec_of(spec)) {
            let settings: Value = serde_json::from_str(text(
                &files,
                &format!("components/zeppelin/overlays/{env}/interpreter.json"),
            ))
            .expect("interpreter.json is JSON");
            all_settings.push(settings);
        }
        {
            let configured: BTreeSet<&str> = all_settings
                .iter()
                .flat_map(|s| s["interpreterSettings"].as_object().unwrap().values())
                .map(|s| s["name"].as_str().unwrap())
                .collect();
            for required in ["spark", "trino", "python", "md"] {
                assert!(
                    configured.contains(required),
                    "{spec:?}: no environment has a {required} setting"
                );
            }
            let mut all_ids = BTreeSet::new();
            for (path, note) in &notes {
                for key in [
                    "paragraphs",
                    "name",
                    "id",
                    "defaultInterpreterGroup",
                    "version",
                    "noteParams",
                    "noteForms",
                    "angularObjects",
                    "config",
                    "info",
                ] {
                    assert!(note.get(key).is_some(), "{path}: no {key}");
                }
                let default = note["defaultInterpreterGroup"].as_str().unwrap();
                assert!(configured.contains(default), "{path}: default {default}");
                let id = note["id"].as_str().unwrap();
                assert!(
                    !id.is_empty() && !id.contains('_'),
                    "{path}: note id {id:?} must not contain '_' (Zeppelin splits file names on it)"
                );
                let paragraphs = note["paragraphs"].as_array().unwrap();
                assert!(paragraphs.len() >= 3, "{path}");
                for p in paragraphs {
                    let pid = p["id"].as_str().expect("paragraph id");
                    assert!(all_ids.insert(pid.to_owned()), "{path}: id {pid} repeated");
                    assert!(p["config"].is_object(), "{path} {pid}: config");
                    assert!(p["settings"]["params"].is_object(), "{path} {pid}: params");
                    assert!(p["settings"]["forms"].is_object(), "{path} {pid}: forms");
                    let t = p["text"].as_str().expect("text");
                    let name = interpreter_of(t)
                        .unwrap_or_else(|| panic!("{path} {pid}: no %interpreter line"));
                    let setting = name.split('.').next().unwrap();
                    assert!(
                        configured.contains(setting),
                        "{path} {pid}: %{name} is not a configured interpreter ({configured:?})"
                    );
                    // Deterministic output: no run timestamps or results.
                    for key in p.as_object().unwrap().keys() {
                        assert!(!key.starts_with("date"), "{path} {pid}: {key}");
                    }
                    assert!(
                        p.get("results").is_none(),
                        "{path} {pid}: results committed"
                    );
                }
            }
        }
        // Two renders give the same notes.
        assert_eq!(
            notes,
            self::notes(&render(spec)),
            "{spec:?}: not deterministic"
        );
    }
}

#[test]
fn notes_query_only_the_tables_of_the_dbt_project() {
    for spec in SPECS {
        let files = render(spec);
        let layout = dbt_layout(&files);
        // The DBT project's domain values are the spec's domain names.
        assert_eq!(
            layout.domain_values,
            domain_slugs(&spec_of(spec)),
            "{spec:?}"
        );
        for schema in ["raw", "staging", "analytics"] {
            assert!(
                layout.tables_of(schema).len() >= 3,
                "{spec:?}: {schema}: {:?}",
                layout.tables
            );
        }
        let schemas = layout.schemas();
        let mut allowed_schemas = schemas.clone();
        allowed_schemas.extend(["information_schema".to_owned(), "system".to_owned()]);
        let columns = layout.columns();
        let envs = env_names(&spec_of(spec));
        // Environments enabling both Trino and Spark use the same catalogs
        // (dev enables every interpreter).
        let both: Vec<(String, BTreeSet<String>)> = envs
            .iter()
            .filter_map(|env| interpreter_catalogs(&files, env))
            .collect();
        assert!(
            !both.is_empty(),
            "{spec:?}: no environment enables Trino and Spark"
        );
        let (trino_catalog, spark_catalogs) = both[0].clone();
        for other in &both[1..] {
            assert_eq!(other, &(trino_catalog.clone(), spark_catalogs.clone()));
        }
        let catalogs: BTreeSet<&str> = spark_catalogs
            .iter()
            .map(String::as_str)
            .chain([trino_catalog.as_str()])
            .collect();

        let notes = notes(&files);
        let mut queried: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut queried_schemas: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, note) in &notes {
            for p in note["paragraphs"].as_array().unwrap() {
                let pid = p["id"].as_str().unwrap();
                let raw_text = p["text"].as_str().unwrap();
                let interpreter = interpreter_of(raw_text).unwrap();
                let sql = matches!(interpreter, "trino" | "spark.sql");
                assert!(
                    !raw_text.contains("analytics_"),
                    "{path} {pid}: a per-domain analytics schema"
                );
                for f in forms(raw_text) {
                    if let Some(d) = &f.default {
                        assert!(
                            f.options.is_empty() || f.options.contains(d),
                            "{path} {pid}: default {d} of form {} is not an option",
                            f.name
                        );
                    }
                }
                let column_form = forms(raw_text)
                    .into_iter()
                    .find(|f| f.name == "column")
                    .and_then(|f| f.default);
                for text in variants(raw_text) {
                    for catalog in &catalogs {
                        for s in schemas_in(&text, catalog) {
                            assert!(
                                allowed_schemas.contains(&s),
                                "{path} {pid}: schema {catalog}.{s} is not one of the DBT project ({allowed_schemas:?})"
                            );
                            queried_schemas.entry(path.clone()).or_default().insert(s);
                        }
                    }
                    for r in table_refs(&text, &schemas) {
                        let name = format!("{}.{}", r.schema, r.table);
                        queried
                            .entry(path.clone())
                            .or_default()
                            .insert(name.clone());
                        if r.schema != layout.audit {
                            assert!(
                                layout.tables.contains_key(&name),
                                "{path} {pid}: {name} is not a table of the DBT project ({:?})",
                                layout.tables.keys()
                            );
                        }
                        if let Some(column) = &column_form {
                            if let Some(cols) = layout.tables.get(&name) {
                                assert!(
                                    cols.contains(column),
                                    "{path} {pid}: the default column {column} is not a column of {name}"
                                );
                            }
                        }
                        // Each interpreter names its own catalog.
                        match interpreter {
                            "trino" => {
                                assert_eq!(r.qualifier, trino_catalog, "{path} {pid}: {r:?}")
                            }
                            "md" => {}
                            _ => assert!(
                                r.qualifier.is_empty() || spark_catalogs.contains(&r.qualifier),
                                "{path} {pid}: {r:?} is not in a Spark catalog ({spark_catalogs:?})"
                            ),
                        }
                    }
                    if interpreter.starts_with("spark") {
                        for (i, m) in text.match_indices("CALL ") {
                            let catalog = word_at(&text[i + m.len()..]);
                            assert!(
                                spark_catalogs.contains(catalog),
                                "{path} {pid}: CALL {catalog}.* is not a Spark catalog"
                            );
                        }
                    }
                    for value in domain_filters(&text) {
                        assert!(
                            layout.domain_values.contains(&value),
                            "{path} {pid}: data_domain = {value:?} is not a domain value of the DBT project"
                        );
                    }
                    if sql {
                        let unknown = unknown_names(&text, &layout);
                        assert!(
                            unknown.is_empty(),
                            "{path} {pid}: {unknown:?} are neither tables nor columns of the DBT project:\n{text}"
                        );
                    }
                }
            }
        }
        assert!(
            columns.contains("data_domain") && columns.contains("_ingested_at"),
            "{columns:?}"
        );

        // What each note is for.
        let all = |file: &str| -> String {
            notes[file]["paragraphs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let covers = |file: &str, tables: BTreeSet<String>| {
            let got = &queried[file];
            let missing: Vec<_> = tables.difference(got).collect();
            assert!(
                missing.is_empty(),
                "{spec:?} {file}: does not query {missing:?}"
            );
        };
        covers(
            "notebooks/trino-exploration.zpln",
            layout.tables_of("analytics"),
        );
        let stored: BTreeSet<String> = layout
            .tables_of("raw")
            .into_iter()
            .chain(layout.tables_of("analytics"))
            .collect();
        covers("notebooks/iceberg-maintenance.zpln", stored);
        let maintenance = all("notebooks/iceberg-maintenance.zpln");
        for wanted in [
            "rewrite_data_files",
            "rewrite_manifests",
            "expire_snapshots",
            "remove_orphan_files",
            "VERSION AS OF",
            "TIMESTAMP AS OF",
        ] {
            assert!(maintenance.contains(wanted), "maintenance: {wanted}");
        }
        covers("notebooks/data-quality.zpln", layout.tables_of("raw"));
        assert!(
            queried_schemas["notebooks/data-quality.zpln"].contains(&layout.audit),
            "data quality: the {} schema",
            layout.audit
        );
        let quality = all("notebooks/data-quality.zpln");
        assert!(quality.contains("max(_ingested_at)"), "freshness");
        for d in &layout.domain_values {
            assert!(quality.contains(&format!("('{d}')")), "data quality: {d}");
        }
    }
}

#[test]
fn each_domain_has_a_section_filtered_on_its_domain_value() {
    for spec in SPECS {
        let files = render(spec);
        let layout = dbt_layout(&files);
        let notes = notes(&files);
        let paragraphs = notes["notebooks/data-domains.zpln"]["paragraphs"]
            .as_array()
            .unwrap();
        // The per-domain columns of the monthly aggregate, by domain.
        let monthly = |d: &str| -> BTreeSet<String> {
            let ident = d.replace('-', "_");
            [
                format!("{ident}_transaction_count"),
                format!("{ident}_completed_amount_eur"),
            ]
            .into_iter()
            .collect()
        };
        let agg_monthly = layout
            .tables
            .iter()
            .find(|(t, _)| t.ends_with(".agg_monthly_by_domain"))
            .map(|(_, c)| c)
            .expect("agg_monthly_by_domain");
        let mut sections = 0;
        for d in &layout.domain_values {
            assert!(monthly(d).is_subset(agg_monthly), "{d}: {agg_monthly:?}");
            let section: Vec<&Value> = paragraphs
                .iter()
                .filter(|p| {
                    p["id"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("paragraph_domain_{d}_"))
                })
                .collect();
            assert!(section.len() >= 4, "{spec:?}: section of {d}");
            sections += 1;
            let title = section[0]["title"].as_str().unwrap();
            assert!(title.starts_with(d.as_str()), "{title}");
            let mut filtered = 0;
            for p in &section[1..] {
                let t = p["text"].as_str().unwrap();
                let words: BTreeSet<String> = sql_words(t).into_iter().collect();
                let filters: BTreeSet<String> = domain_filters(t).into_iter().collect();
                let own_columns = monthly(d).is_subset(&words);
                assert!(
                    filters == BTreeSet::from([d.clone()]) || (filters.is_empty() && own_columns),
                    "{d}: neither filtered on its domain value nor on its monthly columns:\n{t}"
                );
                if !filters.is_empty() {
                    filtered += 1;
                }
                for other in layout.domain_values.iter().filter(|o| *o != d) {
                    assert!(
                        monthly(other).is_disjoint(&words),
                        "{d}: reads the columns of {other}:\n{t}"
                    );
                }
            }
            assert!(filtered >= 3, "{d}: {filtered} filtered paragraphs");
        }
        // Nothing but the intro and the sections.
        assert_eq!(
            paragraphs.len(),
            1 + paragraphs
                .iter()
                .filter(|p| p["id"].as_str().unwrap().starts_with("paragraph_domain_"))
                .count()
        );
        assert_eq!(sections, layout.domain_values.len());
    }
}

#[test]
fn notes_are_shipped_under_their_name_and_id() {
    for spec in SPECS {
        let files = render(spec);
        let notes = notes(&files);
        let kustomization = doc(&files, "notebooks/kustomization.yaml");
        let shipped: BTreeSet<&str> = kustomization["configMapGenerator"][0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let mut seeders =
            vec![text(&files, "components/zeppelin/base/statefulset.yaml").to_owned()];
        for env in env_names(&spec_of(spec)) {
            let k = doc(
                &files,
                &format!("components/zeppelin/overlays/{env}/kustomization.yaml"),
            );
            if let Some(patch) = s3_patch(&k) {
                let command = &init_container(&patch, "example-notes")["command"];
                seeders.push(command[2].as_str().expect("script").to_owned());
            }
        }
        for (path, note) in &notes {
            let file = path.strip_prefix("notebooks/").unwrap();
            assert!(shipped.contains(file), "{file} not in the ConfigMap");
            let target = format!(
                "seed {file} \"{}_{}.zpln\"",
                note["name"].as_str().unwrap(),
                note["id"].as_str().unwrap()
            );
            for seeder in &seeders {
                assert!(seeder.contains(&target), "init container lacks: {target}");
            }
        }
    }
}

/// A spec whose environments offer no Spark interpreter (prod alone, SQL
/// and Markdown only): the Spark notes are not shipped, the others lose
/// their Spark paragraphs, the seeders skip what is not shipped, and the
/// repository renders (the content rules would refuse a note no
/// environment can run) and checks clean.
#[test]
fn notes_need_an_environment_offering_their_interpreters() {
    let example = socle::spec::EXAMPLE;
    let start = example.find("  - name: dev").expect("dev");
    let end = example.find("  - name: prod").expect("prod");
    let spec = format!("{}{}", &example[..start], &example[end..]);
    let files = crate::support::render_text(&spec);
    assert!(!files.contains_key("notebooks/iceberg-maintenance.zpln"));
    let quality = text(&files, "notebooks/data-quality.zpln");
    assert!(!quality.contains("%spark"), "{quality}");
    let kustomization = text(&files, "notebooks/kustomization.yaml");
    assert!(
        !kustomization.contains("iceberg-maintenance")
            && kustomization.contains("data-quality.zpln"),
        "{kustomization}"
    );
    let readme = text(&files, "notebooks/README.md");
    assert!(!readme.contains("`iceberg-maintenance.zpln`"), "{readme}");
    // The seeders still name every note, and pass by one not shipped.
    let seeder = text(&files, "components/zeppelin/base/statefulset.yaml");
    assert!(
        seeder.contains("[ -e \"/notes/$1\" ] || return 0"),
        "{seeder}"
    );
    let (code, findings) = crate::support::check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    if let Some(kubectl) = crate::support::tool("kubectl") {
        let dir = materialise(&files);
        let built = crate::support::kustomize_build(
            &kubectl,
            dir.path(),
            "components/zeppelin/overlays/prod",
        );
        let notes = crate::support::generated(&built, "ConfigMap", "zeppelin-notes");
        let shipped: BTreeSet<&str> = notes["data"]
            .as_object()
            .expect("data")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            shipped,
            BTreeSet::from([
                "data-domains.zpln",
                "data-quality.zpln",
                "trino-exploration.zpln"
            ])
        );
    }
}

fn env_config(files: &FileSet) -> BTreeMap<String, String> {
    let cm = doc(files, "components/zeppelin/base/configmap-server.yaml");
    cm["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn init_container<'a>(statefulset: &'a Value, name: &str) -> &'a Value {
    statefulset["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no init container {name}"))
}

/// The StatefulSet patch of an overlay that moves notes to S3, if any.
fn s3_patch(kustomization: &Value) -> Option<Value> {
    kustomization["patches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["patch"].as_str())
        .filter(|p| p.contains("kind: StatefulSet"))
        .map(|p| {
            serde_json::to_value(crate::support::yaml::<serde_json::Value>(p).unwrap()).unwrap()
        })
        .next()
}

#[test]
fn notebook_storage_follows_the_spec() {
    // Default spec: notes in the S3 bucket "notebooks" of the in-cluster MinIO.
    let files = render(None);
    let tenant = doc(&files, "components/minio/values.yaml");
    let buckets: Vec<&str> = tenant["tenant"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(buckets.contains(&"notebooks"), "{buckets:?}");
    for env in env_names(&spec_of(None)) {
        let k = doc(
            &files,
            &format!("components/zeppelin/overlays/{env}/kustomization.yaml"),
        );
        let generators = k["configMapGenerator"].as_array().unwrap();
        let storage = generators
            .iter()
            .find(|g| g["name"] == "zeppelin-notebook-storage")
            .expect("zeppelin-notebook-storage ConfigMap");
        let literals: BTreeSet<&str> = storage["literals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for wanted in [
            "ZEPPELIN_NOTEBOOK_STORAGE=org.apache.zeppelin.notebook.repo.S3NotebookRepo",
            "ZEPPELIN_NOTEBOOK_S3_BUCKET=notebooks",
            "ZEPPELIN_NOTEBOOK_S3_PATH_STYLE_ACCESS=true",
            "ZEPPELIN_NOTEBOOK_S3_ENDPOINT=http://minio.data-platform-storage.svc.cluster.local",
        ] {
            assert!(
                literals.contains(wanted),
                "{env}: no {wanted} in {literals:?}"
            );
        }
        let patch = s3_patch(&k).expect("S3 patch of the StatefulSet");
        let pod = &patch["spec"]["template"]["spec"];
        let seed = init_container(&patch, "example-notes");
        assert!(seed["image"]
            .as_str()
            .unwrap()
            .starts_with("quay.io/minio/mc:RELEASE."));
        let server_env = serde_json::to_string(&pod["containers"][0]["envFrom"]).unwrap();
        // The storage settings come after the server's, so they win.
        let base_at = server_env
            .find("zeppelin-server-env")
            .expect("server env kept");
        let s3_at = server_env
            .find("zeppelin-notebook-storage")
            .expect("storage env");
        assert!(
            base_at < s3_at && server_env.contains("zeppelin-s3"),
            "{server_env}"
        );
        let sizes = serde_json::to_string(&k["patches"]).unwrap();
        assert!(sizes.contains("value: 1Gi"), "{env}: {sizes}");
        let es = doc(
            &files,
            &format!("components/zeppelin/overlays/{env}/externalsecret.yaml"),
        );
        assert_eq!(es["kind"], "ExternalSecret");
        assert_eq!(es["spec"]["target"]["name"], "zeppelin-s3");
        assert_eq!(
            es["spec"]["data"][0]["remoteRef"]["key"],
            format!("acme/{env}/zeppelin/s3")
        );
        let resources = serde_json::to_string(&k["resources"]).unwrap();
        assert!(
            resources.contains("externalsecret.yaml")
                && resources.contains("../../../../notebooks")
        );
    }

    // full.yaml: notes on the persistent volume (the base), sized per environment.
    let files = render(Some("full.yaml"));
    let cfg = env_config(&files);
    assert_eq!(
        cfg["ZEPPELIN_NOTEBOOK_STORAGE"],
        "org.apache.zeppelin.notebook.repo.GitNotebookRepo"
    );
    // The full spec's store is external: no tenant, and the buckets the
    // client creates (socle-check.yaml) hold no notes bucket.
    assert!(!files.contains_key("components/minio/values.yaml"));
    let check = doc(&files, "socle-check.yaml");
    assert!(!serde_json::to_string(&check["buckets"])
        .unwrap()
        .contains("\"notebooks\""));
    let sts = doc(&files, "components/zeppelin/base/statefulset.yaml");
    let seed = init_container(&sts, "example-notes");
    assert!(seed["image"]
        .as_str()
        .unwrap()
        .starts_with("apache/zeppelin:"));
    let sizes: Value = crate::support::yaml(
        &fs_err::read_to_string(
            crate::support::repo_root().join("environments/components/zeppelin.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    for env in env_names(&spec_of(Some("full.yaml"))) {
        assert!(!files.contains_key(&format!(
            "components/zeppelin/overlays/{env}/externalsecret.yaml"
        )));
        let k = doc(
            &files,
            &format!("components/zeppelin/overlays/{env}/kustomization.yaml"),
        );
        assert!(s3_patch(&k).is_none(), "{env}: S3 patch with pvc storage");
        let ops: Value = serde_json::to_value(
            crate::support::yaml::<serde_json::Value>(k["patches"][0]["patch"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let storage = ops
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == "/spec/volumeClaimTemplates/0/spec/resources/requests/storage")
            .expect("storage patch");
        assert_eq!(storage["value"], sizes[&env]["storage"], "{env}");
        assert!(!serde_json::to_string(&k)
            .unwrap()
            .contains("zeppelin-notebook-storage"));
    }
}

#[test]
fn a_bad_notebook_storage_names_field_and_line() {
    let spec = socle::spec::EXAMPLE.replace(
        "# notebooks:\n#   storage: s3               # s3 | pvc\n",
        "notebooks:\n  storage: nfs\n",
    );
    assert_ne!(
        spec,
        socle::spec::EXAMPLE,
        "example spec lost its notebooks comment"
    );
    let line = spec.lines().position(|l| l == "  storage: nfs").unwrap() + 1;
    let names = ["dev".to_owned(), "staging".to_owned(), "prod".to_owned()];
    let err = socle::spec::parse(
        &spec,
        "socle.yaml",
        &names,
        &socle::core::blueprint::options(),
    )
    .expect_err("nfs is refused");
    let socle::spec::SpecError::Invalid { problems, .. } = err else {
        panic!("not a spec problem: {err}");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "notebooks.storage");
    assert_eq!(problems[0].line, Some(line));
    assert!(problems[0].message.contains("s3") && problems[0].message.contains("pvc"));
    // Omitted, it defaults to s3.
    let parsed = socle::spec::parse(
        socle::spec::EXAMPLE,
        "socle.yaml",
        &names,
        &socle::core::blueprint::options(),
    )
    .unwrap();
    assert_eq!(parsed.notebooks.storage, "s3");
}

/// The host base of an environment, read from Zeppelin's Ingress.
fn env_domain(files: &FileSet, env: &str) -> String {
    let ingress = doc(
        files,
        &format!("components/zeppelin/overlays/{env}/ingress.yaml"),
    );
    let host = ingress["spec"]["rules"][0]["host"].as_str().unwrap();
    host.strip_prefix("zeppelin.").unwrap().to_owned()
}

#[test]
fn realm_has_roles_groups_and_clients_without_secrets() {
    for spec in SPECS {
        let spec_value = spec_of(spec);
        let catalog = spec_value["components"]["catalog"].as_str().unwrap();
        let other = if catalog == "datahub" {
            "openmetadata"
        } else {
            "datahub"
        };
        let files = render(spec);
        for env in env_names(&spec_value) {
            let domain = env_domain(&files, &env);
            let base = format!("components/keycloak/manifests/{env}");
            let cm = doc(&files, &format!("{base}/realm.yaml"));
            let realm_text = cm["data"]["realm.yaml"].as_str().unwrap();
            let realm: Value = serde_json::to_value(
                crate::support::yaml::<serde_json::Value>(realm_text).unwrap(),
            )
            .unwrap();
            assert_eq!(realm["realm"], spec_value["keycloak"]["realm"]);
            let roles: BTreeSet<&str> = realm["roles"]["realm"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                roles,
                BTreeSet::from([
                    "platform-admin",
                    "data-engineer",
                    "data-analyst",
                    "data-scientist",
                    // The catalog's ingestion service account, granted by no group.
                    "metadata-reader"
                ])
            );
            let groups: BTreeMap<&str, &str> = realm["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["name"].as_str().unwrap(),
                        g["realmRoles"][0].as_str().unwrap(),
                    )
                })
                .collect();
            let wanted: BTreeMap<&str, &str> = spec_value["keycloak"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| (g["name"].as_str().unwrap(), g["role"].as_str().unwrap()))
                .collect();
            assert_eq!(groups, wanted, "{env}");

            let scope = realm["clientScopes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "groups")
                .expect("groups client scope");
            assert_eq!(
                scope["protocolMappers"][0]["protocolMapper"],
                "oidc-group-membership-mapper"
            );
            assert_eq!(
                scope["protocolMappers"][0]["config"]["claim.name"],
                "groups"
            );

            // The secrets the Job gets from the secret store.
            let secrets = docs(&files, &format!("{base}/externalsecrets.yaml"));
            let provided: BTreeSet<&str> = secrets
                .iter()
                .find(|d| d["metadata"]["name"] == "keycloak-client-secrets")
                .expect("client secrets ExternalSecret")["spec"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["secretKey"].as_str().unwrap())
                .collect();

            let clients: BTreeMap<&str, &Value> = realm["clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["clientId"].as_str().unwrap(), c))
                .collect();
            // MinIO's console client exists where the tenant does (an
            // external store has its own sign-in).
            let tenant = files.contains_key(&format!("components/minio/values-{env}.yaml"));
            for id in ["airflow", "grafana", "trino", "zeppelin", catalog] {
                assert!(clients.contains_key(id), "{env}: no client {id}");
            }
            assert_eq!(clients.contains_key("minio"), tenant, "{env}: minio client");
            assert!(
                !clients.contains_key(other),
                "{env}: {other} is not deployed"
            );
            for (id, c) in &clients {
                // A service account signs in without a browser: no redirect.
                if c["standardFlowEnabled"] == false {
                    assert_eq!(c["serviceAccountsEnabled"], true, "{env} {id}");
                    assert!(c.get("redirectUris").is_none(), "{env} {id}");
                }
                let uris = c["redirectUris"].as_array().map_or(&[][..], Vec::as_slice);
                assert_eq!(
                    uris.is_empty(),
                    c["standardFlowEnabled"] == false,
                    "{env} {id}: redirect URIs"
                );
                for uri in uris {
                    let uri = uri.as_str().unwrap();
                    let prefix = format!("https://{id}.{domain}/");
                    assert!(
                        uri.starts_with(&prefix),
                        "{env} {id}: {uri} not under {prefix}"
                    );
                }
                // A public client (a browser app) has no secret, and proves
                // its requests with PKCE instead.
                if c["publicClient"] == true {
                    assert!(
                        c.get("secret").is_none(),
                        "{env} {id}: public with a secret"
                    );
                    assert_eq!(
                        c["attributes"]["pkce.code.challenge.method"], "S256",
                        "{env} {id}"
                    );
                    continue;
                }
                let secret = c["secret"].as_str().unwrap_or_default();
                let var = secret
                    .strip_prefix("$(env:")
                    .and_then(|v| v.strip_suffix(')'))
                    .filter(|v| {
                        !v.is_empty() && v.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    })
                    .unwrap_or_else(|| panic!("{env} {id}: secret {secret:?} is not $(env:VAR)"));
                assert!(provided.contains(var), "{env} {id}: {var} not provided");
            }
            let trino_scopes =
                serde_json::to_string(&clients["trino"]["defaultClientScopes"]).unwrap();
            assert!(trino_scopes.contains("\"groups\""), "{trino_scopes}");

            // The redirect URIs are the ones the services use.
            if tenant {
                let minio = text(&files, &format!("components/minio/values-{env}.yaml"));
                assert!(minio.contains(clients["minio"]["redirectUris"][0].as_str().unwrap()));
            }
            let trino = text(&files, &format!("components/trino/values-{env}.yaml"));
            assert!(trino.contains("oauth2.client-id=trino"));

            let job = doc(&files, &format!("{base}/realm-import-job.yaml"));
            assert_eq!(
                job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
                "PostSync"
            );
            let container = &job["spec"]["template"]["spec"]["containers"][0];
            let image = container["image"].as_str().unwrap();
            assert!(
                image.starts_with("adorsys/keycloak-config-cli:") && !image.ends_with(":latest")
            );
            let env_vars = serde_json::to_string(&container["env"]).unwrap();
            assert!(
                env_vars.contains("IMPORT_VARSUBSTITUTION_ENABLED"),
                "{env_vars}"
            );
        }
    }
}

/// The bucket list of a rendered configure.sh.
fn script_buckets(script: &str) -> BTreeSet<String> {
    let data = script
        .split("data_buckets=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("data_buckets");
    let backup = script
        .split("backup_buckets=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("backup_buckets");
    data.split_whitespace()
        .chain(backup.split_whitespace())
        .map(str::to_owned)
        .collect()
}

#[test]
fn object_store_job_covers_every_bucket() {
    for spec in SPECS {
        let spec_value = spec_of(spec);
        let files = render(spec);
        // The tenant's buckets, or with an external store those the client
        // creates on it (socle-check.yaml).
        let buckets: BTreeSet<String> = match files.get("components/minio/values.yaml") {
            Some(_) => doc(&files, "components/minio/values.yaml")["tenant"]["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["name"].as_str().unwrap().to_owned())
                .collect(),
            // Less the environments' off-cluster backup buckets, which are
            // on other stores.
            None => doc(&files, "socle-check.yaml")["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_str().unwrap().to_owned())
                .filter(|b| {
                    !spec_value["environments"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["backup_target"]["bucket"] == b.as_str())
                })
                .collect(),
        };
        for d in spec_value["data_domains"].as_array().unwrap() {
            assert!(buckets.contains(&format!("domain-{}", d["name"].as_str().unwrap())));
        }
        for env in spec_value["environments"].as_array().unwrap() {
            let name = env["name"].as_str().unwrap();
            let dir = format!("backup/overlays/{name}");
            let script = text(&files, &format!("{dir}/configure.sh"));
            // The environment's own: its tenant's list where it narrows the
            // shared one, and no backups bucket where they leave the cluster.
            let narrowed = files
                .get(&format!("components/minio/values-{name}.yaml"))
                .map(|_| doc(&files, &format!("components/minio/values-{name}.yaml")))
                .and_then(|v| {
                    v["tenant"]["buckets"].as_array().map(|l| {
                        l.iter()
                            .map(|b| b["name"].as_str().unwrap().to_owned())
                            .collect::<BTreeSet<String>>()
                    })
                });
            let here = narrowed.unwrap_or_else(|| {
                buckets
                    .iter()
                    .filter(|b| !(*b == "backups" && env["backup_target"].is_object()))
                    .cloned()
                    .collect()
            });
            assert_eq!(script_buckets(script), here, "{spec:?} {name}");
            for command in [
                "mc version enable \"platform/$bucket\"",
                "mc ilm rule import \"platform/$bucket\"",
            ] {
                assert!(script.contains(command), "{name}: {command}");
            }
            assert!(script.contains("NoncurrentVersionExpiration"));
            let target = env["overrides"]["dr"]["replication_target"].as_str();
            assert_eq!(
                script.contains("mc replicate add"),
                target.is_some(),
                "{name}"
            );

            let k = doc(&files, &format!("{dir}/kustomization.yaml"));
            let resources = serde_json::to_string(&k["resources"]).unwrap();
            assert!(resources.contains("job.yaml") && resources.contains("externalsecrets.yaml"));
            let job = doc(&files, &format!("{dir}/job.yaml"));
            assert_eq!(
                job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
                "PostSync"
            );
            let pod = &job["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            let c = &pod["containers"][0];
            assert!(c["image"]
                .as_str()
                .unwrap()
                .starts_with("quay.io/minio/mc:RELEASE."));
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            let env_json = serde_json::to_string(&c["env"]).unwrap();
            let retention = if name == "dev" { "7d" } else { "30d" };
            assert!(
                env_json.contains(&format!("\"value\":\"{retention}\"")),
                "{name}: {env_json}"
            );
            let secrets = docs(&files, &format!("{dir}/externalsecrets.yaml"));
            assert_eq!(
                secrets
                    .iter()
                    .any(|d| d["metadata"]["name"] == "object-store-dr"),
                target.is_some(),
                "{name}"
            );
            for s in &secrets {
                assert_eq!(s["kind"], "ExternalSecret");
            }
        }
    }
}

fn table(schema: &str) -> Value {
    json!({"table": {"catalogName": "iceberg", "schemaName": schema, "tableName": "orders"}})
}

#[test]
fn trino_policy_maps_groups_to_schema_permissions() {
    for (spec, [admin, engineer, analyst, scientist]) in [
        (
            None,
            [
                "platform-admins",
                "data-engineers",
                "data-analysts",
                "data-scientists",
            ],
        ),
        (
            Some("full.yaml"),
            ["ops", "engineers", "analysts", "scientists"],
        ),
    ] {
        let files = render(spec);
        let mut engine = trino_engine(&files, "prod");
        let layout = dbt_layout(&files);
        let first = "analytics";
        let per_domain = format!(
            "analytics_{}",
            domain_slugs(&spec_of(spec))
                .into_iter()
                .next()
                .unwrap()
                .replace('-', "_")
        );
        let mut cases: Vec<(&str, &str, Value, bool)> = vec![
            (analyst, "ExecuteQuery", json!({}), true),
            (
                analyst,
                "AccessCatalog",
                json!({"catalog": {"name": "iceberg"}}),
                true,
            ),
            (
                analyst,
                "AccessCatalog",
                json!({"catalog": {"name": "hive"}}),
                false,
            ),
            (analyst, "SelectFromColumns", table(first), true),
            (
                analyst,
                "FilterSchemas",
                json!({"schema": {"catalogName": "iceberg", "schemaName": first}}),
                true,
            ),
            (
                analyst,
                "FilterSchemas",
                json!({"schema": {"catalogName": "iceberg", "schemaName": "information_schema"}}),
                true,
            ),
            (analyst, "SelectFromColumns", table("staging"), false),
            (analyst, "SelectFromColumns", table("raw"), false),
            (analyst, "InsertIntoTable", table(first), false),
            (engineer, "InsertIntoTable", table("staging"), true),
            (engineer, "CreateTable", table("raw"), true),
            (engineer, "DeleteFromTable", table(first), true),
            (engineer, "CreateTable", table("sandbox"), false),
            (engineer, "SelectFromColumns", table("sandbox"), false),
            (scientist, "SelectFromColumns", table("raw"), true),
            (scientist, "SelectFromColumns", table(first), true),
            (scientist, "CreateTable", table("sandbox"), true),
            (scientist, "InsertIntoTable", table(first), false),
            (scientist, "DropTable", table("staging"), false),
            (engineer, "InsertIntoTable", table("audit"), true),
            (analyst, "SelectFromColumns", table("audit"), false),
            (analyst, "SelectFromColumns", table("analytics"), true),
            (
                admin,
                "DropSchema",
                json!({"schema": {"catalogName": "iceberg", "schemaName": "staging"}}),
                true,
            ),
            (
                admin,
                "ImpersonateUser",
                json!({"user": {"user": "airflow"}}),
                true,
            ),
            (
                analyst,
                "ImpersonateUser",
                json!({"user": {"user": "airflow"}}),
                false,
            ),
            ("strangers", "ExecuteQuery", json!({}), false),
            ("strangers", "SelectFromColumns", table(first), false),
            // Schemas outside the layout: platform admins only.
            (analyst, "SelectFromColumns", table(&per_domain), false),
            (engineer, "CreateTable", table(&per_domain), false),
            (engineer, "CreateTable", table("raw_sales"), false),
            (scientist, "CreateTable", table("sandbox_jane"), false),
            (admin, "CreateTable", table(&per_domain), true),
        ];
        // Every schema of the DBT project: written by engineers (dbt runs
        // with that role), read by scientists.
        for schema in layout.schemas() {
            cases.push((engineer, "InsertIntoTable", table(&schema), true));
            cases.push((engineer, "DropTable", table(&schema), true));
            cases.push((scientist, "SelectFromColumns", table(&schema), true));
            cases.push((scientist, "InsertIntoTable", table(&schema), false));
        }
        for (group, operation, resource, expected) in cases {
            let got = trino_allows(&mut engine, "jane", &[group], operation, resource.clone());
            assert_eq!(got, expected, "{spec:?}: {group} {operation} {resource}");
        }
        // No group at all: nothing, not even a query.
        assert!(!trino_allows(
            &mut engine,
            "jane",
            &[],
            "ExecuteQuery",
            json!({})
        ));
        // Rename needs write access on both sides.
        let mut rename = json!({
            "context": {"identity": {"user": "jane", "groups": [engineer]}},
            "action": {"operation": "RenameTable", "resource": table("staging"), "targetResource": table("sandbox")},
        });
        engine.set_input(regorus::Value::from(rename.clone()));
        assert_eq!(
            engine.eval_rule("data.trino.allow".into()).unwrap(),
            regorus::Value::from(false)
        );
        rename["action"]["targetResource"] = table("raw");
        engine.set_input(regorus::Value::from(rename));
        assert_eq!(
            engine.eval_rule("data.trino.allow".into()).unwrap(),
            regorus::Value::from(true)
        );
    }
}

#[test]
fn generated_repositories_have_no_denials() {
    for spec in SPECS {
        let dir = materialise(&render(spec));
        let out = Command::cargo_bin("socle")
            .expect("socle binary")
            .env("NO_COLOR", "1")
            .arg("check")
            .arg(dir.path())
            .output()
            .expect("run socle check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{spec:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.lines().any(|l| l.starts_with("0 denial(s)")),
            "{stdout}"
        );
    }
}

#[test]
fn trino_policy_admits_the_pipelines_service_account_without_groups() {
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let mut engine = trino_engine(&files, "prod");
        let pipelines = "service-account-pipelines";
        for (user, operation, resource, expected) in [
            (pipelines, "ExecuteQuery", json!({}), true),
            (pipelines, "InsertIntoTable", table("staging"), true),
            (pipelines, "CreateTable", table("raw"), true),
            (pipelines, "SelectFromColumns", table("analytics"), true),
            // A data engineer, not more.
            (pipelines, "CreateTable", table("sandbox"), false),
            (
                pipelines,
                "DropSchema",
                json!({"schema": {"catalogName": "iceberg", "schemaName": "sandbox"}}),
                false,
            ),
            // Service accounts that do not call Trino get nothing.
            (
                "service-account-trino-catalog",
                "ExecuteQuery",
                json!({}),
                false,
            ),
            (
                "service-account-lakekeeper-bootstrap",
                "SelectFromColumns",
                table("raw"),
                false,
            ),
        ] {
            assert_eq!(
                trino_allows(&mut engine, user, &[], operation, resource.clone()),
                expected,
                "{spec:?}: {user} {operation} {resource}"
            );
        }
    }
}
