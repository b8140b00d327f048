//! Log lines on stdout, as Lambda's log settings ask, each carrying the ids that join it to its trace.
//!
//! Two layers see every span, each with its own filter (one global filter would also decide which spans
//! become OpenTelemetry spans): the log output takes what `AWS_LAMBDA_LOG_LEVEL`/`RUST_LOG` allow, the OpenTelemetry
//! layer takes the spans of this crate and of the crates the function names (and their warnings and errors, as span events) at any log level, and nothing from
//! other crates, so the exporter's own HTTP client never becomes a span of the trace it is exporting.

use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute::FAAS_INVOCATION_ID;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::settings::{LogFormat, Settings};

/// Installs the process's subscriber: the log output, and the OpenTelemetry layer when there is a `tracer`, which
/// takes the spans of this crate and of `traced_crates`.
pub(crate) fn install(settings: &Settings, tracer: Option<SdkTracer>, traced_crates: Vec<&'static str>) {
    if let Err(error) = subscriber(settings, tracer, traced_crates, std::io::stdout).try_init() {
        eprintln!("{}: logging was already set up, keeping it: {error}", env!("CARGO_PKG_NAME"));
    }
}

/// The subscriber [`install`] installs, writing to `output` (stdout, except in tests).
pub(crate) fn subscriber<W>(
    settings: &Settings,
    tracer: Option<SdkTracer>,
    traced_crates: Vec<&'static str>,
    output: W,
) -> impl Subscriber + Send + Sync + use<W>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let traced = Traced::new(traced_crates);
    // The output also sees the spans the trace is made of, whatever the log level: a per-layer filter hides the spans
    // it rejects from the formatter, and a WARN line inside an INFO span would lose its ids.
    let levels = settings.log_filter.clone();
    let output_filter = filter_fn({
        let traced = traced.clone();
        move |metadata| {
            (metadata.is_span() && traced.wants(metadata)) || levels.would_enable(metadata.target(), metadata.level())
        }
    });
    let output = tracing_subscriber::fmt::layer()
        .fmt_fields(NoSpanFields)
        .event_format(LambdaFormat { json: settings.log_format == LogFormat::Json })
        .with_writer(output)
        .with_filter(output_filter);
    // Spans carry the attributes docs/telemetry.md lists and no others: the layer's code location, thread, target and
    // busy/idle time attributes would be built for every span before the response, and encoded in every export.
    let opentelemetry = tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(move |metadata| traced.wants(metadata)))
    });
    // Correlation comes after the OpenTelemetry layer: it reads the ids that layer assigns when a span is entered.
    Registry::default().with(opentelemetry).with(Correlation::default()).with(output)
}

/// The crates whose spans, and the warnings and errors inside them, the OpenTelemetry layer takes: this one (the
/// invocation's span) and the function's.
#[derive(Debug, Clone)]
struct Traced(Arc<[&'static str]>);

impl Traced {
    fn new(mut crates: Vec<&'static str>) -> Self {
        crates.push(env!("CARGO_CRATE_NAME"));
        Traced(crates.into())
    }

    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        let traced = self
            .0
            .iter()
            .any(|name| target.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with("::")));
        traced && (metadata.is_span() || *metadata.level() <= Level::WARN)
    }
}

/// The OpenTelemetry ids of a span, kept in its extensions for the log lines inside it; written out as hex only by a
/// line that carries them, not for every span as it is entered (before the response).
#[derive(Debug, Clone, Copy)]
struct TraceIds {
    trace_id: TraceId,
    span_id: SpanId,
}

/// The `faas.invocation_id` a span was created with.
#[derive(Debug, Clone)]
struct RequestId(String);

/// Copies what a log line needs from each span into its extensions: the formatter cannot ask the OpenTelemetry
/// layer itself, as it runs inside the dispatcher, where no dispatcher is reachable.
#[derive(Default)]
struct Correlation {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for Correlation
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn on_new_span(&self, attributes: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut request_id = FieldValue { name: FAAS_INVOCATION_ID, value: None };
        attributes.record(&mut request_id);
        if let (Some(value), Some(span)) = (request_id.value, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(value));
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<TraceIds>().is_some() {
            return;
        }
        // Not while holding the span's extensions: `get_otel_context` takes them too.
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        let Some(context) = dispatch.and_then(|dispatch| tracing_opentelemetry::get_otel_context(id, &dispatch)) else {
            return;
        };
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        if span_context.is_valid() {
            let ids = TraceIds { trace_id: span_context.trace_id(), span_id: span_context.span_id() };
            span.extensions_mut().insert(ids);
        }
    }
}

struct FieldValue {
    name: &'static str,
    value: Option<String>,
}

impl Visit for FieldValue {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.name {
            self.value = Some(format!("{value:?}"));
        }
    }
}

