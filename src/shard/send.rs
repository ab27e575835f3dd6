//! The channel owner's half of a send: permission, de-duplication, append, group commit, then
//! acknowledgement and fan-out (DESIGN message path steps 2–3).

use super::channels::{group_permission, ChannelState};
use super::ids::{base_channel, person_parts};
use super::msg::{
    Answer, ConnMsg, Delivered, OwnerMsg, RareFields, SendOrigin, SendOutcome, SendReq,
};
use super::receivers::Receivers;
use super::{stats, PendingCommit, Shard};
use crate::proto::{ChannelType, HeaderFlags, ReasonCode, WkStr};
use jindou_storage::{DedupKey, MessageFields};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

/// Reports the outcome of a send to whoever waits for it.
pub(crate) fn answer(shard: &Shard, origin: SendOrigin, outcome: SendOutcome) {
    if outcome.reason == ReasonCode::SUCCESS.0 {
        stats::inc(&shard.stats.sendacks_ok);
    } else {
        stats::inc(&shard.stats.sendacks_refused);
    }
    match origin {
        SendOrigin::Conn { conn, client_seq } => shard.route(
            conn.node,
            conn.shard as usize,
            ConnMsg::SendAck {
                conn_id: conn.id,
                client_seq,
                outcome,
            }
            .into(),
        ),
        SendOrigin::Api { node, shard: s, id } => {
            shard.route(node, s as usize, Answer::Send { id, outcome }.into())
        }
        SendOrigin::Relay {
            node, shard: s, id, ..
        } => shard.route(node, s as usize, OwnerMsg::Relayed { id, outcome }.into()),
        SendOrigin::None => {}
    }
}

pub(crate) fn refuse(shard: &Shard, origin: SendOrigin, reason: ReasonCode) {
    answer(
        shard,
        origin,
        SendOutcome {
            reason: reason.0,
            message_id: 0,
            message_seq: 0,
        },
    );
}

/// Who receives a message of this channel, or why the sender may not send.
fn receivers(shard: &Shard, req: &SendReq) -> Result<Receivers, ReasonCode> {
    if !req.receivers.is_empty() {
        return Ok(Receivers::Uids(req.receivers.clone()));
    }
    let base = base_channel(&req.channel_id);
    let globals = shard.globals.borrow();
    // REST sends come from the system device: only channel-level bans apply (spec §4.1).
    let system = req.origin.is_api()
        || *req.from_uid == *shard.ctx.config.manager_uid
        || globals.is_system(&req.from_uid);
    if req.channel_type == ChannelType::PERSON.0 {
        let (a, b) = person_parts(base).ok_or(ReasonCode::CHANNEL_ID_ERROR)?;
        let to = if a == &*req.from_uid { b } else { a };
        if !system {
            let whitelist_off = shard.ctx.config.whitelist_off_of_person;
            if let Some(reason) = globals.person_permission(&req.from_uid, to, whitelist_off) {
                return Err(reason);
            }
        }
        // Both sides, named by the message's channel id.
        return Ok(Receivers::Person(Receivers::BOTH));
    }
    // A user whose own person channel has `send_ban` may send nowhere (groups included).
    let sender_banned = !system
        && globals
            .persons
            .get(&*req.from_uid)
            .is_some_and(|p| p.info.send_ban == 1);
    drop(globals);
    if sender_banned {
        return Err(ReasonCode::SEND_BAN);
    }
    let mut channels = shard.channels.borrow_mut();
    let local = channels.get(base, req.channel_type);
    // A channel with no local subscribers may be described by the datasource (cached here).
    let from_datasource = match local {
        Some(c) if !c.subscribers.is_empty() => None,
        _ => shard
            .channel_source
            .as_ref()
            .and_then(|src| src.cached(base, req.channel_type)),
    };
    let state = from_datasource.as_deref().or(local);
    // `channel.createIfNoExist`: an unknown group is judged as an empty one, and created only
    // once the send is accepted (a refused send leaves nothing behind).
    let create = state.is_none()
        && shard.ctx.config.channel.create_if_no_exist
        && req.channel_type == ChannelType::GROUP.0;
    let empty = ChannelState::default();
    let judged = if create { Some(&empty) } else { state };
    if system {
        if let Some(ch) = judged {
            if ch.info.ban == 1 {
                return Err(ReasonCode::BAN);
            }
            if ch.info.disband == 1 {
                return Err(ReasonCode::DISBAND);
            }
        }
    } else if let Some(reason) = group_permission(judged, req.channel_type, &req.from_uid) {
        return Err(reason);
    }
    let receivers = Receivers::Uids(
        state
            .map(|c| c.subscribers.iter().cloned().collect())
            .unwrap_or_default(),
    );
    if create {
        // Creations by client connections are rate-bounded per connection.
        if let Some(conn) = req.origin.sender_conn() {
            if !shard
                .channel_creations
                .allow_at(conn, std::time::Instant::now())
            {
                stats::inc(&shard.stats.channel_create_limited);
                return Err(ReasonCode::RATE_LIMIT);
            }
        }
        channels.get_or_create(base, req.channel_type);
    }
    Ok(receivers)
}

