"""The collector's series as Prometheus stores them, from recorded evidence rather than from a naming rule.

The collector reaches Prometheus two ways, and only one of them goes through the OTLP->Prometheus translation:

- its own metrics (otelcol_receiver_accepted_spans, ...) are scraped from its Prometheus pull reader on :8888. Since
  collector 0.152 an explicitly configured pull reader exposes them with no type or unit suffix (no _total, no
  _bytes): the instrument names as they are. Deriving them with otlp_names.prometheus_name gave names that never
  exist (otelcol_receiver_accepted_spans_total), and the checker approved dashboards that showed nothing;
- its span metrics (traces.span.metrics.calls, .duration) are pushed over OTLP to Prometheus' OTLP receiver, which does
  translate: their Prometheus names are otlp_names.series_names of the OTLP name, unit and kind the connector sets.

Both come from tests/stack/fixtures/collector-<version>-metric-names.json, where every name carries the upstream
source (repository, tag, commit, path, lines) that says so. The version is the collector image's tag in
docker-compose.yml: another version has no evidence until someone reads its sources and records it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import otlp_names

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def evidence_path(version: str) -> Path:
    return FIXTURES / f"collector-{version}-metric-names.json"


@dataclass(frozen=True)
class OwnMetric:
    """One of the collector's own series, as scraped."""

    name: str
    labels: frozenset[str]
    exists: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    path: Path
    version: str
    image: str
    sources: dict
    own: dict[str, OwnMetric]
    scrape_labels: frozenset[str]
    applies_when: dict
    span_metrics: dict

    def cite(self, ids: tuple[str, ...] | list[str]) -> str:
        """A short citation of the named sources: repo@ref path."""
        parts = []
        for i in ids:
            s = self.sources[i]
            ref = s["ref"] if " " not in s["ref"] else s["commit"][:12]
            parts.append(f"{s['repo']}@{ref} {s['path'].split(',')[0]}")
        return "; ".join(parts)


def load(path: Path) -> Evidence:
    """Reads and validates an evidence file: every name has a source, every source says where it was read."""
    data = json.loads(path.read_text())
    problems = []
    for key in ("collector_version", "image", "sources", "own_metrics", "span_metrics"):
        if key not in data:
            problems.append(f"no {key!r}")
    if problems:
        raise ValueError(f"{path.name}: " + ", ".join(problems))
    if path.name != f"collector-{data['collector_version']}-metric-names.json" or \
            image_version(data["image"]) != data["collector_version"]:
        problems.append(f"records collector {data['collector_version']} and image {data['image']}: the file name, "
                        "version and image tag must agree")
    sources = data["sources"]
    for sid, s in sources.items():
        missing = [k for k in ("repo", "ref", "commit", "path", "lines", "says") if not s.get(k)]
        if missing:
            problems.append(f"source {sid!r} has no {', '.join(missing)}")
        elif not re.fullmatch(r"[0-9a-f]{40}", s["commit"]):
            problems.append(f"source {sid!r}: commit {s['commit']!r} is not a full commit hash")

    def check_refs(what: str, ids) -> tuple[str, ...]:
        if not isinstance(ids, list) or not ids:
            problems.append(f"{what} names no source")
            return ()
        unknown = [i for i in ids if i not in sources]
        if unknown:
            problems.append(f"{what} cites unknown sources {unknown}")
        return tuple(ids)

    own_data = data["own_metrics"]
    check_refs("own_metrics.exposition", own_data.get("exposition"))
    own: dict[str, OwnMetric] = {}
    for m in own_data.get("metrics", []):
        name = m.get("name", "")
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            problems.append(f"own metric {name!r} is not a Prometheus metric name")
            continue
        if name in own:
            problems.append(f"own metric {name} is listed twice")
        own[name] = OwnMetric(name, frozenset(m.get("labels", [])), m.get("exists", ""),
                              check_refs(f"own metric {name}", m.get("source")))
    if not own:
        problems.append("own_metrics lists no metric")
    spans = data["span_metrics"]
    for m in spans.get("metrics", []):
        check_refs(f"span metric {m.get('name')}", m.get("source"))
        if m.get("kind") not in otlp_names.KINDS:
            problems.append(f"span metric {m.get('name')}: kind {m.get('kind')!r}")
    check_refs("span_metrics.dimensions", spans.get("dimensions_source"))
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return Evidence(path, data["collector_version"], data["image"], sources, own,
                    frozenset(own_data.get("scrape_labels", [])), own_data.get("applies_when", {}), spans)


