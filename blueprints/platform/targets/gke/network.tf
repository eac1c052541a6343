# The cluster's network: a custom-mode VPC with one regional subnet, whose
# secondary ranges hold the pods and the Services (VPC-native). No node has
# an external address. The Google APIs the pods call (Cloud Storage, Secret
# Manager, IAM Credentials) answer at private.googleapis.com, a fixed /30
# the private zone below points every *.googleapis.com name at: the
# platform's NetworkPolicies open egress to that /30, not to the internet.
# Everything else leaves through Cloud NAT.

resource "google_compute_network" "this" {
  name                    = local.name
  description             = "The data platform's network (${local.name})"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  # Kept: private.googleapis.com and Cloud NAT are reached by the default
  # route to the internet gateway.
  delete_default_routes_on_create = false

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  name          = "${local.name}-nodes"
  description   = "Nodes of ${local.name}, with the pods' and the Services' ranges"
  region        = local.region
  network       = google_compute_network.this.id
  ip_cidr_range = local.nodes_range

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = local.pods_range
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = local.services_range
  }

  # Nodes with no external address still reach Google's APIs (image pulls
  # from Artifact Registry, the logging agents).
  private_ip_google_access = true

  # Every flow, accepted or refused, to Cloud Logging (logs.tf): what the
  # flow logs of the other clouds keep.
  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 1.0
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# GKE opens its private control plane's way to the nodes on 443 and 10250
# only. The admission webhooks whose pods listen elsewhere (the Spark
# operator on 9443, trust-manager on 6443) would time out and, failing
# closed, refuse every object they judge.
resource "google_compute_firewall" "control_plane_webhooks" {
  name          = "${local.name}-control-plane-webhooks"
  description   = "The API server calls the platform's admission webhooks"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = [local.control_plane_range]
  target_tags   = ["${local.name}-node"]

  allow {
    protocol = "tcp"
    ports    = ["6443", "9443"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Operators reach a machine of the subnet tagged `operator` by SSH through
# Identity-Aware Proxy (its 35.235.240.0/20 only), and run kubectl there
# against the private API server (README.md, Apply).
resource "google_compute_firewall" "iap_ssh" {
  name          = "${local.name}-iap-ssh"
  description   = "SSH through Identity-Aware Proxy to the operators' machine"
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

# What no rule above or of GKE's own (nodes and pods among themselves, load
# balancers' health checks) admits is refused, as the VPC's implied rule
# would, but each refusal is logged.
resource "google_compute_firewall" "refuse_ingress" {
  name          = "${local.name}-refuse-ingress"
  description   = "Logged refusal of the ingress no other rule admits"
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

# The way out for the sources NiFi reads, the git server of Airflow's DAGs,
# the package mirrors and the alert receivers: one NAT gateway for the
# nodes' and the pods' addresses.
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

  # Ports follow each node's demand (a hundred pods may share one), from
  # 64 up to 4,096.
  enable_dynamic_port_allocation      = true
  enable_endpoint_independent_mapping = false
  min_ports_per_vm                    = 64
  max_ports_per_vm                    = 4096

  log_config {
    enable = true
    filter = "ALL"
  }
}

# Inside the VPC, every *.googleapis.com name answers at
# private.googleapis.com's four addresses: Cloud Storage, Secret Manager and
# IAM Credentials keep their usual names, over a range the NetworkPolicies
# can name.
resource "google_dns_managed_zone" "googleapis" {
  name        = "${local.name}-googleapis"
  dns_name    = "googleapis.com."
  description = "Google's APIs at private.googleapis.com, inside ${local.name}'s network"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.this.id
    }
  }

  depends_on = [google_project_service.apis]
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
