output "id" {
  description = "Id of the database service."
  value       = ovh_cloud_project_database.this.id
}

output "host" {
  description = "Host name of the MySQL endpoint (resolves to the private network address)."
  value       = local.mysql_endpoint.domain
}

output "port" {
  description = "Port of the MySQL endpoint."
  value       = local.mysql_endpoint.port
}

output "username" {
  description = "The platform's admin account."
  value       = ovh_cloud_project_database_user.admin.name
}

output "password" {
  description = "Password of the platform's admin account."
  value       = ovh_cloud_project_database_user.admin.password
  sensitive   = true
}

output "node_count" {
  description = "Number of database nodes the plan runs."
  value       = local.node_count
}
