//! Bounded reads of stored messages for the REST API (spec http-api §4, §8): channel history
//! pages, lookups, conversation recents. Every answer is capped in messages and in bytes.
//!
//! A read runs on the HTTP request's shard as a series of *trips* to the channel's owner: each
//! trip is one [`Shard::inspect`] (one mesh round trip) carrying the read's state there and
//! back. On the owner thread the trip builds at most about [`SLICE`] messages' JSON straight
//! from the mapped records ([`message_json`]) and returns; no borrow of the owner's store
//! outlives a trip, and the owner runs its other work (sends, deliveries, acknowledgements)
//! between trips, however large the page.

use crate::json::message_json;
use crate::shard::Shard;
use base64::Engine;
use jindou_storage::{MessageStore, PlannedRange, PullMode, RangeQuery, StoreError};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};

/// Most messages one `/channel/messagesync` page returns (WuKongIM's cap; a larger `limit`
/// is capped and the page says `more: 1`).
pub const MAX_PAGE: usize = 10_000;
/// Stored bytes one answer carries at most: each message counts its payload plus
/// [`MESSAGE_OVERHEAD`]. A page that would pass it ends early with `more: 1`; the first
/// message of an answer always fits, so paging always progresses (an answer is thus at most
/// this plus one message).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// What a message costs beyond its payload (ids, header, JSON and base64 growth).
pub const MESSAGE_OVERHEAD: usize = 256;
/// Messages (or lookups) one trip to the owner builds, about: a trip ends once it did this
/// much work.
pub const SLICE: usize = 256;
/// Lookups one `/messages` request may ask for (`message_seqs`, `message_ids` and
/// `client_msg_nos` together); more is refused with a 400.
pub const MAX_FETCH: usize = 1_000;
/// Recent messages per conversation (`msg_count` above it is capped).
pub const MAX_RECENTS_PER_CHANNEL: usize = 100;
/// Recent messages one conversation sync returns in all: with many conversations each gets
/// this divided by their number (at least one).
pub const MAX_RECENTS_TOTAL: usize = 10_000;
/// Channels one `/conversation/syncMessages` may name; more is refused with a 400.
pub const MAX_SYNC_CHANNELS: usize = 1_000;
/// Default of `/message/sync`'s `limit` (as in WuKongIM).
pub const DEFAULT_CMD_SYNC: usize = 200;
/// Most CMD messages one `/message/sync` returns (a larger `limit` is capped).
pub const MAX_CMD_SYNC: usize = 1_000;
/// Stream chunks attached to one page (the newest of the channel's stream side log).
pub const MAX_STREAM_CHUNKS: usize = 10_000;

/// Recent messages per conversation when `channels` conversations ask for `msg_count` each.
pub fn recents_per_channel(msg_count: usize, channels: usize) -> usize {
    msg_count
        .min(MAX_RECENTS_PER_CHANNEL)
        .min((MAX_RECENTS_TOTAL / channels.max(1)).max(1))
}

/// What one answer may still carry, and how much the current trip has built.
pub struct Budget {
    bytes_left: usize,
    built: usize,
    /// Messages admitted so far.
    pub admitted: usize,
}

impl Budget {
    /// A budget of `bytes` (see [`MAX_ANSWER_BYTES`]).
    pub fn new(bytes: usize) -> Budget {
        Budget {
            bytes_left: bytes,
            built: 0,
            admitted: 0,
        }
    }

    /// Whether a message with `payload` bytes still fits (the answer's first always does);
    /// counts it.
    pub fn admit(&mut self, payload: usize) -> bool {
        let cost = payload.saturating_add(MESSAGE_OVERHEAD);
        if cost > self.bytes_left && self.admitted > 0 {
            self.bytes_left = 0;
            return false;
        }
        self.bytes_left = self.bytes_left.saturating_sub(cost);
        self.built += 1;
        self.admitted += 1;
        true
    }

    /// Bytes not spent yet.
    pub fn left(&self) -> usize {
        self.bytes_left
    }

    /// Counts one unit of work that builds nothing (a lookup that missed).
    pub fn note_work(&mut self) {
        self.built += 1;
    }

    /// Whether the current trip did a slice's worth of work (it then ends).
    fn trip_full(&self) -> bool {
        self.built >= SLICE
    }
}

/// A read that proceeds in trips to the owner of what it reads.
trait Trips: Send + 'static {
    /// The read's budget.
    fn budget(&mut self) -> &mut Budget;

    /// One trip's work on the owner, about a slice; true when the read is complete.
    fn trip(&mut self, owner: &Shard) -> bool;
}

