use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;

use super::*;
use crate::http1::{Header, Request};
use crate::trace_view::inbox::{Inbox, Incoming};
use crate::trace_view::{Format, GatewaySpans, NotCollected, TraceView, format, function_environment, receiver};

fn variables(set: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let set: Vec<(String, String)> = set.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    move |name| set.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
}

#[test]
fn the_view_is_used_only_without_an_endpoint_and_follows_the_terminal() {
    let none = variables(&[]);
    assert_eq!(format(TraceView::Auto, &none, true), Ok(Format::Text { colour: true }));
    assert_eq!(format(TraceView::Auto, &none, false), Ok(Format::Json));
    assert_eq!(format(TraceView::Text, &none, false), Ok(Format::Text { colour: false }), "no colours into a pipe");
    assert_eq!(format(TraceView::Json, &none, true), Ok(Format::Json));
    assert_eq!(format(TraceView::Off, &none, true), Err(NotCollected::Off));
    for (name, value) in
        [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c")]
    {
        assert_eq!(format(TraceView::Text, variables(&[(name, value)]), true), Err(NotCollected::EndpointConfigured));
    }
    let empty = variables(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " "), ("OTEL_SDK_DISABLED", "false")]);
    assert_eq!(format(TraceView::Auto, empty, false), Ok(Format::Json), "empty is unset, as for the exporters");
    assert_eq!(format(TraceView::Auto, variables(&[("OTEL_SDK_DISABLED", "TRUE")]), true), Err(NotCollected::Disabled));
}

#[test]
fn no_color_set_and_not_empty_turns_colours_off() {
    assert_eq!(format(TraceView::Auto, variables(&[("NO_COLOR", "1")]), true), Ok(Format::Text { colour: false }));
    assert_eq!(format(TraceView::Auto, variables(&[("NO_COLOR", "")]), true), Ok(Format::Text { colour: true }));
}

#[test]
fn functions_export_here_over_http_except_metrics_sent_elsewhere() {
    let endpoint = "http://127.0.0.1:4000";
    let pairs = |set: &[(&str, &str)]| -> Vec<(String, String)> { function_environment(endpoint, variables(set)) };
    let expected = |metrics_protocol: Option<&str>| {
        let mut expected = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), endpoint.to_string()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".to_string(), "http/protobuf".to_string()),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL".to_string(), "http/protobuf".to_string()),
            // Every invocation's spans at once, so that each request's tree is whole when it is shown.
            ("LAMBDA_OTEL_EXPORT_INTERVAL_MS".to_string(), "0".to_string()),
        ];
        expected.extend(
            metrics_protocol.map(|protocol| ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL".to_string(), protocol.to_string())),
        );
        expected
    };
    assert_eq!(pairs(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]), expected(Some("http/protobuf")));
    let metrics_elsewhere =
        [("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
    assert_eq!(pairs(&metrics_elsewhere), expected(Some("grpc")));
    assert_eq!(pairs(&metrics_elsewhere[..1]), expected(None), "the default protocol, which ours is too");
}

fn post(path: &str, content_type: &str, body: Vec<u8>) -> Request {
    Request {
        method: "POST".into(),
        target: path.into(),
        minor_version: 1,
        headers: vec![Header { name: "Content-Type".into(), value: content_type.into() }],
        body,
    }
}

fn export() -> ExportTraceServiceRequest {
    let attribute = |key: &str, value: any_value::Value| ProtoKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..ProtoKeyValue::default()
    };
    let valid = ProtoSpan {
        trace_id: TRACE.to_bytes().to_vec(),
        span_id: id(3).to_bytes().to_vec(),
        parent_span_id: id(2).to_bytes().to_vec(),
        name: "POST /helloworld".into(),
        kind: 2,
        attributes: vec![
            attribute("http.route", any_value::Value::StringValue("/helloworld".into())),
            attribute("faas.coldstart", any_value::Value::BoolValue(true)),
        ],
        ..ProtoSpan::default()
    };
    let invalid = ProtoSpan { trace_id: vec![0; 16], span_id: vec![1; 8], ..ProtoSpan::default() };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", any_value::Value::StringValue(FUNCTION.into()))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans { spans: vec![valid, invalid], ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
}

#[test]
fn the_receiver_takes_trace_exports_and_answers_metric_exports() {
    let (inbox, mut outbox) = Inbox::new();
    let answer = receiver::answer(&post("/v1/traces", "application/x-protobuf", export().encode_to_vec()), &inbox);
    assert_eq!(answer.status, 200);
    let Some(Incoming::Exported(spans)) = outbox.try_recv() else { panic!("no spans handed over") };
    assert_eq!(spans.len(), 1, "the span with an invalid trace id is dropped");
    let span = &spans[0];
    assert_eq!((span.service.as_str(), span.kind, span.source), (FUNCTION, Kind::Server, Source::Function));
    assert_eq!((span.trace_id, span.span_id, span.parent_id), (TRACE, id(3), Some(id(2))));
    assert_eq!(span.attributes, [("http.route".into(), "/helloworld".into()), ("faas.coldstart".into(), true.into())]);

    let metrics = post("/v1/metrics", "application/x-protobuf", vec![1, 2, 3]);
    assert_eq!(receiver::answer(&metrics, &inbox).status, 200);
    assert!(outbox.try_recv().is_none(), "metrics are not shown");
    for (request, status) in [
        (post("/v1/traces", "application/x-protobuf", vec![0xff, 0xff]), 400),
        (post("/v1/traces", "application/json", b"{}".to_vec()), 415),
        (post("/v1/spans", "application/x-protobuf", Vec::new()), 404),
        (Request { method: "GET".into(), ..post("/v1/traces", "application/x-protobuf", Vec::new()) }, 405),
    ] {
        assert_eq!(receiver::answer(&request, &inbox).status, status, "{} {}", request.method, request.target);
    }
}

#[test]
fn the_gateways_spans_are_handed_over_with_its_service_name() {
    let (inbox, mut outbox) = Inbox::new();
    let resource = opentelemetry_sdk::Resource::builder_empty().with_service_name("gateway-x").build();
    let provider =
        SdkTracerProvider::builder().with_span_processor(GatewaySpans::new(inbox)).with_resource(resource).build();
    let mut span = provider.tracer("test").start("POST /helloworld");
    span.set_attribute(KeyValue::new("http.route", "/helloworld"));
    span.end();
    let Some(Incoming::Gateway(span, service)) = outbox.try_recv() else { panic!("the span was not handed over") };
    assert_eq!((span.name.as_ref(), &*service), ("POST /helloworld", "gateway-x"));
    // Nobody reads the inbox any more: stopping the provider does not wait for the view.
    drop(outbox);
    let stopping = std::time::Instant::now();
    drop(provider);
    assert!(stopping.elapsed() < std::time::Duration::from_secs(1), "{:?}", stopping.elapsed());
}
