#![no_main]

#[path = "../props/handler_event.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