/// The seq up to which a storage channel's messages were deleted with their channel
/// (`/channel/delete`): no read shows them.
pub fn purged_to(owner: &Shard, channel_id: &str, channel_type: u8) -> u64 {
    owner.channels.borrow().purged_to(channel_id, channel_type)
}

/// Runs `read` to completion against shard `owner`, one [`Shard::inspect`] per trip.
async fn run<T: Trips>(shard: &Shard, owner: usize, mut read: T) -> T {
    loop {
        let (back, done) = shard
            .inspect(owner, move |o: &Shard| {
                read.budget().built = 0;
                let done = read.trip(o);
                (read, done)
            })
            .await;
        read = back;
        if done {
            return read;
        }
    }
}

/// A planned seq range of one channel, read one slice per call from its low end or from its
/// high end (the end a capped answer keeps); the messages come out ascending either way.
struct PlannedRead {
    plan: PlannedRange,
    from_low: bool,
    /// Seqs read so far.
    done: u64,
    out: VecDeque<Value>,
    /// The budget ended the read before the range did.
    capped: bool,
    /// The first slice failed: nothing was read. (A later failure, retention deleting the
    /// rest, ends the read as capped.)
    failed: Option<StoreError>,
}

impl PlannedRead {
    fn new(plan: PlannedRange, from_low: bool) -> PlannedRead {
        PlannedRead {
            plan,
            from_low,
            done: 0,
            out: VecDeque::new(),
            capped: false,
            failed: None,
        }
    }

    fn total(&self) -> u64 {
        if self.plan.lo > self.plan.hi {
            0
        } else {
            self.plan.hi - self.plan.lo + 1
        }
    }

    fn finished(&self) -> bool {
        self.capped || self.failed.is_some() || self.done >= self.total()
    }

    /// Reads the next slice of at most [`SLICE`] messages.
    fn read_slice(
        &mut self,
        store: &MessageStore,
        channel_id: &str,
        channel_type: u8,
        viewer: &str,
        budget: &mut Budget,
    ) {
        if self.finished() {
            return;
        }
        let n = (SLICE as u64).min(self.total() - self.done);
        let (plan, done) = (self.plan, self.done);
        let (lo, hi) = if self.from_low {
            (plan.lo + done, plan.lo + done + n - 1)
        } else {
            (plan.hi - done - n + 1, plan.hi - done)
        };
        let msgs = match store.read_seqs(channel_id, channel_type, lo, hi) {
            Ok(m) => m,
            Err(e) if self.out.is_empty() => {
                self.failed = Some(e);
                return;
            }
            Err(_) => {
                self.capped = true;
                return;
            }
        };
        let out = &mut self.out;
        let mut take = |m: &jindou_storage::MessageView<'_>, front: bool| -> bool {
            if !budget.admit(m.record.payload.len()) {
                return false;
            }
            let v = message_json(m.record, viewer);
            if front {
                out.push_front(v);
            } else {
                out.push_back(v);
            }
            true
        };
        self.capped = if self.from_low {
            !msgs.iter().all(|m| take(m, false))
        } else {
            !msgs.iter().rev().all(|m| take(m, true))
        };
        self.done += n;
    }
}

/// `/channel/messagesync` in trips: the plan and the first slice, then a slice per trip.
struct PageRead {
    channel_id: String,
    channel_type: u8,
    viewer: String,
    query: RangeQuery,
    from_low: bool,
    planned: bool,
    /// `None` until planned, and when the channel has nothing in the range.
    range: Option<PlannedRead>,
    budget: Budget,
}

impl Trips for PageRead {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }

    fn trip(&mut self, owner: &Shard) -> bool {
        let store = owner.store.borrow();
        if !self.planned {
            self.planned = true;
            let floor = purged_to(owner, &self.channel_id, self.channel_type);
            let mut q = self.query;
            if self.from_low {
                q.start_seq = q.start_seq.max(floor + 1);
            }
            self.range = store
                .messages
                .plan_range(&self.channel_id, self.channel_type, q)
                .map(|mut plan| {
                    plan.lo = plan.lo.max(floor + 1);
                    PlannedRead::new(plan, self.from_low)
                });
        }
        let Some(range) = self.range.as_mut() else {
            return true;
        };
        range.read_slice(
            &store.messages,
            &self.channel_id,
            self.channel_type,
            &self.viewer,
            &mut self.budget,
        );
        range.finished()
    }
}

