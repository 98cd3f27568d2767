# Checks the platform module (network + cluster + node pools + backups + optional database) against the
# OVH provider's schema (mock_provider: no OVH API is called), and the shape of the platform output that
# mms platform bootstrap reads.

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
  service_name = "0123456789abcdef0123456789abcdef"
  name         = "mms-test"
  region       = "GRA11"
  pools = {
    system  = { role = "system", flavor = "b3-8", min_nodes = 1, max_nodes = 3 }
    tenants = { role = "tenant", flavor = "b3-16", min_nodes = 1, max_nodes = 10 }
  }
  backup = { bucket = "example-mms-backups" }
}

run "the_platform_output_has_the_shape_bootstrap_reads" {
  command = plan

  assert {
    condition     = keys(nonsensitive(output.platform)) == ["backupStore", "chart", "databasePool"]
    error_message = "The platform output must hold exactly chart, backupStore and databasePool."
  }
  assert {
    condition = keys(nonsensitive(output.platform).backupStore) == [
      "accessKeyId", "bucket", "endpoint", "name", "prefix", "region", "secretAccessKey"
    ]
    error_message = "backupStore must hold name, endpoint, region, bucket, prefix, accessKeyId and secretAccessKey."
  }
  assert {
    condition = (
      nonsensitive(output.platform).backupStore.name == "default" &&
      nonsensitive(output.platform).backupStore.endpoint == "https://s3.gra.io.cloud.ovh.net" &&
      nonsensitive(output.platform).backupStore.region == "gra" &&
      nonsensitive(output.platform).backupStore.bucket == "example-mms-backups" &&
      nonsensitive(output.platform).backupStore.prefix == ""
    )
    error_message = "The default BackupStore must point at the bucket in GRA (the Object Storage region of GRA11)."
  }
  assert {
    condition     = nonsensitive(output.platform).databasePool == null
    error_message = "Without a managed database there must be no DatabasePool."
  }
  assert {
    condition     = issensitive(output.platform) && issensitive(output.kubeconfig) && issensitive(output.s3_secret_access_key) && !issensitive(output.s3)
    error_message = "platform, kubeconfig and the S3 secret must be sensitive outputs; the S3 location need not be."
  }
}

run "the_chart_values_put_the_platform_on_the_system_pool" {
  command = plan

  assert {
    condition = alltrue([
      for component in ["operator", "nodeDoctor", "ingressController"] :
      nonsensitive(output.platform).chart[component].nodeSelector == { "matomo-multiscale.io/pool" = "system" } &&
      nonsensitive(output.platform).chart[component].tolerations == [{ key = "matomo-multiscale.io/pool", operator = "Equal", value = "system", effect = "NoSchedule" }]
    ])
    error_message = "The operator, the node doctor and the ingress controller must select and tolerate the system pool."
  }
  assert {
    condition = (
      nonsensitive(output.platform).chart.nodeDoctor.enabled &&
      nonsensitive(output.platform).chart.nodeDoctor.ovh.projectId == "0123456789abcdef0123456789abcdef" &&
      nonsensitive(output.platform).chart.nodeDoctor.ovh.endpoint == "ovh-eu" &&
      nonsensitive(output.platform).chart.nodeDoctor.ovh.credentialsSecret == "ovh-api"
    )
    error_message = "The node doctor must be on, pointed at this project through ovh-eu with the ovh-api Secret."
  }
  assert {
    condition = (
      nonsensitive(output.platform).chart.ingressController.enabled &&
      nonsensitive(output.platform).chart.ingressController.service.type == "LoadBalancer" &&
      nonsensitive(output.platform).chart.tenants.tls == { mode = "cert-manager", clusterIssuer = "letsencrypt-prod" }
    )
    error_message = "Traefik must sit behind an OVH load balancer and tenants' certificates come from cert-manager."
  }
  assert {
    condition     = nonsensitive(output.platform).chart.networkPolicies.egress.extraPorts == [8443]
    error_message = "Without a managed database the chart's egress ports must stay its defaults."
  }
}

run "a_managed_database_becomes_the_database_pool" {
  command = plan

  variables {
    database = { enabled = true, capacity = 150 }
    backup   = { bucket = "example-mms-backups", region = "SBG", prefix = "production/" }
    chart    = { ovh_endpoint = "ovh-ca", cluster_issuer = "letsencrypt-staging" }
  }

  assert {
    condition     = keys(nonsensitive(output.platform).databasePool) == ["capacity", "host", "name", "password", "port", "username"]
    error_message = "databasePool must hold name, host, port, username, password and capacity."
  }
  assert {
    condition = (
      nonsensitive(output.platform).databasePool.name == "pool-1" &&
      nonsensitive(output.platform).databasePool.username == "mms-admin" &&
      nonsensitive(output.platform).databasePool.capacity == 150
    )
    error_message = "The DatabasePool must name the platform's account and the capacity asked for (its host and port: database-pool.tftest.hcl)."
  }
  assert {
    condition = (
      output.s3.endpoint == "https://s3.sbg.io.cloud.ovh.net" &&
      nonsensitive(output.platform).backupStore.region == "sbg" &&
      nonsensitive(output.platform).backupStore.prefix == "production/"
    )
    error_message = "A backup region and prefix given by hand must reach the BackupStore."
  }
  assert {
    condition     = nonsensitive(output.platform).chart.nodeDoctor.ovh.endpoint == "ovh-ca" && nonsensitive(output.platform).chart.tenants.tls.clusterIssuer == "letsencrypt-staging"
    error_message = "The chart settings must reach the chart values."
  }
}

run "rejects_a_malformed_project_id" {
  command = plan
  variables {
    service_name = "my-project"
  }
  expect_failures = [var.service_name]
}

run "rejects_an_upper_case_name" {
  command = plan
  variables {
    name = "MMS_Production"
  }
  expect_failures = [var.name]
}

run "rejects_a_prefix_without_a_trailing_slash" {
  command = plan
  variables {
    backup = { bucket = "example-mms-backups", prefix = "production" }
  }
  expect_failures = [var.backup]
}

run "rejects_a_pool_of_no_tenants" {
  command = plan
  variables {
    database = { enabled = true, capacity = 0 }
  }
  expect_failures = [var.database]
}

run "rejects_an_unknown_ovh_endpoint" {
  command = plan
  variables {
    chart = { ovh_endpoint = "ovh-au" }
  }
  expect_failures = [var.chart]
}
