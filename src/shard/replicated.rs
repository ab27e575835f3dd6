//! Cluster mode on the owner's side: owner work runs on the node leading its slot (other
//! nodes forward it there), sends and metadata changes are proposed to the slot's group and
//! applied on every replica, and the [`Host`] port through which the cluster room applies
//! commands, reports leaders and hands over frames from other nodes.
//!
//! Commands, as the slot groups replicate them (the first byte says which):
//! - a message: its storage channel and the fields of a `NewMessage`; applying it appends to
//!   the replica's message store, which assigns the channel's next seq (deterministic: every
//!   replica applies the same commands in the same order). A command whose message id is
//!   already stored (re-applied after a restart) answers the stored seq.
//! - a metadata change: a `MetaRecord` (JSON), applied as `persist_meta` would (the global
//!   tables reach the node's other shards at once: a commit is durable on a majority).

use super::ids::base_channel;
use super::meta::{MetaRecord, KIND_JSON};
use super::msg::{Answer, AuthResult, Delivered, OwnerMsg, SendOutcome, SendReq};
use super::receivers::Receivers;
use super::{send, stats, Shard};
use crate::cluster::{Applied, Host, Leader, LocalFuture, NodeId, ProposeError};
use crate::proto::ReasonCode;
use bytes::{BufMut, Bytes};
use jindou_storage::{NewMessage, StoreError};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CMD_MESSAGE: u8 = 1;
const CMD_META: u8 = 2;

/// How often work waiting for a slot's leader looks again.
const LEADER_POLL: Duration = Duration::from_millis(50);

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.put_u32_le(s.len() as u32);
    b.extend_from_slice(s.as_bytes());
}

/// The command that stores a message in `channel_id`.
pub fn message_cmd(channel_id: &str, channel_type: u8, m: &NewMessage) -> Bytes {
    let mut b = Vec::with_capacity(64 + m.payload.len());
    b.put_u8(CMD_MESSAGE);
    put_str(&mut b, channel_id);
    b.put_u8(channel_type);
    b.put_i64_le(m.message_id);
    put_str(&mut b, &m.client_msg_no);
    put_str(&mut b, &m.from_uid);
    b.put_u8(m.setting);
    b.put_u8(m.header);
    b.put_i32_le(m.timestamp);
    b.put_u32_le(m.expire);
    put_str(&mut b, &m.topic);
    put_str(&mut b, &m.stream_no);
    b.put_u64_le(m.stream_id);
    b.put_u8(m.stream_flag);
    b.put_u32_le(m.payload.len() as u32);
    b.extend_from_slice(&m.payload);
    Bytes::from(b)
}

/// The command that applies a metadata change.
pub fn meta_cmd(rec: &MetaRecord) -> Bytes {
    let mut b = vec![CMD_META];
    b.extend_from_slice(&rec.encode());
    Bytes::from(b)
}

struct Rd<'a>(&'a [u8]);

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode_message(cmd: &[u8]) -> Option<(String, u8, NewMessage)> {
    let mut r = Rd(cmd);
    let channel_id = r.string()?;
    let channel_type = r.u8()?;
    let message_id = r.u64()? as i64;
    let client_msg_no = r.string()?;
    let from_uid = r.string()?;
    let setting = r.u8()?;
    let header = r.u8()?;
    let timestamp = r.u32()? as i32;
    let expire = r.u32()?;
    let topic = r.string()?;
    let stream_no = r.string()?;
    let stream_id = r.u64()?;
    let stream_flag = r.u8()?;
    let n = r.u32()? as usize;
    let payload = r.take(n)?.to_vec();
    Some((
        channel_id,
        channel_type,
        NewMessage {
            message_id,
            client_msg_no,
            from_uid,
            setting,
            header,
            timestamp,
            expire,
            topic,
            stream_no,
            stream_id,
            stream_flag,
            payload,
        },
    ))
}

