terraform {
  required_version = ">= 1.6"

  required_providers {
    ovh = {
      source  = "ovh/ovh"
      version = "~> 2.19"
    }
  }

  # State in an OVH Object Storage bucket through its S3 API. The bucket is named at init time
  # (terraform init -backend-config="bucket=<state bucket>"), the S3 key of a user that can reach only
  # that bucket comes from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. The skip_* settings stop the
  # backend from asking AWS-only services (STS, IMDS, AWS's region list) that OVH does not have.
  backend "s3" {
    key                         = "production/terraform.tfstate"
    region                      = "gra"
    endpoints                   = { s3 = "https://s3.gra.io.cloud.ovh.net" }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}

# Credentials from the environment: OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY
# (or OVH_CLIENT_ID and OVH_CLIENT_SECRET for a service account).
provider "ovh" {
  endpoint = var.ovh_endpoint
}
