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
