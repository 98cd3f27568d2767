# The OVH Managed Kubernetes cluster, attached to the vRack private network so that its nodes reach the
# managed database without leaving it.

resource "ovh_cloud_project_kube" "this" {
  service_name  = var.service_name
  name          = var.name
  region        = var.network.region
  version       = var.kubernetes_version
  plan          = var.plan
  update_policy = var.update_policy

  private_network_id       = var.network.regional_network_id
  nodes_subnet_id          = var.network.subnet_id
  load_balancers_subnet_id = coalesce(var.load_balancers_subnet_id, var.network.subnet_id)

  private_network_configuration {
    # Empty: the gateway the subnet's DHCP hands out, i.e. the network module's managed gateway.
    default_vrack_gateway              = ""
    private_network_routing_as_default = var.route_through_private_network
  }

  dynamic "customization_apiserver" {
    for_each = var.admission_plugins == null ? [] : [var.admission_plugins]
    content {
      admissionplugins {
        enabled  = customization_apiserver.value.enabled
        disabled = customization_apiserver.value.disabled
      }
    }
  }
}

resource "ovh_cloud_project_kube_iprestrictions" "this" {
  count = length(var.api_allowed_cidrs) > 0 ? 1 : 0

  service_name = var.service_name
  kube_id      = ovh_cloud_project_kube.this.id
  ips          = toset(var.api_allowed_cidrs)
}