/// Handles a send on the channel's owner shard.
pub(crate) fn handle_send(shard: &Rc<Shard>, req: Box<SendReq>) {
    // Channels known only to the datasource are loaded first (the send resumes afterwards).
    let req = match &shard.channel_source {
        Some(src) => match src.clone().hold(shard, req) {
            Some(req) => req,
            None => return,
        },
        None => req,
    };
    resume_send(shard, req);
}

/// Goes on with a send once its channel's data is at hand (after a [`ChannelSource`] hold).
///
/// [`ChannelSource`]: super::events::ChannelSource
pub fn resume_send(shard: &Rc<Shard>, mut req: Box<SendReq>) {
    let receivers = match receivers(shard, &req) {
        Ok(r) => r,
        Err(reason) => return refuse(shard, req.origin, reason),
    };
    let dedup = match answer_retry(shard, &req) {
        Retry::Answered => return,
        Retry::New(key) => key,
    };
    // A replicated send may yet be forwarded whole to another leader: its fields are shared
    // with the message, not moved into it.
    let replicated = shard.raft().is_some();
    let delivered = delivered(shard, &mut req, replicated);
    if HeaderFlags::from_header(req.flags).no_persist() {
        return send_unpersisted(shard, req.origin, delivered, receivers);
    }
    if replicated {
        let new = message_fields(&delivered).to_owned();
        return super::replicated::propose_message(shard, req, delivered, new, receivers);
    }
    propose_and_queue(shard, &req, delivered, receivers, dedup);
}

/// What the log stores of a message, borrowed from it (copied once, into the log).
fn message_fields(msg: &Delivered) -> MessageFields<'_> {
    MessageFields {
        message_id: msg.message_id,
        client_msg_no: &msg.client_msg_no,
        from_uid: &msg.from_uid,
        setting: msg.setting,
        header: storage_header(HeaderFlags::from_header(msg.flags)),
        timestamp: msg.timestamp,
        expire: msg.expire(),
        topic: msg.topic(),
        stream_no: msg.stream_no(),
        stream_id: 0,
        stream_flag: msg.stream_flag(),
        payload: &msg.payload,
    }
}

