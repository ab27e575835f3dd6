//! The `wkhook` gRPC service (spec http-api §11.1), generated from `proto/wkhook.proto`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/wkhook.rs"));
