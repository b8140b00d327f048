use std::collections::HashMap;

use super::*;

/// The configuration and the warnings of `variables`.
struct Parsed {
    config: OtlpConfig,
    warnings: Vec<String>,
}

impl std::ops::Deref for Parsed {
    type Target = OtlpConfig;

    fn deref(&self) -> &OtlpConfig {
        &self.config
    }
}

fn parse(variables: &[(&str, &str)]) -> Parsed {
    let variables: HashMap<String, String> =
        variables.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    let mut variables = Variables::new(|name: &str| variables.get(name).cloned());
    let config = OtlpConfig::read(&mut variables);
    Parsed { config, warnings: variables.take_warnings() }
}

#[test]
fn resource_attributes_are_percent_decoded_and_bad_entries_skipped() {
    let settings = parse(&[("OTEL_RESOURCE_ATTRIBUTES", "team=greeting%20team, bad, deployment.environment=test")]);
    assert_eq!(
        settings.resource_attributes,
        [("team".to_string(), "greeting team".to_string()), ("deployment.environment".into(), "test".into())]
    );
    assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
    assert!(settings.warnings[0].contains("OTEL_RESOURCE_ATTRIBUTES"));
}

#[test]
fn endpoints_protocols_headers_and_timeouts() {
    struct Case {
        variables: &'static [(&'static str, &'static str)],
        traces: (&'static str, Protocol),
        metrics: (&'static str, Protocol),
    }
    let http = Protocol::HttpProtobuf;
    let grpc = Protocol::Grpc;
    let cases = [
        Case {
            variables: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
            traces: ("http://collector:4318/v1/traces", http),
            metrics: ("http://collector:4318/v1/metrics", http),
        },
        Case {
            variables: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base")],
            traces: ("http://collector:4318/base/v1/traces", http),
            metrics: ("http://collector:4318/base/v1/metrics", http),
        },
        Case {
            variables: &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom"),
            ],
            traces: ("http://traces:9999/custom", http),
            metrics: ("http://collector:4318/v1/metrics", http),
        },
        Case {
            variables: &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            traces: ("http://localhost:4317", grpc),
            metrics: ("http://localhost:4317", grpc),
        },
        Case {
            variables: &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ],
            traces: ("http://collector:4317", grpc),
            metrics: ("http://collector:4317/v1/metrics", http),
        },
    ];
    for case in cases {
        let settings = parse(case.variables);
        assert_eq!((settings.traces.endpoint.as_str(), settings.traces.protocol), case.traces, "{:?}", case.variables);
        let metrics = (settings.metrics.endpoint.as_str(), settings.metrics.protocol);
        assert_eq!(metrics, case.metrics, "{:?}", case.variables);
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    }

    let settings = parse(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20abc,x-team=a"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Team=b"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "50"),
    ]);
    let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    };
    assert_eq!(settings.traces.headers, headers(&[("authorization", "Basic abc"), ("X-Team", "b")]));
    assert_eq!(settings.metrics.headers, headers(&[("authorization", "Basic abc"), ("x-team", "a")]));
    assert_eq!(settings.traces.timeout, Some(Duration::from_millis(2500)));
    assert_eq!(settings.metrics.timeout, Some(Duration::from_millis(50)));
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);

    let settings = parse(&[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x,ok=%0A")]);
    assert_eq!(settings.traces.headers, []);
    assert_eq!(settings.warnings.len(), 2, "one warning per bad header: {:?}", settings.warnings);
}

#[test]
fn https_endpoints_are_accepted_with_the_ca_certificate_of_each_signal() {
    let settings = parse(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/opt/ca.pem"),
        ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/opt/metrics-ca.pem"),
    ]);
    assert_eq!(settings.traces.endpoint, "https://otlp.example.com:4318/v1/traces");
    assert_eq!(settings.traces.certificate.as_deref(), Some("/opt/ca.pem"));
    assert_eq!(settings.metrics.endpoint, "https://otlp.example.com:4318/v1/metrics");
    assert_eq!(settings.metrics.certificate.as_deref(), Some("/opt/metrics-ca.pem"));
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);

    let settings = parse(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://metrics.example.com:443/otlp"),
    ]);
    assert_eq!(
        (settings.traces.endpoint.as_str(), settings.traces.protocol),
        ("https://otlp.example.com", Protocol::Grpc)
    );
    assert_eq!(settings.metrics.endpoint, "https://metrics.example.com:443/otlp");
    assert_eq!(settings.traces.certificate, None, "the bundled roots by default");
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn samplers() {
    let cases: &[(&[(&str, &str)], Sampler)] = &[
        (&[("OTEL_TRACES_SAMPLER", "always_on")], Sampler::AlwaysOn),
        (&[("OTEL_TRACES_SAMPLER", "always_off")], Sampler::AlwaysOff),
        (&[("OTEL_TRACES_SAMPLER", "traceidratio")], Sampler::TraceIdRatio(1.0)),
        (&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")], Sampler::TraceIdRatio(0.25)),
        (&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")], Sampler::ParentBasedAlwaysOn),
        (&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")], Sampler::ParentBasedAlwaysOff),
        (
            &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")],
            Sampler::ParentBasedTraceIdRatio(0.5),
        ),
    ];
    for (variables, expected) in cases {
        let settings = parse(variables);
        assert_eq!(settings.sampler, *expected, "{variables:?}");
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    }
}

#[test]
fn propagators_keep_their_order_and_skip_what_is_unknown() {
    let cases: &[(&str, &[Propagator], usize)] = &[
        ("xray,tracecontext", &[Propagator::XRay, Propagator::TraceContext], 0),
        ("tracecontext, b3, baggage", &[Propagator::TraceContext, Propagator::Baggage], 1),
        ("none", &[], 0),
        ("xray,xray", &[Propagator::XRay], 0),
    ];
    for (value, expected, warnings) in cases {
        let settings = parse(&[("OTEL_PROPAGATORS", value)]);
        assert_eq!(settings.propagators, *expected, "{value}");
        assert_eq!(settings.warnings.len(), *warnings, "{value}: {:?}", settings.warnings);
    }
}

#[test]
fn a_bad_sampler_argument_keeps_the_sampler_with_the_default_ratio() {
    let settings = parse(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")]);
    assert_eq!(settings.sampler, Sampler::TraceIdRatio(1.0));
    assert_eq!(settings.warnings.len(), 1);
}

#[test]
fn otel_sdk_disabled() {
    assert!(parse(&[("OTEL_SDK_DISABLED", "TRUE")]).disabled);
    assert!(!parse(&[("OTEL_SDK_DISABLED", "false")]).disabled);
}
