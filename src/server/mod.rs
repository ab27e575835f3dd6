//! Starting and stopping the whole server: bind the listener groups, build the mesh, start one
//! pinned thread per shard, wait for SIGINT/SIGTERM, stop gracefully.

mod dispatch;
mod shard_main;

pub use shard_main::store_config;

use crate::config::Config;
use crate::runtime::{listen::bind_group, DriverChoice, Shutdown};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long shards get to finish in-flight work after a stop signal.
pub const STOP_GRACE: Duration = Duration::from_secs(4);

/// The listening sockets of one shard, bound on the main thread so errors surface at start-up.
pub struct ShardListeners {
    /// REST API.
    pub http: TcpListener,
    /// wkproto over TCP.
    pub tcp: TcpListener,
    /// wkproto over WebSocket.
    pub ws: TcpListener,
    /// The manager listener, when `manager.on`.
    pub manager: Option<TcpListener>,
    /// The chat demo listener, when `demo.on`.
    pub demo: Option<TcpListener>,
    /// wkproto over WebSocket over TLS, when `wssAddr` is set.
    pub wss: Option<TcpListener>,
    /// The TLS config of the WSS listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Cluster mode: this shard's link listener (`cluster.addr`'s port + shard).
    pub cluster: Option<TcpListener>,
}

/// Where the server listens (ports resolved when the config asked for port 0).
#[derive(Clone, Debug)]
pub struct BoundAddrs {
    /// REST API.
    pub http: SocketAddr,
    /// wkproto over TCP.
    pub tcp: SocketAddr,
    /// wkproto over WebSocket.
    pub ws: SocketAddr,
    /// The manager listener.
    pub manager: Option<SocketAddr>,
    /// The chat demo listener.
    pub demo: Option<SocketAddr>,
    /// The WSS listener.
    pub wss: Option<SocketAddr>,
    /// Cluster mode: shard 0's link listener (shard k listens on its port + k).
    pub cluster: Option<SocketAddr>,
}

impl std::fmt::Display for BoundAddrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tcp={} ws={} http={}", self.tcp, self.ws, self.http)?;
        if let Some(m) = self.manager {
            write!(f, " manager={m}")?;
        }
        if let Some(d) = self.demo {
            write!(f, " demo={d}")?;
        }
        if let Some(w) = self.wss {
            write!(f, " wss={w}")?;
        }
        if let Some(c) = self.cluster {
            write!(f, " cluster={c}")?;
        }
        Ok(())
    }
}

/// A started server: its addresses, and the handle that stops it.
pub struct RunningServer {
    /// Where it listens.
    pub addrs: BoundAddrs,
    shutdown: Arc<Shutdown>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// Asks every shard to stop.
    pub fn stop(&self) {
        self.shutdown.trigger();
    }

    /// A handle that can stop the server from another thread (signal handling).
    pub fn shutdown_handle(&self) -> Arc<Shutdown> {
        self.shutdown.clone()
    }

