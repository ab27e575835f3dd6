//! Bounded reads of stored messages for the REST API (spec http-api §4, §8), run on the
//! channel's owner shard. Every answer is capped in messages and in bytes, and is built in
//! slices of [`SLICE`] messages with a yield to the runtime between them, with no borrow of
//! the store held across a yield: however large the page, the shard's other work (sends,
//! deliveries, acknowledgements) runs between the slices.

use super::api_ops::ApiResp;
use super::Shard;
use crate::json::message_json;
use base64::Engine;
use jindou_storage::{PlannedRange, PullMode, RangeQuery};
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
/// Messages (or lookups) built per turn before the reader yields to the runtime.
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

/// What one answer may still carry, and when its builder yields.
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

    /// Yields to the runtime when a slice's worth was built since the last yield. Call it
    /// with no borrow of shard state held.
    pub async fn pace(&mut self) {
        if self.built >= SLICE {
            self.built = 0;
            crate::runtime::yield_now().await;
        }
    }

    /// Counts one unit of work that builds nothing (a lookup that missed).
    pub fn note_work(&mut self) {
        self.built += 1;
    }
}

/// Messages read from a planned range, ascending by seq.
pub struct Slices {
    /// The messages as the API shows them.
    pub messages: Vec<Value>,
    /// The budget ended the read before the range did.
    pub capped: bool,
}

/// Reads `plan` in slices, from its low end when `from_low`, else from its high end (the end
/// a capped answer keeps); the result is ascending either way. An error before anything was
/// read is returned; a later one (retention deleted the rest) ends the read as capped.
pub async fn read_planned(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    viewer: &str,
    plan: PlannedRange,
    from_low: bool,
    budget: &mut Budget,
) -> Result<Slices, String> {
    let mut out: VecDeque<Value> = VecDeque::new();
    if plan.lo > plan.hi {
        return Ok(Slices {
            messages: Vec::new(),
            capped: false,
        });
    }
    let total = plan.hi - plan.lo + 1;
    let mut done = 0u64;
    let mut capped = false;
    while done < total && !capped {
        let n = (SLICE as u64).min(total - done);
        let (lo, hi) = if from_low {
            (plan.lo + done, plan.lo + done + n - 1)
        } else {
            (plan.hi - done - n + 1, plan.hi - done)
        };
        {
            let store = shard.store.borrow();
            let msgs = match store.messages.read_seqs(channel_id, channel_type, lo, hi) {
                Ok(m) => m,
                Err(e) if out.is_empty() => return Err(format!("could not read messages: {e}")),
                Err(_) => {
                    capped = true;
                    break;
                }
            };
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
            if from_low {
                capped = !msgs.iter().all(|m| take(m, false));
            } else {
                capped = !msgs.iter().rev().all(|m| take(m, true));
            }
        }
        done += n;
        if done < total && !capped {
            budget.pace().await;
        }
    }
    Ok(Slices {
        messages: out.into(),
        capped,
    })
}

/// `/channel/messagesync` on the channel's owner: at most [`MAX_PAGE`] messages and
/// [`MAX_ANSWER_BYTES`], with `more` per WuKongIM (and `more: 1` when the byte cap ended the
/// page early).
pub async fn message_sync(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    login_uid: &str,
    q: RangeQuery,
) -> ApiResp {
    let q = RangeQuery {
        limit: q.limit.min(MAX_PAGE),
        ..q
    };
    let plan = shard
        .store
        .borrow()
        .messages
        .plan_range(channel_id, channel_type, q);
    let mut budget = Budget::new(MAX_ANSWER_BYTES);
    // The newest page and pages down are anchored at their high end, pages up at their low.
    let from_low = q.pull_mode == PullMode::Up && !(q.start_seq == 0 && q.end_seq == 0);
    let read = match plan {
        None => Slices {
            messages: Vec::new(),
            capped: false,
        },
        Some(plan) => match read_planned(
            shard,
            channel_id,
            channel_type,
            login_uid,
            plan,
            from_low,
            &mut budget,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return ApiResp::Error(e),
        },
    };
    let mut messages = read.messages;
    let n = messages.len();
    let boundary = match q.pull_mode {
        PullMode::Down => messages.first(),
        PullMode::Up => messages.last(),
    }
    .and_then(|m| m["message_seq"].as_u64());
    let more = if q.limit == 0 || read.capped {
        1 // limit 0: WuKongIM's quirk (no messages, more=1)
    } else if n < q.limit || (q.end_seq != 0 && boundary == Some(q.end_seq)) {
        0
    } else {
        1
    };
    attach_streams(shard, channel_id, channel_type, &mut messages, &mut budget).await;
    ApiResp::Json(json!({
        "start_message_seq": q.start_seq,
        "end_message_seq": q.end_seq,
        "more": more,
        "messages": messages,
    }))
}

