################################################################################
# Where and what
################################################################################

variable "region" {
  description = "AWS Region to deploy to (the tutorial uses us-east-1)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "The region must be an AWS Region code such as us-east-1 or eu-west-3."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of Project and ManagedBy), through the provider's default_tags."
  type        = map(string)
  default     = {}
}

################################################################################
# Container image (ECR)
################################################################################

variable "repository_name" {
  description = "Name of the ECR repository that holds the function's image."
  type        = string
  default     = "hello-lambda-otel"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.repository_name)) && length(var.repository_name) >= 2 && length(var.repository_name) <= 256
    error_message = "The repository name must be 2 to 256 lowercase letters, digits and . _ - / separators (ECR's rule)."
  }
}

variable "repository_keep_images" {
  description = "How many of the most recent images the ECR lifecycle policy keeps; older ones expire."
  type        = number
  default     = 10

  validation {
    condition     = var.repository_keep_images >= 1 && var.repository_keep_images <= 1000 && floor(var.repository_keep_images) == var.repository_keep_images
    error_message = "repository_keep_images must be a whole number from 1 to 1000."
  }
}

variable "repository_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository together with the images in it (they are build outputs of this repository's sources). Set to false to keep destroy from deleting pushed images."
  type        = bool
  default     = true
}

variable "image_uri" {
  description = <<-EOT
    An existing image to deploy instead of building one: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY` followed by
    `:TAG`, `@sha256:DIGEST` or both. A tag is resolved to its digest, so the function is always pinned by digest.
    Null (the default) builds the image from this repository with `docker buildx` and pushes it to the ECR repository.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$", var.image_uri))
    error_message = "image_uri must be an ECR image URI: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or ...@sha256:DIGEST."
  }

  validation {
    condition     = var.image_uri == null || can(regex("(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64})$", var.image_uri))
    error_message = "image_uri must name a tag or a digest (Lambda needs one of them)."
  }
}

################################################################################
# Lambda function
################################################################################

variable "function_name" {
  description = "Name of the Lambda function (the tutorial's name by default)."
  type        = string
  default     = "GetStartedLambdaProxyIntegration"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "The function name must be 1 to 64 letters, digits, hyphens or underscores."
  }
}

variable "role_name" {
  description = "Name of the function's execution role. Null: \"<function_name>-execution\"."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "An IAM role name is 1 to 64 letters, digits and + = , . @ _ - characters."
  }
}

variable "architecture" {
  description = "Instruction set of the function (and of the image built for it): arm64 (Graviton, cheaper per ms) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU scales with it)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. API Gateway gives up on the integration after 29 s, so more than that only helps other callers."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "tracing_enabled" {
  description = "X-Ray active tracing on the function and tracing on the API stage; the function's own spans reach X-Ray only with it (otel_traces_exporter \"xray\"). When false, the execution role gets no X-Ray permission."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the ECR repository, the log groups and the function's environment variables. Null: AWS owned/managed keys (still encrypted at rest). The key policy must let CloudWatch Logs use it."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

################################################################################
# Telemetry (OpenTelemetry, read by the function; see docs/telemetry.md)
################################################################################

variable "otel_exporter_otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT: base URL of the OTLP receiver (collector or backend), e.g. https://otlp.example.com:4318. Set, it becomes the default destination of both traces and metrics (see otel_traces_exporter, otel_metrics_exporter). Null: traces go to X-Ray and metrics to CloudWatch (EMF)."
  type        = string
  default     = null

  validation {
    condition     = var.otel_exporter_otlp_endpoint == null || can(regex("^https?://[^\\s/]+(/\\S*)?$", var.otel_exporter_otlp_endpoint))
    error_message = "otel_exporter_otlp_endpoint must be an http:// or https:// URL."
  }
}

variable "otel_exporter_otlp_protocol" {
  description = "OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (port 4318 by convention) or grpc (port 4317)."
  type        = string
  default     = "http/protobuf"

  validation {
    condition     = contains(["http/protobuf", "grpc"], var.otel_exporter_otlp_protocol)
    error_message = "otel_exporter_otlp_protocol must be http/protobuf or grpc."
  }
}

variable "otel_exporter_otlp_headers" {
  description = "OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value pairs sent with every export, typically the backend's API key (e.g. \"x-api-key=...\"). Kept out of plan output; it is stored in the state and in the function's configuration."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.otel_exporter_otlp_headers == null || can(regex("^[^=,\\s]+=[^,]*(,[^=,\\s]+=[^,]*)*$", var.otel_exporter_otlp_headers))
    error_message = "otel_exporter_otlp_headers must be comma-separated key=value pairs."
  }
}

variable "otel_service_name" {
  description = "OTEL_SERVICE_NAME: the service.name of the function's telemetry, and the Service dimension of its CloudWatch metrics. Null: the function name."
  type        = string
  default     = null

  validation {
    condition     = var.otel_service_name == null || try(length(trimspace(var.otel_service_name)) > 0, false)
    error_message = "otel_service_name must not be empty (use null for the function name)."
  }

  validation {
    # The dashboard's search expressions quote the name in '...' and "...": CloudWatch's search syntax has no
    # escape that Terraform could apply for every one of these.
    condition     = var.otel_service_name == null || !can(regex("[\"'\\\\]", coalesce(var.otel_service_name, "-")))
    error_message = "otel_service_name must not contain quotes or backslashes (it is a dimension value in the dashboard's search expressions)."
  }
}

variable "otel_traces_exporter" {
  description = <<-EOT
    OTEL_TRACES_EXPORTER: where the function sends its spans, a list of
    "xray" (the X-Ray daemon Lambda runs beside the function with active tracing; needs tracing_enabled) and
    "otlp" (otel_exporter_otlp_endpoint). Both at once send every span to both; [] sends none ("none").
    Null: ["otlp"] with an OTLP endpoint, else ["xray"] with tracing_enabled, else [].
  EOT
  type        = list(string)
  default     = null

  validation {
    condition     = var.otel_traces_exporter == null || alltrue([for e in coalesce(var.otel_traces_exporter, []) : contains(["xray", "otlp"], e)])
    error_message = "otel_traces_exporter entries must be \"xray\" or \"otlp\" (an empty list for none)."
  }

  validation {
    condition     = var.otel_traces_exporter == null || length(distinct(coalesce(var.otel_traces_exporter, []))) == length(coalesce(var.otel_traces_exporter, []))
    error_message = "otel_traces_exporter must not name an exporter twice."
  }
}

variable "otel_metrics_exporter" {
  description = <<-EOT
    OTEL_METRICS_EXPORTER: where the function sends its metrics, a list of
    "emf" (CloudWatch Embedded Metric Format lines in the function's log, namespace metrics_namespace) and
    "otlp" (otel_exporter_otlp_endpoint). Both at once send to both; [] sends none ("none").
    Null: ["otlp"] with an OTLP endpoint, else ["emf"].
  EOT
  type        = list(string)
  default     = null

  validation {
    condition     = var.otel_metrics_exporter == null || alltrue([for e in coalesce(var.otel_metrics_exporter, []) : contains(["emf", "otlp"], e)])
    error_message = "otel_metrics_exporter entries must be \"emf\" or \"otlp\" (an empty list for none)."
  }

  validation {
    condition     = var.otel_metrics_exporter == null || length(distinct(coalesce(var.otel_metrics_exporter, []))) == length(coalesce(var.otel_metrics_exporter, []))
    error_message = "otel_metrics_exporter must not name an exporter twice."
  }
}

variable "metrics_namespace" {
  description = "LAMBDA_OTEL_EMF_NAMESPACE: the CloudWatch namespace of the function's EMF metrics (Requests, Duration, Errors, ColdStarts), and the one the dashboard reads."
  type        = string
  default     = "hello-lambda-otel"

  validation {
    # CloudWatch's rules for a namespace: 1 to 255 of these characters, not only spaces, not AWS/ (AWS's own).
    condition     = can(regex("^[0-9A-Za-z._#:/ -]{1,255}$", var.metrics_namespace)) && length(trimspace(var.metrics_namespace)) > 0 && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1 to 255 letters, digits, spaces and . - _ / # : characters, not only spaces, and must not begin with AWS/ (CloudWatch's rules)."
  }
}

variable "otel_flush_timeout_ms" {
  description = "LAMBDA_OTEL_FLUSH_TIMEOUT_MS: the most time, in ms, the function spends flushing telemetry after each response (billed, bounded so that a slow or dead collector cannot stall the function)."
  type        = number
  default     = 500

  validation {
    condition     = var.otel_flush_timeout_ms >= 1 && var.otel_flush_timeout_ms <= 10000 && floor(var.otel_flush_timeout_ms) == var.otel_flush_timeout_ms
    error_message = "otel_flush_timeout_ms must be a whole number of ms from 1 to 10000."
  }
}

variable "environment_variables" {
  description = "More environment variables for the function (e.g. RUST_LOG, OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES). They override the ones set from the otel_* variables."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.environment_variables) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", key))])
    error_message = "Environment variable names must start with a letter and hold only letters, digits and underscores."
  }
}

################################################################################
# Dashboard
################################################################################

variable "dashboard_enabled" {
  description = "Create the CloudWatch dashboard of the function's metrics (EMF) and the API stage's metrics."
  type        = bool
  default     = true
}

variable "dashboard_name" {
  description = "Name of the CloudWatch dashboard. Dashboards are global to the account, not per Region. Null: \"<function_name>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.dashboard_name == null || can(regex("^[A-Za-z0-9_-]{1,255}$", coalesce(var.dashboard_name, "-")))
    error_message = "dashboard_name must be 1 to 255 letters, digits, hyphens or underscores (CloudWatch's rule)."
  }
}

################################################################################
# Logs
################################################################################

variable "log_retention_in_days" {
  description = "Retention of the function's log group and of the API's access and execution log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

################################################################################
# API Gateway (REST API)
################################################################################

variable "api_name" {
  description = "Name of the REST API (the tutorial's name by default)."
  type        = string
  default     = "LambdaSimpleProxy"

  validation {
    condition     = length(trimspace(var.api_name)) > 0 && length(var.api_name) <= 1024
    error_message = "api_name must be 1 to 1024 characters."
  }
}

variable "stage_name" {
  description = "Name of the stage the API is deployed to; it is the first segment of the invoke URL's path."
  type        = string
  default     = "test"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name must be 1 to 128 letters, digits, hyphens or underscores."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage accepts across all clients (more get 429)."
  type        = number
  default     = 10

  validation {
    condition     = var.throttling_rate_limit >= 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be from 0 to 10000 requests per second."
  }
}

variable "throttling_burst_limit" {
  description = "Requests the stage accepts in a burst above the rate limit."
  type        = number
  default     = 20

  validation {
    condition     = var.throttling_burst_limit >= 0 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number from 0 to 5000."
  }
}

variable "execution_logging_level" {
  description = "API Gateway execution logging (CloudWatch log group API-Gateway-Execution-Logs_<api id>/<stage>): OFF, ERROR or INFO."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.execution_logging_level)
    error_message = "execution_logging_level must be OFF, ERROR or INFO."
  }
}

variable "manage_api_gateway_account" {
  description = <<-EOT
    Create the IAM role API Gateway needs to write logs to CloudWatch and set it in the Region's API Gateway account
    settings (aws_api_gateway_account): without it, access logging fails. The setting is one per account and Region, and
    destroy resets it: set to false when the account already has one (other REST APIs there log to CloudWatch).
  EOT
  type        = bool
  default     = true
}
