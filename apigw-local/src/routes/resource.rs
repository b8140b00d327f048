//! A resource's path (`/users/{id}`, `/files/{proxy+}`) and how it matches the path of a request
//! (docs/apigw-conformance.md, items 26 to 31).

use super::RouteError;

/// One part of a resource path between slashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// `users`: matches exactly this text.
    Static(String),
    /// `{id}`: matches one segment, whatever it holds; the name is the `pathParameters` key.
    Variable(String),
    /// `{proxy+}`: matches the rest of the path, one segment or more; always the last part.
    Greedy(String),
}

impl PathPart {
    /// How specific the part is: a static part beats a variable, a variable beats a greedy variable.
    fn rank(&self) -> u8 {
        match self {
            Self::Static(_) => 0,
            Self::Variable(_) => 1,
            Self::Greedy(_) => 2,
        }
    }

    fn is_variable(&self) -> bool {
        !matches!(self, Self::Static(_))
    }
}

/// A resource path as API Gateway defines it: `/` (the root) or `/part/part/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    text: String,
    parts: Vec<PathPart>,
}

impl ResourcePath {
    /// Parses and checks a resource path with API Gateway's rules for path parts: `A-Z a-z 0-9 . _ - :` in a
    /// static part, `{name}` or, as the last part only, `{name+}` for a variable (CreateResource refuses the rest).
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let invalid = |reason: &str| RouteError::InvalidPath { path: text.to_string(), reason: reason.to_string() };
        let Some(relative) = text.strip_prefix('/') else { return Err(invalid("it does not start with /")) };
        let mut parts: Vec<PathPart> = Vec::new();
        if !relative.is_empty() {
            for part in relative.split('/') {
                if matches!(parts.last(), Some(PathPart::Greedy(_))) {
                    return Err(invalid("a greedy path variable cannot have children"));
                }
                let part = parse_part(part).ok_or_else(|| invalid(PART_RULE))?;
                let name = match &part {
                    PathPart::Variable(name) | PathPart::Greedy(name) => Some(name),
                    PathPart::Static(_) => None,
                };
                if let Some(name) = name
                    && parts.iter().any(|earlier| matches!(earlier, PathPart::Variable(n) if n == name))
                {
                    return Err(invalid("a path variable name is used twice"));
                }
                parts.push(part);
            }
        }
        Ok(Self { text: text.to_string(), parts })
    }

    /// The path as written, e.g. `/users/{id}`: the event's `resource` and `requestContext.resourcePath`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parts after the root, in order.
    pub fn parts(&self) -> &[PathPart] {
        &self.parts
    }

    /// The specificity, compared part by part from the left (lower is more specific). Among the resources that match
    /// one request path, the smallest key is the one API Gateway's resource tree picks: it tries a static child
    /// before the variable one at each level (only one variable child is allowed per parent, see
    /// [`Self::variable_children`]).
    pub(super) fn specificity(&self) -> Vec<u8> {
        self.parts.iter().map(PathPart::rank).collect()
    }

    /// If this resource's path has a variable part, the parent path it hangs from and that part, for each such part:
    /// API Gateway allows one variable child per parent ("only one is allowed").
    pub(super) fn variable_children(&self) -> impl Iterator<Item = (&[PathPart], &PathPart)> {
        self.parts.iter().enumerate().filter(|(_, part)| part.is_variable()).map(|(at, part)| (&self.parts[..at], part))
    }

    /// Matches `path`, a request path after the stage with its leading slashes and one trailing slash removed (see
    /// [`super::RequestPath`]), and returns the path parameters: names as in the resource, values as sent, not decoded.
    pub(super) fn matches<'a>(&'a self, path: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
        let mut rest = (!path.is_empty()).then_some(path);
        let mut parameters = Vec::new();
        for part in &self.parts {
            if let PathPart::Greedy(name) = part {
                // The rest as sent, repeated slashes included: `proxy-value//double-slash` [L].
                let value = rest.filter(|value| !value.is_empty())?;
                parameters.push((name.as_str(), value));
                return Some(parameters);
            }
            let (segment, after) = match rest?.split_once('/') {
                Some((segment, after)) => (segment, Some(after)),
                None => (rest?, None),
            };
            match part {
                // Compared as sent: a percent-encoded character never equals the character it stands for.
                PathPart::Static(text) if text == segment => {}
                PathPart::Variable(name) if !segment.is_empty() => parameters.push((name.as_str(), segment)),
                _ => return None,
            }
            rest = after;
        }
        rest.is_none().then_some(parameters)
    }
}

impl std::fmt::Display for ResourcePath {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.text)
    }
}

