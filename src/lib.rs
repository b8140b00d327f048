//! The tutorial's "Hello, World!" Lambda function: the greeting itself ([`greeting`]) and the API Gateway adapter
//! around it ([`handler`]). `main` wires them to the Lambda runtime with the `lambda-otel` telemetry.
//!
//! A library so that the `bootstrap` binary, the tests and fuzz targets all drive the same code.

pub mod greeting;
pub mod handler;
