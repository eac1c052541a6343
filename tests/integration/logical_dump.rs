//! The daily logical dumps of PostgreSQL: the CronJob's scripts run for real
//! in a shell, with `pg_dump` and `mc` replaced by recorders (no database or
//! object store here), and the real `pg_dump` accepts the options the script
//! gives it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{env_value, render, text, tool};

fn scripts(env: &str) -> (String, String, Value) {
    let files = render(None);
    let path = format!("components/postgresql/manifests/{env}/logical-dump.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(text(&files, &path)).unwrap();
    let config = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let cron = docs
        .iter()
        .find(|d| d["kind"] == "CronJob")
        .unwrap()
        .clone();
    (
        config["data"]["dump.sh"].as_str().unwrap().to_owned(),
        config["data"]["upload.sh"].as_str().unwrap().to_owned(),
        cron,
    )
}

/// A fake command on PATH that appends its arguments to `log` and, for
/// pg_dump, writes the file `--file=` names.
fn recorder(bin: &Path, name: &str, log: &Path) {
    let body = format!(
        "#!/bin/sh\necho \"{name} $*\" >> '{}'\nfor a in \"$@\"; do case \"$a\" in --file=*) echo dump > \"${{a#--file=}}\";; esac; done\n",
        log.display()
    );
    let path = bin.join(name);
    fs_err::write(&path, body).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&path)
        .status()
        .unwrap();
}

fn run(script: &str, bin: &Path, envs: &[(&str, String)]) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_database_is_dumped_daily_and_kept_30_days_and_12_months() {
    let (dump, upload, cron) = scripts("prod");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let dumper = &pod["initContainers"][0];
    let uploader = &pod["containers"][0];
    let databases = env_value(dumper, "DATABASES");
    // One dump per database the PostgreSQL cluster declares.
    let files = render(None);
    let values: Value =
        serde_saphyr::from_str(text(&files, "components/postgresql/values.yaml")).unwrap();
    let declared: Vec<&str> = values["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(declared.len() >= 5, "{declared:?}");
    assert_eq!(databases, declared.join(" "));
    assert_eq!(env_value(dumper, "PGUSER"), "logical-backup");
    assert!(env_value(dumper, "PGHOST").starts_with("postgresql-ro."));
    // Prod's dumps leave the cluster with its other backups.
    assert_eq!(
        env_value(uploader, "S3_ENDPOINT"),
        "https://s3.backup.acme.example"
    );
    assert_eq!(env_value(uploader, "BUCKET"), "acme-prod-backups");

    for (day, monthly) in [("2026-11-30", false), ("2026-12-01", true)] {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        fs_err::create_dir_all(&bin).unwrap();
        let log = tmp.path().join("calls.log");
        recorder(&bin, "pg_dump", &log);
        recorder(&bin, "mc", &log);
        // `date -u +FORMAT` for the day under test.
        fs_err::write(
            bin.join("date"),
            format!("#!/bin/sh\ncase \"$2\" in +%Y-%m-%d) echo {day};; +%d) echo {};; +%Y-%m) echo {};; esac\n", &day[8..], &day[..7]),
        )
        .unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(bin.join("date"))
            .status()
            .unwrap();
        let dumps = tmp.path().join("dumps");
        let dir = dumps.display().to_string();
        run(
            &dump,
            &bin,
            &[("DATABASES", databases.clone()), ("DUMP_DIR", dir.clone())],
        );
        for db in databases.split(' ') {
            assert!(dumps.join(day).join(format!("{db}.dump")).is_file(), "{db}");
        }
        run(
            &upload,
            &bin,
            &[
                ("DUMP_DIR", dir.clone()),
                ("S3_ENDPOINT", "https://s3.backup.acme.example".into()),
                ("ACCESS_KEY", "a".into()),
                ("SECRET_KEY", "s".into()),
                ("BUCKET", "acme-prod-backups".into()),
                ("ENVIRONMENT", "prod".into()),
            ],
        );
        let calls = fs_err::read_to_string(&log).unwrap();
        let base = "target/acme-prod-backups/logical/prod";
        assert!(
            calls.contains(&format!(
                "mc cp --recursive {dir}/{day}/ {base}/daily/{day}/"
            )),
            "{calls}"
        );
        assert_eq!(
            calls.contains(&format!("{base}/monthly/{}/", &day[..7])),
            monthly,
            "{day}: {calls}"
        );
        assert!(
            calls.contains(&format!(
                "mc rm --recursive --force --older-than 30d {base}/daily/"
            )),
            "{calls}"
        );
        assert!(
            calls.contains(&format!(
                "mc rm --recursive --force --older-than 365d {base}/monthly/"
            )),
            "{calls}"
        );
    }
}

#[test]
fn the_real_pg_dump_accepts_the_options() {
    let Some(pg_dump) = tool("pg_dump") else {
        return;
    };
    let (dump, _, _) = scripts("dev");
    let line = dump
        .lines()
        .find(|l| l.trim_start().starts_with("pg_dump "))
        .expect("a pg_dump line");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.dump");
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|a| {
            a.replace("\"$out/$db.dump\"", &file.display().to_string())
                .replace("\"$db\"", "airflow")
        })
        .collect();
    // No server listens here: pg_dump gets past its options and fails to
    // connect, which an unknown option would not reach.
    let out = Command::new(pg_dump)
        .args(&args)
        .env("PGHOST", tmp.path())
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        !err.contains("unrecognized option") && !err.contains("invalid"),
        "{args:?}: {err}"
    );
    assert!(
        err.contains("connection to server") || err.contains("could not connect"),
        "{err}"
    );
}
