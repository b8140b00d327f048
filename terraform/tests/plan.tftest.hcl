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
    # function-environment.env is what `make run-deployed` gives the function locally: it must stay what the
    # default deployment gives it (KEY=VALUE lines).
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      for line in compact(split("\n", file("function-environment.env"))) :
      regex("^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)[0] => regex("^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)[1]
    })
    error_message = "The default deployment's function environment must equal function-environment.env."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables == tomap({ OTEL_SERVICE_NAME = "GetStartedLambdaProxyIntegration", LAMBDA_OTEL_FLUSH_TIMEOUT_MS = "500", OTEL_TRACES_EXPORTER = "xray", OTEL_METRICS_EXPORTER = "emf", LAMBDA_OTEL_EMF_NAMESPACE = "hello-lambda-otel" })
    error_message = "Without an OTLP endpoint, traces go to X-Ray and metrics to EMF in the namespace hello-lambda-otel; the service name is the function's."
  }
  assert {
    condition     = output.traces_exporter == "xray" && output.metrics_exporter == "emf" && output.metrics_namespace == "hello-lambda-otel"
    error_message = "The telemetry outputs must say X-Ray, EMF and the namespace."
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
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OTEL_TRACES_EXPORTER"] == "none" && aws_lambda_function.this.environment[0].variables["OTEL_METRICS_EXPORTER"] == "emf"
    error_message = "Tracing off without an endpoint: no span export (not even by the library's default, X-Ray), metrics still EMF."
  }
}

run "dashboard" {
  command = plan

  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "GetStartedLambdaProxyIntegration-us-east-1"
    error_message = "The dashboard is named after the function and the Region (dashboards are global)."
  }
  assert {
    # Every metric the dashboard reads: SEARCH expressions name the function's EMF metrics, plain rows API Gateway's
    # (metric math over them names none).
    condition = toset(compact(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for row in try(widget.properties.metrics, []) :
        can(row[0].expression) ? join(",", flatten(regexall("MetricName=\"([A-Za-z0-9]+)\"", row[0].expression))) : "${row[0]}/${row[1]}"
      ]
    ]))) == toset(["Requests", "Errors", "Duration", "ColdStarts", "AWS/ApiGateway/Count", "AWS/ApiGateway/4XXError", "AWS/ApiGateway/5XXError", "AWS/ApiGateway/Latency", "AWS/ApiGateway/IntegrationLatency"])
    error_message = "The dashboard must show the EMF metrics Requests, Errors, Duration, ColdStarts and API Gateway's Count, 4XXError, 5XXError, Latency, IntegrationLatency."
  }
  assert {
    # The function's panels search its namespace for its Service; API Gateway's select the API and the stage.
    condition = alltrue(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for row in try(widget.properties.metrics, []) :
        can(row[0].expression) ? (
          startswith(row[0].expression, "SEARCH(") ? strcontains(row[0].expression, "{\"hello-lambda-otel\",Service,Method") && strcontains(row[0].expression, "Service=\"GetStartedLambdaProxyIntegration\"") : true
        ) : slice(row, 2, 6) == ["ApiName", "LambdaSimpleProxy", "Stage", "test"]
      ]
    ]))
    error_message = "Function panels must search namespace hello-lambda-otel for Service GetStartedLambdaProxyIntegration; API Gateway panels must select ApiName LambdaSimpleProxy, Stage test."
  }
  assert {
    condition     = output.dashboard_url == "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=GetStartedLambdaProxyIntegration-us-east-1"
    error_message = "The dashboard URL must open the dashboard in the Region's console."
  }
  assert {
    condition     = output.traces_url == "https://console.aws.amazon.com/xray/home?region=us-east-1#/traces?filter=service(%22GetStartedLambdaProxyIntegration%22)" && output.trace_map_url == "https://console.aws.amazon.com/xray/home?region=us-east-1#/service-map?timeRange=PT1H"
    error_message = "The trace URLs must open the Region's X-Ray trace list (filtered to the function) and trace map."
  }
}

