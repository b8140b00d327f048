use std::time::{Duration, Instant};

use super::*;
use crate::trace_view::assembly::{Assembly, GRACE, MAX_PENDING, MAX_SPANS, MAX_WAIT, Missing};

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_str()).collect()
}

#[test]
fn a_request_is_complete_once_the_gateway_has_ended_and_the_function_has_sent_its_spans() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    assert_eq!(assembly.add(gateway_spans(), now), vec![], "the function's spans are still to come");
    assert_eq!(assembly.next_deadline(), Some(now + GRACE));
    let shown = assembly.add(function_spans(), now + Duration::from_millis(2));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].missing, None);
    assert_eq!(shown[0].spans.len(), 5);
    assert_eq!(assembly.next_deadline(), None, "nothing waits any more");
}

#[test]
fn the_functions_spans_may_arrive_first() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    assert_eq!(assembly.add(function_spans(), now), vec![]);
    let (invoke, server) = (gateway_spans().remove(0), gateway_spans().remove(1));
    assert_eq!(assembly.add([invoke], now), vec![], "the request has not ended yet");
    let shown = assembly.add([server], now);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].missing, None);
}

#[test]
fn a_request_whose_function_sends_nothing_is_shown_after_the_grace_period_saying_so() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    assembly.add(gateway_spans(), now);
    assert_eq!(assembly.due(now + GRACE - Duration::from_millis(1)), vec![]);
    let shown = assembly.due(now + GRACE);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].missing, Some(Missing::Function));
    assert_eq!(names(&shown[0].spans), ["Lambda.Invoke", "POST /helloworld"]);
}

#[test]
fn an_invocation_that_never_ran_or_timed_out_is_not_waited_for() {
    for error_type in ["service_error", "timeout"] {
        let mut spans = gateway_spans();
        spans[0] = with(spans[0].clone(), &[("error.type", error_type.into())]);
        let shown = Assembly::new(true).add(spans, Instant::now());
        assert_eq!(shown.len(), 1, "{error_type}");
        assert_eq!(shown[0].missing, None, "{error_type}");
    }
    let mut spans = gateway_spans();
    spans[0] = with(spans[0].clone(), &[("error.type", "function_error".into())]);
    assert_eq!(Assembly::new(true).add(spans, Instant::now()), vec![], "a failed function still exports");
}

#[test]
fn with_an_invoke_url_the_gateways_spans_are_the_whole_request() {
    let shown = Assembly::new(false).add(gateway_spans(), Instant::now());
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].missing, None);
}

#[test]
fn spans_without_their_gateway_request_are_shown_on_their_own() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    assembly.add(function_spans(), now);
    let shown = assembly.due(now + GRACE);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].missing, Some(Missing::Gateway));
}

#[test]
fn each_arrival_restarts_the_wait() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    assembly.add(gateway_spans(), now);
    let later = now + Duration::from_millis(300);
    assembly.add([span(9, Some(1), "late", Kind::Internal, Source::Gateway, (0, 1))], later);
    assert_eq!(assembly.due(now + GRACE), vec![]);
    assert_eq!(assembly.due(later + GRACE).len(), 1);
}

#[test]
fn no_trace_waits_longer_than_the_longest_wait_however_its_spans_keep_coming() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    let mut at = now;
    while at < now + MAX_WAIT {
        assembly.add([span(9, Some(1), "again", Kind::Internal, Source::Function, (0, 1))], at);
        at += GRACE / 2;
    }
    assert_eq!(assembly.next_deadline(), Some(now + MAX_WAIT));
    assert_eq!(assembly.due(now + MAX_WAIT).len(), 1);
}

#[test]
fn waiting_traces_are_bounded_the_oldest_shown_first_to_make_room() {
    let now = Instant::now();
    let mut assembly = Assembly::new(true);
    let trace = |n: u64| {
        let mut spans = gateway_spans();
        for span in &mut spans {
            span.trace_id = TraceId::from(u128::from(n) + 1);
        }
        spans
    };
    for n in 0..MAX_PENDING as u64 {
        assert_eq!(assembly.add(trace(n), now + Duration::from_micros(n)), vec![]);
    }
    let shown = assembly.add(trace(MAX_PENDING as u64), now + Duration::from_secs(1));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].trace_id, TraceId::from(1_u128), "the oldest");
    assert_eq!(shown[0].missing, Some(Missing::Function));
    assert_eq!(assembly.drain().len(), MAX_PENDING);
}

#[test]
fn spans_of_one_trace_are_bounded_and_counted() {
    let many =
        (10..10 + MAX_SPANS as u64 + 3).map(|n| span(n, Some(1), "step", Kind::Internal, Source::Gateway, (0, 1)));
    let mut assembly = Assembly::new(true);
    assembly.add(many, Instant::now());
    let drained = assembly.drain();
    assert_eq!(drained[0].spans.len(), MAX_SPANS);
    assert_eq!(drained[0].dropped_spans, 3);
}
