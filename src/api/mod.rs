//! The REST API on `httpAddr`: the HTTP floor, the router and the endpoint groups.

pub mod access;
pub mod handlers;
pub mod http;
pub mod monitor;
pub mod router;
