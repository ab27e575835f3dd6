//! The body of one shard: its accept loops and background tasks, and its orderly stop.

use super::{ShardCtx, ShardListeners, STOP_GRACE};
use crate::api::http::{serve_http, ConnSettings, RequestLimits};
use crate::config::Config;
use crate::runtime::{DriverKind, LocalStop, Shutdown, SlotMap};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Runs shard `id` until shutdown, then lets in-flight work finish within the grace period.
pub async fn run_shard(
    id: usize,
    driver: DriverKind,
    config: Arc<Config>,
    listeners: ShardListeners,
    shutdown: Arc<Shutdown>,
) {
    let shards = config.effective_shards();
    let ctx = Rc::new(ShardCtx {
        id,
        config,
        driver,
        slots: SlotMap::new(shards),
        stop: LocalStop::new(),
        started: Instant::now(),
    });
    let in_flight = Rc::new(Cell::new(0usize));
    match monoio::net::TcpListener::from_std(listeners.http) {
        Ok(listener) => {
            monoio::spawn(accept_http(ctx.clone(), listener, in_flight.clone()));
        }
        Err(e) => {
            tracing::error!(shard = id, error = %e, "cannot adopt the HTTP listener");
            shutdown.trigger();
        }
    }
    shutdown.wait(id).await;
    ctx.stop.stop();
    let deadline = Instant::now() + STOP_GRACE;
    while in_flight.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tracing::info!(shard = id, "shard stopped");
}

/// Accepts HTTP connections until the shard stops; each connection is its own task.
async fn accept_http(ctx: Rc<ShardCtx>, listener: monoio::net::TcpListener, in_flight: Rc<Cell<usize>>) {
    let limits = &ctx.config.limits;
    let settings = ConnSettings {
        limits: RequestLimits {
            max_head: limits.max_http_header.get() as usize,
            max_body: limits.max_http_body.get() as usize,
        },
        timeout: limits.http_timeout.get(),
    };
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = ctx.stop.wait() => return,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let ctx = ctx.clone();
                let in_flight = in_flight.clone();
                monoio::spawn(async move {
                    in_flight.set(in_flight.get() + 1);
                    let stop = ctx.stop.clone();
                    serve_http(
                        stream,
                        settings,
                        &stop,
                        |req| crate::api::router::handle(ctx.clone(), req),
                    )
                    .await;
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
