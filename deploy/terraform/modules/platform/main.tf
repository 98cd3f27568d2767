# One platform on OVH: the private network, the Managed Kubernetes cluster on it, its node pools, the
# backup bucket and, optionally, a managed MySQL. Each environment's root calls this module with its own
# sizes, so the way the pieces fit together is written once.

module "network" {
  source = "../network"

  service_name  = var.service_name
  name          = var.name
  region        = var.region
  vlan_id       = var.network.vlan_id
  cidr          = var.network.cidr
  gateway_model = var.network.gateway_model
}

module "cluster" {
  source = "../cluster"

  service_name       = var.service_name
  name               = var.name
  network            = module.network
  kubernetes_version = var.cluster.kubernetes_version
  plan               = var.cluster.plan
  update_policy      = var.cluster.update_policy
  admission_plugins  = var.cluster.admission_plugins
  api_allowed_cidrs  = var.cluster.api_allowed_cidrs

  # The nodes route their outbound traffic through the gateway: it must exist before the cluster.
  depends_on = [module.network]
}

module "node_pools" {
  source = "../node-pools"

  service_name = var.service_name
  kube_id      = module.cluster.id
  pools        = var.pools
}

module "backup_storage" {
  source = "../backup-storage"

  service_name            = var.service_name
  region                  = coalesce(var.backup.region, replace(var.region, "/-?[0-9]+$/", ""))
  bucket                  = var.backup.bucket
  noncurrent_version_days = var.backup.noncurrent_version_days
  object_lock             = var.backup.object_lock
}

module "database" {
  source = "../database"
  count  = var.database.enabled ? 1 : 0

  service_name        = var.service_name
  network             = module.network
  plan                = var.database.plan
  flavor              = var.database.flavor
  disk_size           = var.database.disk_size
  deletion_protection = var.database.deletion_protection
}

locals {
  # Values for deploy/charts/matomo-multiscale, over its values.yaml: the platform's pods on the system
  # pool, the node doctor pointed at this cluster, Traefik behind an OVH load balancer, tenants'
  # certificates from cert-manager.
  on_system_pool = {
    nodeSelector = module.node_pools.system_node_selector
    tolerations  = module.node_pools.system_tolerations
  }
  chart_values = {
    tenants = {
      tls = { mode = "cert-manager", clusterIssuer = var.chart.cluster_issuer }
    }
    operator = local.on_system_pool
    nodeDoctor = merge(local.on_system_pool, {
      enabled = true
      ovh = {
        endpoint          = var.chart.ovh_endpoint
        projectId         = var.service_name
        clusterId         = module.cluster.id
        credentialsSecret = "ovh-api"
      }
    })
    ingressController = merge(local.on_system_pool, {
      enabled = true
      service = { type = "LoadBalancer" }
    })
    # OVH's managed MySQL listens on a port of its own (not 3306): the platform's pods must be let out to
    # it. Helm replaces lists, so the chart's default extra port (8443) is repeated here.
    networkPolicies = {
      egress = { extraPorts = concat([8443], var.database.enabled ? [module.database[0].port] : []) }
    }
  }

  backup_store = {
    name            = "default"
    endpoint        = module.backup_storage.endpoint
    region          = module.backup_storage.region
    bucket          = module.backup_storage.bucket
    prefix          = var.backup.prefix
    accessKeyId     = module.backup_storage.access_key_id
    secretAccessKey = module.backup_storage.secret_access_key
  }

  database_pool = var.database.enabled ? {
    name     = "pool-1"
    host     = module.database[0].host
    port     = module.database[0].port
    username = module.database[0].username
    password = module.database[0].password
    capacity = var.database.capacity
  } : null
}
