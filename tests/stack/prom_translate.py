"""OTLP metrics -> Prometheus samples by the rules of the Prometheus that docker-compose.yml pins (v3.13.1), and those
samples as a remote-write request, for a Prometheus that has no OTLP receiver (Debian's: scripts/prometheus.sh).

A port, function by function, of the two pieces of Go that Prometheus 3.13.1's OTLP receiver (POST /api/v1/otlp)
runs on every request:
  - github.com/prometheus/otlptranslator v1.0.0 (the version v3.13.1's go.mod requires; tag v1.0.0 = commit
    57de713e8b6c626d888cefba633272dece33a352): metric_namer.go, unit_namer.go, label_namer.go, strconv.go,
    strategy.go: metric names (unit words, _total, _ratio), unit names, label names;
  - github.com/prometheus/prometheus v3.13.1 (commit 73ff57ce2b8161059ac7fe5188f03f1c3d22b29a),
    storage/remote/otlptranslator/prometheusremotewrite/{metrics_to_prw,helper,number_data_points}.go: which
    samples each data point becomes (histogram _sum/_count/_bucket with le and +Inf, sums, gauges, summaries), their
    labels (attributes, promoted resource attributes, job from service.namespace/service.name, instance from
    service.instance.id, scope labels), exemplars, target_info; storage/remote/write_otlp_handler.go: the settings it
    takes from the `otlp:` section of the config (config/config.go: OTLPConfig and its defaults).
Checked against the upstream tests' own vectors: tests/stack/translation_vectors.py.

What is not ported, and fails loudly if the data or the config asks for it: exponential histograms (native
histograms), convert_histograms_to_nhcb, delta temporality (rejected as 3.13.1 does without
otlp-native-delta-ingestion), type-and-unit labels.

Start timestamps: 3.13.1 hands each sample's start time to the TSDB, which stores nothing of it unless a feature flag
asks (created-timestamp-zero-ingestion: a 0 sample at the start time; st-storage: stored per sample). `Translator`
takes the enabled features, from docker-compose.yml's command line for the pinned Prometheus, and with
created-timestamp-zero-ingestion it emits that 0 sample, as the TSDB would, once per series.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

# ---- github.com/prometheus/otlptranslator v1.0.0 ---------------------------------------------------------------

# metric_namer.go: unitMap, perUnitMap.
UNIT_MAP = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

# metric_type.go
UNKNOWN, NON_MONOTONIC_COUNTER, MONOTONIC_COUNTER, GAUGE, HISTOGRAM, EXPONENTIAL_HISTOGRAM, SUMMARY = range(7)
METRIC_TYPES = {
    "MetricTypeUnknown": UNKNOWN, "MetricTypeNonMonotonicCounter": NON_MONOTONIC_COUNTER,
    "MetricTypeMonotonicCounter": MONOTONIC_COUNTER, "MetricTypeGauge": GAUGE, "MetricTypeHistogram": HISTOGRAM,
    "MetricTypeExponentialHistogram": EXPONENTIAL_HISTOGRAM, "MetricTypeSummary": SUMMARY,
}

# strategy.go: strategy -> (ShouldEscape, ShouldAddSuffixes)
STRATEGIES = {
    "UnderscoreEscapingWithSuffixes": (True, True),
    "UnderscoreEscapingWithoutSuffixes": (True, False),
    "NoUTF8EscapingWithSuffixes": (False, True),
    "NoTranslation": (False, False),
}


class TranslationError(ValueError):
    """What the Go code returns as an error (the message is the same where the upstream tests compare it)."""


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _is_compliant_metric_char(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c == ":"


def _is_compliant_label_char(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")


def _fields_func(s: str, is_sep) -> list[str]:
    """strings.FieldsFunc."""
    out, cur = [], []
    for c in s:
        if is_sep(c):
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def _collapse_underscores(s: str) -> str:
    return re.sub(r"_+", "_", s)


def _is_go_digit(c: str) -> bool:
    # unicode.IsDigit(rune(name[0])) in the Go code: the first *byte* of the name, so only ASCII digits qualify.
    return "0" <= c <= "9"


def _has_underscores_only(s: str) -> bool:
    return all(c == "_" for c in s)


def build_unit_suffixes(unit: str) -> tuple[str, str]:
    """unit_namer.go: buildUnitSuffixes."""
    main, per = "", ""
    tokens = unit.split("/", 1)
    main_otel = tokens[0].strip()
    if main_otel and not any(c in main_otel for c in "{}"):
        main = UNIT_MAP.get(main_otel, main_otel)
    if len(tokens) > 1 and tokens[1] != "":
        per_otel = tokens[1].strip()
        if per_otel and not any(c in per_otel for c in "{}"):
            per = PER_UNIT_MAP.get(per_otel, per_otel)
        if per:
            per = "per_" + per
    return main, per


def clean_up_unit(unit: str) -> str:
    """unit_namer.go: cleanUpUnit."""
    mapped = "".join(c if _is_compliant_metric_char(c) else "_" for c in unit)
    return _collapse_underscores(mapped).removeprefix("_")


def unit_name(unit: str, utf8_allowed: bool = False) -> str:
    """unit_namer.go: UnitNamer.Build."""
    main, per = build_unit_suffixes(unit)
    if not utf8_allowed:
        main, per = clean_up_unit(main), clean_up_unit(per)
    if main and per:
        u = main + "_" + per
    elif main:
        u = main
    else:
        u = per
    if u.startswith("_"):
        u = u[1:]
    if u.endswith("_"):
        u = u[:-1]
    return u


def add_unit_tokens(tokens: list[str], main: str, per: str) -> list[str]:
    """The unit's tokens after the name's, each unless the name has it already (otlptranslator's rule)."""
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    return tokens


def _normalize_name(name: str, unit: str, metric_type: int, namespace: str) -> str:
    """metric_namer.go: normalizeName."""
    tokens = _fields_func(name, lambda c: not _is_compliant_metric_char(c))
    main, per = build_unit_suffixes(unit)
    tokens = add_unit_tokens(tokens, clean_up_unit(main), clean_up_unit(per))
    if metric_type == MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and metric_type == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens = [namespace] + tokens
    normalized = "_".join(tokens)
    if normalized and _is_go_digit(normalized[0]):
        normalized = "_" + normalized
    return normalized


def _trim_suffix_and_delimiter(name: str, suffix: str) -> str:
    if name.endswith(suffix) and len(name.encode()) > len(suffix.encode()) + 1:
        return name.encode()[: len(name.encode()) - (len(suffix.encode()) + 1)].decode(errors="surrogateescape")
    return name


def _build_metric_name_utf8(name: str, unit: str, metric_type: int, namespace: str, suffixes: bool) -> str:
    """metric_namer.go: buildMetricName (UTF-8 allowed)."""
    if namespace:
        name = namespace + "_" + name
    if not suffixes:
        return name
    after: list[str] = []  # the deferred appends, run in reverse order of registration
    if unit == "1" and metric_type == GAUGE:
        name = _trim_suffix_and_delimiter(name, "ratio")
        after.append("_ratio")
    if metric_type == MONOTONIC_COUNTER:
        name = _trim_suffix_and_delimiter(name, "total")
        after.append("_total")
    main, per = build_unit_suffixes(unit)
    if per:
        name = _trim_suffix_and_delimiter(name, per)
        after.append("_" + per)
    if main and not name.endswith(main):
        name = name + "_" + main
    for suffix in reversed(after):
        name += suffix
    return name


def metric_name(name: str, unit: str, metric_type: int, namespace: str = "", with_suffixes: bool = True,
                utf8_allowed: bool = False) -> str:
    """metric_namer.go: MetricNamer.Build. Raises TranslationError as Build returns an error."""
    if utf8_allowed:
        return _build_metric_name_utf8(name, unit, metric_type, namespace, with_suffixes)
    if with_suffixes:
        normalized = _normalize_name(name, unit, metric_type, namespace)
    else:
        metric = "_".join(_fields_func(name, lambda c: not _is_compliant_metric_char(c) and c != "_"))
        if namespace:
            ns = "_".join(_fields_func(namespace, lambda c: not _is_compliant_metric_char(c) and c != "_"))
            normalized = ns + "_" + metric
        else:
            if metric and _is_go_digit(metric[0]):
                metric = "_" + metric
            normalized = metric
    # The deferred check of buildCompliantMetricName.
    if not normalized:
        raise TranslationError(f"normalization for metric {_go_quote(name)} resulted in empty name")
    if normalized != name and _has_underscores_only(normalized):
        raise TranslationError(f"normalization for metric {_go_quote(name)} resulted in invalid name {_go_quote(normalized)}")
    return normalized


def _sanitize_label_name(name: str, preserve_multiple_underscores: bool) -> str:
    """strconv.go: sanitizeLabelName."""
    if preserve_multiple_underscores:
        return "".join(c if _is_compliant_label_char(c) else "_" for c in name)
    reserved = len(name) >= 4 and name.startswith("__") and name.endswith("__")
    if reserved:
        name = name[2:-2]
    out, prev_underscore = [], False
    for c in name:
        if _is_compliant_label_char(c):
            out.append(c)
            prev_underscore = False
        elif not prev_underscore:
            out.append("_")
            prev_underscore = True
    result = "".join(out)
    return "__" + result + "__" if reserved else result


def label_name(label: str, utf8_allowed: bool = False, underscore_sanitization: bool = False,
               preserve_multiple_underscores: bool = False) -> str:
    """label_namer.go: LabelNamer.Build."""
    if not label:
        raise TranslationError("label name is empty")
    if utf8_allowed:
        if _has_underscores_only(label):
            raise TranslationError(f"label name {_go_quote(label)} contains only underscores")
        return label
    normalized = _sanitize_label_name(label, preserve_multiple_underscores)
    if normalized and _is_go_digit(normalized[0]):
        normalized = "key_" + normalized
    elif underscore_sanitization and normalized.startswith("_") and not normalized.startswith("__"):
        normalized = "key" + normalized
    if _has_underscores_only(normalized):
        raise TranslationError(f"normalization for label name {_go_quote(label)} resulted in invalid name {_go_quote(normalized)}")
    return normalized


# ---- the `otlp:` section (config/config.go at v3.13.1) -----------------------------------------------------------

OTLP_KEYS = {
    "promote_all_resource_attributes", "promote_resource_attributes", "ignore_resource_attributes",
    "translation_strategy", "keep_identifying_resource_attributes", "convert_histograms_to_nhcb",
    "promote_scope_metadata", "label_name_underscore_sanitization", "label_name_preserve_multiple_underscores",
}


@dataclass
class Settings:
    """prometheusremotewrite.Settings as write_otlp_handler.go fills it from the config (DefaultOTLPConfig first)."""

    add_metric_suffixes: bool = True
    allow_utf8: bool = False
    promote_all: bool = False
    promote: frozenset[str] | None = frozenset()  # None: no PromoteResourceAttributes at all (as in some Go tests)
    ignore: frozenset[str] = frozenset()
    keep_identifying_resource_attributes: bool = False
    promote_scope_metadata: bool = False
    # DefaultOTLPConfig at v3.13.1 sets both true "for backwards compatibility".
    label_name_underscore_sanitization: bool = True
    label_name_preserve_multiple_underscores: bool = True
    lookback_delta_ms: int = 5 * 60 * 1000
    namespace: str = ""
    external_labels: dict[str, str] = field(default_factory=dict)
    disable_target_info: bool = False

    @classmethod
    def from_otlp_config(cls, otlp: dict | None) -> Settings:
        otlp = dict(otlp or {})
        unknown = set(otlp) - OTLP_KEYS
        if unknown:
            raise TranslationError(f"otlp: unknown keys {sorted(unknown)} (not in Prometheus 3.13.1's OTLPConfig)")
        for unsupported in ("convert_histograms_to_nhcb",):
            if otlp.get(unsupported):
                raise TranslationError(f"otlp.{unsupported}: not ported to this test's translation")
        strategy = otlp.get("translation_strategy", "UnderscoreEscapingWithSuffixes")
        if strategy not in STRATEGIES:
            raise TranslationError(f"unsupported OTLP translation strategy {strategy!r}")
        escape, suffixes = STRATEGIES[strategy]
        promote_all = bool(otlp.get("promote_all_resource_attributes", False))
        promote = [a.strip() for a in otlp.get("promote_resource_attributes") or []]
        ignore = [a.strip() for a in otlp.get("ignore_resource_attributes") or []]
        if promote_all and promote:
            raise TranslationError("'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously")
        if not promote_all and ignore:
            raise TranslationError("'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true")
        for kind, attrs in (("promoted", promote), ("ignored", ignore)):
            if any(not a for a in attrs) or len(set(attrs)) != len(attrs):
                raise TranslationError(f"invalid {kind} resource attributes {attrs}: empty or duplicated")
        return cls(
            add_metric_suffixes=suffixes, allow_utf8=not escape, promote_all=promote_all,
            promote=frozenset(promote), ignore=frozenset(ignore),
            keep_identifying_resource_attributes=bool(otlp.get("keep_identifying_resource_attributes", False)),
            promote_scope_metadata=bool(otlp.get("promote_scope_metadata", False)),
            label_name_underscore_sanitization=bool(otlp.get("label_name_underscore_sanitization", True)),
            label_name_preserve_multiple_underscores=bool(otlp.get("label_name_preserve_multiple_underscores", True)),
        )


# ---- github.com/prometheus/prometheus v3.13.1, storage/remote/otlptranslator/prometheusremotewrite ---------------

# Prometheus metadata types (model.MetricType) as remote write's MetricMetadata.MetricType numbers.
PROM_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4, "summary": 5, "info": 6,
              "stateset": 7}
