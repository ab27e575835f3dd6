//! The owner's handling of `/message/event` (spec wukongim-2.2.5 §1.3, §1.4): events of one
//! anchor run strictly one after another; a delta updates its memory lane and is answered in
//! the same turn; a stored type is logged as a `MsgEvent` meta record and answered once
//! durable. Every accepted event (the no-change cases included) is then pushed to the online
//! subscribers of the anchor's channel.

use super::lanes::{Content, Delta, LaneError, MAX_LANE_BYTES};
use super::reduce::{self, DeltaContent, Kind};
use super::state::{AnchorEvents, AnchorKey, FINISH_KEY};
use super::{EventAck, EventReq};
use crate::proto::{ChannelType, Event, Setting, WkStr};
use crate::shard::error::OwnerError;
use crate::shard::ids::{base_channel, now_millis, person_parts, SYSTEM_UID};
use crate::shard::meta::MetaRecord;
use crate::shard::msg::{Answer, ConnMsg, OwnerMsg};
use crate::shard::Shard;
use jindou_storage::StoreError;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Most event keys (lanes) one message may have, besides `__finish__`.
pub const MAX_KEYS: usize = 32;
/// Most events of one anchor waiting behind the one being stored.
pub const MAX_QUEUED: usize = 1024;

/// One event waiting for its turn on the owner, with whom to answer.
#[derive(Debug)]
pub struct Job {
    /// The shard awaiting the answer.
    pub src: usize,
    /// Its request id there.
    pub id: u64,
    /// The event.
    pub req: Box<EventReq>,
}

/// What an event needs after the checks made in its turn.
enum Plan {
    /// Answered now (a delta, a repeat, a refusal).
    Done(Result<EventAck, OwnerError>),
    /// To be stored first.
    Store {
        rec: Box<MetaRecord>,
        ack: EventAck,
        fold: bool,
    },
    /// A repeat of what is stored: answered once the meta log is durable up to now (the
    /// original's write may have failed after it was applied, and its retry lands here).
    Confirm(EventAck),
}

/// Takes one event on the anchor's owner: handled at once when the anchor is idle and the
/// event needs no storage; otherwise queued behind the anchor's events and run in order.
pub fn handle(shard: &Rc<Shard>, job: Job) {
    let anchor = job.req.anchor.clone();
    if let Some(q) = shard.event_queues.borrow_mut().get_mut(&anchor) {
        if q.len() >= MAX_QUEUED {
            let busy = StoreError::Io(std::io::Error::other(
                "too many events of this message in flight; retry",
            ));
            return finish(shard, job, Err(OwnerError::Store(busy)));
        }
        q.push_back(job);
        return;
    }
    let plan = match plan(shard, &job.req) {
        Plan::Done(result) => return finish(shard, job, result),
        plan => plan,
    };
    shard
        .event_queues
        .borrow_mut()
        .insert(anchor.clone(), VecDeque::new());
    let shard = shard.clone();
    monoio::spawn(async move {
        let result = run(&shard, &job.req, plan).await;
        finish(&shard, job, result);
        drain(&shard, &anchor).await;
    });
}

/// Runs the events queued behind a stored one, in order, then marks the anchor idle.
async fn drain(shard: &Rc<Shard>, anchor: &AnchorKey) {
    loop {
        let next = {
            let mut queues = shard.event_queues.borrow_mut();
            match queues.get_mut(anchor).and_then(VecDeque::pop_front) {
                Some(job) => job,
                None => {
                    queues.remove(anchor);
                    return;
                }
            }
        };
        let result = run(shard, &next.req, plan(shard, &next.req)).await;
        finish(shard, next, result);
    }
}

/// Carries a plan out.
async fn run(shard: &Shard, req: &EventReq, plan: Plan) -> Result<EventAck, OwnerError> {
    match plan {
        Plan::Done(result) => result,
        Plan::Store { rec, ack, fold } => store(shard, req, *rec, ack, fold).await,
        Plan::Confirm(ack) => {
            let wait = {
                let store = shard.store.borrow();
                let end = store.meta.end_lsn();
                (end > 0).then(|| store.meta.wait_durable(end - 1))
            };
            if let Some(wait) = wait {
                wait.await.map_err(OwnerError::Store)?;
            }
            Ok(ack)
        }
    }
}