/// An event's message, and its other fields already written as the line's format has them, each value as JSON: one
/// string for all of them rather than a value each, as the line is written after every response.
struct Fields {
    json: bool,
    message: String,
    written: String,
}

impl Fields {
    fn new(json: bool) -> Self {
        Fields { json, message: String::new(), written: String::new() }
    }

    /// Starts a field: `,"name":` in JSON, ` name=` in text; its value follows.
    fn name(&mut self, field: &Field) -> &mut String {
        if self.json {
            self.written.push(',');
            let _ = write_json_str(&mut self.written, field.name());
            self.written.push(':');
        } else {
            let _ = write!(self.written, " {}=", field.name());
        }
        &mut self.written
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // As serde_json writes a float: shortest round trip, `null` for what JSON cannot hold.
        let _ = match serde_json::Number::from_f64(value) {
            Some(number) => write!(self.name(field), "{number}"),
            None => self.name(field).write_str("null"),
        };
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.name(field), "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.name(field), "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.name(field), "{value}");
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write_json_str(self.name(field), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let written = self.name(field);
            written.push('"');
            let _ = write!(JsonEscaped(written), "{value:?}");
            written.push('"');
        }
    }
}

/// Writes `text` as a JSON string.
fn write_json_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what is written through it as the inside of a JSON string, as serde_json does: quote, backslash and
/// control characters only.
struct JsonEscaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut unescaped = 0;
        for (index, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0x08 => Some("\\b"),
                0x0c => Some("\\f"),
                0x00..=0x1f => None,
                _ => continue,
            };
            self.0.write_str(&text[unescaped..index])?;
            match escape {
                Some(escape) => self.0.write_str(escape)?,
                None => write!(self.0, "\\u{byte:04x}")?,
            }
            unescaped = index + 1;
        }
        self.0.write_str(&text[unescaped..])
    }
}

/// The output's formatter for span fields, which writes nothing: a line carries its span's ids (see [`Correlation`]),
/// never its fields, and the fmt layer would otherwise format every field of every span into a string as the span
/// starts, before the response.
struct NoSpanFields;

impl<'writer> FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: RecordFields>(&self, _writer: Writer<'writer>, _fields: R) -> fmt::Result {
        Ok(())
    }
}

/// One line per event: a JSON object (Lambda's JSON log format, which CloudWatch indexes) or compact text.
///
/// Written here rather than taken from json-subscriber or tracing-subscriber's `json`: neither writes the contract's
/// `trace_id`/`span_id`/`request_id` or text lines by itself, json-subscriber made to write them spends twice the
/// instructions per line, and both format every span's fields as it starts (BENCHMARKS.md, "Log line";
/// benches/log_line.rs).
struct LambdaFormat {
    json: bool,
}

