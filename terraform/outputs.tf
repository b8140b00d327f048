output "invoke_url" {
  description = "URL of the tutorial's resource on the deployed stage: https://ID.execute-api.REGION.amazonaws.com/STAGE/helloworld."
  value       = "${aws_api_gateway_stage.this.invoke_url}/${aws_api_gateway_resource.helloworld.path_part}"
}

output "curl" {
  description = "The tutorial's POST example, ready to paste; it answers {\"greeting\":\"Good evening, John of Seattle. Happy Thursday!\"}."
  value = chomp(<<-EOT
    curl -v -X POST \
      '${aws_api_gateway_stage.this.invoke_url}/${aws_api_gateway_resource.helloworld.path_part}?name=John&city=Seattle' \
      -H 'content-type: application/json' \
      -H 'day: Thursday' \
      -d '{ "time": "evening" }'
  EOT
  )
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "Name of the deployed stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "function_image_uri" {
  description = "The image the function runs, pinned by digest."
  value       = aws_lambda_function.this.image_uri
}

output "function_role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.function.arn
}

output "repository_url" {
  description = "URL of the ECR repository (docker push target: REPOSITORY_URL:TAG)."
  value       = aws_ecr_repository.this.repository_url
}

output "function_log_group_name" {
  description = "CloudWatch log group of the function (its JSON log lines)."
  value       = aws_cloudwatch_log_group.function.name
}

output "access_log_group_name" {
  description = "CloudWatch log group of the stage's access logs (one JSON line per request)."
  value       = aws_cloudwatch_log_group.api_access.name
}

output "traces_exporter" {
  description = "Where the function's spans go (OTEL_TRACES_EXPORTER): xray, otlp, both, or none."
  value       = local.traces_exporter
}

output "metrics_exporter" {
  description = "Where the function's metrics go (OTEL_METRICS_EXPORTER): emf, otlp, both, or none."
  value       = local.metrics_exporter
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the function's EMF metrics (null when they are not written)."
  value       = local.emf_used ? var.metrics_namespace : null
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null without one)."
  value       = var.dashboard_enabled ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "dashboard_url" {
  description = "The CloudWatch dashboard in the console: the function's requests, errors, latency and cold starts, and the stage's API Gateway metrics (null without one)."
  value       = var.dashboard_enabled ? "${local.console}/cloudwatch/home?region=${var.region}#dashboards:name=${aws_cloudwatch_dashboard.this[0].dashboard_name}" : null
}

output "traces_url" {
  description = "The traces that went through the function, in the console's X-Ray trace view (API Gateway's, Lambda's and the function's segments in one trace)."
  value       = local.traces_url
}

output "trace_map_url" {
  description = "The console's X-Ray trace map for the last hour: client, API Gateway stage, Lambda, function."
  value       = local.trace_map_url
}
