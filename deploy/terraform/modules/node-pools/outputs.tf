output "pool_ids" {
  description = "Node pool ids by name."
  value       = { for name, pool in ovh_cloud_project_kube_nodepool.this : name => pool.id }
}

output "system_pool_name" {
  description = "Name of the system pool."
  value       = one([for name, p in var.pools : name if p.role == "system"])
}

output "tenant_pool_names" {
  description = "Names of the tenant pools."
  value       = sort([for name, p in var.pools : name if p.role == "tenant"])
}

output "system_node_selector" {
  description = "nodeSelector that puts a pod on the system pool."
  value       = { (local.pool_label) = "system" }
}

output "system_tolerations" {
  description = "Tolerations a pod needs to run on the system pool (Kubernetes' toleration shape)."
  value       = [{ key = local.pool_label, operator = "Equal", value = "system", effect = "NoSchedule" }]
}
