# syntax=docker/dockerfile:1
# check=error=true
# checkov:skip=CKV_DOCKER_2: Lambda runs no HEALTHCHECK (it supervises the runtime itself); apigw-local is FROM scratch (no shell to run one), docker-compose.yml says so
#
# Two images from one file (docker-compose.yml builds both):
#   docker build --target lambda -t hello-lambda-otel .        the function, on Lambda's OS-only base image (default)
#   docker build --target apigw-local -t apigw-local .         the local API Gateway: static, non-root, from scratch
# Both architectures Lambda runs:
#   docker buildx build --platform linux/amd64,linux/arm64 --target lambda -t hello-lambda-otel .
#
# The Rust stages run on the build machine ($BUILDPLATFORM) and cross-compile for $TARGETARCH with Zig as the linker,
# so an arm64 image builds at native speed on an amd64 machine (no QEMU). The build itself is one script,
# scripts/build-static.sh, which CI also runs without Docker and whose output it checks (static, runs against a
# Lambda Runtime API): see scripts/check-stack.sh.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=trixie
ARG CARGO_CHEF_VERSION=0.1.78

# ---- tools: Rust, cargo-chef, cargo-zigbuild + Zig (pinned in build-static.sh), the musl target -----------------
# Build-only image, never shipped: pinned by version. `docker buildx imagetools inspect rust:1.95.0-slim-trixie`
# gives the digest to add where builds must be bit-for-bit repeatable.
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION
ARG TARGETARCH
# python3-venv: cargo-zigbuild and Zig come from PyPI. Debian's versions are not pinned: the stable release only
# takes security fixes, and a pinned version disappears from the archive when the next fix lands.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
ENV TOOLS_DIR=/opt/tools
WORKDIR /src
COPY scripts/build-static.sh scripts/build-static.sh
RUN scripts/build-static.sh --setup --arch "${TARGETARCH}"

# ---- planner: the dependency recipe (changes only when a Cargo.toml or Cargo.lock does) -------------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- deps: every dependency compiled for the target, cached until the recipe changes -----------------------------
FROM chef AS deps
ARG TARGETARCH
COPY --from=planner /src/recipe.json recipe.json
RUN scripts/build-static.sh --arch "${TARGETARCH}" --deps-only recipe.json

# ---- the two binaries, static (musl): no glibc needed, so provided:al2023's glibc 2.34 is no constraint ----------
FROM deps AS build-bootstrap
ARG TARGETARCH
COPY . .
RUN scripts/build-static.sh --arch "${TARGETARCH}" --out /out bootstrap

FROM deps AS build-apigw-local
ARG TARGETARCH
COPY . .
RUN scripts/build-static.sh --arch "${TARGETARCH}" --out /out apigw-local

# ---- apigw-local: the local API Gateway (Invoke-client back end in compose) -------------------------------------
# A static binary needs nothing from an OS: scratch, the CA bundle (for an https OTLP endpoint), a non-root user id.
FROM scratch AS apigw-local
COPY --from=build-apigw-local /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build-apigw-local /out/apigw-local /usr/local/bin/apigw-local
LABEL org.opencontainers.image.title="apigw-local" \
      org.opencontainers.image.description="A local API Gateway REST (v1) Lambda proxy integration" \
      org.opencontainers.image.licenses="MIT-0"
ENV APIGW_LOCAL_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/apigw-local"]

# ---- lambda: the function image (the default target) -------------------------------------------------------------
# Lambda's OS-only base image, pinned by version and by the digest of that version's multi-architecture index
# (the pair as pinned by Renovate in grafana/lambda-promtail's Dockerfile; refresh with
# `docker buildx imagetools inspect public.ecr.aws/lambda/provided:al2023`).
# Its entrypoint, /lambda-entrypoint.sh, takes the handler name as its one argument and runs /var/runtime/bootstrap:
# under Lambda directly (AWS_LAMBDA_RUNTIME_API is set), elsewhere under the Runtime Interface Emulator
# (/usr/local/bin/aws-lambda-rie, serving the Invoke API on port 8080), as AWS documents for its base images
# ("Testing Lambda container images locally").
FROM public.ecr.aws/lambda/provided:al2023.2026.02.27.21@sha256:9ee3f032d4063febdf42a2a1f15149ce8358130753e48fcaf86eae731fab38ff AS lambda
COPY --from=build-bootstrap /out/bootstrap /var/runtime/bootstrap
LABEL org.opencontainers.image.title="hello-lambda-otel" \
      org.opencontainers.image.description="The API Gateway 'Lambda proxy integration: Hello, World!' tutorial as an observable Rust Lambda" \
      org.opencontainers.image.licenses="MIT-0"
CMD ["bootstrap"]
