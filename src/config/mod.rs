//! Configuration: WuKongIM's YAML keys plus Jindou's own, with `WK_*` environment overrides.
//!
//! Precedence: environment > file > embedded defaults. [`Config::load`] merges the three,
//! warns about unknown keys, and refuses bad values with the key and value named.

mod load;
mod units;
mod validate;

pub use load::{ConfigError, LoadReport};
pub use units::{format_duration, parse_duration, parse_size, ByteSize, ConfigDuration};
pub use validate::ListenAddrs;

use serde::{Deserialize, Serialize};

/// The whole effective configuration. Field names are the YAML keys (camelCase).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// `debug`, `release` or `bench`; sets the default log level.
    pub mode: String,
    /// Data root: message logs, meta logs and logs live below it.
    pub root_dir: String,
    /// TCP client listener, `tcp://host:port`.
    pub addr: String,
    /// REST API listener, `host:port`.
    pub http_addr: String,
    /// WebSocket client listener, `ws://host:port`.
    pub ws_addr: String,
    /// WSS client listener, `wss://host:port`; empty = off.
    pub wss_addr: String,
    /// Certificate and key for WSS.
    pub wss_config: WssConfig,
    /// Addresses announced to clients by `/route`.
    pub external: External,
    /// Addresses announced by `/route?intranet=1`.
    pub intranet: Intranet,
    /// Where and how events are pushed to the business backend.
    pub webhook: Webhook,
    /// The business service that supplies users, channels and subscribers.
    pub datasource: Datasource,
    /// Users of the manager API and their permissions.
    pub auth: Auth,
    /// How manager JWTs are signed.
    pub jwt: Jwt,
    /// When set, every API request must carry it; also the manager uid's client password.
    pub manager_token: String,
    /// The reserved uid that logs in with `managerToken`.
    #[serde(rename = "managerUID")]
    pub manager_uid: String,
    /// Check client CONNECT tokens against those registered with `/user/token`.
    pub token_auth_on: bool,
    /// `true` = a person chat does not require the sender in the recipient's whitelist.
    pub whitelist_off_of_person: bool,
    /// Log level, directory and tracing.
    pub logger: Logger,
    /// Expose `/debug/pprof/*` on the API port.
    pub pprof_on: bool,
    /// The manager listener.
    pub manager: Manager,
    /// The embedded browser chat demo (`/chatdemo`).
    pub demo: Demo,
    /// Channel behaviour.
    pub channel: ChannelOpts,
    /// Conversation behaviour.
    pub conversation: ConversationOpts,
    /// An authenticated connection with no inbound traffic for this long is closed.
    pub conn_idle_time: ConfigDuration,
    /// Retry of RECVs that were not acknowledged.
    pub message_retry: MessageRetry,
    /// Refuse `/message/sync` (CMD offline sync).
    #[serde(rename = "disableCMDMessageSync")]
    pub disable_cmd_message_sync: bool,
    /// Refuse JSON-RPC on the client ports (a session starting with `{` is then bad wkproto).
    #[serde(rename = "disableJSONRPC")]
    pub disable_jsonrpc: bool,
    /// This node in the cluster.
    pub cluster: Cluster,
    /// Jindou: number of shards (threads, one per core); 0 = the cores available.
    pub shards: usize,
    /// Jindou: the I/O driver.
    pub runtime: RuntimeOpts,
    /// Jindou: storage tuning.
    pub storage: StorageOpts,
    /// Jindou: protective limits.
    pub limits: Limits,
    /// Jindou: encrypt client payloads (required by wukongimjssdk 1.0.4).
    pub encryption: bool,
}

/// `wssConfig.*`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct WssConfig {
    /// PEM certificate chain.
    pub cert_file: String,
    /// PEM private key.
    pub key_file: String,
}