run "dashboard_off_and_named" {
  command = plan

  variables {
    dashboard_enabled = false
  }

  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_url == null && output.dashboard_name == null
    error_message = "dashboard_enabled = false: no dashboard, no URL."
  }
}

run "custom_namespace_and_service" {
  command = plan

  variables {
    metrics_namespace = "Team/hello lambda"
    otel_service_name = "hello"
    dashboard_name    = "hello-dashboard"
    api_name          = "Hello.API_v2"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["LAMBDA_OTEL_EMF_NAMESPACE"] == "Team/hello lambda" && aws_lambda_function.this.environment[0].variables["OTEL_SERVICE_NAME"] == "hello"
    error_message = "The namespace and the service name go to the function."
  }
  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "hello-dashboard" && strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "{\\\"Team/hello lambda\\\",Service,Method,StatusClass} MetricName=\\\"Requests\\\" Service=\\\"hello\\\"")
    error_message = "The dashboard searches the given namespace (quoted) for the given service."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[5].properties.metrics[0][3] == "Hello.API_v2"
    error_message = "The API's name selects API Gateway's metrics."
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
    condition     = nonsensitive(aws_lambda_function.this.environment[0].variables) == tomap({ OTEL_SERVICE_NAME = "hello", LAMBDA_OTEL_FLUSH_TIMEOUT_MS = "250", OTEL_TRACES_EXPORTER = "otlp", OTEL_METRICS_EXPORTER = "otlp", OTEL_EXPORTER_OTLP_ENDPOINT = "https://otlp.example.com:4317", OTEL_EXPORTER_OTLP_PROTOCOL = "grpc", OTEL_EXPORTER_OTLP_HEADERS = "x-api-key=secret", RUST_LOG = "debug" })
    error_message = "With an endpoint, both signals go to OTLP (no X-Ray, no EMF namespace): the function's environment carries the OTLP settings."
  }
  assert {
    # API Gateway and Lambda still trace with X-Ray: Lambda needs the permission for active tracing.
    condition     = length(aws_iam_role_policy.xray) == 1 && aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "OTLP with tracing on: active tracing and its X-Ray permission stay."
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets) == 3 && !strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "SEARCH(") && output.metrics_namespace == null
    error_message = "Without EMF the dashboard has the text and API Gateway's panels only."
  }
}

run "otlp_and_aws_at_once" {
  command = plan

  variables {
    otel_exporter_otlp_endpoint = "https://otlp.example.com:4318"
    otel_traces_exporter        = ["otlp", "xray"]
    otel_metrics_exporter       = ["emf", "otlp"]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OTEL_TRACES_EXPORTER"] == "otlp,xray" && aws_lambda_function.this.environment[0].variables["OTEL_METRICS_EXPORTER"] == "emf,otlp" && aws_lambda_function.this.environment[0].variables["LAMBDA_OTEL_EMF_NAMESPACE"] == "hello-lambda-otel" && aws_lambda_function.this.environment[0].variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otlp.example.com:4318"
    error_message = "Both at once: comma lists for the library, the EMF namespace and the OTLP endpoint."
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets) == 7
    error_message = "With EMF the dashboard has the function's four panels too."
  }
}

run "otlp_metrics_only_traces_to_xray" {
  command = plan

  variables {
    otel_exporter_otlp_endpoint = "https://otlp.example.com:4318"
    otel_traces_exporter        = ["xray"]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OTEL_TRACES_EXPORTER"] == "xray" && aws_lambda_function.this.environment[0].variables["OTEL_METRICS_EXPORTER"] == "otlp"
    error_message = "Each signal follows its own variable; the endpoint is the default of the one not given."
  }
}

run "no_telemetry_export" {
  command = plan

  variables {
    otel_traces_exporter  = []
    otel_metrics_exporter = []
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OTEL_TRACES_EXPORTER"] == "none" && aws_lambda_function.this.environment[0].variables["OTEL_METRICS_EXPORTER"] == "none" && !contains(keys(aws_lambda_function.this.environment[0].variables), "LAMBDA_OTEL_EMF_NAMESPACE")
    error_message = "Empty lists: none for both signals."
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
