//! Routes from an OpenAPI document with API Gateway's extensions, the document API Gateway imports and exports
//! (`--routes-file`, docs/apigw-conformance.md item 34).
//!
//! Every operation whose `x-amazon-apigateway-integration` has the type `aws_proxy` (a Lambda proxy integration) is a
//! route; `x-amazon-apigateway-any-method` is `ANY`. They all reach the one function apigw-local runs, whatever the
//! integration's `uri` names, so a `uri` that is a template (`${invoke_arn}`, filled in by Terraform) is fine. Other
//! operations (a `mock` CORS preflight, an `http_proxy` integration, none at all) are not served and are listed in
//! [`RouteFile::skipped`]. The document is JSON (OpenAPI 3 or Swagger 2.0, which API Gateway imports alike); for YAML,
//! convert it first (`yq -o json`), which spares apigw-local a YAML parser.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Route, RouteError};

/// The OpenAPI key of API Gateway's `ANY` method.
const ANY_METHOD_KEY: &str = "x-amazon-apigateway-any-method";
const INTEGRATION_KEY: &str = "x-amazon-apigateway-integration";
/// The operations of an OpenAPI path item that API Gateway has methods for (`trace` it has not).
const OPERATIONS: [&str; 7] = ["delete", "get", "head", "options", "patch", "post", "put"];

/// The routes of a route file, and what it defines that apigw-local does not serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteFile {
    /// The Lambda proxy integrations, one route per operation.
    pub routes: Vec<Route>,
    /// The operations left out, each with the reason (`OPTIONS /users: integration type mock ...`).
    pub skipped: Vec<String>,
}

impl RouteFile {
    /// Reads an OpenAPI document (JSON) and takes its routes; a file without any is an error.
    pub fn load(path: &Path) -> Result<Self, RouteFileError> {
        let in_file = |kind| RouteFileError { file: path.to_path_buf(), kind };
        let text = std::fs::read_to_string(path).map_err(|error| in_file(RouteFileErrorKind::Read(error)))?;
        let file = Self::from_openapi(&text).map_err(in_file)?;
        if file.routes.is_empty() {
            return Err(in_file(RouteFileErrorKind::NoRoutes));
        }
        Ok(file)
    }

    /// Takes the routes of an OpenAPI document given as JSON text.
    pub fn from_openapi(text: &str) -> Result<Self, RouteFileErrorKind> {
        let document: Value = serde_json::from_str(text).map_err(RouteFileErrorKind::Json)?;
        let is_openapi = ["openapi", "swagger"].iter().any(|key| document.get(key).is_some_and(Value::is_string));
        let paths = document.get("paths").and_then(Value::as_object);
        let (true, Some(paths)) = (is_openapi, paths) else {
            return Err(RouteFileErrorKind::NotOpenApi);
        };
        let mut file = Self::default();
        for (path, item) in paths {
            let item = item.as_object().ok_or_else(|| RouteFileErrorKind::NotAnObject(path.clone()))?;
            file.add_path_item(path, item)?;
        }
        Ok(file)
    }

    fn add_path_item(&mut self, path: &str, item: &Map<String, Value>) -> Result<(), RouteFileErrorKind> {
        for (key, operation) in item {
            let method = match key.as_str() {
                ANY_METHOD_KEY => "ANY".to_string(),
                key if OPERATIONS.contains(&key) => key.to_ascii_uppercase(),
                "trace" => {
                    self.skipped.push(format!("TRACE {path}: API Gateway has no TRACE method"));
                    continue;
                }
                // `parameters`, `summary`, `servers`, `$ref` and extensions: not operations.
                _ => continue,
            };
            let integration_type = operation
                .get(INTEGRATION_KEY)
                .map(|integration| integration.get("type").and_then(Value::as_str).unwrap_or_default());
            match integration_type {
                Some(kind) if kind.eq_ignore_ascii_case("aws_proxy") => {
                    let route = Route::new(&method, path).map_err(RouteFileErrorKind::Route)?;
                    self.routes.push(route);
                }
                Some(kind) => self.skipped.push(format!(
                    "{method} {path}: integration type {kind:?} (only aws_proxy, a Lambda proxy integration, is served)"
                )),
                None => self.skipped.push(format!("{method} {path}: no {INTEGRATION_KEY}")),
            }
        }
        Ok(())
    }
}

