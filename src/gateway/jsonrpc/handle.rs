//! JSON-RPC requests turned into the session's operations (spec wukongim-2.2.5 §2.3–2.4):
//! `connect` is the CONNECT path, `send` the SEND path, `recvack` the RECVACK path; results
//! come back through [`crate::gateway::conn::Conn`] like their wkproto twins.
//!
//! Before `connect` succeeded, anything else (bad JSON, another method, bad params) closes the
//! connection without a reply; a refused `connect` is answered with an error carrying the
//! reason code. Afterwards every bad message is answered with an error and the connection
//! stays open, except a stream that cannot be cut into objects (not an object, too large),
//! which is answered and then closed.

use super::split::SplitError;
use super::wire::{self, Request};
use crate::gateway::conn::Identity;
use crate::gateway::session::{End, Session, Wire};
use crate::proto::{ChannelType, Send, WkStr};
use crate::shard::ids::now_millis;
use crate::shard::stats;
use bytes::BytesMut;
use serde_json::Value;
use std::sync::Arc;

/// The protocol version a JSON-RPC session reports (the `version` param, 0 → 5, at most 5).
fn negotiate(version: u8) -> u8 {
    if version == 0 {
        5
    } else {
        version.min(5)
    }
}

/// Handles every complete message in `buf`.
pub(in crate::gateway) async fn messages(s: &mut Session, buf: &mut BytesMut) -> Result<(), End> {
    let max = s.decoder.max_frame();
    loop {
        let Wire::JsonRpc(split) = &mut s.wire else {
            return Ok(());
        };
        let text = match split.next(buf, max) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(()),
            Err(e) => return Err(cut(s, e).await),
        };
        Box::pin(message(s, &text)).await?;
        if s.conn.is_closed() {
            return Err(End::Stopped);
        }
    }
}

/// A stream that cannot be cut: answered (once authenticated) and closed.
async fn cut(s: &mut Session, e: SplitError) -> End {
    stats::inc(&s.gw.shard.stats.bad_frames);
    if s.conn.identity.get().is_some() {
        let code = match e {
            SplitError::TooLarge(_) => wire::INVALID_REQUEST,
            _ => wire::PARSE_ERROR,
        };
        s.conn
            .send_text(&s.gw, &wire::error(None, code, &e.to_string()));
        s.conn.drained().await;
    }
    End::Protocol(e.to_string())
}

/// Handles one message.
async fn message(s: &mut Session, text: &[u8]) -> Result<(), End> {
    let authenticated = s.conn.identity.get().is_some();
    let req = match wire::parse(text) {
        Ok(req) => req,
        Err(refusal) if authenticated => {
            stats::inc(&s.gw.shard.stats.bad_frames);
            let reply = wire::error(refusal.id.as_ref(), refusal.code, &refusal.message);
            s.conn.send_text(&s.gw, &reply);
            return Ok(());
        }
        Err(refusal) => {
            stats::inc(&s.gw.shard.stats.bad_frames);
            return Err(End::Protocol(format!("first message: {}", refusal.message)));
        }
    };
    if !authenticated {
        return connect(s, req).await;
    }
    let reply = |s: &Session, json: Vec<u8>| s.conn.send_text(&s.gw, &json);
    match req.method.as_str() {
        "send" => send(s, req).await,
        "recvack" => {
            let params: Result<wire::RecvackParams, _> = serde_json::from_value(req.params);
            match params.ok().and_then(|p| p.id()) {
                Some(message_id) => {
                    s.conn.acked(message_id);
                    if let Some(id) = &req.id {
                        reply(s, wire::result(id, &Value::Null));
                    }
                }
                None => {
                    stats::inc(&s.gw.shard.stats.bad_frames);
                    if let Some(id) = &req.id {
                        let why = "recvack needs a messageId";
                        reply(s, wire::error(Some(id), wire::INVALID_PARAMS, why));
                    }
                }
            }
        }
        "ping" => match &req.id {
            Some(id) => reply(s, wire::result(id, &Value::Null)),
            None => reply(
                s,
                wire::error(None, wire::INVALID_REQUEST, "ping needs an id"),
            ),
        },
        "disconnect" => return Err(End::PeerClosed),
        "connect" => {
            let why = "already connected";
            reply(s, wire::error(req.id.as_ref(), wire::INVALID_REQUEST, why));
        }
        other => {
            // Unknown notifications are ignored (JSON-RPC answers no notification);
            // subscribe/unsubscribe are not supported (spec §2.4).
            if let Some(id) = &req.id {
                let why = format!("method not supported: {other}");
                reply(s, wire::error(Some(id), wire::METHOD_NOT_FOUND, &why));
            }
        }
    }
    Ok(())
}

