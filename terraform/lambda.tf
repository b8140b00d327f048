################################################################################
# The Lambda function (container image)
################################################################################

locals {
  otlp_endpoint_set = var.otel_exporter_otlp_endpoint != null

  # Where each signal goes (see var.otel_traces_exporter / var.otel_metrics_exporter). Without a choice: to AWS when no
  # OTLP endpoint is given (spans to the X-Ray daemon, which runs only with active tracing; metrics as EMF lines in
  # the function's log), to the endpoint when one is.
  traces_exporters = var.otel_traces_exporter != null ? var.otel_traces_exporter : (
    local.otlp_endpoint_set ? ["otlp"] : var.tracing_enabled ? ["xray"] : []
  )
  metrics_exporters = var.otel_metrics_exporter != null ? var.otel_metrics_exporter : (
    local.otlp_endpoint_set ? ["otlp"] : ["emf"]
  )
  xray_used = contains(local.traces_exporters, "xray")
  emf_used  = contains(local.metrics_exporters, "emf")
  otlp_used = contains(local.traces_exporters, "otlp") || contains(local.metrics_exporters, "otlp")
  service   = coalesce(var.otel_service_name, var.function_name)

  # The exporter variables' values: always set, "none" included, because Lambda sets AWS_XRAY_DAEMON_ADDRESS in every
  # function, so the library's own default could otherwise pick X-Ray where the configuration chose nothing.
  traces_exporter  = length(local.traces_exporters) == 0 ? "none" : join(",", local.traces_exporters)
  metrics_exporter = length(local.metrics_exporters) == 0 ? "none" : join(",", local.metrics_exporters)

  otel_environment = merge(
    {
      OTEL_SERVICE_NAME            = local.service
      LAMBDA_OTEL_FLUSH_TIMEOUT_MS = tostring(var.otel_flush_timeout_ms)
      OTEL_TRACES_EXPORTER         = local.traces_exporter
      OTEL_METRICS_EXPORTER        = local.metrics_exporter
    },
    local.emf_used ? { LAMBDA_OTEL_EMF_NAMESPACE = var.metrics_namespace } : {},
    local.otlp_used ? {
      OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_exporter_otlp_endpoint
      OTEL_EXPORTER_OTLP_PROTOCOL = var.otel_exporter_otlp_protocol
    } : {},
    local.otlp_used && var.otel_exporter_otlp_headers != null ? { OTEL_EXPORTER_OTLP_HEADERS = var.otel_exporter_otlp_headers } : {},
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

  lifecycle {
    # Combinations of variables that would deploy a function whose telemetry goes nowhere, caught at plan time.
    precondition {
      condition     = !local.xray_used || var.tracing_enabled
      error_message = "otel_traces_exporter includes \"xray\", which needs tracing_enabled = true: Lambda runs the X-Ray daemon the function sends its spans to only with active tracing."
    }
    precondition {
      condition     = !local.otlp_used || local.otlp_endpoint_set
      error_message = "otel_traces_exporter or otel_metrics_exporter includes \"otlp\", which needs otel_exporter_otlp_endpoint."
    }
    precondition {
      condition     = !local.otlp_endpoint_set || local.otlp_used
      error_message = "otel_exporter_otlp_endpoint is set but neither otel_traces_exporter nor otel_metrics_exporter includes \"otlp\": add \"otlp\" to one of them, or drop the endpoint."
    }
  }

  depends_on = [
    # The role may write logs before the first invocation, and the log group has its retention before Lambda
    # would create it without one.
    aws_iam_role_policy.logs,
    aws_iam_role_policy.xray,
    aws_cloudwatch_log_group.function,
  ]
}
