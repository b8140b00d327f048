//! Trace context on the wire: W3C `traceparent` and AWS X-Ray's `X-Amzn-Trace-Id`, read from the client and written
//! into the event.
//!
//! Both carry the same 128-bit trace id: X-Ray's `Root=1-{8 hex}-{24 hex}` is the W3C trace id with a dash after its
//! eighth digit (X-Ray wants those eight to be the trace's start in Unix seconds, which is what [`super`]'s id
//! generator puts there), and `Parent` is the W3C parent (span) id.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The trace headers of one hop: what the event carries, what the Runtime API passes as `Lambda-Runtime-Trace-Id` and
/// what the client gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `X-Amzn-Trace-Id`.
    pub xray: String,
    /// `traceparent`, when tracing is on; real API Gateway adds only `X-Amzn-Trace-Id`.
    pub traceparent: Option<String>,
}

impl TraceHeaders {
    /// The headers that name `span` as the caller of the next hop.
    pub fn of(span: &SpanContext) -> Self {
        let sampled = span.is_sampled();
        Self {
            xray: format!("{};Parent={};Sampled={}", xray_root(span.trace_id()), span.span_id(), u8::from(sampled)),
            traceparent: Some(format!("00-{}-{}-{:02x}", span.trace_id(), span.span_id(), span.trace_flags().to_u8())),
        }
    }

    /// Without tracing, as API Gateway does without X-Ray: the client's header when it names a trace, else a new
    /// root.
    pub fn untraced(client_xray: Option<&str>) -> Self {
        let xray = match client_xray {
            Some(client) if client.split(';').any(|part| part.trim().starts_with("Root=1-")) => client.to_string(),
            _ => {
                let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                let random = crate::random::uuid_v4().simple().to_string();
                format!("Root=1-{seconds:08x}-{}", &random[..24])
            }
        };
        Self { xray, traceparent: None }
    }

    /// The W3C form (32 lowercase hex digits) of the trace id in `X-Amzn-Trace-Id`, if it has a valid `Root`.
    pub fn trace_id(&self) -> Option<String> {
        parse_xray(&self.xray).map(|xray| xray.trace_id.to_string())
    }
}

/// What a client's `X-Amzn-Trace-Id` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XrayHeader {
    pub trace_id: TraceId,
    /// The caller's segment (span), if it named one.
    pub parent: Option<SpanId>,
    /// `Sampled=1` or `Sampled=0`; absent or `?` (the caller leaves the decision to the callee) is `None`.
    pub sampled: Option<bool>,
}

impl XrayHeader {
    /// The caller's span as a remote parent, when the header names one. An undecided caller counts as sampled: locally
    /// everything is traced unless `OTEL_TRACES_SAMPLER` says otherwise.
    pub fn parent_span(&self) -> Option<SpanContext> {
        let flags = if self.sampled.unwrap_or(true) { TraceFlags::SAMPLED } else { TraceFlags::NOT_SAMPLED };
        Some(SpanContext::new(self.trace_id, self.parent?, flags, true, TraceState::default()))
    }
}

/// `Root=1-{8 hex}-{24 hex}` for a trace id.
fn xray_root(trace_id: TraceId) -> String {
    let hex = trace_id.to_string();
    format!("Root=1-{}-{}", &hex[..8], &hex[8..])
}

