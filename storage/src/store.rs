//! The message store: channels' messages on a segment log, with per-channel seq indexes,
//! a message_id index, client_msg_no de-duplication, index checkpoints and retention.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;

use crate::checkpoint::{self, Checkpoint, Entry};
use crate::commit::{CommitStats, DurableFuture};
use crate::config::{LogConfig, StoreConfig, SyncPolicy};
use crate::dedup::{DedupHit, DedupKey, DedupWindow};
use crate::error::{Result, StoreError};
use crate::index::{id_generator, ChannelNo, IdLocation, Indexes};
use crate::log::Log;
use crate::message::{self, MessageFields, MessageRecord, MessageView, NewMessage, KIND_MESSAGE};
use crate::retention::{Retention, SegmentInfo};

/// Result of an append: where the message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The seq assigned in the channel (dense from 1).
    pub message_seq: u64,
    /// The message id given by the caller.
    pub message_id: i64,
    /// Its LSN; pass it to [`MessageStore::wait_durable`].
    pub lsn: u64,
}

/// Direction of a range read (WuKongIM `pull_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullMode {
    /// `0`: older messages: seqs in `(end, start]`, the `limit` closest to `start`.
    Down,
    /// `1`: newer messages: seqs in `[start, end)`, the first `limit` from `start`.
    Up,
}

impl PullMode {
    /// From the wire value (0 = down, anything else = up).
    pub fn from_wire(v: u8) -> Self {
        if v == 0 {
            PullMode::Down
        } else {
            PullMode::Up
        }
    }
}

/// A `/channel/messagesync`-shaped query. `start_seq == 0 && end_seq == 0` means the newest
/// `limit` messages whatever the mode; `end_seq == 0` is unbounded for `Up`, and means "no
/// lower bound" for `Down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeQuery {
    /// `start_message_seq`.
    pub start_seq: u64,
    /// `end_message_seq` (0 = unbounded).
    pub end_seq: u64,
    /// At most this many messages.
    pub limit: usize,
    /// Direction.
    pub pull_mode: PullMode,
}

/// The seqs a range query selects: `lo..=hi`, inclusive, after retention (empty if `lo > hi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRange {
    /// First seq.
    pub lo: u64,
    /// Last seq.
    pub hi: u64,
    /// `Some(first_available_seq)` when part of the requested range was deleted by retention.
    pub truncated_before: Option<u64>,
}

/// Messages of a range read, ascending by seq.
#[derive(Debug)]
pub struct RangeRead<'a> {
    /// The messages found, ascending by seq.
    pub messages: Vec<MessageView<'a>>,
    /// `Some(first_available_seq)` when part of the requested range was deleted by retention.
    pub truncated_before: Option<u64>,
}

/// What [`MessageStore::maintain`] did.
#[derive(Debug, Default, Clone)]
pub struct Maintenance {
    /// Index checkpoints written.
    pub checkpoints_written: usize,
    /// Segment files deleted by retention.
    pub segments_deleted: Vec<PathBuf>,
}

/// Index entries of the active segment, kept to write its checkpoint.
#[derive(Default)]
struct Active {
    base: u64,
    /// `channel` holds the store-wide [`ChannelNo`] until the checkpoint is built.
    entries: Vec<Entry>,
    newest_ts: i64,
    since_checkpoint: u64,
}

/// One shard's message store. Single-threaded: use it from the shard that opened it.
pub struct MessageStore {
    log: Log,
    dir: PathBuf,
    idx: Indexes,
    dedup: DedupWindow,
    active: Active,
    /// Checkpoints waiting for the bytes they cover to be durable.
    pending: VecDeque<Checkpoint>,
    retention: Retention,
    checkpoint_every: u64,
    /// Checkpoint files are fsynced (every policy but `None`).
    durable_checkpoints: bool,
    buf: rkyv::util::AlignedVec,
    /// The record being appended, reused so its strings and body keep their buffers.
    scratch: MessageRecord,
}

/// Body capacity the reused record keeps between appends.
const KEEP_SCRATCH_PAYLOAD: usize = 64 << 10;

