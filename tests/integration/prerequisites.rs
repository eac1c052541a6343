//! Prerequisites of the first sync that used to be implicit: Argo CD's OIDC
//! client secret (an ExternalSecret installed with Argo CD, reading the
//! entry the realm's client is imported with) and Mayastor's storage nodes
//! (DiskPools generated from the spec's storage nodes; huge pages, the
//! kernel module and the node label as bootstrap steps, in order, in the
//! generated README).

use serde_json::Value;
use socle::check::{self as checker, Severity};
use socle::render::FileSet;

use crate::support::{render, render_text, text, to_json, yaml_docs};

/// The example spec with storage nodes for staging and prod (one node of
/// prod with two disks).
fn spec_with_storage_nodes() -> String {
    let spec = socle::spec::EXAMPLE;
    let staging = "  - name: staging\n    cluster: https://staging.k8s.acme.example:6443\n";
    let prod = "  - name: prod\n    cluster: https://prod.k8s.acme.example:6443\n";
    assert!(spec.contains(staging) && spec.contains(prod));
    let nodes = |env: &str, extra: &str| {
        format!(
            "    storage_nodes:\n      - name: {env}-storage-1\n        disks: [/dev/disk/by-id/nvme-{env}-a{extra}]\n      - name: {env}-storage-2\n        disks: [aio:///dev/disk/by-id/nvme-{env}-b]\n      - name: {env}-storage-3.example.internal\n        disks: [uring:///dev/disk/by-id/nvme-{env}-c]\n"
        )
    };
    spec.replace(staging, &format!("{staging}{}", nodes("staging", "")))
        .replace(
            prod,
            &format!("{prod}{}", nodes("prod", ", /dev/disk/by-id/nvme-prod-a2")),
        )
}

fn docs_of(files: &FileSet, path: &str) -> Vec<Value> {
    yaml_docs(files)
        .into_iter()
        .filter(|(p, _)| p == path)
        .map(|(_, v)| to_json(&v))
        .collect()
}

fn denials(files: &FileSet) -> Vec<String> {
    let outcome = checker::check_files(
        checker::files::Input::from_memory(files.iter().map(|(p, b)| (p.clone(), b.clone()))),
        &checker::Options {
            local_policies: false,
            ..Default::default()
        },
    )
    .expect("check runs");
    outcome
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Deny && f.is_active())
        .map(|f| format!("{} {}: {}", f.rule, f.location(), f.message))
        .collect()
}

