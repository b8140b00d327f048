//! A local API Gateway REST (v1) Lambda proxy integration.
//!
//! The HTTP front ([`server`]) routes `/{stage}/{resource}` ([`routes`]), turns each request into the proxy event that
//! API Gateway would send ([`event`]), hands it to a [`backend::Backend`], and maps the function's proxy output back to
//! HTTP with API Gateway's error semantics ([`response`]). [`telemetry`] traces each request over OTLP, or into
//! [`trace_view`], which shows the traces of the gateway and its functions on stdout when no collector is configured;
//! [`xray_daemon`] stands in for the X-Ray daemon and shows the segment documents functions send it.

pub mod backend;
pub mod config;
pub mod event;
pub mod gateway;
pub mod gateway_response;
pub mod http1;
pub mod open_files;
pub mod output;
mod random;
pub mod response;
pub mod routes;
pub mod server;
pub mod telemetry;
pub mod trace_view;
pub mod xray_daemon;
