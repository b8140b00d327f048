"""The CloudWatch queries of a dashboard, and whether the metrics they select exist.

A CloudWatch metric is identified by its namespace, its name and its whole set of dimension names: a query that misses a
dimension, or names one the metric is not published with, finds nothing and draws an empty panel, with no error. So
every query's names are checked against what is known to be published:

- the function's EMF metrics: the evidence file tests/fixtures/emf-metrics.json (what a real run of the function writes:
  directives of dimension sets and metrics), in the EMF namespace (LAMBDA_OTEL_EMF_NAMESPACE, the terraform's
  var metrics_namespace, default hello-lambda-otel);
- API Gateway's own: tests/stack/fixtures/aws-apigateway-metrics.json, the metric names and dimension sets AWS
  documents for AWS/ApiGateway (its source URL inside).

Two dashboard formats are read:

- a Grafana dashboard (`panels`): every target of the CloudWatch data source, in builder mode (namespace, metricName,
  dimensions) or as a SEARCH expression; Metrics Insights (SQL) queries are refused, their names cannot be checked here;
- a CloudWatch dashboard body (`widgets`), as JSON or as a Terraform template (.tftpl): each metric row
  [namespace, name, dim, value, ..., {options}] with the "." and "..." shorthands, or {"expression": "SEARCH(...)"}.
  A template's ${...} interpolations stand for values (a namespace or dimension value that is an interpolation is
  accepted as a variable); %{...} directives need Terraform to render the file first.

Used by `stackcheck.py cloudwatch FILE...` (scripts/check-stack.sh) and its selftest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMF_EVIDENCE = ROOT / "tests/fixtures/emf-metrics.json"
APIGATEWAY_METRICS = Path(__file__).resolve().parent / "fixtures/aws-apigateway-metrics.json"
TERRAFORM_VARIABLES = ROOT / "terraform/variables.tf"
# The contract's default of LAMBDA_OTEL_EMF_NAMESPACE when terraform/variables.tf does not declare metrics_namespace.
DEFAULT_EMF_NAMESPACE = "hello-lambda-otel"
# What the issue asks a dashboard of the deployed function to show: (namespace kind, metric, statistics required).
REQUIRED = [
    ("emf", "Requests", set()),
    ("emf", "Errors", set()),
    ("emf", "Duration", {"p50", "p99"}),
    ("emf", "ColdStarts", set()),
    ("apigateway", "Count", set()),
    ("apigateway", "Latency", set()),
    ("apigateway", "IntegrationLatency", set()),
    ("apigateway", "4XXError", set()),
    ("apigateway", "5XXError", set()),
]
# CloudWatch's statistics (CloudWatch User Guide, "CloudWatch statistics definitions").
STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM|(p|tm|wm|tc|ts|pr)\d{1,2}(\.\d{1,2})?"
                       r"|(TM|WM|TC|TS|PR)\([^)]*\))$")
PERCENTILE = re.compile(r"^(p|tm|wm|tc|ts|pr|TM|WM|TC|TS|PR)")
TIME_UNITS = {"Milliseconds", "Seconds", "Microseconds"}


@dataclass
class Query:
    """One metric a query selects: where it is, its namespace, name, dimensions (name -> value) and statistic."""

    where: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str | None
    exact: bool = True


@dataclass
class Catalog:
    """What is known to be published: EMF metric -> (unit, dimension sets); AWS/ApiGateway the same."""

    emf_namespace: str
    emf: dict[str, tuple[str, list[frozenset[str]]]]
    apigateway_namespace: str
    apigateway: dict[str, tuple[str, list[frozenset[str]]]]
    apigateway_source: str
    defaults: dict[str, str] = field(default_factory=dict)


def terraform_defaults(path: Path = TERRAFORM_VARIABLES) -> dict[str, str]:
    """The string defaults of terraform/variables.tf (`variable "x" { ... default = "y" ... }`)."""
    if not path.is_file():
        return {}
    found = {}
    for m in re.finditer(r'variable\s+"([^"]+)"\s*\{(.*?)\n\}', path.read_text(), re.S):
        d = re.search(r'^\s*default\s*=\s*"([^"]*)"', m.group(2), re.M)
        if d:
            found[m.group(1)] = d.group(1)
    return found


def load_catalog(emf_path: Path = EMF_EVIDENCE, apigateway_path: Path = APIGATEWAY_METRICS,
                 variables: Path = TERRAFORM_VARIABLES) -> Catalog:
    """Reads the EMF evidence and the API Gateway fixture; raises ValueError on a malformed file."""
    evidence = json.loads(emf_path.read_text())
    emf: dict[str, tuple[str, list[frozenset[str]]]] = {}
    for directive in evidence.get("directives") or []:
        sets = [frozenset(s) for s in directive.get("dimensions") or []]
        if not sets or not directive.get("metrics"):
            raise ValueError(f"{emf_path.name}: a directive without dimensions or metrics: {directive}")
        for metric in directive["metrics"]:
            unit, known = emf.get(metric["name"], (metric.get("unit", "None"), []))
            emf[metric["name"]] = (unit, known + sets)
    if not emf:
        raise ValueError(f"{emf_path.name}: no directives")
    apigw = json.loads(apigateway_path.read_text())
    if not str(apigw.get("source", "")).startswith("https://docs.aws.amazon.com/"):
        raise ValueError(f"{apigateway_path.name}: no AWS documentation page as its source")
    sets = [frozenset(s) for s in apigw["dimensions"]]
    defaults = terraform_defaults(variables)
    return Catalog(
        emf_namespace=defaults.get("metrics_namespace", DEFAULT_EMF_NAMESPACE), emf=emf,
        apigateway_namespace=apigw["namespace"],
        apigateway={m["name"]: (m["unit"], sets) for m in apigw["metrics"]},
        apigateway_source=apigateway_path.name, defaults=defaults)


# --------------------------------------------------------------------------------------------------------- reading

def load_dashboard(path: Path) -> dict:
    """A dashboard file as JSON; a Terraform template's interpolations become strings that say they are one."""
    text = path.read_text()
    if path.suffix == ".tftpl":
        text = render_placeholders(text)
    return json.loads(text)