/// `external.*`: what `/route` tells clients.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct External {
    /// Public IP; empty = the first intranet address.
    pub ip: String,
    /// Announced TCP address.
    pub tcp_addr: String,
    /// Announced WebSocket URL.
    pub ws_addr: String,
    /// Announced WSS URL.
    pub wss_addr: String,
    /// Announced manager address.
    pub manager_addr: String,
    /// Announced API URL.
    pub api_url: String,
    /// Accepted for compatibility; Jindou never calls out to learn its IP.
    #[serde(rename = "autoGetExternalIP")]
    pub auto_get_external_ip: bool,
}

/// `intranet.*`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Intranet {
    /// Announced intranet TCP address.
    pub tcp_addr: String,
}

/// `webhook.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Webhook {
    /// HTTP receiver base URL.
    pub http_addr: String,
    /// gRPC receiver `host:port`; when set, all events go through gRPC.
    pub grpc_addr: String,
    /// Flush interval of `msg.notify` batches.
    pub msg_notify_event_push_interval: ConfigDuration,
    /// Batch size of `msg.notify`.
    pub msg_notify_event_count_per_push: usize,
    /// `msg.notify`: fast attempts (100 ms doubling) before the retries slow down; a batch is
    /// never dropped for failing. `user.onlinestatus`: attempts before a batch is dropped.
    pub msg_notify_event_retry_max_count: usize,
    /// Only these events are sent; empty = all.
    pub focus_events: Vec<String>,
    /// Jindou: longest pause between two `msg.notify` attempts once the fast ones are spent
    /// (the slow retries start at 1 s and double up to this).
    pub msg_notify_event_retry_max_interval: ConfigDuration,
    /// Jindou: size cap of each shard's `msg.notify` dead-letter file (batches the receiver
    /// refused with a 4xx); a batch that does not fit is counted and logged, not parked.
    pub dead_letter_max_size: ByteSize,
}

impl Default for Webhook {
    fn default() -> Self {
        Self {
            http_addr: String::new(),
            grpc_addr: String::new(),
            msg_notify_event_push_interval: ConfigDuration::from_millis(500),
            msg_notify_event_count_per_push: 100,
            msg_notify_event_retry_max_count: 5,
            focus_events: Vec::new(),
            msg_notify_event_retry_max_interval: ConfigDuration::from_secs(30),
            dead_letter_max_size: ByteSize::mib(64),
        }
    }
}

/// `datasource.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Datasource {
    /// Datasource URL; empty = off.
    pub addr: String,
    /// Ask the datasource for channel info.
    pub channel_info_on: bool,
    /// Ask the datasource for user info at CONNECT (`getUserInfo`, or `GET /user/info` with
    /// the `rest` protocol): a banned user is refused, the backend's token accepted.
    pub user_info_on: bool,
    /// `cmd` (v2's `{"cmd":…}` POSTs) or `rest` (the seed's GET endpoints).
    pub protocol: String,
    /// How long answers are cached.
    pub cache_ttl: ConfigDuration,
    /// Deadline of one datasource call (a slower answer counts as a failure: the local data
    /// is used).
    pub timeout: ConfigDuration,
}

impl Default for Datasource {
    fn default() -> Self {
        Self {
            addr: String::new(),
            channel_info_on: false,
            user_info_on: false,
            protocol: "cmd".into(),
            cache_ttl: ConfigDuration::from_secs(60),
            timeout: ConfigDuration::from_secs(2),
        }
    }
}

/// `auth.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Auth {
    /// Parsed for compatibility; always on.
    pub on: bool,
    /// Parsed for compatibility.
    pub kind: String,
    /// Parsed for compatibility.
    pub super_token: String,
    /// `name:password:*` or `name:password:[res:acts,…]`.
    pub users: Vec<String>,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            on: true,
            kind: String::new(),
            super_token: String::new(),
            users: Vec::new(),
        }
    }
}

/// `jwt.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Jwt {
    /// HS256 key.
    pub secret: String,
    /// Token lifetime.
    pub expire: ConfigDuration,
    /// `iss` claim.
    pub issuer: String,
}

impl Default for Jwt {
    fn default() -> Self {
        Self {
            secret: "secret_wukongim".into(),
            expire: ConfigDuration::from_secs(720 * 3600),
            issuer: "wukongim".into(),
        }
    }
}

