# Plans the staging example against the OVH provider's schema (mock_provider: no OVH API is called;
# the checks run with -backend=false, so the S3 state backend is not contacted either).

mock_provider "ovh" {
  # OVH reports the network's id in each of its regions once it exists; OpenTofu's mocks fill computed
  # values during plan too, so the module's lookup of its region needs an entry here.
  mock_resource "ovh_cloud_project_network_private" {
    defaults = {
      regions_openstack_ids = { "GRA11" = "net-gra11" }
    }
  }
  mock_resource "ovh_cloud_project_database" {
    defaults = {
      endpoints = [{ component = "mysql", domain = "mysql.example.invalid", port = 20184, path = "", scheme = "mysql", ssl = true, ssl_mode = "REQUIRED", uri = "" }]
    }
  }
}

variables {
  service_name  = "fedcba9876543210fedcba9876543210"
  backup_bucket = "example-com-mms-staging-backups"
  # Every input is set here: a committed terraform.tfvars is read by `test` too, and must not change
  # what these runs check.
  region           = "GRA11"
  ovh_endpoint     = "ovh-eu"
  managed_database = false
}

run "staging_runs_mariadb_in_the_cluster_by_default" {
  command = plan

  assert {
    condition     = nonsensitive(output.platform).databasePool == null
    error_message = "Staging must have no managed database unless asked for."
  }
  assert {
    condition     = nonsensitive(output.platform).chart.tenants.tls.clusterIssuer == "letsencrypt-staging"
    error_message = "Staging tenants must get Let's Encrypt's staging certificates (no production rate limits)."
  }
  assert {
    condition     = nonsensitive(output.platform).backupStore.bucket == "example-com-mms-staging-backups" && issensitive(output.platform)
    error_message = "The BackupStore must name staging's bucket, inside the sensitive platform output."
  }
}

run "staging_can_have_a_small_managed_database" {
  command = plan

  variables {
    managed_database = true
  }

  assert {
    condition     = nonsensitive(output.platform).databasePool.capacity == 50
    error_message = "Staging's managed database must be described as a pool of 50 tenants."
  }
}
