//! The business datasource (spec http-api §12): subscribers, black/white lists, channel info and
//! system uids supplied by the business backend.
//!
//! Two protocols, chosen by `datasource.protocol`:
//! - `cmd` (v2, the default): `POST {addr}` with `{"cmd":"getSubscribers"|"getBlacklist"|
//!   "getWhitelist"|"getChannelInfo"|"getSystemUIDs","data":{…}}`, success iff HTTP 200, the
//!   body parsed directly.
//! - `rest` (the seed's extension): `GET {addr}/channel/info?channel_id=&channel_type=` answering
//!   `{"subscribers":[…],"blacklist":[…],"whitelist":[…],"ban":0,"disband":0,…}` (every field
//!   optional) and `GET {addr}/user/info?uid=`.
//!
//! With `datasource.userInfoOn`, the uid's owner asks for the user at each CONNECT (cached like
//! channels): `{"cmd":"getUserInfo","data":{"uid":…}}` (`cmd`) or `GET {addr}/user/info?uid=`
//! (`rest`), answering `{"token":"…","device_level":0|1,"ban":0|1}` (every field optional). A
//! banned user is refused with reason 19; the token is accepted beside the ones `/user/token`
//! registered (so a backend can log its users in without registering tokens first).
//!
//! Calls run on the `jindou-webhook` thread's runtime; a shard awaits the answer through a
//! cross-thread oneshot with a deadline (`datasource.timeout`, default 2 s). The owner shard
//! caches the answer for `datasource.cacheTtl`; a datasource that is down or slow degrades to
//! the local data with a logged warning, never a stuck send or CONNECT.

use crate::config::Config;
use crate::proto::ChannelType;
use crate::shard::channels::{ChannelInfo, ChannelState};
use crate::shard::events::{ChannelSource, UserData, UserSource};
use crate::shard::ids::base_channel;
use crate::shard::msg::{AuthReq, OwnerMsg, SendReq};
use crate::shard::Shard;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a failed channel load is remembered (sends use the local data meanwhile).
pub const FAILURE_TTL: Duration = Duration::from_secs(5);
/// Most channels cached per shard.
pub const CACHE_MAX: usize = 100_000;
/// Most sends held on one shard while channel data loads (all channels together); more go on
/// with the local data.
pub const HELD_MAX: usize = 10_000;
/// Capacity of the request queue to the thread.
const QUEUE: usize = 4096;

/// Which request style the datasource speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `POST {addr}` `{"cmd":…,"data":…}` (v2).
    Cmd,
    /// `GET {addr}/channel/info`, `GET {addr}/user/info` (seed).
    Rest,
}

/// The datasource settings.
#[derive(Clone, Debug)]
pub struct DsConfig {
    /// Base URL.
    pub addr: String,
    /// Request style.
    pub protocol: Protocol,
    /// Ask for channel info.
    pub channel_info_on: bool,
    /// Ask for user info.
    pub user_info_on: bool,
    /// How long answers are cached.
    pub cache_ttl: Duration,
    /// Deadline of one call (`datasource.timeout`).
    pub timeout: Duration,
}

impl DsConfig {
    /// The datasource part of `config`, or `None` when `datasource.addr` is empty.
    pub fn from_config(config: &Config) -> Option<DsConfig> {
        let d = &config.datasource;
        if d.addr.is_empty() {
            return None;
        }
        Some(DsConfig {
            addr: d.addr.clone(),
            protocol: if d.protocol.eq_ignore_ascii_case("rest") {
                Protocol::Rest
            } else {
                Protocol::Cmd
            },
            channel_info_on: d.channel_info_on,
            user_info_on: d.user_info_on,
            cache_ttl: d.cache_ttl.get(),
            timeout: d.timeout.get(),
        })
    }
}

/// A question for the datasource.
#[derive(Clone, Debug)]
pub enum Call {
    /// `getSystemUIDs`.
    SystemUids,
    /// Subscribers, lists and (when `channelInfoOn`) info of a channel.
    Channel {
        /// Channel id.
        id: String,
        /// Channel type.
        ty: u8,
    },
    /// A user's info (`userInfoOn`): `getUserInfo`, or `GET /user/info?uid=` (rest).
    User {
        /// User id.
        uid: String,
    },
}

