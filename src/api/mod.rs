//! The REST API on `httpAddr` and the manager listener: the HTTP floor (`http`), the listeners
//! and their limits (`listener`, `state`), who may call what (`access`), the router and the
//! endpoint groups (`router`, `handlers`), the bounded message reads they ship to owner shards
//! (`reads`), monitoring views (`monitor`), the embedded chat demo's files (`demo`).

pub mod access;
pub mod demo;
pub mod forward;
pub mod handlers;
pub mod http;
pub mod listener;
pub mod monitor;
pub mod reads;
pub mod router;
pub mod state;

pub use state::ApiState;
