//! The API Gateway REST (v1) proxy event for one request, following the rules of
//! docs/apigw-conformance.md (the tests are named after their numbers).
//!
//! Where a local gateway cannot be API Gateway, the event says what is true locally and the choice is written down here:
//! - `X-Forwarded-Proto` is `http`: the emulator listens on plain HTTP (API Gateway itself is HTTPS-only and says `https`).
//! - `requestContext.domainName` is the client's `Host` header as sent (port included, e.g. `localhost:8080`), so a
//!   function that builds absolute URLs from it gets ones that work locally; `localhost` when there is no `Host`.
//!   `domainPrefix` is its first label without the port.
//! - A body that is not valid UTF-8 and not of a binary media type is sent base64-encoded with `isBase64Encoded: true`:
//!   the event is JSON, so API Gateway can only carry such bytes that way (it would otherwise mangle them).
//! - A request without `Content-Type` matches only a `*/*` binary media type.
//! - With tracing on, the gateway's trace context travels as `traceparent` (W3C) besides `X-Amzn-Trace-Id`, both naming
//!   the gateway's `Lambda.Invoke` span as the caller and replacing any client value; real API Gateway adds only
//!   `X-Amzn-Trace-Id` (and passes a client's `traceparent` on untouched, as this gateway does with tracing off).
//!
//! Objects are `serde_json` maps, so keys serialize in sorted order rather than AWS's; no consumer depends on the order.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::http1::{Header, Request};
use crate::routes::RouteMatch;
use crate::telemetry::TraceHeaders;

/// The emulated API and stage, as they appear in `requestContext`.
#[derive(Debug, Clone)]
pub struct Api {
    /// `requestContext.apiId`, and the first label of the default domain name.
    pub api_id: String,
    /// `requestContext.accountId`.
    pub account_id: String,
    /// `requestContext.stage`, the first segment of every path.
    pub stage: String,
    /// `requestContext.deploymentId`.
    pub deployment_id: String,
    /// Content types (`image/png`, `image/*`, `*/*`) whose bodies travel base64-encoded, in both directions.
    pub binary_media_types: Vec<String>,
}

impl Api {
    /// Ten lowercase letters and digits, like API Gateway's ids (`apiId`, `deploymentId`).
    pub fn random_id() -> String {
        crate::random::uuid_v4().simple().to_string()[..10].to_string()
    }
}

/// What the gateway knows about one request besides its bytes.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// A fresh UUID: `requestContext.requestId`, and `x-amzn-RequestId` on the response.
    pub request_id: String,
    /// `requestContext.extendedRequestId`, and `x-amz-apigw-id` on the response.
    pub extended_request_id: String,
    /// When the request's head arrived: `requestContext.requestTime` and `requestTimeEpoch`.
    pub received_at: SystemTime,
    /// The client's address: `requestContext.identity.sourceIp` and `X-Forwarded-For`.
    pub source_ip: IpAddr,
    /// The port the client connected to (`X-Forwarded-Port`).
    pub local_port: u16,
    /// The trace headers the event carries.
    pub trace: TraceHeaders,
}

/// Request headers API Gateway never passes to the integration (docs/apigw-conformance.md, item 7), compared case-insensitively.
pub const DROPPED_HEADERS: [&str; 12] = [
    "Connection",
    "Content-Length",
    "Content-MD5",
    "Expect",
    "Max-Forwards",
    "Proxy-Authenticate",
    "Server",
    "TE",
    "Transfer-Encoding",
    "Trailer",
    "Upgrade",
    "WWW-Authenticate",
];

/// Headers API Gateway sets itself, replacing whatever the client sent under these names (in any casing).
const TRACE_ID: &str = "X-Amzn-Trace-Id";
const TRACEPARENT: &str = "traceparent";
const FORWARDED_FOR: &str = "X-Forwarded-For";
const FORWARDED_PORT: &str = "X-Forwarded-Port";
const FORWARDED_PROTO: &str = "X-Forwarded-Proto";

