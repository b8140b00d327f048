//! The OpenTelemetry resource: what every span and metric says about the process that produced it.
//!
//! `cloud.account.id` is not in Lambda's environment variables. The function learns it from the ARN of its first
//! invocation (`Lambda-Runtime-Invoked-Function-Arn`), so the resource is built twice: without the account at start-up,
//! and complete at the first invocation, before anything has been exported (see `Telemetry::start_metrics`).

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_semantic_conventions::attribute::{
    CLOUD_ACCOUNT_ID, CLOUD_PLATFORM, CLOUD_PROVIDER, CLOUD_REGION, FAAS_INSTANCE, FAAS_MAX_MEMORY, FAAS_NAME,
    FAAS_VERSION, SERVICE_VERSION,
};

use crate::settings::Settings;

/// The resource of this process; its `service_version` and `account_id` when they are known.
///
/// `OTEL_RESOURCE_ATTRIBUTES` override what the function detects (the operator's word is final), and the service
/// name resolved by [`Settings`] overrides both.
pub(crate) fn resource(settings: &Settings, service_version: Option<&str>, account_id: Option<&str>) -> Resource {
    let lambda = &settings.lambda;
    let optional = |key: &'static str, value: Option<&str>| value.map(|value| KeyValue::new(key, value.to_string()));
    let detected = [
        optional(SERVICE_VERSION, service_version),
        Some(KeyValue::new(CLOUD_PROVIDER, "aws")),
        Some(KeyValue::new(CLOUD_PLATFORM, "aws_lambda")),
        optional(CLOUD_REGION, lambda.region.as_deref()),
        optional(CLOUD_ACCOUNT_ID, account_id),
        optional(FAAS_NAME, lambda.function_name.as_deref()),
        optional(FAAS_VERSION, lambda.function_version.as_deref()),
        optional(FAAS_INSTANCE, lambda.log_stream.as_deref()),
        // Bytes, as an int: the semantic conventions' unit, where Lambda's variable counts MiB.
        lambda
            .memory_mb
            .and_then(|mb| i64::try_from(mb.checked_mul(1024 * 1024)?).ok())
            .map(|bytes| KeyValue::new(FAAS_MAX_MEMORY, bytes)),
    ];
    let configured =
        settings.otlp.resource_attributes.iter().map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(detected.into_iter().flatten())
        .with_attributes(configured)
        .with_service_name(settings.service_name.clone())
        .build()
}

/// The account in a Lambda function ARN, `arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}]`.
pub(crate) fn account_id(invoked_function_arn: &str) -> Option<&str> {
    let mut parts = invoked_function_arn.split(':');
    let (Some("arn"), Some(_partition), Some("lambda"), Some(_region), Some(account)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    (account.len() == 12 && account.bytes().all(|byte| byte.is_ascii_digit())).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: Option<&str> = Some(env!("CARGO_PKG_VERSION"));
    use opentelemetry::{Key, Value};
    use std::collections::HashMap;

    fn settings(variables: &[(&str, &str)]) -> Settings {
        let variables: HashMap<&str, &str> = variables.iter().copied().collect();
        Settings::parse(|name| variables.get(name).map(|value| value.to_string()))
    }

    fn get(resource: &Resource, key: &'static str) -> Option<Value> {
        resource.get(&Key::from_static_str(key))
    }

    const LAMBDA: [(&str, &str); 5] = [
        ("AWS_LAMBDA_FUNCTION_NAME", "hello"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]0123"),
    ];

    #[test]
    fn a_lambda_function_with_its_account() {
        let resource = resource(&settings(&LAMBDA), VERSION, Some("123456789012"));
        let text = |value: &str| Some(Value::from(value.to_string()));
        assert_eq!(get(&resource, "service.name"), text("hello"));
        assert_eq!(get(&resource, "service.version"), text(env!("CARGO_PKG_VERSION")));
        assert_eq!(get(&resource, "cloud.provider"), text("aws"));
        assert_eq!(get(&resource, "cloud.platform"), text("aws_lambda"));
        assert_eq!(get(&resource, "cloud.region"), text("us-east-1"));
        assert_eq!(get(&resource, "cloud.account.id"), text("123456789012"));
        assert_eq!(get(&resource, "faas.name"), text("hello"));
        assert_eq!(get(&resource, "faas.version"), text("$LATEST"));
        assert_eq!(get(&resource, "faas.instance"), text("2026/11/24/[$LATEST]0123"));
        assert_eq!(get(&resource, "faas.max_memory"), Some(Value::I64(128 * 1024 * 1024)));
        assert_eq!(get(&resource, "telemetry.sdk.language"), text("rust"));
    }

    #[test]
    fn what_is_unknown_is_left_out() {
        let resource = resource(&settings(&[]), VERSION, None);
        for key in ["cloud.region", "cloud.account.id", "faas.name", "faas.version", "faas.instance", "faas.max_memory"]
        {
            assert_eq!(get(&resource, key), None, "{key}");
        }
        assert_eq!(get(&resource, "cloud.provider"), Some(Value::from("aws")));
    }

    #[test]
    fn resource_attributes_override_detection_and_the_service_name_overrides_all() {
        let mut variables = LAMBDA.to_vec();
        variables.push(("OTEL_RESOURCE_ATTRIBUTES", "cloud.region=eu-west-1,service.name=attr,team=a"));
        variables.push(("OTEL_SERVICE_NAME", "svc"));
        let resource = resource(&settings(&variables), VERSION, None);
        assert_eq!(get(&resource, "cloud.region"), Some(Value::from("eu-west-1")));
        assert_eq!(get(&resource, "team"), Some(Value::from("a")));
        assert_eq!(get(&resource, "service.name"), Some(Value::from("svc")));
    }

    #[test]
    fn account_ids_from_function_arns() {
        let cases = [
            ("arn:aws:lambda:us-east-1:123456789012:function:hello", Some("123456789012")),
            ("arn:aws:lambda:us-east-1:123456789012:function:hello:live", Some("123456789012")),
            ("arn:aws-cn:lambda:cn-north-1:210987654321:function:hello", Some("210987654321")),
            ("arn:aws:s3:::bucket", None),
            ("arn:aws:lambda:us-east-1:not-an-account:function:hello", None),
            ("", None),
        ];
        for (arn, expected) in cases {
            assert_eq!(account_id(arn), expected, "{arn}");
        }
    }
}
