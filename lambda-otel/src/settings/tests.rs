use super::*;
use opentelemetry_sdk::metrics::Temporality;
use std::collections::HashMap;
use tracing::Level;

fn parse(variables: &[(&str, &str)]) -> Settings {
    let variables: HashMap<String, String> =
        variables.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    Settings::parse(|name| variables.get(name).cloned())
}

#[test]
fn defaults_without_any_variable() {
    let settings = parse(&[]);
    assert!(!settings.otlp.disabled);
    assert_eq!(settings.service_name, UNKNOWN_SERVICE);
    let traces = otlp_setup::ExporterConfig {
        protocol: otlp_setup::Protocol::HttpProtobuf,
        endpoint: "http://localhost:4318/v1/traces".into(),
        headers: vec![],
        timeout: None,
        certificate: None,
    };
    assert_eq!(settings.otlp.traces, traces);
    assert_eq!(settings.otlp.metrics.endpoint, "http://localhost:4318/v1/metrics");
    assert_eq!(settings.otlp.sampler, otlp_setup::Sampler::ParentBasedAlwaysOn);
    assert_eq!(
        settings.otlp.propagators,
        [otlp_setup::Propagator::TraceContext, otlp_setup::Propagator::Baggage, otlp_setup::Propagator::XRay]
    );
    assert_eq!(settings.otlp.temporality, Temporality::Cumulative);
    assert_eq!(settings.flush_timeout, DEFAULT_FLUSH_TIMEOUT);
    assert_eq!(settings.log_format, LogFormat::Json);
    assert_eq!(settings.log_filter, Targets::new().with_default(LevelFilter::INFO));
    assert_eq!(settings.lambda, Lambda::default());
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn the_lambda_environment() {
    let settings = parse(&[
        ("AWS_LAMBDA_FUNCTION_NAME", "GetStartedLambdaProxyIntegration"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]abc"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
    ]);
    let lambda = Lambda {
        function_name: Some("GetStartedLambdaProxyIntegration".into()),
        function_version: Some("$LATEST".into()),
        region: Some("eu-west-1".into()),
        memory_mb: Some(512),
        log_stream: Some("2026/11/24/[$LATEST]abc".into()),
        runtime_api: Some("127.0.0.1:9001".into()),
    };
    assert_eq!(settings.lambda, lambda);
    assert_eq!(settings.service_name, "GetStartedLambdaProxyIntegration", "the function name by default");
}

#[test]
fn service_name_precedence() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("AWS_LAMBDA_FUNCTION_NAME", "fn")], "fn"),
        (&[("AWS_LAMBDA_FUNCTION_NAME", "fn"), ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr")], "attr"),
        (
            &[
                ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr"),
                ("OTEL_SERVICE_NAME", "svc"),
            ],
            "svc",
        ),
        (&[("OTEL_SERVICE_NAME", "  ")], UNKNOWN_SERVICE),
    ];
    for (variables, expected) in cases {
        assert_eq!(parse(variables).service_name, *expected, "{variables:?}");
    }
}