/// `/channel/messagesync` against the channel's owner: at most [`MAX_PAGE`] messages and
/// [`MAX_ANSWER_BYTES`], with `more` per WuKongIM (and `more: 1` when the byte cap ended the
/// page early). An error is the store's, when the first slice could not be read.
pub async fn message_sync(
    shard: &Shard,
    owner: usize,
    channel_id: String,
    channel_type: u8,
    viewer: String,
    q: RangeQuery,
) -> Result<Value, StoreError> {
    let q = RangeQuery {
        limit: q.limit.min(MAX_PAGE),
        ..q
    };
    // The newest page and pages down are anchored at their high end, pages up at their low.
    let from_low = q.pull_mode == PullMode::Up && !(q.start_seq == 0 && q.end_seq == 0);
    let read = PageRead {
        channel_id,
        channel_type,
        viewer,
        query: q,
        from_low,
        planned: false,
        range: None,
        budget: Budget::new(MAX_ANSWER_BYTES),
    };
    let read = run(shard, owner, read).await;
    let (mut messages, capped): (Vec<Value>, bool) = match read.range {
        None => (Vec::new(), false),
        Some(PlannedRead {
            failed: Some(e), ..
        }) => return Err(e),
        Some(r) => (r.out.into(), r.capped),
    };
    let n = messages.len();
    let boundary = match q.pull_mode {
        PullMode::Down => messages.first(),
        PullMode::Up => messages.last(),
    }
    .and_then(|m| m["message_seq"].as_u64());
    let more = if q.limit == 0 || capped {
        1 // limit 0: WuKongIM's quirk (no messages, more=1)
    } else if n < q.limit || (q.end_seq != 0 && boundary == Some(q.end_seq)) {
        0
    } else {
        1
    };
    let side = format!("{}{}", read.channel_id, crate::shard::ids::STREAM_SUFFIX);
    attach_streams(shard, owner, side, channel_type, &mut messages, read.budget).await;
    Ok(json!({
        "start_message_seq": q.start_seq,
        "end_message_seq": q.end_seq,
        "more": more,
        "messages": messages,
    }))
}

/// The stream chunks of a page's anchors, read from the channel's stream side log in trips.
struct StreamsRead {
    side: String,
    channel_type: u8,
    wanted: HashSet<String>,
    planned: bool,
    /// Next seq to read and the last one, once planned.
    next: u64,
    hi: u64,
    chunks: HashMap<String, Vec<Value>>,
    budget: Budget,
}

impl Trips for StreamsRead {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }

    fn trip(&mut self, owner: &Shard) -> bool {
        let store = owner.store.borrow();
        if !self.planned {
            self.planned = true;
            let q = RangeQuery {
                start_seq: 0,
                end_seq: 0,
                limit: MAX_STREAM_CHUNKS,
                pull_mode: PullMode::Up,
            };
            let Some(plan) = store.messages.plan_range(&self.side, self.channel_type, q) else {
                return true;
            };
            let floor = purged_to(owner, &self.side, self.channel_type);
            (self.next, self.hi) = (plan.lo.max(floor + 1), plan.hi);
        }
        if self.next > self.hi {
            return true;
        }
        let hi = self.hi.min(self.next + SLICE as u64 - 1);
        let Ok(slice) = store
            .messages
            .read_seqs(&self.side, self.channel_type, self.next, hi)
        else {
            return true;
        };
        for c in slice {
            self.budget.note_work();
            let no = c.record.stream_no.as_str();
            if !self.wanted.contains(no) {
                continue;
            }
            if !self.budget.admit(c.record.payload.len()) {
                return true;
            }
            let id = i64::from(c.record.message_id);
            self.chunks.entry(no.to_string()).or_default().push(json!({
                "stream_id": id,
                "stream_idstr": id.to_string(),
                "stream_no": no,
                "payload": base64::engine::general_purpose::STANDARD
                    .encode(c.record.payload.as_slice()),
            }));
        }
        self.next = hi + 1;
        self.next > self.hi
    }
}

/// Adds `streams` (the stored chunks, in order) to every stream anchor among `messages`:
/// the newest [`MAX_STREAM_CHUNKS`] chunks of the channel's stream log (`side`) are read in
/// slices, and chunks stop being attached when the answer's byte budget runs out.
async fn attach_streams(
    shard: &Shard,
    owner: usize,
    side: String,
    channel_type: u8,
    messages: &mut [Value],
    budget: Budget,
) {
    let wanted: HashSet<String> = messages
        .iter()
        .filter_map(|m| m.get("stream_no").and_then(|v| v.as_str()))
        .map(str::to_string)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let read = StreamsRead {
        side,
        channel_type,
        wanted,
        planned: false,
        next: 0,
        hi: 0,
        chunks: HashMap::new(),
        budget,
    };
    let mut chunks = run(shard, owner, read).await.chunks;
    for m in messages.iter_mut() {
        let Some(no) = m.get("stream_no").and_then(|v| v.as_str()) else {
            continue;
        };
        let streams = chunks.remove(no).unwrap_or_default();
        m["streams"] = Value::Array(streams);
    }
}

