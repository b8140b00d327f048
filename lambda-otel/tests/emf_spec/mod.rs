//! The CloudWatch embedded metric format specification, checked on one log line: AWS's JSON schema
//! (`fixtures/emf-schema.json`, with its source), and the rules of the specification's text that a schema cannot say —
//! every dimension and metric a directive names is a member of the root with a value of the right type, the bounds on
//! metric definitions and value arrays, units from CloudWatch's list.
//!
//! Shared by lambda-otel's unit tests (`src/emf/tests.rs`) and apigw-local's end-to-end test (`tests/emf_lines.rs`)
//! through `#[path]`. The schema is interpreted here for the keywords it uses; a keyword or pattern this does not know
//! is reported as a violation, so a changed schema cannot pass unread.

use serde_json::{Map, Value};

const SCHEMA: &str = include_str!("../fixtures/emf-schema.json");

/// Keywords that only annotate a schema.
const ANNOTATIONS: [&str; 5] = ["$comment", "$id", "title", "examples", "description"];

/// A timestamp below this is in seconds, not milliseconds (it would be before 2001 in ms).
const FIRST_MS: u64 = 1_000_000_000_000;

/// What is wrong with `line` as an EMF document, one sentence each; empty when nothing is.
pub(crate) fn violations(line: &str) -> Vec<String> {
    // A LogEvent must be one JSON object with nothing before or after it.
    let document: Value = match serde_json::from_str(line) {
        Ok(document) => document,
        Err(error) => return vec![format!("not one JSON value: {error}")],
    };
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema fixture is JSON");
    let mut found = Vec::new();
    check(&schema, &document, "", &mut found);
    if found.is_empty() {
        references(&document, &mut found);
    }
    found
}

/// Checks `value` (at `path`) against `schema`, for the keywords the EMF schema uses.
fn check(schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return found.push(format!("{path}: the schema is not an object"));
    };
    for (keyword, constraint) in schema {
        match keyword.as_str() {
            keyword if ANNOTATIONS.contains(&keyword) => {}
            "type" => {
                let matches = match constraint.as_str() {
                    Some("object") => value.is_object(),
                    Some("array") => value.is_array(),
                    Some("string") => value.is_string(),
                    Some("integer") => value.is_i64() || value.is_u64(),
                    other => {
                        found.push(format!("{path}: unknown type {other:?} in the schema"));
                        continue;
                    }
                };
                if !matches {
                    found.push(format!("{path}: {value} is not of type {constraint}"));
                }
            }
            "required" => {
                for name in constraint.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if value.as_object().is_some_and(|object| !object.contains_key(name)) {
                        found.push(format!("{path}: required member {name:?} is missing"));
                    }
                }
            }
            "properties" => {
                let (Some(object), Some(properties)) = (value.as_object(), constraint.as_object()) else { continue };
                for (name, schema) in properties {
                    if let Some(member) = object.get(name) {
                        check(schema, member, &format!("{path}/{name}"), found);
                    }
                }
            }
            "items" => {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(constraint, item, &format!("{path}/{index}"), found);
                }
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" => {
                let bound = constraint.as_u64().unwrap_or_default() as usize;
                let length = match value {
                    Value::Array(items) if keyword.ends_with("Items") => items.len(),
                    Value::String(text) if keyword.ends_with("Length") => text.chars().count(),
                    _ => continue,
                };
                let within = if keyword.starts_with("min") { length >= bound } else { length <= bound };
                if !within {
                    found.push(format!("{path}: length {length} breaks {keyword} {bound}"));
                }
            }
            "pattern" => {
                let (Some(pattern), Some(text)) = (constraint.as_str(), value.as_str()) else { continue };
                match matches_pattern(pattern, text) {
                    Some(true) => {}
                    Some(false) => found.push(format!("{path}: {text:?} does not match {pattern}")),
                    None => found.push(format!("{path}: the schema's pattern {pattern} is not one this reads")),
                }
            }
            other => found.push(format!("{path}: the schema keyword {other:?} is not one this reads")),
        }
    }
}

/// Whether `text` matches `pattern`, for the two forms the schema uses: `^(.*)$` (one line of anything) and
/// `^(a|b|…)$` (one of these literals, `/` escaped as `\/`); `None` for any other pattern.
fn matches_pattern(pattern: &str, text: &str) -> Option<bool> {
    let inner = pattern.strip_prefix("^(")?.strip_suffix(")$")?;
    if inner == ".*" {
        // ECMAScript's `.` matches anything but a line terminator.
        return Some(!text.contains(['\n', '\r', '\u{2028}', '\u{2029}']));
    }
    let literals = inner.replace("\\/", "/");
    if literals.contains(|c: char| "\\.*+?()[]{}^$".contains(c)) {
        return None;
    }
    Some(literals.split('|').any(|literal| literal == text))
}

/// The specification's rules on what the directives reference.
fn references(document: &Value, found: &mut Vec<String>) {
    let root = document.as_object().expect("checked by the schema");
    let metadata = &root["_aws"];
    let timestamp = metadata["Timestamp"].as_u64().unwrap_or_default();
    if timestamp < FIRST_MS {
        found.push(format!("_aws.Timestamp {timestamp} is not in milliseconds since the epoch"));
    }
    for (index, directive) in metadata["CloudWatchMetrics"].as_array().into_iter().flatten().enumerate() {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if namespace.trim().is_empty() {
            found.push(format!("directive {index}: the namespace {namespace:?} has no non-whitespace character"));
        }
        for name in directive["Dimensions"].as_array().into_iter().flatten().flat_map(|set| set.as_array()).flatten() {
            let name = name.as_str().unwrap_or_default();
            match member(root, name) {
                Some(Value::String(value)) if value.chars().count() <= 1024 && !value.trim().is_empty() => {}
                other => found.push(format!("directive {index}: dimension {name:?} is not a string member: {other:?}")),
            }
        }
        let metrics = directive["Metrics"].as_array().map_or(&[][..], Vec::as_slice);
        if metrics.len() > 100 {
            found.push(format!("directive {index}: {} metric definitions, more than 100", metrics.len()));
        }
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap_or_default();
            match member(root, name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => {
                    found.push(format!("directive {index}: metric {name:?} is not a number or up to 100: {other:?}"))
                }
            }
            let resolution = metric.get("StorageResolution");
            if resolution.is_some_and(|resolution| resolution != 1 && resolution != 60) {
                found.push(format!("directive {index}: metric {name:?} has StorageResolution {resolution:?}"));
            }
        }
    }
}

/// The root's member `name`: a reference names a member of the root itself, never a nested one.
fn member<'a>(root: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    root.get(name).filter(|_| name != "_aws")
}
