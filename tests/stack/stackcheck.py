#!/usr/bin/env python3
"""The checks of the container image, the compose stack, its configs and the dashboards that need no Docker engine.

Run by scripts/check-stack.sh (which installs the tools and runs the real linters and loaders first); each
subcommand prints one line per finding and exits 1 if anything is wrong:

  dockerfile                      policies hadolint has no rule for (pins, the stages compose builds, the entrypoint)
  compose COMPOSE_JSON            the stack as Compose's own loader resolved it (`docker compose config --format json`)
  configs COMPOSE_JSON            collector, Prometheus, Jaeger and Grafana configs: schemas, and consistent together
  aws COMPOSE_JSON AWS_JSON       deploy/compose.aws.yaml (AWS_JSON: the stack merged with it): nothing of it without it;
                                  with it ~/.aws read-only, the CloudWatch data source, the deployed dashboards
  cloudwatch FILE...              every CloudWatch query's namespace, metric and dimension names against the EMF evidence
                                  and AWS/ApiGateway's documented metrics (cloudwatch_names); Grafana dashboards or
                                  CloudWatch dashboard bodies (.json, .tftpl)
  dashboards --emitted FILE       every PromQL expression parses and selects only metrics that exist: the services'
                                  (FILE) and the span metrics by the OTLP->Prometheus rules, the collector's own by
                                  the names recorded from its sources (collector_evidence.py)
  binary --bootstrap PATH --apigw-local PATH
                                  the built bootstrap: static (or glibc <= 2.34), size, answers through apigw-local
  selftest --hadolint PATH --compose PATH
                                  each check above, and hadolint and Compose's loader, reject broken input
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import promql_parser
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cloudwatch_names  # noqa: E402
from cloudwatch_names import all_panels  # noqa: E402
import collector_evidence  # noqa: E402
import otlp_names  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"

COLLECTOR_CONFIG = ROOT / "deploy/otel-collector/config.yaml"
COLLECTOR_DEBUG = ROOT / "deploy/otel-collector/debug.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
JAEGER_CONFIG = ROOT / "deploy/jaeger/config.yaml"
GRAFANA_PROVISIONING = ROOT / "deploy/grafana/provisioning"
DASHBOARDS = ROOT / "dashboards"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# collector-<version>-metric-names.json: the collector's series, each with the upstream source that names it.
EVIDENCE_DIR = collector_evidence.FIXTURES

# The glibc of public.ecr.aws/lambda/provided:al2023 (Amazon Linux 2023).
MAX_GLIBC = (2, 34)


class Report:
    """Collects findings; `ok` is False after any failure."""

    def __init__(self) -> None:
        self.ok = True

    def fail(self, message: str) -> None:
        self.ok = False
        print(f"  FAIL {message}")

    def good(self, message: str) -> None:
        print(f"  ok   {message}")

    def info(self, message: str) -> None:
        print(f"  info {message}")

    def check(self, condition: bool, message: str, failure: str | None = None) -> bool:
        if condition:
            self.good(message)
        else:
            self.fail(failure or message)
        return condition


def load_yaml(path: Path) -> dict:
    with path.open() as f:
        return yaml.safe_load(f)


def validate_schema(report: Report, document: object, schema_name: str, label: str) -> None:
    schema = load_yaml(SCHEMAS / schema_name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        report.fail(f"{label}: {where}: {error.message}")
    if not errors:
        report.good(f"{label} matches {schema_name}")


# ---------------------------------------------------------------------------------------------------------- Dockerfile

def dockerfile_instructions(text: str) -> list[tuple[int, str, str, list[str]]]:
    """(line, INSTRUCTION, arguments, comment lines just above) for each instruction, continuations joined."""
    result = []
    comments: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        start = i + 1
        i += 1
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        word, _, rest = line.partition(" ")
        result.append((start, word.upper(), rest.strip(), comments))
        comments = []
    return result


def check_dockerfile(report: Report, text: str | None = None) -> None:
    text = (ROOT / "Dockerfile").read_text() if text is None else text
    instructions = dockerfile_instructions(text)

    # Every `hadolint ignore` carries its reason in the comment above it.
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if re.match(r"#\s*hadolint\s+ignore=", line.strip()):
            above = lines[n - 1].strip() if n else ""
            report.check(above.startswith("#") and len(above.lstrip("# ")) > 10 and "hadolint" not in above,
                         f"line {n + 1}: `{line.strip()}` has its reason in the comment above",
                         f"line {n + 1}: `{line.strip()}` has no reason in a comment line just above it")

    global_args = {}
    for _, word, rest, _ in instructions:
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            global_args[key.strip()] = value.strip().strip('"')

    def expand(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), value)

    stages: dict[str, dict] = {}
    current = None
    for line_no, word, rest, _ in instructions:
        if word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--platform")]
            image = expand(parts[0])
            alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            current = {"image": image, "line": line_no, "instructions": []}
            if alias:
                stages[alias] = current
            if image in stages or image == "scratch":
                report.good(f"line {line_no}: FROM {image} (a stage or scratch)")
            else:
                name, _, digest = image.partition("@")
                tag = name.rsplit("/", 1)[-1].partition(":")[2]
                report.check(bool(tag) and tag != "latest" and "$" not in image,
                             f"line {line_no}: FROM {image} is pinned by version",
                             f"line {line_no}: FROM {image} is not pinned to a version (no tag, latest, or an ARG without default)")
        elif current is not None:
            current["instructions"].append((word, rest))

    for name in ("lambda", "apigw-local"):
        report.check(name in stages, f"stage `{name}` exists (docker-compose.yml builds it)", f"no stage named `{name}`")
    lam = stages.get("lambda")
    if lam:
        image = lam["image"]
        report.check(re.fullmatch(r"public\.ecr\.aws/lambda/provided:al2023\.\d{4}\.\d{2}\.\d{2}\.\d+@sha256:[0-9a-f]{64}", image) is not None,
                     f"the function image is provided:al2023 pinned by version and digest ({image.split('@')[0]})",
                     f"the `lambda` stage must be FROM public.ecr.aws/lambda/provided:al2023.<version>@sha256:<digest>, not {image}")
        copies = [rest for word, rest in lam["instructions"] if word == "COPY"]
        report.check(any(rest.split()[-1] == "/var/runtime/bootstrap" for rest in copies),
                     "bootstrap is copied to /var/runtime/bootstrap (what /lambda-entrypoint.sh runs)",
                     "the `lambda` stage must COPY the binary to /var/runtime/bootstrap")
        cmds = [rest for word, rest in lam["instructions"] if word == "CMD"]
        ok = False
        if cmds:
            try:
                ok = len(json.loads(cmds[-1])) == 1
            except json.JSONDecodeError:
                ok = False
        report.check(ok, "CMD gives /lambda-entrypoint.sh its one argument (the handler name)",
                     "the `lambda` stage needs CMD [\"<handler>\"]: /lambda-entrypoint.sh exits 142 without exactly one argument")
        report.check(not any(word == "ENTRYPOINT" for word, _ in lam["instructions"]),
                     "the base image's ENTRYPOINT (/lambda-entrypoint.sh: RIE outside Lambda) is kept",
                     "the `lambda` stage must not replace ENTRYPOINT: /lambda-entrypoint.sh starts the emulator outside Lambda")
    gw = stages.get("apigw-local")
    if gw:
        users = [rest for word, rest in gw["instructions"] if word == "USER"]
        report.check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
                     f"apigw-local runs as a non-root user ({users[-1] if users else '-'})",
                     "the `apigw-local` stage must end with a non-root USER")
    builds = [name for name, stage in stages.items()
              if any(word == "RUN" and "scripts/build-static.sh" in rest for word, rest in stage["instructions"])]
    report.check(len(builds) >= 2, f"the binaries are built by scripts/build-static.sh (stages {', '.join(builds)})",
                 "the build stages must run scripts/build-static.sh (the script CI runs too)")
    report.check(any("cargo chef cook" in rest or "--deps-only" in rest
                     for stage in stages.values() for word, rest in stage["instructions"] if word == "RUN"),
                 "dependencies are built in their own cached layer (cargo-chef)", "no cargo-chef dependency layer")
    report.check("TARGETARCH" in text and "BUILDPLATFORM" in text,
                 "multi-architecture: builds on $BUILDPLATFORM for $TARGETARCH",
                 "the Dockerfile must build for $TARGETARCH (buildx --platform linux/amd64,linux/arm64)")

    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    entries = [e.strip() for e in ignore if e.strip() and not e.strip().startswith("#")]
    report.check(bool(entries) and entries[0] == "*", ".dockerignore is an allowlist (starts with *)",
                 ".dockerignore must start with `*` so target/, .tools/ and .git/ stay out of the context")
    cargo = load_toml(ROOT / "Cargo.toml")
    members = cargo.get("workspace", {}).get("members", [])
    needed = {"Cargo.toml", "Cargo.lock", "src/", "scripts/build-static.sh"} | {
        m.rstrip("/") + "/" for m in members if m not in (".", "")}
    allowed = {e[1:] for e in entries if e.startswith("!")}
    missing = sorted(n for n in needed if n not in allowed and n.rstrip("/") not in allowed)
    report.check(not missing, f".dockerignore lets in what the build reads ({', '.join(sorted(needed))})",
                 f".dockerignore leaves out {', '.join(missing)}")


def load_toml(path: Path) -> dict:
    import tomllib

    with path.open("rb") as f:
        return tomllib.load(f)


# ------------------------------------------------------------------------------------------------------------- compose

def host_port(spec: dict) -> tuple[str, str, str]:
    return spec.get("host_ip", ""), str(spec.get("published", "")), str(spec.get("target", ""))


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    value = float(m.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def check_compose(report: Report, compose: dict) -> None:
    services = compose.get("services", {})
    report.check(set(services) >= {"lambda", "apigateway", "otel-collector", "jaeger", "prometheus", "grafana"},
                 f"services: {', '.join(sorted(services))}",
                 f"missing services: {sorted({'lambda', 'apigateway', 'otel-collector', 'jaeger', 'prometheus', 'grafana'} - set(services))}")
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, svc in sorted(services.items()):
        image = svc.get("image", "")
        if "build" in svc:
            target = svc["build"].get("target")
            report.check(bool(target) and re.search(rf"^FROM\s.*\sAS\s+{re.escape(target)}\s*$", dockerfile, re.M | re.I) is not None,
                         f"{name}: built from Dockerfile target `{target}`",
                         f"{name}: build.target `{target}` is not a stage of the Dockerfile")
        else:
            tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
            floating = tag in ("", "latest", "stable", "main", "edge") or re.fullmatch(r"v?\d+", tag) is not None
            report.check(not floating, f"{name}: image {image} is pinned",
                         f"{name}: image {image!r} is not pinned to a version")
        for port in svc.get("ports", []):
            ip, published, target = host_port(port)
            report.check(ip == "127.0.0.1", f"{name}: port {published}->{target} bound to 127.0.0.1",
                         f"{name}: port {published}->{target} is bound to {ip or 'every interface'}, not 127.0.0.1")
        for volume in svc.get("volumes", []):
            if volume.get("type") == "bind":
                source = Path(volume["source"])
                report.check(source.exists(), f"{name}: mounts {source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}",
                             f"{name}: bind mount source {source} does not exist")
        for dep, condition in (svc.get("depends_on") or {}).items():
            cond = condition.get("condition")
            if cond == "service_healthy":
                report.check("healthcheck" in services.get(dep, {}), f"{name}: waits for {dep} to be healthy",
                             f"{name}: depends on {dep} being healthy, but {dep} has no healthcheck")
        if "healthcheck" in svc:
            test = svc["healthcheck"].get("test", [])
            report.check(bool(test) and test[0] in ("CMD", "CMD-SHELL"), f"{name}: has a health check ({' '.join(test[1:3])} ...)",
                         f"{name}: malformed healthcheck {test}")
    # Images with no shell or HTTP client cannot have a health check; every other service must.
    no_tooling = {"apigateway": "static binary on scratch", "otel-collector": "the contrib image is scratch"}
    for name in sorted(set(services) - set(no_tooling)):
        report.check("healthcheck" in services[name], f"{name}: health check present",
                     f"{name}: no health check (its image has the tools for one)")
    for name, why in no_tooling.items():
        if name in services and "healthcheck" not in services[name]:
            report.info(f"{name}: no health check possible ({why}); dependents wait for service_started")

    lam, gw = services.get("lambda", {}), services.get("apigateway", {})
    lenv, genv = lam.get("environment", {}) or {}, gw.get("environment", {}) or {}
    report.check(lenv.get("OTEL_EXPORTER_OTLP_ENDPOINT") == "http://otel-collector:4318",
                 "lambda: OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318",
                 f"lambda: OTEL_EXPORTER_OTLP_ENDPOINT is {lenv.get('OTEL_EXPORTER_OTLP_ENDPOINT')!r}")
    invoke = urlparse(genv.get("APIGW_LOCAL_INVOKE_URL", ""))
    lambda_targets = {host_port(p)[2] for p in lam.get("ports", [])}
    report.check(invoke.hostname == "lambda" and str(invoke.port) in lambda_targets
                 and invoke.path == "/2015-03-31/functions/function/invocations",
                 f"apigateway: invokes {genv.get('APIGW_LOCAL_INVOKE_URL')} (the lambda's emulator)",
                 f"apigateway: APIGW_LOCAL_INVOKE_URL {genv.get('APIGW_LOCAL_INVOKE_URL')!r} is not the lambda's emulator")
    report.check({host_port(p)[1] + ":" + host_port(p)[2] for p in lam.get("ports", [])} == {"9000:8080"},
                 "lambda: the emulator is on host port 9000", "lambda: the emulator must be published as 9000:8080")
    report.check(genv.get("APIGW_LOCAL_LISTEN") == "0.0.0.0:8080"
                 and {host_port(p)[1] + ":" + host_port(p)[2] for p in gw.get("ports", [])} == {"8080:8080"},
                 "apigateway: listens on 0.0.0.0:8080, published on host port 8080",
                 "apigateway: must listen on 0.0.0.0:8080 and be published as 8080:8080")
    try:
        gateway_timeout = duration_seconds(genv.get("APIGW_LOCAL_TIMEOUT", "29s"))
        function_timeout = duration_seconds(lenv["AWS_LAMBDA_FUNCTION_TIMEOUT"])
        report.check(function_timeout == gateway_timeout,
                     f"lambda's AWS_LAMBDA_FUNCTION_TIMEOUT ({function_timeout:g} s) equals the gateway's timeout",
                     f"AWS_LAMBDA_FUNCTION_TIMEOUT ({function_timeout:g} s) must equal APIGW_LOCAL_TIMEOUT ({gateway_timeout:g} s)")
    except (KeyError, ValueError) as e:
        report.fail(f"timeouts: {e}")
    genv_g = services.get("grafana", {}).get("environment", {}) or {}
    report.check(genv_g.get("GF_AUTH_ANONYMOUS_ENABLED") == "true" and genv_g.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer",
                 "grafana: anonymous access is read-only (Viewer)",
                 "grafana: anonymous access must be enabled with the Viewer role")


# ------------------------------------------------------------------------------------------------------------- configs

def port_of(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[-1]


def check_configs(report: Report, compose: dict) -> None:
    services = compose.get("services", {})
    collector = load_yaml(COLLECTOR_CONFIG)
    debug = load_yaml(COLLECTOR_DEBUG)
    validate_schema(report, collector, "otelcol.schema.yaml", "otel-collector config")
    validate_schema(report, debug, "otelcol.schema.yaml", "otel-collector debug overlay")
    prometheus = load_yaml(PROMETHEUS_CONFIG)
    validate_schema(report, prometheus, "prometheus.schema.yaml", "prometheus config")
    jaeger = load_yaml(JAEGER_CONFIG)
    validate_schema(report, jaeger, "jaeger.schema.yaml", "jaeger config")
    datasources_files = sorted((GRAFANA_PROVISIONING / "datasources").glob("*.y*ml"))
    providers_files = sorted((GRAFANA_PROVISIONING / "dashboards").glob("*.y*ml"))
    datasources = []
    for path in datasources_files:
        doc = load_yaml(path)
        validate_schema(report, doc, "grafana-datasources.schema.yaml", f"grafana {path.name}")
        datasources += doc.get("datasources", [])
    providers = []
    for path in providers_files:
        doc = load_yaml(path)
        validate_schema(report, doc, "grafana-dashboards.schema.yaml", f"grafana {path.name}")
        providers += doc.get("providers", [])

    # The collector's pipelines: components defined and used, in a sensible order.
    kinds = ("receivers", "processors", "exporters", "connectors")
    defined = {kind: set((collector.get(kind) or {}).keys()) for kind in kinds}
    pipelines = collector["service"]["pipelines"]
    used: dict[str, set] = {kind: set() for kind in kinds}
    for pname, pipeline in pipelines.items():
        for role in ("receivers", "processors", "exporters"):
            for comp in pipeline.get(role, []):
                kind = "connectors" if comp in defined["connectors"] and role != "processors" else role
                report.check(comp in defined[kind], f"pipeline {pname}: {role[:-1]} {comp} is defined",
                             f"pipeline {pname}: {role[:-1]} {comp} is not defined under {kind}")
                used[kind].add(comp)
        procs = pipeline.get("processors", [])
        report.check(bool(procs) and procs[0].split("/")[0] == "memory_limiter" and any(p.split("/")[0] == "batch" for p in procs),
                     f"pipeline {pname}: memory_limiter first, then batch",
                     f"pipeline {pname}: processors must start with memory_limiter and include batch (has {procs})")
        report.check(not any(e.split("/")[0] == "debug" for e in pipeline.get("exporters", [])),
                     f"pipeline {pname}: debug exporter off", f"pipeline {pname}: the debug exporter must be off by default")
    for kind in kinds:
        unused = defined[kind] - used[kind] - ({"debug"} if kind == "exporters" else set())
        report.check(not unused, f"every {kind[:-1]} is used", f"{kind} defined but unused: {sorted(unused)}")
    for conn in defined["connectors"]:
        as_exporter = [p for p, v in pipelines.items() if conn in v.get("exporters", []) and p.split("/")[0] == "traces"]
        as_receiver = [p for p, v in pipelines.items() if conn in v.get("receivers", []) and p.split("/")[0] == "metrics"]
        report.check(bool(as_exporter and as_receiver), f"connector {conn}: traces -> metrics",
                     f"connector {conn} must be an exporter of a traces pipeline and a receiver of a metrics pipeline")
    for pname, pipeline in (debug.get("service", {}).get("pipelines") or {}).items():
        base = set(pipelines.get(pname, {}).get("exporters", []))
        overlay = set(pipeline.get("exporters", []))
        report.check(pname in pipelines and base <= overlay and "debug" in overlay and overlay <= defined["exporters"] | defined["connectors"],
                     f"debug overlay: pipeline {pname} keeps {sorted(base)} and adds debug",
                     f"debug overlay: pipeline {pname} must repeat the base exporters {sorted(base)} and add debug (lists replace, not merge)")

    # Receivers on every interface, on the ports compose publishes.
    otlp = collector["receivers"]["otlp"]["protocols"]
    for proto, port in (("grpc", "4317"), ("http", "4318")):
        endpoint = (otlp.get(proto) or {}).get("endpoint", "")
        report.check(endpoint == f"0.0.0.0:{port}", f"collector OTLP {proto} on {endpoint}",
                     f"collector OTLP {proto} must listen on 0.0.0.0:{port} (the default is localhost), not {endpoint!r}")
    published = {host_port(p)[2] for p in services.get("otel-collector", {}).get("ports", [])}
    report.check(published == {"4317", "4318"}, "compose publishes the collector's 4317 and 4318",
                 f"compose publishes {sorted(published)} for the collector, not 4317 and 4318")

    # Exporters point at the services that receive.
    exporters = collector["exporters"]
    jaeger_grpc = jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    to_jaeger = [e for e in exporters.values() if isinstance(e, dict) and e.get("endpoint", "").startswith("jaeger:")]
    report.check(bool(to_jaeger) and all(port_of(e["endpoint"]) == port_of(jaeger_grpc) and e.get("tls", {}).get("insecure") for e in to_jaeger),
                 f"traces go to jaeger:{port_of(jaeger_grpc)} (Jaeger's OTLP gRPC receiver)",
                 f"no otlp_grpc exporter to jaeger:{port_of(jaeger_grpc)} with tls.insecure")
    prom_cmd = services.get("prometheus", {}).get("command", [])
    to_prom = [e for e in exporters.values() if isinstance(e, dict) and e.get("endpoint", "").startswith("http://prometheus:")]
    report.check(any(e["endpoint"] == "http://prometheus:9090/api/v1/otlp" for e in to_prom),
                 "metrics go to http://prometheus:9090/api/v1/otlp (+ /v1/metrics)",
                 "no otlp_http exporter to http://prometheus:9090/api/v1/otlp")
    report.check("--web.enable-otlp-receiver" in prom_cmd, "prometheus: OTLP receiver on",
                 "prometheus must run with --web.enable-otlp-receiver")
    report.check(any(a.startswith("--enable-feature=") and "exemplar-storage" in a for a in prom_cmd),
                 "prometheus: exemplar storage on", "prometheus must run with --enable-feature=exemplar-storage")
    report.check(any(a == "--config.file=/etc/prometheus/prometheus.yml" for a in prom_cmd)
                 and any(v.get("target") == "/etc/prometheus/prometheus.yml" and Path(v["source"]) == ROOT / "deploy/prometheus/prometheus.yml"
                         for v in services.get("prometheus", {}).get("volumes", [])),
                 "prometheus: loads deploy/prometheus/prometheus.yml", "prometheus: --config.file is not the mounted deploy/prometheus/prometheus.yml")
    promote = set((prometheus.get("otlp") or {}).get("promote_resource_attributes", []))
    report.check({"service.name", "faas.instance"} <= promote, "prometheus promotes service.name and faas.instance",
                 "prometheus must promote service.name and faas.instance (one series per execution environment)")
    report.check((prometheus.get("otlp") or {}).get("translation_strategy", "UnderscoreEscapingWithSuffixes") == "UnderscoreEscapingWithSuffixes",
                 "prometheus translates OTLP names with suffixes (what the dashboards select)",
                 "prometheus otlp.translation_strategy must be UnderscoreEscapingWithSuffixes (the dashboards use _seconds, _total)")
    readers = collector["service"].get("telemetry", {}).get("metrics", {}).get("readers", [])
    pull_ports = {str(r["pull"]["exporter"]["prometheus"]["port"]) for r in readers if "pull" in r}
    scrape_targets = {t for job in prometheus.get("scrape_configs", []) for sc in job.get("static_configs", []) for t in sc["targets"]}
    report.check(any(t == f"otel-collector:{p}" for t in scrape_targets for p in pull_ports),
                 f"prometheus scrapes the collector's own metrics (otel-collector:{'/'.join(sorted(pull_ports))})",
                 f"prometheus must scrape otel-collector on its telemetry port {sorted(pull_ports)}; targets: {sorted(scrape_targets)}")

    # The collector's own metrics keep the names its evidence file records only under the reader it records.
    try:
        evidence = load_evidence()
        reader = collector_evidence.reader_problems(evidence, collector)
        report.check(not reader, f"the collector's telemetry reader is the one {evidence.path.name} records the names of "
                                 "(pull, prometheus, no type or unit suffixes)", "; ".join(reader))
    except (OSError, ValueError) as e:
        report.fail(f"the collector's series: {e}")

    # Jaeger's Monitor tab reads the same span metrics the collector makes.
    conn = next(iter((collector.get("connectors") or {}).values()), None) or {}
    namespace = conn.get("namespace", "traces.span.metrics")
    unit = (conn.get("histogram") or {}).get("unit", "ms")
    for name, backend in (jaeger["extensions"]["jaeger_storage"].get("metric_backends") or {}).items():
        prom = backend["prometheus"]
        report.check(prom.get("metric_namespace") == re.sub(r"[^a-zA-Z0-9:]", "_", namespace)
                     and prom.get("latency_unit", "ms") == unit and prom.get("normalize_calls") and prom.get("normalize_duration"),
                     f"jaeger metric backend {name}: {prom.get('metric_namespace')}_calls_total, _duration_{'seconds' if unit == 's' else 'milliseconds'}",
                     f"jaeger metric backend {name} must match the span_metrics connector (namespace {namespace!r}, unit {unit!r}, normalized names)")
        report.check(prom.get("endpoint") == "http://prometheus:9090", f"jaeger reads metrics from {prom.get('endpoint')}",
                     f"jaeger metric backend {name}: endpoint must be http://prometheus:9090")
    report.check(jaeger["extensions"]["jaeger_query"]["storage"].get("metrics") in (jaeger["extensions"]["jaeger_storage"].get("metric_backends") or {}),
                 "jaeger_query uses the metric backend", "jaeger_query.storage.metrics names no metric backend")
    hc = jaeger["extensions"].get("healthcheckv2", {}).get("http", {}).get("endpoint", "")
    jtest = " ".join(services.get("jaeger", {}).get("healthcheck", {}).get("test", []))
    report.check(bool(hc) and f":{port_of(hc)}/status" in jtest, f"jaeger's compose health check asks healthcheckv2 on :{port_of(hc)}",
                 f"jaeger's health check ({jtest!r}) must ask the healthcheckv2 endpoint {hc!r}/status")

    # Grafana: data sources at the right services, exemplars to an existing data source, dashboards mounted.
    uids = {d["uid"]: d for d in datasources}
    for d in datasources:
        expected = {"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}[d["type"]]
        report.check(d["url"] == expected, f"grafana data source {d['uid']} -> {d['url']}",
                     f"grafana data source {d['uid']} must point at {expected}, not {d['url']}")
        for dest in (d.get("jsonData") or {}).get("exemplarTraceIdDestinations", []):
            target = uids.get(dest.get("datasourceUid"))
            report.check(target is not None and target["type"] == "jaeger" and dest["name"] == "trace_id",
                         f"exemplars' trace_id link to data source {dest.get('datasourceUid')} (Jaeger)",
                         f"exemplarTraceIdDestinations must name trace_id and an existing Jaeger data source uid, not {dest}")
    report.check(sum(1 for d in datasources if d.get("isDefault")) == 1, "one default data source",
                 "exactly one data source must be the default")
    grafana = services.get("grafana", {})
    mounts = {v.get("target"): Path(v["source"]) for v in grafana.get("volumes", []) if v.get("type") == "bind"}
    report.check(mounts.get("/etc/grafana/provisioning") == ROOT / "deploy/grafana/provisioning", "grafana mounts deploy/grafana/provisioning",
                 "grafana must mount deploy/grafana/provisioning at /etc/grafana/provisioning")
    for p in providers:
        path = p["options"]["path"]
        report.check(mounts.get(path) == DASHBOARDS, f"dashboard provider {p['name']} reads {path} = dashboards/",
                     f"dashboard provider {p['name']} reads {path}, which compose does not mount from dashboards/")
    home = (grafana.get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        mount, _, rel = next(((t, None, home[len(t) + 1:]) for t in mounts if t and home.startswith(t + "/")), (None, None, None))
        report.check(mount is not None and (mounts[mount] / rel).is_file(), f"grafana's home dashboard {home} exists",
                     f"GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH {home} is not a mounted file")
    dash_uids = set()
    for path in sorted(DASHBOARDS.glob("*.json")):
        dash = json.loads(path.read_text())
        refs = {ds.get("uid") for ds in iter_datasources(dash) if isinstance(ds, dict) and ds.get("uid") not in (None, "-- Grafana --")}
        unknown = refs - set(uids)
        report.check(not unknown, f"{path.name}: data sources {sorted(refs)} are provisioned",
                     f"{path.name}: refers to data source uids {sorted(unknown)} that are not provisioned")
        report.check(dash.get("uid") not in dash_uids, f"{path.name}: uid {dash.get('uid')} is unique", f"{path.name}: duplicate uid")
        dash_uids.add(dash.get("uid"))


# --------------------------------------------------------------------------------------------------------- compose.aws

AWS_OVERRIDE = ROOT / "deploy/compose.aws.yaml"
AWS_PROVISIONING = ROOT / "deploy/grafana/aws"
DEPLOYED_DASHBOARDS = ROOT / "dashboards-deployed"
# The grafana/grafana image's packaging/docker/run.sh exports HOME="$GF_PATHS_HOME" (/usr/share/grafana) before it
# starts Grafana, and its Dockerfile makes "$GF_PATHS_HOME/.aws" for the grafana user: the AWS SDK reads
# $HOME/.aws/config and $HOME/.aws/credentials there.
GRAFANA_AWS_DIR = "/usr/share/grafana/.aws"
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")


def bind_mounts(service: dict) -> list[dict]:
    return [v for v in service.get("volumes", []) if v.get("type") == "bind"]


def check_aws(report: Report, base: dict, merged: dict) -> None:
    """deploy/compose.aws.yaml: without it nothing of it; with it the Grafana of the stack also reads CloudWatch."""
    base_grafana, grafana = base["services"]["grafana"], merged["services"]["grafana"]

    # Off by default: the base stack provisions and mounts nothing of it.
    base_types = {d.get("type") for path in (GRAFANA_PROVISIONING / "datasources").glob("*.y*ml")
                  for d in load_yaml(path).get("datasources", [])}
    report.check("cloudwatch" not in base_types, "docker-compose.yml alone provisions no CloudWatch data source",
                 "deploy/grafana/provisioning/ provisions a CloudWatch data source: it would be on without the override")
    for path in sorted(DASHBOARDS.glob("**/*.json")):
        types = {ds.get("type") for ds in iter_datasources(json.loads(path.read_text())) if isinstance(ds, dict)}
        report.check("cloudwatch" not in types, f"dashboards/{path.relative_to(DASHBOARDS)}: no CloudWatch query",
                     f"dashboards/{path.relative_to(DASHBOARDS)} queries CloudWatch: Grafana loads dashboards/ (and its "
                     f"subdirectories) without the override; deployed dashboards belong in dashboards-deployed/")
    base_sources = {Path(v["source"]) for v in bind_mounts(base_grafana)}
    base_env = base_grafana.get("environment") or {}
    report.check(DEPLOYED_DASHBOARDS not in base_sources and not any(k.startswith("AWS_") for k in base_env)
                 and not any(v["target"] == GRAFANA_AWS_DIR for v in bind_mounts(base_grafana)),
                 "docker-compose.yml alone mounts no ~/.aws and no dashboards-deployed/, passes no AWS_ variable",
                 "docker-compose.yml's grafana has the override's mounts or AWS_ variables: they would be on by default")
    for name, service in merged["services"].items():
        if name != "grafana":
            report.check(service == base["services"].get(name), f"the override leaves {name} as it is",
                         f"deploy/compose.aws.yaml changes {name}: only grafana is its business")
    changed = {k for k in set(base_grafana) | set(grafana)
               if k not in ("environment", "volumes") and base_grafana.get(k) != grafana.get(k)}
    report.check(not changed, "the override changes only grafana's environment and mounts",
                 f"the override changes grafana's {sorted(changed)}")
    env = grafana.get("environment") or {}
    report.check(all(base_env.get(k) == env.get(k) for k in base_env), "grafana keeps docker-compose.yml's environment",
                 f"the override changes grafana's {sorted(k for k in base_env if base_env.get(k) != env.get(k))}")

    # The host's ~/.aws, read-only, where the SDK in the image looks.
    aws_mounts = [v for v in bind_mounts(grafana) if v["target"] == GRAFANA_AWS_DIR]
    aws = aws_mounts[0] if aws_mounts else {}
    report.check(bool(aws) and Path(aws["source"]).name == ".aws" and aws.get("read_only")
                 and not (aws.get("bind") or {}).get("create_host_path"),
                 f"the host's {aws.get('source')} is mounted read-only at {GRAFANA_AWS_DIR} ($HOME of the image's run.sh), "
                 f"and is not created when missing",
                 f"~/.aws must be mounted read-only at {GRAFANA_AWS_DIR} with create_host_path false, not {aws or 'absent'}")
    for key in ("AWS_PROFILE", "AWS_REGION"):
        report.check(bool(env.get(key)), f"grafana: {key}={env.get(key)}", f"grafana: {key} has no default")
    report.check(AWS_REGION.match(env.get("AWS_REGION") or "") is not None, f"AWS_REGION {env.get('AWS_REGION')} is a Region code",
                 f"AWS_REGION {env.get('AWS_REGION')!r} is not a Region code")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        report.check(key in env and env.get(key) is None, f"grafana: {key} passed on from the shell, never written in a file",
                     f"grafana: {key} must be listed without a value (passed on from the shell only)")

    # One provisioning directory of the override's own, assembled from file mounts outside any read-only directory
    # mount (a file cannot be mounted inside one: the runtime cannot create its mount point; moby/moby#39587).
    provisioning = env.get("GF_PATHS_PROVISIONING", "")
    mounts = {v["target"]: v for v in bind_mounts(grafana)}
    for target, volume in sorted(mounts.items()):
        parents = [t for t, v in mounts.items() if t != target and Path(target).is_relative_to(t) and Path(v["source"]).is_dir()]
        report.check(not parents, f"grafana: {target} is not inside another bind mount",
                     f"grafana: {target} is mounted inside the bind mount of {parents[0] if parents else ''}: "
                     f"the runtime cannot create its mount point there (moby/moby#39587)")
    report.check(bool(provisioning) and provisioning != base_env.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"),
                 f"grafana reads its provisioning from {provisioning}", "the override must set GF_PATHS_PROVISIONING to a directory of its own")
    wanted = {f"{provisioning}/{path.relative_to(GRAFANA_PROVISIONING)}": path
              for path in sorted(GRAFANA_PROVISIONING.glob("*/*.y*ml"))}
    wanted |= {f"{provisioning}/{path.relative_to(AWS_PROVISIONING)}": path for path in sorted(AWS_PROVISIONING.glob("*/*.y*ml"))}
    for target, source in wanted.items():
        got = mounts.get(target)
        report.check(got is not None and Path(got["source"]) == source and got.get("read_only"),
                     f"{target} <- {source.relative_to(ROOT)} (read-only)",
                     f"{source.relative_to(ROOT)} must be mounted read-only at {target}: Grafana reads only {provisioning}")
    extra = sorted(t for t in mounts if t.startswith(provisioning + "/") and t not in wanted)
    report.check(not extra, f"nothing else under {provisioning}", f"mounted under {provisioning} but not in the repository: {extra}")

    # The provisioning files as Grafana reads them there: schemas, data sources, dashboard providers.
    datasources, providers = [], []
    for target, source in wanted.items():
        doc = load_yaml(source)
        if "/datasources/" in target:
            validate_schema(report, doc, "grafana-datasources.schema.yaml", f"grafana {source.relative_to(ROOT)}")
            datasources += doc.get("datasources", [])
        else:
            validate_schema(report, doc, "grafana-dashboards.schema.yaml", f"grafana {source.relative_to(ROOT)}")
            providers += doc.get("providers", [])
    uids = [d.get("uid") for d in datasources]
    report.check(len(uids) == len(set(uids)), f"data source uids {uids} are unique", f"duplicate data source uids: {uids}")
    report.check(sum(1 for d in datasources if d.get("isDefault")) == 1, "still one default data source (Prometheus)",
                 "exactly one data source must be the default")
    cloudwatch = [d for d in datasources if d.get("type") == "cloudwatch"]
    report.check(len(cloudwatch) == 1 and cloudwatch[0].get("uid") == "cloudwatch", "one CloudWatch data source, uid cloudwatch",
                 f"the override must provision one CloudWatch data source with uid cloudwatch, not {cloudwatch}")
    for d in cloudwatch:
        json_data = d.get("jsonData") or {}
        region = json_data.get("defaultRegion", "")
        var = re.fullmatch(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", region)
        report.check(var is None or bool(env.get(var.group(1))),
                     f"its defaultRegion {region} is set ({var.group(1) + '=' + str(env.get(var.group(1))) if var else 'literal'})",
                     f"its defaultRegion {region} names a variable the override does not set")
        report.check(json_data.get("authType") != "credentials" or bool(json_data.get("profile")),
                     f"authType {json_data.get('authType')}: credentials from the SDK's chain (AWS_PROFILE, the shell's keys)",
                     "authType credentials needs a profile")
        report.check(json_data.get("authType") in ("default", "credentials"),
                     "credentials come from the host (~/.aws or the shell), not from a file in the repository",
                     f"authType {json_data.get('authType')!r}: the override passes the host's profile, use default or credentials")
    provider_paths = {p["options"]["path"]: p for p in providers}
    for path, provider in provider_paths.items():
        source = mounts.get(path)
        report.check(source is not None and Path(source["source"]) in (DASHBOARDS, DEPLOYED_DASHBOARDS),
                     f"dashboard provider {provider['name']} reads {path} = {Path(source['source']).name if source else '-'}/",
                     f"dashboard provider {provider['name']} reads {path}, which is not a mount of dashboards/ or dashboards-deployed/")
    report.check(any(Path(mounts[p]["source"]) == DEPLOYED_DASHBOARDS for p in provider_paths if p in mounts),
                 "a dashboard provider loads dashboards-deployed/", "no dashboard provider loads dashboards-deployed/")
    report.check(len({p.get("folderUid") for p in providers}) == len(providers), "each provider has a folder of its own",
                 "dashboard providers share a folderUid")

    # The deployed dashboards: the layout checks of every dashboard, well-formed CloudWatch queries, data sources that
    # exist with the override, uids distinct from dashboards/'.
    local_uids = {json.loads(p.read_text()).get("uid") for p in DASHBOARDS.glob("**/*.json")}
    files = sorted(DEPLOYED_DASHBOARDS.glob("**/*.json"))
    report.check(bool(files), f"dashboards-deployed/: {', '.join(f.name for f in files)}", "no dashboards-deployed/*.json")
    query_schema = jsonschema.Draft202012Validator(load_yaml(SCHEMAS / "grafana-cloudwatch-query.schema.yaml"))
    for path in files:
        dash = json.loads(path.read_text())
        check_dashboard_layout(report, path.name, dash)
        report.check(dash.get("uid") not in local_uids, f"{path.name}: uid {dash.get('uid')} differs from dashboards/'",
                     f"{path.name}: uid {dash.get('uid')} is also a dashboard in dashboards/")
        refs = {ds.get("uid") for ds in iter_datasources(dash) if isinstance(ds, dict) and ds.get("uid") not in (None, "-- Grafana --")}
        report.check(refs <= set(uids), f"{path.name}: data sources {sorted(refs)} are provisioned with the override",
                     f"{path.name}: refers to data source uids {sorted(refs - set(uids))} that are not provisioned")
        for panel in all_panels(dash):
            for target in panel.get("targets", []):
                if (target.get("datasource") or panel.get("datasource") or {}).get("type") != "cloudwatch":
                    continue
                errors = sorted(query_schema.iter_errors(target), key=lambda e: list(e.absolute_path))
                for error in errors:
                    where = "/".join(str(p) for p in error.absolute_path) or "(top)"
                    report.fail(f"{path.name}: panel {panel.get('id')} {target.get('refId')}: {where}: {error.message}")
        refresh = duration_seconds(dash.get("refresh") or "0s")
        report.check(refresh == 0 or refresh >= 60,
                     f"{path.name}: refreshes every {dash.get('refresh')} (CloudWatch's one-minute resolution; each refresh is billed)",
                     f"{path.name}: refresh {dash.get('refresh')} is below a minute: GetMetricData calls are billed per metric")


def iter_datasources(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from iter_datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_datasources(item)


# ---------------------------------------------------------------------------------------------------------- dashboards

# 0 while Prometheus scrapes the collector, nothing otherwise: what a sum over collector series that appear only after
# a first failure may fall back on (a panel then says "not scraped" instead of a green 0 when the collector is not).
COLLECTOR_SCRAPED_ZERO = '(0 * group(up{job="otel-collector"} == 1))'
GRAFANA_BUILTINS = re.compile(r"\$\{?__(rate_interval|interval|range)(?::[^}]*)?\}?")
PANEL_TYPES = {"row", "text", "stat", "timeseries", "table", "gauge", "bargauge", "heatmap", "traces", "barchart"}


def promql_queries(dashboard: dict) -> list[tuple[str, str, dict | None]]:
    """(where, PromQL, target) for every Prometheus query: panel targets and query variables."""
    queries = []
    for panel in all_panels(dashboard):
        panel_ds = (panel.get("datasource") or {}).get("type")
        for target in panel.get("targets", []):
            ds = (target.get("datasource") or {}).get("type", panel_ds)
            if ds == "prometheus" and target.get("expr"):
                queries.append((f"panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}", target["expr"], target))
    for var in dashboard.get("templating", {}).get("list", []):
        if (var.get("datasource") or {}).get("type") != "prometheus":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.fullmatch(r"\s*(label_values|query_result)\((.*)\)\s*", q, re.S)
        if not m:
            queries.append((f"variable ${var.get('name')}", q, None))  # fails to parse below: say so
            continue
        inner = m.group(2)
        if m.group(1) == "label_values":
            inner = inner.rsplit(",", 1)[0] if "," in inner else inner
        queries.append((f"variable ${var.get('name')}", inner, None))
    return queries


def selected_metrics(expr: str, selectors: list | None = None) -> tuple[set[str], list[str]]:
    """Metric names an expression selects, and selectors whose name is not a literal.

    `selectors`, when given, receives (metric name, label names matched) for every selector.
    """
    names: set[str] = set()
    problems: list[str] = []
    tree = promql_parser.parse(GRAFANA_BUILTINS.sub("5m", expr))

    def visit(node, *_):
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    if str(m.op).endswith("Equal") and not str(m.op).endswith("NotEqual"):
                        name = m.value
                    else:
                        problems.append(f"metric name matched by {m.op} {m.value!r}: cannot prove it exists")
            if name:
                names.add(name)
                if selectors is not None:
                    selectors.append((name, {m.name for m in node.matchers.matchers if m.name != "__name__"}))
            elif not problems:
                problems.append("a selector without a metric name")
        return True

    promql_parser.walk(tree, visit)
    return names, problems


def load_evidence() -> collector_evidence.Evidence:
    """The recorded names of the pinned collector image's series (docker-compose.yml's otel-collector image).

    Raises ValueError when nobody has recorded them for that version: a new collector version needs its sources read
    again, not a naming rule applied.
    """
    image = (load_yaml(COMPOSE_FILE).get("services", {}).get("otel-collector") or {}).get("image", "")
    version = collector_evidence.image_version(image)
    path = EVIDENCE_DIR / f"collector-{version}-metric-names.json"
    if not version or not path.is_file():
        raise ValueError(f"no evidence of the names of collector {version or image!r}'s series: {path.name} does not "
                         f"exist in {EVIDENCE_DIR}; read that version's sources and record them there (see the 0.159.0 file)")
    evidence = collector_evidence.load(path)
    if evidence.image != image:
        raise ValueError(f"{path.name} records {evidence.image}, docker-compose.yml runs {image}")
    return evidence


def known_series(emitted: list[otlp_names.OtlpMetric], evidence: collector_evidence.Evidence | None = None,
                 collector: dict | None = None) -> tuple[dict[str, str], list[str]]:
    """Every series name a dashboard may select and where it comes from; and why some collector series are unknown.

    The services' metrics and the span metrics reach Prometheus over OTLP, so their names follow the OTLP->Prometheus
    rules (otlp_names). The collector's own metrics are scraped untranslated: their names are taken from the
    evidence file, and only while the collector's telemetry reader is the one that evidence describes.
    """
    evidence = evidence or load_evidence()
    collector = collector if collector is not None else load_yaml(COLLECTOR_CONFIG)
    problems: list[str] = []
    known: dict[str, str] = {}
    for metric in emitted:
        for name in otlp_names.series_names(metric):
            known[name] = f"emitted by the services ({metric.name}, {metric.unit or 'no unit'}, {metric.kind})"
    for conn_name, conn in (collector.get("connectors") or {}).items():
        if conn_name.split("/")[0] in ("span_metrics", "spanmetrics"):
            streams, why = collector_evidence.span_metric_streams(evidence, conn)
            problems += why
            for metric in streams:
                for name in otlp_names.series_names(metric):
                    known[name] = (f"the collector's {conn_name} connector ({metric.name}, {metric.unit or 'no unit'}, "
                                   f"over OTLP) per {evidence.path.name}")
    reader = collector_evidence.reader_problems(evidence, collector)
    problems += reader
    if not reader:
        for own in evidence.own.values():
            known.setdefault(own.name, f"the collector's own telemetry, scraped as is ({evidence.path.name}: "
                                       f"{evidence.cite(own.source[:1])})")
    for name in otlp_names.PROMETHEUS_SERIES:
        known.setdefault(name, "Prometheus itself")
    return known, problems


def unknown_series_message(name: str, evidence: collector_evidence.Evidence, emitted: list) -> str:
    if name in evidence.own:
        return (f"selects {name!r}, which {evidence.path.name} records for another telemetry reader than the "
                f"collector's configuration has (see the collector's series above)")
    if name.startswith("otelcol_"):
        message = (f"selects {name!r}, which collector {evidence.version} does not expose: "
                   f"{evidence.path.relative_to(ROOT) if evidence.path.is_relative_to(ROOT) else evidence.path} "
                   f"lists the series it does, each with its upstream source")
        real = [own for own in evidence.own if name in collector_evidence.suffixed_spellings(own)]
        if real:
            message += (f"; its pull reader adds no type or unit suffix (that is the OTLP translation, which does not "
                        f"apply to scraped metrics): the series is {real[0]!r}")
        return message
    return f"selects {name!r}, which nothing emits" + (" (no emitted-metrics file given)" if not emitted else "")


def constant_fallbacks(expr: str) -> list[str]:
    """`X or vector(0)`-style fallbacks: a right-hand side that selects nothing answers even where X's series do not
    exist at all, so a panel shows a reassuring number for series that were never there (or a misspelt name)."""
    tree = promql_parser.parse(GRAFANA_BUILTINS.sub("5m", expr))
    found: list[str] = []

    def selects(node) -> bool:
        hits: list = []
        promql_parser.walk(node, lambda n, *_: hits.append(n) if isinstance(
            n, (promql_parser.VectorSelector, promql_parser.MatrixSelector)) else True)
        return bool(hits)

    def visit(node, *_):
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "or" and not selects(node.rhs):
            found.append(node.rhs.prettify())
        return True

    promql_parser.walk(tree, visit)
    return found


# What the issue asks the dashboard to show, as (description, test on the set of selected metrics / targets).
def required_panels(selected: set[str], exemplar_metrics: set[str], dashboards: list[dict],
                    evidence: collector_evidence.Evidence) -> list[tuple[str, bool]]:
    jaeger_search = any(
        (t.get("datasource") or p.get("datasource") or {}).get("type") == "jaeger" and t.get("queryType") == "search"
        for d in dashboards for p in all_panels(d) for t in p.get("targets", []))
    return [
        ("request rate and error ratio (http.server.request.duration count)", "http_server_request_duration_seconds_count" in selected),
        ("latency percentiles with exemplars (http.server.request.duration buckets)", "http_server_request_duration_seconds_bucket" in exemplar_metrics),
        ("cold-start ratio (faas.coldstarts / faas.invocations)", {"faas_coldstarts_total", "faas_invocations_total"} <= selected),
        ("init duration (faas.init_duration)", any(n.startswith("faas_init_duration_") for n in selected)),
        ("active requests (http.server.active_requests)", "http_server_active_requests" in selected),
        ("function errors (faas.errors)", "faas_errors_total" in selected),
        ("gateway vs function latency (span metrics)", any(n.startswith("traces_span_metrics_duration_") for n in selected)),
        # The collector's own series by their recorded names (not derived: see collector_evidence).
        ("collector accepted / refused / dropped", {"otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans"} <= selected & set(evidence.own)
         and any(n.startswith(("otelcol_exporter_send_failed_", "otelcol_exporter_enqueue_failed_")) for n in selected & set(evidence.own))),
        ("a trace search panel (Jaeger)", jaeger_search),
    ]


def check_dashboard_layout(report: Report, name: str, dash: dict) -> None:
    """What every dashboard needs, whatever its data source: the keys Grafana requires, unique panel ids, known panel
    types, panels inside the 24-column grid and not overlapping, a query on every panel that shows data."""
    for key in ("uid", "title", "panels", "schemaVersion"):
        report.check(key in dash, f"{name}: has {key}", f"{name}: no {key}")
    ids, cells = set(), {}
    for panel in all_panels(dash):
        pid, grid = panel.get("id"), panel.get("gridPos", {})
        report.check(pid not in ids, f"{name}: panel {pid} {panel.get('title')!r}", f"{name}: duplicate panel id {pid}")
        ids.add(pid)
        if panel.get("type") not in PANEL_TYPES:
            report.fail(f"{name}: panel {pid} has unknown type {panel.get('type')!r}")
        if not {"x", "y", "w", "h"} <= set(grid) or grid["x"] + grid["w"] > 24:
            report.fail(f"{name}: panel {pid} has a bad gridPos {grid}")
            continue
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    report.fail(f"{name}: panel {pid} overlaps panel {cells[(x, y)]}")
                    break
                cells[(x, y)] = pid
            else:
                continue
            break
        if panel.get("type") not in ("row", "text") and not panel.get("targets"):
            report.fail(f"{name}: panel {pid} {panel.get('title')!r} has no query")


def check_dashboards(report: Report, emitted_paths: list[Path] | Path | None, require_emitted: bool,
                     dashboards_dir: Path | None = None) -> None:
    files = sorted((dashboards_dir or DASHBOARDS).glob("*.json"))
    report.check(bool(files), f"dashboards: {', '.join(f.name for f in files)}", "no dashboards/*.json")
    if isinstance(emitted_paths, Path):
        emitted_paths = [emitted_paths]
    emitted: list[otlp_names.OtlpMetric] = []
    for emitted_path in emitted_paths or []:
        try:
            found = otlp_names.load_emitted(json.loads(emitted_path.read_text()))
            report.good(f"{len(found)} metrics in {emitted_path}: "
                        + ", ".join(f"{m.name} -> {otlp_names.prometheus_name(m)}" for m in found))
            emitted += found
        except (OSError, ValueError) as e:
            report.fail(f"emitted metrics {emitted_path}: {e}")
            return
    if not emitted and require_emitted:
        report.fail("no --emitted FILE: the metric names the services really emit are unknown")
    try:
        evidence = load_evidence()
    except (OSError, ValueError) as e:
        report.fail(f"the collector's series: {e}")
        return
    report.good(f"the collector's series from {evidence.path.name} ({len(evidence.own)} own, scraped untranslated; "
                f"span metrics over OTLP), {len(evidence.sources)} upstream sources cited")
    collector = load_yaml(COLLECTOR_CONFIG)
    known, problems = known_series(emitted, evidence, collector)
    for problem in problems:
        report.fail(f"the collector's series: {problem}")
    promoted = {otlp_names.prometheus_label(a) for a in (load_yaml(PROMETHEUS_CONFIG).get("otlp") or {}).get("promote_resource_attributes", [])}
    labels_of: dict[str, set[str]] = {}
    for metric in emitted:
        if metric.attributes is not None:
            for series in otlp_names.series_names(metric):
                labels_of[series] = ({otlp_names.prometheus_label(a) for a in metric.attributes} | promoted
                                     | {"job", "instance"} | ({"le"} if series.endswith("_bucket") else set()))
    for conn_name, conn in (collector.get("connectors") or {}).items():
        if conn_name.split("/")[0] in ("span_metrics", "spanmetrics"):
            dims = collector_evidence.span_metric_labels(evidence, conn)
            for metric in collector_evidence.span_metric_streams(evidence, conn)[0]:
                for series in otlp_names.series_names(metric):
                    labels_of[series] = ({otlp_names.prometheus_label(a) for a in dims} | promoted | {"job", "instance"}
                                         | ({"le"} if series.endswith("_bucket") else set()))
    for own in evidence.own.values():
        labels_of[own.name] = set(own.labels) | set(evidence.scrape_labels)
    dashboards = []
    selected_all: set[str] = set()
    exemplar_metrics: set[str] = set()
    for path in files:
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            report.fail(f"{path.name}: not JSON: {e}")
            continue
        dashboards.append(dash)
        check_dashboard_layout(report, path.name, dash)
        for where, expr, target in promql_queries(dash):
            selectors: list = []
            try:
                names, problems = selected_metrics(expr, selectors)
            except ValueError as e:
                report.fail(f"{path.name}: {where}: PromQL does not parse: {e}: {expr}")
                continue
            for name, labels in selectors:
                if name in labels_of and not labels <= labels_of[name]:
                    report.fail(f"{path.name}: {where}: {name} has no label {sorted(labels - labels_of[name])} "
                                f"(its attributes, promoted resource attributes, job, instance: {sorted(labels_of[name])})")
            for problem in problems:
                report.fail(f"{path.name}: {where}: {problem}")
            for fallback in constant_fallbacks(expr):
                report.fail(f"{path.name}: {where}: `or {fallback}` answers even when the series it stands in for do "
                            f"not exist at all (never scraped, or misnamed); fall back only on a condition that proves "
                            f"they could exist, e.g. `or on () {COLLECTOR_SCRAPED_ZERO}`")
            for name in sorted(names):
                if name in known:
                    report.good(f"{path.name}: {where}: {name} <- {known[name]}")
                else:
                    report.fail(f"{path.name}: {where}: {unknown_series_message(name, evidence, emitted)}")
            selected_all |= names
            if target is not None and target.get("exemplar"):
                exemplar_metrics |= names
    for description, present in required_panels(selected_all, exemplar_metrics, dashboards, evidence):
        report.check(present, f"shows {description}", f"no panel shows {description}")
    if emitted:
        unused = sorted(m.name for m in emitted if not otlp_names.series_names(m) & selected_all)
        if unused:
            report.info(f"emitted but on no dashboard: {', '.join(unused)}")


# -------------------------------------------------------------------------------------------------------------- binary

def elf_machine(path: Path) -> str:
    out = subprocess.run(["readelf", "-hW", str(path)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Machine:\s*(.+)", out)
    return m.group(1).strip() if m else "?"


def check_binary(report: Report, bootstrap: Path, apigw_local: Path | None, max_bytes: int, timeout: float) -> None:
    if not report.check(bootstrap.is_file(), f"{bootstrap} exists", f"{bootstrap} was not built"):
        return
    size = bootstrap.stat().st_size
    report.check(size <= max_bytes, f"size {size} bytes ({size / 1048576:.2f} MiB, limit {max_bytes / 1048576:.0f} MiB)",
                 f"size {size} bytes exceeds the limit of {max_bytes} bytes")
    machine = elf_machine(bootstrap)
    headers = subprocess.run(["readelf", "-lW", str(bootstrap)], capture_output=True, text=True, check=True).stdout
    dynamic = subprocess.run(["readelf", "-dW", str(bootstrap)], capture_output=True, text=True, check=True).stdout
    interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", headers)
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)
    if interp is None and not needed:
        report.good(f"statically linked ({machine}): no program interpreter, no shared libraries; runs on any Linux, glibc 2.34 included")
    else:
        symbols = subprocess.run(["objdump", "-T", str(bootstrap)], capture_output=True, text=True, check=True).stdout
        versions = sorted({tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", symbols)})
        newest = versions[-1] if versions else (0,)
        report.info(f"dynamically linked ({machine}): interpreter {interp.group(1) if interp else '-'}, needs {', '.join(needed)}")
        report.check(newest <= MAX_GLIBC, f"newest glibc symbol version GLIBC_{'.'.join(map(str, newest))} <= 2.34 (provided:al2023)",
                     f"needs GLIBC_{'.'.join(map(str, newest))}, newer than provided:al2023's 2.34")
    host = os.uname().machine
    native = (host in ("x86_64", "amd64") and "X86-64" in machine) or (host in ("aarch64", "arm64") and "AArch64" in machine)
    if apigw_local is None or not apigw_local.is_file():
        report.fail(f"apigw-local binary {apigw_local} not found: cannot start bootstrap against the Runtime API")
        return
    if native:
        run_seed_request(report, bootstrap, apigw_local, timeout)
        return
    # Another architecture's binary runs under QEMU's user-mode emulator where one is installed (Debian: qemu-user).
    emulator = shutil.which("qemu-aarch64" if "AArch64" in machine else "qemu-x86_64")
    if emulator is None:
        report.info(f"a {machine} binary cannot run on this {host} machine without qemu-user: not started")
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "bootstrap"
        wrapper.write_text(f'#!/bin/sh\nexec {emulator} {bootstrap.resolve()} "$@"\n')
        wrapper.chmod(0o755)
        report.info(f"a {machine} binary on this {host} machine: run under {emulator}")
        run_seed_request(report, wrapper, apigw_local, timeout * 3)


def run_seed_request(report: Report, bootstrap: Path, apigw_local: Path, timeout: float) -> None:
    """Starts apigw-local hosting the Runtime API for this bootstrap and sends the tutorial's request through it."""
    env = dict(os.environ, OTEL_SDK_DISABLED="true", RUST_LOG="warn")
    proc = subprocess.Popen([str(apigw_local), "--listen", "127.0.0.1:0", "--function", str(bootstrap)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        address = None
        stderr_lines = []
        while time.monotonic() < deadline and address is None:
            line = proc.stderr.readline()
            if not line:
                if proc.poll() is not None:
                    break
                continue
            stderr_lines.append(line.rstrip())
            m = re.search(r"apigw-local: listening on (http://\S+)", line)
            if m:
                address = m.group(1)
        if not report.check(address is not None, f"apigw-local hosts the Runtime API at {address}",
                            f"apigw-local did not report its address: {' | '.join(stderr_lines[-5:])}"):
            return
        request = urllib.request.Request(
            f"{address}/test/helloworld?name=John&city=Seattle", method="POST", data=b'{ "time": "evening" }',
            headers={"content-type": "application/json", "day": "Thursday"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode(errors="replace")
        elapsed = (time.monotonic() - started) * 1000
        expected = '{"greeting":"Good evening, John of Seattle. Happy Thursday!"}'
        report.check(status == 200 and body == expected,
                     f"the seed request through apigw-local -> bootstrap answers 200 {body} ({elapsed:.1f} ms, cold start included)",
                     f"the seed request answered {status} {body!r}, expected 200 {expected}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ------------------------------------------------------------------------------------------------------------ selftest

def selftest(report: Report, hadolint: str, compose_bin: str) -> None:
    """Feeds every check a broken copy of what it checks and expects a failure."""
    import contextlib
    import copy
    import io
    import tempfile

    def rejects(description: str, check, expect: str = "") -> None:
        quiet = Report()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                check(quiet)
            except Exception as e:  # noqa: BLE001 - a crash on bad input is a rejection too, but say so
                print(f"  FAIL raised {type(e).__name__}: {e}")
                quiet.ok = False
        fails = [line.strip() for line in out.getvalue().splitlines() if "FAIL" in line]
        first = next((line for line in fails if expect in line), "")
        report.check(not quiet.ok and bool(first), f"rejects {description}: {first[:150]}",
                     f"accepted {description}" if quiet.ok else f"rejected {description} for another reason: {fails[:2]}")

    def schema_rejects(description: str, path: Path, schema: str, mutate) -> None:
        document = copy.deepcopy(load_yaml(path))
        mutate(document)
        rejects(description, lambda r: validate_schema(r, document, schema, path.name))

    schema_rejects("a misspelt memory_limiter key", COLLECTOR_CONFIG, "otelcol.schema.yaml",
                   lambda d: d["processors"]["memory_limiter"].update(limit_percentag=80))
    schema_rejects("an exporter type the stack does not use (otlphttp, the deprecated name)", COLLECTOR_CONFIG,
                   "otelcol.schema.yaml", lambda d: d["exporters"].update({"otlphttp/x": {"endpoint": "http://x:4318"}}))
    schema_rejects("a span_metrics unit that does not exist", COLLECTOR_CONFIG, "otelcol.schema.yaml",
                   lambda d: d["connectors"]["span_metrics"]["histogram"].update(unit="sec"))
    schema_rejects("a misspelt option of the collector's telemetry reader", COLLECTOR_CONFIG, "otelcol.schema.yaml",
                   lambda d: d["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"].update(without_type_sufix=True))
    schema_rejects("a misspelt Prometheus otlp key", PROMETHEUS_CONFIG, "prometheus.schema.yaml",
                   lambda d: d["otlp"].update(promote_resource_attribute=["service.name"]))
    schema_rejects("a Jaeger latency_unit other than ms or s", JAEGER_CONFIG, "jaeger.schema.yaml",
                   lambda d: next(iter(d["extensions"]["jaeger_storage"]["metric_backends"].values()))["prometheus"].update(latency_unit="sec"))
    ds = next(iter(sorted((GRAFANA_PROVISIONING / "datasources").glob("*.y*ml"))))
    schema_rejects("a misspelt Grafana jsonData key", ds, "grafana-datasources.schema.yaml",
                   lambda d: d["datasources"][0].setdefault("jsonData", {}).update(exemplarTraceIdDestination=[]))

    compose = json.loads(subprocess.run([compose_bin, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                                        capture_output=True, text=True, check=True, cwd=ROOT).stdout)

    def compose_rejects(description: str, mutate) -> None:
        broken = copy.deepcopy(compose)
        mutate(broken["services"])
        rejects(description, lambda r: check_compose(r, broken))

    compose_rejects("an image on :latest", lambda s: s["jaeger"].update(image="jaegertracing/jaeger:latest"))
    compose_rejects("a port on every interface", lambda s: s["grafana"]["ports"][0].update(host_ip=""))
    compose_rejects("a function timeout longer than the gateway's",
                    lambda s: s["lambda"]["environment"].update(AWS_LAMBDA_FUNCTION_TIMEOUT="30"))
    compose_rejects("a missing bind-mount source", lambda s: s["prometheus"]["volumes"][0].update(source=str(ROOT / "deploy/missing.yml")))

    def configs_reject(description: str, relative: str, mutate, expect: str) -> None:
        global COLLECTOR_CONFIG, COLLECTOR_DEBUG, PROMETHEUS_CONFIG, JAEGER_CONFIG, GRAFANA_PROVISIONING
        saved = (COLLECTOR_CONFIG, COLLECTOR_DEBUG, PROMETHEUS_CONFIG, JAEGER_CONFIG, GRAFANA_PROVISIONING)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(ROOT / "deploy", Path(tmp) / "deploy")
            target = Path(tmp) / relative
            document = load_yaml(target)
            mutate(document)
            target.write_text(yaml.safe_dump(document))
            COLLECTOR_CONFIG = Path(tmp) / "deploy/otel-collector/config.yaml"
            COLLECTOR_DEBUG = Path(tmp) / "deploy/otel-collector/debug.yaml"
            PROMETHEUS_CONFIG = Path(tmp) / "deploy/prometheus/prometheus.yml"
            JAEGER_CONFIG = Path(tmp) / "deploy/jaeger/config.yaml"
            GRAFANA_PROVISIONING = Path(tmp) / "deploy/grafana/provisioning"
            try:
                rejects(description, lambda r: check_configs(r, compose), expect)
            finally:
                COLLECTOR_CONFIG, COLLECTOR_DEBUG, PROMETHEUS_CONFIG, JAEGER_CONFIG, GRAFANA_PROVISIONING = saved

    configs_reject("Jaeger reading span metrics in another unit than the connector makes", "deploy/jaeger/config.yaml",
                   lambda d: next(iter(d["extensions"]["jaeger_storage"]["metric_backends"].values()))["prometheus"].update(latency_unit="ms"),
                   "must match the span_metrics connector")
    configs_reject("a collector receiver on localhost (unreachable from other containers)", "deploy/otel-collector/config.yaml",
                   lambda d: d["receivers"]["otlp"]["protocols"]["http"].update(endpoint="localhost:4318"),
                   "must listen on 0.0.0.0:4318")
    configs_reject("the debug exporter on by default", "deploy/otel-collector/config.yaml",
                   lambda d: d["service"]["pipelines"]["traces"]["exporters"].append("debug"),
                   "debug exporter must be off")
    configs_reject("exemplars linking to a data source that does not exist",
                   "deploy/grafana/provisioning/datasources/datasources.yaml",
                   lambda d: d["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"][0].update(datasourceUid="tempo"),
                   "exemplarTraceIdDestinations")

    sample = otlp_names.load_emitted(json.loads((Path(__file__).parent / "fixtures/emitted-metrics.sample.json").read_text()))
    report.check(not check_names_against(sample, ["sum(rate(http_server_request_duration_seconds_count[5m]))"]),
                 "accepts a dashboard that selects an emitted metric (the sample file)",
                 "rejected a dashboard that selects an emitted metric")
    renamed = [otlp_names.OtlpMetric("http.server.duration", m.unit, m.kind, m.monotonic) if m.name == "http.server.request.duration" else m
               for m in sample]
    report.check(bool(check_names_against(renamed, ["sum(rate(http_server_request_duration_seconds_count[5m]))"])),
                 "rejects a dashboard once http.server.request.duration is renamed http.server.duration",
                 "accepted a dashboard whose metric was renamed")
    reunited = [otlp_names.OtlpMetric(m.name, "ms", m.kind, m.monotonic) if m.name == "http.server.request.duration" else m for m in sample]
    report.check(bool(check_names_against(reunited, ["histogram_quantile(0.9, rate(http_server_request_duration_seconds_bucket[5m]))"])),
                 "rejects a dashboard once http.server.request.duration's unit becomes ms (_milliseconds)",
                 "accepted a dashboard whose metric changed unit")
    # The collector's own series are named by tests/stack/fixtures/collector-<version>-metric-names.json, not by the
    # OTLP translation rules (which gave otelcol_receiver_accepted_spans_total, a series the collector never exposes).
    sample_path = Path(__file__).parent / "fixtures/emitted-metrics.sample.json"
    report.check(not check_names_against(sample, ["sum(rate(otelcol_receiver_accepted_spans[5m]))", "otelcol_process_memory_rss"]),
                 "accepts the collector's own series by their recorded names (otelcol_receiver_accepted_spans, otelcol_process_memory_rss)",
                 "rejected otelcol_receiver_accepted_spans or otelcol_process_memory_rss, recorded for the pinned collector")

    def dashboards_reject(description: str, mutate_expr, expect: str) -> None:
        """Runs the whole dashboards check on a copy of dashboards/ with one query changed."""
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DASHBOARDS, Path(tmp), dirs_exist_ok=True)
            changed = 0
            for path in Path(tmp).glob("*.json"):
                dash = json.loads(path.read_text())
                for panel in all_panels(dash):
                    for target in panel.get("targets", []):
                        if not changed and target.get("expr") and mutate_expr(target["expr"]) != target["expr"]:
                            target["expr"] = mutate_expr(target["expr"])
                            changed += 1
                path.write_text(json.dumps(dash))
            if not changed:
                report.fail(f"selftest: no query to change for {description}")
                return
            rejects(description, lambda r: check_dashboards(r, sample_path, True, dashboards_dir=Path(tmp)), expect)

    dashboards_reject("a dashboard query on a made-up collector metric (otelcol_receiver_teleported_spans)",
                      lambda e: e.replace("otelcol_receiver_accepted_spans", "otelcol_receiver_teleported_spans"),
                      "selects 'otelcol_receiver_teleported_spans', which collector")
    dashboards_reject("a dashboard query on otelcol_receiver_accepted_spans_total (the OTLP-translated name, never exposed)",
                      lambda e: e.replace("otelcol_receiver_accepted_spans", "otelcol_receiver_accepted_spans_total"),
                      "the series is 'otelcol_receiver_accepted_spans'")
    dashboards_reject("a dashboard query on otelcol_process_memory_rss_bytes (the unit suffix the pull reader leaves off)",
                      lambda e: e.replace("otelcol_process_memory_rss", "otelcol_process_memory_rss_bytes"),
                      "the series is 'otelcol_process_memory_rss'")
    dashboards_reject("a stat that falls back to `or vector(0)` (a green 0 for series that do not exist)",
                      lambda e: e.replace(f"or on () {COLLECTOR_SCRAPED_ZERO}", "or vector(0)"),
                      "answers even when the series it stands in for do not exist")
    configs_reject("a collector pull reader with type suffixes (names the evidence does not record)", "deploy/otel-collector/config.yaml",
                   lambda d: d["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"].update(without_type_suffix=False),
                   "records the names for")

    def evidence_rejects(description: str, mutate, expect: str) -> None:
        """check_dashboards with docker-compose.yml or the evidence file changed."""
        global COMPOSE_FILE, EVIDENCE_DIR
        saved = (COMPOSE_FILE, EVIDENCE_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(COMPOSE_FILE, Path(tmp) / "docker-compose.yml")
            shutil.copytree(EVIDENCE_DIR, Path(tmp) / "fixtures")
            COMPOSE_FILE, EVIDENCE_DIR = Path(tmp) / "docker-compose.yml", Path(tmp) / "fixtures"
            try:
                mutate(Path(tmp))
                rejects(description, lambda r: check_dashboards(r, sample_path, True), expect)
            finally:
                COMPOSE_FILE, EVIDENCE_DIR = saved

    def bump_collector(tmp: Path) -> None:
        compose_file = tmp / "docker-compose.yml"
        compose_file.write_text(re.sub(r"(opentelemetry-collector-contrib:)[0-9.]+", r"\g<1>0.999.0", compose_file.read_text()))

    def drop_a_source(tmp: Path) -> None:
        for path in (tmp / "fixtures").glob("collector-*-metric-names.json"):
            data = json.loads(path.read_text())
            data["own_metrics"]["metrics"][0]["source"] = []
            path.write_text(json.dumps(data))

    evidence_rejects("a collector version nobody has recorded the series of (compose image 0.999.0)", bump_collector,
                     "no evidence of the names of collector '0.999.0'")
    evidence_rejects("an evidence file with a name that cites no source", drop_a_source, "names no source")

    with tempfile.TemporaryDirectory() as tmp:
        fixture = json.loads((Path(__file__).parent / "fixtures/emitted-metrics.sample.json").read_text())
        for metric in fixture["metrics"]:
            if metric["name"] == "http.server.request.duration":
                metric["attributes"] = [a for a in metric["attributes"] if a != "http.request.method"]
        mutated = Path(tmp) / "emitted.json"
        mutated.write_text(json.dumps(fixture))
        rejects("a dashboard matching on a label the metric does not have (http.request.method dropped)",
                lambda r: check_dashboards(r, mutated, True), "has no label ['http_request_method']")
    try:
        promql_parser.parse("sum(rate(http_server_request_duration_seconds_count[5m])")
        report.fail("accepted PromQL with an unclosed parenthesis")
    except ValueError as e:
        report.good(f"rejects PromQL with an unclosed parenthesis: {str(e)[:80]}")

    rejects("a Dockerfile whose function image floats on a tag",
            lambda r: check_dockerfile(r, re.sub(r"provided:al2023\.[^\s]+", "provided:al2023", (ROOT / "Dockerfile").read_text())))
    rejects("a Dockerfile that replaces the base image's entrypoint",
            lambda r: check_dockerfile(r, (ROOT / "Dockerfile").read_text() + '\nENTRYPOINT ["/var/runtime/bootstrap"]\n'))
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "Dockerfile"
        bad.write_text("FROM debian\nRUN apt-get update && apt-get install curl\nWORKDIR app\n")
        result = subprocess.run([hadolint, "--failure-threshold", "style", str(bad)], capture_output=True, text=True)
        report.check(result.returncode != 0, f"hadolint rejects an unpinned FROM and apt-get install: {result.stdout.splitlines()[0][:110] if result.stdout else ''}",
                     "hadolint accepted a Dockerfile with an unpinned FROM")
        bad = Path(tmp) / "compose.yml"
        bad.write_text("services:\n  a:\n    image: busybox:1.37\n    depends_on:\n      b:\n        condition: service_healthy\n")
        result = subprocess.run([compose_bin, "-f", str(bad), "config", "--quiet"], capture_output=True, text=True)
        report.check(result.returncode != 0, f"Compose's loader rejects depends_on a service that does not exist: {result.stderr.strip()[:110]}",
                     "Compose's loader accepted depends_on a missing service")

    # ---- deploy/compose.aws.yaml, and the CloudWatch queries' names
    aws_compose = json.loads(subprocess.run(
        [compose_bin, "-f", str(ROOT / "docker-compose.yml"), "-f", str(AWS_OVERRIDE), "config", "--format", "json"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout)

    def aws_mount(grafana: dict, target: str) -> dict:
        return next(v for v in grafana["volumes"] if v.get("target") == target)

    def aws_rejects(description: str, mutate, expect: str) -> None:
        broken = copy.deepcopy(aws_compose)
        mutate(broken["services"]["grafana"])
        rejects(description, lambda r: check_aws(r, compose, broken), expect)

    aws_rejects("~/.aws mounted writable", lambda g: aws_mount(g, GRAFANA_AWS_DIR).update(read_only=False),
                "~/.aws must be mounted read-only")
    aws_rejects("~/.aws mounted where the image's SDK does not look ($HOME is /usr/share/grafana, not /root)",
                lambda g: aws_mount(g, GRAFANA_AWS_DIR).update(target="/root/.aws"), "~/.aws must be mounted read-only at")
    aws_rejects("~/.aws created by the engine when missing (an empty root-owned directory on the host)",
                lambda g: aws_mount(g, GRAFANA_AWS_DIR).update(bind={"create_host_path": True}), "create_host_path false")

    def nest_into_base(g: dict) -> None:
        """The naive override: the CloudWatch file mounted into the read-only mount of deploy/grafana/provisioning."""
        g["environment"].pop("GF_PATHS_PROVISIONING")
        aws_mount(g, "/etc/grafana/provisioning-aws/datasources/cloudwatch.yaml").update(
            target="/etc/grafana/provisioning/datasources/cloudwatch.yaml")

    aws_rejects("a provisioning file mounted inside the read-only provisioning directory", nest_into_base, "moby/moby#39587")
    aws_rejects("the override's provisioning directory without the stack's own data sources (Prometheus and Jaeger gone)",
                lambda g: g["volumes"].remove(aws_mount(g, "/etc/grafana/provisioning-aws/datasources/datasources.yaml")),
                "deploy/grafana/provisioning/datasources/datasources.yaml must be mounted")
    aws_rejects("AWS_REGION without a default", lambda g: g["environment"].update(AWS_REGION=""), "AWS_REGION has no default")
    aws_rejects("a secret access key written in the compose file",
                lambda g: g["environment"].update(AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI"), "AWS_SECRET_ACCESS_KEY must be listed without a value")
    cloudwatch_ds = AWS_PROVISIONING / "datasources/cloudwatch.yaml"
    schema_rejects("a misspelt CloudWatch jsonData key (defaultRegin)", cloudwatch_ds, "grafana-datasources.schema.yaml",
                   lambda d: d["datasources"][0]["jsonData"].update(defaultRegin="us-east-1"))
    schema_rejects("a CloudWatch data source with access keys in the file (authType keys)", cloudwatch_ds,
                   "grafana-datasources.schema.yaml", lambda d: d["datasources"][0]["jsonData"].update(authType="keys"))

    def deployed_rejects(description: str, mutate, expect: str, into_local: bool = False) -> None:
        """check_aws with a changed copy of dashboards-deployed/ (or with it copied into dashboards/)."""
        global DEPLOYED_DASHBOARDS, DASHBOARDS
        saved = (DEPLOYED_DASHBOARDS, DASHBOARDS)
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / ("local" if into_local else "deployed")
            shutil.copytree(DASHBOARDS if into_local else DEPLOYED_DASHBOARDS, target)
            for path in DEPLOYED_DASHBOARDS.glob("*.json"):
                dash = json.loads(path.read_text())
                mutate(dash)
                (target / path.name).write_text(json.dumps(dash))
            if into_local:
                DASHBOARDS = target
            else:
                DEPLOYED_DASHBOARDS = target
            # The merged compose mounts the real directories: point its mounts at the copies.
            merged = json.loads(json.dumps(aws_compose).replace(str(saved[1] if into_local else saved[0]), str(target)))
            try:
                rejects(description, lambda r: check_aws(r, compose, merged), expect)
            finally:
                DEPLOYED_DASHBOARDS, DASHBOARDS = saved

    def first_target(dash: dict) -> dict:
        return next(t for p in all_panels(dash) for t in p.get("targets", []))

    deployed_rejects("a deployed dashboard in dashboards/ (Grafana would load it without the override)", lambda d: None,
                     "queries CloudWatch", into_local=True)
    deployed_rejects("a deployed dashboard on a data source uid nobody provisions",
                     lambda d: first_target(d)["datasource"].update(uid="aws"), "not provisioned")
    deployed_rejects("a Metrics Insights (SQL) query, whose names cannot be checked",
                     lambda d: first_target(d).update(metricQueryType=1, sqlExpression="SELECT SUM(Requests) FROM x"), "metricQueryType")
    deployed_rejects("a deployed dashboard refreshed every 10 s (each refresh is a billed GetMetricData call)",
                     lambda d: d.update(refresh="10s"), "below a minute")
    deployed_rejects("two deployed panels on the same cells", lambda d: all_panels(d)[3].update(gridPos=all_panels(d)[2]["gridPos"]),
                     "overlaps panel")

    catalog = cloudwatch_names.load_catalog()
    deployed = sorted(DEPLOYED_DASHBOARDS.glob("*.json"))
    sample_tftpl = Path(__file__).parent / "fixtures/cloudwatch-dashboard.sample.json.tftpl"
    quiet = Report()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        cloudwatch_names.check_files(quiet, deployed + [sample_tftpl], catalog)
    report.check(quiet.ok, "accepts the deployed dashboards and a CloudWatch dashboard template (SEARCH, . and ... rows, ${...})",
                 f"rejected the deployed dashboards or the sample CloudWatch dashboard template: "
                 f"{[line.strip() for line in out.getvalue().splitlines() if 'FAIL' in line][:2]}")

    def names_reject(description: str, path: Path, edit, expect: str, emf=None, apigateway=None) -> None:
        """check_files on an edited copy of `path` (its text), or with edited fixtures (their JSON)."""
        with tempfile.TemporaryDirectory() as tmp:
            copy_path = Path(tmp) / path.name
            copy_path.write_text(edit(path.read_text()) if edit else path.read_text())
            paths = []
            for name, source, change in (("emf-metrics.json", cloudwatch_names.EMF_EVIDENCE, emf),
                                         ("aws-apigateway-metrics.json", cloudwatch_names.APIGATEWAY_METRICS, apigateway)):
                data = json.loads(source.read_text())
                if change:
                    change(data)
                (Path(tmp) / name).write_text(json.dumps(data))
                paths.append(Path(tmp) / name)
            rejects(description, lambda r: cloudwatch_names.check_files(r, [copy_path], cloudwatch_names.load_catalog(*paths)), expect)

    grafana_dash = deployed[0]
    names_reject("a deployed dashboard once the function's Requests is renamed RequestCount (in the EMF evidence)", grafana_dash,
                 None, "has no metric 'Requests'",
                 emf=lambda d: d["directives"][0]["metrics"][0].update(name="RequestCount"))
    names_reject("a query on a renamed EMF metric (Requests -> RequestCount)", grafana_dash,
                 lambda t: t.replace('"metricName": "Requests"', '"metricName": "RequestCount"'), "has no metric 'RequestCount'")
    names_reject("a query on Requests without its StatusClass dimension (finds nothing)", grafana_dash,
                 lambda t: t.replace('"StatusClass": "*"', '"Status": "*"', 1), "is published with the dimensions")
    names_reject("a query on AWS/ApiGateway 5xxError (the metric is 5XXError)", grafana_dash,
                 lambda t: t.replace('"5XXError"', '"5xxError"'), "has no metric '5xxError'")
    names_reject("an AWS/ApiGateway query by ApiId (REST API metrics have ApiName)", grafana_dash,
                 lambda t: t.replace('"ApiName": "$api"', '"ApiId": "$api"', 1), "is published with the dimensions")
    names_reject("an ApiName the terraform does not deploy", grafana_dash,
                 lambda t: t.replace('"LambdaSimpleProxy"', '"PetStore"'), "the terraform deploys 'LambdaSimpleProxy'")
    names_reject("a namespace variable that is not the function's EMF namespace", grafana_dash,
                 lambda t: t.replace('"hello-lambda-otel"', '"hello-lambda"'), "$namespace defaults to 'hello-lambda'")
    def requests_p99(text: str) -> str:
        dash = json.loads(text)
        next(t for p in all_panels(dash) for t in p.get("targets", []) if t.get("metricName") == "Requests").update(statistic="p99")
        return json.dumps(dash)

    names_reject("a p99 of Requests (a percentile of a count)", grafana_dash, requests_p99, "a percentile (p99) of Requests")
    names_reject("a dashboard without a cold-start panel", grafana_dash,
                 lambda t: t.replace('"metricName": "ColdStarts"', '"metricName": "Errors"'), "no query shows ColdStarts")
    names_reject("a CloudWatch dashboard template searching a renamed metric (Duration -> Latency)", sample_tftpl,
                 lambda t: t.replace('MetricName=\\"Duration\\"', 'MetricName=\\"Latency\\"'), "has no metric 'Latency'")
    names_reject("a CloudWatch dashboard template searching Errors by StatusClass", sample_tftpl,
                 lambda t: t.replace("{${namespace},Service,Method} MetricName=\\\"Errors", "{${namespace},Service,Method,StatusClass} MetricName=\\\"Errors"),
                 "is published with the dimensions")
    names_reject("a CloudWatch dashboard template whose %{ for } only Terraform can evaluate", sample_tftpl,
                 lambda t: t.replace('"widgets": [', '"widgets": [%{ for m in methods ~}%{ endfor ~}', 1), "render it with Terraform")


def check_names_against(emitted: list, expressions: list[str]) -> list[str]:
    """Selected metric names not emitted: [] when every expression selects only known metrics."""
    known, _ = known_series(emitted)
    unknown = []
    for expr in expressions:
        names, problems = selected_metrics(expr)
        unknown += sorted(n for n in names if n not in known) + problems
    return unknown


# ----------------------------------------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dockerfile")
    for name in ("compose", "configs"):
        p = sub.add_parser(name)
        p.add_argument("compose_json", type=Path, help="output of `docker compose config --format json`")
    p = sub.add_parser("aws")
    p.add_argument("compose_json", type=Path, help="`docker compose -f docker-compose.yml config --format json`")
    p.add_argument("aws_json", type=Path, help="the same with `-f deploy/compose.aws.yaml`")
    p = sub.add_parser("cloudwatch")
    p.add_argument("files", type=Path, nargs="+", help="Grafana dashboards or CloudWatch dashboard bodies (.json, .json.tftpl)")
    p.add_argument("--emf", type=Path, default=cloudwatch_names.EMF_EVIDENCE, help="the EMF evidence (default: %(default)s)")
    p.add_argument("--apigateway", type=Path, default=cloudwatch_names.APIGATEWAY_METRICS,
                   help="AWS/ApiGateway's documented metrics (default: %(default)s)")
    p = sub.add_parser("dashboards")
    p.add_argument("--emitted", type=Path, action="append", default=[],
                   help="JSON list of the OTLP metrics a real run emitted (see otlp_names.load_emitted); repeatable: the union counts")
    p.add_argument("--require-emitted", action="store_true", help="fail without --emitted")
    p = sub.add_parser("binary")
    p.add_argument("--bootstrap", type=Path, required=True)
    p.add_argument("--apigw-local", type=Path)
    p.add_argument("--max-bytes", type=int, default=16 * 1048576)
    p.add_argument("--timeout", type=float, default=20.0)
    p = sub.add_parser("selftest")
    p.add_argument("--hadolint", required=True)
    p.add_argument("--compose", required=True)
    p = sub.add_parser("names", help="print the Prometheus names of an emitted-metrics file")
    p.add_argument("emitted", type=Path)
    args = parser.parse_args()

    report = Report()
    if args.command == "dockerfile":
        check_dockerfile(report)
    elif args.command == "compose":
        check_compose(report, json.loads(args.compose_json.read_text()))
    elif args.command == "configs":
        check_configs(report, json.loads(args.compose_json.read_text()))
    elif args.command == "aws":
        check_aws(report, json.loads(args.compose_json.read_text()), json.loads(args.aws_json.read_text()))
    elif args.command == "cloudwatch":
        try:
            catalog = cloudwatch_names.load_catalog(args.emf, args.apigateway)
            report.good(f"{args.emf.name}: EMF metrics {', '.join(sorted(catalog.emf))} in namespace {catalog.emf_namespace!r}; "
                        f"{args.apigateway.name}: {catalog.apigateway_namespace} {', '.join(sorted(catalog.apigateway))}")
            cloudwatch_names.check_files(report, args.files, catalog)
        except (OSError, ValueError, KeyError) as e:
            report.fail(f"the known CloudWatch metrics: {e}")
    elif args.command == "dashboards":
        check_dashboards(report, args.emitted, args.require_emitted)
    elif args.command == "binary":
        check_binary(report, args.bootstrap, args.apigw_local, args.max_bytes, args.timeout)
    elif args.command == "selftest":
        selftest(report, args.hadolint, args.compose)
    elif args.command == "names":
        for metric in otlp_names.load_emitted(json.loads(args.emitted.read_text())):
            print(f"{metric.name} ({metric.unit or 'no unit'}, {metric.kind}) -> {', '.join(sorted(otlp_names.series_names(metric)))}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
