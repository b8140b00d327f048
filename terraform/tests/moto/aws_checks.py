"""TEST ONLY: what tests/run.sh asks the AWS emulator (moto) before and after `terraform apply` and `destroy`.

    aws_checks.py seed      --endpoint URL --repository NAME --tag TAG          puts an image, prints its URIs (JSON)
    aws_checks.py applied   --endpoint URL --outputs FILE --image-uri URI --telemetry aws --env-file FILE
    aws_checks.py applied   --endpoint URL --outputs FILE --image-uri URI --telemetry otlp --otlp-endpoint URL
    aws_checks.py destroyed --endpoint URL --keep-repository NAME

Each check prints `ok - ...` or `not ok - ...`; the exit status is 1 when any check failed.
"""

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

import boto3

REPOSITORY = Path(__file__).resolve().parents[3]
# The dashboards' name checker of the stack check (standard library only).
sys.path.insert(0, str(REPOSITORY / "tests/stack"))
import cloudwatch_names  # noqa: E402

REGION = "us-east-1"
API_NAME = "LambdaSimpleProxy"
FUNCTION_NAME = "GetStartedLambdaProxyIntegration"
STAGE = "test"
RETENTION_DAYS = 30
KEEP_IMAGES = 10
THROTTLING = (10.0, 20)  # rate, burst: the variables' defaults
DASHBOARD = f"{FUNCTION_NAME}-{REGION}"
NAMESPACE = "hello-lambda-otel"
# What a real run of the function writes (pinned by apigw-local/tests/emf_lines.rs): the dashboard is checked against it.
EMF_METRICS = set(cloudwatch_names.load_catalog().emf)
API_GATEWAY_METRICS = {"Count", "Latency", "IntegrationLatency", "4XXError", "5XXError"}

failures = []
passes = []


class NameReport:
    """What cloudwatch_names.check_files reports, its failures kept for one check here."""

    def __init__(self):
        self.failed = []

    def fail(self, message):
        self.failed.append(message)

    def good(self, message):
        pass

    def check(self, condition, message, failure=None):
        if not condition:
            self.fail(failure or message)
        return condition


def check(condition, what, detail=None):
    if condition:
        passes.append(what)
        print(f"ok - {what}")
    else:
        failures.append(what)
        print(f"not ok - {what}" + (f": {detail}" if detail is not None else ""))
    return condition


def clients(endpoint):
    kwargs = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    names = ("apigateway", "cloudwatch", "ecr", "iam", "lambda", "logs", "sts")
    return {name: boto3.client(name, **kwargs) for name in names}


def read_env_file(path):
    """KEY=VALUE lines, as `make run-deployed` reads them."""
    with open(path) as lines:
        return dict(line.rstrip("\n").split("=", 1) for line in lines if line.strip())


def seed(args):
    """An image the function can run: a schema-2 manifest with made-up digests, as `docker push` would leave."""
    ecr = clients(args.endpoint)["ecr"]
    ecr.create_repository(repositoryName=args.repository)
    config = hashlib.sha256(b"config").hexdigest()
    layer = hashlib.sha256(b"layer").hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1469,
            "digest": f"sha256:{config}",
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 4_000_000,
                "digest": f"sha256:{layer}",
            }
        ],
    }
    image = ecr.put_image(repositoryName=args.repository, imageManifest=json.dumps(manifest), imageTag=args.tag)
    repository_uri = ecr.describe_repositories(repositoryNames=[args.repository])["repositories"][0]["repositoryUri"]
    digest = image["image"]["imageId"]["imageDigest"]
    print(json.dumps({"by_tag": f"{repository_uri}:{args.tag}", "by_digest": f"{repository_uri}@{digest}"}))


