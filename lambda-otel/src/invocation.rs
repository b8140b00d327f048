//! The span, metrics and log line of each invocation, and the flush after it.
//!
//! [`InvocationLayer`] wraps the Lambda runtime's own service, whose future ends once the response is posted to the
//! Runtime API: the layer's work after it (ending the span, recording metrics, flushing) is billed but never delays
//! the client, and it is over before the runtime asks for the next event, so nothing is left in flight when Lambda
//! freezes the process.
//!
//! The handler's outcome reaches the layer through [`RecordStatus`], which wraps the HTTP handler and reports the
//! response's status in a task-local slot the layer sets up around the invocation.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use lambda_http::http::Response;
use lambda_http::lambda_runtime::{self, LambdaInvocation};
use lambda_http::tower::{Layer, Service};
use lambda_http::{Error as BoxError, Request};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    CLIENT_ADDRESS, ERROR_TYPE, FAAS_COLDSTART, FAAS_INVOCATION_ID, FAAS_TRIGGER, HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_SCHEME, USER_AGENT_ORIGINAL,
};
use serde::{Deserialize, Deserializer};
use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::exemplars::Attribute;
use crate::metrics::{self, Trigger};
use crate::parent;
use crate::{Telemetry, emf};
use otlp_setup::Headers;

tokio::task_local! {
    /// How far the handler got in the current invocation; set by [`RecordStatus`], read by the layer.
    static OUTCOME: Cell<Outcome>;
}

/// How far the HTTP handler got in one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Never called: `lambda_http` could not read the event as a request.
    NotCalled,
    /// Called but never finished: it panicked (the runtime catches the panic and reports a function error).
    Started,
    /// Answered with this status.
    Answered(u16),
    /// Returned an error instead of a response.
    Failed,
}

fn report(outcome: Outcome) {
    // Outside an invocation's scope (the handler driven directly, as in the adapter's tests) there is no one to tell.
    let _ = OUTCOME.try_with(|slot| slot.set(outcome));
}

/// Wraps the HTTP handler so that the invocation layer learns how it answered. Outside the layer it only forwards.
#[derive(Debug, Clone)]
pub struct RecordStatus<S> {
    inner: S,
}

impl<S> RecordStatus<S> {
    /// Wraps `inner`, the function's HTTP handler (a `lambda_http` service such as `service_fn(handler)`).
    pub fn new(inner: S) -> Self {
        RecordStatus { inner }
    }
}

impl<S, B> Service<Request> for RecordStatus<S>
where
    S: Service<Request, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            report(Outcome::Started);
            let result = response.await;
            report(match &result {
                Ok(response) => Outcome::Answered(response.status().as_u16()),
                Err(_) => Outcome::Failed,
            });
            result
        })
    }
}

/// A string of the event, borrowed from the raw event unless JSON escapes forced a copy.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Cow<'de, str>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(value))
            }

            fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(value.to_string()))
            }

            fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(value))
            }
        }
        deserializer.deserialize_str(Visitor).map(Text)
    }
}

/// The parts of an API Gateway REST (v1) proxy event the telemetry reads. `httpMethod` and `requestContext` are the
/// fields `lambda_http` needs to take an event for such a request; an event without them is not one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiGatewayEvent<'a> {
    #[serde(borrow)]
    http_method: Text<'a>,
    #[serde(borrow, default)]
    resource: Option<Text<'a>>,
    #[serde(borrow, default)]
    path: Option<Text<'a>>,
    #[serde(borrow, default)]
    headers: Option<HeaderList<'a>>,
    #[serde(borrow)]
    request_context: RequestContext<'a>,
}

#[derive(Debug, Deserialize)]
struct RequestContext<'a> {
    #[serde(borrow, default)]
    identity: Option<Identity<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(borrow, default)]
    source_ip: Option<Text<'a>>,
    #[serde(borrow, default)]
    user_agent: Option<Text<'a>>,
}

/// The event's `headers` object as name-value pairs in the event's order, headers without a value left out. A list
/// rather than a map: it is only scanned, by [`Headers`], and a map would hash every name of every event before the
/// response.
#[derive(Debug)]
struct HeaderList<'a>(Vec<(Text<'a>, Text<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for HeaderList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = HeaderList<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a map of header names to values")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut headers = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((name, value)) = map.next_entry::<Text<'de>, Option<Text<'de>>>()? {
                    headers.extend(value.map(|value| (name, value)));
                }
                Ok(HeaderList(headers))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl<'a> ApiGatewayEvent<'a> {
    fn parse(body: &'a [u8]) -> Option<Self> {
        // UTF-8 is checked once for the whole event: parsed as bytes, each key and value would be checked on its own.
        // An event that is not UTF-8 is not JSON (RFC 8259), whichever of its strings breaks it.
        serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let headers = self.headers.iter().flat_map(|headers| &headers.0);
        headers.map(|(name, value)| (name.0.as_ref(), value.0.as_ref())).collect()
    }
}