/// A retried send (same `client_msg_no` in the de-duplication window) is acknowledged with
/// the stored message and delivers nothing twice. If the original still waits for its
/// commit, so does this answer: a SENDACK means durable, for the retry as much as for the
/// original.
fn answer_retry(shard: &Shard, req: &SendReq) -> Retry {
    let store = shard.store.borrow();
    let key = store
        .messages
        .dedup_key(&req.channel_id, req.channel_type, &req.client_msg_no);
    let Some(hit) = key.and_then(|k| {
        let messages = &store.messages;
        messages.find_dedup_key(k, &req.channel_id, req.channel_type, &req.client_msg_no)
    }) else {
        return Retry::New(key);
    };
    let committed = shard.log.is_committed(&store.messages, hit.lsn);
    drop(store);
    let outcome = SendOutcome {
        reason: ReasonCode::SUCCESS.0,
        message_id: hit.message_id,
        message_seq: hit.message_seq,
    };
    if committed {
        answer(shard, req.origin, outcome);
        return Retry::Answered;
    }
    // The queue stays in ticket order: wait for the later of the original and the tail.
    let tail = shard.commits.borrow().back().map_or(hit.lsn, |p| p.lsn);
    queue_commit(
        shard,
        PendingCommit {
            lsn: tail.max(hit.lsn),
            received: std::time::Instant::now(),
            origin: req.origin,
            msg: Arc::new(Delivered {
                message_id: hit.message_id,
                message_seq: hit.message_seq,
                ..Default::default()
            }),
            receivers: Receivers::none(),
        },
    );
    Retry::Answered
}

/// What the de-duplication window says of a send.
enum Retry {
    /// A retry, answered with the stored message.
    Answered,
    /// A new send, with its key in the window (hashed once, for the check and the append).
    New(Option<DedupKey>),
}

/// The message as receivers get it (text fields as wire strings, copied once). Its text and
/// payload are moved out of the request, which is dropped afterwards (each shared field cost
/// two atomic updates of the frame's count); `keep_req` shares them instead.
fn delivered(shard: &Shard, req: &mut SendReq, keep_req: bool) -> Delivered {
    // One clock reading (the batch's) for the id and the timestamp.
    let now = shard.clock.unix_millis();
    let channel_id = req.channel_id.prefix(base_channel(&req.channel_id).len());
    let topic = moved_or_shared(&mut req.topic, keep_req);
    let stream_no = moved_or_shared(&mut req.stream_no, keep_req);
    Delivered {
        message_id: shard.ids.borrow_mut().next_id_at(now),
        message_seq: 0,
        client_msg_no: moved_or_shared(&mut req.client_msg_no, keep_req),
        from_uid: sender_uid(&channel_id, req.channel_type, &req.from_uid),
        channel_id,
        channel_type: req.channel_type,
        flags: req.flags,
        setting: req.setting,
        timestamp: (now / 1000) as i32,
        rare: RareFields::boxed(topic, stream_no, req.stream_flag, req.expire),
        payload: moved_or_shared(&mut req.payload, keep_req),
        sender: req.origin.sender_conn().unwrap_or_default(),
    }
}

/// `field`'s value, left empty behind (or shared with it when `share`).
fn moved_or_shared<T: Clone + Default>(field: &mut T, share: bool) -> T {
    if share {
        field.clone()
    } else {
        std::mem::take(field)
    }
}

/// The sender's uid as it travels with a message: in a 1:1 chat, the side of the channel id
/// `a@b` it is (sharing its buffer: nothing allocated or copied, and the receivers' shards
/// tell the sender apart by position, see [`super::ids::same_uid`]); a copy otherwise.
fn sender_uid(channel_id: &WkStr, channel_type: u8, from_uid: &str) -> WkStr {
    if channel_type == ChannelType::PERSON.0 {
        if let Some(side) = person_parts(channel_id)
            .and_then(|(a, b)| [a, b].into_iter().find(|side| *side == from_uid))
        {
            return channel_id.part(side);
        }
    }
    WkStr::copy_from_str(from_uid)
}

/// A no-persist message: acknowledged and delivered at once, never stored.
fn send_unpersisted(shard: &Shard, origin: SendOrigin, msg: Delivered, receivers: Receivers) {
    answer(
        shard,
        origin,
        SendOutcome {
            reason: ReasonCode::SUCCESS.0,
            message_id: msg.message_id,
            message_seq: 0,
        },
    );
    fan_out(shard, Arc::new(msg), receivers);
}