    /// Runs until the shards end by themselves or a stop is asked; after a stop, waits at
    /// most the grace period (plus a second). False if some shard did not finish in time.
    pub fn wait(self) -> bool {
        let shutdown = self.shutdown.clone();
        loop {
            if self.threads.iter().all(|t| t.is_finished()) {
                return self.join(Duration::ZERO) && !shutdown.has_failed();
            }
            if shutdown.is_triggered() {
                return self.join(STOP_GRACE + Duration::from_secs(1)) && !shutdown.has_failed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for every shard to finish; false if some did not within `deadline`.
    pub fn join(self, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        for t in &self.threads {
            while !t.is_finished() {
                if Instant::now() >= until {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        true
    }
}

/// What a cluster member's shards start with.
#[derive(Clone)]
pub struct ClusterStart {
    /// Members and slot layout.
    pub topology: Arc<crate::cluster::Topology>,
    /// This node's API URL as other nodes reach it (announced on the links).
    pub api_url: String,
}

/// `cluster.apiUrl`, or `http://<this node's host in initNodes>:<API port>`.
fn api_url(config: &Config, me: Option<&crate::cluster::Member>, http: SocketAddr) -> String {
    if !config.cluster.api_url.is_empty() {
        return config.cluster.api_url.clone();
    }
    let host = match me {
        Some(m) => m.host.clone(),
        None => http.ip().to_string(),
    };
    format!("http://{host}:{}", http.port())
}

/// Binds shard k's link listener on `cluster.addr`'s port + k (plain sockets: each shard
/// links with the same shard of every other node).
fn bind_cluster(addr: &str, shards: usize) -> io::Result<Vec<TcpListener>> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cluster.addr {addr:?} is not tcp://host:port"),
        )
    };
    let hostport = addr.trim_start_matches("tcp://");
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    (0..shards)
        .map(|k| {
            let a = format!("{host}:{}", port as usize + k);
            let l = TcpListener::bind(&a).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind the cluster listener {a}: {e}"),
                )
            })?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .collect()
}

/// Writes the ports the kernel chose into the listener keys that asked for port 0, so what
/// the server announces from its config (`/route`, the chat demo's redirect) is reachable.
fn announce_bound_ports(config: &mut Config, bound: &BoundAddrs) {
    fn fix(key: &mut String, scheme: &str, got: SocketAddr) {
        let rest = key.split_once("://").map_or(key.as_str(), |(_, r)| r);
        if rest.trim_end_matches('/').ends_with(":0") {
            *key = format!("{scheme}{got}");
        }
    }
    fix(&mut config.addr, "tcp://", bound.tcp);
    fix(&mut config.ws_addr, "ws://", bound.ws);
    fix(&mut config.http_addr, "", bound.http);
    if let Some(w) = bound.wss {
        fix(&mut config.wss_addr, "wss://", w);
    }
    if let Some(m) = bound.manager {
        fix(&mut config.manager.addr, "", m);
    }
    if let Some(d) = bound.demo {
        fix(&mut config.demo.addr, "", d);
    }
}

/// Binds every listener, starts the shards and returns at once.
pub fn start(mut config: Config) -> io::Result<RunningServer> {
    // Resolve the shard count once, here: a pinned shard thread sees only its own core.
    let shards = config.effective_shards();
    config.shards = shards;
    jindou_storage::dirs::create_dir_durable(std::path::Path::new(&config.root_dir)).map_err(
        |e| {
            io::Error::new(
                e.kind(),
                format!("cannot create rootDir {}: {e}", config.root_dir),
            )
        },
    )?;
    config.jwt.secret =
        crate::auth::resolve_jwt_secret(&config.jwt.secret, std::path::Path::new(&config.root_dir))
            .map_err(|e| io::Error::other(format!("jwt.secret: {e}")))?;
    let addrs = config
        .listen_addrs()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let manager_users = Arc::new(
        crate::auth::parse_users(&config.auth.users, &config.manager_uid)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
    );
    let http = bind_group(addrs.http, shards)?;
    let tcp = bind_group(addrs.tcp, shards)?;
    let ws = bind_group(addrs.ws, shards)?;
    let mut manager: Vec<Option<TcpListener>> = match addrs.manager {
        Some(a) => bind_group(a, shards)?.into_iter().map(Some).collect(),
        None => (0..shards).map(|_| None).collect(),
    };
    let tls = match addrs.wss {
        Some(_) => Some(
            crate::gateway::tls::server_config(
                &config.wss_config.cert_file,
                &config.wss_config.key_file,
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let mut wss: Vec<Option<TcpListener>> = match addrs.wss {
        Some(a) => bind_group(a, shards)?.into_iter().map(Some).collect(),
        None => (0..shards).map(|_| None).collect(),
    };
    let wss_addr = match wss.first() {
        Some(Some(l)) => Some(l.local_addr()?),
        _ => None,
    };
    let manager_addr = match manager.first() {
        Some(Some(l)) => Some(l.local_addr()?),
        _ => None,
    };
    let mut demo: Vec<Option<TcpListener>> = match addrs.demo {
        Some(a) => bind_group(a, shards)?.into_iter().map(Some).collect(),
        None => (0..shards).map(|_| None).collect(),
    };
    let demo_addr = match demo.first() {
        Some(Some(l)) => Some(l.local_addr()?),
        _ => None,
    };
    let topology = crate::cluster::Topology::from_config(&config.cluster)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut cluster_listeners: Vec<Option<TcpListener>> = match &topology {
        Some(t) => {
            if shards > t.slot_count as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{shards} shards but cluster.slotCount {}: every shard needs a slot",
                        t.slot_count
                    ),
                ));
            }
            bind_cluster(&config.cluster.addr, shards)?
                .into_iter()
                .map(Some)
                .collect()
        }
        None => (0..shards).map(|_| None).collect(),
    };
    let cluster_addr = match cluster_listeners.first() {
        Some(Some(l)) => Some(l.local_addr()?),
        _ => None,
    };
    let bound = BoundAddrs {
        http: http[0].local_addr()?,
        tcp: tcp[0].local_addr()?,
        ws: ws[0].local_addr()?,
        manager: manager_addr,
        demo: demo_addr,
        wss: wss_addr,
        cluster: cluster_addr,
    };
    // A listener configured on port 0 is announced (`/route`, the demo's redirect, `/varz`)
    // with the port it got.
    announce_bound_ports(&mut config, &bound);
    let config = Arc::new(config);
    let cluster = topology.map(|t| {
        let me = t.member(t.me).cloned();
        ClusterStart {
            api_url: api_url(&config, me.as_ref(), bound.http),
            topology: Arc::new(t),
        }
    });
    for warning in config.exposure_warnings(&addrs) {
        tracing::warn!(target: "jindou::security", "{warning}");
        if config.mode == "release" {
            eprintln!("jindou: SECURITY WARNING: {warning}");
        }
    }
    // The webhook / datasource thread, off the shards (only when configured).
    let hub = crate::webhook::start(&config, shards)?;
    let shutdown = Shutdown::new(shards);
    let driver = DriverChoice::from_config(&config.runtime.driver);
    let mut threads = Vec::with_capacity(shards);
    let node_conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http_conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let meshes = crate::runtime::build_mesh::<crate::shard::msg::ShardMsg>(
        shards,
        config.runtime.mesh_capacity,
    );
    let groups = http.into_iter().zip(tcp).zip(ws).zip(meshes);
    for (id, (((http, tcp), ws), mesh)) in groups.enumerate() {
        let listeners = ShardListeners {
            http,
            tcp,
            ws,
            manager: manager[id].take(),
            demo: demo[id].take(),
            wss: wss[id].take(),
            tls: tls.clone(),
            cluster: cluster_listeners[id].take(),
        };
        let config = config.clone();
        let shutdown = shutdown.clone();
        let manager_users = manager_users.clone();
        let node_conns = node_conns.clone();
        let http_conns = http_conns.clone();
        let hub = hub.clone();
        let cluster = cluster.clone();
        let thread = std::thread::Builder::new()
            .name(format!("jindou-shard-{id}"))
            .spawn(move || {
                if config.runtime.pin_cores && !crate::runtime::pin_to_core(id) {
                    tracing::debug!(shard = id, "could not pin to a core");
                }
                let result = crate::runtime::run_on(driver, |kind| {
                    tracing::info!(shard = id, driver = kind.name(), "shard started");
                    shard_main::run_shard(shard_main::ShardParts {
                        id,
                        driver: kind,
                        config,
                        listeners,
                        mesh,
                        shutdown: shutdown.clone(),
                        manager_users,
                        hub,
                        node_conns,
                        http_conns,
                        cluster,
                    })
                });
                if let Err(e) = result {
                    tracing::error!(shard = id, error = %e, "shard could not start its runtime");
                    shutdown.fail();
                }
            })?;
        threads.push(thread);
    }
    Ok(RunningServer {
        addrs: bound,
        shutdown,
        threads,
    })
}
