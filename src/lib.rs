//! Jindou (筋斗云): a WuKongIM-compatible instant-messaging server, thread-per-core on io_uring.
//!
//! Module map (rooms depend downwards only: `gateway`/`api` → `shard` → storage, `proto`;
//! `runtime` is the floor):

pub mod api;
pub mod auth;
pub mod config;
pub mod datasource;
pub mod gateway;
pub mod metrics;
pub mod proto;
pub mod runtime;
pub mod server;
pub mod shard;
pub mod webhook;
