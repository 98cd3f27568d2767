output "network_id" {
  description = "Project-wide id of the vRack private network (pn-...)."
  value       = ovh_cloud_project_network_private.this.id
}

output "regional_network_id" {
  description = "Id of the private network in the region (OpenStack's id): what the cluster and the database attach to."
  value       = ovh_cloud_project_network_private.this.regions_openstack_ids[var.region]
}

output "subnet_id" {
  description = "Id of the subnet the nodes and the database take their addresses from."
  value       = ovh_cloud_project_network_private_subnet.this.id
}

output "cidr" {
  description = "IPv4 range of the subnet."
  value       = var.cidr
}

output "gateway_id" {
  description = "Id of the managed gateway."
  value       = ovh_cloud_project_gateway.this.id
}

output "region" {
  description = "Region of the network."
  value       = var.region
}
