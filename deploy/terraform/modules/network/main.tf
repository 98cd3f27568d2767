# The vRack private network the cluster's nodes and the managed database share, its subnet, and the OVH
# managed gateway through which the nodes reach the internet without public addresses of their own.

resource "ovh_cloud_project_network_private" "this" {
  service_name = var.service_name
  name         = var.name
  vlan_id      = var.vlan_id
  regions      = [var.region]
}

resource "ovh_cloud_project_network_private_subnet" "this" {
  service_name = var.service_name
  network_id   = ovh_cloud_project_network_private.this.id
  region       = var.region
  network      = var.cidr
  # The first host address is the gateway's; the DHCP pool takes everything after it but the broadcast
  # address's neighbour, so nodes and the database never collide with the gateway.
  start      = cidrhost(var.cidr, 2)
  end        = cidrhost(var.cidr, -2)
  dhcp       = true
  no_gateway = false
}

resource "ovh_cloud_project_gateway" "this" {
  service_name = var.service_name
  name         = "${var.name}-gateway"
  model        = var.gateway_model
  region       = var.region
  # The gateway, the cluster and the database want the network's id in the region (OpenStack's id),
  # not the project-wide vRack id (pn-...).
  network_id = ovh_cloud_project_network_private.this.regions_openstack_ids[var.region]
  subnet_id  = ovh_cloud_project_network_private_subnet.this.id
}