const PART_RULE: &str = "a path part is A-Z, a-z, 0-9, '.', '_', '-' and ':', or a variable {name} (the last part \
                         may be a greedy {name+})";

fn parse_part(text: &str) -> Option<PathPart> {
    let is_name = |name: &str| {
        !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte))
    };
    match text.strip_prefix('{').and_then(|inner| inner.strip_suffix('}')) {
        Some(inner) => match inner.strip_suffix('+') {
            Some(name) => is_name(name).then(|| PathPart::Greedy(name.to_string())),
            None => is_name(inner).then(|| PathPart::Variable(inner.to_string())),
        },
        None => {
            let valid =
                !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-:".contains(&byte));
            valid.then(|| PathPart::Static(text.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> ResourcePath {
        ResourcePath::parse(text).unwrap()
    }

    #[test]
    fn item_26_resource_paths_parse_into_parts() {
        assert_eq!(path("/").parts(), []);
        assert_eq!(
            path("/users/{id}/files/{proxy+}").parts(),
            [
                PathPart::Static("users".into()),
                PathPart::Variable("id".into()),
                PathPart::Static("files".into()),
                PathPart::Greedy("proxy".into()),
            ]
        );
        assert_eq!(path("/a.b_c-d:e").parts(), [PathPart::Static("a.b_c-d:e".into())]);
        assert_eq!(path("/users/{id}").to_string(), "/users/{id}");
    }

    #[test]
    fn item_26_what_api_gateway_refuses_to_create_is_refused() {
        for bad in [
            "",
            "users",
            "//users",
            "/users/",
            "/users//x",
            "/{proxy+}/child",
            "/{proxy+}/{child}",
            "/hello world",
            "/hello%20world",
            "/{}",
            "/{+}",
            "/{a b}",
            "/{id",
            "/id}",
            "/x{id}",
            "/{id}/{id}",
            "/{id}/{id+}",
        ] {
            assert!(ResourcePath::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn item_26_a_variable_takes_one_segment_and_a_greedy_one_the_rest() {
        let user = path("/users/{id}");
        assert_eq!(user.matches("users/42"), Some(vec![("id", "42")]));
        assert_eq!(user.matches("users"), None);
        assert_eq!(user.matches("users/42/more"), None);
        assert_eq!(user.matches("Users/42"), None, "static parts are case-sensitive");

        let files = path("/files/{proxy+}");
        assert_eq!(files.matches("files/a"), Some(vec![("proxy", "a")]));
        assert_eq!(files.matches("files/a/b/c"), Some(vec![("proxy", "a/b/c")]));
        assert_eq!(files.matches("files"), None, "a greedy variable needs one segment at least");

        let deep = path("/a/{x}/b/{rest+}");
        assert_eq!(deep.matches("a/1/b/2/3"), Some(vec![("x", "1"), ("rest", "2/3")]));
        assert_eq!(deep.matches("a/1/c/2/3"), None);
    }

    #[test]
    fn item_26_the_root_matches_only_the_empty_path() {
        assert_eq!(path("/").matches(""), Some(vec![]));
        assert_eq!(path("/").matches("x"), None);
        assert_eq!(path("/{proxy+}").matches(""), None, "/{{proxy+}} does not match the root");
    }

    #[test]
    fn item_29_values_are_as_sent_and_an_encoded_slash_does_not_split_a_segment() {
        let user = path("/users/{id}");
        assert_eq!(user.matches("users/my-id%2F100"), Some(vec![("id", "my-id%2F100")]));
        assert_eq!(user.matches("users/a%20b"), Some(vec![("id", "a%20b")]));
        assert_eq!(path("/hello-world").matches("hello%2Dworld"), None);
    }

    #[test]
    fn item_30_an_empty_segment_inside_the_path_is_taken_only_by_a_greedy_variable() {
        assert_eq!(path("/a/b").matches("a//b"), None);
        assert_eq!(path("/a/{x}/b").matches("a//b"), None);
        assert_eq!(path("/{proxy+}").matches("a//b"), Some(vec![("proxy", "a//b")]));
        assert_eq!(path("/a/{proxy+}").matches("a//b"), Some(vec![("proxy", "/b")]));
        assert_eq!(path("/a/{proxy+}").matches("a/"), None);
    }

    #[test]
    fn specificity_orders_static_before_variable_before_greedy() {
        assert!(path("/a/b").specificity() < path("/a/{x}").specificity());
        assert!(path("/a/{x}").specificity() < path("/a/{x+}").specificity());
        assert!(path("/a/{x+}").specificity() < path("/{x}/b").specificity());
    }
}
