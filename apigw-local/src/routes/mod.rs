//! The stage and its resources: which `METHOD /{stage}/{path}` reach the integration, and what the event says about
//! the match (docs/apigw-conformance.md, items 1 to 4 and 26 to 33).
//!
//! Resources are paths of static parts, `{name}` variables and a final greedy `{name+}`, each with methods (`ANY` or
//! one of [`ANY_METHODS`]). A request goes to the most specific resource that has a method for it: compared part by
//! part from the left, a static part beats a variable and a variable beats a greedy variable, and a resource without
//! the request's method is passed over for the next most specific one. On that resource a specific method beats
//! `ANY`. Nothing found is API Gateway's `403 Missing Authentication Token`.

mod openapi;
mod resource;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use openapi::{RouteFile, RouteFileError, RouteFileErrorKind};
pub use resource::{PathPart, ResourcePath};

/// The methods API Gateway's `ANY` stands for.
pub const ANY_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// The route when none is configured: the tutorial's.
pub const DEFAULT_ROUTE: &str = "ANY /helloworld";

/// One method of one resource, e.g. `ANY /helloworld` or `GET /users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: String,
    resource: ResourcePath,
    resource_id: String,
}

impl Route {
    /// A route for `method` (`ANY` or one of [`ANY_METHODS`], any case) on `resource` (e.g. `/users/{id}`).
    pub fn new(method: &str, resource: &str) -> Result<Self, RouteError> {
        let method = method.to_ascii_uppercase();
        if method != "ANY" && !ANY_METHODS.contains(&method.as_str()) {
            return Err(RouteError::InvalidMethod(method));
        }
        let resource = ResourcePath::parse(resource)?;
        Ok(Self { resource_id: resource_id(resource.as_str()), method, resource })
    }

    /// `ANY` or one of [`ANY_METHODS`].
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The resource path, e.g. `/users/{id}`: the event's `resource` and `requestContext.resourcePath`.
    pub fn resource(&self) -> &str {
        self.resource.as_str()
    }

    /// The parsed resource path.
    pub fn resource_path(&self) -> &ResourcePath {
        &self.resource
    }

    /// API Gateway's id for the resource, as `requestContext.resourceId` shows it: the same for every method of a
    /// resource, and the same from one run to the next.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    fn accepts(&self, method: &str) -> bool {
        self.method == method || (self.method == "ANY" && ANY_METHODS.contains(&method))
    }
}

impl std::str::FromStr for Route {
    type Err = RouteError;

    /// Parses `METHOD /path`, e.g. `ANY /helloworld` or `GET /users/{id}`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (method, resource) =
            text.trim().split_once(char::is_whitespace).ok_or_else(|| RouteError::NotARoute(text.to_string()))?;
        Self::new(method, resource.trim())
    }
}

impl fmt::Display for Route {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.method, self.resource)
    }
}

/// What a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route it matched.
    pub route: &'a Route,
    /// The event's `path`: the path after the stage with its leading slashes collapsed into one, the rest as sent
    /// (a trailing slash, repeated slashes inside and percent-encoding kept).
    pub path: &'a str,
    /// The path after the stage exactly as sent: `requestContext.path` is `/{stage}` followed by it.
    pub stage_path: &'a str,
    /// The event's `pathParameters`, in the resource's order: values as sent, not percent-decoded.
    pub parameters: Vec<(&'a str, &'a str)>,
}

/// A stage's routes, ordered so that the first one that matches a request is API Gateway's choice.
#[derive(Debug, Clone)]
pub struct RouteTable {
    stage: String,
    routes: Vec<Route>,
}

impl RouteTable {
    /// The stage's table. Refuses what API Gateway refuses to create: the same method twice on a resource, and two
    /// different variables under one parent (`/{id}` beside `/{proxy+}`).
    pub fn new(stage: impl Into<String>, mut routes: Vec<Route>) -> Result<Self, RouteError> {
        check_variable_siblings(&routes)?;
        // Most specific resource first, and on one resource a specific method before ANY (the path breaks ties
        // between resources only to keep the order stable).
        routes.sort_by_cached_key(|route| {
            (route.resource.specificity(), route.resource().to_string(), route.method == "ANY", route.method.clone())
        });
        if let Some(pair) = routes.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(RouteError::Duplicate(pair[0].to_string()));
        }
        Ok(Self { stage: stage.into(), routes })
    }

    /// The stage, the first segment of every path.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a method and a raw request path such as `/test/users/42` (no query).
    pub fn find<'a>(&'a self, method: &str, raw_path: &'a str) -> Option<RouteMatch<'a>> {
        let request = RequestPath::parse(&self.stage, raw_path)?;
        self.routes.iter().filter(|route| route.accepts(method)).find_map(|route| {
            let parameters = route.resource.matches(request.matched)?;
            Some(RouteMatch { route, path: request.path, stage_path: request.stage_path, parameters })
        })
    }
}