/// Builds the event as API Gateway would send it to the function.
pub fn build(request: &Request, route: &RouteMatch<'_>, api: &Api, meta: &RequestMeta) -> Value {
    let source_ip = meta.source_ip.to_canonical().to_string();
    let headers = event_headers(&request.headers, &source_ip, meta);
    let (query, multi_query) = query_maps(request.query());
    let (body, is_base64_encoded) = event_body(&request.body, last_value(&headers, "Content-Type"), api);

    let domain_name = match last_value(&headers, "Host").map(str::trim) {
        Some(host) if !host.is_empty() => host.to_string(),
        _ => "localhost".to_string(),
    };
    let received = meta.received_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let request_context = json!({
        "accountId": api.account_id,
        "apiId": api.api_id,
        "deploymentId": api.deployment_id,
        "domainName": domain_name,
        "domainPrefix": domain_prefix(&domain_name),
        "extendedRequestId": meta.extended_request_id,
        "httpMethod": request.method,
        // Exactly the keys AWS sends when the API has no mutual TLS, which is never the case here: `clientCert` comes
        // only with it (docs/apigw-conformance.md, item 33).
        "identity": {
            "accessKey": null,
            "accountId": null,
            "caller": null,
            "cognitoAuthenticationProvider": null,
            "cognitoAuthenticationType": null,
            "cognitoIdentityId": null,
            "cognitoIdentityPoolId": null,
            "principalOrgId": null,
            "sourceIp": source_ip,
            "user": null,
            "userAgent": last_value(&headers, "User-Agent"),
            "userArn": null,
        },
        "path": format!("/{}{}", api.stage, route.stage_path),
        "protocol": if request.minor_version == 0 { "HTTP/1.0" } else { "HTTP/1.1" },
        "requestId": meta.request_id,
        "requestTime": format_request_time(received.as_secs()),
        "requestTimeEpoch": u64::try_from(received.as_millis()).unwrap_or(u64::MAX),
        "resourceId": route.route.resource_id(),
        "resourcePath": route.route.resource(),
        "stage": api.stage,
    });

    json!({
        "resource": route.route.resource(),
        "path": route.path,
        "httpMethod": request.method,
        "headers": single_value_map(&headers),
        "multiValueHeaders": multi_value_map(&headers),
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters(&route.parameters),
        "stageVariables": null,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    })
}

/// `pathParameters`: the matched resource's variables with their values as sent, or null when it has none
/// (docs/apigw-conformance.md, items 9 and 29).
fn path_parameters(parameters: &[(&str, &str)]) -> Value {
    if parameters.is_empty() {
        return Value::Null;
    }
    Value::Object(parameters.iter().map(|(name, value)| ((*name).to_string(), Value::from(*value))).collect())
}

/// Whether a media type (a `Content-Type` or one `Accept` entry; parameters such as `charset` ignored) is one of the
/// API's binary media types. Entries may be exact (`image/png`), `type/*` or `*/*`; comparison is case-insensitive.
pub(crate) fn is_binary_media_type(media_type: &str, binary_media_types: &[String]) -> bool {
    let media_type = essence(media_type);
    let main_type = media_type.split_once('/').map(|(main, _)| main);
    binary_media_types.iter().any(|pattern| {
        let pattern = essence(pattern);
        match pattern.split_once('/') {
            Some(("*", "*")) => true,
            Some((pattern_main, "*")) => main_type == Some(pattern_main),
            _ => !pattern.is_empty() && pattern == media_type,
        }
    })
}

/// `Text/HTML; charset=utf-8` -> `text/html`.
fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Headers grouped by name compared case-insensitively, under the first casing seen, values in arrival order.
type HeaderGroups = Vec<(String, Vec<String>)>;