/// The first message: `connect`, through the owner's CONNECT checks.
async fn connect(s: &mut Session, req: Request) -> Result<(), End> {
    let Some(id) = req.id.filter(|_| req.method == "connect") else {
        return Err(End::Protocol(format!(
            "first message must be a connect request, got {:?}",
            req.method
        )));
    };
    let p: wire::ConnectParams = serde_json::from_value(req.params)
        .map_err(|e| End::Protocol(format!("connect params: {e}")))?;
    let version = negotiate(p.version);
    s.conn.version.set(version);
    let time_diff = (now_millis() as i64).saturating_sub(p.client_timestamp);
    let uid: Arc<str> = Arc::from(p.uid.as_str());
    let admitted = s
        .admit(&uid, p.token, p.device_flag, p.device_id.as_str().into())
        .await;
    let device_level = match admitted {
        Ok(level) => level,
        Err(reason) => {
            let refusal = wire::error(Some(&id), reason.0 as i64, "AuthFail");
            s.conn.send_text(&s.gw, &refusal);
            s.conn.drained().await;
            return Err(End::Protocol(format!(
                "connect refused with reason {}",
                reason.0
            )));
        }
    };
    s.establish(Identity {
        uid,
        device_flag: p.device_flag,
        device_id: p.device_id.into(),
        device_level,
        last_target: Default::default(),
    });
    let result = wire::ConnectResult {
        server_version: version,
        time_diff,
        reason_code: 1,
        node_id: s.gw.shard.ctx.config.cluster.node_id,
    };
    s.conn.send_text(&s.gw, &wire::result(&id, &result));
    Ok(())
}

/// `send`: the SEND path with the request's id kept for the result.
async fn send(s: &mut Session, req: Request) {
    let reply = |s: &Session, json: Vec<u8>| s.conn.send_text(&s.gw, &json);
    let Some(id) = req.id else {
        stats::inc(&s.gw.shard.stats.bad_frames);
        return reply(
            s,
            wire::error(None, wire::INVALID_REQUEST, "send needs an id"),
        );
    };
    let parsed = serde_json::from_value::<wire::SendParams>(req.params)
        .map_err(|e| e.to_string())
        .and_then(|mut p| Ok((wire::payload_bytes(p.payload.take())?, p)));
    let (payload, p) = match parsed {
        Ok(v) => v,
        Err(why) => {
            stats::inc(&s.gw.shard.stats.bad_frames);
            return reply(s, wire::error(Some(&id), wire::INVALID_PARAMS, &why));
        }
    };
    let flags = p.header.unwrap_or_default().flags();
    let Some(rpc) = s.conn.jsonrpc.get() else {
        return;
    };
    let Some(client_seq) = rpc.register(id.clone(), flags) else {
        let why = "too many sends awaiting their result";
        return reply(s, wire::error(Some(&id), wire::SERVER_BUSY, why));
    };
    let client_msg_no = if p.client_msg_no.is_empty() {
        // JSON-RPC generates 32 hex characters (spec wukongim-2.2.5 §2.4); REST adds a `0`.
        format!("{:032x}", rand::random::<u128>())
    } else {
        p.client_msg_no
    };
    let send = Send {
        flags,
        setting: p.setting.unwrap_or_default().setting(),
        client_seq,
        client_msg_no: WkStr::from(client_msg_no),
        stream_no: WkStr::from(p.stream_no),
        channel_id: WkStr::from(p.channel_id),
        channel_type: ChannelType(p.channel_type),
        expire: p.expire,
        msg_key: WkStr::EMPTY,
        topic: WkStr::from(p.topic),
        payload,
    };
    s.send(send).await;
}