/// Proposes the message to its slot's log and queues it for acknowledgement and fan-out once
/// committed; a refused proposal is answered with a system error.
fn propose_and_queue(
    shard: &Shard,
    req: &SendReq,
    mut msg: Delivered,
    receivers: Receivers,
    dedup: Option<DedupKey>,
) {
    let t0 = shard.stats.time_this_append().then(std::time::Instant::now);
    let proposed = {
        let mut store = shard.store.borrow_mut();
        shard.log.propose_message(
            &mut store.messages,
            &req.channel_id,
            req.channel_type,
            &message_fields(&msg),
            dedup,
        )
    };
    if let Some(t0) = t0 {
        shard.stats.append_latency.observe_duration(t0.elapsed());
    }
    match proposed {
        Ok(p) => {
            if shard.ctx.config.logger.trace_on {
                tracing::info!(target: "jindou::trace", shard = shard.id(), message_id = msg.message_id,
                    seq = p.message_seq, channel = %req.channel_id, client_msg_no = %msg.client_msg_no, "appended");
            }
            stats::inc(&shard.stats.messages_stored);
            shard.stats.stored_by_type.inc(req.channel_type);
            msg.message_seq = p.message_seq;
            queue_commit(
                shard,
                PendingCommit {
                    lsn: p.ticket,
                    received: shard.clock.instant(),
                    origin: req.origin,
                    msg: Arc::new(msg),
                    receivers,
                },
            );
        }
        Err(e) => {
            tracing::warn!(channel = %req.channel_id, error = %e, "append refused");
            refuse(shard, req.origin, ReasonCode::SYSTEM_ERROR);
        }
    }
}

/// Queues a send for the committer, waking it when the queue was empty.
fn queue_commit(shard: &Shard, p: PendingCommit) {
    let mut commits = shard.commits.borrow_mut();
    debug_assert!(
        commits.back().is_none_or(|q| q.lsn <= p.lsn),
        "commits stay in ticket order"
    );
    commits.push_back(p);
    if commits.len() == 1 {
        if let Some(w) = shard.commit_waker.take() {
            w.wake();
        }
    }
}

/// wkproto header flags → the storage header bits.
fn storage_header(flags: HeaderFlags) -> u8 {
    use jindou_storage::message::{HEADER_NO_PERSIST, HEADER_RED_DOT, HEADER_SYNC_ONCE};
    let mut h = 0;
    if flags.no_persist() {
        h |= HEADER_NO_PERSIST;
    }
    if flags.red_dot() {
        h |= HEADER_RED_DOT;
    }
    if flags.sync_once() {
        h |= HEADER_SYNC_ONCE;
    }
    h
}

/// A user's owner: (node, shard).
type Owner = (u16, usize);

/// Sends one `Deliver` per owner shard of the receivers. When they all have one owner (a 1:1
/// chat on one shard, a group on one shard) the list itself travels, copied into nothing.
pub(crate) fn fan_out(shard: &Shard, msg: Arc<Delivered>, receivers: Receivers) {
    let receivers = match receivers {
        Receivers::Person(which) => return fan_out_person(shard, msg, which),
        Receivers::Uids(uids) => uids,
    };
    let Some(first) = receivers.first() else {
        return;
    };
    let first_owner = shard.owner_of(first);
    let Some(split) = receivers
        .iter()
        .position(|uid| shard.owner_of(uid) != first_owner)
    else {
        let (node, dst) = first_owner;
        let to = Receivers::Uids(receivers);
        shard.route(node, dst, OwnerMsg::Deliver { msg, to }.into());
        return;
    };
    let mut by_owner: Vec<(Owner, Vec<Arc<str>>)> =
        vec![(first_owner, receivers[..split].to_vec())];
    for uid in &receivers[split..] {
        super::push_grouped(&mut by_owner, shard.owner_of(uid), uid.clone());
    }
    for ((node, dst), uids) in by_owner {
        shard.route(
            node,
            dst,
            OwnerMsg::Deliver {
                msg: msg.clone(),
                to: Receivers::Uids(uids),
            }
            .into(),
        );
    }
}

