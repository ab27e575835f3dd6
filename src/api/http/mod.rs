//! The lightweight HTTP/1.1 server every shard runs: request parsing with limits, responses,
//! and the keep-alive connection loop. Routing lives in [`crate::api::router`].

pub mod conn;
pub mod request;
pub mod response;

pub use conn::{serve_http, ConnSettings};
pub use request::{parse_request, HttpError, Method, Request, RequestLimits};
pub use response::Response;
