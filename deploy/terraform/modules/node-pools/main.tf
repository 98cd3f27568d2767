# The cluster's node pools: one system pool for the platform and tenant pools for the tenants. Nodes carry
# the label matomo-multiscale.io/pool=<role>; the system pool is also tainted with it, so only pods that
# tolerate the taint (the platform's, through the chart values in the platform output) run there.

locals {
  pool_label = "matomo-multiscale.io/pool"
}

resource "ovh_cloud_project_kube_nodepool" "this" {
  for_each = var.pools

  service_name       = var.service_name
  kube_id            = var.kube_id
  name               = each.key
  flavor_name        = each.value.flavor
  autoscale          = each.value.autoscale
  min_nodes          = each.value.min_nodes
  max_nodes          = each.value.max_nodes
  desired_nodes      = coalesce(each.value.desired_nodes, each.value.min_nodes)
  anti_affinity      = each.value.anti_affinity
  monthly_billed     = each.value.monthly_billed
  availability_zones = each.value.availability_zones

  template {
    metadata {
      labels      = merge(each.value.labels, { (local.pool_label) = each.value.role })
      annotations = {}
      finalizers  = []
    }
    spec {
      unschedulable = false
      taints = each.value.role == "system" ? [
        { key = local.pool_label, value = "system", effect = "NoSchedule" }
      ] : []
    }
  }

  lifecycle {
    # The cluster autoscaler owns the node count once the pool exists; without this every plan would
    # try to put it back to the count at creation.
    ignore_changes = [desired_nodes]
  }
}
