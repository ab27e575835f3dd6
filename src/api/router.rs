//! Maps a request to its handler, after authentication. [`ROUTES`] is the dispatch table:
//! every route with the access it needs and its handler; `docs/openapi.yaml` is checked
//! against it by the tests.

use super::handlers::{
    channel, conn, conversation, event, lookup, manager, message, route, stream, tag, user,
};
use super::http::{Method, Request, Response};
use super::monitor::Monitor;
use super::state::ApiState;
use crate::auth::Access;
use crate::shard::meta::ListKind;
use std::rc::Rc;

/// One route of the REST API.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// HTTP method (HEAD is served as GET).
    pub method: Method,
    /// Path; a `{name}` segment matches any one segment.
    pub path: &'static str,
    /// What a caller needs.
    pub access: Access,
    /// What serves it.
    pub handler: Handler,
}

/// What serves a route: the router matches on it, so a route answers only if it is in
/// [`ROUTES`] (and `docs/openapi.yaml` is checked against that table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `GET /health`.
    Health,
    /// `POST /manager/login`.
    ManagerLogin,
    /// `POST /user/token`.
    UserToken,
    /// `POST /user/onlinestatus`.
    UserOnlineStatus,
    /// `POST /user/device_quit`.
    UserDeviceQuit,
    /// `POST /user/systemuids_add`.
    SystemUidsAdd,
    /// `POST /user/systemuids_remove`.
    SystemUidsRemove,
    /// `GET /user/systemuids`.
    SystemUids,
    /// `POST /channel`.
    Channel,
    /// `POST /channel/info`.
    ChannelInfo,
    /// `POST /channel/delete`.
    ChannelDelete,
    /// `POST /channel/subscriber_add`.
    SubscriberAdd,
    /// `POST /channel/subscriber_remove`.
    SubscriberRemove,
    /// `POST /channel/blacklist_add`.
    BlacklistAdd,
    /// `POST /channel/blacklist_set`.
    BlacklistSet,
    /// `POST /channel/blacklist_remove`.
    BlacklistRemove,
    /// `POST /channel/whitelist_add`.
    WhitelistAdd,
    /// `POST /channel/whitelist_set`.
    WhitelistSet,
    /// `POST /channel/whitelist_remove`.
    WhitelistRemove,
    /// `GET /channel/whitelist`.
    Whitelist,
    /// `GET /channel/max_message_seq`.
    MaxMessageSeq,
    /// `POST /channel/messagesync`.
    ChannelMessageSync,
    /// `POST /message/send`.
    MessageSend,
    /// `POST /message/sendbatch`.
    MessageSendBatch,
    /// `POST /message/event`.
    MessageEvent,
    /// `POST /message/eventsync`.
    MessageEventSync,
    /// `POST /messages`.
    Messages,
    /// `POST /message/sync`.
    MessageSync,
    /// `POST /message/syncack`.
    MessageSyncAck,
    /// `POST /conversation/sync`.
    ConversationSync,
    /// `POST /conversation/syncMessages`.
    ConversationSyncMessages,
    /// `POST /conversations/clearUnread`.
    ClearUnread,
    /// `POST /conversations/setUnread`.
    SetUnread,
    /// `POST /conversations/delete`.
    ConversationDelete,
    /// `POST /conversation/channels`.
    ConversationChannels,
    /// `GET /route`.
    Route,
    /// `POST /route/batch`.
    RouteBatch,
    /// `POST /stream/open`, `POST /stream`.
    StreamOpen,
    /// `POST /stream/close`.
    StreamClose,
    /// `POST /stream/chunk`.
    StreamChunk,
    /// `POST /message`.
    Message,
    /// `GET /message/byclientmsgno`.
    MessageByClientMsgNo,
    /// `GET /channel/last_message`.
    ChannelLastMessage,
    /// `POST /conversation/syncByChannels`.
    ConversationSyncByChannels,
    /// `POST /channel/subscriber_remove_all`.
    SubscriberRemoveAll,
    /// `POST /channel/blacklist_remove_all`.
    BlacklistRemoveAll,
    /// `POST /channel/whitelist_remove_all`.
    WhitelistRemoveAll,
    /// `POST /user/systemuids_add_to_cache`.
    SystemUidsAddToCache,
    /// `POST /user/systemuids_remove_from_cache`.
    SystemUidsRemoveFromCache,
    /// `POST /user/update_plugin_no`.
    UpdatePluginNo,
    /// `GET /user/plugin_no` (Jindou).
    PluginNo,
    /// `POST /tmpchannel/subscriber_set`.
    TmpSubscriberSet,
    /// `POST /conn/kick` (also on the manager port).
    ConnKick,
    /// `POST /conn/remove` (also on the manager port).
    ConnRemove,
    /// `GET /tag` (also on the manager port).
    Tag,
    /// `GET /tags` (also on the manager port).
    Tags,
    /// `POST /tag/remove` (also on the manager port).
    TagRemove,
    /// A monitoring or cluster view (also served on the manager port).
    Monitor(Monitor),
}

