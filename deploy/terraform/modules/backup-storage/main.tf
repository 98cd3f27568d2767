# The bucket the platform's backups go to, and a user that can reach this bucket and nothing else: the
# BackupStore's credentials. OVH gives a new user's S3 key access to every bucket of the project until a
# policy says otherwise, so the policy below is what keeps a leaked key from reading other buckets.

locals {
  bucket_arn = "arn:aws:s3:::${var.bucket}"

  # Bucket-level and object-level actions in separate statements, each on its own resource, so that
  # neither grants more than the platform's backup, restore and retention code calls.
  policy = {
    Statement = [
      {
        Sid      = "ListTheBackupBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
        Resource = [local.bucket_arn]
      },
      {
        Sid      = "ReadWriteTheBackups"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        Resource = ["${local.bucket_arn}/*"]
      },
    ]
  }
}

resource "ovh_cloud_project_storage" "this" {
  service_name = var.service_name
  region_name  = var.region
  name         = var.bucket

  versioning = {
    status = "enabled"
  }

  encryption = {
    sse_algorithm = "AES256"
  }

  object_lock = var.object_lock == null ? null : {
    status = "enabled"
    rule = {
      mode   = var.object_lock.mode
      period = "P${var.object_lock.days}D"
    }
  }
}

# Versioning keeps every overwritten or deleted object; this removes the old versions after a while so
# storage does not grow for ever, and clears uploads a crashed backup left half done.
resource "ovh_cloud_project_storage_object_bucket_lifecycle_configuration" "this" {
  service_name   = var.service_name
  region_name    = var.region
  container_name = ovh_cloud_project_storage.this.name

  rules = [
    {
      id     = "expire-old-versions"
      status = "enabled"
      noncurrent_version_expiration = {
        noncurrent_days = var.noncurrent_version_days
      }
      expiration = {
        expired_object_delete_marker = true
      }
      abort_incomplete_multipart_upload = {
        days_after_initiation = 7
      }
    },
  ]
}

resource "ovh_cloud_project_user" "this" {
  service_name = var.service_name
  role_name    = "objectstore_operator"
}

resource "ovh_cloud_project_user_s3_credential" "this" {
  service_name = var.service_name
  user_id      = ovh_cloud_project_user.this.id
}

resource "ovh_cloud_project_user_s3_policy" "this" {
  service_name = var.service_name
  user_id      = ovh_cloud_project_user.this.id
  policy       = jsonencode(local.policy)
}