/// A route file that cannot be used.
#[derive(Debug)]
pub struct RouteFileError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub kind: RouteFileErrorKind,
}

/// What is wrong with a route file.
#[derive(Debug)]
pub enum RouteFileErrorKind {
    /// It cannot be read.
    Read(std::io::Error),
    /// It is not JSON.
    Json(serde_json::Error),
    /// It has no `openapi` (or `swagger`) version and `paths` object.
    NotOpenApi,
    /// A path item that is not an object.
    NotAnObject(String),
    /// A route API Gateway would not create.
    Route(RouteError),
    /// Nothing in it is served.
    NoRoutes,
}

impl fmt::Display for RouteFileError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "route file {}: ", self.file.display())?;
        match &self.kind {
            RouteFileErrorKind::Read(error) => write!(formatter, "cannot read it: {error}"),
            RouteFileErrorKind::Json(error) => write!(formatter, "not JSON ({error}); convert YAML with `yq -o json`"),
            RouteFileErrorKind::NotOpenApi => formatter.write_str("not an OpenAPI document (no `openapi` and `paths`)"),
            RouteFileErrorKind::NotAnObject(path) => write!(formatter, "path {path:?} is not an object"),
            RouteFileErrorKind::Route(error) => write!(formatter, "{error}"),
            RouteFileErrorKind::NoRoutes => {
                write!(formatter, "no operation has an {INTEGRATION_KEY} of type aws_proxy")
            }
        }
    }
}

impl std::error::Error for RouteFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RouteFileErrorKind::Read(error) => Some(error),
            RouteFileErrorKind::Json(error) => Some(error),
            RouteFileErrorKind::Route(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(file: &RouteFile) -> Vec<String> {
        file.routes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn item_34_aws_proxy_operations_are_routes_and_the_rest_is_listed() {
        let document = r#"{
          "openapi": "3.0.1",
          "info": {"title": "t", "version": "1"},
          "paths": {
            "/users/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true}],
              "get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": "${arn}"}},
              "options": {"x-amazon-apigateway-integration": {"type": "mock"}},
              "delete": {"responses": {}}
            },
            "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "AWS_PROXY"}}},
            "/": {"trace": {}}
          }
        }"#;
        let file = RouteFile::from_openapi(document).unwrap();
        assert_eq!(routes(&file), ["GET /users/{id}", "ANY /{proxy+}"]);
        // In the order of serde_json's maps: sorted by path, then by operation.
        assert_eq!(
            file.skipped,
            [
                "TRACE /: API Gateway has no TRACE method",
                "DELETE /users/{id}: no x-amazon-apigateway-integration",
                "OPTIONS /users/{id}: integration type \"mock\" (only aws_proxy, a Lambda proxy integration, is served)",
            ]
        );
    }

    #[test]
    fn item_34_swagger_2_is_read_too() {
        let document = r#"{"swagger": "2.0", "paths": {"/a": {"post": {
            "x-amazon-apigateway-integration": {"type": "aws_proxy"}}}}}"#;
        assert_eq!(routes(&RouteFile::from_openapi(document).unwrap()), ["POST /a"]);
    }

    #[test]
    fn item_34_documents_that_are_not_openapi_or_define_bad_routes_are_errors() {
        let cases = [
            ("openapi: 3.0.1", "not JSON"),
            (r#"{"paths": {}}"#, "not an OpenAPI document"),
            (r#"{"openapi": "3.0.1"}"#, "not an OpenAPI document"),
            (r#"{"openapi": "3.0.1", "paths": {"/a": []}}"#, "is not an object"),
            (
                r#"{"openapi": "3.0.1", "paths": {"/a b": {"get": {
                    "x-amazon-apigateway-integration": {"type": "aws_proxy"}}}}}"#,
                "resource path \"/a b\"",
            ),
        ];
        for (document, message) in cases {
            let error = RouteFile::from_openapi(document).unwrap_err();
            let error = RouteFileError { file: "api.json".into(), kind: error }.to_string();
            assert!(error.starts_with("route file api.json: "), "{error}");
            assert!(error.contains(message), "{error:?} should say {message:?}");
        }
    }
}
