//! `GET /route` and `POST /route/batch`: where clients should connect (spec §9.1–9.2).

use crate::api::http::{Request, Response};
use crate::config::Config;
use crate::shard::Shard;
use serde_json::{json, Value};

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or("")
}

/// The public IP announced to clients: `external.ip`, else the host's first non-loopback IPv4.
pub fn external_ip(cfg: &Config) -> String {
    if !cfg.external.ip.is_empty() {
        return cfg.external.ip.clone();
    }
    // The first non-loopback IPv4 address of the host, as v2 does without external.ip.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .ok()
        .and_then(|s| s.connect("10.255.255.255:1").ok().map(|_| s))
        .and_then(|s| s.local_addr().ok())
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The addresses `/route` announces.
pub fn addresses(cfg: &Config, intranet: bool) -> Value {
    if intranet {
        return json!({"tcp_addr": cfg.intranet.tcp_addr, "ws_addr": "", "wss_addr": ""});
    }
    let ip = external_ip(cfg);
    let tcp = if cfg.external.tcp_addr.is_empty() {
        format!("{ip}:{}", port_of(&cfg.addr))
    } else {
        cfg.external.tcp_addr.clone()
    };
    let ws = if cfg.external.ws_addr.is_empty() {
        format!("ws://{ip}:{}", port_of(&cfg.ws_addr))
    } else {
        cfg.external.ws_addr.clone()
    };
    let wss = if !cfg.external.wss_addr.is_empty() {
        cfg.external.wss_addr.clone()
    } else if !cfg.wss_addr.is_empty() {
        format!("wss://{ip}:{}", port_of(&cfg.wss_addr))
    } else {
        String::new()
    };
    json!({"tcp_addr": tcp, "ws_addr": ws, "wss_addr": wss})
}

/// `GET /route?intranet=0|1`.
pub fn route(shard: &Shard, req: &Request) -> Response {
    let intranet = req.query_param("intranet").as_deref() == Some("1");
    Response::json(200, &addresses(&shard.ctx.config, intranet))
}

/// `POST /route/batch?intranet=0|1` with a JSON array of uids.
pub fn batch(shard: &Shard, req: &Request) -> Response {
    let uids: Vec<String> = match super::body(req) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let intranet = req.query_param("intranet").as_deref() == Some("1");
    let mut v = addresses(&shard.ctx.config, intranet);
    v["uids"] = json!(uids);
    Response::json(200, &json!([v]))
}