/// A channel as the datasource describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelData {
    /// Members.
    pub subscribers: Vec<String>,
    /// Refused senders.
    pub blacklist: Vec<String>,
    /// Allowed senders (when non-empty).
    pub whitelist: Vec<String>,
    /// Settings, when asked for and given.
    pub info: Option<ChannelInfo>,
}

impl ChannelData {
    fn into_state(self) -> ChannelState {
        ChannelState {
            info: self.info.unwrap_or_default(),
            subscribers: self.subscribers.into_iter().map(Arc::from).collect(),
            blacklist: self.blacklist.into_iter().collect(),
            whitelist: self.whitelist.into_iter().collect(),
        }
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A uid list.
    Uids(Vec<String>),
    /// A channel.
    Channel(ChannelData),
    /// A user's info object.
    User(Value),
}

/// A call on its way to the thread.
pub struct Request {
    call: Call,
    reply: oneshot::Sender<Result<Answer, String>>,
}

/// Datasource calls counted by the worker (atomics: written by one thread, read anywhere).
#[derive(Debug, Default)]
pub struct DsStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that failed or timed out.
    pub failures: AtomicU64,
}

/// The shards' handle to the datasource (cheap to share: a queue sender and the settings).
#[derive(Clone, Debug)]
pub struct Client {
    /// Settings.
    pub cfg: DsConfig,
    /// What the worker counted.
    pub stats: Arc<DsStats>,
    tx: mpsc::Sender<Request>,
}

impl Client {
    /// A client and the receiving end the thread's [`worker`] serves.
    pub fn new(cfg: DsConfig) -> (Client, Receiver) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(DsStats::default());
        (
            Client {
                cfg,
                stats: stats.clone(),
                tx,
            },
            Receiver { rx, stats },
        )
    }

    /// Asks the datasource; resolves within `datasource.timeout` (plus a margin) in every
    /// case. Awaitable from a shard (monoio) task: the answer crosses threads through a
    /// oneshot.
    pub async fn call(&self, call: Call) -> Result<Answer, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Request { call, reply })
            .map_err(|_| "datasource queue full or closed".to_string())?;
        match monoio::time::timeout(self.cfg.timeout + Duration::from_millis(500), rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("datasource thread gone".into()),
            Err(_) => Err("datasource call timed out".into()),
        }
    }
}

/// The worker's end of a [`Client`]'s queue.
pub struct Receiver {
    rx: mpsc::Receiver<Request>,
    stats: Arc<DsStats>,
}

/// Serves datasource calls on the webhook thread until every [`Client`] is gone.
pub async fn worker(cfg: DsConfig, rx: Receiver) {
    let Receiver { mut rx, stats } = rx;
    let http = match reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .tcp_nodelay(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "datasource HTTP client; datasource disabled");
            return;
        }
    };
    tracing::info!(addr = %cfg.addr, protocol = ?cfg.protocol, "datasource on");
    let cfg = Arc::new(cfg);
    while let Some(req) = rx.recv().await {
        let http = http.clone();
        let cfg = cfg.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            stats.calls.fetch_add(1, Ordering::Relaxed);
            let answer = answer(&http, &cfg, req.call).await;
            if answer.is_err() {
                stats.failures.fetch_add(1, Ordering::Relaxed);
            }
            let _ = req.reply.send(answer);
        });
    }
}

/// `POST {addr}` `{"cmd":…,"data":…}`; the 200 body parsed as JSON.
async fn cmd(http: &reqwest::Client, addr: &str, name: &str, data: Value) -> Result<Value, String> {
    let body = serde_json::to_vec(&json!({"cmd": name, "data": data})).unwrap_or_default();
    let resp = http
        .post(addr)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("{name}: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{name}: HTTP {status}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: bad JSON: {e}"))
}

