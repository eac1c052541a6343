//! The JSON Schema of `socle.yaml` and schema validation.
//!
//! The schema is built in code because parts depend on the binary's
//! content: the environment names are those that have defaults embedded
//! (`environments/*.yaml`), and the `components:` choices are the
//! blueprint's `options`. Every leaf carries a `description` saying what is
//! allowed; validation errors quote it so the fix is in the message.

use serde_json::{json, Value};

use crate::core::blueprint::SpecOption;

const SLUG: &str = "^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$";
const NAME: &str = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$";
/// A Kubernetes node name (a DNS subdomain).
const NODE: &str = "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$";
/// A block device path, optionally with Mayastor's scheme.
const DISK: &str = "^((aio|uring)://)?/dev/[A-Za-z0-9._:+@/-]+$";
const HOSTNAME: &str = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";

/// The blueprint's choices (`options`): each key required, its values the
/// only ones allowed.
fn components_schema(options: &[SpecOption]) -> Value {
    let properties: serde_json::Map<String, Value> = options
        .iter()
        .map(|o| {
            (
                o.key.clone(),
                json!({"enum": o.values, "description": o.description}),
            )
        })
        .collect();
    let required: Vec<&str> = options.iter().map(|o| o.key.as_str()).collect();
    json!({
        "type": "object",
        "description": "The blueprint's choices (`socle blueprint show` lists them).",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

/// The spec's sections a blueprint may or may not read (its manifest's
/// `spec_sections`); the others (client, domain, repository, environments,
/// components, sizing, blueprint, author) every blueprint reads.
pub const OPTIONAL_SECTIONS: &[&str] = &[
    "keycloak",
    "sso",
    "data_domains",
    "notebooks",
    "object_storage",
    "secrets",
    "argocd",
    "mirror",
    "network",
];

/// What of the spec a blueprint reads besides its options.
#[derive(Debug, Clone, Copy)]
pub struct Reads<'a> {
    /// The sections of [`OPTIONAL_SECTIONS`] it reads (`None`: all).
    pub sections: Option<&'a [String]>,
    /// The roles its UIs grant the groups of `sso` (its manifest's
    /// `sso_roles`): the only values `sso.groups[].role` may take.
    pub sso_roles: &'a [String],
    /// Those of `sso_roles` that administer its UIs (its manifest's
    /// `sso_admin_roles`): a spec's `sso` must give one to a group.
    pub sso_admin_roles: &'a [String],
    /// The interpreters its notebooks offer: the only values the lists of
    /// `notebooks.interpreters` may hold.
    pub interpreters: &'a [crate::core::blueprint::Interpreter],
    /// Its own words for keys of the spec: JSON pointer into the schema →
    /// description.
    pub descriptions: &'a std::collections::BTreeMap<String, String>,
}

impl Default for Reads<'_> {
    /// Every section, no roles, interpreters or words of a blueprint.
    fn default() -> Self {
        static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        Reads {
            sections: None,
            sso_roles: &[],
            sso_admin_roles: &[],
            interpreters: &[],
            descriptions: &NONE,
        }
    }
}

/// The spec's JSON Schema for a blueprint that reads only `reads.sections`
/// of [`OPTIONAL_SECTIONS`] (and `sso` only with `sso_roles`). A section
/// it does not read is not offered: a spec that gives one is refused
/// rather than silently ignored.
pub fn spec_schema_for(environments: &[String], options: &[SpecOption], reads: Reads<'_>) -> Value {
    let mut schema = spec_schema(environments, options);
    if let Some(role) =
        schema.pointer_mut("/properties/sso/properties/groups/items/properties/role")
    {
        role["enum"] = json!(reads.sso_roles);
        role["description"] = json!(format!("One of {}.", reads.sso_roles.join(", ")));
    }
    if let Some(items) = schema
        .pointer_mut("/properties/notebooks/properties/interpreters/additionalProperties/items")
    {
        let names: Vec<&str> = reads.interpreters.iter().map(|i| i.name.as_str()).collect();
        items["enum"] = json!(names);
    }
    for (pointer, description) in reads.descriptions {
        if let Some(Value::Object(node)) = schema.pointer_mut(pointer) {
            node.insert("description".into(), json!(description));
        }
    }
    for section in OPTIONAL_SECTIONS {
        // A blueprint whose UIs grant no roles reads no realm of the
        // client's, whatever its sections say.
        let read = match reads.sections {
            None => true,
            Some(sections) => sections.iter().any(|s| s == section),
        } && (*section != "sso" || !reads.sso_roles.is_empty());
        if read {
            continue;
        }
        if let Some(props) = schema["properties"].as_object_mut() {
            props.remove(*section);
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.retain(|r| r != section);
        }
    }
    schema
}

/// The spec's JSON Schema: `environments` are the names with embedded
/// defaults, `options` the blueprint's choices.
pub fn spec_schema(environments: &[String], options: &[SpecOption]) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://socle.dev/schemas/socle.yaml.json",
        "title": "socle client spec",
        "description": "Describes a client and its platform choices; `socle new` renders a GitOps repository from it.",
        "type": "object",
        "additionalProperties": false,
        "required": ["client", "domain", "repository", "environments", "components", "keycloak", "data_domains"],
        "properties": {
            "client": {
                "type": "object",
                "description": "The client: display name and slug.",
                "additionalProperties": false,
                "required": ["name", "slug"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200,
                             "pattern": "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f]*$",
                             "description": "Display name, any text without control characters other than tab and newline (e.g. \"Société Générale d'Exemple\")."},
                    "slug": {"type": "string", "pattern": SLUG,
                             "description": "Lower-case slug used in resource names: letters, digits and '-', starting with a letter, at most 32 characters (e.g. \"acme\")."}
                }
            },
            "domain": {"type": "string", "pattern": HOSTNAME, "maxLength": 200,
                       "description": "Base DNS domain of the platform's hosts, lower case (e.g. \"data.acme.example\")."},
            "repository": {
                "type": "object",
                "description": "The git repository ArgoCD pulls this platform from.",
                "additionalProperties": false,
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "pattern": "^(https://|ssh://|git@)[^\\s\"'{}<>\\\\^`|]+$",
                            "description": "Clone URL: https://..., ssh://... or git@host:path."},
                    "revision": {"type": "string",
                                 "pattern": "^[A-Za-z0-9]([A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*(/[A-Za-z0-9_-]([A-Za-z0-9_-]|\\.[A-Za-z0-9_-])*)*$",
                                 "not": {"pattern": "\\.lock(/|$)"},
                                 "description": "Branch ArgoCD follows (default \"main\"): a git branch name (no \"..\", no segment starting or ending with a dot, no \".lock\" ending)."}
                }
            },
            "environments": {
                "type": "array",
                "minItems": 1,
                "description": "Environments to generate, each with its cluster.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": environments,
                                 "description": format!("Environment name; one of: {}.", environments.join(", "))},
                        "target": {"enum": ["kubernetes", "compose", "eks", "gke", "aks"],
                                   "description": "Where the environment runs: \"kubernetes\" (a cluster synced by Argo CD, the default), \"compose\" (one Docker host, for development: socle renders compose/<env>/ instead of the cluster's files), \"eks\" (Amazon EKS), \"gke\" (Google Kubernetes Engine) or \"aks\" (Azure Kubernetes Service): on a managed cloud socle also renders terraform/<env>/, which creates the cluster and the cloud services it uses; give `cloud`. The blueprint must offer it, see `socle blueprint show`."},
                        "cloud": {
                            "type": "object", "additionalProperties": false,
                            "required": ["region", "vpc_cidr"],
                            "description": "Managed cloud environments only (target eks, gke or aks): where the generated Terraform creates the cluster.",
                            "properties": {
                                "region": {"type": "string", "pattern": "^([a-z]{2,}(-[a-z]+)+-?[0-9]+|[a-z][a-z0-9]+)$",
                                           "description": "The cloud region, e.g. \"eu-west-3\" (AWS), \"europe-west9\" (Google Cloud) or \"francecentral\" (Azure)."},
                                "vpc_cidr": {"type": "string",
                                             "description": "The cluster network's range, e.g. \"10.40.0.0/16\" (a /16 to /20: on EKS three private and three public subnets are cut from it; on GKE the nodes', the Services' and the pods' ranges and the managed services' range). Egress to the API server and the nodes is opened to this range."},
                                "kubernetes_version": {"type": "string", "pattern": "^1\\.[0-9]{2}$",
                                                       "description": "The cluster's Kubernetes minor version (default: the blueprint's)."},
                                "account_id": {"type": "string", "pattern": "^[0-9]{12}$",
                                               "description": "The AWS account the environment lives in: its 12 digits, quoted (e.g. \"123456789012\"). Given, the generated Terraform refuses to run with another account's credentials (the provider's allowed_account_ids), so that a plan or an apply with the wrong profile changes nothing; and the clients that take their role by web identity, which name its ARN, keep their buckets in S3 (the data platform's Zeppelin notes; without it they stay in MinIO). EKS only."},
                                "project": {"type": "string", "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
                                            "description": "The Google Cloud project the environment lives in (its ID, e.g. \"acme-data-prod\"). Required on GKE: the cluster's workload identity pool and the Terraform's provider are the project's. GKE only."},
                                "subscription": {"type": "string", "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                                                 "description": "The Azure subscription the environment lives in (its ID, `az account show --query id`). Required on AKS. AKS only."},
                                "tenant": {"type": "string", "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                                           "description": "The Entra ID tenant of that subscription (`az account show --query tenantId`), whose tokens the workloads' identities are. Required on AKS. AKS only."},
                                "client_ids": {"type": "object",
                                               "additionalProperties": {"type": "string"},
                                               "description": "The client IDs of the environment's managed identities, by identity (the blueprint's, and one per component whose buckets the cloud holds, named by the component): copy `terraform output -json client_ids` here after the first apply (Azure assigns them when it creates the identities), then `socle update`. Until then their service accounts carry no client ID and `socle check` reports it. AKS only."}
                            }
                        },
                        "cluster": {"type": "string", "pattern": "^https://[^\\s/]+(:[0-9]+)?/?$",
                                    "description": "Required unless target is compose or a managed cloud (eks or gke, whose Terraform creates the cluster: give its URL once known, for argocd.topology hub). API server URL of the environment's cluster (e.g. \"https://dev.k8s.acme.example:6443\"). Environments with the same URL share the cluster; with argocd.topology hub, Argo CD reaches a cluster other than its own at this URL."},
                        "namespace_suffix": {"type": "string", "pattern": "^(-[a-z0-9]{1,10})?$",
                                             "description": "Suffix added to every namespace when environments share a cluster (e.g. \"-dev\")."},
                        "domain": {"type": "string", "pattern": HOSTNAME,
                                   "description": "Host base for this environment (default: \"<env>.<domain>\", prod: \"<domain>\")."},
                        "docker_socket": {"type": "boolean",
                                          "description": "Compose environments only (default false): let the services the blueprint marks as starting containers themselves mount the host's Docker socket, which gives them control of the host; `socle check` reports each such mount (SOC-CMP-005) with its reason."},
                        "backup_target": {
                            "type": "object", "additionalProperties": false,
                            "required": ["endpoint", "bucket"],
                            "description": "An S3 store outside this environment's cluster (another site, a cloud bucket) that its backups go to: Velero's backups and PostgreSQL's base backups and WAL. Required for prod, whose RTO and RPO a lost cluster must not take with its backups; elsewhere, backups stay in the in-cluster store.",
                            "properties": {
                                "endpoint": {"type": "string", "pattern": "^https?://[^\\s]+$",
                                             "description": "S3 endpoint URL (path-style access), e.g. \"https://s3.backup.example.org\". Its credentials are the store entry <slug>/<env>/backup-target/s3 (access-key, secret-key)."},
                                "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                           "description": "Bucket, created by the client; Velero writes under <env>/, PostgreSQL under postgresql/<env>/."},
                                "region": {"type": "string", "pattern": "^[a-z0-9-]+$",
                                           "description": "S3 region (default: the spec's object store region, else \"us-east-1\")."}
                            }
                        },
                        "network": network_schema("This environment's addresses: each key given here replaces the spec's `network` key of the same name (environments are often clusters of their own)."),
                        "storage_nodes": {
                            "type": "array",
                            "description": "Environments running the blueprint's replicated volumes: the cluster's storage nodes and their data disks, at least as many nodes as a volume has copies; only on the first environment of a shared cluster.",
                            "items": {
                                "type": "object", "additionalProperties": false,
                                "required": ["name", "disks"],
                                "properties": {
                                    "name": {"type": "string", "pattern": NODE, "maxLength": 253,
                                             "description": "Kubernetes node name, as `kubectl get nodes` prints it (e.g. \"prod-storage-1\")."},
                                    "disks": {"type": "array", "minItems": 1,
                                              "description": "Data disks of the node, whole and unused: the storage engine takes them over.",
                                              "items": {"type": "string", "pattern": DISK, "maxLength": 512,
                                                        "description": "Device path, best a stable link (e.g. \"/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456\"), optionally with Mayastor's scheme (\"aio:///dev/...\", \"uring:///dev/...\")."}}
                                }
                            }
                        },
                        "overrides": {"type": "object",
                                      "description": "Overrides of the environment defaults (keys of environments/<name>.yaml).",
                                      "properties": {
                                          "replicas": {"type": "integer", "minimum": 1, "maximum": 9},
                                          "storage_class": {"type": "string", "pattern": NAME},
                                          "object_store_class": {"type": "string", "pattern": NAME,
                                                                 "description": "StorageClass of the in-cluster object store's volumes."},
                                          "rto": {"type": "string", "pattern": "^[0-9]+(m|h|d)$"},
                                          "rpo": {"type": "string", "pattern": "^[0-9]+(m|h|d)$"},
                                          "sync": {"type": "object", "additionalProperties": false,
                                                   "properties": {"automated": {"type": "boolean"}, "prune": {"type": "boolean"}, "self_heal": {"type": "boolean"}}},
                                          "backup": {"type": "object", "additionalProperties": false,
                                                     "properties": {"schedule": {"type": "string", "pattern": "^[0-9*/,-]+( [0-9*/,-]+){4}$"},
                                                                    "retention": {"type": "string", "pattern": "^[0-9]+h$"},
                                                                    "wal_retention": {"type": "string", "pattern": "^[0-9]+d$"}}},
                                          "alerts": {"type": "object", "additionalProperties": false,
                                                     "description": "Alert thresholds and paging (see environments/<name>.yaml for the defaults).",
                                                     "properties": {
                                                         "pager": {"type": "boolean", "description": "Critical alerts page on-call (PagerDuty)."},
                                                         "service_down_for": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"},
                                                         "pods_not_ready_for": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"},
                                                         "pipeline_failures": {"type": "integer", "minimum": 1},
                                                         "pipeline_window": {"type": "string", "pattern": "^[0-9]+(m|h|d)$"},
                                                         "trino_slow_query_seconds": {"type": "integer", "minimum": 1},
                                                         "trino_failure_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                                                         "disk_usage_percent": {"type": "integer", "minimum": 1, "maximum": 99},
                                                         "iceberg_small_files_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                                                         "iceberg_min_objects": {"type": "integer", "minimum": 1},
                                                         "postgres_replication_lag_seconds": {"type": "integer", "minimum": 1},
                                                         "backup_max_age_hours": {"type": "integer", "minimum": 1},
                                                         "email": {"type": "object", "additionalProperties": false,
                                                                   "properties": {"to": {"type": "string"}, "from": {"type": "string"}, "smarthost": {"type": "string"}}}
                                                     }},
                                          "lifecycle": {"type": "object", "additionalProperties": false,
                                                        "description": "Age-based lifecycle of the data buckets (seeds: cold storage after 90 days, deletion after 2 years).",
                                                        "properties": {"transition_days": {"type": "integer", "minimum": 1,
                                                                                           "description": "Days after which objects move to the tier (default 90)."},
                                                                       "expiration_days": {"type": "integer", "minimum": 1,
                                                                                           "description": "Days after which loaded files are deleted (default 730)."},
                                                                       "tier": {"type": "string", "pattern": "^([A-Z][A-Z0-9_-]{0,62})?$",
                                                                                "description": "Where objects go after transition_days: a tier of the in-cluster MinIO (mc ilm tier add) or a storage class of the external S3 store (e.g. \"GLACIER_IR\"). Empty (default): nothing moves, only the expiry applies."}}},
                                          "dr": {"type": "object", "additionalProperties": false,
                                                 "description": "Disaster recovery of the object store.",
                                                 "properties": {"replication_target": {"type": "string", "pattern": "^https://[^\\s/@]+(:[0-9]+)?/?$",
                                                                                       "description": "S3 endpoint of the second site every bucket is replicated to (e.g. \"https://s3.dr.acme.example\"); no replication when absent."}}}
                                      },
                                      "additionalProperties": false}
                    }
                }
            },
            "components": components_schema(options),
            "blueprint": {"type": "string", "pattern": NAME,
                          "description": "The blueprint to render, by name (`socle blueprint list` shows them); without it, the default one (marked so by `socle blueprint list`)."},
            "sizing": {"enum": crate::core::spec::SIZINGS,
                       "description": "Sizing profile scaling every CPU and memory figure: small (x0.5), standard (x1), large (x2)."},
            "keycloak": {
                "type": "object",
                "description": "Keycloak realm and the groups mapped to platform roles.",
                "additionalProperties": false,
                "required": ["realm", "groups"],
                "properties": {
                    "realm": {"type": "string", "pattern": NAME,
                              "description": "Realm name: lower-case letters, digits and '-'."},
                    "groups": {
                        "type": "array", "minItems": 1,
                        "description": "Groups of the realm and the platform role each grants.",
                        "items": {
                            "type": "object", "additionalProperties": false,
                            "required": ["name", "role"],
                            "properties": {
                                "name": {"type": "string", "pattern": NAME,
                                         "description": "Group name: lower-case letters, digits and '-'."},
                                "role": {"enum": ["data-engineer", "data-analyst", "data-scientist", "platform-admin"],
                                         "description": "One of data-engineer, data-analyst, data-scientist, platform-admin."}
                            }
                        }
                    }
                }
            },
            "sso": {
                "type": "object",
                "description": "The client's OpenID Connect provider, a Keycloak realm outside the platform, which the UIs sign users in with; and the groups whose members get each of the UIs' roles. Without it, the UIs keep their own accounts.",
                "additionalProperties": false,
                "required": ["issuer"],
                "properties": {
                    "issuer": {"type": "string", "pattern": "^https://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/realms/[A-Za-z0-9._-]+$",
                               "description": "The realm's issuer URL: https://<host>/realms/<realm> (e.g. \"https://sso.acme.example/realms/acme\")."},
                    "groups": {
                        "type": "array",
                        "description": "Groups of the realm and the role of the UIs each grants; a member of none signs in with no rights.",
                        "items": {
                            "type": "object", "additionalProperties": false,
                            "required": ["name", "role"],
                            "properties": {
                                "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._ -]*$", "maxLength": 100,
                                         "description": "Group name as the realm gives it in the token's groups claim (no leading slash)."},
                                "role": {"type": "string"}
                            }
                        }
                    }
                }
            },
            "data_domains": {
                "type": "array", "minItems": 1,
                "description": "Business data domains: each gets MinIO buckets and DBT models.",
                "items": {
                    "type": "object", "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "maxLength": 40,
                                 "description": "Domain slug: lower-case letters and digits, words joined by '-' (e.g. \"sales\", \"supply-chain\")."},
                        "description": {"type": "string", "maxLength": 500,
                                        "description": "What the domain covers, any text."}
                    }
                }
            },
            "notebooks": {
                "type": "object", "additionalProperties": false,
                "description": "Notebooks.",
                "properties": {
                    "storage": {"enum": ["s3", "pvc"],
                                "description": "Where Zeppelin keeps notes: s3 (default; bucket \"notebooks\" of the S3 store: object_storage when set, else the in-cluster MinIO) or pvc (the Zeppelin server's persistent volume)."},
                    "interpreters": {
                        "type": "object",
                        "description": "Per environment name, the notebook interpreters users may run there (the blueprint's), replacing that environment's default (environments/<env>.yaml, notebooks.interpreters).",
                        "propertyNames": {"enum": environments},
                        "additionalProperties": {
                            "type": "array", "uniqueItems": true, "minItems": 1,
                            "items": {"enum": []}
                        }
                    }
                }
            },
            "object_storage": {
                "type": "object", "additionalProperties": false,
                "description": "An S3 store to use instead of the in-cluster MinIO.",
                "required": ["endpoint"],
                "properties": {
                    "endpoint": {"type": "string", "pattern": "^https?://[^\\s]+$",
                                 "description": "S3 endpoint URL (path-style access is used)."},
                    "region": {"type": "string", "pattern": "^[a-z0-9-]+$",
                               "description": "S3 region (default \"us-east-1\")."}
                }
            },
            "secrets": {
                "type": "object", "additionalProperties": false,
                "description": "Where credentials come from (External Secrets Operator store).",
                "required": ["store"],
                "properties": {
                    "store": {"type": "string", "pattern": NAME,
                              "description": "Name of the SecretStore/ClusterSecretStore."},
                    "kind": {"enum": ["ClusterSecretStore", "SecretStore"],
                             "description": "ClusterSecretStore (default) or SecretStore."}
                }
            },
            "argocd": {
                "type": "object", "additionalProperties": false,
                "description": "Where Argo CD runs and how it reaches each environment's cluster.",
                "properties": {
                    "topology": {"enum": ["per-cluster", "hub"],
                                 "description": "per-cluster (default): one Argo CD in each cluster; every Application targets https://kubernetes.default.svc, and environments sharing a cluster share its Argo CD. hub: one Argo CD, in the cluster of the `hub` environment, manages every cluster; Applications target the environments' `cluster` URLs, and each other cluster is registered by a cluster Secret built by External Secrets from the secrets store (argocd/<env>/cluster.yaml)."},
                    "hub": {"type": "string", "enum": environments,
                            "description": "With topology hub: the environment whose cluster runs Argo CD (default: the last environment of the spec)."}
                }
            },
            "network": network_schema("Where the cluster's API server, its nodes and the external hosts the platform calls live, so that each namespace's egress opens to those addresses only. Without them, egress to these hosts is open to any destination on their ports, and socle check warns (SOC-SYS-007)."),
            "mirror": {
                "type": "object", "additionalProperties": false, "minProperties": 1,
                "description": "Package repositories inside the client's network, for clusters without internet access. Pods that fetch packages when they start (Spark's jars, Zeppelin's Trino JDBC driver, Trino's JMX exporter, the dbt adapter) use them instead of Maven Central and PyPI.",
                "properties": {
                    "maven": {"type": "string", "pattern": "^https?://[^\\s]+$",
                              "description": "Root URL of a Maven repository holding Maven Central's artifacts (e.g. a Nexus or Artifactory proxy: \"https://nexus.acme.example/repository/maven-central\")."},
                    "pypi": {"type": "string", "pattern": "^https?://[^\\s]+$",
                             "description": "URL of a PyPI index, as pip's --index-url takes it (e.g. \"https://nexus.acme.example/repository/pypi/simple\")."}
                }
            },
            "author": {
                "type": "object", "additionalProperties": false,
                "description": "Author of the initial commit.",
                "required": ["name", "email"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[^<>\\n]+$",
                             "description": "Author name (no '<', '>' or newline)."},
                    "email": {"type": "string", "pattern": "^[^<>\\s@]+@[^<>\\s@]+$",
                              "description": "Author e-mail address."}
                }
            }
        }
    })
}