impl<S, N> FormatEvent<S, N> for LambdaFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = Fields::new(self.json);
        event.record(&mut fields);
        // The innermost span that has each id: a log line in a child span carries the child's span id and the
        // invocation's request id.
        let (mut ids, mut request_id) = (None, None);
        for span in ctx.event_scope().into_iter().flatten() {
            let extensions = span.extensions();
            ids = ids.or_else(|| extensions.get::<TraceIds>().copied());
            request_id = request_id.or_else(|| extensions.get::<RequestId>().map(|id| id.0.clone()));
        }
        let metadata = event.metadata();
        // Written pair by pair rather than as a map, to keep the order a reader scans in.
        if self.json {
            // The timestamp's characters (digits, `-`, `:`, `.`, `T`, `Z`) need no escaping.
            writer.write_str("{\"timestamp\":\"")?;
            SystemTime.format_time(&mut writer)?;
            write!(writer, "\",\"level\":\"{}\",\"message\":", metadata.level())?;
            write_json_str(&mut writer, &fields.message)?;
            writer.write_str(",\"target\":")?;
            write_json_str(&mut writer, metadata.target())?;
            writer.write_str(&fields.written)?;
            if let Some(ids) = ids {
                write!(writer, ",\"trace_id\":\"{}\",\"span_id\":\"{}\"", ids.trace_id, ids.span_id)?;
            }
            if let Some(request_id) = request_id {
                writer.write_str(",\"request_id\":")?;
                write_json_str(&mut writer, &request_id)?;
            }
            writeln!(writer, "}}")
        } else {
            SystemTime.format_time(&mut writer)?;
            write!(writer, " {:>5} {}: {}{}", metadata.level(), metadata.target(), fields.message, fields.written)?;
            if let Some(ids) = ids {
                write!(writer, " trace_id={} span_id={}", ids.trace_id, ids.span_id)?;
            }
            if let Some(request_id) = request_id {
                write!(writer, " request_id={request_id}")?;
            }
            writeln!(writer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Telemetry;
    use crate::delivery::{ExportFuture, Exporters};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::trace::SpanData;
    use serde_json::Value;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    /// The lines written, shared with the subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn take(&self) -> Vec<String> {
            let bytes = std::mem::take(&mut *self.0.lock().unwrap());
            String::from_utf8(bytes).unwrap().lines().map(str::to_string).collect()
        }
    }

    struct Nowhere;

    impl Exporters for Nowhere {
        fn export_spans(&self, _batch: Vec<SpanData>) -> ExportFuture<'_> {
            Box::pin(async { Ok(()) })
        }

        fn export_metrics<'a>(&'a self, _batch: &'a ResourceMetrics) -> ExportFuture<'a> {
            Box::pin(async { Ok(()) })
        }

        fn set_resource(&mut self, _resource: &Resource) {}
    }

    fn settings(variables: &[(&str, &str)]) -> Settings {
        Settings::parse(|name| variables.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string()))
    }

    /// Logs `f`'s events through the subscriber `settings` describe, with an OpenTelemetry layer.
    fn logged(settings: &Settings, f: impl FnOnce()) -> Vec<String> {
        let (_telemetry, tracer) =
            Telemetry::start(settings.clone(), None, Box::new(Nowhere), Default::default(), Instant::now());
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(settings, Some(tracer), vec![], move || writer.clone());
        tracing::subscriber::with_default(subscriber, f);
        lines.take()
    }

    #[test]
    fn json_lines_carry_the_span_and_request_ids() {
        let lines = logged(&settings(&[]), || {
            tracing::info!("outside any span");
            let invocation = tracing::info_span!("invocation", "faas.invocation_id" = "request-1");
            invocation.in_scope(|| {
                tracing::info!(answer = 42, "in the invocation");
                tracing::info_span!("child").in_scope(|| tracing::warn!("in a child"));
            });
        });
        let lines: Vec<Value> = lines.iter().map(|line| serde_json::from_str(line).unwrap()).collect();
        let [outside, invocation, child] = &lines[..] else { panic!("{lines:#?}") };

        assert_eq!(outside["message"], "outside any span");
        assert_eq!(outside["level"], "INFO");
        assert!(outside["timestamp"].as_str().is_some_and(|time| time.ends_with('Z')), "{outside}");
        assert!(outside.get("trace_id").is_none() && outside.get("request_id").is_none(), "{outside}");

        assert_eq!(invocation["answer"], 42);
        assert_eq!(invocation["request_id"], "request-1");
        assert_eq!(invocation["target"], module_path!());
        let trace_id = invocation["trace_id"].as_str().unwrap();
        assert_eq!(trace_id.len(), 32);
        assert_eq!(invocation["span_id"].as_str().map(str::len), Some(16));

        assert_eq!((child["level"].as_str(), child["request_id"].as_str()), (Some("WARN"), Some("request-1")));
        assert_eq!(child["trace_id"], trace_id, "the same trace");
        assert_ne!(child["span_id"], invocation["span_id"], "the child's own span");
    }

    #[test]
    fn field_values_are_written_as_json() {
        let lines = logged(&settings(&[]), || {
            tracing::info!(
                float = 0.125,
                whole = 2.0,
                nan = f64::NAN,
                negative = -3,
                big = u64::MAX,
                yes = true,
                text = "say \"hi\"\n",
                debug = ?Some("x"),
                "a \"quoted\" message"
            );
        });
        let [line] = &lines[..] else { panic!("{lines:#?}") };
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["message"], "a \"quoted\" message");
        assert_eq!((value["float"].as_f64(), value["negative"].as_i64()), (Some(0.125), Some(-3)));
        assert_eq!((value["big"].as_u64(), value["yes"].as_bool()), (Some(u64::MAX), Some(true)));
        assert_eq!((value["text"].as_str(), value["debug"].as_str()), (Some("say \"hi\"\n"), Some("Some(\"x\")")));
        assert!(value["nan"].is_null(), "{line}");
        assert!(line.contains(r#","whole":2.0,"#), "floats as serde_json writes them: {line}");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let text: String = (0u8..0x20).map(char::from).chain("\"\\/é€\u{7f}😀".chars()).collect();
        let mut written = String::new();
        write_json_str(&mut written, &text).unwrap();
        assert_eq!(written, serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn text_lines_and_the_level_filter() {
        let settings = settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        let lines = logged(&settings, || {
            tracing::info_span!("invocation", "faas.invocation_id" = "request-1").in_scope(|| {
                tracing::info!("filtered out");
                tracing::warn!(status = 503, "kept");
            });
        });
        let [line] = &lines[..] else { panic!("{lines:#?}") };
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains(": kept status=503 trace_id="), "{line}");
        assert!(line.ends_with(" request_id=request-1"), "{line}");
    }
}