def image_version(image: str) -> str:
    """0.159.0 from otel/opentelemetry-collector-contrib:0.159.0 (a digest after @ is ignored)."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]


def reader_problems(evidence: Evidence, collector_config: dict) -> list[str]:
    """Why the recorded own-metric names would not hold for this collector configuration ([] when they hold).

    The evidence records what a pull/prometheus reader exposes with the without_* options unset or true; any other
    reader (a periodic OTLP push, or a suffix option set to false) names the series otherwise, and nobody has read
    the sources for that.
    """
    telemetry = ((collector_config.get("service") or {}).get("telemetry") or {}).get("metrics") or {}
    if telemetry.get("level") == "none":
        return ["service.telemetry.metrics.level is none: the collector exposes no metrics of its own"]
    readers = telemetry.get("readers") or []
    pulls = [r["pull"]["exporter"]["prometheus"] for r in readers
             if isinstance(r, dict) and "prometheus" in ((r.get("pull") or {}).get("exporter") or {})]
    problems = []
    if not pulls:
        problems.append("no service.telemetry.metrics.readers[].pull.exporter.prometheus reader: the evidence "
                        f"({evidence.path.name}) records only what that reader exposes")
    for prom in pulls:
        for option in ("without_type_suffix", "without_units", "without_scope_info"):
            allowed = evidence.applies_when.get(option, [None])
            if prom.get(option) not in allowed:
                problems.append(f"the pull reader sets {option}: {prom.get(option)!r}; {evidence.path.name} records the "
                                f"names for {' or '.join('unset' if a is None else repr(a) for a in allowed)} only")
    return problems


def span_metric_streams(evidence: Evidence, connector: dict | None) -> tuple[list[otlp_names.OtlpMetric], list[str]]:
    """The OTLP metrics the span_metrics connector sends for this configuration, and what keeps them unknown."""
    connector = connector or {}
    spans = evidence.span_metrics
    namespace = connector.get("namespace", spans["default_namespace"])
    histogram = connector.get("histogram") or {}
    events = connector.get("events") or {}
    problems = []
    made = []
    for m in spans["metrics"]:
        if m.get("present_if") == "events.enabled" and not events.get("enabled"):
            continue
        if m.get("absent_if") == "histogram.disable" and histogram.get("disable"):
            continue
        unit = m.get("unit", "")
        if unit == "histogram.unit":
            if "unit" not in histogram:
                problems.append(f"span_metrics: histogram.unit is not set, and its default is not recorded in "
                                f"{evidence.path.name} ({spans.get('duration_unit', '')})")
                continue
            unit = histogram["unit"]
        kind = m["kind"]
        if "exponential" in histogram and m.get("kind_if_exponential"):
            kind = m["kind_if_exponential"]
        name = f"{namespace}.{m['name']}" if namespace else m["name"]
        made.append(otlp_names.OtlpMetric(name, unit, kind, m.get("monotonic")))
    return made, problems


def span_metric_labels(evidence: Evidence, connector: dict | None) -> set[str]:
    """The data point attributes of the span metrics: the connector's own plus the configured dimensions."""
    connector = connector or {}
    dims = set(evidence.span_metrics["dimensions"]) | {d["name"] for d in connector.get("dimensions", [])}
    return dims - set(connector.get("exclude_dimensions", []))


def suffixed_spellings(name: str) -> set[str]:
    """The names the OTLP translation rules would have made of an unsuffixed own metric (for a helpful message)."""
    return {name + "_total", name + "_bytes", name + "_seconds", name + "_seconds_total", name + "_bytes_total"}