/// Validate `instance`; returns, for every error, the pointer of the value at
/// fault (for a missing field: the field's own pointer) and the message.
pub fn validate(schema: &Value, instance: &Value) -> Vec<(String, String)> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => return vec![(String::new(), format!("internal schema error: {e}"))],
    };
    validator
        .iter_errors(instance)
        .flat_map(|err| {
            let pointer = err.instance_path().as_str().to_owned();
            if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
                err.kind()
            {
                // Each unknown key is reported at its own line, with the
                // allowed key it most likely misspells.
                let allowed = err
                    .schema_path()
                    .as_str()
                    .strip_suffix("/additionalProperties")
                    .and_then(|parent| schema.pointer(parent))
                    .and_then(|node| node.get("properties"))
                    .and_then(Value::as_object);
                return unexpected
                    .iter()
                    .map(|key| {
                        let target = format!("{pointer}/{}", escape(key));
                        (target, unknown_key(key, &pointer, allowed))
                    })
                    .collect::<Vec<_>>();
            }
            let mut message = err.to_string();
            // For a missing field, say what the field is, not what its parent is.
            let target = match err.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    format!("{pointer}/{}", property.as_str().unwrap_or_default())
                }
                _ => pointer.clone(),
            };
            if let Some(hint) = description_at(schema, instance, &target) {
                message.push_str(&format!(" — {hint}"));
            }
            vec![(target, message)]
        })
        .collect()
}