/// `logger.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Logger {
    /// 0 auto (from mode), 1 debug, 2 info, 3 warn, 4 error.
    pub level: u8,
    /// Log file directory, relative to `rootDir`; empty = stderr only.
    pub dir: String,
    /// Include source lines.
    pub line_num: bool,
    /// Trace each message's path.
    pub trace_on: bool,
    /// How many messages are traced.
    pub trace_max_msg_count: usize,
}

impl Default for Logger {
    fn default() -> Self {
        Self {
            level: 0,
            dir: "logs".into(),
            line_num: false,
            trace_on: false,
            trace_max_msg_count: 10,
        }
    }
}

/// `manager.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Manager {
    /// Serve the manager listener.
    pub on: bool,
    /// Its address.
    pub addr: String,
}

impl Default for Manager {
    fn default() -> Self {
        Self {
            on: true,
            addr: "0.0.0.0:5300".into(),
        }
    }
}

/// `demo.*`: the embedded browser chat demo (spec wukongim-2.2.5 §4). WuKongIM turns it on
/// by default; Jindou does not: the page logs anyone in as any uid through the REST API, which
/// is a demonstration, not something a production node should offer unasked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Demo {
    /// Serve the demo listener.
    pub on: bool,
    /// Its address.
    pub addr: String,
}

impl Default for Demo {
    fn default() -> Self {
        Self {
            on: false,
            addr: "0.0.0.0:5172".into(),
        }
    }
}

/// `channel.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ChannelOpts {
    /// Sending to an unknown group creates it.
    pub create_if_no_exist: bool,
    /// Compress `msg.offline` recipients above this count; 0 = never.
    pub subscriber_compress_of_count: usize,
    /// Channels kept in cache.
    pub cache_count: usize,
    /// Channel of online-status CMD messages.
    pub online_cmd_channel_id: String,
}

impl Default for ChannelOpts {
    fn default() -> Self {
        Self {
            create_if_no_exist: true,
            subscriber_compress_of_count: 0,
            cache_count: 1000,
            online_cmd_channel_id: "systemcmdonline".into(),
        }
    }
}

/// `conversation.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ConversationOpts {
    /// Keep conversations at all.
    pub on: bool,
    /// Conversations returned by one sync.
    pub user_max_count: usize,
}

impl Default for ConversationOpts {
    fn default() -> Self {
        Self {
            on: true,
            user_max_count: 1000,
        }
    }
}

/// `messageRetry.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageRetry {
    /// Resend an unacknowledged RECV after this long.
    pub interval: ConfigDuration,
    /// How often the retry queue is scanned.
    pub scan_interval: ConfigDuration,
    /// Resends before giving up (the client catches up through sync).
    pub max_count: usize,
    /// Accepted for compatibility.
    pub worker_count: usize,
}

impl Default for MessageRetry {
    fn default() -> Self {
        Self {
            interval: ConfigDuration::from_secs(60),
            scan_interval: ConfigDuration::from_secs(30),
            max_count: 5,
            worker_count: 128,
        }
    }
}

