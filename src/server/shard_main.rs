//! The body of one shard: open its store, replay its metadata, start its tasks (mesh loop,
//! committer, accept loops), and stop in order.

use super::{ShardCtx, ShardListeners, STOP_GRACE};
use crate::api::http::{serve_http, ConnSettings, RequestLimits};
use crate::config::Config;
use crate::runtime::{DriverKind, LocalStop, MeshEndpoint, Replies, Shutdown, SlotMap};
use crate::shard::ids::MessageIds;
use crate::shard::msg::ShardMsg;
use crate::shard::Shard;
use jindou_storage::{Store, StoreConfig, SyncPolicy};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The store configuration of shard `id`.
pub fn store_config(config: &Config, id: usize) -> StoreConfig {
    let mut sc =
        StoreConfig::new(std::path::Path::new(&config.root_dir).join(format!("shard-{id}")));
    sc.segment_size = config.storage.segment_size.get();
    sc.sync_policy = match config.storage.sync_policy.as_str() {
        "interval" => SyncPolicy::Interval,
        "none" => SyncPolicy::None,
        _ => SyncPolicy::Always,
    };
    sc.sync_interval = config.storage.sync_interval.get();
    sc.sync_batch = config.storage.sync_batch;
    let age = config.storage.retention_age.get();
    sc.retention_age = (!age.is_zero()).then_some(age);
    let size = config.storage.retention_size.get();
    sc.retention_bytes = (size > 0).then_some(size);
    sc
}

/// Opens the store and rebuilds owned metadata from its meta log.
fn open_shard(
    ctx: Rc<ShardCtx>,
    mesh: MeshEndpoint<ShardMsg>,
    hub: Option<Arc<crate::webhook::Hub>>,
) -> Result<Rc<Shard>, String> {
    let config = &ctx.config;
    let store = Store::open(&store_config(config, ctx.id)).map_err(|e| e.to_string())?;
    let shards = ctx.slots.shards();
    let shard = Rc::new(Shard {
        mesh: mesh.into_local(),
        replies: Rc::new(Replies::default()),
        store: RefCell::new(store),
        users: Default::default(),
        channels: Default::default(),
        conns: Default::default(),
        next_conn_id: Cell::new(1),
        ids: RefCell::new(MessageIds::new(config.cluster.node_id, ctx.id, shards)),
        commits: Default::default(),
        commit_waker: Cell::new(None),
        stats: Default::default(),
        read_pool: Default::default(),
        scratch: Default::default(),
        globals: Default::default(),
        stored_system_uids: Default::default(),
        compactor: crate::shard::compact::Compactor::new(config.storage.meta_snapshot_ops),
        globals_ready: LocalStop::new(),
        hooks: hub.map(crate::webhook::ShardHooks::new),
        ctx,
    });
    let started = Instant::now();
    let restored = {
        let mut store = shard.store.borrow_mut();
        shard.with_owned_meta(|m| crate::shard::snapshot::restore(&mut store.meta, m))?
    };
    tracing::info!(
        shard = shard.id(),
        snapshot_bytes = restored.snapshot_bytes,
        snapshot_lsn = restored.snapshot_lsn,
        channels = restored.counts.channels,
        users = restored.counts.users,
        replayed = restored.replayed,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "metadata restored"
    );
    Ok(shard)
}

