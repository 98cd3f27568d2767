# Production: the standard (SLA) control plane, a system pool spread over separate hypervisors, an
# autoscaled tenant pool, a business (two-node) managed MySQL, and backups under object lock.

module "platform" {
  source = "../../modules/platform"

  service_name = var.service_name
  name         = "mms-production"
  region       = var.region

  network = {
    vlan_id = 100
    cidr    = "10.20.0.0/16"
  }

  cluster = {
    kubernetes_version = "1.34"
    plan               = "standard"
    update_policy      = "MINIMAL_DOWNTIME"
    api_allowed_cidrs  = var.api_allowed_cidrs
  }

  pools = {
    system = {
      role          = "system"
      flavor        = "b3-16"
      min_nodes     = 3
      max_nodes     = 5
      anti_affinity = true
    }
    tenants = {
      role      = "tenant"
      flavor    = "b3-32"
      min_nodes = 3
      max_nodes = 30
    }
  }

  backup = {
    bucket                  = var.backup_bucket
    noncurrent_version_days = 30
    # Governance: a backup cannot be deleted for 14 days with the backup user's key (ransomware, a
    # mistaken retention run); the project's administrators still can.
    object_lock = { mode = "governance", days = 14 }
  }

  database = {
    enabled  = var.managed_database
    plan     = "business"
    flavor   = "db1-15"
    capacity = 200
  }

  chart = {
    ovh_endpoint = var.ovh_endpoint
  }
}
