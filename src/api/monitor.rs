//! Monitoring and cluster views (`/varz`, `/connz`, `/metrics`, `/cluster/*`, `/status`): routes
//! served on the API port and on the manager port (listed in [`super::router::ROUTES`]);
//! [`route_manager`] is the whole router of the manager listener.

mod cluster;
mod pprof;
mod status;
mod varz;

use super::http::{Method, Request, Response};
use crate::metrics::{self, prom};
use crate::shard::Shard;
use std::rc::Rc;

/// A monitoring view (a [`super::router::Handler::Monitor`] route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// `GET /varz`.
    Varz,
    /// `GET /varz/setting`.
    VarzSetting,
    /// `GET /connz`.
    Connz,
    /// `GET /metrics`.
    Metrics,
    /// `GET /status` (and `/` on the manager port).
    Status,
    /// `GET /debug/pprof/*` (with `pprofOn`).
    Pprof,
    /// `/cluster/*`.
    Cluster,
}

/// Serves a monitoring view.
pub async fn serve(shard: &Shard, req: &Request, view: Monitor) -> Response {
    let found = match view {
        Monitor::Varz => Some(varz::varz(shard, req).await),
        Monitor::VarzSetting => Some(varz::setting(shard)),
        Monitor::Connz => Some(varz::connz(shard, req).await),
        Monitor::Metrics => Some(metrics_text(shard).await),
        Monitor::Status => Some(status::page()),
        Monitor::Pprof => pprof::route(shard, req).await,
        Monitor::Cluster => cluster::route(shard, req).await,
    };
    found.unwrap_or_else(|| super::router::no_route(req))
}

/// The manager listener's router (`manager.addr` when `manager.on`): the monitoring routes,
/// `/status` (also at `/`), `/health`, `/manager/login`, `/conn/*` and `/tag*`, behind
/// [`super::access::Policy::manager_port`].
pub async fn route_manager(api: Rc<super::ApiState>, req: Request) -> Response {
    use super::router::Handler;
    if let Err(resp) = api.policy().manager_port(&req) {
        return resp;
    }
    if req.method == Method::Options {
        return Response::empty(204);
    }
    if matches!(req.method, Method::Get | Method::Head) && req.path == "/" {
        return status::page();
    }
    match super::router::find(req.method, &req.path).map(|r| r.handler) {
        Some(Handler::ManagerLogin) => super::handlers::manager::login(&api, &req),
        Some(Handler::Health) => health(&api.shard).await,
        Some(Handler::Monitor(view)) => serve(&api.shard, &req, view).await,
        Some(Handler::ConnKick) => super::handlers::conn::close(&api.shard, &req, true).await,
        Some(Handler::ConnRemove) => super::handlers::conn::close(&api.shard, &req, false).await,
        Some(Handler::Tag) => super::handlers::tag::tag(&api.shard, &req).await,
        Some(Handler::Tags) => super::handlers::tag::tags(&api.shard, &req).await,
        Some(Handler::TagRemove) => super::handlers::tag::remove(&api.shard, &req).await,
        _ => super::router::no_route(&req),
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
