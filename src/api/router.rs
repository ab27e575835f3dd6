//! Maps a request to its handler. One place lists every route, so the OpenAPI document can be
//! checked against it.

use super::http::{Method, Request, Response};
use crate::server::ShardCtx;
use std::rc::Rc;

/// Answers one request on the shard that accepted it.
pub async fn handle(ctx: Rc<ShardCtx>, req: Request) -> Response {
    if req.method == Method::Options {
        return Response::empty(204);
    }
    match (req.method, req.path.as_str()) {
        (Method::Get | Method::Head, "/health") => {
            Response::json_text(200, &br#"{"status":"ok"}"#[..])
        }
        _ => {
            let _ = &ctx;
            Response::error(404, &format!("no route for {}", req.path))
        }
    }
}
