#![no_main]

#[path = "../props/proxy_response.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
