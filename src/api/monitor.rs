//! Monitoring and cluster views (`/varz`, `/connz`, `/metrics`, `/cluster/*`, `/status`): routes
//! served on the API port and on the manager port. [`route`] returns `None` for paths it does
//! not serve; [`route_manager`] is the whole router of the manager listener.

mod cluster;
mod pprof;
mod status;
mod varz;

use super::http::{Method, Request, Response};
use crate::metrics::{self, prom};
use crate::shard::Shard;
use std::rc::Rc;

/// Answers a monitoring route, or `None` if `req` is not one.
pub async fn route(shard: &Shard, req: &Request) -> Option<Response> {
    let get = matches!(req.method, Method::Get | Method::Head);
    let path = req.path.as_str();
    Some(match path {
        "/varz" if get => varz::varz(shard, req).await,
        "/varz/setting" if get => varz::setting(shard),
        "/connz" if get => varz::connz(shard, req).await,
        "/metrics" if get => metrics_text(shard).await,
        "/status" | "/status/" if get => status::page(),
        _ if path.starts_with("/cluster/") => return cluster::route(shard, req).await,
        _ if path.starts_with("/debug/pprof/") && get => return pprof::route(shard, req).await,
        _ => return None,
    })
}

/// The manager listener's router (`manager.addr` when `manager.on`): the monitoring routes,
/// `/status` (also at `/`), and `/health`, behind [`super::access::Policy::manager_port`].
pub async fn route_manager(api: Rc<super::ApiState>, req: Request) -> Response {
    if let Err(resp) = api.policy().manager_port(&req) {
        return resp;
    }
    if req.method == Method::Options {
        return Response::empty(204);
    }
    match (req.method, req.path.as_str()) {
        (Method::Post, "/manager/login") => super::handlers::manager::login(&api, &req),
        (Method::Get | Method::Head, "/") => status::page(),
        (Method::Get | Method::Head, "/health") => health(&api.shard).await,
        _ => match route(&api.shard, &req).await {
            Some(resp) => resp,
            None => Response::error(404, &format!("no route for {}", req.path)),
        },
    }
}

/// `GET /health`: 200 once the node serves; in a cluster, 500 until every slot has a leader
/// (during a failover too), as WuKongIM answers.
pub async fn health(shard: &Shard) -> Response {
    if shard.raft().is_some() && !cluster::all_led(shard).await {
        return Response::json_text(500, &br#"{"status":"electing"}"#[..]);
    }
    Response::json_text(200, &br#"{"status":"ok"}"#[..])
}

/// `GET /metrics`: the Prometheus exposition of every shard's counters.
async fn metrics_text(shard: &Shard) -> Response {
    let snaps = metrics::collect(shard).await;
    let node = prom::NodeFacts {
        node_id: shard.ctx.config.cluster.node_id,
        version: env!("CARGO_PKG_VERSION").to_string(),
        rss_bytes: metrics::process::rss_bytes(),
        cpu_seconds: metrics::process::cpu_time().as_secs_f64(),
        uptime_secs: shard.ctx.started.elapsed().as_secs_f64(),
    };
    Response::text(200, prom::CONTENT_TYPE, prom::render(&snaps, &node))
}

/// A query parameter as a number; `default` when absent or unparsable (spec §1.2: lenient).
fn num_param(req: &Request, name: &str, default: u64) -> u64 {
    req.query_param(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
