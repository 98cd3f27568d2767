variable "service_name" {
  description = "Public Cloud project id (32 hexadecimal characters)."
  type        = string
}

variable "region" {
  description = "OVH Public Cloud region of the network, the cluster and the database."
  type        = string
  default     = "GRA11"
}

variable "ovh_endpoint" {
  description = "OVH API endpoint of the account: ovh-eu, ovh-ca or ovh-us."
  type        = string
  default     = "ovh-eu"
}

variable "backup_bucket" {
  description = "Name of the backup bucket (shared by every OVH customer of the region: include your company's name)."
  type        = string
}

variable "api_allowed_cidrs" {
  description = "IPv4 ranges allowed to reach the Kubernetes API (offices, CI runners); empty: any address."
  type        = list(string)
  default     = []
}

variable "managed_database" {
  description = "Create an OVH managed MySQL and a DatabasePool on it; false: run MariaDB in the cluster (README)."
  type        = bool
  default     = true
}
