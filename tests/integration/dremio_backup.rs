//! The lakehouse's Dremio catalog backups: a CronJob that asks the master
//! for a backup through Dremio's REST API, into the distributed storage,
//! then prunes old ones; and the alert that watches its last success. The
//! script runs for real (sh and curl) against a stand-in for Dremio's API
//! that checks each request as Dremio's resources read it; the alert runs
//! in promtool.

use std::process::Command;

use serde_json::{json, Value};

use socle::render::FileSet;

use crate::support::{check_json, env_value, finds, render_lakehouse, text, tool, yaml_stream};

/// The JSON properties of Dremio's `BackupRestoreUtil.BackupOptions`, which
/// `POST /apiv2/backup` deserialises (dremio-oss,
/// dac/backend/src/main/java/com/dremio/dac/util/BackupRestoreUtil.java).
const BACKUP_OPTIONS: [&str; 6] = [
    "backupDir",
    "binary",
    "includeProfiles",
    "compression",
    "table",
    "key",
];

fn docs(files: &FileSet, env: &str) -> Vec<Value> {
    let path = format!("components/dremio/overlays/{env}/catalog-backup.yaml");
    yaml_stream(text(files, &path)).expect("catalog-backup.yaml parses")
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

/// A script of the backup's ConfigMap.
fn script(docs: &[Value], name: &str) -> String {
    kind(docs, "ConfigMap", "dremio-catalog-backup")["data"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{name}"))
        .to_owned()
}

/// The CronJob's pod spec.
fn pod(docs: &[Value]) -> &Value {
    &kind(docs, "CronJob", "dremio-catalog-backup")["spec"]["jobTemplate"]["spec"]["template"]
        ["spec"]
}

#[test]
fn the_catalog_is_backed_up_into_the_distributed_storage_on_the_environments_schedule() {
    let files = render_lakehouse();
    for env in ["staging", "prod"] {
        let docs = docs(&files, env);
        let cron = kind(&docs, "CronJob", "dremio-catalog-backup");
        let environment: Value = crate::support::yaml(text(
            &files,
            &format!("components/dremio/overlays/{env}/kustomization.yaml"),
        ))
        .expect("kustomization");
        assert!(
            environment["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "catalog-backup.yaml")),
            "{environment}"
        );
        // The environment's backup schedule, as its PostgreSQL follows it.
        let schedule = match env {
            "prod" => "0 * * * *",
            _ => "0 */6 * * *",
        };
        assert_eq!(cron["spec"]["schedule"], schedule, "{env}");
        assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
        let pod = pod(&docs);
        let backup = &pod["initContainers"][0];
        let prune = &pod["containers"][0];
        // The backup goes inside the distributed storage the master
        // already writes (its file system and S3 account cover it).
        let conf = text(
            &files,
            &format!("components/dremio/overlays/{env}/dremio.conf"),
        );
        let dist = conf
            .lines()
            .find_map(|l| l.trim().strip_prefix("dist: "))
            .map(|d| d.trim_matches('"'))
            .expect("paths.dist");
        let dir = env_value(backup, "BACKUP_DIR");
        assert_eq!(dir, format!("{dist}/catalog-backups"));
        // mc prunes the same folder: bucket and prefix of the dremioS3 URI.
        let prefix = env_value(prune, "BACKUP_PREFIX");
        assert_eq!(
            format!("dremioS3:///{prefix}"),
            dir,
            "pruned folder differs from the backups'"
        );
        // As long as the environment's other backups are kept.
        let snapshots = text(
            &files,
            &format!("components/elasticsearch/manifests/{env}/snapshots.yaml"),
        );
        let retention = env_value(prune, "RETENTION");
        assert!(
            snapshots.contains(&format!("\"expire_after\": \"{retention}\"")),
            "{retention}"
        );
        assert_eq!(env_value(prune, "S3_ENDPOINT"), "https://s3.acme.example");
        // Restricted pods, no API token, no root.
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        for c in [backup, prune] {
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        }
        // The store entries the README and `socle secrets list` name.
        let login = kind(&docs, "ExternalSecret", "dremio-backup");
        assert_eq!(
            login["spec"]["data"][0]["remoteRef"]["key"],
            format!("acme/{env}/dremio/backup")
        );
    }
    // socle check follows the Job's address to Dremio's Service: a wrong
    // port is a denial.
    let path = "components/dremio/overlays/prod/catalog-backup.yaml";
    let mut broken = files.clone();
    let wrong = text(&files, path).replace(".svc:9047", ".svc:9048");
    assert_ne!(wrong, text(&files, path));
    broken.insert(path.into(), wrong.into_bytes());
    let (code, findings) = check_json(&broken);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        finds(&findings, "SOC-SYS-004", &["dremio-client", "9048"]),
        "{findings:#?}"
    );
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("`acme/<env>/dremio/backup` (properties `username` and")
            && !readme.contains("it is not yet automated"),
        "{readme}"
    );
    assert!(files.contains_key("runbooks/alerts/DremioCatalogBackupMissing.md"));
    // The Docker host keeps Dremio on its own volume: no CronJob there.
    assert!(!files
        .keys()
        .any(|p| p.starts_with("compose/") && p.contains("catalog-backup")));
}

/// Dremio's REST API as the backup needs it: `/apiv2/server_status`,
/// `/apiv2/login` (a session token) and `/apiv2/backup` (an
/// administrator's token as `Authorization: _dremio<token>`, a body of
/// BackupOptions). `MODE` makes it fail where the script must stop.
const FAKE_DREMIO: &str = r#"
import http.server, json, os, subprocess, sys, threading

mode = sys.argv[2]
got = []

class Dremio(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        got.append({"method": "GET", "path": self.path})
        if mode == "down":
            self.reply(503, "{}")
        else:
            self.reply(200, '"OK"')

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        got.append({"method": "POST", "path": self.path, "body": json.loads(body),
                    "auth": self.headers.get("Authorization")})
        if self.path == "/apiv2/login":
            if mode == "unauthorized":
                self.reply(401, '{"errorMessage": "Login incorrect"}')
            elif mode == "no-token":
                self.reply(200, '{"userName": "backup"}')
            else:
                # Jackson's pretty printer, as the server may answer.
                self.reply(200, '{\n  "token" : "t0k3n",\n  "userName" : "backup"\n}')
        elif self.path == "/apiv2/backup":
            if self.headers.get("Authorization") != "_dremiot0k3n":
                self.reply(401, "{}")
            elif mode == "forbidden":
                self.reply(403, '{"errorMessage": "not an administrator"}')
            else:
                self.reply(200, '{"backupPath": "dremioS3:///x/dremio_backup_1", "tables": 42, "files": 3}')
        else:
            self.reply(404, "{}")

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Dremio)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, DREMIO_URL=f"http://127.0.0.1:{server.server_port}",
           DREMIO_WAIT_ATTEMPTS="2", DREMIO_WAIT_SECONDS="0")
