# The client's own images (the dbt project's, built by its pipelines), in a
# Premium registry: in three zones, reached at a private endpoint only (the
# pipelines push from inside the network, or from a runner the client
# admits), no admin user, no anonymous pull, no export, untagged manifests
# gone after two weeks. Registry names are global and alphanumeric: the
# cluster's, less its hyphens.

resource "azurerm_container_registry" "dbt" {
  name                = "${replace(local.name, "-", "")}images"
  resource_group_name = azurerm_resource_group.this.name
  location            = local.region
  sku                 = "Premium"

  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = false
  export_policy_enabled         = false
  # Microsoft Defender's image scanning reaches it as a trusted service.
  network_rule_bypass_option = "AzureServices"
  zone_redundancy_enabled    = true
  data_endpoint_enabled      = true
  retention_policy_in_days   = 14

  # checkov:skip=CKV_AZURE_164:Content trust (Docker Notary v1) is deprecated in Azure Container Registry; the client's pipelines push the one image this registry holds (README.md, Exceptions).
  # checkov:skip=CKV_AZURE_165:The registry serves one region's cluster; a replica elsewhere is the client's choice (README.md, Exceptions).
  # checkov:skip=CKV_AZURE_166:Quarantine holds every pushed image until a scanner releases it, and no scanner of the client's is wired to release it: the nodes could never pull (README.md, Exceptions).

  tags = local.tags
}

# registry.azurecr.io and its data endpoint answer at this endpoint's
# addresses, where the nodes pull.
resource "azurerm_private_endpoint" "registry" {
  name                = "${local.name}-registry"
  resource_group_name = azurerm_resource_group.this.name
  location            = local.region
  subnet_id           = azurerm_subnet.private_endpoints.id

  private_service_connection {
    name                           = "registry"
    private_connection_resource_id = azurerm_container_registry.dbt.id
    subresource_names              = ["registry"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "registry"
    private_dns_zone_ids = [azurerm_private_dns_zone.registry.id]
  }

  tags = local.tags
}

# The nodes (their kubelet's identity, which AKS creates) pull the images of
# this registry, and of no other of the subscription.
resource "azurerm_role_assignment" "kubelet_pull" {
  scope                = azurerm_container_registry.dbt.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  principal_type       = "ServicePrincipal"
}
