//! Client connections: TCP, WebSocket and WSS listeners and the connection state machine.
//!
//! `table` holds one shard's connections and their buffers; `session` reads and handles
//! packets; `conn` holds a connection's shared state and its bounded outbound queue; `retry`
//! resends unacknowledged RECVs; `ws` is the WebSocket codec, `tls` the WSS session;
//! `jsonrpc` is the JSON encoding of the same session (spec wukongim-2.2.5 §2). The uid
//! owner's side of CONNECT lives with the owner, in `shard::sessions`.

pub mod conn;
pub mod idle;
pub mod jsonrpc;
pub mod park;
pub mod retry;
pub mod session;
pub mod table;
pub mod target;
pub mod tls;
pub mod unacked;
pub mod ws;

pub use table::ConnTable;

use crate::proto::ReasonCode;
use crate::shard::msg::ConnMsg;
use crate::shard::stats;
use std::rc::Rc;

/// Handles one message for the connections of this shard.
pub fn handle_conn(gw: &Rc<ConnTable>, msg: ConnMsg) {
    match msg {
        ConnMsg::Kick {
            conn_id,
            reason,
            by_server,
        } => {
            if let Some(conn) = gw.get(conn_id) {
                let why = if by_server {
                    "server kick"
                } else {
                    "login in other device"
                };
                conn.kick(gw, ReasonCode(reason), why);
            }
        }
        ConnMsg::SendAck {
            conn_id,
            client_seq,
            outcome,
        } => {
            if let Some(conn) = gw.get(conn_id) {
                conn.send_ack(gw, client_seq, outcome);
            }
        }
        ConnMsg::PushEvent { event, conn_ids } => {
            for conn_id in conn_ids {
                if let Some(conn) = gw.get(conn_id) {
                    conn.push_event(gw, &event);
                }
            }
        }
        ConnMsg::Push { msg, conn_ids } => {
            // One encoding per wire form the plaintext connections share, not per receiver.
            let mut forms = conn::RecvForms::for_receivers(conn_ids.len());
            for &conn_id in conn_ids.iter() {
                if let Some(conn) = gw.get(conn_id) {
                    conn.push_recv(gw, &msg, &mut forms);
                }
            }
        }
    }
}

/// Accepts client connections on one listener until the shard stops.
pub async fn accept_clients(
    gw: Rc<ConnTable>,
    listener: monoio::net::TcpListener,
    websocket: bool,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) {
    let stop = gw.shard.ctx.stop.clone();
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = stop.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !gw.conn_limiter.allow(peer.ip()) {
                    stats::inc(&gw.shard.stats.conn_rate_limited);
                    drop(stream);
                    continue;
                }
                if !gw.admit() {
                    stats::inc(&gw.shard.stats.conns_refused);
                    drop(stream);
                    continue;
                }
                session::serve_client(gw.clone(), stream, websocket, tls.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