STALE_NAN = 0x7FF0000000000002
CUMULATIVE, DELTA = 2, 1
MAX_EXEMPLAR_RUNES = 128
IDENTIFYING = ("service.namespace", "service.name", "service.instance.id")


@dataclass(frozen=True)
class Exemplar:
    labels: tuple[tuple[str, str], ...]
    value: float
    t: int


@dataclass
class Sample:
    """One appended sample: what AppenderV2.Append receives (labels, st, t, v, exemplars) and its family's metadata."""

    labels: tuple[tuple[str, str], ...]  # sorted by name
    t: int
    v: float
    st: int = 0
    exemplars: tuple[Exemplar, ...] = ()
    family: str = ""
    type: str = "unknown"
    unit: str = ""
    help: str = ""

    @property
    def name(self) -> str:
        return dict(self.labels)["__name__"]

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def any_value_as_string(value) -> str:
    """pcommon.Value.AsString for an OTLP AnyValue message."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _float64_as_string(value.double_value)
    if kind == "bytes_value":
        import base64
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return json.dumps([_any_to_raw(v) for v in value.array_value.values], separators=(",", ":"))
    if kind == "kvlist_value":
        return json.dumps({kv.key: _any_to_raw(kv.value) for kv in value.kvlist_value.values}, separators=(",", ":"),
                          sort_keys=True)
    raise TranslationError(f"attribute value of kind {kind}")


def _any_to_raw(value):
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    return any_value_as_string(value)


def _float64_as_string(f: float) -> str:
    # pcommon's float64AsString: ES6 number formatting.
    if math.isinf(f) or math.isnan(f):
        return f"json: unsupported value: {'+Inf' if f > 0 else '-Inf' if f < 0 else 'NaN'}"
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        text = repr(f)
        mantissa, _, exp = text.partition("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        return f"{mantissa}e{sign}{int(exp.lstrip('+-'))}"
    text = repr(f)
    if "e" in text:  # large integral values repr as 1e+16 in Python; Go prints them in full
        text = format(f, "f").rstrip("0").rstrip(".")
    return text.removesuffix(".0")


def _format_go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'f', -1, 64): the shortest decimal that round-trips, without an exponent."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    text = repr(f)
    if "e" in text or "E" in text:
        from decimal import Decimal
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class _Builder:
    """labels.Builder: setting an empty value deletes the label."""

    def __init__(self, base: dict[str, str] | None = None) -> None:
        self.labels = dict(base or {})

    def get(self, key: str) -> str:
        return self.labels.get(key, "")

    def set(self, key: str, value: str) -> None:
        if value == "":
            self.labels.pop(key, None)
        else:
            self.labels[key] = value

    def result(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


class Converter:
    """PrometheusConverter for one request (FromMetrics)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.samples: list[Sample] = []
        self._job = ""
        self._instance = ""
        self._promoted: dict[str, str] | None = None
        self._scope: dict | None = None
        self._seen_target_info: set = set()
        self.errors: list[str] = []

    # -- names
    def _label_name(self, key: str) -> str:
        s = self.settings
        return label_name(key, s.allow_utf8, s.label_name_underscore_sanitization, s.label_name_preserve_multiple_underscores)

    # -- resource and scope context (setResourceContext, setScopeContext)
    def _set_resource(self, attributes: list[tuple[str, str]]) -> None:
        attrs = dict(attributes)
        self._job = ""
        if "service.name" in attrs:
            self._job = attrs["service.name"]
            if "service.namespace" in attrs:
                self._job = attrs["service.namespace"] + "/" + self._job
        self._instance = attrs.get("service.instance.id", "")
        s = self.settings
        self._promoted = None
        if s.promote is not None:
            builder = _Builder()
            for key, value in attributes:
                chosen = (key not in s.ignore) if s.promote_all else (key in s.promote)
                if chosen:
                    builder.set(self._label_name(key), value)
            self._promoted = builder.labels

    def _set_scope(self, name: str, version: str, schema_url: str, attributes: list[tuple[str, str]]) -> None:
        if not self.settings.promote_scope_metadata or not name:
            self._scope = None
            return
        builder = _Builder()
        for key, value in attributes:
            builder.set(self._label_name("otel_scope_" + key), value)
        self._scope = {"name": name, "version": version, "schema_url": schema_url, "attrs": builder.labels}

    # -- createAttributes
    def create_attributes(self, attributes: list[tuple[str, str]], ignore: tuple[str, ...] = ("__name__",),
                          extras: tuple[str, ...] = ()) -> dict[str, str]:
        s = self.settings
        kept = sorted((k, v) for k, v in attributes if k not in ignore)
        builder = _Builder()
        if s.allow_utf8:
            for k, v in kept:
                builder.set(k, v)
        else:
            for k, v in kept:
                final = self._label_name(k)
                existing = builder.get(final)
                builder.set(final, existing + ";" + v if existing else v)
        if s.promote is not None and self._promoted is not None:
            for k, v in sorted(self._promoted.items()):
                if builder.get(k) == "":
                    builder.set(k, v)
        if self._job:
            builder.set("job", self._job)
        if self._instance:
            builder.set("instance", self._instance)
        for k, v in s.external_labels.items():
            if builder.get(k) == "":
                builder.set(k, v)
        if self._scope is not None:
            for k, v in self._scope["attrs"].items():
                builder.set(k, v)
            builder.set("otel_scope_name", self._scope["name"])
            builder.set("otel_scope_version", self._scope["version"])
            builder.set("otel_scope_schema_url", self._scope["schema_url"])
        for i in range(0, len(extras) - 1, 2):
            name = extras[i]
            if len(name) <= 4 or name[:2] != "__" or name[-2:] != "__":
                name = self._label_name(name)
            builder.set(name, extras[i + 1])
        return builder.labels

    def _append(self, labels: dict[str, str], st: int, t: int, v: float, meta: tuple[str, str, str, str],
                exemplars: tuple[Exemplar, ...] = ()) -> None:
        family, typ, unit, help_ = meta
        self.samples.append(Sample(tuple(sorted(labels.items())), t, v, st, exemplars, family, typ, unit, help_))

    @staticmethod
    def _with(base: dict[str, str], name: str, *extras: str) -> dict[str, str]:
        """addLabels."""
        builder = _Builder(base)
        for i in range(0, len(extras) - 1, 2):
            builder.set(extras[i], extras[i + 1])
        builder.set("__name__", name)
        return builder.labels

    # -- exemplars (getPromExemplars)
    @staticmethod
    def exemplars(points_exemplars) -> list[Exemplar]:
        out = []
        for ex in points_exemplars:
            kind = ex.WhichOneof("value")
            if kind == "as_int":
                value = float(ex.as_int)
            elif kind == "as_double":
                value = ex.as_double
            else:
                raise TranslationError(f"unsupported exemplar value type: {kind}")
            runes = 0
            labels: list[tuple[str, str]] = []
            if ex.trace_id and any(ex.trace_id):
                val = ex.trace_id.hex()
                runes += len("trace_id") + len(val)
                labels.append(("trace_id", val))
            if ex.span_id and any(ex.span_id):
                val = ex.span_id.hex()
                runes += len("span_id") + len(val)
                labels.append(("span_id", val))
            filtered = [(kv.key, any_value_as_string(kv.value)) for kv in ex.filtered_attributes]
            runes += sum(len(k) + len(v) for k, v in filtered)
            if runes <= MAX_EXEMPLAR_RUNES:
                labels.extend(filtered)
            out.append(Exemplar(tuple(sorted(labels)), value, ex.time_unix_nano // 1_000_000))
        return out

    # -- data points
    def _number_points(self, points, meta, with_exemplars: bool) -> None:
        for pt in points:
            labels = self.create_attributes(_attrs(pt.attributes), extras=("__name__", meta[0]))
            v = float(pt.as_int) if pt.WhichOneof("value") == "as_int" else pt.as_double
            if pt.flags & 1:  # FLAG_NO_RECORDED_VALUE
                v = _stale_nan()
            exemplars = tuple(self.exemplars(pt.exemplars)) if with_exemplars else ()
            self._append(labels, pt.start_time_unix_nano // 1_000_000, pt.time_unix_nano // 1_000_000, v, meta, exemplars)

    def _histogram_points(self, points, meta) -> None:
        family = meta[0]
        for pt in points:
            t, st = pt.time_unix_nano // 1_000_000, pt.start_time_unix_nano // 1_000_000
            base = self.create_attributes(_attrs(pt.attributes))
            stale = bool(pt.flags & 1)
            if pt.HasField("sum"):
                self._append(self._with(base, family + "_sum"), st, t, _stale_nan() if stale else pt.sum, meta)
            self._append(self._with(base, family + "_count"), st, t, _stale_nan() if stale else float(pt.count), meta)
            exemplars = self.exemplars(pt.exemplars)
            nxt = 0
            cumulative = 0
            for i in range(min(len(pt.explicit_bounds), len(pt.bucket_counts))):
                bound = pt.explicit_bounds[i]
                cumulative += pt.bucket_counts[i]
                mine = []
                while nxt < len(exemplars) and not exemplars[nxt].value > bound:
                    mine.append(exemplars[nxt])
                    nxt += 1
                self._append(self._with(base, family + "_bucket", "le", _format_go_float(bound)), st, t,
                             _stale_nan() if stale else float(cumulative), meta, tuple(mine))
            self._append(self._with(base, family + "_bucket", "le", "+Inf"), st, t,
                         _stale_nan() if stale else float(pt.count), meta, tuple(exemplars[nxt:]))

    def _summary_points(self, points, meta) -> None:
        family = meta[0]
        for pt in points:
            t, st = pt.time_unix_nano // 1_000_000, pt.start_time_unix_nano // 1_000_000
            base = self.create_attributes(_attrs(pt.attributes))
            stale = bool(pt.flags & 1)
            self._append(self._with(base, family + "_sum"), st, t, _stale_nan() if stale else pt.sum, meta)
            self._append(self._with(base, family + "_count"), st, t, _stale_nan() if stale else float(pt.count), meta)
            for q in pt.quantile_values:
                self._append(self._with(base, family, "quantile", _format_go_float(q.quantile)), st, t,
                             _stale_nan() if stale else q.value, meta)

    # -- FromMetrics
    def from_metrics(self, request) -> list[Sample]:
        """request: an opentelemetry.proto ExportMetricsServiceRequest (or MetricsData). As in Go, a metric that cannot
        be converted is skipped and its error kept (self.errors); the OTLP handler then rejects the whole request."""
        s = self.settings
        for rm in request.resource_metrics:
            resource_attrs = _attrs(rm.resource.attributes)
            try:
                self._set_resource(resource_attrs)
            except TranslationError as error:
                self.errors.append(str(error))
                continue
            earliest, latest = None, None
            for sm in rm.scope_metrics:
                try:
                    self._set_scope(sm.scope.name, sm.scope.version, sm.schema_url, _attrs(sm.scope.attributes))
                except TranslationError as error:
                    self.errors.append(str(error))
                    continue
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    data = getattr(metric, kind) if kind else None
                    for pt in (data.data_points if data is not None else []):
                        ts = pt.time_unix_nano
                        earliest = ts if earliest is None else min(earliest, ts)
                        latest = ts if latest is None else max(latest, ts)
                    try:
                        self._metric(metric, kind, data)
                    except TranslationError as error:
                        self.errors.append(str(error))
            if earliest is not None:
                try:
                    self._target_info(resource_attrs, earliest // 1_000_000, latest // 1_000_000)
                except TranslationError as error:
                    self.errors.append(str(error))
        return self.samples

    def _metric(self, metric, kind: str | None, data) -> None:
        s = self.settings
        if data is None:
            raise TranslationError(f"could not get aggregation temporality for {metric.name} as it has unsupported metric type Empty")
        if kind in ("sum", "histogram", "exponential_histogram") and data.aggregation_temporality != CUMULATIVE:
            raise TranslationError(f"invalid temporality and type combination for metric {_go_quote(metric.name)}")
        monotonic = kind == "sum" and metric.sum.is_monotonic
        otype = {"gauge": GAUGE, "histogram": HISTOGRAM, "exponential_histogram": EXPONENTIAL_HISTOGRAM,
                 "summary": SUMMARY, "sum": MONOTONIC_COUNTER if monotonic else NON_MONOTONIC_COUNTER}[kind]
        family = metric_name(metric.name, metric.unit, otype, s.namespace, s.add_metric_suffixes, s.allow_utf8)
        prom_type = {"gauge": "gauge", "histogram": "histogram", "summary": "summary", "exponential_histogram": "histogram",
                     "sum": "counter" if monotonic else "gauge"}[kind]
        meta = (family, prom_type, unit_name(metric.unit), metric.description)
        if not data.data_points:
            raise TranslationError(f"empty data points. {metric.name} is dropped")
        if kind == "gauge":
            self._number_points(data.data_points, meta, with_exemplars=False)
        elif kind == "sum":
            self._number_points(data.data_points, meta, with_exemplars=True)
        elif kind == "histogram":
            self._histogram_points(data.data_points, meta)
        elif kind == "summary":
            self._summary_points(data.data_points, meta)
        else:
            raise TranslationError(f"{metric.name}: {kind} (native histograms) is not ported to this test's translation")

    # -- addResourceTargetInfo
    def _target_info(self, resource_attrs: list[tuple[str, str]], earliest: int, latest: int) -> None:
        s = self.settings
        if s.disable_target_info:
            return
        keys = {k for k, _ in resource_attrs}
        if len(keys - set(IDENTIFYING)) == 0:
            return
        name = s.namespace + "_target_info" if s.namespace else "target_info"
        ignore = () if s.keep_identifying_resource_attributes else IDENTIFYING
        saved_promote, saved_scope = s.promote, self._scope
        s.promote, self._scope = None, None
        try:
            labels = self.create_attributes(resource_attrs, ignore=ignore, extras=("__name__", name))
        finally:
            s.promote, self._scope = saved_promote, saved_scope
        if "job" not in labels and "instance" not in labels:
            return
        key_labels = tuple(sorted(labels.items()))
        meta = (name, "gauge", "", "Target metadata")
        interval = s.lookback_delta_ms // 2
        t = earliest
        while t < latest:
            if (key_labels, t) not in self._seen_target_info:
                self._seen_target_info.add((key_labels, t))
                self._append(labels, 0, t, 1.0, meta)
            t += interval
        if (key_labels, latest) not in self._seen_target_info:
            self._seen_target_info.add((key_labels, latest))
            self._append(labels, 0, latest, 1.0, meta)


def _attrs(key_values) -> list[tuple[str, str]]:
    return [(kv.key, any_value_as_string(kv.value)) for kv in key_values]


def _stale_nan() -> float:
    import struct
    return struct.unpack("<d", struct.pack("<Q", STALE_NAN))[0]


# ---- remote write (prompb at v3.13.1: prompb/remote.proto WriteRequest, prompb/types.proto) ------------------------

def _prompb_classes():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="hello_lambda_otel_prompb.proto", package="prometheus", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = type_name

    one, many = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message("Label", ("name", 1, T.TYPE_STRING, one, None), ("value", 2, T.TYPE_STRING, one, None))
    message("Sample", ("value", 1, T.TYPE_DOUBLE, one, None), ("timestamp", 2, T.TYPE_INT64, one, None))
    message("Exemplar", ("labels", 1, T.TYPE_MESSAGE, many, ".prometheus.Label"),
            ("value", 2, T.TYPE_DOUBLE, one, None), ("timestamp", 3, T.TYPE_INT64, one, None))
    message("TimeSeries", ("labels", 1, T.TYPE_MESSAGE, many, ".prometheus.Label"),
            ("samples", 2, T.TYPE_MESSAGE, many, ".prometheus.Sample"),
            ("exemplars", 3, T.TYPE_MESSAGE, many, ".prometheus.Exemplar"))
    message("MetricMetadata", ("type", 1, T.TYPE_INT32, one, None), ("metric_family_name", 2, T.TYPE_STRING, one, None),
            ("help", 4, T.TYPE_STRING, one, None), ("unit", 5, T.TYPE_STRING, one, None))
    message("WriteRequest", ("timeseries", 1, T.TYPE_MESSAGE, many, ".prometheus.TimeSeries"),
            ("metadata", 3, T.TYPE_MESSAGE, many, ".prometheus.MetricMetadata"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


_WRITE_REQUEST = None


def write_request(samples: list[Sample]) -> bytes:
    """The samples as one prompb.WriteRequest (serialized, not compressed): one TimeSeries per label set, its samples
    in time order, and one MetricMetadata per family."""
    global _WRITE_REQUEST
    if _WRITE_REQUEST is None:
        _WRITE_REQUEST = _prompb_classes()
    request = _WRITE_REQUEST()
    series: dict[tuple, list[Sample]] = {}
    for sample in samples:
        series.setdefault(sample.labels, []).append(sample)
    for labels, items in series.items():
        ts = request.timeseries.add()
        for name, value in labels:
            ts.labels.add(name=name, value=value)
        for sample in sorted(items, key=lambda x: x.t):
            ts.samples.add(value=sample.v, timestamp=sample.t)
            for ex in sample.exemplars:
                e = ts.exemplars.add(value=ex.value, timestamp=ex.t if ex.t else sample.t)
                for name, value in ex.labels:
                    e.labels.add(name=name, value=value)
    families = {}
    for sample in samples:
        families.setdefault(sample.family, sample)
    for family, sample in families.items():
        request.metadata.add(type=PROM_TYPES.get(sample.type, 0), metric_family_name=family, help=sample.help,
                             unit=sample.unit)
    return request.SerializeToString()


def snappy_block(data: bytes) -> bytes:
    import cramjam
    return bytes(cramjam.snappy.compress_raw(data))


REMOTE_WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
