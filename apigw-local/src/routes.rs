//! The stage and its resources: which `METHOD /{stage}/{path}` reach the integration.

/// The methods API Gateway's `ANY` stands for.
pub const ANY_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// One resource with its methods, e.g. `ANY /helloworld`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `ANY` or one of [`ANY_METHODS`].
    pub method: String,
    /// The resource path, e.g. `/helloworld`.
    pub resource: String,
    /// API Gateway's id for the resource, as it shows in `requestContext.resourceId`.
    pub resource_id: String,
}

/// What a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route it matched.
    pub route: &'a Route,
    /// The path after the stage, e.g. `/helloworld/` (trailing slash kept, not decoded).
    pub path: &'a str,
}

/// A stage's routes.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// The stage, the first segment of every path.
    pub stage: String,
    /// The resources and methods it serves.
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// Finds the route for a method and a raw request path such as `/test/helloworld`.
    pub fn find<'a>(&'a self, method: &str, raw_path: &'a str) -> Option<RouteMatch<'a>> {
        let path = raw_path.strip_prefix('/')?.strip_prefix(self.stage.as_str())?;
        if !path.starts_with('/') {
            return None;
        }
        // API Gateway ignores one trailing slash and collapses nothing else: `/helloworld/` is the resource, `//helloworld` is not.
        let resource_path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        self.routes
            .iter()
            .find(|route| {
                route.resource == resource_path
                    && (route.method == method || (route.method == "ANY" && ANY_METHODS.contains(&method)))
            })
            .map(|route| RouteMatch { route, path })
    }
}

impl std::str::FromStr for Route {
    type Err = String;

    /// Parses `METHOD /path`, e.g. `ANY /helloworld`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (method, resource) = text
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("route {text:?} is not `METHOD /path`"))?;
        let method = method.to_ascii_uppercase();
        if method != "ANY" && !ANY_METHODS.contains(&method.as_str()) {
            return Err(format!("route {text:?}: method must be ANY or one of {}", ANY_METHODS.join(", ")));
        }
        let resource = resource.trim();
        if !resource.starts_with('/') || resource.len() < 2 || resource.ends_with('/') || resource.contains("//") {
            return Err(format!("route {text:?}: path must look like /name or /a/b"));
        }
        Ok(Route { resource_id: resource_id(&method, resource), method, resource: resource.to_string() })
    }
}

/// A stable six-character id, like API Gateway's resource ids, so that events are reproducible across runs.
fn resource_id(method: &str, resource: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // FNV-1a: tiny and deterministic; uniqueness across a handful of routes is all that matters.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in method.bytes().chain(resource.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6).map(|i| ALPHABET[((hash >> (i * 8)) % ALPHABET.len() as u64) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable { stage: "test".into(), routes: vec!["ANY /helloworld".parse().unwrap()] }
    }

    #[test]
    fn any_covers_the_seven_methods_and_nothing_else() {
        let table = table();
        for method in ANY_METHODS {
            let found = table.find(method, "/test/helloworld").unwrap();
            assert_eq!(found.route.resource, "/helloworld");
            assert_eq!(found.path, "/helloworld");
        }
        assert!(table.find("TRACE", "/test/helloworld").is_none());
        assert!(table.find("CONNECT", "/test/helloworld").is_none());
        assert!(table.find("get", "/test/helloworld").is_none());
    }

    #[test]
    fn stage_and_resource_must_match() {
        let table = table();
        assert!(table.find("GET", "/helloworld").is_none());
        assert!(table.find("GET", "/prod/helloworld").is_none());
        assert!(table.find("GET", "/testhelloworld").is_none());
        assert!(table.find("GET", "/test/hello").is_none());
        assert!(table.find("GET", "/test/helloworld/more").is_none());
        assert!(table.find("GET", "/test/").is_none());
        assert!(table.find("GET", "/test").is_none());
        assert!(table.find("GET", "/").is_none());
    }

    #[test]
    fn one_trailing_slash_reaches_the_resource_and_is_kept_in_the_path() {
        let table = table();
        let found = table.find("GET", "/test/helloworld/").unwrap();
        assert_eq!(found.route.resource, "/helloworld");
        assert_eq!(found.path, "/helloworld/");
    }

    #[test]
    fn routes_parse_from_configuration() {
        let route: Route = "post /a/b".parse().unwrap();
        assert_eq!((route.method.as_str(), route.resource.as_str()), ("POST", "/a/b"));
        assert_eq!(route.resource_id.len(), 6);
        assert_eq!(route.resource_id, "POST /a/b".parse::<Route>().unwrap().resource_id);
        for bad in ["", "ANY", "ANY helloworld", "TRACE /x", "ANY /", "ANY /x/", "ANY //x"] {
            assert!(bad.parse::<Route>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn method_specific_routes() {
        let table =
            RouteTable { stage: "v1".into(), routes: vec!["GET /a".parse().unwrap(), "POST /b".parse().unwrap()] };
        assert!(table.find("GET", "/v1/a").is_some());
        assert!(table.find("POST", "/v1/a").is_none());
        assert!(table.find("POST", "/v1/b").is_some());
    }
}