/// Applies a committed command on this replica (`replay`: it may have been applied before).
fn apply(shard: &Shard, slot: u16, index: u64, cmd: &[u8], replay: bool) -> Applied {
    let refused = |reason: ReasonCode| Applied {
        refused: reason.0,
        ..Default::default()
    };
    match cmd.split_first() {
        Some((&CMD_MESSAGE, rest)) => {
            let Some((channel_id, channel_type, m)) = decode_message(rest) else {
                tracing::error!(slot, index, "unreadable message command skipped");
                return refused(ReasonCode::SYSTEM_ERROR);
            };
            let message_id = m.message_id;
            let mut store = shard.store.borrow_mut();
            let stored = match replay {
                true => store.messages.get_by_message_id(message_id).ok().flatten(),
                false => None,
            };
            if let Some(stored) = stored {
                // Applied before a restart whose checkpoint did not cover it.
                return Applied {
                    seq: u64::from(stored.record.message_seq),
                    message_id,
                    refused: 0,
                };
            }
            match store.messages.append(&channel_id, channel_type, m) {
                Ok(a) => {
                    stats::inc(&shard.stats.messages_stored);
                    shard.stats.stored_by_type.inc(channel_type);
                    Applied {
                        seq: a.message_seq,
                        message_id,
                        refused: 0,
                    }
                }
                Err(e) => {
                    // The replica cannot store what a majority committed: it must not go on
                    // as if it had (its seqs would diverge). Stop loudly.
                    tracing::error!(slot, index, error = %e, "a committed message cannot be stored");
                    panic!("slot {slot} index {index}: committed message not stored: {e}");
                }
            }
        }
        Some((&CMD_META, rest)) => {
            let rec: MetaRecord = match serde_json::from_slice(rest) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(slot, index, error = %e, "unreadable metadata command skipped");
                    return refused(ReasonCode::SYSTEM_ERROR);
                }
            };
            let appended = {
                let mut store = shard.store.borrow_mut();
                let r = store.meta.append(KIND_JSON, &rec.encode());
                shard.compactor.note_ops(store.meta.ops_since_snapshot());
                r
            };
            if let Err(e) = appended {
                tracing::error!(slot, index, error = %e, "a committed change cannot be logged");
                panic!("slot {slot} index {index}: committed change not logged: {e}");
            }
            shard.with_owned_meta(|m| rec.apply_owned(m));
            if rec.is_global() {
                for dst in 0..shard.ctx.slots.shards() {
                    if dst != shard.id() {
                        let op = OwnerMsg::GlobalOp(Box::new(rec.clone()));
                        shard.mesh.send(dst, op.into());
                    }
                }
            }
            Applied::default()
        }
        _ => {
            tracing::error!(slot, index, "unknown command skipped");
            refused(ReasonCode::SYSTEM_ERROR)
        }
    }
}

/// The error a failed proposal of a metadata change reports (all retryable: 503).
pub fn propose_error(e: ProposeError) -> StoreError {
    StoreError::Io(std::io::Error::other(match e {
        ProposeError::NotLeader(l) => {
            format!("this node does not lead the slot (leader: {l:?}); retry")
        }
        ProposeError::Unknown(why) => format!("outcome unknown ({why}); retry"),
        ProposeError::Failed(why) => format!("replication stopped: {why}"),
    }))
}

/// The slot of the state a metadata change touches.
pub fn meta_slot(shard: &Shard, rec: &MetaRecord) -> u16 {
    use MetaRecord::*;
    if rec.is_global() {
        return crate::cluster::CONFIG_GROUP;
    }
    match rec {
        Token { uid, .. } | PluginNo { uid, .. } | ConvPos { uid, .. } | ConvRemove { uid, .. } => {
            shard.slot_of(uid)
        }
        ChannelUpsert { channel_id, .. }
        | ChannelDelete { channel_id, .. }
        | List { channel_id, .. }
        | MsgEvent { channel_id, .. } => shard.slot_of(channel_id),
        SystemUids { .. } => crate::cluster::CONFIG_GROUP,
    }
}

/// The key that places owner work, if it is keyed work.
fn key_of(msg: &OwnerMsg) -> Option<&str> {
    match msg {
        OwnerMsg::Auth { req, .. } => Some(&req.uid),
        OwnerMsg::Unregister { uid, .. } | OwnerMsg::Reregister { uid, .. } => Some(uid),
        OwnerMsg::Send(req) => Some(base_channel(&req.channel_id)),
        _ => None,
    }
}