#[test]
fn temporality_and_flush_timeout() {
    let cases: &[(&str, Temporality)] = &[
        ("delta", Temporality::Delta),
        ("LowMemory", Temporality::LowMemory),
        ("cumulative", Temporality::Cumulative),
    ];
    for (value, expected) in cases {
        let settings = parse(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)]);
        assert_eq!(settings.otlp.temporality, *expected, "{value}");
    }
    assert_eq!(parse(&[("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "250")]).flush_timeout, Duration::from_millis(250));
}

#[test]
fn logging() {
    let settings = parse(&[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("AWS_LAMBDA_LOG_LEVEL", "debug")]);
    assert_eq!(settings.log_format, LogFormat::Text);
    assert!(settings.log_filter.would_enable("anything", &Level::DEBUG));

    // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG; RUST_LOG's per-target directives apply without it.
    let settings = parse(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "debug")]);
    assert!(!settings.log_filter.would_enable("anything", &Level::WARN));
    let settings = parse(&[("RUST_LOG", "warn,hello_lambda_otel=debug")]);
    assert!(settings.log_filter.would_enable("hello_lambda_otel::handler", &Level::DEBUG));
    assert!(!settings.log_filter.would_enable("hyper", &Level::INFO));
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn bad_values_warn_once_each_and_fall_back_to_the_default() {
    let settings = parse(&[
        ("OTEL_SDK_DISABLED", "yes"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector.example.com/v1/traces"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_TRACES_SAMPLER", "xray"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes"),
        ("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "0"),
        ("AWS_LAMBDA_LOG_FORMAT", "xml"),
        ("AWS_LAMBDA_LOG_LEVEL", "loud"),
        ("RUST_LOG", "=="),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
    ]);
    assert!(!settings.otlp.disabled);
    assert_eq!(settings.otlp.traces.protocol, otlp_setup::Protocol::HttpProtobuf);
    assert_eq!(settings.otlp.traces.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(settings.otlp.metrics.endpoint, "http://localhost:4318/v1/metrics");
    assert_eq!(settings.otlp.traces.timeout, None);
    assert_eq!(settings.otlp.sampler, otlp_setup::Sampler::ParentBasedAlwaysOn);
    assert_eq!(settings.otlp.temporality, Temporality::Cumulative);
    assert_eq!(settings.flush_timeout, DEFAULT_FLUSH_TIMEOUT);
    assert_eq!(settings.log_format, LogFormat::Json);
    assert_eq!(settings.log_filter, Targets::new().with_default(LevelFilter::INFO));
    assert_eq!(settings.lambda.memory_mb, None);
    for name in [
        "OTEL_SDK_DISABLED",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "LAMBDA_OTEL_FLUSH_TIMEOUT_MS",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "RUST_LOG",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        assert!(
            settings.warnings.iter().any(|warning| warning.contains(&format!("{name}="))),
            "no warning for {name}: {:?}",
            settings.warnings
        );
    }
}

#[test]
fn pacing_defaults_and_knobs() {
    let defaults = parse(&[]).pacing;
    assert_eq!(
        (defaults.spans_interval, defaults.spans_batch, defaults.metrics_interval),
        (Duration::from_millis(1000), 512, Duration::from_millis(1000))
    );
    let every = parse(&[
        ("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "0"),
        ("LAMBDA_OTEL_EXPORT_BATCH", "8"),
        ("LAMBDA_OTEL_METRICS_INTERVAL_MS", "250"),
    ]);
    assert_eq!(
        (every.pacing.spans_interval, every.pacing.spans_batch, every.pacing.metrics_interval),
        (Duration::ZERO, 8, Duration::from_millis(250))
    );
    let bad = parse(&[("LAMBDA_OTEL_EXPORT_BATCH", "5000")]);
    assert_eq!(bad.pacing.spans_batch, 512, "more than the buffer holds");
    assert_eq!(bad.warnings.len(), 1, "{:?}", bad.warnings);
}

#[test]
fn trace_exporters_default_to_xray_only_where_the_daemon_is_and_no_otlp_endpoint() {
    let exporters = |variables: &[(&str, &str)]| {
        let traces = parse(variables).traces;
        (traces.otlp, traces.xray)
    };
    let daemon = ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000");
    assert_eq!(exporters(&[]), (true, false), "no daemon: OTLP, as before");
    assert_eq!(exporters(&[daemon]), (false, true), "the deployed function with active tracing");
    assert_eq!(exporters(&[daemon, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]), (true, false));
    assert_eq!(exporters(&[daemon, ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]), (true, false));
    assert_eq!(exporters(&[daemon, ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), (false, true), "empty counts as unset");
}

#[test]
fn trace_exporters_listed() {
    let cases: &[(&str, (bool, bool))] = &[
        ("otlp", (true, false)),
        ("xray", (false, true)),
        ("otlp,xray", (true, true)),
        (" XRay , otlp ", (true, true)),
        ("none", (false, false)),
        ("xray,zipkin", (false, true)),
    ];
    for (value, expected) in cases {
        let traces = parse(&[("OTEL_TRACES_EXPORTER", value)]).traces;
        assert_eq!((traces.otlp, traces.xray), *expected, "{value}");
        assert_eq!(traces.xray_daemon, DEFAULT_XRAY_DAEMON, "{value}");
    }
    let unknown = parse(&[("OTEL_TRACES_EXPORTER", "zipkin,jaeger")]);
    assert_eq!((unknown.traces.otlp, unknown.traces.xray), (true, false), "nothing known: the default");
    assert_eq!(unknown.warnings.len(), 2, "{:?}", unknown.warnings);
    assert!(unknown.warnings[0].contains("OTEL_TRACES_EXPORTER=\"zipkin\""), "{:?}", unknown.warnings);
}

#[test]
fn xray_daemon_address_in_both_forms() {
    let daemon = |value: &str| {
        let settings = parse(&[("AWS_XRAY_DAEMON_ADDRESS", value)]);
        (settings.traces.xray_daemon, settings.warnings.len())
    };
    assert_eq!(daemon("169.254.79.129:2000"), ("169.254.79.129:2000".into(), 0));
    assert_eq!(daemon("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"), ("127.0.0.2:2001".into(), 0));
    assert_eq!(daemon("udp:xray.local:2001 tcp:127.0.0.1:2000"), ("xray.local:2001".into(), 0));
    assert_eq!(daemon("[::1]:2000"), ("[::1]:2000".into(), 0));
    for bad in ["2000", "localhost", "host:port", ":2000", "tcp:127.0.0.1:2000 tcp:127.0.0.1:2001", "h:0"] {
        assert_eq!(daemon(bad), (DEFAULT_XRAY_DAEMON.into(), 1), "{bad}");
    }
}

#[test]
fn metrics_go_to_emf_in_lambda_without_an_otlp_endpoint_and_to_otlp_otherwise() {
    let in_lambda = ("AWS_LAMBDA_FUNCTION_NAME", "hello");
    let emf = |namespace: &str| MetricsExporters { otlp: false, emf: Some(namespace.to_string()) };
    let otlp = MetricsExporters { otlp: true, emf: None };
    let cases: &[(&[(&str, &str)], MetricsExporters)] = &[
        (&[], otlp.clone()),
        (&[in_lambda], emf("hello")),
        (&[in_lambda, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")], otlp.clone()),
        (&[in_lambda, ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4318/v1/metrics")], otlp.clone()),
        // Only the metrics' own endpoints count: spans going elsewhere says nothing about the metrics.
        (&[in_lambda, ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")], emf("hello")),
        (&[in_lambda, ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")], emf("hello")),
        (&[in_lambda, ("OTEL_SERVICE_NAME", "greeter")], emf("greeter")),
        (&[in_lambda, ("LAMBDA_OTEL_EMF_NAMESPACE", "hello-lambda-otel")], emf("hello-lambda-otel")),
    ];
    for (variables, expected) in cases {
        let settings = parse(variables);
        assert_eq!(&settings.metrics_exporters, expected, "{variables:?}");
        assert!(settings.warnings.is_empty(), "{variables:?}: {:?}", settings.warnings);
    }
}

#[test]
fn otel_metrics_exporter_lists_the_exporters() {
    let cases: &[(&str, bool, bool)] = &[
        ("otlp", true, false),
        ("emf", false, true),
        ("otlp,emf", true, true),
        (" EMF , otlp ", true, true),
        ("none", false, false),
        ("", false, true), // unset: the default, emf in Lambda
    ];
    for (value, otlp, emf) in cases {
        // An endpoint would make the default otlp: the variable, when set, decides alone.
        let settings = parse(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "hello"),
            ("OTEL_METRICS_EXPORTER", value),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", if value.is_empty() { " " } else { "http://collector:4318" }),
        ]);
        let exporters = &settings.metrics_exporters;
        assert_eq!((exporters.otlp, exporters.emf.is_some()), (*otlp, *emf), "{value:?}");
        assert!(settings.warnings.is_empty(), "{value:?}: {:?}", settings.warnings);
    }
}

#[test]
fn unknown_metrics_exporters_and_unusable_namespaces_warn() {
    let settings = parse(&[("OTEL_METRICS_EXPORTER", "prometheus,emf,console"), ("OTEL_SERVICE_NAME", "greeter")]);
    assert_eq!(settings.metrics_exporters, MetricsExporters { otlp: false, emf: Some("greeter".into()) });
    assert_eq!(settings.warnings.len(), 2, "{:?}", settings.warnings);
    assert!(settings.warnings.iter().all(|warning| warning.contains("OTEL_METRICS_EXPORTER=")));

    let long = "n".repeat(1025);
    for namespace in ["AWS/Lambda", long.as_str()] {
        let settings = parse(&[
            ("OTEL_METRICS_EXPORTER", "emf"),
            ("OTEL_SERVICE_NAME", "greeter"),
            ("LAMBDA_OTEL_EMF_NAMESPACE", namespace),
        ]);
        assert_eq!(settings.metrics_exporters.emf.as_deref(), Some("greeter"), "{namespace}");
        assert!(settings.warnings[0].contains("LAMBDA_OTEL_EMF_NAMESPACE="), "{:?}", settings.warnings);
    }
    // Without emf the namespace is not read at all.
    let settings = parse(&[("OTEL_METRICS_EXPORTER", "otlp"), ("LAMBDA_OTEL_EMF_NAMESPACE", "AWS/Lambda")]);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}
