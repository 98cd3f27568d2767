variable "service_name" {
  description = "Public Cloud project id (the platform module checks its form)."
  type        = string
}

variable "name" {
  description = "Name of the private network and prefix of its gateway's name."
  type        = string
}

variable "region" {
  description = "OVH Public Cloud region the network, its subnet and gateway live in, written as OVH writes it (GRA11, SBG5, BHS5, DE1, UK1, WAW1, EU-WEST-PAR...)."
  type        = string

  validation {
    condition     = can(regex("^([A-Z]{2,4}[0-9]{1,2}|[A-Z]{2}-[A-Z]+-[A-Z]+(-[0-9]+)?)$", var.region))
    error_message = "The region must be an OVH Public Cloud region in upper case, such as GRA11, SBG5, DE1 or EU-WEST-PAR (an Object Storage region such as GRA is not a compute region)."
  }
}

variable "vlan_id" {
  description = "vRack VLAN id of the private network. 0 is the untagged VLAN, of which a project has only one."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.vlan_id >= 0 && var.vlan_id <= 4000 && floor(var.vlan_id) == var.vlan_id
    error_message = "The vlan_id must be a whole number from 0 to 4000 (OVH's vRack VLAN range)."
  }
}

variable "cidr" {
  description = "IPv4 range of the subnet (RFC 1918, /16 to /26). The nodes, the gateway and the managed database take their addresses from it."
  type        = string
  default     = "10.20.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.cidr))
    error_message = "The cidr must be an IPv4 range in CIDR notation, e.g. 10.20.0.0/16."
  }

  # The rules below hold for a malformed range (try(..., true)): the rule above alone reports it.
  validation {
    condition     = try(cidrhost(var.cidr, 0) == split("/", var.cidr)[0], true)
    error_message = "The cidr must start at its network address (e.g. 10.20.0.0/16, not 10.20.1.5/16)."
  }

  validation {
    condition     = try(tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 26, true)
    error_message = "The cidr must be a /16 to /26: a /27 or longer leaves too few addresses for the nodes, the load balancers and the database, and a range wider than /16 is more than one subnet needs."
  }

  # Inside one of the RFC 1918 ranges: the subnet is never routed to the internet.
  validation {
    condition = try(anytrue([
      for range in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] :
      tonumber(split("/", var.cidr)[1]) >= tonumber(split("/", range)[1]) &&
      cidrhost("${split("/", var.cidr)[0]}/${split("/", range)[1]}", 0) == cidrhost(range, 0)
    ]), true)
    error_message = "The cidr must be a private range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)."
  }

  # OVH Managed Kubernetes uses these ranges inside every cluster (pods, services, the container
  # runtime's bridge); a vRack subnet overlapping them breaks routing on the nodes.
  validation {
    condition = try(alltrue([
      for reserved in ["10.2.0.0/16", "10.3.0.0/16", "172.17.0.0/16"] :
      cidrhost("${split("/", var.cidr)[0]}/${min(tonumber(split("/", var.cidr)[1]), 16)}", 0) != cidrhost("${split("/", reserved)[0]}/${min(tonumber(split("/", var.cidr)[1]), 16)}", 0)
    ]), true)
    error_message = "The cidr must not overlap 10.2.0.0/16, 10.3.0.0/16 or 172.17.0.0/16, which OVH Managed Kubernetes uses for pods, services and the container runtime; choose e.g. 10.20.0.0/16."
  }
}

variable "gateway_model" {
  description = "Size of the OVH managed gateway that gives the private network its outbound internet access: s, m or l."
  type        = string
  default     = "s"
  nullable    = false

  validation {
    condition     = contains(["s", "m", "l"], var.gateway_model)
    error_message = "The gateway_model must be s, m or l."
  }
}