/// One message looked up by `/messages`.
enum Lookup {
    Seq(u64),
    Id(i64),
    No(String),
}

/// `/messages` in trips of [`SLICE`] lookups.
struct FetchRead {
    channel_id: String,
    channel_type: u8,
    viewer: String,
    lookups: Vec<Lookup>,
    next: usize,
    out: Vec<Value>,
    /// The byte budget ended the answer early.
    more: u8,
    budget: Budget,
}

impl Trips for FetchRead {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }

    fn trip(&mut self, owner: &Shard) -> bool {
        let store = owner.store.borrow();
        let m = &store.messages;
        let (id, ty) = (self.channel_id.as_str(), self.channel_type);
        let floor = purged_to(owner, id, ty);
        let end = self.lookups.len().min(self.next + SLICE);
        for l in &self.lookups[self.next..end] {
            self.budget.note_work();
            let hit = match l {
                Lookup::Seq(seq) => m.get_by_seq(id, ty, *seq),
                Lookup::Id(mid) => m.get_by_message_id(*mid).map(|v| {
                    v.filter(|v| v.record.channel_id.as_str() == id && v.record.channel_type == ty)
                }),
                Lookup::No(no) => match m.find_client_msg_no(id, ty, no) {
                    Some(hit) => m.get_by_seq(id, ty, hit.message_seq),
                    None => Ok(None),
                },
            };
            if let Ok(Some(v)) = hit.map(|v| v.filter(|v| u64::from(v.record.message_seq) > floor))
            {
                if !self.budget.admit(v.record.payload.len()) {
                    self.more = 1;
                    return true;
                }
                self.out.push(message_json(v.record, &self.viewer));
            }
        }
        self.next = end;
        self.next >= self.lookups.len()
    }
}

/// The messages one `/messages` request names.
pub struct FetchWanted {
    /// By seq.
    pub seqs: Vec<u64>,
    /// By message id.
    pub ids: Vec<i64>,
    /// By client number.
    pub client_msg_nos: Vec<String>,
}

/// `/messages` against the channel's owner: seq hits, then id hits, then client_msg_no hits,
/// at most [`MAX_FETCH`] lookups (the handler refuses more) and [`MAX_ANSWER_BYTES`]; an
/// answer the byte cap ended early says `more: 1`.
pub async fn fetch(
    shard: &Shard,
    owner: usize,
    channel_id: String,
    channel_type: u8,
    viewer: String,
    wanted: FetchWanted,
) -> Value {
    let lookups: Vec<Lookup> = wanted
        .seqs
        .into_iter()
        .map(Lookup::Seq)
        .chain(wanted.ids.into_iter().map(Lookup::Id))
        .chain(wanted.client_msg_nos.into_iter().map(Lookup::No))
        .take(MAX_FETCH)
        .collect();
    let read = FetchRead {
        channel_id,
        channel_type,
        viewer,
        lookups,
        next: 0,
        out: Vec::new(),
        more: 0,
        budget: Budget::new(MAX_ANSWER_BYTES),
    };
    let read = run(shard, owner, read).await;
    json!({"start_message_seq": 0, "end_message_seq": 0, "more": read.more, "messages": read.out})
}

/// One channel of a recents request.
#[derive(Clone, Debug)]
pub struct RecentsWanted {
    /// Storage channel id.
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Lowest seq wanted.
    pub from_seq: u64,
    /// Most messages (capped at [`MAX_PAGE`]).
    pub limit: usize,
    /// Ascending order; else newest first.
    pub ascending: bool,
}

/// One channel's recents as read on its owner.
pub struct Recent {
    /// Storage channel id.
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Newest seq of the channel.
    pub last_seq: u64,
    /// Seq up to which its messages were deleted with their channel (0: none): they count
    /// as read.
    pub purged_to: u64,
    /// Messages with seq ≥ the bound, in the order asked for.
    pub messages: Vec<Value>,
    /// The byte budget cut them short (there are messages ≥ the bound).
    pub capped: bool,
    /// Budget bytes they used.
    pub bytes: usize,
}

/// The channel a recents read is in the middle of.
struct RecentInProgress {
    last_seq: u64,
    purged_to: u64,
    /// Budget left when the channel started.
    before: usize,
    /// The planned range, when there are messages to read and budget to read them.
    range: Option<PlannedRead>,
    /// The budget was spent before this channel started.
    capped: bool,
}

