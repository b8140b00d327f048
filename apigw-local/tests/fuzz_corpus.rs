//! The `http_request` and `proxy_response` fuzz targets' committed inputs, replayed with their properties on stable
//! (see `fuzz/` at the workspace root).

#[path = "../../fuzz/props/http_request.rs"]
mod http_request;
#[path = "../../fuzz/props/proxy_response.rs"]
mod proxy_response;
#[path = "../../fuzz/props/replay.rs"]
mod replay;

const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz");

#[test]
fn http_request_corpus() {
    replay::replay(FUZZ_DIR, "http_request", http_request::check);
}

#[test]
fn proxy_response_corpus() {
    replay::replay(FUZZ_DIR, "proxy_response", proxy_response::check);
}
