################################################################################
# The function's container image: built from this repository and pushed to ECR during `terraform apply`, unless
# var.image_uri names an existing image. Either way the function is pinned to the image's digest.
################################################################################

locals {
  build_image = var.image_uri == null

  # The Docker build context: the repository root, one level above this configuration.
  build_context = abspath("${path.module}/..")

  # Everything the Dockerfile's `lambda` target is built from. A change to any of these files (or to the
  # architecture) makes a new tag, which rebuilds and pushes the image and updates the function.
  build_patterns = [
    "Dockerfile", ".dockerignore", "Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "scripts/build-static.sh",
    "src/**", "lambda-otel/Cargo.toml", "lambda-otel/src/**", "otlp-setup/Cargo.toml", "otlp-setup/src/**",
    "apigw-local/Cargo.toml",
  ]
  build_inputs = local.build_image ? sort(distinct(flatten([
    for pattern in local.build_patterns : tolist(fileset(local.build_context, pattern))
  ]))) : []
  build_hash = sha256(join("\n", concat(
    [var.architecture],
    [for file in local.build_inputs : "${file} ${filesha256("${local.build_context}/${file}")}"],
  )))
  build_tag      = "${var.architecture}-${substr(local.build_hash, 0, 16)}"
  build_platform = var.architecture == "arm64" ? "linux/arm64" : "linux/amd64"

  # A user-supplied image, split into registry, repository, tag and digest.
  given_image = local.build_image ? null : regex(
    "^(?P<registry>(?P<account>[0-9]{12})\\.dkr\\.ecr\\.[^/]+)/(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$",
    var.image_uri,
  )

  image_repository_url = local.build_image ? aws_ecr_repository.this.repository_url : "${local.given_image.registry}/${local.given_image.repository}"
  given_tag_only       = local.build_image ? false : local.given_image.digest == null
  image_digest = (
    local.build_image ? data.aws_ecr_image.built[0].image_digest :
    local.given_tag_only ? data.aws_ecr_image.given[0].image_digest : local.given_image.digest
  )

  # What the function runs: always by digest, so a moved tag cannot change the code behind the function's back.
  function_image_uri = "${local.image_repository_url}@${local.image_digest}"
}

# Build and push with Docker Buildx. Runs again only when the sources (build_hash) or the target change.
# Needs, on the machine running terraform: Docker with Buildx (QEMU or a native builder for a foreign --platform is not
# needed: the Dockerfile cross-compiles) and the AWS CLI with credentials for the same account and Region.
resource "terraform_data" "image" {
  count = local.build_image ? 1 : 0

  triggers_replace = {
    image    = "${aws_ecr_repository.this.repository_url}:${local.build_tag}"
    platform = local.build_platform
  }
  input = local.build_tag

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    working_dir = local.build_context
    environment = {
      AWS_REGION = var.region
      REPOSITORY = aws_ecr_repository.this.name
      IMAGE      = "${aws_ecr_repository.this.repository_url}:${local.build_tag}"
      TAG        = local.build_tag
      PLATFORM   = local.build_platform
    }
    # Tags are immutable: an image already pushed for these sources is kept, not pushed again.
    # --provenance/--sbom false: Lambda accepts a single image manifest, not an index with attestations.
    command = <<-EOT
      set -euo pipefail
      if aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=$TAG" >/dev/null 2>&1; then
        echo "image: $IMAGE is already in ECR"
        exit 0
      fi
      aws ecr get-login-password | docker login --username AWS --password-stdin "$${IMAGE%%/*}"
      docker buildx build --platform "$PLATFORM" --target lambda --provenance=false --sbom=false \
        --tag "$IMAGE" --push .
    EOT
  }
}

# The digest of the image just pushed: read once the push is done (the tag comes from terraform_data's output).
data "aws_ecr_image" "built" {
  count = local.build_image ? 1 : 0

  registry_id     = aws_ecr_repository.this.registry_id
  repository_name = aws_ecr_repository.this.name
  image_tag       = terraform_data.image[0].output
}

# The digest var.image_uri's tag points to (nothing to look up when it names a digest).
data "aws_ecr_image" "given" {
  count = !local.build_image && local.given_tag_only ? 1 : 0

  registry_id     = local.given_image.account
  repository_name = local.given_image.repository
  image_tag       = local.given_image.tag
}
