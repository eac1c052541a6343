//! Facts of the managed clouds that the generated Terraform and the
//! checker's reading of it both rely on.

use std::net::Ipv4Addr;

/// Where the EKS Pod Identity agent answers on every node: a pod whose
/// service account has an association gets its credentials there, so its
/// egress must reach this address and port.
pub const EKS_POD_IDENTITY_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
pub const EKS_POD_IDENTITY_PORT: u16 = 80;

/// The port of AWS's APIs (STS, where a pod that signs in by web identity
/// exchanges its token; S3; Secrets Manager).
pub const AWS_API_PORT: u16 = 443;

/// The namespace AWS installs its managed add-ons into, and the cluster's
/// own: they exist without any Application creating them.
pub const EKS_SYSTEM_NAMESPACES: &[&str] = super::kinds::CLUSTER_NAMESPACES;

/// The namespace an EKS add-on installs its workloads (and the service
/// account of its pod identity) into, where it is not `kube-system`: the
/// add-on creates it.
pub fn eks_addon_namespace(addon: &str) -> &'static str {
    match addon {
        "amazon-cloudwatch-observability" => "amazon-cloudwatch",
        "aws-guardduty-agent" => "amazon-guardduty",
        _ => "kube-system",
    }
}

/// Charts that install a network plugin enforcing NetworkPolicies itself,
/// in place of (or chained to) the VPC CNI.
pub const POLICY_ENFORCING_CHARTS: &[&str] = &["cilium", "tigera-operator", "calico"];

/// The service principal the Pod Identity agent takes a role as: a role's
/// trust policy must let it call sts:AssumeRole and sts:TagSession.
pub const EKS_POD_IDENTITY_SERVICE: &str = "pods.eks.amazonaws.com";

/// The audience of the token EKS projects for IAM roles for service
/// accounts, which a web identity trust may require.
pub const EKS_TOKEN_AUDIENCE: &str = "sts.amazonaws.com";

/// The ServiceAccount annotation naming the role its pods take by web
/// identity: EKS's admission webhook then mounts the token and sets the
/// SDK's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE.
pub const EKS_ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The AWS partition of a region, which its ARNs name: China's and
/// GovCloud's regions are partitions of their own.
pub fn aws_partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// S3's regional endpoint in `region`, in its partition's domain: a client
/// that takes an endpoint (rather than a region) must be given this one, or
/// it signs for the wrong region.
pub fn s3_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://s3.{region}.{domain}")
}

/// Whether `host` is one of S3's endpoints (regional or global, path or
/// virtual-hosted style, in either partition's domain).
pub fn is_s3_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(name) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    name == "s3"
        || name.starts_with("s3.")
        || name.starts_with("s3-")
        || name.contains(".s3.")
        || name.contains(".s3-")
        || name.ends_with(".s3")
}

/// Microsoft Entra ID's public ranges (login.microsoftonline.com and
/// login.microsoft.com, as Microsoft publishes them), where a pod with a
/// workload identity on AKS exchanges its service account's token for its
/// managed identity's: it has no private endpoint.
pub const ENTRA_ID_RANGES: &[&str] = &[
    "20.20.32.0/19",
    "20.190.128.0/18",
    "20.231.128.0/19",
    "40.126.0.0/18",
];
pub const ENTRA_ID_PORT: u16 = 443;

/// The ServiceAccount annotation naming the managed identity whose token
/// AKS's workload identity webhook gives the account's pods, and the pod
/// label without which the webhook leaves a pod alone.
pub const AKS_CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
pub const AKS_USE_LABEL: &str = "azure.workload.identity/use";

/// The audience of the token a federated identity credential trusts.
pub const AKS_TOKEN_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The network policy engines an AKS cluster's `network_policy` may name,
/// each of which enforces NetworkPolicies.
pub const AKS_POLICY_ENGINES: &[&str] = &["cilium", "azure", "calico"];

/// The roles that let a principal read a Key Vault's secrets.
pub const KEY_VAULT_SECRET_READERS: &[&str] = &[
    "Key Vault Secrets User",
    "Key Vault Secrets Officer",
    "Key Vault Administrator",
];

/// The roles that let a principal read a container's blobs, and those that
/// also let it write and delete them.
pub const BLOB_READERS: &[&str] = &[
    "Storage Blob Data Reader",
    "Storage Blob Data Contributor",
    "Storage Blob Data Owner",
];
pub const BLOB_WRITERS: &[&str] = &["Storage Blob Data Contributor", "Storage Blob Data Owner"];

/// The namespaces an AKS cluster has without any Application creating
/// them (the Azure Policy add-on's included).
pub const AKS_SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "default",
    "gatekeeper-system",
];

/// Where GKE's metadata server answers the pods of a cluster with Dataplane
/// V2: it gives each pod its Kubernetes service account's identity (and
/// intercepts the same address on other datapaths).
pub const GKE_METADATA_SERVER: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
pub const GKE_METADATA_PORT: u16 = 80;

/// The ServiceAccount annotation naming the Google service account its
/// pods act as on GKE (the account must hold roles/iam.workloadIdentityUser
/// on it): GKE's metadata server then gives them that account's tokens,
/// and none of their own.
pub const GKE_GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// The port of Google's APIs (Cloud Storage, Secret Manager).
pub const GOOGLE_API_PORT: u16 = 443;

/// The names a private `googleapis.com.` zone points Google's APIs at
/// (Private Google Access): their addresses are the zone's A records.
pub const GOOGLE_API_VIPS: &[&str] = &["private.googleapis.com.", "restricted.googleapis.com."];

/// The namespaces a GKE cluster has without any Application creating them.
pub const GKE_SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "default",
    "gke-managed-system",
    "gmp-system",
    "gmp-public",
];

#[cfg(test)]
mod tests {
    /// S3 answers under its own names only; a look-alike is not it.
    #[test]
    fn s3_hosts_are_told_from_other_services() {
        for host in [
            "s3.amazonaws.com",
            "s3.eu-west-3.amazonaws.com",
            "s3-eu-west-1.amazonaws.com",
            "bucket.s3.eu-west-3.amazonaws.com",
            "s3.cn-north-1.amazonaws.com.cn",
            "S3.EU-WEST-3.AMAZONAWS.COM",
        ] {
            assert!(super::is_s3_host(host), "{host}");
        }
        for host in [
            "sts.eu-west-3.amazonaws.com",
            "secretsmanager.eu-west-3.amazonaws.com",
            "s3.example.org",
            "minio.storage.svc",
            "mys3.eu-west-3.amazonaws.com",
        ] {
            assert!(!super::is_s3_host(host), "{host}");
        }
    }

    /// China's regions answer under their own domain.
    #[test]
    fn s3s_endpoint_is_in_its_partitions_domain() {
        assert_eq!(
            super::s3_endpoint("eu-west-3"),
            "https://s3.eu-west-3.amazonaws.com"
        );
        assert_eq!(
            super::s3_endpoint("cn-north-1"),
            "https://s3.cn-north-1.amazonaws.com.cn"
        );
    }
}