/// Places keyed owner work in cluster mode: hands it back when this node leads its slot;
/// forwards it to the leader; with no leader known, keeps it until one is (at most
/// `cluster.reqTimeout`, then refuses it as a system error). Single-node mode: always here.
pub fn place(shard: &Rc<Shard>, msg: OwnerMsg) -> Option<OwnerMsg> {
    if shard.raft().is_none() {
        return Some(msg);
    }
    let msg = match msg {
        OwnerMsg::Deliver { msg, to } => {
            let uids = to.into_uids(&msg);
            return super::handover::place_deliver(shard, msg, uids);
        }
        msg => msg,
    };
    let Some(key) = key_of(&msg) else {
        return Some(msg);
    };
    let slot = shard.slot_of(key);
    let dst = shard.ctx.slots.shard_of_slot(slot);
    match shard.leader(slot) {
        Leader::Local => Some(msg),
        Leader::Remote(node) => {
            match msg {
                OwnerMsg::Send(req) => super::relay::forward(shard, node as u16, dst, req),
                msg => shard.route(node as u16, dst, msg.into()),
            }
            None
        }
        Leader::Unknown => {
            let shard = shard.clone();
            let deadline = Instant::now() + shard.ctx.config.cluster.req_timeout.get();
            monoio::spawn(async move {
                while shard.leader(slot) == Leader::Unknown && Instant::now() < deadline {
                    monoio::time::sleep(LEADER_POLL).await;
                }
                if shard.leader(slot) == Leader::Unknown {
                    fail(&shard, msg);
                } else {
                    super::handle_owner(&shard, shard.id(), msg);
                }
            });
            None
        }
    }
}

/// Refuses owner work no leader took in time.
fn fail(shard: &Shard, msg: OwnerMsg) {
    match msg {
        OwnerMsg::Auth { id, req } => {
            let result = AuthResult {
                reason: ReasonCode::SYSTEM_ERROR.0,
                device_level: 0,
            };
            shard.route(
                req.conn.node,
                req.conn.shard as usize,
                Answer::Auth { id, result }.into(),
            );
        }
        OwnerMsg::Send(req) => send::refuse(shard, req.origin, ReasonCode::SYSTEM_ERROR),
        other => tracing::debug!(msg = ?other, "no slot leader: dropped"),
    }
}

/// Proposes a stored message to its slot's group; once applied here (a majority has it on
/// disk), acknowledges it and fans it out. A proposal this node may no longer make goes to
/// the new leader.
pub fn propose_message(
    shard: &Rc<Shard>,
    req: Box<SendReq>,
    mut msg: Delivered,
    new: NewMessage,
    receivers: Receivers,
) {
    let Some(raft) = shard.raft() else {
        return;
    };
    let slot = shard.slot_of(base_channel(&req.channel_id));
    let cmd = message_cmd(&req.channel_id, req.channel_type, &new);
    let shard = shard.clone();
    monoio::spawn(async move {
        let t0 = Instant::now();
        match raft.propose(slot, cmd).await {
            Ok(a) if a.refused == 0 => {
                shard.stats.sendack_latency.observe_duration(t0.elapsed());
                msg.message_seq = a.seq;
                send::answer(
                    &shard,
                    req.origin,
                    SendOutcome {
                        reason: ReasonCode::SUCCESS.0,
                        message_id: a.message_id,
                        message_seq: a.seq,
                    },
                );
                send::fan_out(&shard, Arc::new(msg), receivers);
            }
            Ok(a) => send::refuse(&shard, req.origin, ReasonCode(a.refused)),
            Err(ProposeError::NotLeader(Some(node))) if node as u16 != shard.node() => {
                let dst = shard.ctx.slots.shard_of_slot(slot);
                super::relay::forward(&shard, node as u16, dst, req);
            }
            Err(ProposeError::NotLeader(_)) => {
                // Not appended (the group refused it: no leader here now, an election runs):
                // placed again once a leader is known, rather than refused to the client.
                monoio::time::sleep(LEADER_POLL).await;
                let deadline = Instant::now() + shard.ctx.config.cluster.req_timeout.get();
                while shard.leader(slot) == Leader::Unknown && Instant::now() < deadline {
                    monoio::time::sleep(LEADER_POLL).await;
                }
                if shard.leader(slot) == Leader::Unknown {
                    send::refuse(&shard, req.origin, ReasonCode::SYSTEM_ERROR);
                } else {
                    super::handle_owner(&shard, shard.id(), OwnerMsg::Send(req));
                }
            }
            Err(e) => {
                tracing::warn!(slot, error = ?e, "send not replicated");
                send::refuse(&shard, req.origin, ReasonCode::SYSTEM_ERROR);
            }
        }
    });
}

/// A shard's end of its slot groups: implements the cluster room's [`Host`] port.
pub struct ShardHost {
    shard: Weak<Shard>,
}

impl ShardHost {
    /// The host of `shard`'s groups.
    pub fn new(shard: &Rc<Shard>) -> ShardHost {
        ShardHost {
            shard: Rc::downgrade(shard),
        }
    }

