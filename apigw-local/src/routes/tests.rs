//! The route table against what AWS was seen to do. [L] is LocalStack's API Gateway tests recorded against AWS
//! (`tests/aws/services/apigateway/test_apigateway_common.py::TestApigatewayRouting` and
//! `test_apigateway_lambda.py::test_lambda_aws_proxy_integration`); the other sources are in
//! docs/apigw-conformance.md.

use super::*;

fn table_of(routes: &[&str]) -> RouteTable {
    RouteTable::new("test", routes.iter().map(|route| route.parse().unwrap()).collect()).unwrap()
}

/// The route `METHOD path` reaches, as `METHOD /resource`.
fn reached(table: &RouteTable, method: &str, path: &str) -> Option<String> {
    table.find(method, path).map(|found| found.route.to_string())
}

#[test]
fn item_03_any_covers_the_seven_methods_and_nothing_else() {
    let table = table_of(&["ANY /helloworld"]);
    for method in ANY_METHODS {
        let found = table.find(method, "/test/helloworld").unwrap();
        assert_eq!(found.route.resource(), "/helloworld");
        assert_eq!(found.path, "/helloworld");
    }
    assert!(table.find("TRACE", "/test/helloworld").is_none());
    assert!(table.find("CONNECT", "/test/helloworld").is_none());
    assert!(table.find("get", "/test/helloworld").is_none());
}

#[test]
fn item_02_stage_and_resource_must_match() {
    let table = table_of(&["ANY /helloworld"]);
    for path in [
        "/helloworld",
        "/prod/helloworld",
        "/testhelloworld",
        "/test/hello",
        "/test/helloworld/more",
        "/test/",
        "/test",
        "/",
        "",
        "*",
        "test/helloworld",
        "/test/Helloworld",
        "/test/hellowor%6Cd",
    ] {
        assert!(table.find("GET", path).is_none(), "{path:?}");
    }
}

#[test]
fn item_04_one_trailing_slash_reaches_the_resource_and_is_kept_in_the_path() {
    let table = table_of(&["ANY /helloworld", "ANY /{proxy+}"]);
    let found = table.find("GET", "/test/helloworld/").unwrap();
    assert_eq!((found.route.resource(), found.path, found.stage_path), ("/helloworld", "/helloworld/", "/helloworld/"));
    // [L] invocation-payload-with-trailing-slash: the greedy value has no trailing slash.
    let found = table.find("GET", "/test/proxy-value/").unwrap();
    assert_eq!((found.route.resource(), found.path), ("/{proxy+}", "/proxy-value/"));
    assert_eq!(found.parameters, [("proxy", "proxy-value")]);
}

#[test]
fn item_26_variables_and_greedy_variables_at_any_depth() {
    let table = table_of(&["GET /users/{id}", "GET /users/{id}/files/{path+}", "ANY /{proxy+}"]);
    let found = table.find("GET", "/test/users/42").unwrap();
    assert_eq!((found.route.resource(), found.parameters.clone()), ("/users/{id}", vec![("id", "42")]));
    let found = table.find("GET", "/test/users/42/files/a/b.txt").unwrap();
    assert_eq!(found.route.resource(), "/users/{id}/files/{path+}");
    assert_eq!(found.parameters, [("id", "42"), ("path", "a/b.txt")]);
    let found = table.find("GET", "/test/anything/at/all").unwrap();
    assert_eq!((found.route.resource(), found.parameters.clone()), ("/{proxy+}", vec![("proxy", "anything/at/all")]));
    assert!(table.find("GET", "/test/users/42/files").is_some_and(|found| found.route.resource() == "/{proxy+}"));
}

#[test]
fn item_27_a_static_part_beats_a_variable_and_a_greedy_variable() {
    let table = table_of(&["GET /users/me", "GET /users/{id}", "GET /{proxy+}", "GET /users/me/{rest+}"]);
    assert_eq!(reached(&table, "GET", "/test/users/me").as_deref(), Some("GET /users/me"));
    assert_eq!(reached(&table, "GET", "/test/users/you").as_deref(), Some("GET /users/{id}"));
    assert_eq!(reached(&table, "GET", "/test/users/me/x").as_deref(), Some("GET /users/me/{rest+}"));
    assert_eq!(reached(&table, "GET", "/test/users").as_deref(), Some("GET /{proxy+}"));
    assert_eq!(reached(&table, "GET", "/test/users/you/x").as_deref(), Some("GET /{proxy+}"));
}

