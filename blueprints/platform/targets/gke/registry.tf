# The client's own images (DAG and job images its pipelines build): tags
# cannot be moved, Container Scanning analyses each image pushed
# (versions.tf), untagged images are removed after two weeks.

resource "google_artifact_registry_repository" "platform" {
  repository_id = "platform"
  location      = local.region
  format        = "DOCKER"
  description   = "Images of ${local.name}'s pipelines"
  kms_key_name  = google_kms_crypto_key.platform["images"].id

  docker_config {
    immutable_tags = true
  }

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "untagged-after-two-weeks"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "1209600s"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.agents]
}

# The nodes pull from this repository, and from no other of the project.
resource "google_artifact_registry_repository_iam_member" "node_pull" {
  project    = google_artifact_registry_repository.platform.project
  location   = google_artifact_registry_repository.platform.location
  repository = google_artifact_registry_repository.platform.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}