/// Runs shard `id` until shutdown, then lets in-flight work finish within the grace period.
#[allow(clippy::too_many_arguments)]
pub async fn run_shard(
    id: usize,
    driver: DriverKind,
    config: Arc<Config>,
    listeners: ShardListeners,
    mesh: MeshEndpoint<ShardMsg>,
    shutdown: Arc<Shutdown>,
    manager_users: Arc<Vec<crate::auth::ManagerUser>>,
    hub: Option<Arc<crate::webhook::Hub>>,
    node_conns: Arc<std::sync::atomic::AtomicUsize>,
) {
    let shards = config.effective_shards();
    let conn_limiter =
        crate::runtime::ratelimit::IpLimiter::new(config.limits.conn_rate_per_ip, shards);
    let api_limiter =
        crate::runtime::ratelimit::IpLimiter::new(config.limits.api_rate_per_ip, shards);
    let ctx = Rc::new(ShardCtx {
        id,
        config,
        driver,
        slots: SlotMap::new(shards),
        stop: LocalStop::new(),
        started: Instant::now(),
        conn_limiter,
        api_limiter,
        node_conns,
        manager_users,
    });
    let shard = match open_shard(ctx.clone(), mesh, hub) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(shard = id, error = %e, "cannot open the store");
            eprintln!("jindou: shard {id} cannot open its store: {e}");
            shutdown.fail();
            return;
        }
    };
    crate::webhook::prepare_cursor(&shard);
    monoio::spawn(shard.mesh.clone().run_flusher());
    monoio::spawn(crate::shard::run_mesh_loop(shard.clone()));
    monoio::spawn(crate::shard::run_committer(shard.clone()));
    monoio::spawn(crate::gateway::retry::run_retries(shard.clone()));
    monoio::spawn(crate::webhook::notify_task(shard.clone()));
    monoio::spawn(crate::shard::compact::run_compactor(shard.clone()));
    if id == crate::shard::globals::GLOBALS_OWNER {
        let snapshot = shard.globals.borrow().clone();
        for dst in 0..shards {
            if dst != id {
                shard
                    .mesh
                    .send(dst, ShardMsg::GlobalsSnapshot(Box::new(snapshot.clone())));
            }
        }
        shard.globals_ready.stop();
        monoio::spawn(crate::datasource::load_system_uids(shard.clone()));
    }
    crate::shard::conversations::announce_channels(&shard);
    // Clients are served only once the global tables (permissions) are in place.
    monoio::select! {
        _ = shard.globals_ready.wait() => {},
        _ = shutdown.wait(id) => return,
    }
    let in_flight = Rc::new(Cell::new(0usize));
    let adopt = |l: std::net::TcpListener| monoio::net::TcpListener::from_std(l);
    match (
        adopt(listeners.http),
        adopt(listeners.tcp),
        adopt(listeners.ws),
    ) {
        (Ok(http), Ok(tcp), Ok(ws)) => {
            monoio::spawn(accept_http(shard.clone(), http, in_flight.clone(), false));
            monoio::spawn(crate::gateway::accept_clients(
                shard.clone(),
                tcp,
                false,
                None,
            ));
            monoio::spawn(crate::gateway::accept_clients(
                shard.clone(),
                ws,
                true,
                None,
            ));
        }
        _ => {
            tracing::error!(shard = id, "cannot adopt the listeners");
            shutdown.fail();
        }
    }
    if let (Some(wss), Some(tls)) = (listeners.wss, listeners.tls) {
        match adopt(wss) {
            Ok(wss) => {
                monoio::spawn(crate::gateway::accept_clients(
                    shard.clone(),
                    wss,
                    true,
                    Some(tls),
                ));
            }
            Err(e) => tracing::error!(shard = id, error = %e, "cannot adopt the WSS listener"),
        }
    }
    if let Some(m) = listeners.manager {
        match adopt(m) {
            Ok(m) => {
                monoio::spawn(accept_http(shard.clone(), m, in_flight.clone(), true));
            }
            Err(e) => tracing::error!(shard = id, error = %e, "cannot adopt the manager listener"),
        }
    }
    shutdown.wait(id).await;
    ctx.stop.stop();
    let conns: Vec<_> = shard.conns.borrow().values().cloned().collect();
    for c in conns {
        c.close();
    }
    let deadline = Instant::now() + STOP_GRACE;
    while (in_flight.get() > 0 || !shard.commits.borrow().is_empty()) && Instant::now() < deadline {
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if let Err(e) = shard.store.borrow_mut().messages.flush_blocking() {
        tracing::error!(shard = id, error = %e, "final flush failed");
    }
    tracing::info!(shard = id, "shard stopped");
}

/// Accepts HTTP connections until the shard stops; each connection is its own task.
async fn accept_http(
    shard: Rc<Shard>,
    listener: monoio::net::TcpListener,
    in_flight: Rc<Cell<usize>>,
    manager: bool,
) {
    let limits = &shard.ctx.config.limits;
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
            _ = shard.ctx.stop.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shard = shard.clone();
                let in_flight = in_flight.clone();
                monoio::spawn(async move {
                    in_flight.set(in_flight.get() + 1);
                    let stop = shard.ctx.stop.clone();
                    if manager {
                        serve_http(stream, settings, &stop, |req| {
                            crate::api::monitor::route_manager(shard.clone(), req)
                        })
                        .await;
                    } else {
                        serve_http(stream, settings, &stop, |req| {
                            let limited = !shard.ctx.api_limiter.allow(peer.ip());
                            let shard = shard.clone();
                            async move {
                                if limited {
                                    crate::shard::stats::inc(&shard.stats.api_rate_limited);
                                    return crate::api::http::Response::error(
                                        429,
                                        "too many requests",
                                    );
                                }
                                crate::api::router::handle(shard, req).await
                            }
                        })
                        .await;
                    }
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
