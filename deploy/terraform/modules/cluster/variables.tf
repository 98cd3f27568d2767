variable "service_name" {
  description = "Public Cloud project id (the platform module checks its form)."
  type        = string
}

variable "name" {
  description = "Name of the Managed Kubernetes cluster."
  type        = string
}

variable "network" {
  description = "The private network the nodes attach to: the network module's outputs (region, regional_network_id, subnet_id). The cluster is created in the network's region; changing the network resets the cluster, deleting everything in it."
  type = object({
    region              = string
    regional_network_id = string
    subnet_id           = string
  })
}

variable "kubernetes_version" {
  description = "Kubernetes minor version, among those OVH Managed Kubernetes offers: 1.33, 1.34 or 1.35. Raising it upgrades the cluster in place; OVH cannot downgrade."
  type        = string
  default     = "1.34"
  nullable    = false

  validation {
    condition     = contains(["1.33", "1.34", "1.35"], var.kubernetes_version)
    error_message = "The kubernetes_version must be 1.33, 1.34 or 1.35, the minor versions OVH Managed Kubernetes offers (write the minor version only, e.g. 1.34)."
  }
}

variable "plan" {
  description = "OVH Managed Kubernetes plan: free (one control plane in one zone) or standard (the plan with an SLA; required for 3-AZ regions such as EU-WEST-PAR)."
  type        = string
  default     = "free"
  nullable    = false

  validation {
    condition     = contains(["free", "standard"], var.plan)
    error_message = "The plan must be free or standard."
  }
}

variable "update_policy" {
  description = "How OVH applies security patches and Kubernetes patch releases: ALWAYS_UPDATE (as soon as they are out), MINIMAL_DOWNTIME (only when no node needs a reboot) or NEVER_UPDATE (only when you ask)."
  type        = string
  default     = "MINIMAL_DOWNTIME"
  nullable    = false

  validation {
    condition     = contains(["ALWAYS_UPDATE", "MINIMAL_DOWNTIME", "NEVER_UPDATE"], var.update_policy)
    error_message = "The update_policy must be ALWAYS_UPDATE, MINIMAL_DOWNTIME or NEVER_UPDATE."
  }
}

variable "load_balancers_subnet_id" {
  description = "Id of the subnet OVH places the public load balancers' private side in (e.g. the ingress controller's); null: the nodes' subnet."
  type        = string
  default     = null
}

variable "route_through_private_network" {
  description = "Send the nodes' outbound traffic through the private network's gateway (the address the subnet's DHCP advertises) rather than their public interface."
  type        = bool
  default     = true
  nullable    = false
}

variable "admission_plugins" {
  description = <<-EOT
    API server admission plugins to switch on or off. OVH lets only two be changed: NodeRestriction can be
    enabled, AlwaysPullImages enabled or disabled; every other plugin is fixed by OVH. null: leave OVH's
    default (both enabled). enabled defaults to [NodeRestriction] when the object is given.
  EOT
  type = object({
    enabled  = optional(list(string), ["NodeRestriction"])
    disabled = optional(list(string), [])
  })
  default = null

  validation {
    condition = var.admission_plugins == null || (
      alltrue([for p in try(var.admission_plugins.enabled, []) : contains(["NodeRestriction", "AlwaysPullImages"], p)]) &&
      alltrue([for p in try(var.admission_plugins.disabled, []) : p == "AlwaysPullImages"])
    )
    error_message = "OVH allows only NodeRestriction and AlwaysPullImages in admission_plugins.enabled, and only AlwaysPullImages in admission_plugins.disabled."
  }

  validation {
    condition = var.admission_plugins == null || length(setintersection(
      toset(try(var.admission_plugins.enabled, [])), toset(try(var.admission_plugins.disabled, []))
    )) == 0
    error_message = "An admission plugin cannot be both enabled and disabled: remove it from one of the two lists."
  }
}

variable "api_allowed_cidrs" {
  description = "IPv4 ranges allowed to reach the Kubernetes API (e.g. the office and the CI runners). Empty: OVH's default, any address."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "Every entry of api_allowed_cidrs must be an IPv4 range in CIDR notation, e.g. 203.0.113.0/24."
  }
}
