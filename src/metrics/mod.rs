//! Counters and histograms behind `/varz`, `/connz` and `/metrics`.
//!
//! Every shard keeps plain `Cell` counters ([`crate::shard::stats`]); a monitoring request asks
//! each shard for a [`ShardSnapshot`] through the mesh ([`collect`]) and sums or labels them.
//! Nothing here runs on the message path.

pub mod process;
pub mod prom;
pub mod snapshot;
pub mod timefmt;

pub use crate::shard::events::ConnRow;
pub use snapshot::{collect, collect_conns, ShardSnapshot, Totals};
