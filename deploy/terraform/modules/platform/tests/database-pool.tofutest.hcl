# database-pool.tftest.hcl for OpenTofu (which reads this file instead of it): OpenTofu uses override
# values during plan without being asked, knows no override_during, and names the counted module without
# its index. Its mocks fill computed values during plan, hence the network's regional id.

mock_provider "ovh" {
  mock_resource "ovh_cloud_project_network_private" {
    defaults = { regions_openstack_ids = { "GRA11" = "net-gra11" } }
  }
}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  name         = "mms-test"
  region       = "GRA11"
  pools = {
    system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
    tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 10 }
  }
  backup   = { bucket = "example-mms-backups" }
  database = { enabled = true }
}

run "the_database_pool_names_the_mysql_endpoint" {
  command = plan

  override_resource {
    target = module.database.ovh_cloud_project_database.this
    values = {
      endpoints = [{ component = "mysql", domain = "db-1.database.cloud.ovh.net", port = 20184, path = "", scheme = "mysql", ssl = true, ssl_mode = "REQUIRED", uri = "" }]
    }
  }

  assert {
    condition     = nonsensitive(output.platform).databasePool.host == "db-1.database.cloud.ovh.net" && nonsensitive(output.platform).databasePool.port == 20184
    error_message = "The DatabasePool's host and port must be the managed MySQL's endpoint."
  }
  assert {
    condition     = nonsensitive(output.platform).chart.networkPolicies.egress.extraPorts == [8443, 20184]
    error_message = "The platform's pods must be let out to the managed MySQL's port, besides the chart's default 8443."
  }
}