/// `cluster.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Cluster {
    /// Node id (≤ 1023, part of every message id).
    pub node_id: u64,
    /// Inter-node listener, `tcp://host:port`; shard `k` listens on `port + k`.
    pub addr: String,
    /// `host:port` other nodes dial (needed when `addr` listens on 0.0.0.0).
    pub server_addr: String,
    /// This node's API URL as other nodes reach it (REST forwarding, `/cluster/*` views).
    pub api_url: String,
    /// `id@host[:port]` of the initial nodes, this one included; empty = single node.
    pub init_nodes: Vec<String>,
    /// `id@host:port` of a running member to join through (a new node with no `initNodes`).
    pub seed: String,
    /// `replica` (holds replicas, votes) or `proxy` (not supported yet).
    pub role: String,
    /// Replication groups (WuKongIM's slots) in cluster mode; single-node mode keeps 256
    /// internal slots.
    pub slot_count: u16,
    /// Replicas of each slot (all nodes when fewer).
    pub slot_replica_count: usize,
    /// Accepted for compatibility: a channel's messages live in its slot's group.
    pub channel_replica_count: usize,
    /// Inter-node request timeout (forwarded sends, proposals).
    pub req_timeout: ConfigDuration,
    /// Base tick of the replication groups.
    pub tick_interval: ConfigDuration,
    /// Heartbeat every this many ticks.
    pub heartbeat_interval_tick: u32,
    /// A follower starts an election after between half and all of this many ticks without
    /// a leader.
    pub election_interval_tick: u32,
    /// A node whose links stay down this many 200 ms ticks is treated as offline (its
    /// connections are dropped from their users' owners).
    pub pong_max_tick: u32,
    /// Accepted and ignored (WuKongIM tuning key).
    pub channel_reactor_sub_count: u32,
    /// Accepted and ignored (WuKongIM tuning key).
    pub slot_reactor_sub_count: u32,
    /// Accepted and ignored (WuKongIM tuning key, spelled as WuKongIM spells it).
    pub channel_destory_after_idle_tick: u32,
    /// Jindou, tests only: serve `POST /cluster/faults` (cut this node off from its peers).
    pub fault_injection: bool,
    /// Jindou: the key every member shares; links between nodes are authenticated with it
    /// (empty: unauthenticated links, warned about at start).
    pub secret: String,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            node_id: 1001,
            addr: "tcp://0.0.0.0:11110".into(),
            server_addr: String::new(),
            api_url: String::new(),
            init_nodes: Vec::new(),
            seed: String::new(),
            role: "replica".into(),
            slot_count: 64,
            slot_replica_count: 3,
            channel_replica_count: 3,
            req_timeout: ConfigDuration::from_secs(10),
            tick_interval: ConfigDuration::from_millis(150),
            heartbeat_interval_tick: 1,
            election_interval_tick: 10,
            pong_max_tick: 30,
            channel_reactor_sub_count: 128,
            slot_reactor_sub_count: 16,
            channel_destory_after_idle_tick: 3960,
            fault_injection: false,
            secret: String::new(),
        }
    }
}

impl Cluster {
    /// Single-node mode: no initial nodes (and no seed).
    pub fn is_single(&self) -> bool {
        self.init_nodes.is_empty() && self.seed.is_empty()
    }
}

/// `runtime.*` (Jindou).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimeOpts {
    /// `auto` (io_uring, falling back to epoll), `uring` or `epoll`.
    pub driver: String,
    /// Pin each shard thread to one core.
    pub pin_cores: bool,
    /// Capacity of each shard-to-shard ring.
    pub mesh_capacity: usize,
}

impl Default for RuntimeOpts {
    fn default() -> Self {
        Self {
            driver: "auto".into(),
            pin_cores: true,
            mesh_capacity: 8192,
        }
    }
}

/// `storage.*` (Jindou).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct StorageOpts {
    /// `always` (ack after fdatasync), `interval` (ack at append), `none` (benchmarks).
    pub sync_policy: String,
    /// Longest a group commit waits to gather appends.
    pub sync_interval: ConfigDuration,
    /// Most records in one group commit.
    pub sync_batch: usize,
    /// Size of each preallocated segment file.
    pub segment_size: ByteSize,
    /// Delete whole segments older than this; 0 = keep forever.
    pub retention_age: ConfigDuration,
    /// Delete the oldest segments beyond this total per shard; 0 = no limit.
    pub retention_size: ByteSize,
    /// Snapshot a shard's metadata (and drop the meta log behind it) after this many logged
    /// changes, so a restart replays at most about this many.
    pub meta_snapshot_ops: u64,
}

/// Default of `storage.metaSnapshotOps`: changes logged between two meta snapshots (the
/// shard's compactor, `shard::compact`, takes one after this many).
pub const DEFAULT_META_SNAPSHOT_OPS: u64 = 100_000;

