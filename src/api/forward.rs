//! Cluster mode: any node answers any REST call (spec http-api §1.6). A request whose state
//! lives in a slot another node leads — a channel's settings, members and history, a user's
//! tokens and conversations, the global tables (the configuration group, on every member) — is relayed to that node's API
//! (`cluster.apiUrl`, announced on the links) with the same method, path, query, headers and
//! body, and the leader's status and body come back as they are.
//!
//! A relayed request carries [`RELAYED`]; it is never relayed again (if leadership moved
//! meanwhile, the change is refused as retryable, 503, rather than bounced between nodes).
//! Sends need no relay: `/message/send` goes through the owner shard, which forwards the send
//! itself over the cluster link.

use super::http::{Method, Request, Response};
use super::state::ApiState;
use crate::cluster::Leader;
use crate::proto::ChannelType;
use crate::shard::ingress::storage_channel;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use serde_json::Value;
use std::time::Duration;

/// The header a relayed request carries (its value: the relaying node).
pub const RELAYED: &str = "x-jindou-relayed";
/// Largest response a relay reads back.
const MAX_RELAYED: usize = 64 << 20;

/// Where a request's state lives.
#[derive(Debug, PartialEq, Eq)]
enum Home {
    /// A slot's key (a channel's storage id, or a uid).
    Key(String),
    /// The global tables (system uids, person-channel lists): the configuration group.
    Globals,
    /// Nothing in particular (served here).
    Anywhere,
}

fn field<'a>(body: &'a Value, k: &str) -> &'a str {
    body.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A channel named by a request: person channels (their settings and lists) are global.
fn channel_home(id: &str, ty: u64) -> Home {
    if ty == ChannelType::PERSON.0 as u64 {
        Home::Globals
    } else if id.is_empty() {
        Home::Anywhere
    } else {
        Home::Key(id.to_string())
    }
}

