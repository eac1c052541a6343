//! Strict schemas of ArgoCD's Application, ApplicationSet and AppProject.
//!
//! They list the fields of `argoproj.io/v1alpha1` that a GitOps repository
//! writes, and refuse any other at the levels they describe, so that a
//! misspelt `targetRevison` is caught before ArgoCD silently drops it. Deeper
//! structures that ArgoCD leaves open (Helm values, kustomize patches,
//! ApplicationSet generators) stay open. A test checks every field listed
//! here against the upstream CRD schemas.

use serde_json::{json, Value};

fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

fn open_object() -> Value {
    json!({"type": "object"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn metadata() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": strings(),
        }
    })
}

fn source() -> Value {
    object(json!({
        "repoURL": {"type": "string"},
        "path": {"type": "string"},
        "targetRevision": {"type": "string"},
        "chart": {"type": "string"},
        "ref": {"type": "string"},
        "name": {"type": "string"},
        "helm": object(json!({
            "valueFiles": strings(),
            "values": {"type": "string"},
            "valuesObject": open_object(),
            "parameters": {"type": "array", "items": open_object()},
            "fileParameters": {"type": "array", "items": open_object()},
            "releaseName": {"type": "string"},
            "passCredentials": {"type": "boolean"},
            "ignoreMissingValueFiles": {"type": "boolean"},
            "skipCrds": {"type": "boolean"},
            "skipSchemaValidation": {"type": "boolean"},
            "skipTests": {"type": "boolean"},
            "version": {"type": "string"},
            "kubeVersion": {"type": "string"},
            "apiVersions": strings(),
            "namespace": {"type": "string"},
        })),
        "kustomize": open_object(),
        "directory": object(json!({
            "recurse": {"type": "boolean"},
            "include": {"type": "string"},
            "exclude": {"type": "string"},
            "jsonnet": open_object(),
        })),
        "plugin": open_object(),
    }))
}

fn application_spec() -> Value {
    let mut spec = object(json!({
        "project": {"type": "string"},
        "source": source(),
        "sources": {"type": "array", "items": source()},
        "destination": object(json!({
            "server": {"type": "string"},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
        })),
        "syncPolicy": object(json!({
            "automated": object(json!({
                "prune": {"type": "boolean"},
                "selfHeal": {"type": "boolean"},
                "allowEmpty": {"type": "boolean"},
                "enabled": {"type": "boolean"},
            })),
            "syncOptions": strings(),
            "retry": object(json!({
                "limit": {"type": "integer"},
                "refresh": {"type": "boolean"},
                "backoff": object(json!({
                    "duration": {"type": "string"},
                    "factor": {"type": "integer"},
                    "maxDuration": {"type": "string"},
                })),
            })),
            "managedNamespaceMetadata": object(json!({
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            })),
        })),
        "ignoreDifferences": {"type": "array", "items": open_object()},
        "info": {"type": "array", "items": open_object()},
        "revisionHistoryLimit": {"type": "integer"},
    }));
    spec["required"] = json!(["destination", "project"]);
    spec
}

fn resource(kind: &str, spec: Value) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": "argoproj.io/v1alpha1"},
            "kind": {"const": kind},
            "metadata": metadata(),
            "spec": spec,
            "status": open_object(),
        }
    });
    if kind == "Application" {
        schema["properties"]["operation"] = open_object();
    }
    schema
}

fn group_kind() -> Value {
    let mut gk = object(json!({"group": {"type": "string"}, "kind": {"type": "string"}}));
    gk["required"] = json!(["group", "kind"]);
    json!({"type": "array", "items": gk})
}

pub fn schema_for(kind: &str) -> Option<Value> {
    match kind {
        "Application" => Some(resource("Application", application_spec())),
        "ApplicationSet" => Some(resource(
            "ApplicationSet",
            object(json!({
                "generators": {"type": "array", "items": open_object()},
                "template": object(json!({
                    "metadata": open_object(),
                    "spec": application_spec(),
                })),
                "templatePatch": {"type": "string"},
                "goTemplate": {"type": "boolean"},
                "goTemplateOptions": strings(),
                "syncPolicy": open_object(),
                "strategy": open_object(),
                "preservedFields": open_object(),
                "ignoreApplicationDifferences": {"type": "array", "items": open_object()},
            })),
        )),
        "AppProject" => Some(resource(
            "AppProject",
            object(json!({
                "description": {"type": "string"},
                "sourceRepos": strings(),
                "sourceNamespaces": strings(),
                "destinations": {"type": "array", "items": object(json!({
                    "server": {"type": "string"},
                    "namespace": {"type": "string"},
                    "name": {"type": "string"},
                }))},
                "clusterResourceWhitelist": group_kind(),
                "clusterResourceBlacklist": group_kind(),
                "namespaceResourceWhitelist": group_kind(),
                "namespaceResourceBlacklist": group_kind(),
                "orphanedResources": object(json!({
                    "warn": {"type": "boolean"},
                    "ignore": {"type": "array", "items": open_object()},
                })),
                "roles": {"type": "array", "items": object(json!({
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "policies": strings(),
                    "groups": strings(),
                    "jwtTokens": {"type": "array", "items": open_object()},
                }))},
                "syncWindows": {"type": "array", "items": open_object()},
                "signatureKeys": {"type": "array", "items": open_object()},
                "permitOnlyProjectScopedClusters": {"type": "boolean"},
                "destinationServiceAccounts": {"type": "array", "items": open_object()},
            })),
        )),
        _ => None,
    }
}