/// How the message of an unknown key starts: it names the key and its place
/// itself, so it is shown without a field before it.
pub(crate) const UNKNOWN_KEY: &str = "unknown key '";

/// A JSON pointer token for `key`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The message for `key`, unknown in the object at `parent`: where it is,
/// and the allowed key it is closest to, if one is close enough to be a typo.
fn unknown_key(
    key: &str,
    parent: &str,
    allowed: Option<&serde_json::Map<String, Value>>,
) -> String {
    let place = if parent.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", crate::core::spec::pointer_to_field(parent))
    };
    // The key as typed, control characters escaped, cut to a readable length.
    let mut shown: String = key.escape_debug().take(60).collect();
    if key.escape_debug().nth(60).is_some() {
        shown.push('…');
    }
    let mut message = format!("{UNKNOWN_KEY}{shown}' {place}");
    let keys = allowed.map(|m| m.keys().map(String::as_str).collect::<Vec<_>>());
    match keys.as_deref().and_then(|keys| closest(key, keys)) {
        Some(near) => message.push_str(&format!("; did you mean '{near}'?")),
        None => {
            if let Some(keys) = keys.filter(|k| !k.is_empty()) {
                message.push_str(&format!("; allowed: {}", keys.join(", ")));
            }
        }
    }
    message
}

