variable "service_name" {
  description = "Public Cloud project id (the platform module checks its form)."
  type        = string
}

variable "network" {
  description = "The private network the database joins: the network module's outputs (region, regional_network_id, subnet_id, cidr). The database runs in the network's region without its number (GRA for GRA11)."
  type = object({
    region              = string
    regional_network_id = string
    subnet_id           = string
    cidr                = string
  })
}

variable "allowed_cidrs" {
  description = "IPv4 ranges that may connect to the database. null: the private subnet's range only, so that only the cluster's nodes reach it."
  type        = list(string)
  default     = null

  validation {
    condition     = var.allowed_cidrs == null || try(length(var.allowed_cidrs) >= 1, false)
    error_message = "The allowed_cidrs must name at least one range, or be null for the private subnet's: with an empty list OVH lets no client connect."
  }

  validation {
    condition     = var.allowed_cidrs == null || try(alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c)) && c != "0.0.0.0/0"]), false)
    error_message = "Every entry of allowed_cidrs must be an IPv4 range in CIDR notation, e.g. 10.20.0.0/16, and not 0.0.0.0/0."
  }
}

variable "plan" {
  description = "OVH Cloud Databases plan for MySQL: essential (one node), business (two nodes, automatic failover) or enterprise (three nodes)."
  type        = string
  default     = "business"
  nullable    = false

  validation {
    condition     = contains(["essential", "business", "enterprise"], var.plan)
    error_message = "The plan must be essential, business or enterprise (OVH's MySQL plans)."
  }
}

variable "flavor" {
  description = "OVH Cloud Databases node flavor, e.g. db1-7, db1-15, b3-8 (see the OVH Public Cloud price list for MySQL)."
  type        = string
  default     = "db1-7"
  nullable    = false

  validation {
    condition     = can(regex("^(db1|db2|b3|c3|r3)-[0-9]{1,3}$", var.flavor))
    error_message = "The flavor must be an OVH Cloud Databases flavor in lower case, such as db1-7, db1-15 or b3-16."
  }
}

variable "mysql_version" {
  description = "MySQL major version OVH runs (8)."
  type        = string
  default     = "8"
  nullable    = false

  validation {
    condition     = can(regex("^8(\\.[0-9]+)?$", var.mysql_version))
    error_message = "The mysql_version must be 8 (or 8.x): the MySQL major version OVH Cloud Databases offers and Matomo supports."
  }
}

variable "disk_size" {
  description = "Disk size in GB; null: the flavor's included size."
  type        = number
  default     = null

  validation {
    condition     = var.disk_size == null || try(var.disk_size >= 10 && floor(var.disk_size) == var.disk_size, false)
    error_message = "The disk_size must be a whole number of GB, at least 10, or null for the flavor's included size."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the service (turn off and apply before destroying it on purpose)."
  type        = bool
  default     = true
  nullable    = false
}

variable "admin_username" {
  description = "The account the platform creates tenants' databases and users with (the DatabasePool's admin account)."
  type        = string
  default     = "mms-admin"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_-]{0,31}$", var.admin_username)) && var.admin_username != "avnadmin"
    error_message = "The admin_username must be 1 to 32 lower-case letters, digits, '_' and '-', starting with a letter, and not OVH's own avnadmin."
  }
}

variable "advanced_configuration" {
  description = "OVH advanced configuration keys for MySQL (e.g. mysql.sql_mode); empty: OVH's defaults."
  type        = map(string)
  default     = {}
  nullable    = false
}
