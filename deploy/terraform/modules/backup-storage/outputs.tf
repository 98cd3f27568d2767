output "endpoint" {
  description = "S3 endpoint of the bucket's region."
  value       = "https://s3.${lower(var.region)}.io.cloud.ovh.net"
}

output "region" {
  description = "S3 region name (lower case, as S3 clients and the BackupStore want it)."
  value       = lower(var.region)
}

output "bucket" {
  description = "Name of the bucket."
  value       = ovh_cloud_project_storage.this.name
}

output "access_key_id" {
  description = "S3 access key id of the backup user."
  value       = ovh_cloud_project_user_s3_credential.this.access_key_id
}

output "secret_access_key" {
  description = "S3 secret key of the backup user."
  value       = ovh_cloud_project_user_s3_credential.this.secret_access_key
  sensitive   = true
}

output "user_id" {
  description = "Id of the backup user."
  value       = ovh_cloud_project_user.this.id
}

output "policy" {
  description = "The S3 policy (JSON) given to the backup user."
  value       = ovh_cloud_project_user_s3_policy.this.policy
}
