//! The shard's ports: what it announces and what it may ask of the rooms above it, as small
//! traits defined here, implemented above (webhook/, datasource/, gateway/) and plugged in at
//! start-up. So the shard imports none of them: events flow out, not imports up.

use super::channels::ChannelState;
use super::msg::{AuthReq, ConnRef, Delivered, SendReq};
use super::Shard;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::Arc;

/// A user's session came or went, announced by the uid's owner after the change.
#[derive(Clone, Copy, Debug)]
pub struct Presence<'a> {
    /// The user.
    pub uid: &'a str,
    /// The device kind of the session.
    pub device_flag: u8,
    /// Came online (true) or went offline.
    pub online: bool,
    /// The session's connection.
    pub conn: ConnRef,
    /// The user's sessions of this device flag after the change.
    pub device_online: usize,
    /// All of the user's sessions after the change.
    pub total_online: usize,
}

/// What the shard announces (webhooks listen; nothing happens without a listener).
pub trait Events {
    /// Whether offline receivers of `msg` should be collected (a cheap check per delivery).
    fn wants_offline(&self, msg: &Delivered) -> bool;
    /// Receivers owned by `shard` that `msg` reached on no live connection.
    fn offline(&self, shard: &Shard, msg: &Arc<Delivered>, uids: Vec<Arc<str>>);
    /// A session came or went.
    fn presence(&self, shard: &Shard, p: Presence<'_>);
}

/// The default [`Events`]: nobody listens.
pub struct NoEvents;

impl Events for NoEvents {
    fn wants_offline(&self, _: &Delivered) -> bool {
        false
    }
    fn offline(&self, _: &Shard, _: &Arc<Delivered>, _: Vec<Arc<str>>) {}
    fn presence(&self, _: &Shard, _: Presence<'_>) {}
}

/// Channel data supplied by the business backend (the datasource), for channels the shard
/// owns but has no local members of.
pub trait ChannelSource {
    /// The backend's view of a channel, when cached (fresh or stale).
    fn cached(&self, base: &str, channel_type: u8) -> Option<Rc<ChannelState>>;
    /// Called first by a send on the channel owner: hands the send back when it can go on
    /// now, or keeps it (answering `None`) while the channel's data loads and resumes it
    /// afterwards through [`crate::shard::resume_send`].
    fn hold(self: Rc<Self>, shard: &Rc<Shard>, req: Box<SendReq>) -> Option<Box<SendReq>>;
}

/// A user as the business backend describes it (the datasource's user info, when
/// `datasource.userInfoOn`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserData {
    /// A token the user may log in with (empty: none), beside the ones `/user/token`
    /// registered.
    pub token: String,
    /// Device level that token grants (1 master, 0 slave).
    pub device_level: u8,
    /// The backend refuses the user (CONNECT answered with reason 19, BAN).
    pub ban: bool,
}

/// User data supplied by the business backend (the datasource), asked on the uid's owner
/// before a CONNECT is decided.
pub trait UserSource {
    /// The backend's view of a user, when cached (fresh or stale).
    fn cached_user(&self, uid: &str) -> Option<Rc<UserData>>;
    /// Called first by a CONNECT on the uid's owner: hands it back when it can be decided
    /// now, or keeps it (answering `None`) while the user's data loads and decides it
    /// afterwards through [`crate::shard::sessions::decide`].
    fn hold_auth(
        self: Rc<Self>,
        shard: &Rc<Shard>,
        id: u64,
        req: Box<AuthReq>,
    ) -> Option<Box<AuthReq>>;
}

/// What monitoring may ask of the connections held on the shard's thread (`gateway`).
pub trait ConnView {
    /// Totals over every socket.
    fn summary(&self) -> ConnSummary;
    /// Authenticated connections whose uid contains `uid_filter` (all if empty).
    fn rows(&self, uid_filter: &str) -> Vec<ConnRow>;
    /// Every authenticated connection as a session of its user (cluster: re-announced to a
    /// user's new owner).
    fn sessions(&self) -> Vec<(Arc<str>, super::users::Session)>;
}

/// Totals over the sockets of one shard.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnSummary {
    /// Sockets held (including ones that have not sent CONNECT yet).
    pub sockets: u64,
    /// Connections parked (idle, holding no task).
    pub parked: u64,
    /// RECVs awaiting RECVACK.
    pub unacked: u64,
    /// Outbound bytes queued.
    pub pending_bytes: u64,
}

/// One client connection, as `/connz` lists it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnRow {
    /// Node-wide id ([`ConnRef::node_wide_id`]).
    pub id: u64,
    /// Id on its shard.
    pub conn_id: u64,
    /// Shard holding the socket.
    pub shard: usize,
    /// User id (empty before CONNECT).
    pub uid: String,
    /// Device flag (0 app, 1 web, 2 pc).
    pub device_flag: u8,
    /// 1 master, 0 slave.
    pub device_level: u8,
    /// Device id.
    pub device_id: String,
    /// Negotiated protocol version.
    pub version: u8,
    /// WebSocket rather than TCP.
    pub websocket: bool,
    /// Seconds connected.
    pub uptime_secs: f64,
    /// Outbound bytes queued.
    pub pending_bytes: u64,
    /// RECVs awaiting RECVACK.
    pub unacked: u64,
}

/// The ports a shard is built with.
pub struct Ports {
    /// Where events go.
    pub events: Rc<dyn Events>,
    /// The datasource, when configured.
    pub channel_source: Option<Rc<dyn ChannelSource>>,
    /// The datasource's user info, when `datasource.userInfoOn`.
    pub user_source: Option<Rc<dyn UserSource>>,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            events: Rc::new(NoEvents),
            channel_source: None,
            user_source: None,
        }
    }
}