def applied(args):
    aws = clients(args.endpoint)
    outputs = {name: value["value"] for name, value in json.load(open(args.outputs)).items()}
    account = aws["sts"].get_caller_identity()["Account"]
    # The default deployment sends to AWS (X-Ray, EMF) with active tracing; the OTLP one has tracing off.
    aws_telemetry = args.telemetry == "aws"
    tracing = aws_telemetry
    tracing_word = "on" if tracing else "off"

    # REST API
    apis = [api for api in aws["apigateway"].get_rest_apis()["items"] if api["name"] == API_NAME]
    if not check(len(apis) == 1, f"one REST API named {API_NAME}", apis):
        return
    api = apis[0]
    api_id = api["id"]
    check(api_id == outputs["rest_api_id"], "output rest_api_id is the API's id", outputs["rest_api_id"])
    check(api.get("endpointConfiguration", {}).get("types") == ["REGIONAL"], "the API is REGIONAL", api)

    resources = {r["path"]: r for r in aws["apigateway"].get_resources(restApiId=api_id)["items"]}
    check(sorted(resources) == ["/", "/helloworld"], "the API has / and /helloworld only", sorted(resources))
    resource = resources.get("/helloworld")
    if not check(resource is not None, "resource /helloworld exists"):
        return
    methods = sorted(resource.get("resourceMethods", {}))
    check(methods == ["ANY"], "/helloworld has the one method ANY", methods)
    method = aws["apigateway"].get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="ANY")
    check(method["authorizationType"] == "NONE", "ANY /helloworld: authorization NONE", method["authorizationType"])

    function = aws["lambda"].get_function(FunctionName=FUNCTION_NAME)
    configuration = function["Configuration"]
    function_arn = configuration["FunctionArn"]
    integration = aws["apigateway"].get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="ANY")
    check(integration["type"] == "AWS_PROXY", "integration type AWS_PROXY", integration["type"])
    check(integration["httpMethod"] == "POST", "integration method POST", integration["httpMethod"])
    invoke_arn = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    check(integration["uri"] == invoke_arn, "integration URI is the function's invoke ARN", integration["uri"])

    # Deployment and stage
    stages = {s["stageName"]: s for s in aws["apigateway"].get_stages(restApiId=api_id)["item"]}
    check(sorted(stages) == [STAGE], f"the API has the one stage {STAGE}", sorted(stages))
    stage = stages.get(STAGE)
    if not check(stage is not None, f"stage {STAGE} exists"):
        return
    deployment = aws["apigateway"].get_deployment(restApiId=api_id, deploymentId=stage["deploymentId"])
    check(deployment["id"] == stage["deploymentId"], "the stage points at an existing deployment")
    check(stage.get("tracingEnabled", False) == tracing, f"stage X-Ray tracing {tracing_word}", stage.get("tracingEnabled"))
    access = stage.get("accessLogSettings") or {}
    log_groups = {g["logGroupName"]: g for g in aws["logs"].describe_log_groups()["logGroups"]}
    access_group = log_groups.get(outputs["access_log_group_name"])
    check(access_group is not None, "the access log group exists", sorted(log_groups))
    if access_group:
        check(
            access.get("destinationArn") == access_group["arn"].removesuffix(":*"),
            "access logs go to the access log group",
            access.get("destinationArn"),
        )
    # The format is JSON once API Gateway has put the values in; the field names are apigw-local's.
    sample = {"requestTimeEpoch": "1764000000000", "status": "200", "responseLength": "62", "responseLatency": "41"}
    line = re.sub(r"\$context\.([A-Za-z.]+)", lambda m: sample.get(m.group(1), "x"), access.get("format", ""))
    try:
        fields = json.loads(line)
    except ValueError:
        fields = None
    expected_fields = [
        "requestId",
        "ip",
        "requestTimeEpoch",
        "httpMethod",
        "path",
        "status",
        "responseLength",
        "responseLatencyMs",
        "integrationErrorMessage",
    ]
    check(fields is not None and list(fields) == expected_fields, "access log format: apigw-local's JSON fields", line)
    if fields:
        check(
            all(isinstance(fields[k], int) for k in ("requestTimeEpoch", "status", "responseLength", "responseLatencyMs")),
            "access log format: numbers unquoted",
            line,
        )
    settings = stage.get("methodSettings", {}).get("*/*", {})
    check(settings.get("metricsEnabled") is True, "stage metrics enabled", settings)
    check(
        (settings.get("throttlingRateLimit"), settings.get("throttlingBurstLimit")) == THROTTLING,
        f"stage throttling {THROTTLING[0]}/s, burst {THROTTLING[1]}",
        settings,
    )
    check(settings.get("loggingLevel") == "ERROR", "stage execution logging ERROR", settings.get("loggingLevel"))
    check(f"API-Gateway-Execution-Logs_{api_id}/{STAGE}" in log_groups, "the execution log group exists")
    account_settings = aws["apigateway"].get_account()
    check(
        account_settings.get("cloudwatchRoleArn") == f"arn:aws:iam::{account}:role/apigateway-cloudwatch-logs-{REGION}",
        "API Gateway account's CloudWatch role set",
        account_settings.get("cloudwatchRoleArn"),
    )

    # Permission: API Gateway may invoke the function, from this API's /helloworld only.
    policy = json.loads(aws["lambda"].get_policy(FunctionName=FUNCTION_NAME)["Policy"])
    statements = policy["Statement"]
    check(len(statements) == 1, "the function's policy has one statement", statements)
    statement = statements[0]
    check(statement["Principal"] == {"Service": "apigateway.amazonaws.com"}, "permission for apigateway.amazonaws.com")
    check(statement["Action"] == "lambda:InvokeFunction", "permission to lambda:InvokeFunction", statement["Action"])
    source_arn = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
    expected_source = f"arn:aws:execute-api:{REGION}:{account}:{api_id}/*/*/helloworld"
    check(source_arn == expected_source, f"permission scoped to {expected_source}", source_arn)

    # Function
    check(configuration["PackageType"] == "Image", "function package type Image", configuration["PackageType"])
    check(configuration["Architectures"] == ["arm64"], "function architecture arm64", configuration["Architectures"])
    check(function["Code"]["ImageUri"] == args.image_uri, "function image pinned by digest", function["Code"]["ImageUri"])
    check(outputs["function_image_uri"] == args.image_uri, "output function_image_uri", outputs["function_image_uri"])
    mode = configuration["TracingConfig"]["Mode"]
    check(mode == ("Active" if tracing else "PassThrough"), f"function X-Ray tracing {tracing_word}", mode)
    environment = configuration.get("Environment", {}).get("Variables", {})
    if aws_telemetry:
        expected_environment = read_env_file(args.env_file)
        what = f"function environment is {args.env_file} (X-Ray, EMF)"
    else:
        expected_environment = {
            "OTEL_SERVICE_NAME": FUNCTION_NAME,
            "LAMBDA_OTEL_FLUSH_TIMEOUT_MS": "500",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        what = "function environment: OTLP for both signals, no X-Ray, no EMF"
    check(environment == expected_environment, what, environment)
    check(configuration["Role"] == outputs["function_role_arn"], "function runs as its role", configuration["Role"])
    check(outputs["function_arn"] == function_arn, "output function_arn", outputs["function_arn"])
    check(outputs["function_name"] == FUNCTION_NAME, "output function_name", outputs["function_name"])

    # Execution role: its own log group; X-Ray only with tracing
    role_name = configuration["Role"].rsplit("/", 1)[1]
    policies = {
        name: aws["iam"].get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        for name in aws["iam"].list_role_policies(RoleName=role_name)["PolicyNames"]
    }
    attached = aws["iam"].list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    check(attached == [], "the execution role has no managed policy", attached)
    expected_policies = ["write-own-log-group"] + (["write-xray-traces"] if tracing else [])
    check(sorted(policies) == expected_policies, f"the execution role's policies: {expected_policies}", sorted(policies))
    function_group = log_groups.get(f"/aws/lambda/{FUNCTION_NAME}")
    check(function_group is not None, "the function's log group exists")
    logs_statements = policies.get("write-own-log-group", {}).get("Statement", [])
    if function_group:
        group_arn = function_group["arn"].removesuffix(":*")
        check(
            [(s["Action"], s["Resource"]) for s in logs_statements]
            == [(["logs:CreateLogStream", "logs:PutLogEvents"], f"{group_arn}:*")],
            "logs allowed to the function's own log group only",
            logs_statements,
        )
    for name, group in log_groups.items():
        check(group.get("retentionInDays") == RETENTION_DAYS, f"log group {name} keeps {RETENTION_DAYS} days", group)

    # ECR repository
    repository = aws["ecr"].describe_repositories(repositoryNames=["hello-lambda-otel"])["repositories"][0]
    check(repository["imageTagMutability"] == "IMMUTABLE", "ECR tags immutable", repository["imageTagMutability"])
    check(repository["imageScanningConfiguration"]["scanOnPush"] is True, "ECR scan on push")
    check(repository["encryptionConfiguration"]["encryptionType"] == "AES256", "ECR encrypted (AES256)")
    lifecycle = json.loads(aws["ecr"].get_lifecycle_policy(repositoryName="hello-lambda-otel")["lifecyclePolicyText"])
    rule = lifecycle["rules"][0]
    check(
        rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] == KEEP_IMAGES,
        f"ECR lifecycle keeps the last {KEEP_IMAGES} images",
        rule,
    )
    check(outputs["repository_url"] == repository["repositoryUri"], "output repository_url", outputs["repository_url"])

    # Dashboard: the function's EMF metrics (with EMF only) and the stage's API Gateway metrics
    dashboards = [d["DashboardName"] for d in aws["cloudwatch"].list_dashboards()["DashboardEntries"]]
    check(dashboards == [DASHBOARD], f"one dashboard, {DASHBOARD}", dashboards)
    body = json.loads(aws["cloudwatch"].get_dashboard(DashboardName=DASHBOARD)["DashboardBody"])
    searched, api_gateway = set(), set()
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                expression = row[0]["expression"]
                for name in re.findall(r'MetricName="(\w+)"', expression):
                    searched.add(name)
                    check(
                        f'{{"{NAMESPACE}",Service,Method' in expression and f'Service="{FUNCTION_NAME}"' in expression,
                        f"dashboard: {name} searched in {NAMESPACE} for Service {FUNCTION_NAME}",
                        expression,
                    )
            else:
                api_gateway.add(row[1])
                check(
                    row[0] == "AWS/ApiGateway" and row[2:6] == ["ApiName", API_NAME, "Stage", STAGE],
                    f"dashboard: {row[1]} of API Gateway's {API_NAME}, stage {STAGE}",
                    row,
                )
    check(
        searched == (EMF_METRICS if aws_telemetry else set()),
        "dashboard: the function's EMF metrics" if aws_telemetry else "dashboard: no EMF panel without EMF",
        searched,
    )
    check(api_gateway == API_GATEWAY_METRICS, "dashboard: API Gateway's stage metrics", api_gateway)
    if aws_telemetry:
        # The dashboard as CloudWatch holds it, through the same name check as the Grafana dashboards: every query's
        # namespace, metric and whole set of dimensions is one the function (EMF evidence) or API Gateway publishes.
        names = NameReport()
        with tempfile.TemporaryDirectory() as scratch:
            deployed = Path(scratch) / "deployed-dashboard.json"
            deployed.write_text(json.dumps(body))
            cloudwatch_names.check_files(names, [deployed], cloudwatch_names.load_catalog())
        check(not names.failed, "dashboard: every query names a published metric (tests/stack/cloudwatch_names.py)",
              names.failed)
    check(
        outputs["dashboard_url"]
        == f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name={DASHBOARD}",
        "output dashboard_url",
        outputs["dashboard_url"],
    )
    check(
        outputs["traces_url"].startswith(f"https://console.aws.amazon.com/xray/home?region={REGION}#/traces?")
        and f"service(%22{FUNCTION_NAME}%22)" in outputs["traces_url"],
        "output traces_url: the Region's X-Ray traces of the function",
        outputs["traces_url"],
    )
    check(
        (outputs["traces_exporter"], outputs["metrics_exporter"], outputs.get("metrics_namespace"))
        == (("xray", "emf", NAMESPACE) if aws_telemetry else ("otlp", "otlp", None)),
        "outputs traces_exporter, metrics_exporter, metrics_namespace",
        (outputs["traces_exporter"], outputs["metrics_exporter"], outputs.get("metrics_namespace")),
    )

    # Outputs a user pastes
    url = f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{STAGE}/helloworld"
    check(outputs["invoke_url"] == url, f"output invoke_url is {url}", outputs["invoke_url"])
    curl = outputs["curl"]
    check(
        curl.startswith(f"curl -v -X POST \\\n  '{url}?name=John&city=Seattle' \\\n")
        and "-H 'day: Thursday'" in curl
        and curl.endswith("-d '{ \"time\": \"evening\" }'"),
        "output curl is the tutorial's POST",
        curl,
    )


