output "kubeconfig" {
  description = "Kubeconfig of the cluster's admin user."
  value       = module.cluster.kubeconfig
  sensitive   = true
}

output "cluster_id" {
  description = "Id of the Managed Kubernetes cluster."
  value       = module.cluster.id
}

output "s3" {
  description = "Where the backups go: S3 endpoint, region, bucket and the backup user's access key id (its secret is in s3_secret_access_key)."
  value = {
    endpoint      = module.backup_storage.endpoint
    region        = module.backup_storage.region
    bucket        = module.backup_storage.bucket
    access_key_id = module.backup_storage.access_key_id
  }
}

output "s3_secret_access_key" {
  description = "S3 secret key of the backup user."
  value       = module.backup_storage.secret_access_key
  sensitive   = true
}

output "platform" {
  description = "What `mms platform bootstrap --values` reads: the chart's values, the default BackupStore and the managed database's DatabasePool (null without one)."
  value = {
    chart        = local.chart_values
    backupStore  = local.backup_store
    databasePool = local.database_pool
  }
  sensitive = true
}
