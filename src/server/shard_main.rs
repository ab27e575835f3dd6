//! The body of one shard: open its store, replay its metadata, plug its ports in, start its
//! tasks (mesh loop, committer, accept loops), and stop in order.

use super::{ShardListeners, STOP_GRACE};
use crate::api::listener::{accept_http, Port};
use crate::api::ApiState;
use crate::config::Config;
use crate::gateway::ConnTable;
use crate::runtime::{DriverKind, LocalStop, MeshEndpoint, Shutdown, SlotMap};
use crate::shard::events::Ports;
use crate::shard::msg::{OwnerMsg, ShardMsg};
use crate::shard::{Shard, ShardCtx};
use jindou_storage::{Store, StoreConfig, SyncPolicy};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
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
    ports: Ports,
) -> Result<Rc<Shard>, String> {
    let store = Store::open(&store_config(&ctx.config, ctx.id)).map_err(|e| e.to_string())?;
    let shard = Rc::new(Shard::new(ctx, mesh.into_local(), store, ports));
    let weak = Rc::downgrade(&shard);
    shard
        .store
        .borrow()
        .messages
        .set_sync_observer(Box::new(move |took| {
            if let Some(shard) = weak.upgrade() {
                shard.stats.commit_sync_latency.observe_duration(took);
            }
        }));
    // Message ids stay above every id this shard stored before (a clock set back, or ids of
    // an older epoch).
    let newest_id = shard.store.borrow().messages.newest_message_id();
    if let Some(id) = newest_id {
        shard.ids.borrow_mut().resume_after(id);
    }
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

/// Everything one shard thread starts with.
pub struct ShardParts {
    /// Shard id.
    pub id: usize,
    /// The I/O driver it runs on.
    pub driver: DriverKind,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Its listening sockets.
    pub listeners: ShardListeners,
    /// Its end of the mesh.
    pub mesh: MeshEndpoint<ShardMsg>,
    /// The node's stop signal.
    pub shutdown: Arc<Shutdown>,
    /// `auth.users`.
    pub manager_users: Arc<Vec<crate::auth::ManagerUser>>,
    /// The webhook/datasource thread, when configured.
    pub hub: Option<Arc<crate::webhook::Hub>>,
    /// Client connections open on the node.
    pub node_conns: Arc<AtomicUsize>,
    /// HTTP connections open on the node.
    pub http_conns: Arc<AtomicUsize>,
    /// Cluster mode: the topology and this node's API URL.
    pub cluster: Option<super::ClusterStart>,
}

/// The shard's ports: the webhook listens to its events, the datasource supplies channels.
fn ports(hub: Option<&Arc<crate::webhook::Hub>>) -> Ports {
    let mut ports = Ports::default();
    if let Some(hub) = hub {
        if hub.hook.is_some() {
            ports.events = Rc::new(crate::webhook::ShardHooks::new(hub.clone()));
        }
        if let Some(client) = &hub.datasource {
            let ds = Rc::new(crate::datasource::ShardDatasource::new(client.clone()));
            if client.cfg.user_info_on {
                ports.user_source = Some(ds.clone());
            }
            ports.channel_source = Some(ds);
        }
    }
    ports
}

/// Runs shard `id` until shutdown, then lets in-flight work finish within the grace period.
pub async fn run_shard(p: ShardParts) {
    let id = p.id;
    let shards = p.config.effective_shards();
    let ctx = Rc::new(ShardCtx {
        id,
        config: p.config,
        driver: p.driver,
        slots: match &p.cluster {
            Some(c) => SlotMap::with_slots(shards, c.topology.slot_count),
            None => SlotMap::new(shards),
        },
        stop: LocalStop::new(),
        started: Instant::now(),
    });
    let shard = match open_shard(ctx.clone(), p.mesh, ports(p.hub.as_ref())) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(shard = id, error = %e, "cannot open the store");
            eprintln!("jindou: shard {id} cannot open its store: {e}");
            p.shutdown.fail();
            return;
        }
    };
    let mut listeners = p.listeners;
    if let (Some(c), Some(l)) = (p.cluster, listeners.cluster.take()) {
        match join_cluster(&shard, c, l).await {
            Ok(raft) => {
                shard.set_placement(crate::cluster::Placement::cluster(raft));
                monoio::spawn(crate::shard::relay::run_sweeper(shard.clone()));
            }
            Err(e) => {
                tracing::error!(shard = id, error = %e, "cannot join the cluster");
                eprintln!("jindou: shard {id} cannot join the cluster: {e}");
                p.shutdown.fail();
                return;
            }
        }
    }
    let gw = ConnTable::new(shard.clone(), p.node_conns);
    let api = ApiState::new(shard.clone(), p.manager_users, p.http_conns);
    let notify = p.hub.as_ref().map(|hub| {
        crate::webhook::prepare_cursor(&shard, hub);
        monoio::spawn(crate::webhook::notify_task(shard.clone(), hub.clone()))
    });
    monoio::spawn(shard.mesh.clone().run_flusher());
    monoio::spawn(super::dispatch::run_mesh_loop(shard.clone(), gw.clone()));
    monoio::spawn(crate::shard::run_committer(shard.clone()));
    monoio::spawn(crate::gateway::retry::run_retries(gw.clone()));
    monoio::spawn(crate::gateway::idle::run_idle_sweeper(gw.clone()));
    monoio::spawn(crate::gateway::park::run_unparker(gw.clone()));
    monoio::spawn(crate::shard::compact::run_compactor(shard.clone()));
    let st = &shard.ctx.config.storage;
    if !st.retention_age.get().is_zero() || st.retention_size.get() > 0 {
        if shard.raft().is_none() {
            monoio::spawn(crate::shard::compact::run_retention(shard.clone()));
        } else if id == 0 {
            tracing::warn!(
                "storage.retentionAge/retentionSize are not applied in cluster mode yet"
            );
        }
    }
    if id == crate::shard::globals::GLOBALS_OWNER {
        let snapshot = shard.globals.borrow().clone();
        for dst in 0..shards {
            if dst != id {
                let op = OwnerMsg::GlobalsSnapshot(Box::new(snapshot.clone()));
                shard.mesh.send(dst, op.into());
            }
        }
        shard.globals_ready.stop();
        if let Some(client) = p.hub.as_ref().and_then(|h| h.datasource.clone()) {
            monoio::spawn(crate::datasource::load_system_uids(shard.clone(), client));
        }
    }
    crate::shard::conversations::announce_channels(&shard);
    // Clients are served only once the global tables (permissions) are in place and the
    // conversations rebuilt.
    monoio::select! {
        _ = async {
            shard.globals_ready.wait().await;
            shard.conv_ready.wait().await;
        } => {},
        _ = p.shutdown.wait(id) => return,
    }
    let in_flight = Rc::new(Cell::new(0usize));
    start_listeners(&gw, &api, listeners, &in_flight, &p.shutdown);
    p.shutdown.wait(id).await;
    ctx.stop.stop();
    for c in gw.all() {
        c.close();
    }
    let deadline = Instant::now() + STOP_GRACE;
    while (in_flight.get() > 0 || !shard.commits_pending()) && Instant::now() < deadline {
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if let Some(raft) = shard.raft() {
        raft.shutdown().await;
    }
    if let Err(e) = shard.store.borrow_mut().messages.flush_blocking() {
        tracing::error!(shard = id, error = %e, "final flush failed");
    }
    if let Some(task) = notify {
        // The msg.notify task persists its cursor once it sees the stop.
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = monoio::time::timeout(left.max(std::time::Duration::from_secs(1)), task).await;
    }
    tracing::info!(shard = id, "shard stopped");
}

