//! Endpoint groups of the REST API, one file each, and the helpers they share: JSON body
//! parsing with 400s, and calls to the owner shard of the state they touch.

pub mod channel;
pub mod conversation;
pub mod manager;
pub mod message;
pub mod route;
pub mod stream;
pub mod user;

use super::http::{Request, Response};
use crate::shard::api_ops::{ApiReq, ApiResp};
use crate::shard::msg::OwnerMsg;
use crate::shard::Shard;
use serde::de::DeserializeOwned;

/// Parses the JSON body into `T`; a 400 with the error envelope otherwise.
pub fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    if req.body.is_empty() {
        return Err(Response::error(400, "request body is empty"));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::error(400, &format!("invalid request: {e}")))
}

/// Runs `req` on shard `owner` and awaits its answer.
pub async fn call_owner(shard: &Shard, owner: usize, req: ApiReq) -> ApiResp {
    shard
        .ask(&shard.asks.api, owner, |id| {
            OwnerMsg::Api {
                id,
                req: Box::new(req),
            }
            .into()
        })
        .await
}

/// The standard response for an owner's answer: `{"status":200}`, the JSON as is, or 400.
pub fn respond(resp: ApiResp) -> Response {
    match resp {
        ApiResp::Ok => ok(),
        ApiResp::Json(v) => Response::json(200, &v),
        ApiResp::Error(e) => Response::error(400, &e),
    }
}

/// `{"status":200}`.
pub fn ok() -> Response {
    Response::json_text(200, &br#"{"status":200}"#[..])
}