/// The candidate nearest to `word` by edit distance, when it is near enough
/// to be a typo of it: at most one edit in four characters, and at least one
/// edit always allowed. Ties go to the first candidate, so the answer does not
/// depend on anything but the schema's order.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // A key of a hundred characters is no typo of a field name.
    if word.chars().count() > 64 {
        return None;
    }
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for &c in candidates {
        let d = levenshtein(&lower, &c.to_lowercase());
        let limit = (c.chars().count() / 4).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edits (insertions, deletions, substitutions, and swaps of two neighbouring
/// characters) that turn `a` into `b`.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows suffice.
    let mut before = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// The `description` of the schema node that governs `pointer`.
fn description_at<'a>(schema: &'a Value, instance: &Value, pointer: &str) -> Option<&'a str> {
    let mut node = schema;
    let mut value = Some(instance);
    for token in pointer.split('/').skip(1) {
        let token = crate::core::spec::pointer_token(token);
        let is_array = value.map(Value::is_array).unwrap_or(false) && node.get("items").is_some();
        node = if is_array {
            node.get("items")?
        } else {
            node.get("properties")?.get(&token)?
        };
        value = value.and_then(|v| {
            if is_array {
                token.parse::<usize>().ok().and_then(|i| v.get(i))
            } else {
                v.get(&token)
            }
        });
    }
    node.get("description").and_then(Value::as_str)
}

