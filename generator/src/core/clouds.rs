//! Facts of the managed clouds that the generated Terraform and the
//! checker's reading of it both rely on.

use std::net::Ipv4Addr;

/// Where the EKS Pod Identity agent answers on every node: a pod whose
/// service account has an association gets its credentials there, so its
/// egress must reach this address and port.
pub const EKS_POD_IDENTITY_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
pub const EKS_POD_IDENTITY_PORT: u16 = 80;

/// The namespace AWS installs its managed add-ons into, and the cluster's
/// own: they exist without any Application creating them.
pub const EKS_SYSTEM_NAMESPACES: &[&str] =
    &["kube-system", "kube-public", "kube-node-lease", "default"];

/// Charts that install a network plugin enforcing NetworkPolicies itself,
/// in place of (or chained to) the VPC CNI.
pub const POLICY_ENFORCING_CHARTS: &[&str] = &["cilium", "tigera-operator", "calico"];