/// Adds `streams` (the stored chunks, in order) to every stream anchor among `messages`:
/// the newest [`MAX_STREAM_CHUNKS`] chunks of the channel's stream log are read in slices,
/// and chunks stop being attached when the answer's byte budget runs out.
async fn attach_streams(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    messages: &mut [Value],
    budget: &mut Budget,
) {
    let wanted: HashSet<String> = messages
        .iter()
        .filter_map(|m| m.get("stream_no").and_then(|v| v.as_str()))
        .map(str::to_string)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let side = format!("{channel_id}{}", super::ids::STREAM_SUFFIX);
    let q = RangeQuery {
        start_seq: 0,
        end_seq: 0,
        limit: MAX_STREAM_CHUNKS,
        pull_mode: PullMode::Up,
    };
    let Some(plan) = shard
        .store
        .borrow()
        .messages
        .plan_range(&side, channel_type, q)
    else {
        return;
    };
    let mut chunks: HashMap<String, Vec<Value>> = HashMap::new();
    let mut seq = plan.lo;
    'read: while seq <= plan.hi {
        let hi = plan.hi.min(seq + SLICE as u64 - 1);
        {
            let store = shard.store.borrow();
            let Ok(slice) = store.messages.read_seqs(&side, channel_type, seq, hi) else {
                break;
            };
            for c in slice {
                budget.note_work();
                let no = c.record.stream_no.as_str();
                if !wanted.contains(no) {
                    continue;
                }
                if !budget.admit(c.record.payload.len()) {
                    break 'read;
                }
                let id = i64::from(c.record.message_id);
                chunks.entry(no.to_string()).or_default().push(json!({
                    "stream_id": id,
                    "stream_idstr": id.to_string(),
                    "stream_no": no,
                    "payload": base64::engine::general_purpose::STANDARD
                        .encode(c.record.payload.as_slice()),
                }));
            }
        }
        seq = hi + 1;
        budget.pace().await;
    }
    for m in messages.iter_mut() {
        let Some(no) = m.get("stream_no").and_then(|v| v.as_str()) else {
            continue;
        };
        let streams = chunks.remove(no).unwrap_or_default();
        m["streams"] = Value::Array(streams);
    }
}

/// `/messages` on the channel's owner: seq hits, then id hits, then client_msg_no hits, at
/// most [`MAX_FETCH`] lookups (the handler refuses more) and [`MAX_ANSWER_BYTES`]; an answer
/// the byte cap ended early says `more: 1`.
pub async fn fetch(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    viewer: &str,
    seqs: &[u64],
    ids: &[i64],
    nos: &[String],
) -> ApiResp {
    enum Lookup<'a> {
        Seq(u64),
        Id(i64),
        No(&'a str),
    }
    let lookups: Vec<Lookup<'_>> = seqs
        .iter()
        .map(|s| Lookup::Seq(*s))
        .chain(ids.iter().map(|i| Lookup::Id(*i)))
        .chain(nos.iter().map(|n| Lookup::No(n)))
        .take(MAX_FETCH)
        .collect();
    let mut budget = Budget::new(MAX_ANSWER_BYTES);
    let mut out = Vec::new();
    let mut more = 0;
    'all: for slice in lookups.chunks(SLICE) {
        {
            let store = shard.store.borrow();
            let m = &store.messages;
            for l in slice {
                budget.note_work();
                let hit = match l {
                    Lookup::Seq(seq) => m.get_by_seq(channel_id, channel_type, *seq),
                    Lookup::Id(id) => m.get_by_message_id(*id).map(|v| {
                        v.filter(|v| {
                            v.record.channel_id.as_str() == channel_id
                                && v.record.channel_type == channel_type
                        })
                    }),
                    Lookup::No(no) => match m.find_client_msg_no(channel_id, channel_type, no) {
                        Some(hit) => m.get_by_seq(channel_id, channel_type, hit.message_seq),
                        None => Ok(None),
                    },
                };
                if let Ok(Some(v)) = hit {
                    if !budget.admit(v.record.payload.len()) {
                        more = 1;
                        break 'all;
                    }
                    out.push(message_json(v.record, viewer));
                }
            }
        }
        budget.pace().await;
    }
    ApiResp::Json(
        json!({"start_message_seq": 0, "end_message_seq": 0, "more": more, "messages": out}),
    )
}

/// One channel of a recents request: (storage id, type, lowest seq, most messages,
/// ascending order).
pub type RecentsWanted = (String, u8, u64, usize, bool);

/// For each channel: its newest seq and up to its count of messages with seq ≥ its bound
/// (ascending, or newest first), within `max_bytes` for the whole answer. Each row says
/// `capped: true` when the byte budget cut its messages short, and the `bytes` it used.
pub async fn recents(
    shard: &Shard,
    channels: &[RecentsWanted],
    viewer: &str,
    max_bytes: usize,
) -> ApiResp {
    let mut budget = Budget::new(max_bytes);
    let mut out = Vec::with_capacity(channels.len());
    for (id, ty, bound, limit, ascending) in channels {
        let limit = (*limit).min(MAX_PAGE);
        let (max, plan) = {
            let store = shard.store.borrow();
            let max = store.messages.max_seq(id, *ty);
            let lo = (*bound).max(store.messages.first_seq(id, *ty)).max(1);
            let plan = (max >= lo && limit > 0)
                .then(|| {
                    let q = if *ascending {
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
                    store.messages.plan_range(id, *ty, q)
                })
                .flatten();
            (max, plan)
        };
        let before = budget.left();
        let mut capped = false;
        let mut msgs = Vec::new();
        if let Some(plan) = plan {
            if budget.left() == 0 {
                capped = true;
            } else if let Ok(r) =
                read_planned(shard, id, *ty, viewer, plan, *ascending, &mut budget).await
            {
                capped = r.capped;
                msgs = r.messages;
                if !*ascending {
                    msgs.reverse();
                }
            }
        }
        out.push(json!({
            "channel_id": id,
            "channel_type": ty,
            "last_seq": max,
            "messages": msgs,
            "capped": capped,
            "bytes": before - budget.left(),
        }));
        budget.pace().await;
    }
    ApiResp::Json(Value::Array(out))
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
