//! The built-in Kubernetes kinds: their API group and whether they are
//! namespaced. ArgoCD's project whitelists, kustomize's namespace
//! transformer and the API server all split on scope, so the model needs it
//! for every kind it meets; custom kinds get theirs from the CRDs found in
//! the repository or the chart facts.

use super::charts::Scope;

/// The API group of External Secrets, through which every credential of a
/// generated platform reaches its pods.
pub const EXTERNAL_SECRETS_GROUP: &str = "external-secrets.io";

/// The label every blueprint puts on the objects of one environment
/// (AppProjects, Applications, cluster Secrets): the checker groups a
/// system by it and `socle secrets list` names each entry's environment
/// with it, where the folders say nothing.
pub const ENVIRONMENT_LABEL: &str = "socle.dev/environment";

/// (group, kind, scope) of the kinds Kubernetes serves without a CRD.
const BUILT_IN: &[(&str, &str, Scope)] = {
    use Scope::{Cluster as C, Namespaced as N};
    &[
        ("", "Binding", N),
        ("", "ConfigMap", N),
        ("", "Endpoints", N),
        ("", "Event", N),
        ("", "LimitRange", N),
        ("", "Namespace", C),
        ("", "Node", C),
        ("", "PersistentVolume", C),
        ("", "PersistentVolumeClaim", N),
        ("", "Pod", N),
        ("", "PodTemplate", N),
        ("", "ReplicationController", N),
        ("", "ResourceQuota", N),
        ("", "Secret", N),
        ("", "Service", N),
        ("", "ServiceAccount", N),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            C,
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition", C),
        ("apiregistration.k8s.io", "APIService", C),
        ("apps", "ControllerRevision", N),
        ("apps", "DaemonSet", N),
        ("apps", "Deployment", N),
        ("apps", "ReplicaSet", N),
        ("apps", "StatefulSet", N),
        ("autoscaling", "HorizontalPodAutoscaler", N),
        ("batch", "CronJob", N),
        ("batch", "Job", N),
        ("certificates.k8s.io", "CertificateSigningRequest", C),
        ("coordination.k8s.io", "Lease", N),
        ("discovery.k8s.io", "EndpointSlice", N),
        ("events.k8s.io", "Event", N),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema", C),
        (
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            C,
        ),
        ("networking.k8s.io", "Ingress", N),
        ("networking.k8s.io", "IngressClass", C),
        ("networking.k8s.io", "NetworkPolicy", N),
        ("node.k8s.io", "RuntimeClass", C),
        ("policy", "PodDisruptionBudget", N),
        ("rbac.authorization.k8s.io", "ClusterRole", C),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", C),
        ("rbac.authorization.k8s.io", "Role", N),
        ("rbac.authorization.k8s.io", "RoleBinding", N),
        ("scheduling.k8s.io", "PriorityClass", C),
        ("storage.k8s.io", "CSIDriver", C),
        ("storage.k8s.io", "CSINode", C),
        ("storage.k8s.io", "CSIStorageCapacity", N),
        ("storage.k8s.io", "StorageClass", C),
        ("storage.k8s.io", "VolumeAttachment", C),
        ("storage.k8s.io", "VolumeAttributesClass", C),
    ]
};

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// The scope of a built-in kind, or None for a kind Kubernetes does not
/// serve by itself.
pub fn built_in_scope(group: &str, kind: &str) -> Option<Scope> {
    BUILT_IN
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, s)| *s)
}

/// The namespaces the API server creates in every cluster: objects placed
/// there need no Namespace of the repository's.
pub const CLUSTER_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Whether Kubernetes serves this kind without a CRD.
pub fn is_built_in(group: &str, kind: &str) -> bool {
    built_in_scope(group, kind).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_agree_with_the_api_definitions() {
        use k8s_openapi::Resource;
        fn scope<T: Resource>() -> Scope {
            if std::any::type_name::<T::Scope>().ends_with("NamespaceResourceScope") {
                Scope::Namespaced
            } else {
                Scope::Cluster
            }
        }
        macro_rules! agree {
            ($($t:ty),* $(,)?) => {$(
                assert_eq!(
                    built_in_scope(<$t>::GROUP, <$t>::KIND),
                    Some(scope::<$t>()),
                    "{}", <$t>::KIND
                );
            )*};
        }
        use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, networking::v1 as net};
        use k8s_openapi::api::{rbac::v1 as rbac, storage::v1 as storage};
        agree!(
            core::Namespace,
            core::ResourceQuota,
            core::LimitRange,
            core::Secret,
            core::PersistentVolume,
            apps::Deployment,
            net::NetworkPolicy,
            net::IngressClass,
            rbac::ClusterRole,
            rbac::RoleBinding,
            storage::StorageClass,
            k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            k8s_openapi::api::scheduling::v1::PriorityClass,
        );
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }
}