/// Conversation recents in trips: channel after channel, a trip ending once it built a
/// slice's worth.
struct RecentsRead {
    wanted: Vec<RecentsWanted>,
    viewer: String,
    next: usize,
    current: Option<RecentInProgress>,
    rows: Vec<Recent>,
    budget: Budget,
}

impl RecentsRead {
    /// Plans channel `w`: its newest seq and the range of at most its limit at or above its
    /// bound.
    fn start(&self, m: &MessageStore, w: &RecentsWanted, floor: u64) -> RecentInProgress {
        let (id, ty) = (w.channel_id.as_str(), w.channel_type);
        let limit = w.limit.min(MAX_PAGE);
        let max = m.max_seq(id, ty);
        let lo = w.from_seq.max(m.first_seq(id, ty)).max(floor + 1);
        let plan = (max >= lo && limit > 0)
            .then(|| {
                let q = if w.ascending {
                    RangeQuery {
                        start_seq: lo,
                        end_seq: 0,
                        limit,
                        pull_mode: PullMode::Up,
                    }
                } else {
                    RangeQuery {
                        start_seq: max,
                        end_seq: lo - 1,
                        limit,
                        pull_mode: PullMode::Down,
                    }
                };
                m.plan_range(id, ty, q)
            })
            .flatten();
        let before = self.budget.left();
        let capped = plan.is_some() && before == 0;
        RecentInProgress {
            last_seq: max,
            purged_to: floor,
            before,
            range: plan
                .filter(|_| !capped)
                .map(|p| PlannedRead::new(p, w.ascending)),
            capped,
        }
    }
}

impl Trips for RecentsRead {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }

    fn trip(&mut self, owner: &Shard) -> bool {
        let store = owner.store.borrow();
        let m = &store.messages;
        loop {
            let Some(w) = self.wanted.get(self.next) else {
                return true;
            };
            let mut cur = match self.current.take() {
                Some(cur) => cur,
                None => self.start(m, w, purged_to(owner, &w.channel_id, w.channel_type)),
            };
            if let Some(range) = cur.range.as_mut() {
                range.read_slice(
                    m,
                    &w.channel_id,
                    w.channel_type,
                    &self.viewer,
                    &mut self.budget,
                );
            }
            if cur.range.as_ref().is_some_and(|r| !r.finished()) {
                self.current = Some(cur);
            } else {
                let (mut messages, capped) = match cur.range {
                    Some(r) if r.failed.is_none() => (Vec::from(r.out), r.capped),
                    _ => (Vec::new(), cur.capped),
                };
                if !w.ascending {
                    messages.reverse();
                }
                self.rows.push(Recent {
                    channel_id: w.channel_id.clone(),
                    channel_type: w.channel_type,
                    last_seq: cur.last_seq,
                    purged_to: cur.purged_to,
                    messages,
                    capped,
                    bytes: cur.before - self.budget.left(),
                });
                self.next += 1;
            }
            if self.budget.trip_full() {
                return self.next >= self.wanted.len();
            }
        }
    }
}

/// For each channel (all owned by `owner`): its newest seq and up to its limit of messages
/// with seq ≥ its bound (ascending, or newest first), within `max_bytes` for the whole
/// answer.
pub async fn recents(
    shard: &Shard,
    owner: usize,
    wanted: Vec<RecentsWanted>,
    viewer: String,
    max_bytes: usize,
) -> Vec<Recent> {
    let read = RecentsRead {
        rows: Vec::with_capacity(wanted.len()),
        wanted,
        viewer,
        next: 0,
        current: None,
        budget: Budget::new(max_bytes),
    };
    run(shard, owner, read).await.rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recents_share_the_total() {
        assert_eq!(recents_per_channel(15, 10), 15);
        assert_eq!(recents_per_channel(500, 1), MAX_RECENTS_PER_CHANNEL);
        assert_eq!(recents_per_channel(50, 1_000), 10);
        assert_eq!(recents_per_channel(50, 1_000_000), 1);
    }

    #[test]
    fn the_budget_admits_the_first_message_and_stops_at_the_cap() {
        let mut b = Budget::new(1_000);
        assert!(b.admit(5_000), "the first always fits");
        assert!(!b.admit(1));
        let mut b = Budget::new(1_000);
        assert!(b.admit(500));
        assert!(!b.admit(500), "256 + 500 twice exceeds 1000");
        assert_eq!(b.admitted, 1);
    }
}
