variable "service_name" {
  description = "Public Cloud project id (32 hexadecimal characters, shown in the OVH control panel under the project's name)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.service_name))
    error_message = "The service_name must be the Public Cloud project id: 32 lower-case hexadecimal characters, e.g. 0123456789abcdef0123456789abcdef."
  }
}

variable "name" {
  description = "Name of this platform: the private network, its gateway and the cluster are named after it (e.g. mms-production)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be 1 to 32 lower-case letters, digits and hyphens, starting and ending with a letter or digit, e.g. mms-production."
  }
}

variable "region" {
  description = "OVH Public Cloud region of the network, the cluster and the database, as OVH writes it (GRA11, SBG5, DE1, EU-WEST-PAR...)."
  type        = string
}

variable "network" {
  description = "Private network settings; see the network module. Unset attributes take its defaults."
  type = object({
    vlan_id       = optional(number)
    cidr          = optional(string)
    gateway_model = optional(string)
  })
  default  = {}
  nullable = false
}

variable "cluster" {
  description = "Cluster settings; see the cluster module. Unset attributes take its defaults."
  type = object({
    kubernetes_version = optional(string)
    plan               = optional(string)
    update_policy      = optional(string)
    admission_plugins  = optional(object({ enabled = optional(list(string)), disabled = optional(list(string)) }))
    api_allowed_cidrs  = optional(list(string))
  })
  default  = {}
  nullable = false
}

variable "pools" {
  description = "Node pools by name, as the node-pools module takes them: exactly one with role system, one or more with role tenant."
  type        = any
}

variable "backup" {
  description = "The backup bucket: name, Object Storage region (default: the compute region without its number, GRA for GRA11), key prefix inside the bucket, and the backup-storage module's versioning and object lock settings."
  type = object({
    bucket                  = string
    region                  = optional(string)
    prefix                  = optional(string, "")
    noncurrent_version_days = optional(number)
    object_lock             = optional(object({ mode = string, days = number }))
  })

  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+/)*$", var.backup.prefix))
    error_message = "The backup.prefix must be empty or path segments each ending in '/', e.g. production/."
  }
}

variable "database" {
  description = "The optional OVH managed MySQL the platform places tenants on (a DatabasePool); see the database module. enabled = false: no managed database (run MariaDB in the cluster instead: see the README)."
  type = object({
    enabled             = optional(bool, false)
    plan                = optional(string)
    flavor              = optional(string)
    disk_size           = optional(number)
    deletion_protection = optional(bool)
    capacity            = optional(number, 200)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.database.capacity >= 1 && var.database.capacity <= 100000 && floor(var.database.capacity) == var.database.capacity
    error_message = "The database.capacity (how many tenants the pool may hold) must be a whole number from 1 to 100000."
  }
}

variable "chart" {
  description = "What the chart values in the platform output need from outside Terraform: the OVH API endpoint the node doctor calls (ovh-eu, ovh-ca, ovh-us) and cert-manager's ClusterIssuer for the tenants' certificates."
  type = object({
    ovh_endpoint   = optional(string, "ovh-eu")
    cluster_issuer = optional(string, "letsencrypt-prod")
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["ovh-eu", "ovh-ca", "ovh-us"], var.chart.ovh_endpoint)
    error_message = "The chart.ovh_endpoint must be ovh-eu, ovh-ca or ovh-us: the OVH API the node doctor calls."
  }

  validation {
    condition     = length(var.chart.cluster_issuer) > 0
    error_message = "The chart.cluster_issuer must name cert-manager's ClusterIssuer, e.g. letsencrypt-prod."
  }
}
