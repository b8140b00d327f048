# TEST ONLY. tests/run.sh copies the configuration's *.tf into a scratch directory, adds this file there with MOTO_URL
# replaced by the emulator's address, and applies. It is never in the shipped configuration: Terraform reads only the
# *.tf files of the directory it runs in, not those of tests/moto/.
# Credentials come from the environment (AWS_ACCESS_KEY_ID=test ...), set by the runner for the emulator only.
provider "aws" {
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # false, on purpose: the provider then asks STS for the account id, which goes into ARNs it builds itself
  # (the REST API's execution_arn, hence the Lambda permission's source ARN).
  skip_requesting_account_id = false

  endpoints {
    apigateway = "MOTO_URL"
    cloudwatch = "MOTO_URL"
    ecr        = "MOTO_URL"
    iam        = "MOTO_URL"
    lambda     = "MOTO_URL"
    logs       = "MOTO_URL"
    sts        = "MOTO_URL"
  }
}