run = subprocess.run(["sh", sys.argv[1]], env=env, capture_output=True, text=True, timeout=60)
server.shutdown()
print(json.dumps({"code": run.returncode, "stdout": run.stdout, "stderr": run.stderr, "got": got}))
"#;

#[test]
fn the_backup_script_asks_dremio_for_a_backup_as_its_api_reads_it() {
    let (Some(python), Some(_curl)) = (tool("python3"), tool("curl")) else {
        return;
    };
    let files = render_lakehouse();
    let docs = docs(&files, "prod");
    let script = script(&docs, "backup.sh");
    let container = &pod(&docs)["initContainers"][0];
    let backup_dir = env_value(container, "BACKUP_DIR");

    // The login body as External Secrets renders its template: sprig's
    // toJson of each value, so quotes and backslashes stay valid JSON.
    let template = kind(&docs, "ExternalSecret", "dremio-backup")["spec"]["target"]["template"]
        ["data"]["login.json"]
        .as_str()
        .expect("login.json template")
        .to_string();
    let password = r#"p"a\ss'word"#;
    let login = template
        .replace(
            "{{ .username | toJson }}",
            &serde_json::to_string("backup").expect("json"),
        )
        .replace(
            "{{ .password | toJson }}",
            &serde_json::to_string(password).expect("json"),
        );
    assert!(!login.contains("{{"), "{template}");

    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::write(dir.path().join("backup.sh"), &script).expect("script");
    fs_err::write(dir.path().join("login.json"), &login).expect("login");
    let work = dir.path().join("work");
    fs_err::create_dir(&work).expect("work dir");
    let run = |mode: &str| -> Value {
        let out = Command::new(&python)
            .args(["-c", FAKE_DREMIO])
            .arg(dir.path().join("backup.sh"))
            .arg(mode)
            .env("LOGIN_FILE", dir.path().join("login.json"))
            .env("BACKUP_DIR", &backup_dir)
            .env("TMPDIR", &work)
            .output()
            .expect("python runs");
        crate::support::assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("report")
    };

    let ok = run("ok");
    assert_eq!(ok["code"], 0, "{ok}");
    let got = ok["got"].as_array().expect("requests");
    let paths: Vec<&str> = got.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(
        paths,
        ["/apiv2/server_status", "/apiv2/login", "/apiv2/backup"]
    );
    assert_eq!(
        got[1]["body"],
        json!({"userName": "backup", "password": password})
    );
    let options = got[2]["body"].as_object().expect("BackupOptions");
    let mut keys: Vec<&str> = options.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = BACKUP_OPTIONS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(options["backupDir"], backup_dir.as_str());
    // Binary: the format `dremio-admin restore` reads back.
    assert_eq!(options["binary"], true);
    assert!(
        ok["stdout"]
            .as_str()
            .is_some_and(|s| s.contains("\"tables\": 42")),
        "{ok}"
    );

    // Each failure stops the Job with a failure, before any backup call
    // where the sign-in failed.
    for (mode, said) in [
        ("down", "does not answer"),
        ("unauthorized", "login failed"),
        ("no-token", "without a token"),
        ("forbidden", "403"),
    ] {
        let r = run(mode);
        assert_ne!(r["code"], 0, "{mode}: {r}");
        assert!(
            r["stderr"].as_str().is_some_and(|s| s.contains(said)),
            "{mode}: {r}"
        );
        let backups = r["got"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["path"] == "/apiv2/backup")
            .count();
        assert_eq!(backups, usize::from(mode == "forbidden"), "{mode}: {r}");
    }
}