/// `GET {addr}{path}?{query}`; the 200 body parsed as JSON.
async fn get(
    http: &reqwest::Client,
    addr: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Value, String> {
    let mut url = reqwest::Url::parse(&format!("{}{path}", addr.trim_end_matches('/')))
        .map_err(|e| format!("datasource.addr: {e}"))?;
    url.query_pairs_mut().extend_pairs(query);
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{path}: HTTP {status}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: bad JSON: {e}"))
}

fn uid_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn info_of(v: &Value) -> Option<ChannelInfo> {
    let obj = v.as_object()?;
    let flag = |k: &str| obj.get(k).and_then(Value::as_u64).unwrap_or(0).min(1) as u8;
    let mut info = ChannelInfo {
        ban: flag("ban"),
        disband: flag("disband"),
        send_ban: flag("send_ban"),
        allow_stranger: flag("allow_stranger"),
        extra: Default::default(),
    };
    if let Some(large) = obj.get("large") {
        info.extra.insert("large".into(), large.clone());
    }
    Some(info)
}

async fn answer(http: &reqwest::Client, cfg: &DsConfig, call: Call) -> Result<Answer, String> {
    match (cfg.protocol, call) {
        (Protocol::Cmd, Call::SystemUids) => cmd(http, &cfg.addr, "getSystemUIDs", json!({}))
            .await
            .map(|v| Answer::Uids(uid_list(&v))),
        // The seed's protocol has no system-uid call.
        (Protocol::Rest, Call::SystemUids) => Ok(Answer::Uids(Vec::new())),
        (Protocol::Cmd, Call::Channel { id, ty }) => {
            let data = json!({"channel_id": id, "channel_type": ty});
            let info = async {
                if cfg.channel_info_on {
                    Some(cmd(http, &cfg.addr, "getChannelInfo", data.clone()).await)
                } else {
                    None
                }
            };
            let (subs, black, white, info) = tokio::join!(
                cmd(http, &cfg.addr, "getSubscribers", data.clone()),
                cmd(http, &cfg.addr, "getBlacklist", data.clone()),
                cmd(http, &cfg.addr, "getWhitelist", data.clone()),
                info,
            );
            let subscribers = uid_list(&subs?);
            // Lists and info are optional: a datasource that lacks them gives none.
            let optional = |r: Result<Value, String>| match r {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::debug!(error = %e, "datasource list or info unavailable");
                    None
                }
            };
            Ok(Answer::Channel(ChannelData {
                subscribers,
                blacklist: optional(black).map(|v| uid_list(&v)).unwrap_or_default(),
                whitelist: optional(white).map(|v| uid_list(&v)).unwrap_or_default(),
                info: info.and_then(optional).and_then(|v| info_of(&v)),
            }))
        }
        (Protocol::Rest, Call::Channel { id, ty }) => {
            let ty = ty.to_string();
            let v = get(
                http,
                &cfg.addr,
                "/channel/info",
                &[("channel_id", id.as_str()), ("channel_type", ty.as_str())],
            )
            .await?;
            let field = |k: &str| v.get(k).map(uid_list).unwrap_or_default();
            Ok(Answer::Channel(ChannelData {
                subscribers: field("subscribers"),
                blacklist: field("blacklist"),
                whitelist: field("whitelist"),
                info: if cfg.channel_info_on {
                    info_of(&v)
                } else {
                    None
                },
            }))
        }
        (Protocol::Cmd, Call::User { uid }) => {
            cmd(http, &cfg.addr, "getUserInfo", json!({ "uid": uid }))
                .await
                .map(Answer::User)
        }
        (Protocol::Rest, Call::User { uid }) => {
            get(http, &cfg.addr, "/user/info", &[("uid", uid.as_str())])
                .await
                .map(Answer::User)
        }
    }
}

/// One cached channel.
struct Cached {
    /// `None`: the load failed; use the local data until `until`.
    state: Option<Rc<ChannelState>>,
    until: Instant,
}

/// Sends held for one channel.
type Held = Vec<Box<SendReq>>;

/// One cached user (`None`: the load failed or the backend does not know the user).
struct CachedUser {
    data: Option<Rc<UserData>>,
    until: Instant,
}

/// CONNECTs held for one user: (request id, request).
type HeldAuths = Vec<(u64, Box<AuthReq>)>;

/// A shard's end of the datasource: the client and the channel owner's cache (no locks).
/// Implements the shard's [`ChannelSource`] port.
pub struct ShardDatasource {
    client: Client,
    channels: RefCell<HashMap<(String, u8), Cached>>,
    /// Sends waiting for a channel's first load (an empty list: a background refresh). Its
    /// size is the number of look-ups in flight, bounded by `limits.datasourceLookups`.
    waiting: RefCell<HashMap<(String, u8), Held>>,
    /// Sends held in `waiting`, all channels together (bounded by [`HELD_MAX`]).
    held: std::cell::Cell<usize>,
    /// Users cached (`userInfoOn`).
    users: RefCell<HashMap<String, CachedUser>>,
    /// CONNECTs waiting for a user's first load (an empty list: a background refresh); its
    /// size counts against `limits.datasourceLookups` with `waiting`'s.
    user_waiting: RefCell<HashMap<String, HeldAuths>>,
}

