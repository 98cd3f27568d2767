output "kubeconfig" {
  description = "Kubeconfig of the cluster's admin user: terraform output -raw kubeconfig > kubeconfig."
  value       = module.platform.kubeconfig
  sensitive   = true
}

output "s3" {
  description = "Backup bucket: S3 endpoint, region, bucket and access key id."
  value       = module.platform.s3
}

output "s3_secret_access_key" {
  description = "S3 secret key of the backup user."
  value       = module.platform.s3_secret_access_key
  sensitive   = true
}

output "platform" {
  description = "Input of mms platform bootstrap: terraform output -json platform > platform.json."
  value       = module.platform.platform
  sensitive   = true
}
