//! The tutorial's "Hello, World!" Lambda function: the greeting itself and the API Gateway adapter around it.
//!
//! A library so that the `bootstrap` binary, the tests and fuzz targets all drive the same code.

pub mod greeting;
pub mod handler;
