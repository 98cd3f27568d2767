# Checks the database module against the OVH provider's schema (mock_provider: no OVH API is called).

mock_provider "ovh" {
  # OpenTofu's mocks fill computed values during plan too: the module picks the mysql endpoint out of these.
  mock_resource "ovh_cloud_project_database" {
    defaults = {
      endpoints = [{ component = "mysql", domain = "mysql.example.invalid", port = 20184, path = "", scheme = "mysql", ssl = true, ssl_mode = "REQUIRED", uri = "" }]
    }
  }
}

variables {
  service_name = "0123456789abcdef0123456789abcdef"
  network = {
    region              = "GRA11"
    regional_network_id = "11111111-2222-3333-4444-555555555555"
    subnet_id           = "66666666-7777-8888-9999-000000000000"
    cidr                = "10.20.0.0/16"
  }
}

run "a_business_mysql_on_the_private_network_only" {
  command = plan

  assert {
    condition     = ovh_cloud_project_database.this.engine == "mysql" && ovh_cloud_project_database.this.version == "8" && ovh_cloud_project_database.this.plan == "business"
    error_message = "The default must be a business MySQL 8 service."
  }
  assert {
    condition = length(ovh_cloud_project_database.this.nodes) == 2 && alltrue([
      for n in ovh_cloud_project_database.this.nodes :
      n.region == "GRA" && n.network_id == "11111111-2222-3333-4444-555555555555" && n.subnet_id == "66666666-7777-8888-9999-000000000000"
    ])
    error_message = "A business service must have two nodes in GRA (the network's region without its number), on the private subnet."
  }
  assert {
    condition     = [for r in ovh_cloud_project_database.this.ip_restrictions : r.ip] == ["10.20.0.0/16"]
    error_message = "Only the private subnet's range may connect."
  }
  assert {
    condition     = ovh_cloud_project_database.this.deletion_protection
    error_message = "The service must be protected from deletion by default."
  }
  assert {
    condition     = ovh_cloud_project_database_user.admin.name == "mms-admin" && ovh_cloud_project_database_user.admin.engine == "mysql"
    error_message = "The platform's account must be a MySQL user named mms-admin."
  }
  assert {
    condition     = issensitive(output.password) && output.username == "mms-admin"
    error_message = "The admin password must be a sensitive output."
  }
}

run "the_plan_sets_the_number_of_nodes" {
  command = plan

  variables {
    plan          = "enterprise"
    flavor        = "b3-16"
    disk_size     = 160
    allowed_cidrs = ["10.20.0.0/17", "10.20.128.0/17"]
    network = {
      region              = "US-EAST-VA-1"
      regional_network_id = "net"
      subnet_id           = "subnet"
      cidr                = "10.20.0.0/16"
    }
  }

  assert {
    condition     = length(ovh_cloud_project_database.this.nodes) == 3 && ovh_cloud_project_database.this.nodes[0].region == "US-EAST-VA"
    error_message = "An enterprise service must have three nodes, in US-EAST-VA for US-EAST-VA-1."
  }
  assert {
    condition     = toset([for r in ovh_cloud_project_database.this.ip_restrictions : r.ip]) == toset(["10.20.0.0/17", "10.20.128.0/17"])
    error_message = "allowed_cidrs must replace the subnet's range."
  }
  assert {
    condition     = output.node_count == 3 && ovh_cloud_project_database.this.disk_size == 160
    error_message = "The node count and disk size must follow the inputs."
  }
}

run "rejects_an_unknown_plan" {
  command = plan
  variables {
    plan = "production"
  }
  expect_failures = [var.plan]
}

run "rejects_an_upper_case_flavor" {
  command = plan
  variables {
    flavor = "DB1-7"
  }
  expect_failures = [var.flavor]
}

run "rejects_mysql_5_7" {
  command = plan
  variables {
    mysql_version = "5.7"
  }
  expect_failures = [var.mysql_version]
}

run "rejects_access_from_anywhere" {
  command = plan
  variables {
    allowed_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.allowed_cidrs]
}

run "rejects_an_empty_allow_list" {
  command = plan
  variables {
    allowed_cidrs = []
  }
  expect_failures = [var.allowed_cidrs]
}

run "rejects_ovhs_own_admin_name" {
  command = plan
  variables {
    admin_username = "avnadmin"
  }
  expect_failures = [var.admin_username]
}