#[test]
fn item_27_a_resource_without_the_method_passes_the_request_on() {
    // [L] test_proxy_routing_with_hardcoded_resource_sibling: /test POST, /test/any ANY, /{proxy+} OPTIONS.
    let table = table_of(&["POST /test", "ANY /test/any", "OPTIONS /{proxy+}"]);
    assert_eq!(reached(&table, "OPTIONS", "/test/test").as_deref(), Some("OPTIONS /{proxy+}"));
    assert_eq!(reached(&table, "POST", "/test/test").as_deref(), Some("POST /test"));
    assert_eq!(reached(&table, "OPTIONS", "/test/test/any").as_deref(), Some("ANY /test/any"));
    assert_eq!(reached(&table, "GET", "/test/test/any").as_deref(), Some("ANY /test/any"));
    assert_eq!(reached(&table, "GET", "/test/test"), None);
    // [L] test_routing_with_hardcoded_resource_sibling_order: a static branch that ends short falls back.
    let table = table_of(&["GET /part1", "GET /{param+}", "GET /part1/hardcoded-value"]);
    assert_eq!(reached(&table, "GET", "/test/part1").as_deref(), Some("GET /part1"));
    assert_eq!(reached(&table, "GET", "/test/part1/hardcoded-value").as_deref(), Some("GET /part1/hardcoded-value"));
    assert_eq!(reached(&table, "GET", "/test/part1/random-value").as_deref(), Some("GET /{param+}"));
    // Measured on AWS (floci-io/floci#3399): /users/me PATCH, /users/{userId} GET.
    let table = table_of(&["PATCH /users/me", "GET /users/{userId}"]);
    assert_eq!(reached(&table, "GET", "/test/users/me").as_deref(), Some("GET /users/{userId}"));
    assert_eq!(reached(&table, "PATCH", "/test/users/me").as_deref(), Some("PATCH /users/me"));
    assert_eq!(reached(&table, "POST", "/test/users/me"), None);
}

#[test]
fn item_28_a_specific_method_beats_any_on_the_same_resource() {
    let table = table_of(&["ANY /items", "GET /items", "DELETE /items"]);
    assert_eq!(reached(&table, "GET", "/test/items").as_deref(), Some("GET /items"));
    assert_eq!(reached(&table, "DELETE", "/test/items").as_deref(), Some("DELETE /items"));
    assert_eq!(reached(&table, "POST", "/test/items").as_deref(), Some("ANY /items"));
    assert_eq!(reached(&table, "HEAD", "/test/items").as_deref(), Some("ANY /items"));
    let get_only = table_of(&["GET /items"]);
    assert_eq!(reached(&get_only, "HEAD", "/test/items"), None, "GET does not serve HEAD");
}

#[test]
fn item_29_parameters_are_as_sent() {
    // [L] invocation-payload-with-path-encoded-email.
    let table = table_of(&["ANY /{proxy+}", "GET /users/{id}"]);
    let path = "/test/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com";
    let found = table.find("GET", path).unwrap();
    assert_eq!(found.path, "/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com");
    assert_eq!(found.parameters, [("proxy", "proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com")]);
    let found = table.find("GET", "/test/users/my-id%2F100").unwrap();
    assert_eq!((found.route.resource(), found.parameters.clone()), ("/users/{id}", vec![("id", "my-id%2F100")]));
}

#[test]
fn item_30_repeated_slashes_as_aws_reads_them() {
    let table = table_of(&["ANY /{proxy+}", "ANY /hardcoded"]);
    // [L] invocation-payload-with-double-slash: kept inside the path and the greedy value.
    let found = table.find("GET", "/test/proxy-value//double-slash").unwrap();
    assert_eq!((found.path, found.stage_path), ("/proxy-value//double-slash", "/proxy-value//double-slash"));
    assert_eq!(found.parameters, [("proxy", "proxy-value//double-slash")]);
    // [L] invocation-payload-with-prepended-slash-to-stage: slashes before the stage are dropped.
    let found = table.find("GET", "//test/proxy-value").unwrap();
    assert_eq!((found.path, found.stage_path), ("/proxy-value", "/proxy-value"));
    // [L] invocation-payload-with-prepended-slash and invocation-hardcoded: collapsed in `path`, kept after the stage.
    let found = table.find("GET", "/test//proxy-value").unwrap();
    assert_eq!((found.path, found.stage_path), ("/proxy-value", "//proxy-value"));
    assert_eq!(found.parameters, [("proxy", "proxy-value")]);
    let found = table.find("GET", "/test//hardcoded").unwrap();
    assert_eq!((found.route.resource(), found.path, found.stage_path), ("/hardcoded", "/hardcoded", "//hardcoded"));
    // No evidence for a static resource with a repeated slash inside: only a greedy variable takes the empty segment.
    let found = table.find("GET", "/test/hardcoded//").unwrap();
    assert_eq!((found.route.resource(), found.parameters.clone()), ("/{proxy+}", vec![("proxy", "hardcoded/")]));
}