impl ShardDatasource {
    /// A shard's datasource over `client`.
    pub fn new(client: Client) -> ShardDatasource {
        ShardDatasource {
            client,
            channels: Default::default(),
            waiting: Default::default(),
            held: Default::default(),
            users: Default::default(),
            user_waiting: Default::default(),
        }
    }

    /// Look-ups in flight (channels and users).
    fn lookups(&self) -> usize {
        self.waiting.borrow().len() + self.user_waiting.borrow().len()
    }

    /// Channels cached now.
    pub fn len(&self) -> usize {
        self.channels.borrow().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ChannelSource for ShardDatasource {
    fn cached(&self, base: &str, ty: u8) -> Option<Rc<ChannelState>> {
        let channels = self.channels.borrow();
        channels.get(&(base.to_string(), ty))?.state.clone()
    }

    /// Only group-like channels with no local subscribers are looked up.
    fn hold(self: Rc<Self>, shard: &Rc<Shard>, req: Box<SendReq>) -> Option<Box<SendReq>> {
        if !req.receivers.is_empty()
            || req.channel_type == ChannelType::PERSON.0
            || req.channel_type == ChannelType::TEMP.0
        {
            return Some(req);
        }
        let base = base_channel(&req.channel_id);
        if shard
            .channels
            .borrow()
            .get(base, req.channel_type)
            .is_some_and(|c| !c.subscribers.is_empty())
        {
            return Some(req);
        }
        let key = (base.to_string(), req.channel_type);
        let now = Instant::now();
        let known = match self.channels.borrow().get(&key) {
            Some(c) if c.until > now => return Some(req),
            Some(_) => true,
            None => false,
        };
        let in_flight = self.lookups();
        let mut waiting = self.waiting.borrow_mut();
        let loading = waiting.contains_key(&key);
        if !loading && in_flight >= shard.ctx.config.limits.datasource_lookups {
            // Too many look-ups in flight: no new one; the send goes on with the local data.
            return Some(req);
        }
        if known {
            // Stale: go on with what we have and refresh in the background.
            if !loading {
                waiting.insert(key.clone(), Vec::new());
                monoio::spawn(load(self.clone(), shard.clone(), key));
            }
            return Some(req);
        }
        if self.held.get() >= HELD_MAX {
            return Some(req);
        }
        self.held.set(self.held.get() + 1);
        waiting.entry(key.clone()).or_default().push(req);
        if !loading {
            monoio::spawn(load(self.clone(), shard.clone(), key));
        }
        None
    }
}

impl UserSource for ShardDatasource {
    fn cached_user(&self, uid: &str) -> Option<Rc<UserData>> {
        self.users.borrow().get(uid)?.data.clone()
    }

    fn hold_auth(
        self: Rc<Self>,
        shard: &Rc<Shard>,
        id: u64,
        req: Box<AuthReq>,
    ) -> Option<Box<AuthReq>> {
        let uid = req.uid.to_string();
        let now = Instant::now();
        let known = match self.users.borrow().get(&uid) {
            Some(c) if c.until > now => return Some(req),
            Some(_) => true,
            None => false,
        };
        let in_flight = self.lookups();
        let mut waiting = self.user_waiting.borrow_mut();
        let loading = waiting.contains_key(&uid);
        if !loading && in_flight >= shard.ctx.config.limits.datasource_lookups {
            return Some(req);
        }
        if known {
            // Stale: decide with what we have and refresh in the background.
            if !loading {
                waiting.insert(uid.clone(), Vec::new());
                monoio::spawn(load_user(self.clone(), shard.clone(), uid));
            }
            return Some(req);
        }
        if self.held.get() >= HELD_MAX {
            return Some(req);
        }
        self.held.set(self.held.get() + 1);
        waiting.entry(uid.clone()).or_default().push((id, req));
        if !loading {
            monoio::spawn(load_user(self.clone(), shard.clone(), uid));
        }
        None
    }
}

/// The user a datasource answer describes (`token`, `device_level`, `ban`, all optional).
fn user_of(v: &Value) -> Option<UserData> {
    let obj = v.as_object()?;
    let flag = |k: &str| match obj.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(n) => n.as_u64().unwrap_or(0) != 0,
        None => false,
    };
    Some(UserData {
        token: obj
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        device_level: obj
            .get("device_level")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(1) as u8,
        ban: flag("ban"),
    })
}

/// Loads one user, caches it, decides the CONNECTs that waited for it (in arrival order).
async fn load_user(ds: Rc<ShardDatasource>, shard: Rc<Shard>, uid: String) {
    let client = ds.client.clone();
    let ttl = client.cfg.cache_ttl;
    let result = client.call(Call::User { uid: uid.clone() }).await;
    let now = Instant::now();
    {
        let mut users = ds.users.borrow_mut();
        if users.len() >= CACHE_MAX {
            users.retain(|_, c| c.until > now);
            if users.len() >= CACHE_MAX {
                users.clear();
            }
        }
        match result {
            Ok(Answer::User(v)) => {
                users.insert(
                    uid.clone(),
                    CachedUser {
                        data: user_of(&v).map(Rc::new),
                        until: now + ttl,
                    },
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(uid = %uid, error = %e, "datasource unavailable; using local user data");
                let entry = users.entry(uid.clone()).or_insert(CachedUser {
                    data: None,
                    until: now,
                });
                entry.until = now + FAILURE_TTL.min(ttl.max(Duration::from_millis(1)));
            }
        }
    }
    let held = ds
        .user_waiting
        .borrow_mut()
        .remove(&uid)
        .unwrap_or_default();
    ds.held.set(ds.held.get() - held.len());
    for (id, req) in held {
        crate::shard::sessions::decide(&shard, id, &req);
    }
}

/// Loads one channel, caches it, resumes the sends that waited for it (in arrival order).
async fn load(ds: Rc<ShardDatasource>, shard: Rc<Shard>, key: (String, u8)) {
    let client = ds.client.clone();
    let ttl = client.cfg.cache_ttl;
    let result = client
        .call(Call::Channel {
            id: key.0.clone(),
            ty: key.1,
        })
        .await;
    let now = Instant::now();
    {
        let mut channels = ds.channels.borrow_mut();
        if channels.len() >= CACHE_MAX {
            channels.retain(|_, c| c.until > now);
            if channels.len() >= CACHE_MAX {
                channels.clear();
            }
        }
        match result {
            Ok(Answer::Channel(data)) => {
                channels.insert(
                    key.clone(),
                    Cached {
                        state: Some(Rc::new(data.into_state())),
                        until: now + ttl,
                    },
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(channel = %key.0, channel_type = key.1, error = %e, "datasource unavailable; using local channel data");
                // Keep stale data if there is some; otherwise remember the failure briefly.
                let entry = channels.entry(key.clone()).or_insert(Cached {
                    state: None,
                    until: now,
                });
                entry.until = now + FAILURE_TTL.min(ttl.max(Duration::from_millis(1)));
            }
        }
    }
    let held = ds.waiting.borrow_mut().remove(&key).unwrap_or_default();
    ds.held.set(ds.held.get() - held.len());
    for req in held {
        crate::shard::resume_send(&shard, req);
    }
}

/// Shard 0 at start-up: merges the datasource's system uids into the global tables (not
/// persisted: they are the datasource's, asked again at each start). Retries a few times.
pub async fn load_system_uids(shard: Rc<Shard>, client: Client) {
    for attempt in 1..=3 {
        match client.call(Call::SystemUids).await {
            Ok(Answer::Uids(uids)) => {
                tracing::info!(count = uids.len(), "system uids from the datasource");
                if uids.is_empty() {
                    return;
                }
                let rec = crate::shard::meta::MetaRecord::SystemUids {
                    mode: crate::shard::meta::ListMode::Add,
                    uids,
                };
                rec.apply_global(&mut shard.globals.borrow_mut());
                for dst in 0..shard.ctx.slots.shards() {
                    if dst != shard.id() {
                        shard
                            .mesh
                            .send(dst, OwnerMsg::GlobalOp(Box::new(rec.clone())).into());
                    }
                }
                return;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(attempt, error = %e, "getSystemUIDs failed");
                monoio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
