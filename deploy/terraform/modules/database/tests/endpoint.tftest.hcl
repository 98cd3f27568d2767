# The database's endpoints are computed by OVH: Terraform shows an override of them to the plan only with
# override_during = plan, which OpenTofu does not know; OpenTofu reads endpoint.tofutest.hcl instead.

mock_provider "ovh" {}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  plan         = "essential"
  network = {
    region              = "GRA11"
    regional_network_id = "11111111-2222-3333-4444-555555555555"
    subnet_id           = "66666666-7777-8888-9999-000000000000"
    cidr                = "10.20.0.0/16"
  }
}

run "the_endpoint_outputs_come_from_the_mysql_endpoint" {
  command = plan

  override_resource {
    target          = ovh_cloud_project_database.this
    override_during = plan
    values = {
      endpoints = [
        { component = "mysqlx", domain = "x.example", port = 33060, path = "", scheme = "mysqlx", ssl = true, ssl_mode = "REQUIRED", uri = "" },
        { component = "mysql", domain = "db-1.database.cloud.ovh.net", port = 20184, path = "", scheme = "mysql", ssl = true, ssl_mode = "REQUIRED", uri = "" },
      ]
    }
  }

  assert {
    condition     = output.host == "db-1.database.cloud.ovh.net" && output.port == 20184
    error_message = "host and port must be those of the endpoint whose component is mysql."
  }
}
