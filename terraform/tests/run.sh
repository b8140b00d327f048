#!/usr/bin/env bash
# The Terraform configuration's checks, each reported PASS / FAIL (or SKIPPED, locally only):
#
#   fmt       terraform fmt -check -recursive
#   validate  terraform init (offline, from the provider mirror) + terraform validate
#   test      terraform test: plan-level assertions with a mocked provider (tests/*.tftest.hcl)
#   checkov   checkov over terraform/: no failed check (each skip is annotated inline with its reason)
#   checkov-dockerfile  the same for the Dockerfile (the image the configuration builds)
#   moto      a real apply against the moto AWS emulator (127.0.0.1, free port): API, resource, method, integration,
#             stage, permission, function environment, dashboard checked through boto3; plan after apply is empty;
#             then an update to OTLP (an endpoint, tracing off) checked the same way; destroy leaves nothing
#
# Usage: terraform/tests/run.sh [STEP...]          (all steps by default)
# Environment:
#   TF_PLUGIN_DIR  provider mirror (a directory holding registry.terraform.io/hashicorp/aws/...); found on the machine
#                  when unset. Without one, terraform init downloads from the registry (needs the internet).
#   CI=true        a missing tool fails instead of being skipped.
#   KEEP_WORK=1    keep the scratch directory (copies of the configuration, logs, state) for inspection.
# Python tools are installed, pinned, into venvs under .tools/ (gitignored) at the repository root.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tf_dir=$(cd "$here/.." && pwd)
root=$(cd "$tf_dir/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}

MOTO_VERSION=5.2.1
BOTO3_VERSION=1.43.11
CHECKOV_VERSION=3.3.30
TF_TIMEOUT=${TF_TIMEOUT:-600} # seconds for one terraform command against the emulator (a retry loop would hang)
OTLP_ENDPOINT=https://otlp.example.com:4318 # never reached: moto does not run the function

all_steps=(fmt validate test checkov checkov-dockerfile moto)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${all_steps[@]}")
for step in "${steps[@]}"; do
  case " ${all_steps[*]} " in *" $step "*) ;; *) echo "run.sh: unknown step '$step' (${all_steps[*]})" >&2; exit 2 ;; esac
done

if [ -t 1 ]; then green=$'\e[32m' red=$'\e[31m' yellow=$'\e[33m' bold=$'\e[1m' reset=$'\e[0m'
else green='' red='' yellow='' bold='' reset=''; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/terraform-tests.XXXXXX")
cleanup() {
  if [ -n "${KEEP_WORK:-}" ]; then echo "terraform tests: scratch directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 skipped=0
failed_steps=()

# run_step NAME FUNCTION: runs FUNCTION in a subshell with its output in $work/NAME.log; prints PASS/FAIL/SKIPPED
# with the time. A function returns 0 (pass), 1 (fail) or 3 (a tool is missing: skipped locally, failed in CI).
run_step() {
  local name=$1 fn=$2 start rc elapsed log="$work/$1.log"
  start=$(date +%s)
  echo "${bold}---- terraform: $name${reset}"
  ("$fn") >"$log" 2>&1
  rc=$?
  elapsed=$(($(date +%s) - start))
  if [ $rc -eq 3 ]; then
    if [ "${CI:-}" = "true" ]; then
      cat "$log"
      echo "${red}FAIL${reset}: $name (${elapsed}s): a tool is missing, and nothing may be skipped in CI"
      failed=$((failed + 1)); failed_steps+=("$name")
    else
      cat "$log"
      echo "${yellow}SKIPPED${reset}: $name (${elapsed}s) -- NOT TESTED: $(tail -1 "$log")"
      skipped=$((skipped + 1))
    fi
  elif [ $rc -eq 0 ]; then
    # The log's summary lines only (the whole log is printed on failure, or kept with KEEP_WORK=1).
    grep -E '^(tests/.*\.\.\. (pass|fail)|Success!|Passed checks|checkov .*: no failed|provider mirror|Terraform v|moto [0-9]|seeded|Apply complete|Destroy complete|checks [a-z]+: |ok - plan|ok - destroyed|The configuration is valid)' "$log" | sed 's/^/  /' || true
    echo "${green}PASS${reset}: $name (${elapsed}s)"
    passed=$((passed + 1))
  else
    cat "$log"
    echo "${red}FAIL${reset}: $name (${elapsed}s), log above"
    failed=$((failed + 1)); failed_steps+=("$name")
  fi
}

# require COMMAND [HINT]: fails with status 3 (see run_step) when COMMAND is not on PATH.
require() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "missing: $1${2:+ ($2)}"
  return 3
}

