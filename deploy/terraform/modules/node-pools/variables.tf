variable "service_name" {
  description = "Public Cloud project id (the platform module checks its form)."
  type        = string
}

variable "kube_id" {
  description = "Id of the Managed Kubernetes cluster (the cluster module's id output)."
  type        = string
}

variable "pools" {
  description = <<-EOT
    Node pools by name. role "system" (exactly one pool): the platform's pods (operator, node doctor,
    ingress controller), tainted so that nothing else lands there; role "tenant" (one or more): the
    tenants' pods. flavor is an OVH instance flavor (b3-8, b3-16, c3-8, r3-32, d2-8...). With autoscale,
    OVH's cluster autoscaler moves the node count between min_nodes and max_nodes; desired_nodes (default
    min_nodes) is only the count at creation, Terraform leaves it to the autoscaler afterwards.
    anti_affinity puts every node on a different hypervisor (OVH allows it up to 5 nodes).
  EOT
  type = map(object({
    role               = string
    flavor             = string
    min_nodes          = number
    max_nodes          = number
    desired_nodes      = optional(number)
    autoscale          = optional(bool, true)
    anti_affinity      = optional(bool, false)
    monthly_billed     = optional(bool, false)
    availability_zones = optional(list(string))
    labels             = optional(map(string), {})
  }))

  validation {
    condition     = alltrue([for name in keys(var.pools) : can(regex("^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$", name))])
    error_message = "Node pool names must be 1 to 40 lower-case letters, digits and hyphens (OVH refuses '_'), starting and ending with a letter or digit."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : contains(["system", "tenant"], p.role)])
    error_message = "Each node pool's role must be system or tenant."
  }

  validation {
    condition     = length([for p in values(var.pools) : p if p.role == "system"]) == 1 && length([for p in values(var.pools) : p if p.role == "tenant"]) >= 1
    error_message = "The pools must hold exactly one pool with role system and at least one with role tenant."
  }

  # The OVH instance families Managed Kubernetes runs on; a flavor outside this list is most likely a typo
  # (b3-7, B3-8) or a family (GPU, bare metal) the platform was not sized for.
  validation {
    condition = alltrue([for p in values(var.pools) : can(regex(
      "^(b2-(7|15|30|60|120)|b3-(8|16|32|64|128|256)|c2-(7|15|30|60|120)|c3-(4|8|16|32|64|128)|r2-(15|30|60|120|240)|r3-(16|32|64|128|256|512)|d2-(4|8))$",
      p.flavor
    ))])
    error_message = "Each node pool's flavor must be an OVH instance flavor Managed Kubernetes offers, in lower case: b3-8 to b3-256, c3-4 to c3-128, r3-16 to r3-512, b2-7 to b2-120, c2-7 to c2-120, r2-15 to r2-240, d2-4 or d2-8."
  }

  validation {
    condition = alltrue([for p in values(var.pools) :
      floor(p.min_nodes) == p.min_nodes && floor(p.max_nodes) == p.max_nodes && p.min_nodes >= 0 && p.max_nodes >= 1 && p.max_nodes <= 100
    ])
    error_message = "Each node pool needs whole numbers with 0 <= min_nodes and 1 <= max_nodes <= 100 (OVH's limit per pool)."
  }

  validation {
    condition = alltrue([for p in values(var.pools) :
      p.min_nodes <= coalesce(p.desired_nodes, p.min_nodes) && coalesce(p.desired_nodes, p.min_nodes) <= p.max_nodes
    ])
    error_message = "Each node pool needs min_nodes <= desired_nodes <= max_nodes (desired_nodes defaults to min_nodes)."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : !p.anti_affinity || p.max_nodes <= 5])
    error_message = "A node pool with anti_affinity can hold at most 5 nodes (OVH's limit): lower max_nodes to 5 or turn anti_affinity off."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.role != "system" || p.min_nodes >= 1])
    error_message = "The system pool needs min_nodes >= 1: the operator and the ingress controller run only there."
  }
}
