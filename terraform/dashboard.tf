################################################################################
# CloudWatch dashboard: the function's metrics (EMF) and the API stage's own metrics
################################################################################

locals {
  # Console hosts by partition (the region is a query parameter, so one host serves every Region of a partition).
  console = {
    aws        = "https://console.aws.amazon.com"
    aws-cn     = "https://console.amazonaws.cn"
    aws-us-gov = "https://console.amazonaws-us-gov.com"
  }[data.aws_partition.current.partition]

  dashboard_name = coalesce(var.dashboard_name, "${var.function_name}-${var.region}")

  # The X-Ray console's documented deep links
  # (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-deeplinks.html): the traces whose path went
  # through the function (Lambda names its segments after the function; the function's own subsegments hang under
  # them), and the trace map. The same views are the CloudWatch console's "Traces" and "Trace Map" under X-Ray traces.
  traces_url    = "${local.console}/xray/home?region=${var.region}#/traces?filter=service(%22${var.function_name}%22)"
  trace_map_url = "${local.console}/xray/home?region=${var.region}#/service-map?timeRange=PT1H"
}

# The body is a template so that its metric names can be read as they are (the EMF names are pinned by
# tests/fixtures/emf-metrics.json). Decoded and encoded again here, so that a template that is not JSON fails the
# plan rather than the PutDashboard call.
#
# Function panels (with "emf" among the metrics exporters), namespace var.metrics_namespace, dimension Service =
# OTEL_SERVICE_NAME, SEARCH expressions so that every method (and status class) the function has seen gets a line:
#   Requests, Duration (dimensions Service, Method, StatusClass); Errors, ColdStarts (dimensions Service, Method).
# API Gateway panels, AWS/ApiGateway with dimensions ApiName and Stage: Count, 4XXError, 5XXError, Latency,
# IntegrationLatency (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html;
# API Gateway drops non-ASCII characters from the ApiName dimension: api_name's log group already rules them out).
resource "aws_cloudwatch_dashboard" "this" {
  count = var.dashboard_enabled ? 1 : 0

  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode(jsondecode(templatefile("${path.module}/dashboard.json.tftpl", {
    region         = var.region
    namespace      = var.metrics_namespace
    service        = local.service
    api_name_json  = jsonencode(var.api_name) # a JSON string, quoted and escaped whatever the name holds
    stage          = var.stage_name
    function_name  = var.function_name
    log_group      = aws_cloudwatch_log_group.function.name
    emf            = local.emf_used
    xray           = local.xray_used
    tracing        = var.tracing_enabled
    traces_url     = local.traces_url
    trace_map_url  = local.trace_map_url
    otlp_endpoint  = local.otlp_used
    metrics_period = 60
  })))
}
