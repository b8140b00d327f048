# Plan-level tests of the wiring, with a mocked AWS provider: no credentials, no network, nothing created.
# `terraform test` (Terraform >= 1.11 for override_during) from terraform/; tests/run.sh runs it on a copy.

mock_provider "aws" {
  # Mocked values are known at plan time, so that assertions can compare them (Terraform 1.11).
  override_during = plan

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }

  mock_data "aws_ecr_image" {
    defaults = { image_digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111" }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      registry_id    = "123456789012"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-lambda-otel"
    }
  }

  mock_resource "aws_api_gateway_rest_api" {
    defaults = {
      id               = "abcdef1234"
      root_resource_id = "rootid1234"
      execution_arn    = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234"
    }
  }

  mock_resource "aws_api_gateway_resource" {
    defaults = { id = "helloworld" }
  }

  mock_resource "aws_api_gateway_method" {
    defaults = { id = "method" }
  }

  mock_resource "aws_api_gateway_integration" {
    defaults = { id = "integration" }
  }

  mock_resource "aws_api_gateway_stage" {
    defaults = { invoke_url = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/test" }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:GetStartedLambdaProxyIntegration"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:GetStartedLambdaProxyIntegration/invocations"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:mocked" }
  }

  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }
}

variables {
  # Bring-your-own image by digest: no build, no lookup (runs below change it).
  image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo@sha256:2222222222222222222222222222222222222222222222222222222222222222"
}

run "tutorial_api_wiring" {
  command = plan

  assert {
    condition     = aws_api_gateway_rest_api.this.name == "LambdaSimpleProxy" && aws_api_gateway_rest_api.this.endpoint_configuration[0].types == tolist(["REGIONAL"])
    error_message = "The REST API must be LambdaSimpleProxy, REGIONAL."
  }
  assert {
    condition     = aws_api_gateway_resource.helloworld.path_part == "helloworld" && aws_api_gateway_resource.helloworld.parent_id == "rootid1234"
    error_message = "The resource must be /helloworld under the API's root."
  }
  assert {
    condition     = aws_api_gateway_method.any.http_method == "ANY" && aws_api_gateway_method.any.authorization == "NONE"
    error_message = "The method must be ANY with authorization NONE."
  }
  assert {
    condition     = aws_api_gateway_integration.lambda.type == "AWS_PROXY"
    error_message = "The integration must be a Lambda proxy integration (AWS_PROXY)."
  }
  assert {
    condition     = aws_api_gateway_integration.lambda.integration_http_method == "POST" && aws_api_gateway_integration.lambda.http_method == "ANY"
    error_message = "The integration must call Lambda with POST for the ANY method."
  }
  assert {
    condition     = aws_api_gateway_integration.lambda.uri == aws_lambda_function.this.invoke_arn
    error_message = "The integration must target the function's invoke ARN."
  }
  assert {
    condition     = aws_lambda_permission.api_gateway.source_arn == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/*/*/helloworld"
    error_message = "The permission must be scoped to this API's /*/*/helloworld."
  }
  assert {
    condition     = aws_lambda_permission.api_gateway.principal == "apigateway.amazonaws.com" && aws_lambda_permission.api_gateway.action == "lambda:InvokeFunction" && aws_lambda_permission.api_gateway.function_name == "GetStartedLambdaProxyIntegration"
    error_message = "The permission must let API Gateway invoke the function."
  }
  assert {
    condition     = aws_api_gateway_stage.this.stage_name == "test" && aws_api_gateway_method_settings.all.stage_name == "test"
    error_message = "The stage must be named test (and its method settings apply to it)."
  }
  assert {
    condition     = aws_api_gateway_stage.this.xray_tracing_enabled && aws_api_gateway_stage.this.access_log_settings[0].destination_arn == aws_cloudwatch_log_group.api_access.arn
    error_message = "The stage must trace with X-Ray and log access to the access log group."
  }
  assert {
    # The format is JSON once API Gateway substitutes its variables (here: all by 0).
    condition     = keys(jsondecode(replace(aws_api_gateway_stage.this.access_log_settings[0].format, "/\\$context\\.[A-Za-z.]+/", "0"))) == ["httpMethod", "integrationErrorMessage", "ip", "path", "requestId", "requestTimeEpoch", "responseLatencyMs", "responseLength", "status"]
    error_message = "The access log format must be JSON with apigw-local's field names."
  }
  assert {
    condition     = aws_api_gateway_method_settings.all.method_path == "*/*" && aws_api_gateway_method_settings.all.settings[0].metrics_enabled && aws_api_gateway_method_settings.all.settings[0].throttling_rate_limit == 10 && aws_api_gateway_method_settings.all.settings[0].throttling_burst_limit == 20
    error_message = "All methods must have metrics and the default throttling."
  }
  assert {
    condition     = length(aws_api_gateway_deployment.this.triggers["redeployment"]) == 40
    error_message = "The deployment must be triggered by a hash of the API."
  }
  assert {
    condition     = aws_lambda_function.this.package_type == "Image" && aws_lambda_function.this.architectures == tolist(["arm64"]) && aws_lambda_function.this.function_name == "GetStartedLambdaProxyIntegration"
    error_message = "The function must be GetStartedLambdaProxyIntegration, an arm64 image."
  }
  assert {
    condition     = aws_lambda_function.this.image_uri == var.image_uri && length(terraform_data.image) == 0 && length(data.aws_ecr_image.built) + length(data.aws_ecr_image.given) == 0
    error_message = "An image given by digest must be used as it is: no build, no lookup."
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active" && length(aws_iam_role_policy.xray) == 1
    error_message = "Tracing on: active tracing and the X-Ray policy."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables == tomap({ OTEL_SERVICE_NAME = "GetStartedLambdaProxyIntegration", LAMBDA_OTEL_FLUSH_TIMEOUT_MS = "500", OTEL_SDK_DISABLED = "true" })
    error_message = "Without an OTLP endpoint the SDK is disabled; the service name is the function's."
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.logs.policy).Statement[0].Resource == "arn:aws:logs:us-east-1:123456789012:log-group:mocked:*"
    error_message = "The function may write logs to its own log group only."
  }
  assert {
    condition     = aws_cloudwatch_log_group.function.name == "/aws/lambda/GetStartedLambdaProxyIntegration" && aws_cloudwatch_log_group.function.retention_in_days == 30
    error_message = "The function's log group is Lambda's default name, with the retention."
  }
  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push && aws_ecr_repository.this.encryption_configuration[0].encryption_type == "AES256"
    error_message = "The repository must have immutable tags, scan on push and encryption."
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection.countNumber == 10
    error_message = "The lifecycle policy must keep the last 10 images."
  }
  assert {
    condition     = length(aws_api_gateway_account.this) == 1 && length(aws_cloudwatch_log_group.api_execution) == 1
    error_message = "By default the account's CloudWatch role is set and execution logs have their group."
  }
  assert {
    condition     = output.invoke_url == "https://abcdef1234.execute-api.us-east-1.amazonaws.com/test/helloworld"
    error_message = "The invoke URL must end in /test/helloworld."
  }
  assert {
    condition     = output.curl == "curl -v -X POST \\\n  'https://abcdef1234.execute-api.us-east-1.amazonaws.com/test/helloworld?name=John&city=Seattle' \\\n  -H 'content-type: application/json' \\\n  -H 'day: Thursday' \\\n  -d '{ \"time\": \"evening\" }'"
    error_message = "The curl output must be the tutorial's POST."
  }
}

