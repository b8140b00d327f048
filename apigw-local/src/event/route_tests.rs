//! What the routing rules (docs/apigw-conformance.md, items 26 to 33) put into the event: `pathParameters`,
//! `resource`, `path` and `requestContext.{resourcePath, path, resourceId}`. Expected values marked [L] are AWS's own,
//! recorded in LocalStack's `tests/aws/services/apigateway/test_apigateway_lambda.snapshot.json`
//! (`test_lambda_aws_proxy_integration`, stage `stage` there, `test` here).

use serde_json::{Value, json};

use super::build;
use super::tests::{api, meta, request};
use crate::routes::{Route, RouteTable};

/// The routes the tests share: a static resource beside a greedy one, path variables at two depths, the root.
const ROUTES: [&str; 7] = [
    "ANY /{proxy+}",
    "ANY /hardcoded",
    "GET /users/{id}",
    "DELETE /users/{id}",
    "GET /users/{id}/files/{path+}",
    "GET /users/me",
    "GET /",
];

fn table() -> RouteTable {
    RouteTable::new("test", ROUTES.iter().map(|route| route.parse().unwrap()).collect()).unwrap()
}

/// The event for `METHOD target` through [`table`].
fn event(method: &str, target: &str) -> Value {
    let request = request(method, target, &[], &[]);
    let (api, meta) = (api(&[]), meta());
    let table = table();
    let route = table.find(method, request.path()).unwrap_or_else(|| panic!("{method} {target} is routed"));
    build(&request, &route, &api, &meta)
}

fn resource_id(resource: &str) -> String {
    format!("GET {resource}").parse::<Route>().unwrap().resource_id().to_string()
}

/// The routing fields of an event, in one value to compare.
fn routing(event: &Value) -> Value {
    json!({
        "resource": event["resource"],
        "path": event["path"],
        "pathParameters": event["pathParameters"],
        "requestContext": {
            "resourcePath": event["requestContext"]["resourcePath"],
            "path": event["requestContext"]["path"],
            "resourceId": event["requestContext"]["resourceId"],
        },
    })
}

fn expected(resource: &str, path: &str, parameters: Value, context_path: &str) -> Value {
    json!({
        "resource": resource,
        "path": path,
        "pathParameters": parameters,
        "requestContext": {"resourcePath": resource, "path": context_path, "resourceId": resource_id(resource)},
    })
}

#[test]
fn item_26_variables_at_any_depth_fill_path_parameters() {
    assert_eq!(
        routing(&event("GET", "/test/users/42")),
        expected("/users/{id}", "/users/42", json!({"id": "42"}), "/test/users/42")
    );
    assert_eq!(
        routing(&event("GET", "/test/users/42/files/a/b.txt?x=1")),
        expected(
            "/users/{id}/files/{path+}",
            "/users/42/files/a/b.txt",
            json!({"id": "42", "path": "a/b.txt"}),
            "/test/users/42/files/a/b.txt"
        )
    );
    // [L] invocation-payload-without-trailing-slash.
    assert_eq!(
        routing(&event("GET", "/test/proxy-value")),
        expected("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test/proxy-value")
    );
}

#[test]
fn item_27_the_most_specific_resource_names_itself_in_the_event() {
    assert_eq!(
        routing(&event("GET", "/test/users/me")),
        expected("/users/me", "/users/me", Value::Null, "/test/users/me")
    );
    // /users/me has no DELETE: the request goes on to /users/{id}.
    assert_eq!(
        routing(&event("DELETE", "/test/users/me")),
        expected("/users/{id}", "/users/me", json!({"id": "me"}), "/test/users/me")
    );
    // /users/{id} has no POST: the request goes on to /{proxy+}.
    assert_eq!(
        routing(&event("POST", "/test/users/42")),
        expected("/{proxy+}", "/users/42", json!({"proxy": "users/42"}), "/test/users/42")
    );
}

#[test]
fn item_28_methods_of_one_resource_share_its_resource_id() {
    let get = event("GET", "/test/users/42");
    let delete = event("DELETE", "/test/users/42");
    assert_eq!(routing(&get), routing(&delete));
    assert_eq!(delete["httpMethod"], "DELETE");
    assert_ne!(get["requestContext"]["resourceId"], event("GET", "/test/users/me")["requestContext"]["resourceId"]);
}

#[test]
fn item_29_encoded_characters_stay_encoded() {
    // [L] invocation-payload-with-path-encoded-email.
    let path = "/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com";
    assert_eq!(
        routing(&event("GET", &format!("/test{path}"))),
        expected("/{proxy+}", path, json!({"proxy": &path[1..]}), &format!("/test{path}"))
    );
    // One variable: the value as sent, `%2F` included, as AWS delivered it (aws/aws-sam-cli#3524).
    assert_eq!(
        routing(&event("GET", "/test/users/my-id%2F100")),
        expected("/users/{id}", "/users/my-id%2F100", json!({"id": "my-id%2F100"}), "/test/users/my-id%2F100")
    );
    assert_eq!(
        routing(&event("GET", "/test/users/a%20b%C3%A9")),
        expected("/users/{id}", "/users/a%20b%C3%A9", json!({"id": "a%20b%C3%A9"}), "/test/users/a%20b%C3%A9")
    );
}

#[test]
fn item_30_repeated_slashes() {
    // [L] invocation-payload-with-double-slash.
    assert_eq!(
        routing(&event("GET", "/test/proxy-value//double-slash")),
        expected(
            "/{proxy+}",
            "/proxy-value//double-slash",
            json!({"proxy": "proxy-value//double-slash"}),
            "/test/proxy-value//double-slash"
        )
    );
    // [L] invocation-payload-with-prepended-slash-to-stage.
    assert_eq!(
        routing(&event("GET", "//test/proxy-value")),
        expected("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test/proxy-value")
    );
    // [L] invocation-payload-with-prepended-slash.
    assert_eq!(
        routing(&event("GET", "/test//proxy-value")),
        expected("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test//proxy-value")
    );
    // [L] invocation-hardcoded.
    assert_eq!(
        routing(&event("GET", "/test//hardcoded")),
        expected("/hardcoded", "/hardcoded", Value::Null, "/test//hardcoded")
    );
}

#[test]
fn item_31_trailing_slash_and_the_root() {
    // [L] invocation-payload-with-trailing-slash and -with-trailing-slash-and-query-params.
    assert_eq!(
        routing(&event("GET", "/test/proxy-value/?urlparam=test")),
        expected("/{proxy+}", "/proxy-value/", json!({"proxy": "proxy-value"}), "/test/proxy-value/")
    );
    assert_eq!(
        routing(&event("GET", "/test/hardcoded/")),
        expected("/hardcoded", "/hardcoded/", Value::Null, "/test/hardcoded/")
    );
    assert_eq!(routing(&event("GET", "/test")), expected("/", "/", Value::Null, "/test"));
    assert_eq!(routing(&event("GET", "/test/")), expected("/", "/", Value::Null, "/test/"));
}

#[test]
fn item_33_identity_carries_exactly_the_keys_aws_sends() {
    // [L] requestContext.identity in every recorded event of test_lambda_aws_proxy_integration.
    let event = event("GET", "/test/hardcoded");
    let mut keys: Vec<&str> =
        event["requestContext"]["identity"].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accessKey",
            "accountId",
            "caller",
            "cognitoAuthenticationProvider",
            "cognitoAuthenticationType",
            "cognitoIdentityId",
            "cognitoIdentityPoolId",
            "principalOrgId",
            "sourceIp",
            "user",
            "userAgent",
            "userArn",
        ]
    );
}
