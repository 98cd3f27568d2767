variable "service_name" {
  description = "Public Cloud project id (the platform module checks its form)."
  type        = string
}

variable "region" {
  description = "OVH Object Storage region of the bucket, as OVH writes it: GRA, SBG, BHS, DE, UK, WAW, RBX, EU-WEST-PAR... (not a compute region such as GRA11)."
  type        = string

  validation {
    condition     = can(regex("^([A-Z]{2,4}|[A-Z]{2}-[A-Z]+-[A-Z]+)$", var.region))
    error_message = "The region must be an OVH Object Storage region in upper case, such as GRA, SBG, DE or EU-WEST-PAR (GRA11 is a compute region: its Object Storage region is GRA)."
  }
}

variable "bucket" {
  description = "Name of the bucket. Bucket names are shared by every OVH customer of a region: include your company's name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket)) && !can(regex("\\.\\.|^[0-9.]+$", var.bucket))
    error_message = "The bucket must be 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit, without '..' and not shaped like an IP address."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted backup object is kept as an old version (the bucket is versioned) before OVH removes it. Backups deleted by mistake or by an attacker with the S3 key can be restored within this window."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "The noncurrent_version_days must be a whole number of days from 1 to 3650."
  }
}

variable "object_lock" {
  description = <<-EOT
    Object lock (WORM) for every new object: mode governance or compliance, and days of retention. In
    compliance mode nobody, not even the project's administrators, can delete a backup before its days
    are over; the platform's retention then only hides older backups behind delete markers. Can only be
    chosen when the bucket is created. null: no object lock.
  EOT
  type = object({
    mode = string
    days = number
  })
  default = null

  validation {
    condition     = var.object_lock == null || try(contains(["governance", "compliance"], var.object_lock.mode), false)
    error_message = "The object_lock.mode must be governance or compliance (lower case, as the OVH API spells it)."
  }

  validation {
    condition     = var.object_lock == null || try(var.object_lock.days >= 1 && var.object_lock.days <= 3650 && floor(var.object_lock.days) == var.object_lock.days, false)
    error_message = "The object_lock.days must be a whole number of days from 1 to 3650."
  }
}