#[test]
fn a_catalog_without_a_recent_backup_alerts() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let files = render_lakehouse();
    let rules: Value = crate::support::yaml(text(
        &files,
        "components/monitoring/overlays/prod/alerts.yaml",
    ))
    .expect("rules");
    let rule = crate::support::alert_rule(&rules, "DremioCatalogBackupMissing");
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::write(
        dir.path().join("rules.yaml"),
        serde_json::to_string(&json!({"groups": rules["spec"]["groups"]})).expect("json"),
    )
    .expect("rules written");
    let series = |metric: &str| {
        format!("{metric}{{namespace=\"lakehouse-query\", cronjob=\"dremio-catalog-backup\"}}")
    };
    let fired = json!([{
        "exp_labels": {"severity": "critical", "environment": "prod", "namespace": "lakehouse-query"},
        "exp_annotations": {
            "summary": rule["annotations"]["summary"],
            "description": rule["annotations"]["description"],
            "runbook_url": "runbooks/alerts/DremioCatalogBackupMissing.md"
        }
    }]);
    // Prod's backup age is 3 hours. Created at 0 and never successful: it
    // fires past 3 hours. Successful at 1 hour: it fires past 4.
    let test = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "10m",
                "input_series": [{"series": series("kube_cronjob_created"), "values": "0x40"}],
                "alert_rule_test": [
                    {"eval_time": "2h", "alertname": "DremioCatalogBackupMissing", "exp_alerts": []},
                    {"eval_time": "3h10m", "alertname": "DremioCatalogBackupMissing", "exp_alerts": fired}
                ]
            },
            {
                "interval": "10m",
                "input_series": [
                    {"series": series("kube_cronjob_created"), "values": "0x40"},
                    {"series": series("kube_cronjob_status_last_successful_time"), "values": "_x5 3600x34"}
                ],
                "alert_rule_test": [
                    {"eval_time": "3h30m", "alertname": "DremioCatalogBackupMissing", "exp_alerts": []},
                    {"eval_time": "4h10m", "alertname": "DremioCatalogBackupMissing", "exp_alerts": fired}
                ]
            }
        ]
    });
    crate::support::promtool_test(&promtool, dir.path(), &test);
}

/// The pruning, against a recording stand-in for `mc`: it signs in to the
/// client's store with the account's keys, from their files, and removes
/// only the backups' folder's objects older than the retention.
#[test]
fn the_pruning_removes_only_old_backups_of_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let Some(sh) = tool("sh") else {
        return;
    };
    let files = render_lakehouse();
    let docs = docs(&files, "prod");
    let script = script(&docs, "prune.sh");
    let prune = &pod(&docs)["containers"][0];
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    let keys = dir.path().join("keys");
    fs_err::create_dir_all(&bin).expect("bin");
    fs_err::create_dir_all(&keys).expect("keys");
    fs_err::write(keys.join("access-key"), "AKIAEXAMPLE").expect("key");
    fs_err::write(keys.join("secret-key"), "s3cr3t/with+signs").expect("key");
    let mc = bin.join("mc");
    fs_err::write(
        &mc,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$SEEN\"; done\necho -- >> \"$SEEN\"\n",
    )
    .expect("stand-in");
    fs_err::set_permissions(&mc, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    fs_err::write(dir.path().join("prune.sh"), &script).expect("script");
    let seen = dir.path().join("seen");
    let out = Command::new(sh)
        .arg(dir.path().join("prune.sh"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("SEEN", &seen)
        .env("S3_ENDPOINT", env_value(prune, "S3_ENDPOINT"))
        .env("BACKUP_PREFIX", env_value(prune, "BACKUP_PREFIX"))
        .env("RETENTION", env_value(prune, "RETENTION"))
        .env("S3_KEYS", &keys)
        .output()
        .expect("sh");
    crate::support::assert_success(&out);
    let calls = fs_err::read_to_string(&seen).expect("calls");
    let calls: Vec<Vec<&str>> = calls
        .split("--\n")
        .filter(|c| !c.is_empty())
        .map(|c| c.lines().collect())
        .collect();
    assert_eq!(
        calls,
        [
            vec![
                "alias",
                "set",
                "store",
                "https://s3.acme.example",
                "AKIAEXAMPLE",
                "s3cr3t/with+signs"
            ],
            vec![
                "rm",
                "--recursive",
                "--force",
                "--older-than",
                "30d",
                "store/dremio/prod/catalog-backups/"
            ],
        ]
    );
}