def destroyed(args):
    aws = clients(args.endpoint)
    apis = aws["apigateway"].get_rest_apis()["items"]
    check(apis == [], "no REST API left", [a["name"] for a in apis])
    functions = aws["lambda"].list_functions()["Functions"]
    check(functions == [], "no function left", [f["FunctionName"] for f in functions])
    roles = aws["iam"].list_roles()["Roles"]
    check(roles == [], "no IAM role left", [r["RoleName"] for r in roles])
    groups = aws["logs"].describe_log_groups()["logGroups"]
    check(groups == [], "no log group left", [g["logGroupName"] for g in groups])
    repositories = [r["repositoryName"] for r in aws["ecr"].describe_repositories()["repositories"]]
    check(repositories == [args.keep_repository], f"no ECR repository left but the test's {args.keep_repository}", repositories)
    dashboards = aws["cloudwatch"].list_dashboards()["DashboardEntries"]
    check(dashboards == [], "no dashboard left", [d["DashboardName"] for d in dashboards])
    role = aws["apigateway"].get_account().get("cloudwatchRoleArn")
    check(not role, "API Gateway account's CloudWatch role reset", role)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("seed")
    command.add_argument("--endpoint", required=True)
    command.add_argument("--repository", required=True)
    command.add_argument("--tag", required=True)
    command = commands.add_parser("applied")
    command.add_argument("--endpoint", required=True)
    command.add_argument("--outputs", required=True)
    command.add_argument("--image-uri", required=True)
    command.add_argument("--telemetry", choices=["aws", "otlp"], required=True)
    command.add_argument("--env-file", help="with --telemetry aws: the environment the function must have")
    command.add_argument("--otlp-endpoint", help="with --telemetry otlp: the endpoint the function must have")
    command = commands.add_parser("destroyed")
    command.add_argument("--endpoint", required=True)
    command.add_argument("--keep-repository", required=True)
    args = parser.parse_args()
    {"seed": seed, "applied": applied, "destroyed": destroyed}[args.command](args)
    if args.command != "seed":
        print(f"checks {args.command}: {len(passes)} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