/// An IPv4 or IPv6 CIDR; the spec's cross-checks parse it for real.
const CIDR: &str = "^[0-9A-Fa-f.:]+/[0-9]{1,3}$";

fn network_schema(description: &str) -> Value {
    let cidrs = |what: &str| {
        json!({"type": "array", "items": {"type": "string", "pattern": CIDR, "maxLength": 64},
               "description": what})
    };
    json!({
        "type": "object", "additionalProperties": false,
        "description": description,
        "properties": {
            "api_server": cidrs("CIDRs the Kubernetes API server listens on: the addresses `kubectl get endpoints kubernetes -n default` prints, each as \"<ip>/32\"."),
            "nodes": cidrs("CIDRs of the cluster's nodes: Prometheus scrapes the kubelets and node-exporter on the nodes' addresses."),
            "endpoints": {
                "type": "object",
                "description": "External hosts by name (git, secret_store, alerting, artifacts, object_storage, sources: the blueprint's external_endpoints, listed in the generated README): the CIDRs their addresses fall in, and their ports when not the usual ones.",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,39}$"},
                "additionalProperties": {
                    "type": "object", "additionalProperties": false, "required": ["cidrs"],
                    "properties": {
                        "cidrs": cidrs("CIDRs of the host's addresses."),
                        "ports": {"type": "array", "minItems": 1,
                                  "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                                  "description": "TCP ports, instead of the endpoint's usual ones."}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_key_they_misspell() {
        let keys = ["sizing", "domain", "replicas", "components"];
        assert_eq!(closest("sizng", &keys), Some("sizing"));
        assert_eq!(closest("replicsa", &keys), Some("replicas"));
        assert_eq!(closest("Domain", &keys), Some("domain"));
        assert_eq!(closest("queue", &keys), None);
        assert_eq!(closest("x", &keys), None);
        assert_eq!(levenshtein("ab", "ba"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
    }
}
