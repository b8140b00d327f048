//! The function's proxy output mapped back to HTTP, with API Gateway's rules for what is malformed.
//!
//! Decisions where API Gateway's behaviour is not pinned by docs/apigw-conformance.md:
//! - Headers are sent in the order the function wrote them: every `headers` entry first, then every
//!   `multiValueHeaders` value (the order of the fields in AWS's documented output format). A name present in both is
//!   sent with all of its values, even identical ones, as API Gateway does.
//! - `Connection`, `Content-Length`, `Date` and `Transfer-Encoding` from the function would clash with the framing
//!   the gateway writes itself; like API Gateway they are passed on renamed `x-amzn-Remapped-{name}`.
//! - A header name that is not an HTTP token, or a value with CR, LF or NUL, cannot be written safely: the output is
//!   rejected like any other malformed output (502) rather than sent or silently dropped.
//! - `statusCode` must be an integer (`201`) or a string of digits (`"201"`) in 100..=599; `201.0` is rejected.
//! - A base64 body is decoded with or without `=` padding; any other deviation from the standard alphabet is a 502.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use crate::event::{Api, is_binary_media_type};
use crate::gateway_response::GatewayResponse;
use crate::http1::Response;

/// Maps a proxy integration output (`statusCode`, `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`) to the
/// response the client gets. Anything API Gateway would reject is [`GatewayResponse::IntegrationFailure`].
/// `accept` is the client's `Accept` header, which decides whether a base64 body is decoded.
///
/// # Errors
/// [`GatewayResponse::IntegrationFailure`] for output that is not a JSON object, has a field other than the five,
/// a field of the wrong type, a status outside 100..=599, a header that cannot be written, or invalid base64 that
/// had to be decoded.
pub fn map_output(output: &[u8], accept: Option<&str>, api: &Api) -> Result<Response, GatewayResponse> {
    const MALFORMED: GatewayResponse = GatewayResponse::IntegrationFailure;

    // serde would also read a JSON array positionally into the struct; only an object is a proxy output.
    if output.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(MALFORMED);
    }
    let output: ProxyOutput = serde_json::from_slice(output).map_err(|_| MALFORMED)?;

    let status = status_code(&output.status_code).ok_or(MALFORMED)?;

    let mut headers = Vec::new();
    for (name, value) in output.headers.unwrap_or_default().0 {
        if let Some(value) = header_value(&value)? {
            headers.push(checked_header(name, value).ok_or(MALFORMED)?);
        }
    }
    for (name, values) in output.multi_value_headers.unwrap_or_default().0 {
        let Value::Array(values) = values else { return Err(MALFORMED) };
        for value in &values {
            if let Some(value) = header_value(value)? {
                headers.push(checked_header(name.clone(), value).ok_or(MALFORMED)?);
            }
        }
    }
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("Content-Type")) {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
    }

    let body = match output.body {
        Value::Null => String::new(),
        Value::String(body) => body,
        _ => return Err(MALFORMED),
    };
    let is_base64_encoded = match output.is_base64_encoded {
        Value::Null => false,
        Value::Bool(flag) => flag,
        _ => return Err(MALFORMED),
    };
    let body = if is_base64_encoded && wants_binary(accept, api) {
        BASE64_ANY_PADDING.decode(body.as_bytes()).map_err(|_| MALFORMED)?
    } else {
        body.into_bytes()
    };

    Ok(Response { status, headers, body })
}

/// The five fields of a proxy output; any other field is an error (`deny_unknown_fields`). Missing fields are null.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProxyOutput {
    #[serde(default)]
    status_code: Value,
    #[serde(default)]
    headers: Option<OrderedObject>,
    #[serde(default)]
    multi_value_headers: Option<OrderedObject>,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    is_base64_encoded: Value,
}