/// What the span, the metrics and the log line say about an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpRequest {
    /// Upper case, or `_OTHER` for a method the HTTP semantic conventions do not know (bounded cardinality).
    method: String,
    /// The API Gateway resource (`/helloworld`): the route template, not the path.
    route: Option<String>,
    path: Option<String>,
    scheme: Option<String>,
    user_agent: Option<String>,
    client_address: Option<String>,
}

/// The methods the HTTP semantic conventions know; any other is [`OTHER_METHOD`].
pub(crate) const KNOWN_METHODS: [&str; 9] =
    ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"];
/// `http.request.method` of a method the HTTP semantic conventions do not know.
pub(crate) const OTHER_METHOD: &str = "_OTHER";

impl HttpRequest {
    fn from_event(event: &ApiGatewayEvent<'_>) -> Self {
        let headers = event.headers();
        let header = |name: &str| Headers(&headers).value(name);
        let identity = event.request_context.identity.as_ref();
        let method = event.http_method.0.to_ascii_uppercase();
        HttpRequest {
            method: if KNOWN_METHODS.contains(&method.as_str()) { method } else { OTHER_METHOD.to_string() },
            route: event.resource.as_ref().map(|resource| resource.0.to_string()),
            path: event.path.as_ref().map(|path| path.0.to_string()),
            scheme: header("x-forwarded-proto").map(str::to_string),
            user_agent: header("user-agent")
                .or_else(|| identity?.user_agent.as_ref().map(|agent| agent.0.as_ref()))
                .map(str::to_string),
            client_address: identity.and_then(|identity| Some(identity.source_ip.as_ref()?.0.to_string())),
        }
    }

    /// `{method} {route}`, the HTTP semantic conventions' server span name.
    fn span_name(&self) -> String {
        match &self.route {
            Some(route) => format!("{} {route}", self.method),
            None => self.method.clone(),
        }
    }
}

/// What went wrong, as `error.type` says it; `None` if nothing did. A 4xx is the client's mistake, not the function's.
fn error_type(request: Option<&HttpRequest>, outcome: Outcome) -> Option<Cow<'static, str>> {
    match (request, outcome) {
        (None, _) | (Some(_), Outcome::NotCalled) => Some("invalid_event".into()),
        (Some(_), Outcome::Answered(status)) if status >= 500 => Some(status.to_string().into()),
        (Some(_), Outcome::Answered(_)) => None,
        (Some(_), Outcome::Started) => Some("panic".into()),
        (Some(_), Outcome::Failed) => Some("handler_error".into()),
    }
}

/// Telemetry around every invocation of the runtime it is layered on (`lambda_runtime::Runtime::layer`).
#[derive(Clone)]
pub struct InvocationLayer {
    telemetry: Telemetry,
}

impl InvocationLayer {
    pub(crate) fn new(telemetry: Telemetry) -> Self {
        InvocationLayer { telemetry }
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = Invocations<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Invocations { inner, telemetry: self.telemetry.clone() }
    }
}