def render_placeholders(text: str) -> str:
    """Replaces each ${...} of a Terraform template by a JSON-safe placeholder: inside a JSON string it stays as it is
    (with its quotes made single), outside one it becomes the string "${...}". Raises ValueError on a %{...} directive:
    its loop or condition decides what the body holds, which only Terraform can evaluate."""
    if re.search(r"(?<!%)%\{", text):
        raise ValueError("the template has %{...} directives: render it with Terraform (templatefile) and check the result")
    out: list[str] = []
    i, in_string = 0, False
    while i < len(text):
        if text.startswith("$${", i):  # a literal ${
            out.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            depth, j, quote = 0, i + 1, None
            while j < len(text):
                c = text[j]
                if quote:
                    if c == "\\":
                        j += 1
                    elif c == quote:
                        quote = None
                elif c == '"':
                    quote = c
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            expression = text[i + 2:j].strip().replace('"', "'")
            placeholder = "${" + expression + "}"
            out.append(placeholder if in_string else json.dumps(placeholder))
            i = j + 1
            continue
        c = text[i]
        if in_string and c == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        out.append(c)
        i += 1
    return "".join(out)


SEARCH = re.compile(r"SEARCH\(\s*'((?:[^'\\]|\\.)*)'\s*,\s*'([^']+)'(?:\s*,\s*[^)]*)?\)")


def parse_search(expression: str) -> tuple[list[tuple[str, str, list[str], str]], list[str]]:
    """(namespace, metric, dimension names, statistic) of each SEARCH('{Namespace,Dim,...} MetricName="X"', 'Stat')
    in an expression, and the searches whose schema or metric name it cannot tell."""
    found, problems = [], []
    for m in SEARCH.finditer(expression):
        # A template's ${...} (a namespace, say) holds braces of its own: set it aside while the schema is read.
        held: list[str] = []
        terms = re.sub(r"\$\{[^}]*\}", lambda p: held.append(p.group(0)) or f"\0{len(held) - 1}\0",
                       m.group(1).replace('\\"', '"'))
        schema = re.search(r"\{([^}]*)\}", terms)
        name = re.search(r"MetricName\s*=\s*\"?([^\"\s)]+)\"?", terms)
        if not schema or not name:
            problems.append(f"SEARCH without a {{namespace,dimensions}} schema or a MetricName=\"...\" term: {m.group(0)}")
            continue
        parts = [re.sub(r"\0(\d+)\0", lambda p: held[int(p.group(1))], part.strip().strip('"'))
                 for part in schema.group(1).split(",")]
        found.append((parts[0], name.group(1), parts[1:], m.group(2)))
    return found, problems