/// Logs a stored event and, once durable, drops the lane it folded.
async fn store(
    shard: &Shard,
    req: &EventReq,
    rec: MetaRecord,
    ack: EventAck,
    fold: bool,
) -> Result<EventAck, OwnerError> {
    shard.persist_meta(rec).await.map_err(OwnerError::Store)?;
    if fold {
        shard
            .event_lanes
            .borrow_mut()
            .take(&req.anchor, &ack.event_key);
    }
    Ok(ack)
}

/// Pushes an accepted event and answers its asker.
fn finish(shard: &Shard, job: Job, result: Result<EventAck, OwnerError>) {
    if let Ok(ack) = &result {
        push(shard, &job.req, ack);
    }
    let result = result.map(Box::new).map_err(Box::new);
    shard
        .mesh
        .send(job.src, Answer::Event { id: job.id, result }.into());
}

fn refused(why: impl Into<String>) -> Plan {
    Plan::Done(Err(OwnerError::Refused(why.into())))
}

/// Checks an event against the anchor's state and decides what it does (spec §1.3's
/// processing rules). Deltas are applied here.
fn plan(shard: &Shard, req: &EventReq) -> Plan {
    if let Some(why) = not_leading(shard, &req.anchor) {
        return Plan::Done(Err(OwnerError::Store(StoreError::Io(
            std::io::Error::other(why),
        ))));
    }
    let kind = Kind::of(&req.event_type);
    let key = reduce::effective_key(kind, &req.event_key);
    let events = shard.msg_events.borrow();
    let stored = events.get(&req.anchor);
    let (anchor_from, anchor_id) = match anchor_ident(shard, req, stored) {
        Ok(ident) => ident,
        Err(why) => return refused(why),
    };
    let from_uid = if !req.from_uid.is_empty() {
        req.from_uid.clone()
    } else if !anchor_from.is_empty() {
        anchor_from
    } else {
        SYSTEM_UID.to_string()
    };
    let message_id = if req.message_id != 0 {
        req.message_id
    } else {
        anchor_id
    };
    let stored_key = stored.and_then(|a| a.keys.get(&key));
    let ack = |seq: u64, status: &str| EventAck {
        event_key: key.clone(),
        msg_event_seq: seq,
        stream_status: status.to_string(),
        from_uid: from_uid.clone(),
        message_id,
    };
    let mut lanes = shard.event_lanes.borrow_mut();
    if !key_fits(stored, lanes.of(&req.anchor), &key) {
        return refused(format!(
            "a message has at most {MAX_KEYS} event keys; {key:?} would be one more"
        ));
    }
    let payload = req.payload.as_deref().map(RawValue::get);
    if payload.is_some_and(|p| p.len() > MAX_LANE_BYTES) {
        return refused(format!(
            "an event payload has at most {MAX_LANE_BYTES} bytes"
        ));
    }
    if kind == Kind::Delta {
        let finished = stored.is_some_and(AnchorEvents::finished);
        if finished || stored_key.is_some_and(|s| s.is_terminal()) {
            return refused("stream closed");
        }
        let content = reduce::delta_content(payload);
        let delta = match &content {
            DeltaContent::Text(t) => Delta::Text(t),
            DeltaContent::Replace => Delta::Replace(payload.unwrap_or_default()),
            DeltaContent::Nothing => Delta::Touch,
        };
        return match lanes.apply(&req.anchor, &key, delta, Instant::now()) {
            Ok(()) => Plan::Done(Ok(ack(stored_key.map_or(0, |s| s.last_seq), "open"))),
            Err(LaneError::TooLarge) => refused(format!(
                "event key {key:?} would hold more than {MAX_LANE_BYTES} bytes of deltas"
            )),
        };
    }
    if let Some(s) = stored_key {
        // A repeat of the key's last event, or an event after its end: nothing changes.
        if s.event_id == req.event_id || s.is_terminal() {
            return Plan::Confirm(ack(s.last_seq, &s.status));
        }
    }
    let lane = kind
        .folds_lane()
        .then(|| lanes.of(&req.anchor).and_then(|l| l.get(&key)))
        .flatten();
    let folded = if kind.folds_lane() {
        reduce::fold_lane(payload, lane)
    } else {
        payload.map(str::to_string)
    };
    let event_type = reduce::normalize_type(&req.event_type);
    let seq = stored.map_or(0, |a| a.seq) + 1;
    let state = reduce::reduce(
        stored_key,
        &reduce::Stored {
            kind,
            event_type: &event_type,
            event_id: &req.event_id,
            visibility: &req.visibility,
            occurred_at: if req.occurred_at == 0 {
                now_millis() as i64
            } else {
                req.occurred_at
            },
            payload: folded.as_deref(),
        },
        seq,
    );
    let ack = ack(seq, &state.status);
    let rec = MetaRecord::MsgEvent {
        channel_id: req.anchor.channel_id.clone(),
        channel_type: req.anchor.channel_type,
        client_msg_no: req.anchor.client_msg_no.clone(),
        from_uid: if from_uid == SYSTEM_UID {
            String::new()
        } else {
            from_uid.clone()
        },
        message_id,
        event_key: key,
        state,
    };
    Plan::Store {
        rec: Box::new(rec),
        ack,
        fold: lane.is_some(),
    }
}