run "tracing_off_drops_xray" {
  command = plan

  variables {
    tracing_enabled = false
  }

  assert {
    condition     = length(aws_iam_role_policy.xray) == 0 && aws_lambda_function.this.tracing_config[0].mode == "PassThrough" && !aws_api_gateway_stage.this.xray_tracing_enabled
    error_message = "Tracing off: no X-Ray permission, no active tracing, no stage tracing."
  }
}

run "otlp_export_settings" {
  command = plan

  variables {
    otel_exporter_otlp_endpoint = "https://otlp.example.com:4317"
    otel_exporter_otlp_protocol = "grpc"
    otel_exporter_otlp_headers  = "x-api-key=secret"
    otel_service_name           = "hello"
    otel_flush_timeout_ms       = 250
    environment_variables       = { RUST_LOG = "debug" }
  }

  assert {
    condition     = nonsensitive(aws_lambda_function.this.environment[0].variables) == tomap({ OTEL_SERVICE_NAME = "hello", LAMBDA_OTEL_FLUSH_TIMEOUT_MS = "250", OTEL_EXPORTER_OTLP_ENDPOINT = "https://otlp.example.com:4317", OTEL_EXPORTER_OTLP_PROTOCOL = "grpc", OTEL_EXPORTER_OTLP_HEADERS = "x-api-key=secret", RUST_LOG = "debug" })
    error_message = "The function's environment must carry the OTLP settings."
  }
}

run "image_by_tag_is_pinned_by_digest" {
  command = plan

  variables {
    image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo:v1"
  }

  assert {
    condition     = data.aws_ecr_image.given[0].repository_name == "byo" && data.aws_ecr_image.given[0].image_tag == "v1" && data.aws_ecr_image.given[0].registry_id == "123456789012" && length(data.aws_ecr_image.built) == 0
    error_message = "A tag must be looked up in its repository."
  }
  assert {
    condition     = aws_lambda_function.this.image_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo@sha256:1111111111111111111111111111111111111111111111111111111111111111"
    error_message = "The function must run the tag's digest."
  }
}

run "build_image_x86_64" {
  command = plan

  variables {
    image_uri    = null
    architecture = "x86_64"
  }

  assert {
    condition     = length(terraform_data.image) == 1 && terraform_data.image[0].triggers_replace.platform == "linux/amd64"
    error_message = "Without image_uri the image is built, for the function's architecture."
  }
  assert {
    condition     = can(regex("^123456789012\\.dkr\\.ecr\\.us-east-1\\.amazonaws\\.com/hello-lambda-otel:x86_64-[0-9a-f]{16}$", terraform_data.image[0].triggers_replace.image))
    error_message = "The built image is tagged with the architecture and a hash of its sources."
  }
  assert {
    condition     = data.aws_ecr_image.built[0].repository_name == "hello-lambda-otel" && length(data.aws_ecr_image.given) == 0
    error_message = "The pushed image is resolved to its digest in the repository."
  }
  assert {
    condition     = aws_lambda_function.this.architectures == tolist(["x86_64"])
    error_message = "The function runs on x86_64."
  }
}

run "shared_account_settings_left_alone" {
  command = plan

  variables {
    manage_api_gateway_account = false
    execution_logging_level    = "OFF"
  }

  assert {
    condition     = length(aws_api_gateway_account.this) == 0 && length(aws_iam_role.api_gateway_cloudwatch) == 0 && length(aws_cloudwatch_log_group.api_execution) == 0
    error_message = "manage_api_gateway_account = false: no account setting, no role; logging OFF: no execution log group."
  }
}