/// The service [`InvocationLayer`] makes.
pub struct Invocations<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S> Service<LambdaInvocation> for Invocations<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: 'static,
{
    type Response = ();
    type Error = BoxError;
    // Not `Send`: the runtime's own future is not, and the runtime polls it where it is.
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        if !self.telemetry.is_enabled() {
            return Box::pin(self.inner.call(invocation));
        }
        let telemetry = self.telemetry.clone();
        let started = Instant::now();
        let coldstart = telemetry.take_coldstart();
        // The first invocation's ARN completes the resource, after the response.
        let invoked_function_arn = coldstart.then(|| invocation.context.invoked_function_arn.clone());
        let event = ApiGatewayEvent::parse(&invocation.body);
        let request = event.as_ref().map(HttpRequest::from_event);
        let headers = event.as_ref().map(ApiGatewayEvent::headers).unwrap_or_default();
        let runtime_trace_id = invocation.context.xray_trace_id.as_deref();
        let parent = parent::parent(
            telemetry.propagators(),
            Headers(&headers),
            runtime_trace_id,
            telemetry.runtime_parent_first(),
        );
        let span = server_span(request.as_ref(), &invocation.context, coldstart);
        // Before the span is first entered: tracing-opentelemetry starts the OpenTelemetry span then.
        if let Err(error) = span.set_parent(parent) {
            tracing::debug!(%error, "the invocation span has no OpenTelemetry parent");
        }
        let response = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        Box::pin(async move {
            let (result, outcome) = {
                let mut scoped = pin!(OUTCOME.scope(Cell::new(Outcome::NotCalled), response.instrument(span.clone())));
                let result = scoped.as_mut().await;
                (result, scoped.take_value().map_or(Outcome::NotCalled, Cell::into_inner))
            };
            let posted = Instant::now();
            let duration = posted - started;
            // The span ends with the response, so that it nests in its caller's; what follows is the telemetry's own
            // work (on a cold start, the metrics pipeline's set-up).
            let answered = close(span, request.as_ref(), outcome, duration);
            let init_duration = invoked_function_arn.and_then(|arn| telemetry.start_metrics(&arn));
            record_metrics(&telemetry, request.as_ref(), &answered, duration, coldstart, init_duration);
            telemetry.flush_after_invocation(posted).await;
            result
        })
    }
}

fn server_span(request: Option<&HttpRequest>, context: &lambda_runtime::Context, coldstart: bool) -> Span {
    let name = request.map_or_else(|| context.env_config.function_name.clone(), HttpRequest::span_name);
    let trigger = if request.is_some() { Trigger::Http } else { Trigger::Other };
    tracing::info_span!(
        "invocation",
        "otel.name" = name.as_str(),
        "otel.kind" = "server",
        "otel.status_code" = Empty,
        { HTTP_REQUEST_METHOD } = request.map(|request| request.method.as_str()),
        { HTTP_ROUTE } = request.and_then(|request| request.route.as_deref()),
        { URL_PATH } = request.and_then(|request| request.path.as_deref()),
        { URL_SCHEME } = request.and_then(|request| request.scheme.as_deref()),
        { USER_AGENT_ORIGINAL } = request.and_then(|request| request.user_agent.as_deref()),
        { CLIENT_ADDRESS } = request.and_then(|request| request.client_address.as_deref()),
        { FAAS_TRIGGER } = trigger.as_str(),
        { FAAS_INVOCATION_ID } = context.request_id.as_str(),
        { FAAS_COLDSTART } = coldstart,
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    )
}

/// How an invocation was answered, as its span recorded it.
struct Answered {
    status: Option<u16>,
    error_type: Option<Cow<'static, str>>,
    /// The span's ids, for the exemplar.
    span: SpanContext,
}

/// Records the outcome on `span` and logs the invocation's line inside it, then ends it: the span ends when its last
/// handle goes, now, so that this invocation's flush carries it.
fn close(span: Span, request: Option<&HttpRequest>, outcome: Outcome, duration: Duration) -> Answered {
    let status = match outcome {
        Outcome::Answered(status) if request.is_some() => Some(status),
        _ => None,
    };
    let error_type = error_type(request, outcome);
    if let Some(status) = status {
        span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status));
    }
    if let Some(error_type) = &error_type {
        span.record(ERROR_TYPE, error_type.as_ref());
        span.record("otel.status_code", "error");
    }
    // Microsecond precision: the float's last digits are noise.
    let duration_ms = (duration.as_secs_f64() * 1e6).round() / 1e3;
    span.in_scope(|| match request {
        Some(request) => tracing::info!(
            http.request.method = %request.method,
            http.route = request.route.as_deref(),
            http.response.status_code = status,
            error.type = error_type.as_deref(),
            duration_ms,
            "request answered"
        ),
        None => tracing::warn!(error.type = "invalid_event", duration_ms, "the event is not an API Gateway request"),
    });
    let span_context = span.context().span().span_context().clone();
    drop(span);
    Answered { status, error_type, span: span_context }
}