fn corrupt(log: &Log, lsn: u64, reason: String) -> StoreError {
    let seg = log
        .segments()
        .rev()
        .find(|s| s.base() <= lsn)
        .map(|s| (s.path().to_path_buf(), lsn - s.base()));
    let (segment, offset) = seg.unwrap_or_default();
    StoreError::Corrupt {
        segment,
        offset,
        reason,
    }
}

/// Reads and validates the message at `lsn`.
fn view_at(log: &Log, lsn: u64) -> Result<MessageView<'_>> {
    let r = log.read(lsn)?;
    if r.kind != KIND_MESSAGE {
        return Err(corrupt(
            log,
            lsn,
            format!("unexpected record kind {}", r.kind),
        ));
    }
    let record =
        message::access(r.payload).map_err(|e| corrupt(log, lsn, format!("bad message: {e}")))?;
    Ok(MessageView { lsn, record })
}

impl MessageStore {
    /// Opens the message log in `cfg.dir/msg`: loads index checkpoints, recovers the log tail,
    /// rebuilds the indexes and the de-duplication window. Unless the sync policy is `None`,
    /// call it inside the shard's monoio runtime (built with `enable_timer()`).
    pub fn open(cfg: &StoreConfig) -> Result<MessageStore> {
        let dir = cfg.dir.join("msg");
        crate::dirs::create_dir_durable(&dir)?;
        let mut cps: BTreeMap<u64, Checkpoint> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".idx.tmp") {
                std::fs::remove_file(entry.path())?;
            } else if let Some(base) = checkpoint::parse_name(name) {
                match Checkpoint::read(&entry.path()) {
                    Ok(cp) if cp.base == base => {
                        cps.insert(base, cp);
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!(file = %entry.path().display(), "ignoring a bad index checkpoint; the segment will be rescanned");
                        std::fs::remove_file(entry.path())?;
                    }
                }
            }
        }
        let log = Log::open(
            LogConfig {
                dir: dir.clone(),
                segment_size: cfg.segment_size,
                sync_policy: cfg.sync_policy,
                sync_interval: cfg.sync_interval,
                sync_batch: cfg.sync_batch,
                repair: cfg.repair,
                stage_bytes: crate::stage::DEFAULT_STAGE_BYTES,
                cached_segments: crate::config::DEFAULT_CACHED_SEGMENTS,
            },
            &|base| cps.get(&base).map(|c| c.covered as usize),
        )?;
        // Checkpoints of segments that no longer exist (or that a repair cut) are stale.
        let segs: Vec<(u64, u64)> = log.segments().map(|s| (s.base(), s.end())).collect();
        let live: HashMap<u64, u64> = segs.iter().copied().collect();
        cps.retain(|base, cp| {
            let keep = live.get(base).is_some_and(|&end| base + cp.covered <= end);
            if !keep {
                let _ = std::fs::remove_file(checkpoint::path_for(&dir, *base));
            }
            keep
        });

        let mut store = MessageStore {
            dir: dir.clone(),
            idx: Indexes::default(),
            dedup: DedupWindow::new(cfg.dedup_window),
            active: Active::default(),
            pending: VecDeque::new(),
            retention: Retention {
                age: cfg.retention_age,
                bytes: cfg.retention_bytes,
            },
            checkpoint_every: cfg.index_checkpoint_every,
            durable_checkpoints: cfg.sync_policy != SyncPolicy::None,
            buf: rkyv::util::AlignedVec::new(),
            scratch: MessageRecord::default(),
            log,
        };
        store.rebuild(&segs, &cps, cfg.dedup_window)?;
        Ok(store)
    }

    /// Rebuilds the in-memory indexes from checkpoints plus a scan of what they do not cover.
    fn rebuild(
        &mut self,
        segs: &[(u64, u64)],
        cps: &BTreeMap<u64, Checkpoint>,
        window: usize,
    ) -> Result<()> {
        let mut recent: VecDeque<u64> = VecDeque::with_capacity(window.min(1 << 20));
        let push_recent = |recent: &mut VecDeque<u64>, lsn: u64| {
            if window > 0 {
                if recent.len() == window {
                    recent.pop_front();
                }
                recent.push_back(lsn);
            }
        };
        for (i, &(base, end)) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            let mut entries: Vec<Entry> = Vec::new();
            let mut newest_ts = i64::MIN;
            let mut from = base;
            if let Some(cp) = cps.get(&base) {
                let nos: Vec<ChannelNo> = cp
                    .channels
                    .iter()
                    .map(|(id, ty)| self.idx.find_or_create(id, *ty))
                    .collect();
                for e in &cp.entries {
                    let no = nos[e.channel as usize];
                    let lsn = base + e.offset as u64;
                    self.idx
                        .insert(no, e.seq, lsn, e.message_id)
                        .map_err(|err| with_path(err, checkpoint::path_for(&self.dir, base)))?;
                    entries.push(Entry { channel: no, ..*e });
                    push_recent(&mut recent, lsn);
                }
                newest_ts = cp.newest_ts;
                from = base + cp.covered;
            }
            let scanned_from = from;
            for rec in self.log.iter_from(from) {
                let rec = rec?;
                if rec.lsn >= end {
                    break;
                }
                let v = view_at(&self.log, rec.lsn)?;
                let r = v.record;
                let no = self
                    .idx
                    .find_or_create(r.channel_id.as_str(), r.channel_type);
                self.idx
                    .insert(
                        no,
                        r.message_seq.to_native(),
                        rec.lsn,
                        r.message_id.to_native(),
                    )
                    .map_err(|err| corrupt_from(&self.log, rec.lsn, err))?;
                entries.push(Entry {
                    channel: no,
                    seq: r.message_seq.to_native(),
                    offset: (rec.lsn - base) as u32,
                    message_id: r.message_id.to_native(),
                });
                newest_ts = newest_ts.max(r.timestamp.to_native() as i64);
                push_recent(&mut recent, rec.lsn);
            }
            self.log.note_ts(base, newest_ts);
            if last {
                self.active = Active {
                    base,
                    entries,
                    newest_ts,
                    since_checkpoint: 0,
                };
            } else if scanned_from < end {
                // A sealed segment without a complete checkpoint: write one now (its bytes
                // were read back from disk, make sure they stay there first).
                if let Some(seg) = self.log.segments().find(|s| s.base() == base) {
                    seg.sync_target().sync_blocking()?;
                }
                self.build_checkpoint(base, end - base, newest_ts, entries)
                    .write(&self.dir, self.durable_checkpoints)?;
            }
        }
        if self.active.base == 0 && segs.is_empty() {
            self.active.base = self.log.end_lsn();
        }
        for lsn in recent {
            let v = view_at(&self.log, lsn)?;
            let r = v.record;
            self.dedup.insert(
                r.channel_id.as_str(),
                r.channel_type,
                r.client_msg_no.as_str(),
                lsn,
            );
        }
        Ok(())
    }

    /// The checkpoint of `entries` (store-wide channel numbers, renumbered here in place into
    /// the checkpoint's own channel table): one pass, no copy of the entries.
    fn build_checkpoint(
        &self,
        base: u64,
        covered: u64,
        newest_ts: i64,
        mut entries: Vec<Entry>,
    ) -> Checkpoint {
        const NONE: u32 = u32::MAX;
        let mut local = vec![NONE; self.idx.channel_count()];
        let mut channels = Vec::new();
        for e in &mut entries {
            let slot = &mut local[e.channel as usize];
            if *slot == NONE {
                let ch = self.idx.channel(e.channel);
                channels.push((ch.id.to_string(), ch.ty));
                *slot = (channels.len() - 1) as u32;
            }
            e.channel = *slot;
        }
        Checkpoint {
            base,
            covered,
            newest_ts,
            channels,
            entries,
        }
    }

    /// Appends a message to channel `(channel_id, channel_type)`, assigning the channel's next
    /// seq. Returns at once (a copy into the mapping); await [`MessageStore::wait_durable`]
    /// before acknowledging. On error nothing was stored and no seq consumed.
    pub fn append(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        msg: NewMessage,
    ) -> Result<Appended> {
        self.append_fields(channel_id, channel_type, &msg.fields())
    }

    /// [`MessageStore::append`] from borrowed fields: they are copied into a record the store
    /// reuses, so the append path allocates nothing once warm.
    pub fn append_fields(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        msg: &MessageFields<'_>,
    ) -> Result<Appended> {
        let key = self.dedup.key(channel_id, channel_type, msg.client_msg_no);
        self.append_fields_keyed(channel_id, channel_type, msg, key)
    }

    /// [`MessageStore::append_fields`] with the send's de-duplication key already computed
    /// (by [`MessageStore::dedup_key`] for the same channel and client_msg_no, to look for a
    /// retry first): the key is hashed once per send, not twice.
    pub fn append_fields_keyed(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        msg: &MessageFields<'_>,
        key: Option<DedupKey>,
    ) -> Result<Appended> {
        debug_assert_eq!(
            key,
            self.dedup.key(channel_id, channel_type, msg.client_msg_no),
            "the key belongs to this message"
        );
        let no = self.idx.find_or_create(channel_id, channel_type);
        let seq = self.idx.next_seq(no);
        msg.fill(&mut self.scratch, channel_id, channel_type, seq);
        self.buf = message::encode(&self.scratch, std::mem::take(&mut self.buf));
        if self.scratch.payload.capacity() > KEEP_SCRATCH_PAYLOAD {
            // One large message does not pin its size for the store's lifetime.
            self.scratch.payload = Vec::new();
        }
        let lsn = self.log.append(KIND_MESSAGE, &self.buf)?;
        let seg_base = self.log.segments().last().map_or(0, |s| s.base());
        if seg_base != self.active.base {
            // The log rolled: the previous segment is sealed, checkpoint it once durable.
            let prev = std::mem::take(&mut self.active);
            // Sized like the sealed segment's: growing it by doubling copied and faulted in
            // its megabytes again at each step, on the append path.
            self.active.entries = Vec::with_capacity(prev.entries.len() + prev.entries.len() / 8);
            let cp = self.build_checkpoint(
                prev.base,
                seg_base - prev.base,
                prev.newest_ts,
                prev.entries,
            );
            self.pending.push_back(cp);
            self.active.base = seg_base;
            self.active.newest_ts = i64::MIN;
        }
        self.idx
            .insert(no, seq, lsn, msg.message_id)
            .expect("seqs assigned here are dense");
        if let Some(key) = key {
            self.dedup.insert_key(key, lsn);
        }
        let ts = msg.timestamp as i64;
        self.log.note_ts(lsn, ts);
        let a = &mut self.active;
        a.entries.push(Entry {
            channel: no,
            seq,
            offset: (lsn - a.base) as u32,
            message_id: msg.message_id,
        });
        a.newest_ts = a.newest_ts.max(ts);
        a.since_checkpoint += 1;
        if self.checkpoint_every > 0 && a.since_checkpoint >= self.checkpoint_every {
            a.since_checkpoint = 0;
            let a = &self.active;
            let cp = self.build_checkpoint(
                a.base,
                self.log.end_lsn() - a.base,
                a.newest_ts,
                a.entries.clone(),
            );
            self.pending.push_back(cp);
        }
        if !self.pending.is_empty() {
            // A failed checkpoint write only costs a longer scan at the next start.
            if let Err(e) = self.flush_checkpoints() {
                tracing::warn!(error = %e, "index checkpoint write failed");
            }
        }
        Ok(Appended {
            message_seq: seq,
            message_id: msg.message_id,
            lsn,
        })
    }

    /// Hands the pending checkpoints whose range is durable to the background thread, which
    /// writes them in order; returns how many.
    fn flush_checkpoints(&mut self) -> Result<usize> {
        let durable = self.log.durable_end();
        let mut n = 0;
        while let Some(cp) = self.pending.front() {
            if cp.base + cp.covered > durable {
                break;
            }
            let cp = self.pending.pop_front().expect("peeked");
            // Only the newest pending checkpoint of a segment is worth writing.
            if !self
                .pending
                .iter()
                .any(|p| p.base == cp.base && p.base + p.covered <= durable)
            {
                let (dir, durable) = (self.dir.clone(), self.durable_checkpoints);
                crate::background::submit(move || {
                    // A lost checkpoint only costs a longer scan at the next start.
                    if let Err(e) = cp.write(&dir, durable) {
                        tracing::warn!(error = %e, base = cp.base, "index checkpoint write failed");
                    }
                });
                n += 1;
            }
        }
        Ok(n)
    }

    /// Resolves when the message at `lsn` is durable (per the sync policy). An error means the
    /// message must not be acknowledged as stored.
    pub fn wait_durable(&self, lsn: u64) -> DurableFuture {
        self.log.wait_durable(lsn)
    }

    /// The message of a channel at `seq`. `Ok(None)` if it was never assigned;
    /// `Err(TruncatedByRetention)` if retention deleted it.
    pub fn get_by_seq(
        &self,
        channel_id: &str,
        channel_type: u8,
        seq: u64,
    ) -> Result<Option<MessageView<'_>>> {
        let Some(no) = self.idx.find(channel_id, channel_type) else {
            return Ok(None);
        };
        let ch = self.idx.channel(no);
        if seq == 0 || seq > ch.max_seq() {
            return Ok(None);
        }
        match ch.lsn(seq) {
            Some(lsn) => view_at(&self.log, lsn).map(Some),
            None => Err(StoreError::TruncatedByRetention {
                first_available: ch.first_seq(),
            }),
        }
    }

    /// Reads a channel by seq range (see [`RangeQuery`]); results ascending by seq.
    pub fn read_range(
        &self,
        channel_id: &str,
        channel_type: u8,
        q: RangeQuery,
    ) -> Result<RangeRead<'_>> {
        match self.plan_range(channel_id, channel_type, q) {
            None => Ok(RangeRead {
                messages: Vec::new(),
                truncated_before: None,
            }),
            Some(plan) => Ok(RangeRead {
                messages: self.read_seqs(channel_id, channel_type, plan.lo, plan.hi)?,
                truncated_before: plan.truncated_before,
            }),
        }
    }

    /// The seqs a [`RangeQuery`] selects, without reading them (`None`, or a plan with
    /// `lo > hi`: none), so that a large range can be read in slices with
    /// [`MessageStore::read_seqs`].
    pub fn plan_range(
        &self,
        channel_id: &str,
        channel_type: u8,
        q: RangeQuery,
    ) -> Option<PlannedRange> {
        let no = self.idx.find(channel_id, channel_type)?;
        let ch = self.idx.channel(no);
        let max = ch.max_seq();
        let first = ch.first_seq();
        if q.limit == 0 || max == 0 {
            return None;
        }
        let limit = q.limit as u64;
        // Inclusive seq range [lo, hi] wanted, before retention.
        let (lo, hi) = if q.start_seq == 0 && q.end_seq == 0 {
            (max.saturating_sub(limit - 1).max(1), max)
        } else {
            match q.pull_mode {
                PullMode::Up => {
                    let lo = q.start_seq.max(1);
                    let bound = if q.end_seq == 0 {
                        max
                    } else {
                        (q.end_seq - 1).min(max)
                    };
                    let lo_avail = lo.max(first);
                    (lo, bound.min(lo_avail.saturating_add(limit - 1)))
                }
                PullMode::Down => {
                    if q.end_seq > q.start_seq {
                        return None;
                    }
                    let hi = q.start_seq.min(max);
                    let floor = q.end_seq + 1;
                    (hi.saturating_sub(limit - 1).max(floor).max(1), hi)
                }
            }
        };
        let truncated_before = (lo < first).then_some(first);
        let lo = lo.max(first);
        debug_assert!(lo > hi || hi - lo < limit);
        Some(PlannedRange {
            lo,
            hi,
            truncated_before,
        })
    }

    /// The messages with seqs `lo..=hi` of a channel, ascending (every seq in the range must
    /// still be stored; an empty range reads nothing).
    pub fn read_seqs(
        &self,
        channel_id: &str,
        channel_type: u8,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<MessageView<'_>>> {
        let Some(no) = self.idx.find(channel_id, channel_type) else {
            return Ok(Vec::new());
        };
        let ch = self.idx.channel(no);
        let first = ch.first_seq();
        let hi = hi.min(ch.max_seq());
        let mut messages = Vec::with_capacity(hi.saturating_sub(lo).saturating_add(1) as usize);
        let mut seq = lo.max(1);
        while seq <= hi {
            let lsn = ch.lsn(seq).ok_or(StoreError::TruncatedByRetention {
                first_available: first,
            })?;
            messages.push(view_at(&self.log, lsn)?);
            seq += 1;
        }
        Ok(messages)
    }

    /// The message with this id, if stored (and not deleted by retention).
    pub fn get_by_message_id(&self, message_id: i64) -> Result<Option<MessageView<'_>>> {
        match self.idx.locate_message_id(message_id) {
            None => Ok(None),
            Some(IdLocation::At(lsn)) => view_at(&self.log, lsn).map(Some),
            Some(IdLocation::Scan { from, until }) => {
                // At most `ID_SAMPLE_EVERY` in-order records (plus any out-of-order ones,
                // whose ids are all below the target's successors) lie in the range.
                for rec in self.log.iter_from(from) {
                    let rec = rec?;
                    if rec.lsn >= until {
                        break;
                    }
                    let v = view_at(&self.log, rec.lsn)?;
                    let id = v.record.message_id.to_native();
                    if id == message_id {
                        return Ok(Some(v));
                    }
                    if id > message_id && id_generator(id) == id_generator(message_id) {
                        break;
                    }
                }
                Ok(None)
            }
        }
    }

    /// The message a `client_msg_no` already produced in this channel, within the
    /// de-duplication window.
    pub fn find_client_msg_no(
        &self,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
    ) -> Option<DedupHit> {
        let key = self.dedup_key(channel_id, channel_type, client_msg_no)?;
        self.find_dedup_key(key, channel_id, channel_type, client_msg_no)
    }

    /// The message stored at `lsn` if it is the send of `(channel, client_msg_no)`: the
    /// window's keys are hashes, so a match is confirmed against the record itself. A record
    /// no longer readable (its segment deleted by retention) is no match.
    fn confirm_dedup(
        &self,
        lsn: u64,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
    ) -> Option<DedupHit> {
        let r = view_at(&self.log, lsn).ok()?.record;
        let same = r.channel_type == channel_type
            && r.channel_id.as_str() == channel_id
            && r.client_msg_no.as_str() == client_msg_no;
        same.then(|| DedupHit {
            message_seq: r.message_seq.to_native(),
            message_id: r.message_id.to_native(),
            lsn,
        })
    }

    /// The de-duplication key of a send (`None`: nothing to look up or remember), for
    /// [`MessageStore::find_dedup_key`] and then [`MessageStore::append_fields_keyed`].
    pub fn dedup_key(
        &self,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
    ) -> Option<DedupKey> {
        self.dedup.key(channel_id, channel_type, client_msg_no)
    }

    /// [`MessageStore::find_client_msg_no`] by the key [`MessageStore::dedup_key`] made of the
    /// same channel and client_msg_no.
    pub fn find_dedup_key(
        &self,
        key: DedupKey,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
    ) -> Option<DedupHit> {
        let lsn = self.dedup.get_key(key)?;
        self.confirm_dedup(lsn, channel_id, channel_type, client_msg_no)
    }

    /// Highest seq of a channel (0 if it has no messages).
    pub fn max_seq(&self, channel_id: &str, channel_type: u8) -> u64 {
        self.idx
            .find(channel_id, channel_type)
            .map_or(0, |no| self.idx.channel(no).max_seq())
    }

    /// First seq of a channel still stored (1 unless retention deleted older ones).
    pub fn first_seq(&self, channel_id: &str, channel_type: u8) -> u64 {
        self.idx
            .find(channel_id, channel_type)
            .map_or(1, |no| self.idx.channel(no).first_seq())
    }

    /// Periodic housekeeping (call from a shard timer, e.g. every second): writes durable
    /// checkpoints and applies retention at `now` (unix seconds).
    pub fn maintain(&mut self, now: i64) -> Result<Maintenance> {
        let mut m = Maintenance {
            checkpoints_written: self.flush_checkpoints()?,
            ..Default::default()
        };
        let infos: Vec<SegmentInfo> = self
            .log
            .segments()
            .map(|s| SegmentInfo {
                newest_ts: s.newest_ts(),
                bytes: s.capacity() as u64,
            })
            .collect();
        let n = self.retention.segments_to_delete(&infos, now);
        if n > 0 {
            let bases: Vec<u64> = self.log.segments().take(n).map(|s| s.base()).collect();
            m.segments_deleted = self.log.delete_oldest(n)?;
            // Behind any write of these checkpoints still queued.
            let paths: Vec<PathBuf> = bases
                .into_iter()
                .map(|b| checkpoint::path_for(&self.dir, b))
                .collect();
            crate::background::submit(move || {
                for p in paths {
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!(file = %p.display(), error = %e, "removing an index checkpoint failed")
                        }
                    }
                }
            });
            let first = self.log.first_lsn();
            self.pending.retain(|cp| cp.base >= first);
            self.idx.trim_below(first);
            tracing::info!(
                segments = n,
                first_lsn = first,
                "retention deleted old segments"
            );
        }
        Ok(m)
    }

    /// Syncs everything appended and writes every checkpoint, blocking (clean shutdown).
    pub fn flush_blocking(&mut self) -> Result<()> {
        self.log.sync_blocking()?;
        self.flush_checkpoints()?;
        crate::background::drain();
        Ok(())
    }

    /// Every record below this LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.log.durable_end()
    }

    /// LSN the next append gets (about).
    pub fn end_lsn(&self) -> u64 {
        self.log.end_lsn()
    }

    /// Sets who is told each group commit's disk time (write-out and fdatasyncs).
    pub fn set_sync_observer(&self, observer: crate::commit::SyncObserver) {
        self.log.set_sync_observer(observer);
    }

    /// Group-commit counters.
    pub fn commit_stats(&self) -> CommitStats {
        self.log.commit_stats()
    }

    /// Every channel with its newest seq: (storage id, type, max seq).
    pub fn channels(&self) -> impl Iterator<Item = (&str, u8, u64)> + '_ {
        self.idx.iter()
    }

    /// The largest message id stored (a restarted node issues ids above it).
    pub fn newest_message_id(&self) -> Option<i64> {
        self.idx.newest_message_id()
    }

    /// Number of channels with at least one assigned seq.
    pub fn channel_count(&self) -> usize {
        self.idx.channel_count()
    }

    /// The underlying log (for tools and tests).
    pub fn log(&self) -> &Log {
        &self.log
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        // Checkpoint work handed off by this store lands before anyone reopens its directory.
        crate::background::drain();
    }
}

