//! Monitoring and cluster views (`/varz`, `/connz`, `/metrics`, `/cluster/*`): routes served on
//! the API port (and the manager port). Returns `None` for paths it does not serve.

use super::http::{Request, Response};
use crate::shard::Shard;

/// Answers a monitoring route, or `None` if `req` is not one.
pub async fn route(_shard: &Shard, _req: &Request) -> Option<Response> {
    None
}