/// In cluster mode, why this node may not take the anchor's events now (another node leads
/// its channel's slot, or none does).
fn not_leading(shard: &Shard, anchor: &AnchorKey) -> Option<String> {
    shard.raft()?;
    let slot = shard.slot_of(&anchor.channel_id);
    match shard.leader(slot) {
        crate::cluster::Leader::Local => None,
        other => Some(format!(
            "this node does not lead the message's channel (leader: {other:?}); retry"
        )),
    }
}

/// Whether `key` may be used: it is known already, or the message has room for one more.
fn key_fits(
    stored: Option<&AnchorEvents>,
    lanes: Option<&BTreeMap<String, Content>>,
    key: &str,
) -> bool {
    let in_stored = |k: &str| stored.is_some_and(|a| a.keys.contains_key(k));
    let in_lanes = |k: &str| lanes.is_some_and(|l| l.contains_key(k));
    if key == FINISH_KEY || in_stored(key) || in_lanes(key) {
        return true;
    }
    let stored_n = stored.map_or(0, |a| a.keys.keys().filter(|k| *k != FINISH_KEY).count());
    let lanes_only = lanes.map_or(0, |l| l.keys().filter(|k| !in_stored(k)).count());
    stored_n + lanes_only < MAX_KEYS
}

/// The anchor's sender and message id: from its stored events, else from its message (which,
/// when found, must be a stream anchor). An anchor not found at all is accepted (spec §1.3
/// [rec]: its send may still be on its way), with nothing known of it.
fn anchor_ident(
    shard: &Shard,
    req: &EventReq,
    stored: Option<&AnchorEvents>,
) -> Result<(String, i64), String> {
    if let Some(a) = stored {
        return Ok((a.from_uid.clone(), a.message_id));
    }
    let a = &req.anchor;
    let store = shard.store.borrow();
    let Some(hit) =
        store
            .messages
            .find_client_msg_no(&a.channel_id, a.channel_type, &a.client_msg_no)
    else {
        return Ok((String::new(), 0));
    };
    let Ok(Some(view)) = store
        .messages
        .get_by_seq(&a.channel_id, a.channel_type, hit.message_seq)
    else {
        return Ok((String::new(), hit.message_id));
    };
    if !Setting::from_bits(view.record.setting).is_stream() {
        return Err(format!(
            "message {:?} is not a stream anchor (send it with is_stream: 1)",
            a.client_msg_no
        ));
    }
    let from = view.record.from_uid.as_str();
    let from = if from == SYSTEM_UID { "" } else { from };
    Ok((from.to_string(), hit.message_id))
}