fn with_path(err: StoreError, path: PathBuf) -> StoreError {
    match err {
        StoreError::BadFile { reason, .. } => StoreError::BadFile { path, reason },
        e => e,
    }
}

fn corrupt_from(log: &Log, lsn: u64, err: StoreError) -> StoreError {
    match err {
        StoreError::BadFile { reason, .. } => corrupt(log, lsn, reason),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_message(id: i64, client_msg_no: &str) -> NewMessage {
        NewMessage {
            message_id: id,
            client_msg_no: client_msg_no.to_string(),
            from_uid: "u1".into(),
            payload: b"x".to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn a_window_match_is_confirmed_against_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = StoreConfig::new(dir.path());
        c.sync_policy = SyncPolicy::None;
        let mut s = MessageStore::open(&c).unwrap();
        let a = s.append("c", 2, new_message(7, "m1")).unwrap();
        let hit = s.find_client_msg_no("c", 2, "m1").unwrap();
        assert_eq!((hit.message_id, hit.message_seq, hit.lsn), (7, 1, a.lsn));
        // A key colliding with m1's (planted: 64-bit collisions do not happen in a test) points
        // at a record of another send, which the confirmation rejects.
        let other = s.dedup_key("c", 2, "m2").unwrap();
        s.dedup.insert_key(other, a.lsn);
        assert_eq!(s.find_client_msg_no("c", 2, "m2"), None);
        assert_eq!(s.find_dedup_key(other, "c", 2, "m2"), None);
        // Another channel or channel type with the same client_msg_no is another send.
        let k = s.dedup_key("c", 1, "m1").unwrap();
        s.dedup.insert_key(k, a.lsn);
        assert_eq!(s.find_dedup_key(k, "c", 1, "m1"), None);
        // A position that holds no record is no match either.
        let gone = s.dedup_key("d", 2, "m3").unwrap();
        s.dedup.insert_key(gone, a.lsn + (1 << 20));
        assert_eq!(s.find_dedup_key(gone, "d", 2, "m3"), None);
    }
}
