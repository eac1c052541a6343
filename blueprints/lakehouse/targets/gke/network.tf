# The network: one regional subnet for the nodes, with the pods' and the
# Services' ranges beside it, no external address on any node. The Google
# APIs the pods call answer at private.googleapis.com (the private zone
# below), so the NetworkPolicies open egress to 199.36.153.8/30 for them,
# not to the internet; everything else leaves through Cloud NAT.

resource "google_compute_network" "this" {
  name                    = local.name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  # The default route stays: Cloud NAT and private.googleapis.com's
  # addresses are reached through it.
  delete_default_routes_on_create = false

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  name          = "${local.name}-nodes"
  region        = local.region
  network       = google_compute_network.this.id
  ip_cidr_range = local.nodes_range

  # VPC-native: pods and Services take addresses of these ranges, which
  # the VPC routes (and the flow logs name).
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = local.pods_range
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = local.services_range
  }

  # Nodes without external addresses still reach Google's APIs.
  private_ip_google_access = true

  # Every flow, to Cloud Logging (logging.tf), as EKS's flow logs keep.
  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 1.0
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Ingress the rules GKE makes (control plane to nodes, nodes and pods to
# one another, load balancers' health checks) do not admit is refused, as
# the implied rule does, but logged.
resource "google_compute_firewall" "deny_ingress" {
  name          = "${local.name}-deny-ingress"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  priority      = 65534
  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# SSH through Identity-Aware Proxy to the operators' machine, tagged
# operator, from which kubectl reaches the private API server (README.md,
# Apply): IAP's range only, no external address.
resource "google_compute_firewall" "operator_ssh" {
  name          = "${local.name}-operator-ssh"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = ["35.235.240.0/20"]
  target_tags   = ["operator"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# The way out for the connectors' sources, the package index and the alert
# receivers: one NAT for the nodes' and the pods' ranges.
resource "google_compute_router" "this" {
  name    = local.name
  region  = local.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  name                               = local.name
  router                             = google_compute_router.this.name
  region                             = local.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.nodes.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  # Dozens of pods share each node's ports: a fixed 64 per node would run
  # out under Airbyte's syncs.
  enable_dynamic_port_allocation      = true
  enable_endpoint_independent_mapping = false
  min_ports_per_vm                    = 64
  max_ports_per_vm                    = 4096

  log_config {
    enable = true
    filter = "ALL"
  }
}

# googleapis.com, inside the VPC, answers at private.googleapis.com's four
# addresses: Cloud Storage, Secret Manager and the other APIs, each under
# its usual name, over routes the NetworkPolicies name.
resource "google_dns_managed_zone" "googleapis" {
  name        = "${local.name}-googleapis"
  dns_name    = "googleapis.com."
  description = "Google's APIs at private.googleapis.com, for ${local.name}'s network"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.this.id
    }
  }
}

resource "google_dns_record_set" "private_googleapis" {
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "private.googleapis.com."
  type         = "A"
  ttl          = 300
  rrdatas      = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}

resource "google_dns_record_set" "googleapis" {
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "*.googleapis.com."
  type         = "CNAME"
  ttl          = 300
  rrdatas      = ["private.googleapis.com."]
}