def grafana_variables(dashboard: dict) -> dict[str, str]:
    """Template variable -> its default (current value, else query)."""
    result = {}
    for var in (dashboard.get("templating") or {}).get("list", []):
        current = (var.get("current") or {}).get("value")
        value = current if isinstance(current, str) else var.get("query")
        result[var.get("name")] = value if isinstance(value, str) else ""
    return result


VARIABLE = re.compile(r"^\$(\w+)$|^\$\{(\w+)(?::[^}]*)?\}$|^\[\[(\w+)\]\]$")


def all_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels += panel.get("panels", [])
    return panels


def grafana_queries(dashboard: dict) -> tuple[list[Query], list[str]]:
    """The CloudWatch metric queries of a Grafana dashboard, and the targets whose names cannot be checked."""
    queries, problems = [], []
    for panel in all_panels(dashboard):
        panel_ds = (panel.get("datasource") or {}).get("type")
        for target in panel.get("targets", []):
            if (target.get("datasource") or {}).get("type", panel_ds) != "cloudwatch":
                continue
            where = f"panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}"
            if target.get("queryMode", "Metrics") != "Metrics":
                problems.append(f"{where}: queryMode {target.get('queryMode')!r}: only metric queries are checked")
                continue
            if target.get("metricQueryType", 0) != 0:
                problems.append(f"{where}: a Metrics Insights (SQL) query: its names cannot be checked; use the builder")
                continue
            if target.get("metricEditorMode", 0) == 1:
                searches, why = parse_search(target.get("expression", ""))
                problems += [f"{where}: {w}" for w in why]
                if not searches and "SEARCH" not in target.get("expression", ""):
                    continue  # metric math over other queries, which are checked themselves
                for namespace, metric, dims, stat in searches:
                    queries.append(Query(where, namespace, metric, {d: "*" for d in dims}, stat))
                continue
            queries.append(Query(where, target.get("namespace", ""), target.get("metricName", ""),
                                 {k: (v if isinstance(v, str) else ",".join(v)) for k, v in (target.get("dimensions") or {}).items()},
                                 target.get("statistic") or (target.get("statistics") or [None])[0],
                                 target.get("matchExact", True)))
    return queries, problems


def cloudwatch_body_queries(body: dict) -> tuple[list[Query], list[str]]:
    """The metric rows and SEARCH expressions of a CloudWatch dashboard body (its "Dashboard Body Structure and
    Syntax"), and the rows it cannot read."""
    queries, problems = [], []
    for w, widget in enumerate(body.get("widgets", [])):
        if widget.get("type") != "metric":
            continue
        props = widget.get("properties") or {}
        where_w = f"widget {w} {props.get('title')!r}"
        previous: list = []
        for r, row in enumerate(props.get("metrics") or []):
            where = f"{where_w} row {r}"
            options = row[-1] if row and isinstance(row[-1], dict) else {}
            values = row[:-1] if options else list(row)
            if not values and "expression" in options:
                searches, why = parse_search(options["expression"])
                problems += [f"{where}: {w_}" for w_ in why]
                for namespace, metric, dims, stat in searches:
                    queries.append(Query(where, namespace, metric, {d: "*" for d in dims}, stat))
                continue
            if values and values[0] == "...":
                rest = values[1:]
                values = previous[:max(0, len(previous) - len(rest))] + rest
            values = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(values)]
            if len(values) < 2 or len(values) % 2 or not all(isinstance(v, str) for v in values):
                problems.append(f"{where}: not [namespace, metric, dim, value, ...]: {row}")
                continue
            previous = values
            dims = dict(zip(values[2::2], values[3::2]))
            queries.append(Query(where, values[0], values[1], dims, options.get("stat") or props.get("stat") or "Average"))
    return queries, problems


# --------------------------------------------------------------------------------------------------------- checking

def resolve(value: str, variables: dict[str, str] | None) -> tuple[str | None, str]:
    """(the value a query uses, how it was found): a literal, the default of a Grafana dashboard's variable, or, in a
    Terraform template (variables None), an interpolation (None: decided when Terraform renders it)."""
    if variables is None:
        return (None, f"{value} (a template interpolation)") if "${" in value else (value, repr(value))
    m = VARIABLE.match(value)
    if m:
        name = next(g for g in m.groups() if g)
        if name in variables:
            return variables[name], f"${name}, default {variables[name]!r}"
        return value, f"{value}: no such dashboard variable"
    return value, repr(value)


