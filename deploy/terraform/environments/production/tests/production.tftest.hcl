# Plans the production example against the OVH provider's schema (mock_provider: no OVH API is called;
# the checks run with -backend=false, so the S3 state backend is not contacted either).

mock_provider "ovh" {
  # OVH reports the network's id in each of its regions once it exists; OpenTofu's mocks fill computed
  # values during plan too, so the module's lookup of its region needs an entry here.
  mock_resource "ovh_cloud_project_network_private" {
    defaults = {
      regions_openstack_ids = { "GRA11" = "net-gra11", "SBG5" = "net-sbg5" }
    }
  }
  mock_resource "ovh_cloud_project_database" {
    defaults = {
      endpoints = [{ component = "mysql", domain = "mysql.example.invalid", port = 20184, path = "", scheme = "mysql", ssl = true, ssl_mode = "REQUIRED", uri = "" }]
    }
  }
}

variables {
  service_name  = "0123456789abcdef0123456789abcdef"
  backup_bucket = "example-com-mms-production-backups"
  # Every input is set here: a committed terraform.tfvars is read by `test` too, and must not change
  # what these runs check.
  region            = "GRA11"
  ovh_endpoint      = "ovh-eu"
  api_allowed_cidrs = []
  managed_database  = true
}

run "production_gets_a_managed_database_pool" {
  command = plan

  assert {
    condition = (
      nonsensitive(output.platform).databasePool.name == "pool-1" &&
      nonsensitive(output.platform).databasePool.capacity == 200 &&
      nonsensitive(output.platform).databasePool.username == "mms-admin"
    )
    error_message = "Production must describe its managed MySQL as the DatabasePool pool-1 for 200 tenants."
  }
  assert {
    condition     = output.s3.bucket == "example-com-mms-production-backups" && output.s3.endpoint == "https://s3.gra.io.cloud.ovh.net" && output.s3.region == "gra"
    error_message = "Backups must go to the given bucket in GRA."
  }
  assert {
    condition     = issensitive(output.kubeconfig) && issensitive(output.platform) && issensitive(output.s3_secret_access_key)
    error_message = "kubeconfig, platform and the S3 secret must be sensitive outputs."
  }
  assert {
    condition     = nonsensitive(output.platform).chart.tenants.tls.clusterIssuer == "letsencrypt-prod"
    error_message = "Production tenants must get Let's Encrypt's production certificates."
  }
}

run "production_without_a_managed_database" {
  command = plan

  variables {
    managed_database = false
    region           = "SBG5"
  }

  assert {
    condition     = nonsensitive(output.platform).databasePool == null && output.s3.endpoint == "https://s3.sbg.io.cloud.ovh.net"
    error_message = "With managed_database = false there must be no DatabasePool; backups follow the region (SBG for SBG5)."
  }
}