/// A JSON object with its entries in document order (a `serde_json::Map` would sort them).
#[derive(Default)]
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedObjectVisitor;

        impl<'de> Visitor<'de> for OrderedObjectVisitor {
            type Value = OrderedObject;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedObject(entries))
            }
        }

        deserializer.deserialize_map(OrderedObjectVisitor)
    }
}

/// `statusCode`: absent or null is 200; an integer or a string of digits in 100..=599.
fn status_code(value: &Value) -> Option<u16> {
    let code = match value {
        Value::Null => return Some(200),
        Value::Number(number) => number.as_u64()?,
        Value::String(text) if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) => {
            text.parse().ok()?
        }
        _ => return None,
    };
    u16::try_from(code).ok().filter(|code| (100..=599).contains(code))
}

/// A header value as text: strings as they are, numbers and booleans as their JSON text, null as no header;
/// objects and arrays are malformed.
fn header_value(value: &Value) -> Result<Option<String>, GatewayResponse> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Number(_) | Value::Bool(_) => Ok(Some(value.to_string())),
        Value::Array(_) | Value::Object(_) => Err(GatewayResponse::IntegrationFailure),
    }
}

/// Response headers the gateway writes itself, passed on under another name as API Gateway does.
const REMAPPED_HEADERS: [&str; 4] = ["Connection", "Content-Length", "Date", "Transfer-Encoding"];

/// The header as it will be written, or `None` when it cannot be written safely.
fn checked_header(name: String, value: String) -> Option<(String, String)> {
    const TOKEN_SYMBOLS: &[u8] = b"!#$%&'*+-.^_`|~";
    let is_token =
        !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || TOKEN_SYMBOLS.contains(&byte));
    if !is_token || value.contains(['\r', '\n', '\0']) {
        return None;
    }
    if REMAPPED_HEADERS.iter().any(|remapped| remapped.eq_ignore_ascii_case(&name)) {
        return Some((format!("x-amzn-Remapped-{name}"), value));
    }
    Some((name, value))
}

/// Whether a base64 body is decoded: the API has binary media types and the client's first `Accept` type is one.
fn wants_binary(accept: Option<&str>, api: &Api) -> bool {
    let Some(first) = accept.and_then(|accept| accept.split(',').next()) else { return false };
    !api.binary_media_types.is_empty() && is_binary_media_type(first, &api.binary_media_types)
}