/// A person chat's delivery: one `Deliver` when one shard owns both parties, else one to
/// each party's owner; the parties travel as sides of the message's channel id.
fn fan_out_person(shard: &Shard, msg: Arc<Delivered>, which: u8) {
    let Some((a, b)) = person_parts(msg.channel_id.as_str()) else {
        return;
    };
    let owners = [
        (which & Receivers::FIRST != 0).then(|| (shard.owner_of(a), Receivers::FIRST)),
        (which & Receivers::SECOND != 0).then(|| (shard.owner_of(b), Receivers::SECOND)),
    ];
    match owners {
        [Some((oa, _)), Some((ob, _))] if oa == ob => {
            let (node, dst) = oa;
            let to = Receivers::Person(which);
            shard.route(node, dst, OwnerMsg::Deliver { msg, to }.into());
        }
        _ => {
            for ((node, dst), side) in owners.into_iter().flatten() {
                let to = Receivers::Person(side);
                let msg = msg.clone();
                shard.route(node, dst, OwnerMsg::Deliver { msg, to }.into());
            }
        }
    }
}

/// Most sends acknowledged and fanned out in one go before the committer lets the shard's
/// other tasks run (a large group commit is answered in slices, not in one long stall).
const ACK_SLICE: usize = 256;

/// The shard's committer task: waits for the group commit covering the oldest pending send,
/// then acknowledges and delivers every send that is durable by then, in order and in slices of
/// [`ACK_SLICE`]. Waiting for the oldest (not the newest) means a send is answered by the first
/// commit that covers it, while the next commit is already under way.
pub async fn run_committer(shard: Rc<Shard>) {
    let mut slice: Vec<PendingCommit> = Vec::with_capacity(ACK_SLICE);
    let mut acked_since_wait = 0usize;
    loop {
        poll_fn(|cx| {
            if shard.commits.borrow().is_empty() {
                shard.commit_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let oldest = match shard.commits.borrow().front() {
            Some(p) => p.lsn,
            None => continue,
        };
        if !shard
            .log
            .is_committed(&shard.store.borrow().messages, oldest)
        {
            if acked_since_wait > 0 {
                shard.stats.commit_batch.observe(acked_since_wait as f64);
                acked_since_wait = 0;
            }
            let wait = shard.log.committed(&shard.store.borrow().messages, oldest);
            let waited = std::time::Instant::now();
            let result = wait.await;
            shard
                .stats
                .commit_wait_latency
                .observe_duration(waited.elapsed());
            if let Err(e) = result {
                // Only the oldest is refused: a later commit may still cover the others (a
                // full disk frees up), and a poisoned log refuses each of them at once.
                let p = shard.commits.borrow_mut().pop_front();
                if let Some(p) = p {
                    tracing::error!(error = %e, lsn = p.lsn, "group commit failed; send not acknowledged");
                    refuse(&shard, p.origin, ReasonCode::SYSTEM_ERROR);
                }
                continue;
            }
        }
        let durable = shard.store.borrow().messages.durable_lsn();
        {
            let mut commits = shard.commits.borrow_mut();
            let n = commits
                .iter()
                .take(ACK_SLICE)
                .take_while(|p| p.lsn < durable)
                .count();
            debug_assert!(n > 0, "the oldest send is durable");
            slice.extend(commits.drain(..n));
        }
        acked_since_wait += slice.len();
        let full = slice.len() == ACK_SLICE;
        // One clock read for the slice: its sends are answered in the same instant.
        let now = std::time::Instant::now();
        for p in slice.drain(..) {
            if shard.ctx.config.logger.trace_on {
                tracing::info!(target: "jindou::trace", shard = shard.id(),
                    message_id = p.msg.message_id, receivers = p.receivers.len(&p.msg), "durable, acknowledged, fanning out");
            }
            shard
                .stats
                .sendack_latency
                .observe_duration(now.saturating_duration_since(p.received));
            answer(
                &shard,
                p.origin,
                SendOutcome {
                    reason: ReasonCode::SUCCESS.0,
                    message_id: p.msg.message_id,
                    message_seq: p.msg.message_seq,
                },
            );
            fan_out(&shard, p.msg, p.receivers);
        }
        if full {
            crate::runtime::yield_now().await;
        }
    }
}
