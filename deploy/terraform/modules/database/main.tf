# An OVH Cloud Databases MySQL service on the private network, reachable only from the private subnet,
# with the account the platform uses to create each tenant's database and user (the DatabasePool).

locals {
  # OVH's MySQL plans have a fixed number of nodes, all in the same region and network.
  node_count = { essential = 1, business = 2, enterprise = 3 }[var.plan]

  # Cloud Databases name regions without the compute region's number: GRA11 -> GRA, US-EAST-VA-1 -> US-EAST-VA.
  region = replace(var.network.region, "/-?[0-9]+$/", "")

  mysql_endpoint = one([for e in ovh_cloud_project_database.this.endpoints : e if e.component == "mysql"])
}

resource "ovh_cloud_project_database" "this" {
  service_name        = var.service_name
  engine              = "mysql"
  version             = var.mysql_version
  plan                = var.plan
  flavor              = var.flavor
  disk_size           = var.disk_size
  deletion_protection = var.deletion_protection
  # null when empty: OVH then keeps its defaults and Terraform does not fight the values it reports.
  advanced_configuration = length(var.advanced_configuration) > 0 ? var.advanced_configuration : null

  dynamic "nodes" {
    for_each = range(local.node_count)
    content {
      region     = local.region
      network_id = var.network.regional_network_id
      subnet_id  = var.network.subnet_id
    }
  }

  dynamic "ip_restrictions" {
    for_each = toset(var.allowed_cidrs != null ? var.allowed_cidrs : [var.network.cidr])
    content {
      ip = ip_restrictions.value
    }
  }
}

resource "ovh_cloud_project_database_user" "admin" {
  service_name = var.service_name
  engine       = "mysql"
  cluster_id   = ovh_cloud_project_database.this.id
  name         = var.admin_username
}