/// The standard alphabet, padding optional.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn api(binary_media_types: &[&str]) -> Api {
        Api {
            api_id: "abc123defg".into(),
            account_id: "123456789012".into(),
            stage: "test".into(),
            deployment_id: "dep001".into(),
            binary_media_types: binary_media_types.iter().map(ToString::to_string).collect(),
        }
    }

    fn map(output: &str) -> Result<Response, GatewayResponse> {
        map_output(output.as_bytes(), None, &api(&[]))
    }

    #[allow(clippy::needless_pass_by_value)] // called with `json!(...)` temporaries
    fn map_json(output: Value) -> Result<Response, GatewayResponse> {
        map(&output.to_string())
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    const FAILED: Result<Response, GatewayResponse> = Err(GatewayResponse::IntegrationFailure);

    #[test]
    fn the_tutorial_output() {
        let output = r#"{
            "statusCode": 200,
            "headers": {"x-custom-header": "my custom header value", "Content-Type": "application/json"},
            "body": "{\"greeting\":\"Good evening, John of Seattle. Happy Thursday!\"}"
        }"#;
        let response = map(output).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.headers,
            headers(&[("x-custom-header", "my custom header value"), ("Content-Type", "application/json")])
        );
        assert_eq!(response.body, b"{\"greeting\":\"Good evening, John of Seattle. Happy Thursday!\"}");
    }

    #[test]
    fn item_14_only_the_five_fields_are_allowed() {
        assert_eq!(map_json(json!({"statusCode": 200, "body": "", "extra": 1})), FAILED);
        assert_eq!(map_json(json!({"statusCode": 200, "Body": "x"})), FAILED);
        assert_eq!(map_json(json!({"errorMessage": "boom", "errorType": "Error"})), FAILED);
        let all_null = json!({
            "statusCode": null, "headers": null, "multiValueHeaders": null, "body": null, "isBase64Encoded": null,
        });
        let response = map_json(all_null).unwrap();
        assert_eq!((response.status, response.body.len()), (200, 0));
    }

    #[test]
    fn item_14_duplicate_fields_are_malformed() {
        assert_eq!(map(r#"{"statusCode": 200, "statusCode": 201}"#), FAILED);
    }

    #[test]
    fn item_15_output_must_be_a_json_object() {
        for output in
            ["", "   ", "not json", "\"hello\"", "42", "null", "true", "[200, null, null, \"x\", false]", "[]"]
        {
            assert_eq!(map(output), FAILED, "{output:?}");
        }
        assert_eq!(map(r#"{"statusCode": 200"#), FAILED, "truncated");
        assert_eq!(map(r#"{"statusCode": 200} trailing"#), FAILED, "trailing bytes");
        assert_eq!(map_output(b"{\"body\": \"\xff\"}", None, &api(&[])), FAILED, "invalid UTF-8");
        assert!(map(" \n{}\n").is_ok(), "whitespace around the object is fine");
    }

    #[test]
    fn item_16_status_code() {
        let status = |output: Value| map_json(output).map(|response| response.status);
        assert_eq!(status(json!({})), Ok(200));
        assert_eq!(status(json!({"statusCode": null})), Ok(200));
        assert_eq!(status(json!({"statusCode": 201})), Ok(201));
        assert_eq!(status(json!({"statusCode": "201"})), Ok(201));
        assert_eq!(status(json!({"statusCode": 100})), Ok(100));
        assert_eq!(status(json!({"statusCode": 599})), Ok(599));
        for bad in [json!("test"), json!(700), json!(99), json!(600), json!(-200), json!(201.5), json!(201.0)] {
            assert_eq!(status(json!({"statusCode": bad})), Err(GatewayResponse::IntegrationFailure), "{bad}");
        }
        for bad in [json!(""), json!(" 201"), json!("+201"), json!("2e2"), json!(true), json!([200]), json!({})] {
            assert_eq!(status(json!({"statusCode": bad})), Err(GatewayResponse::IntegrationFailure), "{bad}");
        }
        assert_eq!(status(json!({"statusCode": 99_999_999_999_u64})), Err(GatewayResponse::IntegrationFailure));
    }

    #[test]
    fn item_16_headers_alone_is_200_with_an_empty_body() {
        let response = map_json(json!({"headers": {}})).unwrap();
        assert_eq!(
            response,
            Response { status: 200, headers: headers(&[("Content-Type", "application/json")]), body: vec![] }
        );
    }

    #[test]
    fn item_17_header_values() {
        let output = json!({"headers": {"a": "text", "b": true, "c": false, "d": 12, "e": 1.5, "f": null, "g": ""}});
        let response = map_json(output).unwrap();
        assert_eq!(
            response.headers,
            headers(&[
                ("a", "text"),
                ("b", "true"),
                ("c", "false"),
                ("d", "12"),
                ("e", "1.5"),
                ("g", ""),
                ("Content-Type", "application/json"),
            ])
        );
        assert_eq!(map_json(json!({"headers": {"a": {"b": 1}}})), FAILED);
        assert_eq!(map_json(json!({"headers": {"a": ["1"]}})), FAILED);
        assert_eq!(map_json(json!({"headers": "a: 1"})), FAILED);
        assert_eq!(map_json(json!({"headers": ["a"]})), FAILED);
    }

    #[test]
    fn item_17_null_header_maps_are_fine() {
        let response = map_json(json!({"statusCode": 204, "headers": null, "multiValueHeaders": null})).unwrap();
        assert_eq!(response.status, 204);
        assert_eq!(response.headers, headers(&[("Content-Type", "application/json")]));
    }

    #[test]
    fn item_17_multi_value_headers() {
        let output = json!({"multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-N": [1, true, null], "X-E": []}});
        let response = map_json(output).unwrap();
        assert_eq!(
            response.headers,
            headers(&[
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("X-N", "1"),
                ("X-N", "true"),
                ("Content-Type", "application/json"),
            ])
        );
        for bad in [json!("a=1"), json!(1), json!(null), json!({"a": "1"}), json!([["nested"]]), json!([{"a": 1}])] {
            assert_eq!(map_json(json!({"multiValueHeaders": {"Set-Cookie": bad}})), FAILED, "{bad}");
        }
        assert_eq!(map_json(json!({"multiValueHeaders": ["Set-Cookie"]})), FAILED);
    }

    #[test]
    fn item_17_headers_keep_the_functions_order_and_casing() {
        let output = r#"{"headers": {"zeta": "1", "Alpha": "2", "MIDDLE": "3"}}"#;
        let response = map(output).unwrap();
        assert_eq!(
            response.headers,
            headers(&[("zeta", "1"), ("Alpha", "2"), ("MIDDLE", "3"), ("Content-Type", "application/json")])
        );
    }

    #[test]
    fn item_17_unwritable_headers_are_malformed() {
        assert_eq!(map_json(json!({"headers": {"a": "1\r\nInjected: yes"}})), FAILED);
        assert_eq!(map_json(json!({"headers": {"a": "1\n"}})), FAILED);
        assert_eq!(map_json(json!({"headers": {"bad name": "1"}})), FAILED);
        assert_eq!(map_json(json!({"headers": {"": "1"}})), FAILED);
        assert_eq!(map_json(json!({"headers": {"a:b": "1"}})), FAILED);
        assert_eq!(map_json(json!({"multiValueHeaders": {"a": ["ok", "x\ry"]}})), FAILED);
        let response = map_json(json!({"headers": {"X-Ok_1.~": "tab\tand ünïcode"}})).unwrap();
        assert_eq!(response.headers[0], ("X-Ok_1.~".to_string(), "tab\tand ünïcode".to_string()));
    }

    #[test]
    fn item_17_framing_headers_are_remapped() {
        let output = r#"{
            "headers": {"Content-Length": 3, "connection": "close", "Date": "yesterday", "Transfer-Encoding": "chunked"},
            "body": "abc"
        }"#;
        let response = map(output).unwrap();
        assert_eq!(
            response.headers,
            headers(&[
                ("x-amzn-Remapped-Content-Length", "3"),
                ("x-amzn-Remapped-connection", "close"),
                ("x-amzn-Remapped-Date", "yesterday"),
                ("x-amzn-Remapped-Transfer-Encoding", "chunked"),
                ("Content-Type", "application/json"),
            ])
        );
    }

    #[test]
    fn item_18_same_name_in_both_maps_sends_every_value() {
        // Written multiValueHeaders first: the headers map still comes first in the response.
        let output = r#"{
            "multiValueHeaders": {"x-both": ["m1", "single"], "X-Only-Multi": ["z"]},
            "headers": {"X-Both": "single", "Content-Type": "text/plain"}
        }"#;
        let response = map(output).unwrap();
        assert_eq!(
            response.headers,
            headers(&[
                ("X-Both", "single"),
                ("Content-Type", "text/plain"),
                ("x-both", "m1"),
                ("x-both", "single"),
                ("X-Only-Multi", "z"),
            ])
        );
    }

    #[test]
    fn item_19_content_type_defaults_to_json() {
        let response = map_json(json!({"body": "hi"})).unwrap();
        assert_eq!(response.headers, headers(&[("Content-Type", "application/json")]));
        for output in [
            json!({"headers": {"content-type": "text/html"}}),
            json!({"multiValueHeaders": {"CONTENT-TYPE": ["text/html"]}}),
        ] {
            let response = map_json(output).unwrap();
            assert_eq!(response.headers.len(), 1, "no default added next to the function's own");
            assert_eq!(response.headers[0].1, "text/html");
        }
        let response = map_json(json!({"headers": {"Content-Type": null}})).unwrap();
        assert_eq!(response.headers, headers(&[("Content-Type", "application/json")]), "a null value is no header");
    }

    #[test]
    fn item_19_body_must_be_a_string() {
        let response = map_json(json!({"body": "{\"a\": 1} ünï"})).unwrap();
        assert_eq!(response.body, "{\"a\": 1} ünï".as_bytes());
        for bad in [json!({"a": 1}), json!([1]), json!(1), json!(true)] {
            assert_eq!(map_json(json!({"body": bad})), FAILED, "{bad}");
        }
    }

    #[test]
    fn item_20_base64_is_decoded_only_for_a_binary_accept() {
        let output = json!({"headers": {"Content-Type": "image/png"}, "body": "iVBORw0KGgo=", "isBase64Encoded": true});
        let output = output.to_string();
        let png = b"\x89PNG\r\n\x1a\n".to_vec();
        let body =
            |accept: Option<&str>, types: &[&str]| map_output(output.as_bytes(), accept, &api(types)).unwrap().body;

        assert_eq!(body(Some("image/png"), &["image/png"]), png);
        assert_eq!(body(Some("image/png, text/html;q=0.9"), &["image/*"]), png);
        assert_eq!(body(Some("IMAGE/PNG;q=1"), &["image/png"]), png);
        assert_eq!(body(Some("*/*"), &["*/*"]), png);
        assert_eq!(body(Some("application/json"), &["*/*"]), png);

        let encoded = b"iVBORw0KGgo=".to_vec();
        assert_eq!(body(Some("image/png"), &[]), encoded, "no binary media types");
        assert_eq!(body(None, &["image/png"]), encoded, "no Accept");
        assert_eq!(body(Some("*/*"), &["image/png"]), encoded, "a wildcard Accept is not a binary type");
        assert_eq!(body(Some("text/html, image/png"), &["image/png"]), encoded, "only the first Accept type counts");
        assert_eq!(body(Some("image/jpeg"), &["image/png"]), encoded);
    }

    #[test]
    fn item_20_base64_flag_false_or_absent_sends_the_text() {
        let types = api(&["*/*"]);
        for output in [
            json!({"body": "aGk=", "isBase64Encoded": false}),
            json!({"body": "aGk="}),
            json!({"body": "aGk=", "isBase64Encoded": null}),
        ] {
            let response = map_output(output.to_string().as_bytes(), Some("*/*"), &types).unwrap();
            assert_eq!(response.body, b"aGk=");
        }
        let response = map_output(br#"{"body": "aGk", "isBase64Encoded": true}"#, Some("*/*"), &types).unwrap();
        assert_eq!(response.body, b"hi", "padding is optional");
        let response = map_output(br#"{"isBase64Encoded": true}"#, Some("*/*"), &types).unwrap();
        assert_eq!(response.body, b"", "no body decodes to nothing");
    }

    #[test]
    fn item_20_invalid_base64_or_flag_is_malformed() {
        let types = api(&["*/*"]);
        for output in
            [r#"{"body": "not base64!", "isBase64Encoded": true}"#, r#"{"body": "aGk=\n", "isBase64Encoded": true}"#]
        {
            assert_eq!(map_output(output.as_bytes(), Some("*/*"), &types), FAILED, "{output}");
        }
        assert_eq!(
            map_output(br#"{"body": "not base64!", "isBase64Encoded": true}"#, Some("text/html"), &api(&["image/png"]))
                .unwrap()
                .body,
            b"not base64!",
            "not decoded, so not checked"
        );
        for flag in [json!("true"), json!(1), json!([])] {
            assert_eq!(map_json(json!({"body": "x", "isBase64Encoded": flag})), FAILED, "{flag}");
        }
    }
}
