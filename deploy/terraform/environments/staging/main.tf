# Staging: the free control plane with patches as soon as OVH ships them (staging meets them before
# production), small pools, short-lived old backup versions, no object lock, and by default no managed
# database.

module "platform" {
  source = "../../modules/platform"

  service_name = var.service_name
  name         = "mms-staging"
  region       = var.region

  network = {
    vlan_id = 101
    cidr    = "10.30.0.0/16"
  }

  cluster = {
    kubernetes_version = "1.35"
    plan               = "free"
    update_policy      = "ALWAYS_UPDATE"
  }

  pools = {
    system = {
      role      = "system"
      flavor    = "b3-8"
      min_nodes = 1
      max_nodes = 2
    }
    tenants = {
      role      = "tenant"
      flavor    = "b3-16"
      min_nodes = 1
      max_nodes = 5
    }
  }

  backup = {
    bucket                  = var.backup_bucket
    noncurrent_version_days = 7
  }

  database = {
    enabled  = var.managed_database
    plan     = "essential"
    flavor   = "db1-4"
    capacity = 50
    # Staging's database may be thrown away with the environment.
    deletion_protection = false
  }

  chart = {
    ovh_endpoint   = var.ovh_endpoint
    cluster_issuer = "letsencrypt-staging"
  }
}