/// The routes to serve: those given one by one and those of a route file; the tutorial's [`DEFAULT_ROUTE`] when
/// there are neither.
pub fn configured_routes(flags: &[Route], file: Option<&Path>) -> Result<RouteFile, RouteFileError> {
    let mut configured = match file {
        Some(path) => RouteFile::load(path)?,
        None => RouteFile::default(),
    };
    configured.routes.extend(flags.iter().cloned());
    if configured.routes.is_empty() {
        configured.routes.push(DEFAULT_ROUTE.parse().expect("the default route is valid"));
    }
    Ok(configured)
}

/// A request path split the way API Gateway reads it (docs/apigw-conformance.md, items 4 and 30).
struct RequestPath<'a> {
    /// After the stage, as sent.
    stage_path: &'a str,
    /// After the stage with the leading slashes collapsed into one: `/` when nothing follows the stage.
    path: &'a str,
    /// What resources are matched against: `path` without its leading slash and without one trailing slash.
    matched: &'a str,
}

impl<'a> RequestPath<'a> {
    fn parse(stage: &str, raw_path: &'a str) -> Option<Self> {
        // Slashes before the stage are dropped altogether: `//test/x` is `/test/x`, `requestContext.path` included [L].
        let after_slashes = raw_path.trim_start_matches('/');
        if after_slashes.len() == raw_path.len() {
            return None;
        }
        let stage_path = after_slashes.strip_prefix(stage)?;
        if !stage_path.is_empty() && !stage_path.starts_with('/') {
            return None;
        }
        // Those after it collapse into one in `path` and stay in `requestContext.path`: `/test//x` is `/x` [L].
        let relative = stage_path.trim_start_matches('/');
        let path = if stage_path.is_empty() { "/" } else { &stage_path[stage_path.len() - relative.len() - 1..] };
        // One trailing slash reaches the resource: `/x/` is `/x` [L].
        let matched = relative.strip_suffix('/').unwrap_or(relative);
        Some(Self { stage_path, path, matched })
    }
}

/// Refuses two different variable parts under one parent, as CreateResource does.
fn check_variable_siblings(routes: &[Route]) -> Result<(), RouteError> {
    let mut seen: Vec<(&[PathPart], &PathPart, &Route)> = Vec::new();
    for route in routes {
        for (parent, child) in route.resource.variable_children() {
            match seen.iter().find(|(other_parent, _, _)| *other_parent == parent) {
                Some((_, other_child, other)) if *other_child != child => {
                    return Err(RouteError::VariableSiblings {
                        first: other.resource().to_string(),
                        second: route.resource().to_string(),
                    });
                }
                Some(_) => {}
                None => seen.push((parent, child, route)),
            }
        }
    }
    Ok(())
}

/// A stable six-character id, like API Gateway's resource ids, so that events are reproducible across runs.
fn resource_id(resource: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // FNV-1a: tiny and deterministic; uniqueness across a few hundred resources is all that matters.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in resource.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6).map(|i| ALPHABET[((hash >> (i * 8)) % ALPHABET.len() as u64) as usize] as char).collect()
}

/// A route that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Not `METHOD /path`.
    NotARoute(String),
    /// Neither `ANY` nor one of [`ANY_METHODS`].
    InvalidMethod(String),
    /// A resource path API Gateway would not create.
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same method on the same resource twice.
    Duplicate(String),
    /// Two different variables under one parent.
    VariableSiblings {
        /// A resource with one of them.
        first: String,
        /// A resource with the other.
        second: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotARoute(text) => write!(formatter, "route {text:?} is not `METHOD /path`"),
            Self::InvalidMethod(method) => {
                write!(formatter, "method {method:?}: a method is ANY or one of {}", ANY_METHODS.join(", "))
            }
            Self::InvalidPath { path, reason } => write!(formatter, "resource path {path:?}: {reason}"),
            Self::Duplicate(route) => write!(formatter, "route {route} is defined twice"),
            // API Gateway's own words for it (CreateResource's BadRequestException).
            Self::VariableSiblings { first, second } => write!(
                formatter,
                "{first} and {second}: a sibling of this resource already has a variable path part -- only one is \
                 allowed"
            ),
        }
    }
}

impl std::error::Error for RouteError {}
