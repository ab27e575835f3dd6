//! Maps a request to its handler, after authentication. [`ROUTES`] lists every route with the
//! access it needs; `docs/openapi.yaml` is checked against it by the tests.

use super::handlers::{channel, conversation, manager, message, route, stream, user};
use super::http::{Method, Request, Response};
use super::state::ApiState;
use crate::auth::Access;
use std::rc::Rc;

/// One route of the REST API.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Exact path.
    pub path: &'static str,
    /// What a caller needs.
    pub access: Access,
}

const fn r(method: Method, path: &'static str, access: Access) -> Route {
    Route {
        method,
        path,
        access,
    }
}

use Access::{Open, Read, Write};
use Method::{Get, Post};

/// Every route the router serves (monitoring routes live in `api::monitor`).
pub const ROUTES: &[Route] = &[
    r(Get, "/health", Open),
    r(Post, "/manager/login", Open),
    r(Post, "/user/token", Write),
    r(Post, "/user/onlinestatus", Read),
    r(Post, "/user/device_quit", Write),
    r(Post, "/user/systemuids_add", Write),
    r(Post, "/user/systemuids_remove", Write),
    r(Get, "/user/systemuids", Read),
    r(Post, "/channel", Write),
    r(Post, "/channel/info", Write),
    r(Post, "/channel/delete", Write),
    r(Post, "/channel/subscriber_add", Write),
    r(Post, "/channel/subscriber_remove", Write),
    r(Post, "/channel/blacklist_add", Write),
    r(Post, "/channel/blacklist_set", Write),
    r(Post, "/channel/blacklist_remove", Write),
    r(Post, "/channel/whitelist_add", Write),
    r(Post, "/channel/whitelist_set", Write),
    r(Post, "/channel/whitelist_remove", Write),
    r(Get, "/channel/whitelist", Read),
    r(Get, "/channel/max_message_seq", Read),
    r(Post, "/channel/messagesync", Read),
    r(Post, "/message/send", Write),
    r(Post, "/message/sendbatch", Write),
    r(Post, "/messages", Read),
    r(Post, "/message/sync", Read),
    r(Post, "/message/syncack", Write),
    r(Post, "/conversation/sync", Read),
    r(Post, "/conversation/syncMessages", Read),
    r(Post, "/conversations/clearUnread", Write),
    r(Post, "/conversations/setUnread", Write),
    r(Post, "/conversations/delete", Write),
    r(Post, "/conversation/channels", Read),
    r(Get, "/route", Read),
    r(Post, "/route/batch", Read),
    r(Post, "/stream/open", Write),
    r(Post, "/stream/close", Write),
    r(Post, "/stream", Write),
    r(Post, "/stream/chunk", Write),
];

/// The access a request needs: from [`ROUTES`], else reads for GET and writes otherwise.
pub fn access_of(method: Method, path: &str) -> Access {
    let m = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|r| r.method == m && r.path == path)
        .map(|r| r.access)
        .unwrap_or(if m == Method::Get { Read } else { Write })
}

/// Answers one request on the shard that accepted it.
pub async fn handle(api: Rc<ApiState>, req: Request) -> Response {
    let access = access_of(req.method, &req.path);
    let caller = match api.policy().api_port(&req, access) {
        Ok(c) => c.audit_name(),
        Err(resp) => return resp,
    };
    if req.method == Method::Options {
        return Response::empty(204);
    }
    let resp = serve(&api, &req).await;
    let admin = req.path.starts_with("/channel") || req.path.starts_with("/user/");
    if admin && access == Access::Write && resp.status == 200 {
        audit(&caller, &req);
    }
    resp
}

/// Serves a request here or on the node leading its state; in a cluster, a call refused as
/// retryable (a leader change raced it) is tried again, a few times, through the new leader.
async fn serve(api: &ApiState, req: &Request) -> Response {
    const TRIES: u32 = 4;
    let mut attempt = 0;
    loop {
        let resp = match super::forward::relay_if_remote(api, req).await {
            Some(relayed) => relayed,
            None => dispatch(api, req).await,
        };
        attempt += 1;
        if resp.status != 503 || attempt == TRIES || !super::forward::retryable(api, req) {
            return resp;
        }
        monoio::time::sleep(std::time::Duration::from_millis(100 * attempt as u64)).await;
    }
}

