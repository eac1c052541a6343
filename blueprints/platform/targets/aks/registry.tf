# The client's own images (the DAG and job images its pipelines build), in
# a Premium registry: stored in three zones, reached at a private endpoint
# only (the pipelines push from a runner inside the network, or one whose
# address the client admits), no admin user, no anonymous pull, no
# export, untagged manifests removed after two weeks. Registry names are
# global and alphanumeric: the cluster's, without its hyphens.

resource "azurerm_container_registry" "platform" {
  name                = "${replace(local.name, "-", "")}platform"
  resource_group_name = azurerm_resource_group.this.name
  location            = local.region
  sku                 = "Premium"

  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = false
  export_policy_enabled         = false
  # Microsoft Defender for Containers scans the images as a trusted
  # service.
  network_rule_bypass_option = "AzureServices"
  zone_redundancy_enabled    = true
  data_endpoint_enabled      = true
  retention_policy_in_days   = 14

  # checkov:skip=CKV_AZURE_164:Docker Content Trust (Notary v1) is deprecated in Azure Container Registry; the registry holds the client's pipeline images only (README.md, Exceptions).
  # checkov:skip=CKV_AZURE_165:The registry serves this region's cluster; a replica in another region is the client's choice (README.md, Exceptions).
  # checkov:skip=CKV_AZURE_166:Quarantine withholds every pushed image until a scanner releases it, and no scanner is wired to release them: the nodes could never pull (README.md, Exceptions).

  tags = local.tags
}

# <registry>.azurecr.io and its regional data endpoint answer at this
# endpoint's addresses, where the nodes pull and the runners push.
resource "azurerm_private_endpoint" "registry" {
  name                = "${local.name}-registry"
  resource_group_name = azurerm_resource_group.this.name
  location            = local.region
  subnet_id           = azurerm_subnet.private_endpoints.id

  private_service_connection {
    name                           = "registry"
    private_connection_resource_id = azurerm_container_registry.platform.id
    subresource_names              = ["registry"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "registry"
    private_dns_zone_ids = [azurerm_private_dns_zone.private_link["registry"].id]
  }

  tags = local.tags
}

# The nodes (the kubelet's identity AKS creates) pull from this registry,
# and from no other of the subscription.
resource "azurerm_role_assignment" "nodes_pull" {
  scope                = azurerm_container_registry.platform.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  principal_type       = "ServicePrincipal"
}