#[test]
fn item_31_the_root_resource_is_the_stage_itself() {
    let table = table_of(&["GET /", "ANY /{proxy+}"]);
    for (path, stage_path) in [("/test", ""), ("/test/", "/"), ("/test//", "//")] {
        let found = table.find("GET", path).unwrap();
        assert_eq!((found.route.resource(), found.path, found.stage_path), ("/", "/", stage_path), "{path}");
        assert!(found.parameters.is_empty());
    }
    assert_eq!(reached(&table, "POST", "/test/"), None, "/{{proxy+}} does not match the root");
}

#[test]
fn item_32_resource_ids_are_per_resource_and_stable() {
    let table = table_of(&["GET /users/{id}", "DELETE /users/{id}", "GET /users"]);
    let get = table.find("GET", "/test/users/1").unwrap().route.resource_id().to_string();
    let delete = table.find("DELETE", "/test/users/1").unwrap().route.resource_id().to_string();
    let users = table.find("GET", "/test/users").unwrap().route.resource_id().to_string();
    assert_eq!(get, delete);
    assert_ne!(get, users);
    assert_eq!(get.len(), 6);
    assert!(get.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()));
    assert_eq!(get, "GET /users/{id}".parse::<Route>().unwrap().resource_id(), "the same in every run");
}

#[test]
fn item_26_tables_api_gateway_would_not_create_are_refused() {
    let error = |routes: &[&str]| {
        RouteTable::new("test", routes.iter().map(|route| route.parse().unwrap()).collect()).unwrap_err().to_string()
    };
    // [L] test_create_proxy_resource_validation: "A sibling ({proxy+}) of this resource already has a variable path
    // part -- only one is allowed".
    assert!(error(&["ANY /{proxy+}", "GET /{id}"]).contains("only one is allowed"));
    assert!(error(&["GET /users/{id}", "GET /users/{userId}/posts"]).contains("only one is allowed"));
    assert!(error(&["GET /a", "get /a"]).contains("GET /a is defined twice"));
    assert!(RouteTable::new("test", vec!["GET /a/{id}".parse().unwrap(), "GET /b/{key}".parse().unwrap()]).is_ok());
    assert!(RouteTable::new("test", vec!["GET /a/{id}".parse().unwrap(), "PUT /a/{id}/x".parse().unwrap()]).is_ok());
}

#[test]
fn routes_parse_from_configuration() {
    let route: Route = "post /a/b".parse().unwrap();
    assert_eq!((route.method(), route.resource()), ("POST", "/a/b"));
    assert_eq!(route.to_string(), "POST /a/b");
    let route: Route = "  get   /users/{id}  ".parse().unwrap();
    assert_eq!(route.to_string(), "GET /users/{id}");
    for bad in ["", "ANY", "ANY helloworld", "TRACE /x", "ANY /x/", "ANY //x", "GET /{proxy+}/x", "GET /a b"] {
        assert!(bad.parse::<Route>().is_err(), "{bad:?} should be refused");
    }
    assert!("ANY /".parse::<Route>().is_ok(), "the root resource");
}

#[test]
fn configured_routes_default_to_the_tutorials() {
    let none = configured_routes(&[], None).unwrap();
    assert_eq!(none.routes, ["ANY /helloworld".parse::<Route>().unwrap()]);
    let flags: Vec<Route> = vec!["GET /a".parse().unwrap()];
    assert_eq!(configured_routes(&flags, None).unwrap().routes, flags);
    let missing = configured_routes(&[], Some(Path::new("/nonexistent/api.json"))).unwrap_err();
    assert!(missing.to_string().starts_with("route file /nonexistent/api.json: cannot read it"), "{missing}");
}
