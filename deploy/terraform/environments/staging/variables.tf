variable "service_name" {
  description = "Public Cloud project id (32 hexadecimal characters); a separate project from production's keeps staging's mistakes away from it."
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

variable "managed_database" {
  description = "Create an OVH managed MySQL (essential, one node) and a DatabasePool on it; false (default): run MariaDB in the cluster (README)."
  type        = bool
  default     = false
}
