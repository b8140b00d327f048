################################################################################
# The Lambda function (container image)
################################################################################

locals {
  otel_environment = merge(
    {
      OTEL_SERVICE_NAME            = coalesce(var.otel_service_name, var.function_name)
      LAMBDA_OTEL_FLUSH_TIMEOUT_MS = tostring(var.otel_flush_timeout_ms)
    },
    var.otel_exporter_otlp_endpoint == null ? { OTEL_SDK_DISABLED = "true" } : {
      OTEL_EXPORTER_OTLP_ENDPOINT                                 = var.otel_exporter_otlp_endpoint
      OTEL_EXPORTER_OTLP_PROTOCOL                                 = var.otel_exporter_otlp_protocol
    },
    var.otel_exporter_otlp_headers == null ? {} : { OTEL_EXPORTER_OTLP_HEADERS = var.otel_exporter_otlp_headers },
  )
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_115: reserved concurrency would carve capacity out of the account pool (new accounts have 10 in all, and Lambda refuses to leave fewer than 10 unreserved); the API stage's throttling bounds the load instead.
  # checkov:skip=CKV_AWS_116: a dead-letter queue only receives failed asynchronous invocations; API Gateway invokes synchronously and returns errors to the caller.
  # checkov:skip=CKV_AWS_117: the function reaches nothing inside a VPC; in one it would need a NAT gateway to export telemetry.
  # checkov:skip=CKV_AWS_173: environment variables are encrypted at rest with an AWS managed key; var.kms_key_arn selects a customer managed key.
  # checkov:skip=CKV_AWS_272: Lambda code signing applies to .zip packages only, not to container images; the image is pinned by digest instead.
  function_name = var.function_name
  description   = "Lambda proxy integration: Hello, World! (Rust, OpenTelemetry)"
  role          = aws_iam_role.function.arn

  package_type  = "Image"
  image_uri     = local.function_image_uri
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout
  kms_key_arn   = var.kms_key_arn

  # The Dockerfile's CMD, stated so that the configuration says what runs (and Lambda's answer matches the plan).
  image_config {
    command = ["bootstrap"]
  }

  environment {
    variables = merge(local.otel_environment, var.environment_variables)
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  depends_on = [
    # The role may write logs before the first invocation, and the log group has its retention before Lambda
    # would create it without one.
    aws_iam_role_policy.logs,
    aws_iam_role_policy.xray,
    aws_cloudwatch_log_group.function,
  ]
}
