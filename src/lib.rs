//! Jindou (筋斗云): a WuKongIM-compatible instant-messaging server, thread-per-core on io_uring.
//!
//! Rooms, top to bottom; each imports only the rooms below it (checked by
//! `scripts/check-rooms.py`, drawn in docs/architecture.md, "Rooms and their arrows"):
//!
//! - [`server`]: start-up, the shard threads, the mesh loop that routes messages by addressee.
//! - [`api`]: the HTTP listeners, access policy, REST handlers (their JSON, and the bounded
//!   message reads they ship to owner shards), monitoring views.
//! - [`gateway`]: client sockets (TCP, WebSocket, WSS), sessions, the per-shard `ConnTable`.
//! - [`webhook`]: events to the business backend (implements the shard's `Events` port).
//! - [`datasource`]: channel data from the business backend (the `ChannelSource` port).
//! - [`metrics`]: per-shard snapshots behind `/varz` and `/metrics`.
//! - [`json`]: WuKongIM's JSON shapes shared by REST and webhooks.
//! - [`shard`]: the state one shard owns, the owner's half of the message path, and the typed
//!   operations and errors REST changes get (no JSON).
//! - [`cluster`]: who leads each slot, and the replicated log the shard proposes to.
//! - floors: [`runtime`] (threads, mesh, slots), [`proto`] (wkproto), [`config`], [`auth`].

pub mod api;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod datasource;
pub mod gateway;
pub mod json;
pub mod metrics;
pub mod proto;
pub mod runtime;
pub mod server;
pub mod shard;
pub mod webhook;