# ---- Terraform and its provider mirror --------------------------------------------------------------------------
plugin_dir=${TF_PLUGIN_DIR:-}
if [ -z "$plugin_dir" ]; then
  # The machine image's mirror of the AWS provider, anywhere on this file system.
  plugin_dir=$(find / -xdev -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -1 | sed 's|/registry.terraform.io/.*||')
fi
export TF_CLI_CONFIG_FILE="$work/terraformrc"
if [ -n "$plugin_dir" ]; then
  cat >"$TF_CLI_CONFIG_FILE" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$plugin_dir"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
else
  : >"$TF_CLI_CONFIG_FILE"
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_DATA_DIR TF_WORKSPACE

# A copy of the shipped configuration (its *.tf, plus what STEP adds) in $work/NAME, so that no step writes into
# terraform/ and no local terraform.tfvars, state or .terraform of the user's gets in.
copy_config() {
  local dest=$work/$1
  mkdir -p "$dest"
  cp "$tf_dir"/*.tf "$tf_dir"/*.tftpl "$tf_dir"/function-environment.env "$dest"/
  echo "$dest"
}

tf_init() {
  echo "provider mirror: ${plugin_dir:-none (registry download)}"
  terraform init -input=false -no-color -backend=false
}

# ---- steps ------------------------------------------------------------------------------------------------------
step_fmt() {
  require terraform "https://developer.hashicorp.com/terraform/install" || return
  terraform -chdir="$tf_dir" fmt -check -recursive -diff -no-color
}

step_validate() {
  require terraform || return
  terraform version -no-color | head -1
  local dir
  dir=$(copy_config validate)
  cd "$dir" && tf_init && terraform validate -no-color
}

step_test() {
  require terraform || return
  local dir
  dir=$(copy_config test)
  mkdir -p "$dir/tests" && cp "$here"/*.tftest.hcl "$dir/tests/"
  cd "$dir" && tf_init && terraform test -no-color
}

# venv DIR PACKAGE...: a venv with exactly these pinned packages (a stamp file names them).
venv() {
  local dir=$1; shift
  local stamp
  stamp="$dir/.stamp-$(echo "$*" | tr ' =[]' '_-__')"
  if [ ! -e "$stamp" ]; then
    echo "installing $* into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" || return 1
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" || return 1
    touch "$stamp"
  fi
}

checkov() {
  require python3 || return
  venv "$tools/checkov" "checkov==$CHECKOV_VERSION" || return 1
  # --skip-download: no call home for policies (offline). --quiet prints failed checks only.
  "$tools/checkov/bin/checkov" --skip-download --compact --quiet "$@" || return 1
  echo "checkov $*: no failed check"
}

step_checkov() {
  checkov --directory "$tf_dir" --framework terraform
}

step_checkov-dockerfile() {
  checkov --file "$root/Dockerfile" --framework dockerfile
}

step_moto() {
  require terraform || return
  require python3 || return
  venv "$tools/terraform-moto" "moto[server]==$MOTO_VERSION" "boto3==$BOTO3_VERSION" || return 1
  local python="$tools/terraform-moto/bin/python" port endpoint dir images image_tag image_digest
  moto_pid= # not local: the EXIT trap reads it after this function has returned
  # This step runs in a subshell: its EXIT trap stops the emulator however the step ends.
  trap '[ -z "$moto_pid" ] || { kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null; echo "moto stopped"; }' EXIT

  # The emulator, on a free port of 127.0.0.1 (the port is picked, released, then bound by moto: retry on a race).
  for _attempt in 1 2 3; do
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_LAMBDA_STUB_ECR=false \
      "$python" "$here/moto/moto_server.py" -H 127.0.0.1 -p "$port" >"$work/moto-server.log" 2>&1 &
    moto_pid=$!
    endpoint="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      kill -0 "$moto_pid" 2>/dev/null || break
      "$python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$endpoint/moto-api/" \
        >/dev/null 2>&1 && break
      sleep 0.1
    done
    kill -0 "$moto_pid" 2>/dev/null && break
    moto_pid=
  done
  if [ -z "$moto_pid" ]; then
    cat "$work/moto-server.log"
    echo "moto did not start"
    return 1
  fi
  echo "moto $MOTO_VERSION on $endpoint (pid $moto_pid)"

  # Everything AWS goes to the emulator, with its dummy credentials; nothing of the user's AWS configuration is read.
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL

  # The image: put into the emulated ECR first (moto checks that it exists), passed by tag; the configuration
  # must pin the function to its digest.
  images=$("$python" "$here/moto/aws_checks.py" seed --endpoint "$endpoint" --repository byo-image --tag v1) || return 1
  image_tag=$("$python" -c 'import json, sys; print(json.loads(sys.argv[1])["by_tag"])' "$images")
  image_digest=$("$python" -c 'import json, sys; print(json.loads(sys.argv[1])["by_digest"])' "$images")
  echo "seeded image $image_tag = $image_digest"

  dir=$(copy_config moto)
  sed "s|MOTO_URL|$endpoint|g" "$here/moto/provider_override.tf" >"$dir/provider_override.tf"
  cd "$dir" || return 1
  local tf=(timeout "$TF_TIMEOUT" terraform)
  local vars=(-var "image_uri=$image_tag")

  tf_init >/dev/null || { echo "terraform init failed"; return 1; }
  SECONDS=0
  echo "== apply"
  "${tf[@]}" apply -auto-approve -input=false -no-color "${vars[@]}" || return 1
  "${tf[@]}" output -json -no-color >outputs.json || return 1
  "$python" "$here/moto/aws_checks.py" applied --endpoint "$endpoint" --outputs outputs.json \
    --image-uri "$image_digest" --telemetry aws --env-file "$tf_dir/function-environment.env" || return 1

  echo "== plan right after apply"
  "${tf[@]}" plan -detailed-exitcode -input=false -no-color "${vars[@]}" >plan.log 2>&1
  case $? in
    0) echo "ok - plan after apply: No changes (${SECONDS}s)" ;;
    2) cat plan.log; echo "not ok - plan after apply shows changes"; return 1 ;;
    *) cat plan.log; echo "not ok - plan after apply failed"; return 1 ;;
  esac

  # The second apply: telemetry to an OTLP endpoint. Tracing off as well (OTLP only, no X-Ray at all), so that the
  # same apply also covers the update that takes the X-Ray permission and active tracing away: one apply less.
  vars+=(-var "otel_exporter_otlp_endpoint=$OTLP_ENDPOINT" -var tracing_enabled=false)
  echo "== apply an update: OTLP endpoint, tracing off"
  "${tf[@]}" apply -auto-approve -input=false -no-color "${vars[@]}" || return 1
  "${tf[@]}" output -json -no-color >outputs.json || return 1
  "$python" "$here/moto/aws_checks.py" applied --endpoint "$endpoint" --outputs outputs.json \
    --image-uri "$image_digest" --telemetry otlp --otlp-endpoint "$OTLP_ENDPOINT" || return 1
  "${tf[@]}" plan -detailed-exitcode -input=false -no-color "${vars[@]}" >plan.log 2>&1
  case $? in
    0) echo "ok - plan after the update: No changes (${SECONDS}s)" ;;
    *) cat plan.log; echo "not ok - plan after the update is not empty"; return 1 ;;
  esac

  echo "== destroy"
  "${tf[@]}" destroy -auto-approve -input=false -no-color "${vars[@]}" || return 1
  "$python" "$here/moto/aws_checks.py" destroyed --endpoint "$endpoint" --keep-repository byo-image || return 1
  echo "ok - destroyed and checked (${SECONDS}s)"
}

# ---- main -------------------------------------------------------------------------------------------------------
cd "$root" || exit 1
total_start=$(date +%s)
for step in "${steps[@]}"; do
  run_step "$step" "step_$step"
done
echo "${bold}terraform: ${steps[*]} in $(($(date +%s) - total_start))s${reset}"
if [ $failed -gt 0 ]; then echo "${red}failed: ${failed_steps[*]}${reset}"; fi
echo "terraform: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