    fn broadcast(shard: &Shard, msg: impl Fn() -> OwnerMsg) {
        for dst in 0..shard.ctx.slots.shards() {
            shard.mesh.send(dst, msg().into());
        }
    }
}

impl Host for ShardHost {
    fn apply(&self, slot: u16, index: u64, cmd: &[u8], replay: bool) -> Applied {
        match self.shard.upgrade() {
            Some(shard) => apply(&shard, slot, index, cmd, replay),
            None => Applied::default(),
        }
    }

    fn flush(&self) -> LocalFuture<std::io::Result<()>> {
        let shard = self.shard.upgrade();
        Box::pin(async move {
            let Some(shard) = shard else {
                return Ok(());
            };
            let (messages, meta) = {
                let store = shard.store.borrow();
                let m = store.messages.end_lsn();
                let t = store.meta.end_lsn();
                (
                    (m > 0).then(|| store.messages.wait_durable(m - 1)),
                    (t > 0).then(|| store.meta.wait_durable(t - 1)),
                )
            };
            let io = |e: StoreError| std::io::Error::other(e.to_string());
            if let Some(w) = messages {
                w.await.map_err(io)?;
            }
            if let Some(w) = meta {
                w.await.map_err(io)?;
            }
            Ok(())
        })
    }

    fn leader_changed(&self, slot: u16, leader: Option<NodeId>) {
        if let Some(shard) = self.shard.upgrade() {
            ShardHost::broadcast(&shard, || OwnerMsg::LeaderChanged { slot, leader });
        }
    }

    fn frame(&self, from: NodeId, dst_shard: u16, payload: Bytes) {
        let Some(shard) = self.shard.upgrade() else {
            return;
        };
        if dst_shard as usize >= shard.ctx.slots.shards() {
            tracing::warn!(from, dst_shard, "frame for a shard this node does not have");
            return;
        }
        match super::wire::decode(&payload) {
            Ok(msg) => shard.mesh.send(dst_shard as usize, msg),
            Err(e) => tracing::warn!(from, error = %e, "bad frame from a node dropped"),
        }
    }

    fn members_changed(&self, members: Vec<crate::cluster::Member>) {
        if let Some(shard) = self.shard.upgrade() {
            ShardHost::broadcast(&shard, || OwnerMsg::Members(Box::new(members.clone())));
        }
    }

    fn peer(&self, node: NodeId, up: bool) {
        let Some(shard) = self.shard.upgrade() else {
            return;
        };
        if up {
            return;
        }
        // Sends relayed to it will get no verdict from it now.
        super::relay::node_lost(&shard, node as u16);
        // A node whose links stay down for `pongMaxTick` 200 ms ticks is gone: its sessions
        // with it. Links that come back earlier (a blip) leave them alone.
        let wait = Duration::from_millis(200) * shard.ctx.config.cluster.pong_max_tick;
        monoio::spawn(async move {
            monoio::time::sleep(wait).await;
            let still_down = shard.raft().is_some_and(|r| !r.net().is_up(node));
            if still_down {
                tracing::info!(node, "node offline: dropping its sessions");
                ShardHost::broadcast(&shard, || OwnerMsg::NodeDown(node as u16));
            }
        });
    }
}

/// On every shard, after slot `slot` changed leader: announce the sessions this shard's
/// connections hold for uids of the slot to the new leader (which lost or never had them),
/// and when this node is the new leader, rebuild those users' conversations from the local
/// replicas of their channels.
pub fn leader_changed(shard: &Rc<Shard>, slot: u16, leader: Option<NodeId>) {
    shard.note_leader(slot, leader);
    if slot == crate::cluster::CONFIG_GROUP {
        return; // the global tables' group: no sessions or conversations keyed to it
    }
    let Some(leader) = leader else {
        return;
    };
    let dst = shard.ctx.slots.shard_of_slot(slot);
    if dst == shard.id() {
        super::handover::leader_changed(shard, slot, leader);
    }
    if let Some(view) = shard.conn_view() {
        for (uid, session) in view.sessions() {
            if shard.slot_of(&uid) == slot {
                let msg = OwnerMsg::Reregister {
                    uid,
                    session: Box::new(session),
                };
                shard.route(leader as u16, dst, msg.into());
            }
        }
    }
    let done = OwnerMsg::SessionsSent {
        slot,
        node: shard.node(),
        shard: shard.id() as u16,
    };
    shard.route(leader as u16, dst, done.into());
    if leader as u16 == shard.node() {
        super::conversations::announce_channels_for(shard, Some(slot));
    }
}