/// Every metric of the invocation, recorded after the response: only flushes read them, between invocations.
fn record_metrics(
    telemetry: &Telemetry,
    request: Option<&HttpRequest>,
    answered: &Answered,
    duration: Duration,
    coldstart: bool,
    init_duration: Option<Duration>,
) {
    let Answered { status, error_type, span } = answered;
    if let Some(request) = request {
        let failed = error_type.is_some();
        telemetry.record_emf(&emf::Invocation {
            method: &request.method,
            status: *status,
            failed,
            coldstart,
            duration,
        });
    }
    if !telemetry.exports_otlp_metrics() {
        return;
    }
    let trigger = if request.is_some() { Trigger::Http } else { Trigger::Other };
    if let Some(init_duration) = init_duration {
        metrics::coldstart(trigger, init_duration);
    }
    if let Some(request) = request {
        let route = request.route.as_deref();
        metrics::request_duration(&request.method, route, *status, error_type.as_deref(), duration);
        let mut series = vec![Attribute::Text(HTTP_REQUEST_METHOD, &request.method)];
        series.extend(route.map(|route| Attribute::Text(HTTP_ROUTE, route)));
        series.extend(status.map(|status| Attribute::Int(HTTP_RESPONSE_STATUS_CODE, i64::from(status))));
        series.extend(error_type.as_deref().map(|error| Attribute::Text(ERROR_TYPE, error)));
        telemetry.exemplar(&series, duration, span);
    }
    metrics::invocation(trigger, request.map(|request| request.method.as_str()), error_type.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{ExportFuture, Exporters};
    use crate::logs;
    use crate::settings::Settings;
    use hyper::body::Bytes;
    use lambda_http::lambda_runtime::Config;
    use lambda_http::{Body, service_fn};
    use opentelemetry::trace::{SpanKind, Status};
    use opentelemetry::{Key, Value};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::trace::SpanData;
    use std::sync::{Arc, Mutex};

    const SEED_POST: &str = include_str!("../tests/fixtures/api-gateway-seed-post.json");
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello";

    fn seed_event() -> serde_json::Value {
        serde_json::from_str(SEED_POST).unwrap()
    }

    #[test]
    fn what_the_telemetry_reads_from_an_api_gateway_event() {
        let mut event = seed_event();
        event["headers"]["User-Agent"] = "curl/8.5.0".into();
        event["headers"]["Traceparent"] = TRACEPARENT.into();
        // An escaped character cannot be borrowed: the value is copied, not rejected.
        let body = event.to_string().replace("curl/8.5.0", "curl\\/8.5.0");
        let parsed = ApiGatewayEvent::parse(body.as_bytes()).expect("an API Gateway event");
        assert_eq!(
            HttpRequest::from_event(&parsed),
            HttpRequest {
                method: "POST".into(),
                route: Some("/helloworld".into()),
                path: Some("/helloworld".into()),
                scheme: Some("http".into()),
                user_agent: Some("curl/8.5.0".into()),
                client_address: Some("127.0.0.1".into()),
            }
        );
        assert_eq!(Headers(&parsed.headers()).value("traceparent"), Some(TRACEPARENT));
        assert_eq!(HttpRequest::from_event(&parsed).span_name(), "POST /helloworld");
    }

    #[test]
    fn unusual_but_valid_events() {
        let mut event = seed_event();
        event["headers"] = serde_json::Value::Null;
        event["httpMethod"] = "brew".into();
        event["requestContext"] = serde_json::json!({});
        event.as_object_mut().unwrap().remove("resource");
        let body = event.to_string();
        let request = HttpRequest::from_event(&ApiGatewayEvent::parse(body.as_bytes()).unwrap());
        assert_eq!(request.span_name(), "_OTHER");
        assert_eq!((request.method.as_str(), request.route, request.client_address), ("_OTHER", None, None));
    }

    #[test]
    fn events_that_are_not_api_gateway_requests() {
        let not_utf8 = b"{\"httpMethod\":\"GET\",\"requestContext\":{},\"stageVariables\":\"\xff\"}";
        for body in [&br#"{"hello":"world"}"#[..], br#"{"httpMethod":"GET"}"#, b"not json", br#"[1, 2]"#, not_utf8] {
            assert!(ApiGatewayEvent::parse(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn error_types() {
        let request = HttpRequest {
            method: "GET".into(),
            route: None,
            path: None,
            scheme: None,
            user_agent: None,
            client_address: None,
        };
        let http = Some(&request);
        let cases: [(Option<&HttpRequest>, Outcome, Option<&str>); 8] = [
            (http, Outcome::Answered(200), None),
            (http, Outcome::Answered(404), None),
            (http, Outcome::Answered(500), Some("500")),
            (http, Outcome::Answered(503), Some("503")),
            (http, Outcome::Started, Some("panic")),
            (http, Outcome::Failed, Some("handler_error")),
            (http, Outcome::NotCalled, Some("invalid_event")),
            (None, Outcome::Answered(200), Some("invalid_event")),
        ];
        for (request, outcome, expected) in cases {
            assert_eq!(error_type(request, outcome).as_deref(), expected, "{outcome:?}");
        }
    }

    /// A collector that takes everything and remembers it.
    #[derive(Default)]
    struct Collector {
        spans: Mutex<Vec<SpanData>>,
        /// The metric names of each exported batch.
        metrics: Mutex<Vec<Vec<String>>>,
        resource: Mutex<Option<Resource>>,
    }

    impl Exporters for Arc<Collector> {
        fn export_spans(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
            self.spans.lock().unwrap().extend(batch);
            Box::pin(async { Ok(()) })
        }

        fn export_metrics<'a>(&'a self, batch: &'a ResourceMetrics) -> ExportFuture<'a> {
            let names = batch.scope_metrics().flat_map(|scope| scope.metrics()).map(|metric| metric.name().to_string());
            self.metrics.lock().unwrap().push(names.collect());
            Box::pin(async { Ok(()) })
        }

        fn set_resource(&mut self, resource: &Resource) {
            *self.resource.lock().unwrap() = Some(resource.clone());
        }
    }

    fn invocation(body: String, request_id: &str, runtime_trace_id: Option<&str>) -> LambdaInvocation {
        let config = Config { function_name: "hello".into(), ..Config::default() };
        let mut context = lambda_runtime::Context::default();
        context.request_id = request_id.into();
        context.invoked_function_arn = ARN.into();
        context.xray_trace_id = runtime_trace_id.map(str::to_string);
        context.env_config = Arc::new(config);
        let (parts, ()) = Response::new(()).into_parts();
        LambdaInvocation { parts, body: Bytes::from(body), context }
    }

    /// A handler that works in two spans of its own, as a function's handler does.
    async fn greet(request: Request) -> Result<Response<Body>, BoxError> {
        let _length = tracing::info_span!("decode body").in_scope(|| request.body().len());
        let greeting = tracing::info_span!("greeting").in_scope(|| "Good day".to_string());
        Ok(Response::new(Body::from(greeting)))
    }

    /// What the runtime's own service does with an invocation, down to the handler: `lambda_http` reads the event
    /// (and fails the invocation if it cannot), the wrapped handler answers.
    async fn runtime(invocation: LambdaInvocation) -> Result<(), BoxError> {
        let request = lambda_http::request::from_str(std::str::from_utf8(&invocation.body)?)?;
        let mut handler = RecordStatus::new(service_fn(greet));
        handler.call(request).await?;
        Ok(())
    }

    fn attribute(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
    }

    /// A collector that takes every export and never answers.
    struct Hanging;

    impl Exporters for Hanging {
        fn export_spans(&self, _batch: Vec<SpanData>) -> ExportFuture<'_> {
            Box::pin(std::future::pending())
        }

        fn export_metrics<'a>(&'a self, _batch: &'a ResourceMetrics) -> ExportFuture<'a> {
            Box::pin(std::future::pending())
        }

        fn set_resource(&mut self, _resource: &Resource) {}
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_collector_that_never_answers_leaves_the_wrap_up_of_the_flush_timeout() {
        let settings = Settings::parse(|name| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("hello".to_string()),
            "LAMBDA_OTEL_FLUSH_TIMEOUT_MS" => Some("100".to_string()),
            "OTEL_METRICS_EXPORTER" => Some("otlp".to_string()),
            _ => None,
        });
        let (telemetry, tracer) =
            Telemetry::start(settings.clone(), None, Box::new(Hanging), Default::default(), Instant::now());
        let _subscriber =
            tracing::subscriber::set_default(logs::subscriber(&settings, Some(tracer), vec![], std::io::sink));
        let mut service = telemetry.layer().layer(service_fn(runtime));
        let started = Instant::now();
        service.call(invocation(seed_event().to_string(), "request-1", None)).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(100) - crate::WRAP_UP);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_invocation_is_one_server_span_its_metrics_and_a_flush() {
        // Every invocation exported, to see each one's: the pacing of dense traffic is delivery.rs's to test.
        let settings = Settings::parse(|name| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("hello".to_string()),
            "LAMBDA_OTEL_EXPORT_INTERVAL_MS" | "LAMBDA_OTEL_METRICS_INTERVAL_MS" => Some("0".to_string()),
            // In Lambda without an endpoint the metrics would go to EMF lines on stdout: these are the OTLP ones.
            "OTEL_METRICS_EXPORTER" => Some("otlp".to_string()),
            _ => None,
        });
        let collector = Arc::new(Collector::default());
        let (telemetry, tracer) =
            Telemetry::start(settings.clone(), None, Box::new(collector.clone()), Default::default(), Instant::now());
        // The facade's recorder for this thread (the runtime is single-threaded), as `init` installs it globally.
        let recorder = metrics::FacadeRecorder::default();
        let _recorder = ::metrics::set_default_local_recorder(&recorder);
        telemetry.record_metrics_with(recorder.clone());
        let _subscriber =
            tracing::subscriber::set_default(logs::subscriber(&settings, Some(tracer), vec![], std::io::sink));
        let mut service = telemetry.layer().layer(service_fn(runtime));

        let mut event = seed_event();
        event["headers"]["traceparent"] = TRACEPARENT.into();
        service.call(invocation(event.to_string(), "request-1", None)).await.unwrap();

        // Flushed before the service returned: the runtime asks for the next event only then.
        let spans = std::mem::take(&mut *collector.spans.lock().unwrap());
        let server = spans.iter().find(|span| span.span_kind == SpanKind::Server).expect("a SERVER span");
        assert_eq!(server.name, "POST /helloworld");
        assert_eq!(server.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert!(server.parent_span_is_remote);
        for (key, value) in [
            ("http.request.method", Value::from("POST")),
            ("http.route", Value::from("/helloworld")),
            ("url.path", Value::from("/helloworld")),
            ("url.scheme", Value::from("http")),
            ("client.address", Value::from("127.0.0.1")),
            ("http.response.status_code", Value::I64(200)),
            ("faas.trigger", Value::from("http")),
            ("faas.invocation_id", Value::from("request-1")),
            ("faas.coldstart", Value::Bool(true)),
        ] {
            assert_eq!(attribute(server, key), Some(value), "{key}");
        }
        assert_eq!(attribute(server, "error.type"), None);
        assert_eq!(server.attributes.len(), 9, "docs/telemetry.md's attributes, no others: {:#?}", server.attributes);
        assert_eq!(server.status, Status::Unset);
        for name in ["decode body", "greeting"] {
            let child = spans.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("no {name:?} span"));
            assert_eq!(child.span_kind, SpanKind::Internal);
            assert_eq!(child.parent_span_id, server.span_context.span_id(), "{name}");
            assert!(child.attributes.is_empty(), "{name}: {:#?}", child.attributes);
        }
        assert_eq!(spans.len(), 3, "{spans:#?}");
        let resource = collector.resource.lock().unwrap().clone().expect("the resource, completed");
        assert_eq!(resource.get(&Key::from_static_str("cloud.account.id")), Some(Value::from("123456789012")));
        let batches = collector.metrics.lock().unwrap().clone();
        let [names] = &batches[..] else { panic!("metrics flushed with the spans: {batches:?}") };
        for name in ["http.server.request.duration", "faas.invocations", "faas.coldstarts", "faas.init_duration"] {
            assert!(names.iter().any(|exported| exported == name), "{name} in {names:?}");
        }

        // Not an API Gateway event: still a span, an error, named after the function.
        let runtime_parent = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
        let result = service.call(invocation(r#"{"hello":"world"}"#.into(), "request-2", Some(runtime_parent))).await;
        assert!(result.is_err(), "the runtime fails the invocation");
        let spans = std::mem::take(&mut *collector.spans.lock().unwrap());
        let [span] = &spans[..] else { panic!("{spans:#?}") };
        assert_eq!((span.name.as_ref(), span.span_kind.clone()), ("hello", SpanKind::Server));
        assert_eq!(attribute(span, "error.type"), Some(Value::from("invalid_event")));
        assert_eq!(attribute(span, "faas.trigger"), Some(Value::from("other")));
        assert_eq!(attribute(span, "faas.coldstart"), Some(Value::Bool(false)));
        assert_eq!(attribute(span, "http.request.method"), None);
        assert!(matches!(span.status, Status::Error { .. }), "{:?}", span.status);
        assert_eq!(span.span_context.trace_id().to_string(), "6759e988bd862e3fe1be46a994272794", "the runtime's");
        let batches = collector.metrics.lock().unwrap().clone();
        assert!(batches.last().is_some_and(|names| names.iter().any(|name| name == "faas.errors")), "{batches:?}");
    }
}
