provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "hello-lambda-otel", ManagedBy = "terraform" }, var.tags)
  }
}
