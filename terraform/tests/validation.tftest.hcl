# Every constrained variable rejects a bad value at plan time (before any API call; the provider is mocked).
# `terraform test` from terraform/; tests/run.sh runs it on a copy.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

variables {
  image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo@sha256:2222222222222222222222222222222222222222222222222222222222222222"
}

run "defaults_are_valid" {
  command = plan
}

run "rejects_architecture_amd64" {
  command = plan

  variables {
    architecture = "amd64"
  }

  expect_failures = [var.architecture]
}

run "rejects_log_retention_42_days" {
  command = plan

  variables {
    log_retention_in_days = 42
  }

  expect_failures = [var.log_retention_in_days]
}

run "rejects_stage_name_with_space" {
  command = plan

  variables {
    stage_name = "my stage"
  }

  expect_failures = [var.stage_name]
}

run "rejects_image_uri_not_ecr" {
  command = plan

  variables {
    image_uri = "docker.io/library/nginx:latest"
  }

  expect_failures = [var.image_uri]
}

run "rejects_image_uri_without_tag_or_digest" {
  command = plan

  variables {
    image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo"
  }

  expect_failures = [var.image_uri]
}

run "rejects_memory_below_128" {
  command = plan

  variables {
    memory_size = 64
  }

  expect_failures = [var.memory_size]
}

run "rejects_timeout_zero" {
  command = plan

  variables {
    timeout = 0
  }

  expect_failures = [var.timeout]
}

run "rejects_function_name_too_long" {
  command = plan

  variables {
    function_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  }

  expect_failures = [var.function_name]
}

run "rejects_otlp_protocol_json" {
  command = plan

  variables {
    otel_exporter_otlp_protocol = "http/json"
  }

  expect_failures = [var.otel_exporter_otlp_protocol]
}

run "rejects_otlp_endpoint_without_scheme" {
  command = plan

  variables {
    otel_exporter_otlp_endpoint = "localhost:4318"
  }

  expect_failures = [var.otel_exporter_otlp_endpoint]
}

run "rejects_otlp_headers_not_pairs" {
  command = plan

  variables {
    otel_exporter_otlp_headers = "just-a-token"
  }

  expect_failures = [var.otel_exporter_otlp_headers]
}

run "rejects_execution_logging_debug" {
  command = plan

  variables {
    execution_logging_level = "DEBUG"
  }

  expect_failures = [var.execution_logging_level]
}

run "rejects_keep_zero_images" {
  command = plan

  variables {
    repository_keep_images = 0
  }

  expect_failures = [var.repository_keep_images]
}

run "rejects_region_typo" {
  command = plan

  variables {
    region = "us-east"
  }

  expect_failures = [var.region]
}

run "rejects_environment_variable_bad_name" {
  command = plan

  variables {
    environment_variables = { "1BAD" = "x" }
  }

  expect_failures = [var.environment_variables]
}

run "rejects_traces_exporter_jaeger" {
  command = plan

  variables {
    otel_traces_exporter = ["jaeger"]
  }

  expect_failures = [var.otel_traces_exporter]
}

run "rejects_traces_exporter_twice" {
  command = plan

  variables {
    otel_traces_exporter = ["xray", "xray"]
  }

  expect_failures = [var.otel_traces_exporter]
}

run "rejects_metrics_exporter_prometheus" {
  command = plan

  variables {
    otel_metrics_exporter = ["prometheus"]
  }

  expect_failures = [var.otel_metrics_exporter]
}

run "rejects_metrics_exporter_none_as_entry" {
  command = plan

  variables {
    otel_metrics_exporter = ["none"]
  }

  expect_failures = [var.otel_metrics_exporter]
}

run "rejects_namespace_aws" {
  command = plan

  variables {
    metrics_namespace = "AWS/Lambda"
  }

  expect_failures = [var.metrics_namespace]
}

run "rejects_namespace_with_quote" {
  command = plan

  variables {
    metrics_namespace = "hello\"lambda"
  }

  expect_failures = [var.metrics_namespace]
}

run "rejects_namespace_blank" {
  command = plan

  variables {
    metrics_namespace = "   "
  }

  expect_failures = [var.metrics_namespace]
}

run "rejects_dashboard_name_with_space" {
  command = plan

  variables {
    dashboard_name = "my dashboard"
  }

  expect_failures = [var.dashboard_name]
}

run "rejects_service_name_with_quote" {
  command = plan

  variables {
    otel_service_name = "it's"
  }

  expect_failures = [var.otel_service_name]
}

# Combinations, checked by the function's preconditions.

run "rejects_xray_without_active_tracing" {
  command = plan

  variables {
    tracing_enabled      = false
    otel_traces_exporter = ["xray"]
  }

  expect_failures = [aws_lambda_function.this]
}

run "rejects_otlp_exporter_without_endpoint" {
  command = plan

  variables {
    otel_metrics_exporter = ["otlp"]
  }

  expect_failures = [aws_lambda_function.this]
}

run "rejects_endpoint_nobody_uses" {
  command = plan

  variables {
    otel_exporter_otlp_endpoint = "https://otlp.example.com:4318"
    otel_traces_exporter        = ["xray"]
    otel_metrics_exporter       = ["emf"]
  }

  expect_failures = [aws_lambda_function.this]
}