const fn r(method: Method, path: &'static str, access: Access, handler: Handler) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

use Access::{Open, Read, Write};
use Handler as H;
use Method::{Get, Post};
use Monitor as M;

/// Every route the API port serves, monitoring routes included (the manager port serves
/// the [`Handler::Monitor`] ones, `/health` and `/manager/login`).
pub const ROUTES: &[Route] = &[
    r(Get, "/health", Open, H::Health),
    r(Post, "/manager/login", Open, H::ManagerLogin),
    r(Post, "/user/token", Write, H::UserToken),
    r(Post, "/user/onlinestatus", Read, H::UserOnlineStatus),
    r(Post, "/user/device_quit", Write, H::UserDeviceQuit),
    r(Post, "/user/systemuids_add", Write, H::SystemUidsAdd),
    r(Post, "/user/systemuids_remove", Write, H::SystemUidsRemove),
    r(Get, "/user/systemuids", Read, H::SystemUids),
    r(Post, "/channel", Write, H::Channel),
    r(Post, "/channel/info", Write, H::ChannelInfo),
    r(Post, "/channel/delete", Write, H::ChannelDelete),
    r(Post, "/channel/subscriber_add", Write, H::SubscriberAdd),
    r(
        Post,
        "/channel/subscriber_remove",
        Write,
        H::SubscriberRemove,
    ),
    r(Post, "/channel/blacklist_add", Write, H::BlacklistAdd),
    r(Post, "/channel/blacklist_set", Write, H::BlacklistSet),
    r(Post, "/channel/blacklist_remove", Write, H::BlacklistRemove),
    r(Post, "/channel/whitelist_add", Write, H::WhitelistAdd),
    r(Post, "/channel/whitelist_set", Write, H::WhitelistSet),
    r(Post, "/channel/whitelist_remove", Write, H::WhitelistRemove),
    r(Get, "/channel/whitelist", Read, H::Whitelist),
    r(Get, "/channel/max_message_seq", Read, H::MaxMessageSeq),
    r(Post, "/channel/messagesync", Read, H::ChannelMessageSync),
    r(Post, "/message/send", Write, H::MessageSend),
    r(Post, "/message/sendbatch", Write, H::MessageSendBatch),
    r(Post, "/message/event", Write, H::MessageEvent),
    r(Post, "/message/eventsync", Read, H::MessageEventSync),
    r(Post, "/messages", Read, H::Messages),
    r(Post, "/message/sync", Read, H::MessageSync),
    r(Post, "/message/syncack", Write, H::MessageSyncAck),
    r(Post, "/conversation/sync", Read, H::ConversationSync),
    r(
        Post,
        "/conversation/syncMessages",
        Read,
        H::ConversationSyncMessages,
    ),
    r(Post, "/conversations/clearUnread", Write, H::ClearUnread),
    r(Post, "/conversations/setUnread", Write, H::SetUnread),
    r(Post, "/conversations/delete", Write, H::ConversationDelete),
    r(
        Post,
        "/conversation/channels",
        Read,
        H::ConversationChannels,
    ),
    r(Get, "/route", Read, H::Route),
    r(Post, "/route/batch", Read, H::RouteBatch),
    r(Post, "/stream/open", Write, H::StreamOpen),
    r(Post, "/stream/close", Write, H::StreamClose),
    r(Post, "/stream", Write, H::StreamOpen),
    r(Post, "/stream/chunk", Write, H::StreamChunk),
    r(Post, "/message", Read, H::Message),
    r(Get, "/message/byclientmsgno", Read, H::MessageByClientMsgNo),
    r(Get, "/channel/last_message", Read, H::ChannelLastMessage),
    r(
        Post,
        "/conversation/syncByChannels",
        Read,
        H::ConversationSyncByChannels,
    ),
    r(
        Post,
        "/channel/subscriber_remove_all",
        Write,
        H::SubscriberRemoveAll,
    ),
    r(
        Post,
        "/channel/blacklist_remove_all",
        Write,
        H::BlacklistRemoveAll,
    ),
    r(
        Post,
        "/channel/whitelist_remove_all",
        Write,
        H::WhitelistRemoveAll,
    ),
    r(
        Post,
        "/user/systemuids_add_to_cache",
        Write,
        H::SystemUidsAddToCache,
    ),
    r(
        Post,
        "/user/systemuids_remove_from_cache",
        Write,
        H::SystemUidsRemoveFromCache,
    ),
    r(
        Post,
        "/tmpchannel/subscriber_set",
        Write,
        H::TmpSubscriberSet,
    ),
    r(Post, "/user/update_plugin_no", Write, H::UpdatePluginNo),
    r(Get, "/user/plugin_no", Read, H::PluginNo),
    r(Post, "/conn/kick", Write, H::ConnKick),
    r(Post, "/conn/remove", Write, H::ConnRemove),
    r(Get, "/tag", Read, H::Tag),
    r(Get, "/tags", Read, H::Tags),
    r(Post, "/tag/remove", Write, H::TagRemove),
    r(Get, "/varz", Read, H::Monitor(M::Varz)),
    r(Get, "/varz/setting", Read, H::Monitor(M::VarzSetting)),
    r(Get, "/connz", Read, H::Monitor(M::Connz)),
    r(Get, "/metrics", Read, H::Monitor(M::Metrics)),
    r(Get, "/status", Read, H::Monitor(M::Status)),
    r(Get, "/status/", Read, H::Monitor(M::Status)),
    r(Get, "/debug/pprof/profile", Read, H::Monitor(M::Pprof)),
    r(Get, "/debug/pprof/flamegraph", Read, H::Monitor(M::Pprof)),
    r(Get, "/cluster/nodes", Read, H::Monitor(M::Cluster)),
    r(Get, "/cluster/simpleNodes", Read, H::Monitor(M::Cluster)),
    r(Get, "/cluster/node", Read, H::Monitor(M::Cluster)),
    r(Get, "/cluster/slots", Read, H::Monitor(M::Cluster)),
    r(Get, "/cluster/allslot", Read, H::Monitor(M::Cluster)),
    r(
        Get,
        "/cluster/slots/{id}/config",
        Read,
        H::Monitor(M::Cluster),
    ),
    r(Get, "/cluster/channels", Read, H::Monitor(M::Cluster)),
    r(
        Get,
        "/cluster/channels/{channel_id}/{channel_type}/config",
        Read,
        H::Monitor(M::Cluster),
    ),
    r(
        Post,
        "/cluster/channel/status",
        Read,
        H::Monitor(M::Cluster),
    ),
    r(Post, "/cluster/nodes/remove", Write, H::Monitor(M::Cluster)),
    r(Post, "/cluster/faults", Write, H::Monitor(M::Cluster)),
];

/// Whether `path` matches the route path `pattern` (`{name}` segments match any one
/// non-empty segment).
fn path_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == path;
    }
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The route serving `method` and `path` (HEAD as GET).
pub fn find(method: Method, path: &str) -> Option<&'static Route> {
    let m = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|r| r.method == m && path_matches(r.path, path))
}

