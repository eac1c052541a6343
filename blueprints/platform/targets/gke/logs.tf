# The logs the cloud keeps, in Cloud Logging's _Default bucket of the
# project: the control plane's (API server, controller manager, scheduler)
# and GKE's system components' (cluster.tf), the network's flows, firewall
# refusals and NAT translations (network.tf), and Cloud SQL's (database.tf).
# The workloads' logs stay in the platform's Loki, as on every cluster.
# Admin Activity audit logs are in _Required, which Google keeps 400 days.

# _Default keeps 30 days unless told.
resource "google_logging_project_bucket_config" "default" {
  project        = local.project
  location       = "global"
  bucket_id      = "_Default"
  retention_days = var.log_retention_days

  depends_on = [google_project_service.apis]
}

# Which principal read which entry of the secret store, and when: Secret
# Manager's Data Access audit logs, which Google leaves off (changes to the
# entries and to their grants are Admin Activity, always logged).
resource "google_project_iam_audit_config" "secret_manager" {
  project = local.project
  service = "secretmanager.googleapis.com"

  audit_log_config {
    log_type = "ADMIN_READ"
  }
  audit_log_config {
    log_type = "DATA_READ"
  }
}