/// Logs one administrative change: who, which endpoint, and the target it names.
fn audit(caller: &str, req: &Request) {
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let field = |k: &str| body.get(k).map(|v| v.to_string()).unwrap_or_default();
    tracing::info!(
        target: "jindou::audit",
        caller,
        path = %req.path,
        uid = %field("uid"),
        channel_id = %field("channel_id"),
        channel_type = %field("channel_type"),
        uids = %field("uids"),
        subscribers = %field("subscribers"),
        "admin change"
    );
}

async fn dispatch(api: &ApiState, req: &Request) -> Response {
    let s = &*api.shard;
    let q = req;
    match (req.method, req.path.as_str()) {
        (Get | Method::Head, "/health") => super::monitor::health(s).await,
        (Post, "/manager/login") => manager::login(api, q),
        (Post, "/user/token") => user::token(s, q).await,
        (Post, "/user/onlinestatus") => user::online_status(s, q).await,
        (Post, "/user/device_quit") => user::device_quit(s, q).await,
        (Post, "/user/systemuids_add") => user::system_uids(s, q, false).await,
        (Post, "/user/systemuids_remove") => user::system_uids(s, q, true).await,
        (Get, "/user/systemuids") => user::list_system_uids(s),
        (Post, "/channel") => channel::create(s, q).await,
        (Post, "/channel/info") => channel::info(s, q).await,
        (Post, "/channel/delete") => channel::delete(s, q).await,
        (Post, "/channel/subscriber_add") => channel::subscribers(s, q, false).await,
        (Post, "/channel/subscriber_remove") => channel::subscribers(s, q, true).await,
        (Post, "/channel/blacklist_add") => channel::list(s, q, "blacklist", "add").await,
        (Post, "/channel/blacklist_set") => channel::list(s, q, "blacklist", "set").await,
        (Post, "/channel/blacklist_remove") => channel::list(s, q, "blacklist", "remove").await,
        (Post, "/channel/whitelist_add") => channel::list(s, q, "whitelist", "add").await,
        (Post, "/channel/whitelist_set") => channel::list(s, q, "whitelist", "set").await,
        (Post, "/channel/whitelist_remove") => channel::list(s, q, "whitelist", "remove").await,
        (Get, "/channel/whitelist") => channel::get_whitelist(s, q).await,
        (Get, "/channel/max_message_seq") => channel::max_seq(s, q).await,
        (Post, "/channel/messagesync") => message::channel_sync(s, q).await,
        (Post, "/message/send") => message::send(s, q).await,
        (Post, "/message/sendbatch") => message::send_batch(s, q).await,
        (Post, "/messages") => message::fetch(s, q).await,
        (Post, "/message/sync") => message::cmd_sync(s, q).await,
        (Post, "/message/syncack") => message::cmd_sync_ack(s, q).await,
        (Post, "/conversation/sync") => conversation::sync(s, q).await,
        (Post, "/conversation/syncMessages") => conversation::sync_messages(s, q).await,
        (Post, "/conversations/clearUnread") => conversation::set_unread(s, q, true).await,
        (Post, "/conversations/setUnread") => conversation::set_unread(s, q, false).await,
        (Post, "/conversations/delete") => conversation::delete(s, q).await,
        (Post, "/conversation/channels") => conversation::channels(s, q).await,
        (Get, "/route") => route::route(s, q),
        (Post, "/route/batch") => route::batch(s, q),
        (Post, "/stream/open") | (Post, "/stream") => stream::open(s, q).await,
        (Post, "/stream/close") => stream::close(s, q).await,
        (Post, "/stream/chunk") => stream::chunk(s, q).await,
        _ => match super::monitor::route(s, q).await {
            Some(resp) => resp,
            None => Response::error(404, &format!("no route for {}", req.path)),
        },
    }
}