/// The access a request needs: from [`ROUTES`], else reads for GET and writes otherwise.
pub fn access_of(method: Method, path: &str) -> Access {
    match find(method, path) {
        Some(r) => r.access,
        None if matches!(method, Method::Get | Method::Head) => Read,
        None => Write,
    }
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
    let Some(route) = find(req.method, &req.path) else {
        return no_route(req);
    };
    let s = &*api.shard;
    let q = req;
    match route.handler {
        H::Health => super::monitor::health(s).await,
        H::ManagerLogin => manager::login(api, q),
        H::UserToken => user::token(s, q).await,
        H::UserOnlineStatus => user::online_status(s, q).await,
        H::UserDeviceQuit => user::device_quit(s, q).await,
        H::SystemUidsAdd => user::system_uids(s, q, false).await,
        H::SystemUidsRemove => user::system_uids(s, q, true).await,
        H::SystemUids => user::list_system_uids(s),
        H::Channel => channel::create(s, q).await,
        H::ChannelInfo => channel::info(s, q).await,
        H::ChannelDelete => channel::delete(s, q).await,
        H::SubscriberAdd => channel::subscribers(s, q, false).await,
        H::SubscriberRemove => channel::subscribers(s, q, true).await,
        H::BlacklistAdd => channel::list(s, q, "blacklist", "add").await,
        H::BlacklistSet => channel::list(s, q, "blacklist", "set").await,
        H::BlacklistRemove => channel::list(s, q, "blacklist", "remove").await,
        H::WhitelistAdd => channel::list(s, q, "whitelist", "add").await,
        H::WhitelistSet => channel::list(s, q, "whitelist", "set").await,
        H::WhitelistRemove => channel::list(s, q, "whitelist", "remove").await,
        H::Whitelist => channel::get_whitelist(s, q).await,
        H::MaxMessageSeq => channel::max_seq(s, q).await,
        H::ChannelMessageSync => message::channel_sync(s, q).await,
        H::MessageSend => message::send(s, q).await,
        H::MessageSendBatch => message::send_batch(s, q).await,
        H::MessageEvent => event::append(s, q).await,
        H::MessageEventSync => event::sync(s, q).await,
        H::Messages => message::fetch(s, q).await,
        H::MessageSync => message::cmd_sync(s, q).await,
        H::MessageSyncAck => message::cmd_sync_ack(s, q).await,
        H::ConversationSync => conversation::sync(s, q).await,
        H::ConversationSyncMessages => conversation::sync_messages(s, q).await,
        H::ClearUnread => conversation::set_unread(s, q, true).await,
        H::SetUnread => conversation::set_unread(s, q, false).await,
        H::ConversationDelete => conversation::delete(s, q).await,
        H::ConversationChannels => conversation::channels(s, q).await,
        H::Route => route::route(s, q),
        H::RouteBatch => route::batch(s, q),
        H::StreamOpen => stream::open(s, q).await,
        H::StreamClose => stream::close(s, q).await,
        H::StreamChunk => stream::chunk(s, q).await,
        H::Message => lookup::message(s, q).await,
        H::MessageByClientMsgNo => lookup::by_client_msg_no(s, q).await,
        H::ChannelLastMessage => lookup::last_message(s, q).await,
        H::ConversationSyncByChannels => conversation::sync_by_channels(s, q).await,
        H::SubscriberRemoveAll => channel::remove_all(s, q, ListKind::Subscribers).await,
        H::BlacklistRemoveAll => channel::remove_all(s, q, ListKind::Blacklist).await,
        H::WhitelistRemoveAll => channel::remove_all(s, q, ListKind::Whitelist).await,
        H::SystemUidsAddToCache => user::system_uids_cache(s, q, false).await,
        H::SystemUidsRemoveFromCache => user::system_uids_cache(s, q, true).await,
        H::UpdatePluginNo => user::update_plugin_no(s, q).await,
        H::PluginNo => user::plugin_no(s, q).await,
        H::TmpSubscriberSet => channel::tmp_subscriber_set(s, q).await,
        H::ConnKick => conn::close(s, q, true).await,
        H::ConnRemove => conn::close(s, q, false).await,
        H::Tag => tag::tag(s, q).await,
        H::Tags => tag::tags(s, q).await,
        H::TagRemove => tag::remove(s, q).await,
        H::Monitor(m) => super::monitor::serve(s, q, m).await,
    }
}

/// The 404 for a request no route serves.
pub fn no_route(req: &Request) -> Response {
    Response::error(404, &format!("no route for {}", req.path))
}
