//! The tutorial's "Hello, World!" Lambda function: the greeting itself, the API Gateway adapter around it, and the
//! OpenTelemetry instrumentation around the adapter.
//!
//! A library so that the `bootstrap` binary, the tests and fuzz targets all drive the same code.

pub mod greeting;
pub mod handler;
pub mod telemetry;
