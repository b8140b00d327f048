terraform {
  # 1.7: `terraform test` with mock providers (tests/*.tftest.hcl); terraform_data is built in since 1.4.
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.75 added aws_api_gateway_account.reset_on_delete, which 6.0 removed (it always resets); the offline
      # provider mirror of the CI image holds 5.100.0.
      version = ">= 5.75, < 6.0"
    }
  }
}