fn event_headers(headers: &[Header], source_ip: &str, meta: &RequestMeta) -> HeaderGroups {
    let mut groups: HeaderGroups = Vec::new();
    let mut client_forwarded_for: Vec<&str> = Vec::new();
    for header in headers {
        let name = header.name.as_str();
        if DROPPED_HEADERS.iter().any(|dropped| dropped.eq_ignore_ascii_case(name)) {
            continue;
        }
        if FORWARDED_FOR.eq_ignore_ascii_case(name) {
            client_forwarded_for.extend(header.value.split(',').map(str::trim).filter(|hop| !hop.is_empty()));
            continue;
        }
        if [TRACE_ID, FORWARDED_PORT, FORWARDED_PROTO].iter().any(|added| added.eq_ignore_ascii_case(name))
            || (meta.trace.traceparent.is_some() && TRACEPARENT.eq_ignore_ascii_case(name))
        {
            continue;
        }
        match groups.iter_mut().find(|(existing, _)| existing.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(header.value.clone()),
            None => groups.push((header.name.clone(), vec![header.value.clone()])),
        }
    }
    client_forwarded_for.push(source_ip);
    if let Some(traceparent) = &meta.trace.traceparent {
        groups.push((TRACEPARENT.to_string(), vec![traceparent.clone()]));
    }
    for (name, value) in [
        (TRACE_ID, meta.trace.xray.clone()),
        (FORWARDED_FOR, client_forwarded_for.join(", ")),
        (FORWARDED_PORT, meta.local_port.to_string()),
        (FORWARDED_PROTO, "http".to_string()),
    ] {
        groups.push((name.to_string(), vec![value]));
    }
    groups
}

fn last_value<'a>(groups: &'a HeaderGroups, name: &str) -> Option<&'a str> {
    groups
        .iter()
        .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
        .and_then(|(_, values)| values.last())
        .map(String::as_str)
}

/// The single-value map (last value wins), or null when there is nothing in it.
fn single_value_map(groups: &[(String, Vec<String>)]) -> Value {
    let map: Map<String, Value> =
        groups.iter().filter_map(|(name, values)| Some((name.clone(), Value::from(values.last()?.as_str())))).collect();
    if map.is_empty() { Value::Null } else { Value::Object(map) }
}

/// The multi-value map (every value, in order), or null when there is nothing in it.
fn multi_value_map(groups: &[(String, Vec<String>)]) -> Value {
    let map: Map<String, Value> =
        groups.iter().map(|(name, values)| (name.clone(), Value::from(values.clone()))).collect();
    if map.is_empty() { Value::Null } else { Value::Object(map) }
}

/// `queryStringParameters` and `multiValueQueryStringParameters`: decoded as a form (`+` is a space), keys
/// case-sensitive and in first-seen order, a key without `=` has the value `""`. Both null without parameters.
fn query_maps(query: Option<&str>) -> (Value, Value) {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match groups.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, values)) => values.push(value.into_owned()),
            None => groups.push((key.into_owned(), vec![value.into_owned()])),
        }
    }
    (single_value_map(&groups), multi_value_map(&groups))
}

/// `body` and `isBase64Encoded`.
fn event_body(body: &[u8], content_type: Option<&str>, api: &Api) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    if !is_binary_media_type(content_type.unwrap_or_default(), &api.binary_media_types)
        && let Ok(text) = std::str::from_utf8(body)
    {
        return (Value::from(text), false);
    }
    (Value::from(BASE64.encode(body)), true)
}

/// `localhost:8080` -> `localhost`, `abc123.execute-api.eu-west-1.amazonaws.com` -> `abc123`, `[::1]:8080` -> `[::1]`.
fn domain_prefix(domain_name: &str) -> &str {
    let host = match domain_name.find(']') {
        Some(end) if domain_name.starts_with('[') => &domain_name[..=end],
        _ => domain_name.split(':').next().unwrap_or_default(),
    };
    host.split('.').next().unwrap_or_default()
}

