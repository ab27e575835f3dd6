//! The HTTP listeners of one shard (API port, manager port, chat demo): accept, the node-wide
//! connection bound, the per-address limits, then the router of the port.

use super::http::{serve_http, ConnSettings, RequestLimits, Response};
use super::state::ApiState;
use crate::shard::stats;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Which router a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// `httpAddr`: the REST API.
    Api,
    /// `manager.addr`: monitoring and login.
    Manager,
    /// `demo.addr`: the embedded chat demo's static files.
    Demo,
}

/// The verdict of the per-address limits on one request, before it is routed: `None` lets it
/// through. The API rate limit covers both ports; login attempts have their own limit.
fn limited(api: &ApiState, peer: std::net::IpAddr, path: &str) -> Option<Response> {
    let stats = &api.shard.stats;
    if path == "/manager/login" && !api.login_limiter.allow(peer) {
        stats::inc(&stats.api_rate_limited);
        return Some(Response::error(429, "too many login attempts"));
    }
    if !api.limiter.allow(peer) {
        stats::inc(&stats.api_rate_limited);
        return Some(Response::error(429, "too many requests"));
    }
    None
}

/// Accepts HTTP connections until the shard stops; each connection is its own task, counted
/// in `in_flight` while it runs. Connections over `limits.maxHttpConnections` (node-wide) are
/// closed at once.
pub async fn accept_http(
    api: Rc<ApiState>,
    listener: monoio::net::TcpListener,
    in_flight: Rc<Cell<usize>>,
    port: Port,
) {
    let limits = &api.shard.ctx.config.limits;
    let settings = ConnSettings {
        limits: RequestLimits {
            max_head: limits.max_http_header.get() as usize,
            max_body: limits.max_http_body.get() as usize,
        },
        timeout: limits.http_timeout.get(),
    };
    let stop = api.shard.ctx.stop.clone();
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = stop.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if api.http_conns.fetch_add(1, Ordering::Relaxed) >= limits.max_http_connections {
                    api.http_conns.fetch_sub(1, Ordering::Relaxed);
                    stats::inc(&api.shard.stats.http_conns_refused);
                    drop(stream);
                    continue;
                }
                let api = api.clone();
                let in_flight = in_flight.clone();
                monoio::spawn(async move {
                    in_flight.set(in_flight.get() + 1);
                    let stop = api.shard.ctx.stop.clone();
                    serve_http(stream, settings, &stop, |req| {
                        let refused = limited(&api, peer.ip(), &req.path);
                        let api = api.clone();
                        async move {
                            if let Some(resp) = refused {
                                return resp;
                            }
                            match port {
                                Port::Manager => super::monitor::route_manager(api, req).await,
                                Port::Api => super::router::handle(api, req).await,
                                Port::Demo => super::demo::route(&api.shard.ctx.config, &req),
                            }
                        }
                    })
                    .await;
                    api.http_conns.fetch_sub(1, Ordering::Relaxed);
                    in_flight.set(in_flight.get() - 1);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
