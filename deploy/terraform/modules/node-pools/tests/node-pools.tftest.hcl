# Checks the node-pools module against the OVH provider's schema (mock_provider: no OVH API is called).
# ignore_changes = [desired_nodes] cannot be observed in a plan; what can is that desired_nodes starts
# inside [min_nodes, max_nodes], which is what the autoscaler then keeps it in.

mock_provider "ovh" {}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  kube_id      = "kube-1"
  pools = {
    system = {
      role          = "system"
      flavor        = "b3-8"
      min_nodes     = 3
      max_nodes     = 5
      anti_affinity = true
    }
    tenants = {
      role      = "tenant"
      flavor    = "b3-16"
      min_nodes = 2
      max_nodes = 20
    }
  }
}

run "pools_autoscale_between_their_bounds" {
  command = plan

  assert {
    condition = (
      ovh_cloud_project_kube_nodepool.this["tenants"].autoscale &&
      ovh_cloud_project_kube_nodepool.this["tenants"].min_nodes == 2 &&
      ovh_cloud_project_kube_nodepool.this["tenants"].max_nodes == 20 &&
      ovh_cloud_project_kube_nodepool.this["tenants"].desired_nodes == 2
    )
    error_message = "The tenant pool must autoscale from 2 to 20 nodes, starting at min_nodes."
  }
  assert {
    condition = (
      ovh_cloud_project_kube_nodepool.this["system"].anti_affinity &&
      ovh_cloud_project_kube_nodepool.this["system"].max_nodes == 5 &&
      !ovh_cloud_project_kube_nodepool.this["tenants"].anti_affinity
    )
    error_message = "Only the system pool asked for anti-affinity, within OVH's 5-node limit."
  }
  assert {
    condition     = ovh_cloud_project_kube_nodepool.this["system"].flavor_name == "b3-8" && ovh_cloud_project_kube_nodepool.this["tenants"].kube_id == "kube-1"
    error_message = "Pools must take their flavor and cluster from the inputs."
  }
}

run "only_the_platform_runs_on_the_system_pool" {
  command = plan

  assert {
    condition = one(one(ovh_cloud_project_kube_nodepool.this["system"].template).spec).taints == tolist([
      tomap({ key = "matomo-multiscale.io/pool", value = "system", effect = "NoSchedule" })
    ])
    error_message = "The system pool must be tainted matomo-multiscale.io/pool=system:NoSchedule so that tenants stay off it."
  }
  assert {
    condition     = length(one(one(ovh_cloud_project_kube_nodepool.this["tenants"].template).spec).taints) == 0
    error_message = "The tenant pool must not be tainted: tenants' pods carry no tolerations."
  }
  assert {
    condition = (
      one(one(ovh_cloud_project_kube_nodepool.this["system"].template).metadata).labels["matomo-multiscale.io/pool"] == "system" &&
      one(one(ovh_cloud_project_kube_nodepool.this["tenants"].template).metadata).labels["matomo-multiscale.io/pool"] == "tenant"
    )
    error_message = "Nodes must be labelled with their pool's role."
  }
  assert {
    condition = (
      output.system_node_selector == { "matomo-multiscale.io/pool" = "system" } &&
      output.system_tolerations == [{ key = "matomo-multiscale.io/pool", operator = "Equal", value = "system", effect = "NoSchedule" }]
    )
    error_message = "The selector and tolerations for the platform's pods must match the system pool's label and taint."
  }
  assert {
    condition     = output.system_pool_name == "system" && output.tenant_pool_names == tolist(["tenants"])
    error_message = "The outputs must name the system pool and the tenant pools."
  }
}

run "an_explicit_desired_count_and_extra_labels_are_kept" {
  command = plan

  variables {
    pools = {
      platform = { role = "system", flavor = "c3-8", min_nodes = 1, max_nodes = 3, autoscale = false }
      small    = { role = "tenant", flavor = "r3-32", min_nodes = 0, max_nodes = 100, desired_nodes = 4, labels = { team = "analytics", "matomo-multiscale.io/pool" = "wrong" } }
      large    = { role = "tenant", flavor = "d2-8", min_nodes = 1, max_nodes = 10, monthly_billed = true }
    }
  }

  assert {
    condition     = ovh_cloud_project_kube_nodepool.this["small"].desired_nodes == 4 && ovh_cloud_project_kube_nodepool.this["small"].max_nodes == 100
    error_message = "A desired_nodes inside the bounds must be used as the starting count."
  }
  assert {
    condition     = !ovh_cloud_project_kube_nodepool.this["platform"].autoscale && ovh_cloud_project_kube_nodepool.this["large"].monthly_billed
    error_message = "autoscale and monthly_billed must follow the inputs."
  }
  assert {
    condition = one(one(ovh_cloud_project_kube_nodepool.this["small"].template).metadata).labels == tomap({
      team = "analytics", "matomo-multiscale.io/pool" = "tenant"
    })
    error_message = "Extra labels must be kept, but the role label must win over one given by hand."
  }
  assert {
    condition     = output.tenant_pool_names == tolist(["large", "small"])
    error_message = "Every tenant pool must be listed."
  }
}

run "rejects_a_flavor_ovh_does_not_offer" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-7", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_an_upper_case_flavor" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "B3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_min_above_max" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 5, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_desired_above_max" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3, desired_nodes = 4 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_more_than_100_nodes" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 101 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_anti_affinity_beyond_5_nodes" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 3, max_nodes = 6, anti_affinity = true }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_a_second_system_pool" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      system2 = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_pools_without_a_tenant_pool" {
  command = plan
  variables {
    pools = {
      system = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_an_empty_system_pool" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 0, max_nodes = 3 }
      tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_an_underscore_in_a_pool_name" {
  command = plan
  variables {
    pools = {
      system       = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      tenant_pool1 = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}

run "rejects_an_unknown_role" {
  command = plan
  variables {
    pools = {
      system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
      workers = { role = "worker", flavor = "b3-16", min_nodes = 1, max_nodes = 3 }
    }
  }
  expect_failures = [var.pools]
}
