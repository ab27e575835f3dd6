//! The REST API on `httpAddr`: the HTTP floor plus the router and endpoint groups.

pub mod http;
pub mod router;