/// The ExternalSecret Argo CD is installed with, from its values.
fn argocd_oidc(files: &FileSet, env: &str) -> Value {
    let values = docs_of(files, &format!("argocd/{env}/argocd-values.yaml"));
    let values = values.first().expect("argocd-values.yaml");
    let oidc = values["configs"]["cm"]["oidc.config"]
        .as_str()
        .expect("oidc.config");
    assert!(
        oidc.contains("clientSecret: $argocd-oidc:clientSecret"),
        "{oidc}"
    );
    assert_eq!(values["configs"]["cm"]["admin.enabled"], false);
    let objects = values["extraObjects"].as_array().expect("extraObjects");
    let es = objects
        .iter()
        .find(|o| o["kind"] == "ExternalSecret" && o["metadata"]["name"] == "argocd-oidc")
        .expect("the ExternalSecret argocd-oidc")
        .clone();
    assert_eq!(es["metadata"]["namespace"], "argocd");
    assert_eq!(es["spec"]["target"]["name"], "argocd-oidc");
    // Argo CD reads `$<secret>:<key>` only from Secrets labelled as its own.
    assert_eq!(
        es["spec"]["target"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "argocd"
    );
    assert_eq!(es["spec"]["data"][0]["secretKey"], "clientSecret");
    es
}

/// Every store key the keycloak-client-secrets ExternalSecret reads.
fn realm_keys(files: &FileSet, env: &str) -> Vec<String> {
    docs_of(
        files,
        &format!("components/keycloak/manifests/{env}/externalsecrets.yaml"),
    )
    .iter()
    .flat_map(|d| d["spec"]["data"].as_array().cloned().unwrap_or_default())
    .filter_map(|d| d["remoteRef"]["key"].as_str().map(str::to_owned))
    .collect()
}

#[test]
fn argocd_reads_the_client_secret_its_realm_client_is_imported_with() {
    let files = render(None);
    for env in ["dev", "staging", "prod"] {
        let es = argocd_oidc(&files, env);
        let key = es["spec"]["data"][0]["remoteRef"]["key"]
            .as_str()
            .expect("key")
            .to_owned();
        assert_eq!(key, format!("acme/{env}/argocd/oidc"));
        assert_eq!(
            es["spec"]["data"][0]["remoteRef"]["property"],
            "client-secret"
        );
        assert_eq!(
            es["spec"]["secretStoreRef"],
            serde_json::json!({"name": "platform-secrets", "kind": "ClusterSecretStore"})
        );
        assert!(realm_keys(&files, env).contains(&key), "{env}: {key}");
    }

    // The hub's Argo CD reads from a SecretStore: one must exist in argocd,
    // and socle-check.yaml and the README say so.
    let files = render(Some("full.yaml"));
    let es = argocd_oidc(&files, "prod");
    assert_eq!(
        es["spec"]["secretStoreRef"],
        serde_json::json!({"name": "vault", "kind": "SecretStore"})
    );
    assert_eq!(
        es["spec"]["data"][0]["remoteRef"]["key"],
        "fullopt/prod/argocd/oidc"
    );
    assert!(!files.contains_key("argocd/dev/argocd-values.yaml"));
    let check = text(&files, "socle-check.yaml");
    assert!(
        check.contains(r#"{"group":"external-secrets.io","kind":"SecretStore","name":"vault","namespace":"argocd"}"#),
        "{check}"
    );

    // Per cluster with SecretStores: each Argo CD's namespace gets a store.
    let spec =
        socle::spec::EXAMPLE.replace("  kind: ClusterSecretStore\n", "  kind: SecretStore\n");
    assert_ne!(spec, socle::spec::EXAMPLE);
    let files = render_text(&spec);
    let readme = text(&files, "README.md");
    for env in ["dev", "staging", "prod"] {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("   | {env} | ")))
            .unwrap_or_else(|| panic!("{env}'s store namespaces in\n{readme}"));
        assert!(row.contains("`argocd`"), "{row}");
    }
    assert!(denials(&files).is_empty(), "{:#?}", denials(&files));
}

