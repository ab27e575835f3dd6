//! Maps a request to its handler. One place lists every route, so the OpenAPI document can be
//! checked against it.

use super::handlers::{channel, message, user};
use super::http::{Method, Request, Response};
use crate::shard::Shard;
use std::rc::Rc;

/// Answers one request on the shard that accepted it.
pub async fn handle(shard: Rc<Shard>, req: Request) -> Response {
    let token = &shard.ctx.config.manager_token;
    if !token.is_empty() && req.header("token") != Some(token.as_str()) {
        let bearer = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(token.as_str()) {
            return Response::empty(401);
        }
    }
    if req.method == Method::Options {
        return Response::empty(204);
    }
    let s = &*shard;
    match (req.method, req.path.as_str()) {
        (Method::Get | Method::Head, "/health") => {
            Response::json_text(200, &br#"{"status":"ok"}"#[..])
        }
        (Method::Post, "/user/token") => user::token(s, &req).await,
        (Method::Post, "/channel") => channel::create(s, &req).await,
        (Method::Post, "/channel/subscriber_add") => channel::subscribers(s, &req, false).await,
        (Method::Post, "/channel/subscriber_remove") => channel::subscribers(s, &req, true).await,
        (Method::Post, "/message/send") => message::send(s, &req).await,
        (Method::Post, "/channel/messagesync") => message::channel_sync(s, &req).await,
        _ => match super::monitor::route(s, &req).await {
            Some(resp) => resp,
            None => Response::error(404, &format!("no route for {}", req.path)),
        },
    }
}
