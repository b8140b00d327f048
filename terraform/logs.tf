################################################################################
# CloudWatch log groups: created here (not on first write by the services) so that they have a retention, an
# optional KMS key, tags, and are deleted by `terraform destroy`.
################################################################################

# The function's log group, at the name Lambda writes to by default.
resource "aws_cloudwatch_log_group" "function" {
  # checkov:skip=CKV_AWS_338: retention is var.log_retention_in_days (validated); a tutorial keeps 30 days by default, set 365 or more where a policy asks for a year.
  # checkov:skip=CKV_AWS_158: encrypted at rest by CloudWatch Logs; var.kms_key_arn selects a customer managed key.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
}

# API Gateway access logs: one JSON line per request, the fields named as apigw-local names them.
resource "aws_cloudwatch_log_group" "api_access" {
  # checkov:skip=CKV_AWS_338: retention is var.log_retention_in_days (validated); a tutorial keeps 30 days by default, set 365 or more where a policy asks for a year.
  # checkov:skip=CKV_AWS_158: encrypted at rest by CloudWatch Logs; var.kms_key_arn selects a customer managed key.
  name              = "/aws/apigateway/${var.api_name}/${var.stage_name}/access"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
}

# API Gateway execution logs go to a group whose name API Gateway fixes; without this resource API Gateway would
# create it on first write, never expiring and left behind by destroy.
resource "aws_cloudwatch_log_group" "api_execution" {
  # checkov:skip=CKV_AWS_338: retention is var.log_retention_in_days (validated); a tutorial keeps 30 days by default, set 365 or more where a policy asks for a year.
  # checkov:skip=CKV_AWS_158: encrypted at rest by CloudWatch Logs; var.kms_key_arn selects a customer managed key.
  count = var.execution_logging_level == "OFF" ? 0 : 1

  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
}