/// Starts this shard's slot groups. A data directory holding messages from single-node mode
/// is refused: its history is in no group's log, so the replicas would disagree.
async fn join_cluster(
    shard: &Rc<Shard>,
    c: super::ClusterStart,
    listener: std::net::TcpListener,
) -> Result<Rc<crate::cluster::RaftShard>, String> {
    let cfg = &shard.ctx.config;
    let mut sc = store_config(cfg, shard.id());
    sc.dir = sc.dir.join("raft");
    let fresh = !sc.dir.exists();
    if fresh && shard.store.borrow().messages.channel_count() > 0 {
        return Err(format!(
            "{} holds messages stored in single-node mode; a cluster member needs a fresh              data directory (moving single-node data into a cluster is not supported yet)",
            cfg.root_dir
        ));
    }
    let log = jindou_storage::log::Log::open(
        jindou_storage::config::LogConfig {
            dir: sc.dir.clone(),
            segment_size: sc.segment_size,
            sync_policy: sc.sync_policy,
            sync_interval: sc.sync_interval,
            sync_batch: sc.sync_batch,
            repair: sc.repair,
            stage_bytes: jindou_storage::stage::DEFAULT_STAGE_BYTES,
            cached_segments: jindou_storage::config::DEFAULT_CACHED_SEGMENTS,
        },
        &|_| None,
    )
    .map_err(|e| format!("raft log {}: {e}", sc.dir.display()))?;
    let listener = monoio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let cl = &cfg.cluster;
    let tick = cl.tick_interval.get();
    let timing = crate::cluster::Timing {
        heartbeat: tick * cl.heartbeat_interval_tick.max(1),
        election: tick * cl.election_interval_tick.max(2),
        request: cl.req_timeout.get(),
    };
    let slots: Vec<u16> = shard.ctx.slots.slots_of_shard(shard.id()).collect();
    crate::cluster::RaftShard::start(
        (*c.topology).clone(),
        shard.id(),
        shard.ctx.slots.shards(),
        slots,
        log,
        c.api_url,
        listener,
        Rc::new(crate::shard::replicated::ShardHost::new(shard)),
        timing,
        shard.ctx.stop.clone(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// Adopts the listeners bound on the main thread and spawns their accept loops.
fn start_listeners(
    gw: &Rc<ConnTable>,
    api: &Rc<ApiState>,
    listeners: ShardListeners,
    in_flight: &Rc<Cell<usize>>,
    shutdown: &Shutdown,
) {
    let id = gw.shard.id();
    let adopt = |l: std::net::TcpListener| monoio::net::TcpListener::from_std(l);
    match (
        adopt(listeners.http),
        adopt(listeners.tcp),
        adopt(listeners.ws),
    ) {
        (Ok(http), Ok(tcp), Ok(ws)) => {
            monoio::spawn(accept_http(api.clone(), http, in_flight.clone(), Port::Api));
            monoio::spawn(crate::gateway::accept_clients(gw.clone(), tcp, false, None));
            monoio::spawn(crate::gateway::accept_clients(gw.clone(), ws, true, None));
        }
        _ => {
            tracing::error!(shard = id, "cannot adopt the listeners");
            shutdown.fail();
        }
    }
    if let (Some(wss), Some(tls)) = (listeners.wss, listeners.tls) {
        match adopt(wss) {
            Ok(wss) => {
                let accept = crate::gateway::accept_clients(gw.clone(), wss, true, Some(tls));
                monoio::spawn(accept);
            }
            Err(e) => tracing::error!(shard = id, error = %e, "cannot adopt the WSS listener"),
        }
    }
    if let Some(m) = listeners.manager {
        match adopt(m) {
            Ok(m) => {
                monoio::spawn(accept_http(
                    api.clone(),
                    m,
                    in_flight.clone(),
                    Port::Manager,
                ));
            }
            Err(e) => tracing::error!(shard = id, error = %e, "cannot adopt the manager listener"),
        }
    }
    if let Some(d) = listeners.demo {
        match adopt(d) {
            Ok(d) => {
                monoio::spawn(accept_http(api.clone(), d, in_flight.clone(), Port::Demo));
            }
            Err(e) => tracing::error!(shard = id, error = %e, "cannot adopt the demo listener"),
        }
    }
}
