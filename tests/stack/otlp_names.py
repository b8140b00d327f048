"""OTLP metric names -> the names of the series Prometheus stores, and the metrics that are not the services' own.

`prometheus_name` is a port of `normalizeName` in github.com/prometheus/otlptranslator (metric_namer.go,
unit_namer.go), which Prometheus 3's OTLP receiver uses with its default translation strategy,
UnderscoreEscapingWithSuffixes (deploy/prometheus/prometheus.yml spells it out): the name is split on every character
that is not [a-zA-Z0-9:], the unit becomes a word (s -> seconds, By -> bytes, "/s" -> per_second; a unit in braces
such as {request} is dropped), monotonic sums end in _total, gauges of unit 1 in _ratio, and the tokens are joined
with underscores. Histograms are then stored as <name>_bucket, <name>_sum and <name>_count.

These rules hold for what reaches Prometheus over OTLP: the services' metrics and the collector's span metrics. They
do not hold for the collector's own metrics, which Prometheus scrapes from the collector's pull reader: that reader
exposes them untranslated (otelcol_receiver_accepted_spans, no _total). Those names come from recorded evidence
instead: collector_evidence.py and tests/stack/fixtures/collector-<version>-metric-names.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import prom_translate

UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

KINDS = ("histogram", "exponential_histogram", "sum", "gauge", "summary")


@dataclass(frozen=True)
class OtlpMetric:
    """One OTLP metric stream as an SDK sends it: name, unit, data kind, and for sums whether they are monotonic."""

    name: str
    unit: str
    kind: str
    monotonic: bool | None = None
    # The attribute keys seen on its data points, when the capture recorded them (None: unknown).
    attributes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "sum" and not isinstance(self.monotonic, bool):
            raise ValueError(f"metric {self.name!r}: a sum needs \"monotonic\": true or false")


def _invalid(c: str) -> bool:
    return not (c.isascii() and (c.isalnum() or c == ":"))


def _fields(text: str) -> list[str]:
    return [token for token in re.split(r"[^a-zA-Z0-9:]", text) if token]


def _clean_unit(unit: str) -> str:
    cleaned = re.sub(r"_+", "_", "".join("_" if _invalid(c) else c for c in unit))
    return cleaned.removeprefix("_")


def _unit_suffixes(unit: str) -> tuple[str, str]:
    main, per = "", ""
    tokens = unit.split("/", 1)
    main_otel = tokens[0].strip()
    if main_otel and not any(c in main_otel for c in "{}"):
        main = UNIT_WORDS.get(main_otel, main_otel)
    if len(tokens) > 1 and tokens[1]:
        per_otel = tokens[1].strip()
        if per_otel and not any(c in per_otel for c in "{}"):
            per = PER_UNIT_WORDS.get(per_otel, per_otel)
        if per:
            per = "per_" + per
    return main, per


def prometheus_name(metric: OtlpMetric) -> str:
    """The base name Prometheus gives an OTLP metric (before _bucket/_sum/_count)."""
    tokens = _fields(metric.name)
    main, per = _unit_suffixes(metric.unit)
    tokens = prom_translate.add_unit_tokens(tokens, _clean_unit(main), _clean_unit(per))
    if metric.kind == "sum" and metric.monotonic:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if metric.unit == "1" and metric.kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    name = "_".join(tokens)
    if name and name[0].isdigit():
        name = "_" + name
    return name


def prometheus_label(key: str) -> str:
    """An attribute key as a Prometheus label name (otlptranslator's LabelNamer, underscore escaping)."""
    label = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    if label and label[0].isdigit():
        label = "key_" + label
    return label


def series_names(metric: OtlpMetric) -> set[str]:
    """Every metric name PromQL can select for this OTLP metric."""
    base = prometheus_name(metric)
    if metric.kind == "histogram":
        return {base + "_bucket", base + "_sum", base + "_count"}
    if metric.kind == "summary":
        return {base, base + "_sum", base + "_count"}
    return {base}  # sums, gauges, and exponential histograms (stored as native histograms)


# Series Prometheus makes itself: for every scrape target (Prometheus docs, "Jobs and instances"), and target_info
# for every OTLP resource (OTLP receiver).
PROMETHEUS_SERIES = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added", "target_info",
}


def load_emitted(data: object) -> list[OtlpMetric]:
    """Parses the emitted-metrics file: a list of metrics, or an object whose "metrics" is that list.

    Each metric: {"name": "http.server.request.duration", "unit": "s", "kind": "histogram", "monotonic": null},
    optionally "attributes": the data point attribute keys seen (then label matchers on the metric are checked too).
    Other keys (e.g. "services") are allowed and ignored.
    """
    if isinstance(data, dict):
        data = data.get("metrics")
    if not isinstance(data, list) or not data:
        raise ValueError('expected a non-empty list of metrics, or {"metrics": [...]}')
    metrics = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"metric #{i}: expected an object with a non-empty \"name\"")
        unit = item.get("unit", "")
        if unit is None:
            unit = ""
        if not isinstance(unit, str):
            raise ValueError(f"metric {item['name']!r}: \"unit\" must be a string")
        attributes = item.get("attributes")
        if attributes is not None and (not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes)):
            raise ValueError(f"metric {item['name']!r}: \"attributes\" must be a list of attribute keys")
        metrics.append(OtlpMetric(item["name"], unit, item.get("kind", ""), item.get("monotonic"),
                                  frozenset(attributes) if attributes is not None else None))
    return metrics
