# Checks the network module against the OVH provider's schema (mock_provider: no OVH API is called).

mock_provider "ovh" {
  # OVH reports the network's id in each of its regions once it exists; OpenTofu's mocks fill computed
  # values during plan too, so the module's lookup of its region needs an entry here.
  mock_resource "ovh_cloud_project_network_private" {
    defaults = {
      regions_openstack_ids = { "GRA11" = "net-gra11", "EU-WEST-PAR" = "net-eu-west-par" }
    }
  }
}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  name         = "mms-test"
  region       = "GRA11"
}

run "the_dhcp_pool_leaves_the_gateway_address_free" {
  command = plan

  assert {
    condition     = ovh_cloud_project_network_private_subnet.this.network == "10.20.0.0/16"
    error_message = "The subnet must use the default range 10.20.0.0/16."
  }
  assert {
    condition     = ovh_cloud_project_network_private_subnet.this.start == "10.20.0.2" && ovh_cloud_project_network_private_subnet.this.end == "10.20.255.254"
    error_message = "The DHCP pool must run from the third address to the one before broadcast, leaving .1 to the gateway."
  }
  assert {
    condition     = ovh_cloud_project_network_private_subnet.this.dhcp && !ovh_cloud_project_network_private_subnet.this.no_gateway
    error_message = "The subnet must hand out addresses and a gateway: the nodes route through it."
  }
}

run "network_and_gateway_live_in_the_region" {
  command = plan

  variables {
    region        = "EU-WEST-PAR"
    vlan_id       = 0
    cidr          = "192.168.10.0/24"
    gateway_model = "m"
  }

  assert {
    condition     = ovh_cloud_project_network_private.this.regions == toset(["EU-WEST-PAR"]) && ovh_cloud_project_network_private.this.vlan_id == 0
    error_message = "The private network must exist in the given region only, on the given VLAN."
  }
  assert {
    condition     = ovh_cloud_project_gateway.this.region == "EU-WEST-PAR" && ovh_cloud_project_gateway.this.model == "m" && ovh_cloud_project_gateway.this.name == "mms-test-gateway"
    error_message = "The gateway must be in the network's region, of the given model, named after the network."
  }
  assert {
    condition     = ovh_cloud_project_network_private_subnet.this.start == "192.168.10.2" && ovh_cloud_project_network_private_subnet.this.end == "192.168.10.254"
    error_message = "A /24 must give the DHCP pool .2 to .254."
  }
}

run "a_range_next_to_the_reserved_ones_is_accepted" {
  command = plan

  variables {
    cidr = "172.18.0.0/16"
  }

  assert {
    condition     = output.cidr == "172.18.0.0/16"
    error_message = "172.18.0.0/16 touches none of OVH's reserved ranges and must be accepted."
  }
}

run "rejects_an_object_storage_region" {
  command = plan
  variables {
    region = "GRA"
  }
  expect_failures = [var.region]
}

run "rejects_a_lower_case_region" {
  command = plan
  variables {
    region = "gra11"
  }
  expect_failures = [var.region]
}

run "rejects_a_cidr_without_prefix" {
  command = plan
  variables {
    cidr = "10.20.0.0"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_cidr_with_host_bits" {
  command = plan
  variables {
    cidr = "10.20.1.5/16"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_public_range" {
  command = plan
  variables {
    cidr = "51.68.0.0/16"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_range_too_large" {
  command = plan
  variables {
    cidr = "10.0.0.0/12"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_range_inside_the_pods_range" {
  command = plan
  variables {
    cidr = "10.2.128.0/24"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_range_inside_the_container_bridge" {
  command = plan
  variables {
    cidr = "172.17.8.0/24"
  }
  expect_failures = [var.cidr]
}

run "rejects_a_vlan_out_of_range" {
  command = plan
  variables {
    vlan_id = 4001
  }
  expect_failures = [var.vlan_id]
}

run "rejects_an_unknown_gateway_model" {
  command = plan
  variables {
    gateway_model = "xxl"
  }
  expect_failures = [var.gateway_model]
}