impl Default for StorageOpts {
    fn default() -> Self {
        Self {
            sync_policy: "always".into(),
            sync_interval: ConfigDuration::from_millis(1),
            sync_batch: 1024,
            segment_size: ByteSize::mib(64),
            retention_age: ConfigDuration::default(),
            retention_size: ByteSize::default(),
            meta_snapshot_ops: DEFAULT_META_SNAPSHOT_OPS,
        }
    }
}

/// `limits.*` (Jindou): every one enforced and counted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Limits {
    /// Largest wkproto frame (remaining length) a client may send.
    pub max_frame_size: ByteSize,
    /// Most client connections per node.
    pub max_connections: usize,
    /// Bytes queued for one connection before it is cut off as a slow reader.
    pub outbound_buffer: ByteSize,
    /// Time allowed from accept to a CONNECT.
    pub connect_timeout: ConfigDuration,
    /// Most messages one connection may send per second; 0 = unlimited.
    pub message_rate: u32,
    /// Most new connections per second from one IP; 0 = unlimited.
    pub conn_rate_per_ip: u32,
    /// Largest HTTP request head (request line + headers).
    pub max_http_header: ByteSize,
    /// Largest HTTP request body.
    pub max_http_body: ByteSize,
    /// An HTTP connection idle (or stalled mid-request) this long is closed.
    pub http_timeout: ConfigDuration,
    /// Most REST requests per second from one client IP; 0 = unlimited.
    pub api_rate_per_ip: u32,
    /// Most HTTP connections open at once on the node (API and manager ports together).
    pub max_http_connections: usize,
    /// Most group channels one client connection may create per second by sending to them
    /// (`channel.createIfNoExist`); further creating sends are refused with reason 22.
    pub channel_create_rate: u32,
    /// Most datasource channel look-ups in flight per shard; sends beyond it go on with the
    /// local channel data.
    pub datasource_lookups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: ByteSize::mib(1),
            max_connections: 100_000,
            outbound_buffer: ByteSize::mib(4),
            connect_timeout: ConfigDuration::from_secs(4),
            message_rate: 0,
            conn_rate_per_ip: 0,
            max_http_header: ByteSize::kib(16),
            max_http_body: ByteSize::mib(8),
            http_timeout: ConfigDuration::from_secs(30),
            api_rate_per_ip: 0,
            max_http_connections: 10_000,
            channel_create_rate: 10,
            datasource_lookups: 256,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: "debug".into(),
            root_dir: "./data".into(),
            addr: "tcp://0.0.0.0:5100".into(),
            http_addr: "0.0.0.0:5001".into(),
            ws_addr: "ws://0.0.0.0:5200".into(),
            wss_addr: String::new(),
            wss_config: WssConfig::default(),
            external: External::default(),
            intranet: Intranet::default(),
            webhook: Webhook::default(),
            datasource: Datasource::default(),
            auth: Auth::default(),
            jwt: Jwt::default(),
            manager_token: String::new(),
            manager_uid: "____manager".into(),
            token_auth_on: false,
            whitelist_off_of_person: true,
            logger: Logger::default(),
            pprof_on: false,
            manager: Manager::default(),
            demo: Demo::default(),
            channel: ChannelOpts::default(),
            conversation: ConversationOpts::default(),
            conn_idle_time: ConfigDuration::from_secs(180),
            message_retry: MessageRetry::default(),
            disable_cmd_message_sync: false,
            disable_jsonrpc: false,
            cluster: Cluster::default(),
            shards: 0,
            runtime: RuntimeOpts::default(),
            storage: StorageOpts::default(),
            limits: Limits::default(),
            encryption: true,
        }
    }
}

impl Config {
    /// The shard count to run: `shards`, or the cores this process may use.
    pub fn effective_shards(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    /// The `tracing` filter implied by `logger.level` and `mode`.
    pub fn log_filter(&self) -> String {
        let level = match self.logger.level {
            1 => "debug",
            2 => "info",
            3 => "warn",
            4 => "error",
            _ if self.mode == "debug" => "debug",
            _ => "info",
        };
        // openraft reports every unreachable peer of every group at warn: its errors only.
        format!("{level},openraft=error")
    }

    /// The effective configuration as YAML, for `jindou config`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}