fn home_of(req: &Request) -> Home {
    let path = req.path.as_str();
    let body: Value = if req.method == Method::Post {
        serde_json::from_slice(&req.body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let ty = body
        .get("channel_type")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let uid = |k: &str| {
        let u = field(&body, k);
        if u.is_empty() {
            Home::Anywhere
        } else {
            Home::Key(u.to_string())
        }
    };
    match path {
        "/user/token"
        | "/user/update_plugin_no"
        | "/user/device_quit"
        | "/conversation/sync"
        | "/conversation/channels"
        | "/conversations/clearUnread"
        | "/conversations/setUnread"
        | "/conversations/delete"
        | "/message/sync"
        | "/message/syncack"
        | "/conversation/syncByChannels" => uid("uid"),
        "/user/systemuids_add" | "/user/systemuids_remove" => Home::Globals,
        "/user/plugin_no" => match req.query_param("uid").filter(|u| !u.is_empty()) {
            Some(u) => Home::Key(u),
            None => Home::Anywhere,
        },
        "/channel"
        | "/channel/info"
        | "/channel/delete"
        | "/channel/subscriber_add"
        | "/channel/subscriber_remove"
        | "/channel/blacklist_add"
        | "/channel/blacklist_set"
        | "/channel/blacklist_remove"
        | "/channel/whitelist_add"
        | "/channel/whitelist_set"
        | "/channel/whitelist_remove"
        | "/channel/subscriber_remove_all"
        | "/channel/blacklist_remove_all"
        | "/channel/whitelist_remove_all" => channel_home(field(&body, "channel_id"), ty),
        "/tmpchannel/subscriber_set" => channel_home(field(&body, "channel_id"), 8),
        "/channel/messagesync" | "/messages" | "/message" => {
            let (login, id) = (field(&body, "login_uid"), field(&body, "channel_id"));
            if id.is_empty() {
                Home::Anywhere
            } else {
                Home::Key(storage_channel(login, id, ty as u8, false))
            }
        }
        "/message/event" => {
            let (from, id) = (field(&body, "from_uid"), field(&body, "channel_id"));
            if id.is_empty() || (ty == ChannelType::PERSON.0 as u64 && from.is_empty()) {
                Home::Anywhere
            } else {
                Home::Key(storage_channel(from, id, ty as u8, false))
            }
        }
        "/message/eventsync" => {
            let (from, id) = (field(&body, "from_uid"), field(&body, "channel_id"));
            if id.is_empty() {
                Home::Anywhere
            } else {
                Home::Key(super::handlers::event::eventsync_channel(
                    id, ty as u8, from,
                ))
            }
        }
        "/tag" | "/tags" => {
            let key = req.query_param("tag_key").unwrap_or_default();
            let id = match key.split_once(':') {
                Some((_, id)) => id.to_string(),
                None => req.query_param("channel_id").unwrap_or_default(),
            };
            if id.is_empty() {
                Home::Anywhere
            } else {
                Home::Key(id)
            }
        }
        "/message/byclientmsgno" | "/channel/last_message" => {
            let id = req.query_param("channel_id").unwrap_or_default();
            let login = req.query_param("login_uid").unwrap_or_default();
            let ty = req
                .query_param("channel_type")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if id.is_empty() {
                Home::Anywhere
            } else if ty == ChannelType::PERSON.0 && (login.is_empty() || id.contains('@')) {
                Home::Key(id)
            } else {
                Home::Key(storage_channel(&login, &id, ty, false))
            }
        }
        "/channel/whitelist" | "/channel/max_message_seq" => {
            let id = req.query_param("channel_id").unwrap_or_default();
            let ty = req
                .query_param("channel_type")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            channel_home(&id, ty)
        }
        _ => Home::Anywhere,
    }
}

/// Whether a 503 for `req` may be retried through the slot's (new) leader: a cluster call
/// with a home slot, not itself relayed. (Sends are not homed here: the owner shard forwards
/// them; a refused change was not applied, or applying it again is harmless — set semantics.)
pub fn retryable(api: &ApiState, req: &Request) -> bool {
    api.shard.raft().is_some() && req.header(RELAYED).is_none() && home_of(req) != Home::Anywhere
}

/// The node to relay `req` to, if another node leads its state.
fn relay_target(api: &ApiState, req: &Request) -> Option<u64> {
    let shard = &api.shard;
    shard.raft()?;
    if req.header(RELAYED).is_some() {
        return None;
    }
    let slot = match home_of(req) {
        Home::Key(k) => shard.slot_of(&k),
        Home::Globals => crate::cluster::CONFIG_GROUP,
        Home::Anywhere => return None,
    };
    match shard.leader(slot) {
        Leader::Remote(n) => Some(n),
        _ => None,
    }
}

/// Relays `req` to the node leading its state when that is another node; `None` when it is
/// served here.
pub async fn relay_if_remote(api: &ApiState, req: &Request) -> Option<Response> {
    let node = relay_target(api, req)?;
    let raft = api.shard.raft()?;
    let url = raft.net().api_url(node);
    if url.is_empty() {
        return Some(
            Response::error(
                503,
                &format!("node {node} leads this state but is unreachable"),
            )
            .with_header("Retry-After", "1"),
        );
    }
    let timeout = api.shard.ctx.config.cluster.req_timeout.get();
    let me = api.shard.node();
    Some(match relay(&url, req, me, timeout).await {
        Ok(resp) => resp,
        Err(e) => Response::error(503, &format!("relay to node {node} failed: {e}"))
            .with_header("Retry-After", "1"),
    })
}

/// Sends `orig`'s method, path and headers with `body` to node `node`'s API (a part of a
/// request that concerns state that node leads), marked as relayed.
pub async fn ask_node(
    shard: &crate::shard::Shard,
    node: u64,
    orig: &Request,
    body: String,
) -> Result<Response, String> {
    let raft = shard.raft().ok_or("not a cluster member")?;
    let url = raft.net().api_url(node);
    if url.is_empty() {
        return Err(format!("node {node} is unreachable"));
    }
    let part = Request {
        method: orig.method,
        path: orig.path.clone(),
        query: orig.query.clone(),
        headers: orig.headers.clone(),
        body: body.into(),
        keep_alive: false,
    };
    relay(
        &url,
        &part,
        shard.node(),
        shard.ctx.config.cluster.req_timeout.get(),
    )
    .await
}

/// Whether `req` was relayed here by another node (it is answered from local state only).
pub fn was_relayed(req: &Request) -> bool {
    req.header(RELAYED).is_some()
}

/// `host:port` of an `http://host:port[/...]` URL.
fn authority(url: &str) -> Result<&str, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// Sends `req` to the API at `url` (marked as relayed by node `me`) and reads the response.
pub async fn relay(
    url: &str,
    req: &Request,
    me: u16,
    timeout: Duration,
) -> Result<Response, String> {
    let hostport = authority(url)?.to_string();
    let method = match req.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        Method::Other => return Err("unsupported method".into()),
    };
    let mut head = format!("{method} {}", req.path);
    if !req.query.is_empty() {
        head.push('?');
        head.push_str(&req.query);
    }
    head.push_str(&format!(
        " HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n"
    ));
    for (k, v) in &req.headers {
        if matches!(
            k.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) || k == RELAYED
        {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "{RELAYED}: {me}\r\nContent-Length: {}\r\n\r\n",
        req.body.len()
    ));
    let exchange = async {
        let mut s = monoio::net::TcpStream::connect(hostport.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = head.into_bytes();
        out.extend_from_slice(&req.body);
        let (res, _) = s.write_all(out).await;
        res.map_err(|e| e.to_string())?;
        let mut got: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let (res, b) = s.read(buf).await;
            buf = b;
            match res {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e.to_string()),
            }
            if got.len() > MAX_RELAYED {
                return Err("relayed response too large".into());
            }
            if let Some(resp) = parse_response(&got)? {
                return Ok(resp);
            }
        }
        parse_response(&got)?.ok_or_else(|| "truncated response".to_string())
    };
    monoio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// A complete response in `bytes`, `None` if more is needed.
fn parse_response(bytes: &[u8]) -> Result<Option<Response>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let head_len = match r.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let status = r.code.unwrap_or(502);
    let mut len = 0usize;
    let mut content_type = "";
    let mut retry_after = None;
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or("bad Content-Length")?;
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = if h.value.starts_with(b"application/json") {
                "application/json; charset=utf-8"
            } else if h.value.starts_with(b"text/html") {
                "text/html; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    if bytes.len() < head_len + len {
        return Ok(None);
    }
    let body = bytes::Bytes::copy_from_slice(&bytes[head_len..head_len + len]);
    let mut resp = if content_type.is_empty() {
        Response::empty(status)
    } else {
        Response::text(status, content_type, body)
    };
    if let Some(v) = retry_after {
        resp = resp.with_header("Retry-After", v);
    }
    Ok(Some(resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, body: &str) -> Request {
        Request {
            method: Method::Post,
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            keep_alive: false,
        }
    }

    #[test]
    fn requests_find_their_home() {
        assert_eq!(
            home_of(&post("/user/token", r#"{"uid":"u"}"#)),
            Home::Key("u".into())
        );
        assert_eq!(
            home_of(&post("/channel", r#"{"channel_id":"g","channel_type":2}"#)),
            Home::Key("g".into())
        );
        assert_eq!(
            home_of(&post(
                "/channel/blacklist_add",
                r#"{"channel_id":"u","channel_type":1}"#
            )),
            Home::Globals
        );
        assert_eq!(
            home_of(&post(
                "/channel/messagesync",
                r#"{"login_uid":"a","channel_id":"b","channel_type":1}"#
            )),
            Home::Key(crate::shard::ids::person_fake_id("a", "b"))
        );
        assert_eq!(
            home_of(&post(
                "/message",
                r#"{"login_uid":"a","channel_id":"b","channel_type":1,"message_id":1}"#
            )),
            Home::Key(crate::shard::ids::person_fake_id("a", "b"))
        );
        assert_eq!(
            home_of(&post("/conversation/syncByChannels", r#"{"uid":"u"}"#)),
            Home::Key("u".into())
        );
        assert_eq!(
            home_of(&post(
                "/channel/blacklist_remove_all",
                r#"{"channel_id":"g","channel_type":2}"#
            )),
            Home::Key("g".into())
        );
        assert_eq!(
            home_of(&post("/tmpchannel/subscriber_set", r#"{"channel_id":"t"}"#)),
            Home::Key("t".into())
        );
        let get = |path: &str, query: &str| Request {
            method: Method::Get,
            query: query.into(),
            ..post(path, "")
        };
        assert_eq!(
            home_of(&get(
                "/channel/last_message",
                "channel_id=b&channel_type=1&login_uid=a"
            )),
            Home::Key(crate::shard::ids::person_fake_id("a", "b"))
        );
        assert_eq!(
            home_of(&get(
                "/message/byclientmsgno",
                "channel_id=a@b&channel_type=1&client_msg_no=x"
            )),
            Home::Key("a@b".into())
        );
        assert_eq!(home_of(&get("/tag", "tag_key=2:g")), Home::Key("g".into()));
        assert_eq!(home_of(&get("/tags", "node_id=3")), Home::Anywhere);
        assert_eq!(home_of(&post("/message/send", "{}")), Home::Anywhere);
        assert_eq!(home_of(&post("/user/token", "not json")), Home::Anywhere);
    }

    #[test]
    fn responses_parse_whole_or_ask_for_more() {
        let full = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let r = parse_response(full).unwrap().unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(&r.body[..], b"{}");
        assert!(parse_response(&full[..full.len() - 1]).unwrap().is_none());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