#[test]
fn declared_storage_nodes_become_disk_pools_after_the_chart() {
    let files = render_text(&spec_with_storage_nodes());
    let pools = docs_of(&files, "components/openebs/manifests/prod/diskpools.yaml");
    let summary: Vec<(String, String, String)> = pools
        .iter()
        .map(|p| {
            assert_eq!(p["apiVersion"], "openebs.io/v1beta2");
            assert_eq!(p["kind"], "DiskPool");
            assert_eq!(p["metadata"]["namespace"], "openebs");
            let annotations = &p["metadata"]["annotations"];
            assert_eq!(annotations["argocd.argoproj.io/sync-wave"], "1");
            let options = annotations["argocd.argoproj.io/sync-options"]
                .as_str()
                .expect("sync options");
            for o in [
                "SkipDryRunOnMissingResource=true",
                "Prune=false",
                "Delete=false",
            ] {
                assert!(options.split(',').any(|x| x == o), "{options}");
            }
            assert_eq!(p["spec"]["disks"].as_array().map(Vec::len), Some(1));
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p["spec"]["node"].as_str().unwrap_or_default().to_owned(),
                p["spec"]["disks"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let expected = [
        (
            "pool-prod-storage-1-1",
            "prod-storage-1",
            "/dev/disk/by-id/nvme-prod-a",
        ),
        (
            "pool-prod-storage-1-2",
            "prod-storage-1",
            "/dev/disk/by-id/nvme-prod-a2",
        ),
        (
            "pool-prod-storage-2-1",
            "prod-storage-2",
            "aio:///dev/disk/by-id/nvme-prod-b",
        ),
        (
            "pool-prod-storage-3.example.internal-1",
            "prod-storage-3.example.internal",
            "uring:///dev/disk/by-id/nvme-prod-c",
        ),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(summary, expected);
    assert_eq!(
        docs_of(
            &files,
            "components/openebs/manifests/staging/diskpools.yaml"
        )
        .len(),
        3
    );
    // Dev runs no Mayastor: the file says so and holds no object, so that
    // the openebs Application's manifests source exists in every environment.
    assert!(docs_of(&files, "components/openebs/manifests/dev/diskpools.yaml").is_empty());
    assert!(
        text(&files, "components/openebs/manifests/dev/diskpools.yaml").contains("no DiskPool")
    );
    for env in ["dev", "staging", "prod"] {
        let app = text(&files, &format!("argocd/{env}/applications/openebs.yaml"));
        assert!(
            app.contains(&format!("path: components/openebs/manifests/{env}")),
            "{app}"
        );
    }

    // The README prepares exactly those nodes, and creates no pool by hand.
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("kubectl label node prod-storage-1 prod-storage-2 prod-storage-3.example.internal openebs.io/engine=mayastor --overwrite"),
        "{readme}"
    );
    assert!(readme.contains(
        "kubectl label node staging-storage-1 staging-storage-2 staging-storage-3.example.internal openebs.io/engine=mayastor --overwrite"
    ));
    assert!(!readme.contains("name: pool-<node>-1"), "{readme}");
    assert!(
        readme.contains("In staging and prod, the DiskPool objects"),
        "{readme}"
    );

    // The system simulation finds the DiskPool CRD in the same Application
    // (the chart's facts), and nothing is denied.
    assert!(denials(&files).is_empty(), "{:#?}", denials(&files));
}

#[test]
fn storage_nodes_are_refused_where_they_cannot_work() {
    let refused = |spec: &str| -> String {
        match socle::repository::render(&socle::generate::Inputs {
            spec_text: spec,
            spec_origin: "socle.yaml",
            blueprint: &socle::source::Tree::embedded_blueprint(),
            environments: &socle::source::Tree::embedded_environments(),
        }) {
            Ok(_) => panic!("rendered:\n{spec}"),
            Err(e) => format!("{e:#}"),
        }
    };
    let with = |env: &str, nodes: &str| {
        let at = format!("  - name: {env}\n    cluster: https://{env}.k8s.acme.example:6443\n");
        assert!(socle::spec::EXAMPLE.contains(&at));
        socle::spec::EXAMPLE.replace(&at, &format!("{at}    storage_nodes:\n{nodes}"))
    };
    let three = "      - { name: a, disks: [/dev/sdb] }\n      - { name: b, disks: [/dev/sdb] }\n      - { name: c, disks: [/dev/sdb] }\n";

    let e = refused(&with("dev", three));
    assert!(
        e.contains("\"dev\"") && e.contains("runs no Mayastor"),
        "{e}"
    );
    let e = refused(&with(
        "prod",
        "      - { name: a, disks: [/dev/sdb] }\n      - { name: b, disks: [/dev/sdb] }\n",
    ));
    assert!(e.contains("at least 3 storage nodes (found 2)"), "{e}");
    let e = refused(&with(
        "prod",
        "      - { name: a, disks: [/dev/sdb, /dev/sdb] }\n      - { name: a, disks: [/dev/sdc] }\n      - { name: c, disks: [/dev/sdb] }\n",
    ));
    assert!(
        e.contains("environments[2].storage_nodes[1].name") && e.contains("appears twice"),
        "{e}"
    );
    assert!(
        e.contains("disk \"/dev/sdb\" appears twice on node \"a\""),
        "{e}"
    );
    let e = refused(&with("prod", "      - { name: Node_1, disks: [sdb] }\n"));
    assert!(
        e.contains("storage_nodes[0].name") && e.contains("storage_nodes[0].disks[0]"),
        "{e}"
    );
}

#[test]
fn readme_lists_the_prerequisites_in_order_with_commands() {
    for (spec, hub) in [
        (None, false),
        (Some("full.yaml"), true),
        (Some("hostile.yaml"), false),
    ] {
        let files = render(spec);
        let readme = text(&files, "README.md");
        let bootstrap = &readme[readme.find("## Bootstrap").expect("bootstrap")..];
        let bootstrap = &bootstrap[..bootstrap.find("\n## ").unwrap_or(bootstrap.len())];
        let mut steps = vec![
            "1. **The secret backend.**",
            "socle secrets list --env <env>",
            "2. **The External Secrets CRDs**",
            "3. **The store",
        ];
        // The full spec's prod is alone on its cluster; dev and staging share
        // one whose OpenEBS (dev's) runs no Mayastor.
        steps.extend([
            "4. **The storage nodes**",
            "echo 'vm.nr_hugepages = 1024' > /etc/sysctl.d/90-mayastor.conf",
            "modprobe nvme-tcp",
            "systemctl restart kubelet",
            "openebs.io/engine=mayastor --overwrite",
        ]);
        steps.extend([
            "1. Install Argo CD with the generated values",
            "helm install argocd argo-cd",
            if hub {
                "kubectl apply -n argocd -f argocd/<env>/cluster.yaml"
            } else {
                "kubectl apply -n argocd -f argocd/<env>/project.yaml -f argocd/<env>/bootstrap.yaml"
            },
            "### The first sync",
            "argocd login --core",
            "argocd app sync <component>-<env>",
            "kubectl -n argocd get externalsecret argocd-oidc",
            "kind: DiskPool",
            "kubectl -n openebs get diskpools",
        ]);
        let mut at = 0;
        for step in steps {
            let found = bootstrap[at..]
                .find(step)
                .unwrap_or_else(|| panic!("{spec:?}: {step:?} after byte {at} of\n{bootstrap}"));
            at += found + step.len();
        }
        assert!(!bootstrap.contains("grep -rh"), "{bootstrap}");
    }
}

#[test]
fn a_storage_class_the_platform_does_not_define_is_a_declared_prerequisite() {
    // The full spec's prod names `fast-replicated`, which is the cluster's.
    let full = crate::support::render(Some("full.yaml"));
    let check = crate::support::text(&full, "socle-check.yaml");
    assert!(
        check.contains(
            r#"{"group":"storage.k8s.io","kind":"StorageClass","name":"fast-replicated"}"#
        ),
        "{check}"
    );
    // The default names only the classes it defines, and defines the
    // replicated one with late binding.
    let default = crate::support::render(None);
    assert!(!crate::support::text(&default, "socle-check.yaml").contains("StorageClass"));
    let classes = crate::support::text(&default, "platform/base/cluster/storageclasses.yaml");
    assert_eq!(
        classes
            .matches("volumeBindingMode: WaitForFirstConsumer")
            .count(),
        2,
        "{classes}"
    );
    assert!(
        !classes.contains("volumeBindingMode: Immediate"),
        "{classes}"
    );
}

#[test]
fn minio_erasure_codes_on_local_disks_one_server_per_node() {
    let files = crate::support::render(None);
    for env in ["dev", "staging", "prod"] {
        let values = crate::support::text(&files, &format!("components/minio/values-{env}.yaml"));
        let doc: Value = serde_saphyr::from_str(values).unwrap();
        let pool = &doc["tenant"]["pools"][0];
        // Not the replicated class: MinIO's parity is the redundancy.
        assert_eq!(pool["storageClassName"], "openebs-hostpath", "{env}");
        let anti = &pool["affinity"]["podAntiAffinity"];
        if env == "dev" {
            assert!(anti.is_null(), "{env}: a single server");
        } else {
            assert!(
                anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"]
                    == "kubernetes.io/hostname",
                "{env}: {anti}"
            );
        }
    }
}

#[test]
fn an_object_store_class_of_the_clusters_own_is_used_and_declared() {
    let spec = socle::spec::EXAMPLE.replacen(
        "    # overrides:            # any default of environments/prod.yaml\n",
        "    overrides:\n      object_store_class: local-nvme\n",
        1,
    );
    assert_ne!(spec, socle::spec::EXAMPLE);
    let files = render_text(&spec);
    assert!(
        text(&files, "components/minio/values-prod.yaml").contains("storageClassName: local-nvme")
    );
    assert!(text(&files, "components/minio/values-dev.yaml")
        .contains("storageClassName: openebs-hostpath"));
    assert!(text(&files, "socle-check.yaml")
        .contains(r#"{"group":"storage.k8s.io","kind":"StorageClass","name":"local-nvme"}"#));
}
