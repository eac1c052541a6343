# The client's own images (the dbt project's, built by its pipelines):
# immutable tags, encrypted with the images' key, untagged layers gone
# after two weeks.

resource "google_artifact_registry_repository" "dbt" {
  repository_id = "dbt"
  location      = local.region
  format        = "DOCKER"
  description   = "Images of ${local.name}'s dbt project"
  kms_key_name  = google_kms_crypto_key.lakehouse["images"].id

  docker_config {
    immutable_tags = true
  }

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "untagged-after-14-days"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "1209600s"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.agents]
}

# The nodes pull the images of this repository, and of no other of the
# project.
resource "google_artifact_registry_repository_iam_member" "nodes" {
  location   = google_artifact_registry_repository.dbt.location
  repository = google_artifact_registry_repository.dbt.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}