/// The `data` of a pushed event (spec §1.4).
#[derive(Serialize)]
struct PushData<'a> {
    client_msg_no: &'a str,
    channel_id: &'a str,
    channel_type: u8,
    from_uid: &'a str,
    message_id: i64,
    event_key: &'a str,
    msg_event_seq: u64,
    stream_status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    visibility: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
}

/// Pushes an accepted event to every online subscriber of the anchor's channel: one
/// `DeliverEvent` per owner shard of the receivers.
fn push(shard: &Shard, req: &EventReq, ack: &EventAck) {
    let receivers = receivers(shard, &req.anchor);
    if receivers.is_empty() {
        return;
    }
    let data = PushData {
        client_msg_no: &req.anchor.client_msg_no,
        channel_id: &req.channel_id,
        channel_type: req.anchor.channel_type,
        from_uid: &ack.from_uid,
        message_id: ack.message_id,
        event_key: &ack.event_key,
        msg_event_seq: ack.msg_event_seq,
        stream_status: &ack.stream_status,
        visibility: &req.visibility,
        payload: req.payload.as_deref(),
    };
    let Ok(data) = serde_json::to_vec(&data) else {
        return;
    };
    let event = Arc::new(Event {
        id: WkStr::copy_from_str(&req.event_id),
        event_type: WkStr::copy_from_str(&req.event_type),
        timestamp: req.occurred_at,
        data: data.into(),
    });
    let mut by_owner: BTreeMap<(u16, usize), Vec<Arc<str>>> = BTreeMap::new();
    for uid in receivers {
        by_owner.entry(shard.owner_of(&uid)).or_default().push(uid);
    }
    for ((node, dst), uids) in by_owner {
        let msg = OwnerMsg::DeliverEvent {
            event: event.clone(),
            uids,
        };
        shard.route(node, dst, msg.into());
    }
}

/// Who gets an anchor's events: both parties of a person chat, else the channel's
/// subscribers (locally known or from the datasource's cache); never system uids.
fn receivers(shard: &Shard, anchor: &AnchorKey) -> Vec<Arc<str>> {
    let base = base_channel(&anchor.channel_id);
    let all: Vec<Arc<str>> = if anchor.channel_type == ChannelType::PERSON.0 {
        match person_parts(base) {
            Some((a, b)) => vec![Arc::from(a), Arc::from(b)],
            None => Vec::new(),
        }
    } else {
        let channels = shard.channels.borrow();
        match channels.get(base, anchor.channel_type) {
            Some(c) if !c.subscribers.is_empty() => c.subscribers.iter().cloned().collect(),
            _ => shard
                .channel_source
                .as_ref()
                .and_then(|src| src.cached(base, anchor.channel_type))
                .map(|c| c.subscribers.iter().cloned().collect())
                .unwrap_or_default(),
        }
    };
    let globals = shard.globals.borrow();
    all.into_iter()
        .filter(|u| &**u != SYSTEM_UID && !globals.is_system(u))
        .collect()
}

/// On the receivers' owner: hands the event to the shards holding their live connections.
pub fn deliver(shard: &Shard, event: Arc<Event>, uids: Vec<Arc<str>>) {
    let mut by_shard: BTreeMap<(u16, usize), Vec<u64>> = BTreeMap::new();
    let users = shard.users.borrow();
    for uid in &uids {
        let Some(user) = users.get(uid) else {
            continue;
        };
        for s in &user.sessions {
            by_shard
                .entry((s.conn.node, s.conn.shard as usize))
                .or_default()
                .push(s.conn.id);
        }
    }
    drop(users);
    for ((node, dst), conn_ids) in by_shard {
        let msg = ConnMsg::PushEvent {
            event: event.clone(),
            conn_ids,
        };
        shard.route(node, dst, msg.into());
    }
}
