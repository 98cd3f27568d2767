# Checks the backup-storage module against the OVH provider's schema (mock_provider: no OVH API is
# called). The policy's scope is read back from the JSON the module sends to OVH.

mock_provider "ovh" {}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  region       = "GRA"
  bucket       = "example-mms-backups"
}

run "the_backup_user_reaches_only_its_bucket" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(ovh_cloud_project_user_s3_policy.this.policy).Statement : s.Resource
    ])) == toset(["arn:aws:s3:::example-mms-backups", "arn:aws:s3:::example-mms-backups/*"])
    error_message = "The policy's resources must be exactly the bucket and its objects."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(ovh_cloud_project_user_s3_policy.this.policy).Statement : s.Effect == "Allow" && alltrue([
        for r in s.Resource : !strcontains(replace(r, "example-mms-backups/*", ""), "*")
      ])
    ])
    error_message = "No statement may name a wildcard resource beyond the bucket's own objects."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(ovh_cloud_project_user_s3_policy.this.policy).Statement : s.Action
      ])) == toset([
      "s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
      "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ])
    error_message = "The policy must allow listing, reading, writing and deleting backups, and nothing else (no bucket deletion, no policy changes)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(ovh_cloud_project_user_s3_policy.this.policy).Statement :
      alltrue([for a in s.Action : startswith(a, "s3:List") || startswith(a, "s3:GetBucket")]) == alltrue([for r in s.Resource : !endswith(r, "/*")])
    ])
    error_message = "Bucket-level actions must name the bucket, object-level actions its objects."
  }
  assert {
    condition     = ovh_cloud_project_user.this.role_name == "objectstore_operator"
    error_message = "The backup user must have the objectstore_operator role only."
  }
}

run "the_bucket_is_versioned_and_encrypted" {
  command = plan

  assert {
    condition     = ovh_cloud_project_storage.this.region_name == "GRA" && ovh_cloud_project_storage.this.name == "example-mms-backups"
    error_message = "The bucket must be created with the given name and region."
  }
  assert {
    condition     = ovh_cloud_project_storage.this.versioning.status == "enabled" && ovh_cloud_project_storage.this.encryption.sse_algorithm == "AES256"
    error_message = "The bucket must be versioned and encrypted at rest."
  }
  assert {
    condition = (
      ovh_cloud_project_storage_object_bucket_lifecycle_configuration.this.rules[0].noncurrent_version_expiration.noncurrent_days == 30 &&
      ovh_cloud_project_storage_object_bucket_lifecycle_configuration.this.rules[0].status == "enabled"
    )
    error_message = "Old versions must expire after noncurrent_version_days (30 by default)."
  }
}

run "outputs_name_the_s3_endpoint_and_hide_the_secret" {
  command = plan

  variables {
    region = "EU-WEST-PAR"
  }

  assert {
    condition     = output.endpoint == "https://s3.eu-west-par.io.cloud.ovh.net" && output.region == "eu-west-par" && output.bucket == "example-mms-backups"
    error_message = "The endpoint must be https://s3.<region in lower case>.io.cloud.ovh.net, and the region lower case."
  }
  assert {
    condition     = issensitive(output.secret_access_key) && !issensitive(output.endpoint)
    error_message = "The secret key must be a sensitive output."
  }
}

run "object_lock_keeps_backups_for_the_given_days" {
  command = plan

  variables {
    object_lock             = { mode = "compliance", days = 30 }
    noncurrent_version_days = 45
  }

  assert {
    condition = (
      ovh_cloud_project_storage.this.object_lock.status == "enabled" &&
      ovh_cloud_project_storage.this.object_lock.rule.mode == "compliance" &&
      ovh_cloud_project_storage.this.object_lock.rule.period == "P30D"
    )
    error_message = "Object lock must be enabled in compliance mode for 30 days (P30D)."
  }
  assert {
    condition     = ovh_cloud_project_storage_object_bucket_lifecycle_configuration.this.rules[0].noncurrent_version_expiration.noncurrent_days == 45
    error_message = "noncurrent_version_days must reach the lifecycle rule."
  }
}

run "rejects_a_compute_region" {
  command = plan
  variables {
    region = "GRA11"
  }
  expect_failures = [var.region]
}

run "rejects_a_lower_case_region" {
  command = plan
  variables {
    region = "gra"
  }
  expect_failures = [var.region]
}

run "rejects_a_bucket_name_s3_refuses" {
  command = plan
  variables {
    bucket = "Example_Backups"
  }
  expect_failures = [var.bucket]
}

run "rejects_an_upper_case_lock_mode" {
  command = plan
  variables {
    object_lock = { mode = "COMPLIANCE", days = 30 }
  }
  expect_failures = [var.object_lock]
}

run "rejects_a_lock_of_no_days" {
  command = plan
  variables {
    object_lock = { mode = "governance", days = 0 }
  }
  expect_failures = [var.object_lock]
}
