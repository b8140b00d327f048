################################################################################
# REST API "LambdaSimpleProxy": /helloworld, ANY, Lambda proxy integration (the tutorial's API)
################################################################################

resource "aws_api_gateway_rest_api" "this" {
  name        = var.api_name
  description = "Lambda proxy integration: Hello, World!"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    # Should the API ever be replaced, the new one exists before the old one (and its URL) goes.
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "helloworld" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "helloworld"
}

resource "aws_api_gateway_method" "any" {
  # checkov:skip=CKV_AWS_59: the tutorial's API is public (authorization NONE); the stage's throttling limits abuse.
  # checkov:skip=CKV2_AWS_53: a proxy integration hands the request to the function as it came; the function validates its input (4xx with a message).
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.helloworld.id
  http_method   = "ANY"
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "lambda" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.helloworld.id
  http_method             = aws_api_gateway_method.any.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST" # Lambda's Invoke API is always POST, whatever the client's method
  uri                     = aws_lambda_function.this.invoke_arn
}

# API Gateway may invoke the function for this API's /helloworld only: any stage, any method.
resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowInvokeFromAPIGateway-${aws_api_gateway_rest_api.this.id}-helloworld"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/*/${aws_api_gateway_resource.helloworld.path_part}"
}

################################################################################
# Deployment and stage "test"
################################################################################

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "Managed by Terraform"

  # A deployment is a snapshot of the API: redeploy whenever what it snapshots changes. The arguments are listed
  # one by one: whole resources would also hash attributes that a refresh fills in, redeploying on every plan.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.helloworld.id,
      aws_api_gateway_resource.helloworld.path_part,
      aws_api_gateway_method.any.id,
      aws_api_gateway_method.any.http_method,
      aws_api_gateway_method.any.authorization,
      aws_api_gateway_integration.lambda.id,
      aws_api_gateway_integration.lambda.type,
      aws_api_gateway_integration.lambda.integration_http_method,
      aws_api_gateway_integration.lambda.uri,
    ]))
  }

  lifecycle {
    # The stage moves to the new deployment before the old one is deleted (a stage's deployment cannot be deleted).
    create_before_destroy = true
  }
}

locals {
  # One JSON line per request with the field names and order of apigw-local's access log (see the README), so that
  # local and deployed access logs read alike. Numbers are left unquoted: API Gateway substitutes $context variables
  # as text into the format.
  access_log_fields = [
    { name = "requestId", value = "$context.requestId", number = false },
    { name = "ip", value = "$context.identity.sourceIp", number = false },
    { name = "requestTimeEpoch", value = "$context.requestTimeEpoch", number = true },
    { name = "httpMethod", value = "$context.httpMethod", number = false },
    { name = "path", value = "$context.path", number = false },
    { name = "status", value = "$context.status", number = true },
    { name = "responseLength", value = "$context.responseLength", number = true },
    { name = "responseLatencyMs", value = "$context.responseLatency", number = true },
    { name = "integrationErrorMessage", value = "$context.integrationErrorMessage", number = false },
  ]
  access_log_format = "{${join(",", [
    for field in local.access_log_fields : format(field.number ? "%q:%s" : "%q:%q", field.name, field.value)
  ])}}"
}

resource "aws_api_gateway_stage" "this" {
  # checkov:skip=CKV_AWS_120: no cache: a greeting is cheap to make and depends on the query, a header and the body; a cache cluster is billed by the hour.
  # checkov:skip=CKV2_AWS_29: no WAF web ACL: a web ACL costs a monthly fee per ACL and rule; the stage's throttling limits abuse of this tutorial API.
  # checkov:skip=CKV2_AWS_51: client certificates authenticate API Gateway to an HTTP backend; this backend is a Lambda function invoked through IAM.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.tracing_enabled

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format          = local.access_log_format
  }

  # Logging needs the account's CloudWatch role set first; execution logs need their group to exist with its
  # retention before API Gateway writes to it.
  depends_on = [aws_api_gateway_account.this, aws_cloudwatch_log_group.api_execution]
}

resource "aws_api_gateway_method_settings" "all" {
  # checkov:skip=CKV_AWS_225: no cache (see the stage).
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.execution_logging_level
    data_trace_enabled     = false # full request/response bodies in logs would include what clients send
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}
