output "id" {
  description = "Id of the cluster (what the node doctor's nodeDoctor.ovh.clusterId names)."
  value       = ovh_cloud_project_kube.this.id
}

output "name" {
  description = "Name of the cluster."
  value       = ovh_cloud_project_kube.this.name
}

output "kubernetes_version" {
  description = "Kubernetes minor version asked for."
  value       = var.kubernetes_version
}

output "url" {
  description = "URL of the cluster's API server."
  value       = ovh_cloud_project_kube.this.url
}

output "kubeconfig" {
  description = "Kubeconfig of the cluster's admin user."
  value       = ovh_cloud_project_kube.this.kubeconfig
  sensitive   = true
}
