//! Client connections: TCP and WebSocket listeners and the connection state machine.
//!
//! `session` reads and handles packets; `conn` holds a connection's shared state and its
//! bounded outbound queue; `auth` is the uid owner's side of CONNECT; `ws` the WebSocket codec.

pub mod auth;
pub mod conn;
pub mod retry;
pub mod session;
pub mod tls;
pub mod ws;

use crate::shard::{stats, Shard};
use std::rc::Rc;

/// Accepts client connections on one listener until the shard stops.
pub async fn accept_clients(
    shard: Rc<Shard>,
    listener: monoio::net::TcpListener,
    websocket: bool,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) {
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = shard.ctx.stop.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !shard.ctx.conn_limiter.allow(peer.ip()) {
                    stats::inc(&shard.stats.conn_rate_limited);
                    drop(stream);
                    continue;
                }
                let max = shard.ctx.config.limits.max_connections;
                let open = shard
                    .ctx
                    .node_conns
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if open >= max {
                    shard
                        .ctx
                        .node_conns
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    stats::inc(&shard.stats.conns_refused);
                    drop(stream);
                    continue;
                }
                monoio::spawn(session::serve_client(
                    shard.clone(),
                    stream,
                    websocket,
                    tls.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
