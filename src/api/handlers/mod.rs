//! Endpoint groups of the REST API, one file each, and the helpers they share: JSON body
//! parsing with 400s, changes sent to the owner shard of the state they touch, and the
//! responses for the owner's failures (the error decides the status).

pub mod channel;
pub mod conn;
pub mod conversation;
pub mod event;
pub mod lookup;
pub mod manager;
pub mod message;
pub mod route;
pub mod stream;
pub mod tag;
pub mod user;

use super::http::{Request, Response};
use crate::shard::error::OwnerError;
use crate::shard::msg::OwnerMsg;
use crate::shard::ops::OwnerOp;
use crate::shard::Shard;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Seconds a client is asked to wait (`Retry-After`) before retrying a request the node
/// could not serve (503: a full disk, a failed fsync).
pub const RETRY_AFTER_SECS: u32 = 1;

/// Parses the JSON body into `T`; a 400 with the error envelope otherwise.
pub fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    if req.body.is_empty() {
        return Err(Response::error(400, "request body is empty"));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::error(400, &format!("invalid request: {e}")))
}

/// Runs `op` on shard `owner` and awaits its verdict (once the change is durable).
pub async fn call_owner(shard: &Shard, owner: usize, op: OwnerOp) -> Result<(), OwnerError> {
    shard
        .ask(&shard.asks.ops, owner, |id| {
            OwnerMsg::Op {
                id,
                op: Box::new(op),
            }
            .into()
        })
        .await
}

/// The standard response to an owner's verdict: `{"status":200}`, or the failure.
pub fn respond(result: Result<(), OwnerError>) -> Response {
    match result {
        Ok(()) => ok(),
        Err(e) => failure(&e),
    }
}

/// The error envelope for an owner's failure, with the status the error carries.
pub fn failure(e: &OwnerError) -> Response {
    status_error(e.status(), &e.to_string())
}

/// The error envelope `{"msg","status"}` with `status`; see [`retry_later`].
pub fn status_error(status: u16, msg: &str) -> Response {
    retry_later(Response::error(status, msg))
}

/// A JSON response with `status`; see [`retry_later`].
pub fn status_json(status: u16, body: &Value) -> Response {
    retry_later(Response::json(status, body))
}

/// Adds `Retry-After` to a 503: the node could not serve the request now and may later.
pub fn retry_later(resp: Response) -> Response {
    if resp.status == 503 {
        resp.with_header("Retry-After", RETRY_AFTER_SECS.to_string())
    } else {
        resp
    }
}

/// `{"status":200}`.
pub fn ok() -> Response {
    Response::json_text(200, &br#"{"status":200}"#[..])
}