/// Seconds since the Unix epoch as API Gateway's `requestTime`: `20/Mar/2019:20:38:30 +0000` (always UTC).
fn format_request_time(unix_seconds: u64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, seconds_of_day) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[usize::try_from(month - 1).unwrap_or_default()],
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

/// Days since 1970-01-01 -> (year, month 1..=12, day 1..=31) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, restricted to dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01, the start of a 400-year era with leap day last
    let era = z / 146_097;
    let day_of_era = z % 146_097; // [0, 146096]
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365], from March
    let shifted_month = (5 * day_of_year + 2) / 153; // [0, 11], March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod route_tests;

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;
    use crate::routes::Route;

    pub(super) fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(name, value)| Header { name: name.to_string(), value: value.to_string() })
                .collect(),
            body: body.to_vec(),
        }
    }

    pub(super) fn api(binary_media_types: &[&str]) -> Api {
        Api {
            api_id: "abc123defg".into(),
            account_id: "123456789012".into(),
            stage: "test".into(),
            deployment_id: "dep001".into(),
            binary_media_types: binary_media_types.iter().map(ToString::to_string).collect(),
        }
    }

    pub(super) fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
            extended_request_id: "AbCdEfGhIjKlMnO=".into(),
            // 2019-03-20T20:38:30.123Z
            received_at: UNIX_EPOCH + Duration::from_millis(1_553_114_310_123),
            source_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            local_port: 8080,
            trace: TraceHeaders { xray: "Root=1-5c92a4a6-0123456789abcdef01234567".into(), traceparent: None },
        }
    }

    fn helloworld() -> Route {
        "ANY /helloworld".parse().unwrap()
    }

    /// The event for `request`, routed by the tutorial's table.
    fn event_with(request: &Request, api: &Api, meta: &RequestMeta) -> Value {
        let table = crate::routes::RouteTable::new("test", vec![helloworld()]).unwrap();
        let route = table.find(&request.method, request.path()).expect("the request reaches /helloworld");
        build(request, &route, api, meta)
    }

    fn event_of(request: &Request) -> Value {
        event_with(request, &api(&[]), &meta())
    }

    #[test]
    fn item_01_resource_path_and_stage() {
        let event = event_of(&request("POST", "/test/helloworld", &[("Host", "localhost:8080")], b"{}"));
        assert_eq!(event["resource"], "/helloworld");
        assert_eq!(event["path"], "/helloworld");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["requestContext"]["path"], "/test/helloworld");
        assert_eq!(event["requestContext"]["resourcePath"], "/helloworld");
        assert_eq!(event["requestContext"]["stage"], "test");
        assert_eq!(event["requestContext"]["httpMethod"], "POST");
    }

    #[test]
    fn item_04_trailing_slash_is_kept_in_both_paths() {
        let event = event_of(&request("GET", "/test/helloworld/", &[], b""));
        assert_eq!(event["resource"], "/helloworld");
        assert_eq!(event["path"], "/helloworld/");
        assert_eq!(event["requestContext"]["path"], "/test/helloworld/");
        assert_eq!(event["requestContext"]["resourcePath"], "/helloworld");
    }

    #[test]
    fn item_05_header_names_keep_the_client_casing() {
        let event = event_of(&request("GET", "/test/helloworld", &[("day", "Thursday"), ("X-CuStOm", "1")], b""));
        assert_eq!(event["headers"]["day"], "Thursday");
        assert_eq!(event["headers"]["X-CuStOm"], "1");
        assert_eq!(event["multiValueHeaders"]["X-CuStOm"], json!(["1"]));
        assert!(event["headers"].get("x-custom").is_none());
        assert!(event["headers"].get("Day").is_none());
    }

    #[test]
    fn item_06_repeated_headers_last_wins_and_all_listed_under_the_first_casing() {
        let headers = [("a", "1"), ("b", "x"), ("a", "2"), ("A", "3")];
        let event = event_of(&request("GET", "/test/helloworld", &headers, b""));
        assert_eq!(event["headers"]["a"], "3");
        assert_eq!(event["multiValueHeaders"]["a"], json!(["1", "2", "3"]));
        assert!(event["headers"].get("A").is_none());
        assert!(event["multiValueHeaders"].get("A").is_none());
        assert_eq!(event["multiValueHeaders"]["b"], json!(["x"]));
    }

    #[test]
    fn item_07_hop_by_hop_headers_are_dropped() {
        let dropped: Vec<(&str, &str)> = DROPPED_HEADERS.iter().map(|name| (*name, "v")).collect();
        let mut headers = dropped.clone();
        headers.extend([("connection", "close"), ("transfer-encoding", "chunked"), ("Accept", "*/*")]);
        let event = event_of(&request("POST", "/test/helloworld", &headers, b"x"));
        let names: Vec<&String> = event["headers"].as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["Accept", "X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"],
            "only the client's Accept and the gateway's own headers survive"
        );
        assert_eq!(event["multiValueHeaders"].as_object().unwrap().len(), 5);
    }

    #[test]
    fn item_07_gateway_headers_are_added() {
        let event = event_of(&request("GET", "/test/helloworld", &[("Host", "localhost:8080")], b""));
        let expected = json!({
            "Host": "localhost:8080",
            "X-Amzn-Trace-Id": "Root=1-5c92a4a6-0123456789abcdef01234567",
            "X-Forwarded-For": "192.0.2.7",
            "X-Forwarded-Port": "8080",
            "X-Forwarded-Proto": "http",
        });
        assert_eq!(event["headers"], expected);
        assert_eq!(event["multiValueHeaders"]["X-Forwarded-For"], json!(["192.0.2.7"]));
        assert_eq!(event["multiValueHeaders"]["X-Forwarded-Proto"], json!(["http"]));
    }

    #[test]
    fn item_07_gateway_headers_replace_the_clients_and_forwarded_for_is_appended_to() {
        let headers = [
            ("x-amzn-trace-id", "Root=client"),
            ("x-forwarded-for", "203.0.113.1"),
            ("X-Forwarded-For", "203.0.113.2, 203.0.113.3"),
            ("x-forwarded-port", "1"),
            ("X-FORWARDED-PROTO", "https"),
        ];
        let event = event_of(&request("GET", "/test/helloworld", &headers, b""));
        let expected = json!({
            "X-Amzn-Trace-Id": "Root=1-5c92a4a6-0123456789abcdef01234567",
            "X-Forwarded-For": "203.0.113.1, 203.0.113.2, 203.0.113.3, 192.0.2.7",
            "X-Forwarded-Port": "8080",
            "X-Forwarded-Proto": "http",
        });
        assert_eq!(event["headers"], expected);
        assert_eq!(
            event["multiValueHeaders"]["X-Forwarded-For"],
            json!(["203.0.113.1, 203.0.113.2, 203.0.113.3, 192.0.2.7"])
        );
    }

    #[test]
    fn item_07_a_traced_gateway_replaces_the_clients_traceparent_and_an_untraced_one_passes_it_on() {
        let headers = [("TraceParent", "00-client-a"), ("traceparent", "00-client-b"), ("X-Amzn-Trace-Id", "Root=c")];
        let request = request("GET", "/test/helloworld", &headers, b"");
        let mut traced = meta();
        traced.trace = TraceHeaders {
            xray: "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1".into(),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        let event = event_with(&request, &api(&[]), &traced);
        let names: Vec<&String> = event["headers"].as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "traceparent"]
        );
        assert_eq!(event["headers"]["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(event["multiValueHeaders"]["traceparent"], json!([traced.trace.traceparent]));
        assert_eq!(event["headers"]["X-Amzn-Trace-Id"], traced.trace.xray);
        assert_eq!(event["multiValueHeaders"]["X-Amzn-Trace-Id"], json!([traced.trace.xray]));

        let untraced = event_of(&request);
        assert_eq!(untraced["headers"]["TraceParent"], "00-client-b", "grouped under the first casing seen");
        assert_eq!(untraced["multiValueHeaders"]["TraceParent"], json!(["00-client-a", "00-client-b"]));
        assert!(untraced["headers"].get("traceparent").is_none());
    }

    #[test]
    fn item_07_ipv4_mapped_source_address_is_shown_as_ipv4() {
        let mut meta = meta();
        meta.source_ip = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let event = event_with(&request("GET", "/test/helloworld", &[], b""), &api(&[]), &meta);
        assert_eq!(event["headers"]["X-Forwarded-For"], "127.0.0.1");
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        meta.source_ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let event = event_with(&request("GET", "/test/helloworld", &[], b""), &api(&[]), &meta);
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "::1");
    }

    #[test]
    fn item_08_repeated_query_parameters() {
        let event = event_of(&request("GET", "/test/helloworld?a=1&b=x&a=2", &[], b""));
        assert_eq!(event["queryStringParameters"], json!({"a": "2", "b": "x"}));
        assert_eq!(event["multiValueQueryStringParameters"], json!({"a": ["1", "2"], "b": ["x"]}));

        let event = event_of(&request("GET", "/test/helloworld?x=1&x=&flag", &[], b""));
        assert_eq!(event["queryStringParameters"], json!({"x": "", "flag": ""}));
        assert_eq!(event["multiValueQueryStringParameters"], json!({"x": ["1", ""], "flag": [""]}));
    }

    #[test]
    fn item_08_query_keys_are_case_sensitive() {
        let event = event_of(&request("GET", "/test/helloworld?Name=A&name=b", &[], b""));
        assert_eq!(event["queryStringParameters"], json!({"Name": "A", "name": "b"}));
    }

    #[test]
    fn item_09_empty_maps_are_null() {
        for target in ["/test/helloworld", "/test/helloworld?", "/test/helloworld?&"] {
            let event = event_of(&request("GET", target, &[], b""));
            assert_eq!(event["queryStringParameters"], Value::Null, "{target}");
            assert_eq!(event["multiValueQueryStringParameters"], Value::Null, "{target}");
            assert_eq!(event["pathParameters"], Value::Null);
            assert_eq!(event["stageVariables"], Value::Null);
        }
        let object = event_of(&request("GET", "/test/helloworld", &[], b""));
        let object = object.as_object().unwrap();
        for key in ["queryStringParameters", "multiValueQueryStringParameters", "pathParameters", "stageVariables"] {
            assert!(object.contains_key(key), "{key} must be present (as null)");
        }
    }

    #[test]
    fn item_09_header_maps_are_null_when_empty() {
        assert_eq!(single_value_map(&[]), Value::Null);
        assert_eq!(multi_value_map(&[]), Value::Null);
    }

    #[test]
    fn item_10_query_is_decoded_fragment_dropped() {
        let event =
            event_of(&request("GET", "/test/helloworld?name=John+Smith&op=1%2B1&city=New%20York#frag", &[], b""));
        assert_eq!(event["queryStringParameters"], json!({"name": "John Smith", "op": "1+1", "city": "New York"}));
        assert_eq!(
            event["multiValueQueryStringParameters"],
            json!({"name": ["John Smith"], "op": ["1+1"], "city": ["New York"]})
        );
        assert_eq!(event["path"], "/helloworld");
    }

    #[test]
    fn item_10_path_is_not_decoded() {
        let table = crate::routes::RouteTable::new("test", vec!["ANY /{proxy+}".parse().unwrap()]).unwrap();
        let request = request("GET", "/test/hello%20world?q=a%20b", &[], b"");
        let event = build(&request, &table.find("GET", request.path()).unwrap(), &api(&[]), &meta());
        assert_eq!(event["path"], "/hello%20world");
        assert_eq!(event["requestContext"]["path"], "/test/hello%20world");
        assert_eq!(event["queryStringParameters"]["q"], "a b");
    }

    #[test]
    fn item_11_no_body_is_null_and_text_is_verbatim() {
        let event = event_of(&request("GET", "/test/helloworld", &[], b""));
        assert_eq!(event["body"], Value::Null);
        assert_eq!(event["isBase64Encoded"], false);

        let text = "{ \"time\": \"evening\" }\r\n  ünïcödé";
        let event =
            event_of(&request("POST", "/test/helloworld", &[("Content-Type", "application/json")], text.as_bytes()));
        assert_eq!(event["body"], text);
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn item_11_invalid_utf8_travels_base64() {
        let event = event_of(&request("POST", "/test/helloworld", &[("Content-Type", "text/plain")], b"\xff\xfeok"));
        assert_eq!(event["body"], "//5vaw==");
        assert_eq!(event["isBase64Encoded"], true);
    }

    #[test]
    fn item_12_binary_media_types_base64_the_body() {
        let body = b"\x89PNG\r\n\x1a\n";
        let cases: [(&[&str], Option<&str>, bool); 10] = [
            (&["image/png"], Some("image/png"), true),
            (&["image/png"], Some("IMAGE/PNG; charset=binary"), true),
            (&["image/*"], Some("image/png"), true),
            (&["*/*"], Some("application/json"), true),
            (&["*/*"], None, true),
            (&["image/png"], Some("image/jpeg"), false),
            (&["image/*"], Some("imagex/png"), false),
            (&["image/*"], None, false),
            (&[], Some("image/png"), false),
            (&["application/octet-stream", "image/png"], Some(" image/png ;q=1"), true),
        ];
        for (types, content_type, binary) in cases {
            let headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
            let text_body = b"plain text";
            let event = event_with(&request("POST", "/test/helloworld", &headers, text_body), &api(types), &meta());
            assert_eq!(event["isBase64Encoded"], binary, "{types:?} {content_type:?}");
            if binary {
                assert_eq!(event["body"], "cGxhaW4gdGV4dA==");
                let event = event_with(&request("POST", "/test/helloworld", &headers, body), &api(types), &meta());
                assert_eq!(event["body"], "iVBORw0KGgo=");
            } else {
                assert_eq!(event["body"], "plain text");
            }
        }
    }

    #[test]
    fn item_12_matcher() {
        let types = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(is_binary_media_type("image/png", &types(&["image/png"])));
        assert!(is_binary_media_type("Image/PNG", &types(&["image/png; x=y"])));
        assert!(is_binary_media_type("image/gif", &types(&["Image/*"])));
        assert!(is_binary_media_type("anything", &types(&["*/*"])));
        assert!(!is_binary_media_type("*/*", &types(&["image/png"])));
        assert!(!is_binary_media_type("image", &types(&["image/*"])));
        assert!(!is_binary_media_type("", &types(&["", "image/*"])));
        assert!(!is_binary_media_type("image/png", &[]));
    }

    #[test]
    fn item_13_request_context() {
        let headers = [("Host", "localhost:8080"), ("User-Agent", "curl/8.5.0")];
        let event = event_of(&request("POST", "/test/helloworld", &headers, b"{}"));
        let expected = json!({
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "deploymentId": "dep001",
            "domainName": "localhost:8080",
            "domainPrefix": "localhost",
            "extendedRequestId": "AbCdEfGhIjKlMnO=",
            "httpMethod": "POST",
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": "192.0.2.7",
                "user": null,
                "userAgent": "curl/8.5.0",
                "userArn": null,
            },
            "path": "/test/helloworld",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "20/Mar/2019:20:38:30 +0000",
            "requestTimeEpoch": 1_553_114_310_123_u64,
            "resourceId": helloworld().resource_id(),
            "resourcePath": "/helloworld",
            "stage": "test",
        });
        assert_eq!(event["requestContext"], expected);
    }

    #[test]
    fn item_13_request_id_and_time_come_fresh_from_meta() {
        let mut later = meta();
        later.request_id = "0d5b7a2e-0000-4000-8000-000000000001".into();
        later.extended_request_id = "ZyXwVuTsRqPoNmL=".into();
        later.received_at = UNIX_EPOCH + Duration::from_millis(1_709_251_199_999); // 2024-02-29T23:59:59.999Z
        let first = event_of(&request("GET", "/test/helloworld", &[], b""));
        let second = event_with(&request("GET", "/test/helloworld", &[], b""), &api(&[]), &later);
        assert_eq!(first["requestContext"]["requestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
        assert_eq!(second["requestContext"]["requestId"], "0d5b7a2e-0000-4000-8000-000000000001");
        assert_eq!(second["requestContext"]["extendedRequestId"], "ZyXwVuTsRqPoNmL=");
        assert_eq!(second["requestContext"]["requestTime"], "29/Feb/2024:23:59:59 +0000");
        assert_eq!(second["requestContext"]["requestTimeEpoch"], 1_709_251_199_999_u64);
    }

    #[test]
    fn item_13_defaults_without_host_or_user_agent_and_http_1_0() {
        let mut request = request("GET", "/test/helloworld", &[], b"");
        request.minor_version = 0;
        let event = event_of(&request);
        assert_eq!(event["requestContext"]["domainName"], "localhost");
        assert_eq!(event["requestContext"]["domainPrefix"], "localhost");
        assert_eq!(event["requestContext"]["identity"]["userAgent"], Value::Null);
        assert_eq!(event["requestContext"]["protocol"], "HTTP/1.0");
    }

    #[test]
    fn item_13_domain_prefix() {
        assert_eq!(domain_prefix("abc123.execute-api.eu-west-1.amazonaws.com"), "abc123");
        assert_eq!(domain_prefix("localhost:8080"), "localhost");
        assert_eq!(domain_prefix("127.0.0.1:8080"), "127");
        assert_eq!(domain_prefix("[::1]:8080"), "[::1]");
        assert_eq!(domain_prefix("localhost"), "localhost");
    }

    #[test]
    fn item_13_request_time_format() {
        assert_eq!(format_request_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(format_request_time(1_553_114_310), "20/Mar/2019:20:38:30 +0000");
        assert_eq!(format_request_time(951_782_400), "29/Feb/2000:00:00:00 +0000"); // divisible by 400: leap
        assert_eq!(format_request_time(951_868_800), "01/Mar/2000:00:00:00 +0000");
        assert_eq!(format_request_time(1_709_164_800), "29/Feb/2024:00:00:00 +0000");
        assert_eq!(format_request_time(1_709_251_200), "01/Mar/2024:00:00:00 +0000");
        assert_eq!(format_request_time(1_677_628_799), "28/Feb/2023:23:59:59 +0000");
        assert_eq!(format_request_time(1_677_628_800), "01/Mar/2023:00:00:00 +0000");
        assert_eq!(format_request_time(1_735_689_599), "31/Dec/2024:23:59:59 +0000");
        assert_eq!(format_request_time(4_107_542_400), "01/Mar/2100:00:00:00 +0000"); // 2100: no leap day
    }

    #[test]
    fn item_13_civil_from_days_matches_a_calendar_walked_day_by_day() {
        // Every day from 1970-01-01 to 2400-12-31: covers 100-year (2100, 2200, 2300) and 400-year (2000, 2400) rules.
        let is_leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let (mut year, mut month, mut day) = (1970, 1, 1);
        let mut days = 0;
        while year <= 2400 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let month_length = match month {
                2 if is_leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            days += 1;
            day += 1;
            if day > month_length {
                (day, month) = (1, month + 1);
                if month > 12 {
                    (month, year) = (1, year + 1);
                }
            }
        }
        assert_eq!(days, 431 * 365 + 105, "431 years of which 105 leap");
    }
}
