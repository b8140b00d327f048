################################################################################
# The function's execution role: least privilege
################################################################################

data "aws_partition" "current" {}

resource "aws_iam_role" "function" {
  name        = coalesce(var.role_name, "${var.function_name}-execution")
  description = "Execution role of the Lambda function ${var.function_name}"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# Logs: write streams and events of the function's own log group, nothing else. The group exists (logs.tf), so no
# logs:CreateLogGroup. Pulling the image needs nothing here either: Lambda pulls with its service principal, which
# the repository policy allows (for a repository in the function's account, Lambda adds that statement itself when it
# creates the function).
# The EMF metrics need nothing more: the function writes them to stdout like any log line, Lambda ships them to this
# log group with this statement, and CloudWatch Logs extracts the metrics on ingestion. There is no
# cloudwatch:PutMetricData call, so no cloudwatch:* permission. OTLP export needs none either: it goes to the
# endpoint over HTTP(S) with the endpoint's own credentials (otel_exporter_otlp_headers), not to an AWS API.
resource "aws_iam_role_policy" "logs" {
  name = "write-own-log-group"
  role = aws_iam_role.function.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteOwnLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "${aws_cloudwatch_log_group.function.arn}:*"
    }]
  })
}

# X-Ray: with active tracing, whether or not the function's own spans go to X-Ray (otel_traces_exporter). The daemon
# Lambda runs beside the function sends Lambda's function segment and, with "xray", the function's subsegments with
# the execution role's credentials; Lambda refuses to turn active tracing on for a role without PutTraceSegments
# (InvalidParameterValueException). "xray" without active tracing is refused at plan time (lambda.tf), so this
# condition also covers it. These two actions have no resource-level permissions (the service authorization
# reference lists no resource type for them), so "*" is the only valid Resource. Sampling rules are not read
# (xray:GetSampling*): Lambda's trace header carries the sampling decision.
resource "aws_iam_role_policy" "xray" {
  count = var.tracing_enabled ? 1 : 0

  name = "write-xray-traces"
  role = aws_iam_role.function.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteTraces"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      Resource = "*"
    }]
  })
}

################################################################################
# API Gateway's CloudWatch role (account and Region wide; see var.manage_api_gateway_account)
################################################################################

resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  # One per account and Region, like the setting it serves: a second configuration managing it fails here, loudly.
  name        = "apigateway-cloudwatch-logs-${var.region}"
  description = "Lets API Gateway write access and execution logs to CloudWatch Logs (${var.region})"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The AWS managed policy API Gateway documents for this role: the role serves every REST API of the account in this
# Region, whose log groups are not known here.
resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.api_gateway_cloudwatch[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn
  reset_on_delete     = true # destroy leaves the account as it found it, not pointing at a deleted role

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}
