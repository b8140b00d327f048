//! The `handler_event` fuzz target's committed inputs, replayed with its property on stable (see `fuzz/`).

#[path = "../fuzz/props/handler_event.rs"]
mod handler_event;
#[path = "../fuzz/props/replay.rs"]
mod replay;

const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

#[test]
fn handler_event_corpus() {
    replay::replay(FUZZ_DIR, "handler_event", handler_event::check);
}