def check_queries(report, name: str, queries: list[Query], problems: list[str], catalog: Catalog,
                  variables: dict[str, str] | None) -> None:
    """Every query selects a published metric, and the file shows what the issue asks for (REQUIRED)."""
    # `variables`: a Grafana dashboard's variables and their defaults; None for a CloudWatch dashboard body.
    for problem in problems:
        report.fail(f"{name}: {problem}")
    report.check(bool(queries), f"{name}: {len(queries)} CloudWatch metric queries", f"{name}: no CloudWatch metric query")
    shown: dict[tuple[str, str], set[str]] = {}
    for q in queries:
        namespace, how = resolve(q.namespace, variables)
        if namespace == catalog.apigateway_namespace:
            kind, known, source = "apigateway", catalog.apigateway, catalog.apigateway_source
        elif namespace is None or namespace == catalog.emf_namespace:
            kind, known, source = "emf", catalog.emf, EMF_EVIDENCE.name
        else:
            report.fail(f"{name}: {q.where}: namespace {how} is neither {catalog.apigateway_namespace} nor the EMF "
                        f"namespace {catalog.emf_namespace!r}")
            continue
        if q.metric not in known:
            report.fail(f"{name}: {q.where}: {namespace or q.namespace} has no metric {q.metric!r} ({source} lists "
                        f"{', '.join(sorted(known))})")
            continue
        unit, sets = known[q.metric]
        dims = frozenset(q.dimensions)
        fits = dims in sets if q.exact else any(dims <= s for s in sets)
        if not fits:
            report.fail(f"{name}: {q.where}: {q.metric} is published with the dimensions "
                        f"{' or '.join(str(sorted(s)) for s in sets)}, not {sorted(dims)} ({source}): the query finds nothing")
            continue
        if q.statistic is None or not STATISTIC.match(q.statistic):
            report.fail(f"{name}: {q.where}: {q.statistic!r} is not a CloudWatch statistic")
            continue
        if PERCENTILE.match(q.statistic) and unit not in TIME_UNITS:
            report.fail(f"{name}: {q.where}: a percentile ({q.statistic}) of {q.metric}, a {unit} metric")
            continue
        values = []
        for dim, value in sorted(q.dimensions.items()):
            resolved, vhow = resolve(value, variables)
            expected = {"ApiName": catalog.defaults.get("api_name"), "Stage": catalog.defaults.get("stage_name")}.get(dim) \
                if kind == "apigateway" else None
            if expected and resolved is not None and resolved != expected:
                report.fail(f"{name}: {q.where}: {dim} {vhow}, the terraform deploys {expected!r} (terraform/variables.tf)")
            values.append(f"{dim}={vhow}")
        report.good(f"{name}: {q.where}: {namespace or q.namespace} {q.metric} {q.statistic} [{', '.join(values)}] <- {source}")
        shown.setdefault((kind, q.metric), set()).add(q.statistic)
    for kind, metric, stats in REQUIRED:
        got = shown.get((kind, metric))
        report.check(got is not None and stats <= got,
                     f"{name}: shows {metric}{' ' + '/'.join(sorted(stats)) if stats else ''}",
                     f"{name}: no query shows {metric}{' ' + '/'.join(sorted(stats - (got or set()))) if stats else ''}")


def check_files(report, paths: list[Path], catalog: Catalog) -> None:
    """check_queries for each file, Grafana dashboard or CloudWatch dashboard body."""
    for path in paths:
        try:
            dashboard = load_dashboard(path)
        except (OSError, ValueError) as e:
            report.fail(f"{path.name}: {e}")
            continue
        if "widgets" in dashboard:
            queries, problems = cloudwatch_body_queries(dashboard)
            variables = None
        else:
            queries, problems = grafana_queries(dashboard)
            variables = grafana_variables(dashboard)
            if "namespace" in variables:
                report.check(variables["namespace"] == catalog.emf_namespace,
                             f"{path.name}: $namespace defaults to the EMF namespace {catalog.emf_namespace!r}",
                             f"{path.name}: $namespace defaults to {variables['namespace']!r}, the function writes to "
                             f"{catalog.emf_namespace!r}")
        check_queries(report, path.name, queries, problems, catalog, variables)
