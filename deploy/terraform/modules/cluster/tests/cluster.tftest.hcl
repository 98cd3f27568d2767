# Checks the cluster module against the OVH provider's schema (mock_provider: no OVH API is called).

mock_provider "ovh" {}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  name         = "mms-test"
  network = {
    region              = "GRA11"
    regional_network_id = "11111111-2222-3333-4444-555555555555"
    subnet_id           = "66666666-7777-8888-9999-000000000000"
  }
}

run "the_cluster_sits_on_the_private_network" {
  command = plan

  assert {
    condition     = ovh_cloud_project_kube.this.region == "GRA11" && ovh_cloud_project_kube.this.private_network_id == "11111111-2222-3333-4444-555555555555"
    error_message = "The cluster must be created in the network's region, attached to the network's regional id."
  }
  assert {
    condition = (
      ovh_cloud_project_kube.this.nodes_subnet_id == "66666666-7777-8888-9999-000000000000" &&
      ovh_cloud_project_kube.this.load_balancers_subnet_id == "66666666-7777-8888-9999-000000000000"
    )
    error_message = "Nodes and load balancers must default to the network's subnet."
  }
  assert {
    condition = (
      one(ovh_cloud_project_kube.this.private_network_configuration).private_network_routing_as_default &&
      one(ovh_cloud_project_kube.this.private_network_configuration).default_vrack_gateway == ""
    )
    error_message = "The nodes must route their outbound traffic through the gateway the subnet's DHCP advertises."
  }
  assert {
    condition     = ovh_cloud_project_kube.this.version == "1.34" && ovh_cloud_project_kube.this.update_policy == "MINIMAL_DOWNTIME" && ovh_cloud_project_kube.this.plan == "free"
    error_message = "The defaults must be Kubernetes 1.34, MINIMAL_DOWNTIME updates and the free plan."
  }
  assert {
    condition     = length(ovh_cloud_project_kube.this.customization_apiserver) == 0 && length(ovh_cloud_project_kube_iprestrictions.this) == 0
    error_message = "Without admission_plugins and api_allowed_cidrs the module must leave OVH's defaults alone."
  }
}

run "always_pull_images_can_be_disabled" {
  command = plan

  variables {
    kubernetes_version = "1.35"
    admission_plugins  = { disabled = ["AlwaysPullImages"] }
  }

  assert {
    condition = (
      one(one(ovh_cloud_project_kube.this.customization_apiserver).admissionplugins).disabled == tolist(["AlwaysPullImages"]) &&
      one(one(ovh_cloud_project_kube.this.customization_apiserver).admissionplugins).enabled == tolist(["NodeRestriction"])
    )
    error_message = "Disabling AlwaysPullImages must keep NodeRestriction enabled."
  }
}

run "the_api_can_be_restricted_to_given_ranges" {
  command = plan

  variables {
    api_allowed_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
    plan              = "standard"
    update_policy     = "NEVER_UPDATE"
  }

  assert {
    condition     = ovh_cloud_project_kube_iprestrictions.this[0].ips == toset(["203.0.113.0/24", "198.51.100.7/32"])
    error_message = "The API's IP restrictions must be exactly the given ranges."
  }
}

run "the_kubeconfig_output_is_sensitive" {
  command = plan

  assert {
    condition     = issensitive(output.kubeconfig)
    error_message = "The kubeconfig output holds the admin's credentials: it must be sensitive."
  }
}

run "rejects_kubernetes_1_32" {
  command = plan
  variables {
    kubernetes_version = "1.32"
  }
  expect_failures = [var.kubernetes_version]
}

run "rejects_a_patch_version" {
  command = plan
  variables {
    kubernetes_version = "1.34.2"
  }
  expect_failures = [var.kubernetes_version]
}

run "rejects_an_unknown_update_policy" {
  command = plan
  variables {
    update_policy = "ALWAYS"
  }
  expect_failures = [var.update_policy]
}

run "rejects_an_unknown_plan" {
  command = plan
  variables {
    plan = "premium"
  }
  expect_failures = [var.plan]
}

run "rejects_an_admission_plugin_ovh_does_not_let_change" {
  command = plan
  variables {
    admission_plugins = { enabled = ["NodeRestriction", "PodSecurity"] }
  }
  expect_failures = [var.admission_plugins]
}

run "rejects_disabling_node_restriction" {
  command = plan
  variables {
    admission_plugins = { disabled = ["NodeRestriction"] }
  }
  expect_failures = [var.admission_plugins]
}

run "rejects_a_plugin_both_enabled_and_disabled" {
  command = plan
  variables {
    admission_plugins = { enabled = ["AlwaysPullImages"], disabled = ["AlwaysPullImages"] }
  }
  expect_failures = [var.admission_plugins]
}

run "rejects_a_malformed_api_range" {
  command = plan
  variables {
    api_allowed_cidrs = ["203.0.113.0"]
  }
  expect_failures = [var.api_allowed_cidrs]
}