/// Reads `Root`, `Parent` and `Sampled` from an X-Ray trace header (other fields, such as `Self` or `Lineage`, are
/// ignored); `None` without a valid `Root`.
pub fn parse_xray(header: &str) -> Option<XrayHeader> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for field in header.split(';') {
        let Some((key, value)) = field.split_once('=') else { continue };
        match key.trim() {
            "Root" => root = parse_root(value.trim()),
            "Parent" => parent = parse_span_id(value.trim(), true),
            "Sampled" => {
                sampled = match value.trim() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(XrayHeader { trace_id: root?, parent, sampled })
}

fn parse_root(root: &str) -> Option<TraceId> {
    let (time, random) = root.strip_prefix("1-")?.split_once('-')?;
    if time.len() != 8 || random.len() != 24 {
        return None;
    }
    parse_trace_id(&format!("{time}{random}").to_ascii_lowercase())
}

/// The caller's span from a W3C `traceparent`, by the rules of Trace Context level 1: version `ff` and all-zero ids
/// are invalid, upper-case hex is invalid, and a version after `00` may append fields.
pub fn parse_traceparent(header: &str) -> Option<SpanContext> {
    let mut fields = header.trim().split('-');
    let version = fields.next().filter(|version| is_lower_hex(version, 2) && *version != "ff")?;
    let trace_id = parse_trace_id(fields.next()?)?;
    let span_id = parse_span_id(fields.next()?, false)?;
    let flags = fields.next().filter(|flags| is_lower_hex(flags, 2))?;
    if version == "00" && fields.next().is_some() {
        return None;
    }
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?) & TraceFlags::SAMPLED;
    Some(SpanContext::new(trace_id, span_id, flags, true, TraceState::default()))
}

fn parse_trace_id(hex: &str) -> Option<TraceId> {
    is_lower_hex(hex, 32).then(|| TraceId::from_hex(hex).ok()).flatten().filter(|id| *id != TraceId::INVALID)
}

/// X-Ray writes its ids in lower case but is not strict about reading them; W3C is.
fn parse_span_id(hex: &str, any_case: bool) -> Option<SpanId> {
    let hex = if any_case { hex.to_ascii_lowercase() } else { hex.to_string() };
    is_lower_hex(&hex, 16).then(|| SpanId::from_hex(&hex).ok()).flatten().filter(|id| *id != SpanId::INVALID)
}

fn is_lower_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";
    const SPAN: &str = "53995c3f42cd8ad8";

    fn span(sampled: bool, remote: bool) -> SpanContext {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::NOT_SAMPLED };
        let (trace_id, span_id) = (TraceId::from_hex(TRACE).unwrap(), SpanId::from_hex(SPAN).unwrap());
        SpanContext::new(trace_id, span_id, flags, remote, TraceState::default())
    }

    #[test]
    fn a_span_is_written_as_both_headers_with_the_same_ids() {
        let headers = TraceHeaders::of(&span(true, false));
        assert_eq!(headers.xray, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(headers.traceparent.as_deref(), Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"));
        assert_eq!(headers.trace_id().as_deref(), Some(TRACE));
        let unsampled = TraceHeaders::of(&span(false, false));
        assert!(unsampled.xray.ends_with(";Sampled=0"), "{}", unsampled.xray);
        assert!(unsampled.traceparent.unwrap().ends_with("-00"));
    }

    #[test]
    fn x_ray_is_read_back_into_the_w3c_ids() {
        let headers = TraceHeaders::of(&span(true, false));
        let xray = parse_xray(&headers.xray).unwrap();
        assert_eq!(xray.parent_span().unwrap(), span(true, true));
        assert_eq!(parse_traceparent(headers.traceparent.as_deref().unwrap()), xray.parent_span());
    }

    #[test]
    fn x_ray_fields_in_any_order_and_case_of_hex() {
        let xray =
            parse_xray(" Sampled=0 ; Self=1-x-y;Parent=53995C3F42CD8AD8; Root=1-5759E988-BD862E3FE1BE46A994272793")
                .unwrap();
        assert_eq!(xray.trace_id, TraceId::from_hex(TRACE).unwrap());
        assert_eq!(xray.parent, Some(SpanId::from_hex(SPAN).unwrap()));
        assert_eq!(xray.sampled, Some(false));
        assert!(!xray.parent_span().unwrap().is_sampled());
    }

    #[test]
    fn x_ray_without_parent_or_decision() {
        let xray = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
        assert_eq!((xray.parent, xray.sampled), (None, None));
        assert_eq!(xray.parent_span(), None);
        let undecided = parse_xray(&format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={SPAN}")).unwrap();
        assert!(undecided.parent_span().unwrap().is_sampled());
    }

    #[test]
    fn invalid_x_ray_roots_are_refused() {
        for header in [
            "",
            "garbage",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98-8bd862e3fe1be46a994272793",
            "Root=1-5759e988bd862e3fe1be46a994272793",
            "Root=1-00000000-000000000000000000000000",
            "Root=1-5759e988-bd862e3fe1be46a99427279g",
            "Parent=53995c3f42cd8ad8;Sampled=1",
        ] {
            assert_eq!(parse_xray(header), None, "{header:?}");
        }
        let bad_parent = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000").unwrap();
        assert_eq!(bad_parent.parent, None);
    }

    #[test]
    fn traceparent_follows_trace_context_level_1() {
        let valid = format!("00-{TRACE}-{SPAN}-01");
        assert_eq!(parse_traceparent(&valid), Some(span(true, true)));
        let unsampled = parse_traceparent(&format!("00-{TRACE}-{SPAN}-00")).unwrap();
        assert!(!unsampled.is_sampled());
        let future_version = parse_traceparent(&format!("cc-{TRACE}-{SPAN}-09-what-comes-next")).unwrap();
        assert!(future_version.is_sampled(), "only the sampled bit of unknown flags is kept");
        assert_eq!(future_version.trace_flags(), TraceFlags::SAMPLED);
        for invalid in [
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}"),
            String::new(),
        ] {
            assert_eq!(parse_traceparent(&invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn untraced_keeps_a_client_root_and_makes_a_well_formed_one_otherwise() {
        let client = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(TraceHeaders::untraced(Some(client)), TraceHeaders { xray: client.into(), traceparent: None });
        for missing in [None, Some(""), Some("garbage"), Some("Root=2-x")] {
            let fresh = TraceHeaders::untraced(missing);
            assert_eq!(fresh.traceparent, None);
            let root = fresh.xray.strip_prefix("Root=1-").unwrap();
            let (time, id) = root.split_once('-').unwrap();
            assert_eq!((time.len(), id.len()), (8, 24), "{fresh:?}");
            assert!(root.replace('-', "").bytes().all(|b| b.is_ascii_hexdigit()), "{fresh:?}");
            assert_eq!(fresh.trace_id(), Some(root.replace('-', "")));
        }
    }
}
