//! A little-endian codec for openraft's types, for the node links and the raft log (no serde):
//! every read checks its length first, so a bad frame is an error, never a panic.
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io;

use bytes::{Buf, BufMut, Bytes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{EmptyNode, EntryPayload};

use super::types::*;

/// An error for malformed input.
pub fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A reader over a frame.
pub struct Rd<'a>(pub &'a [u8]);

impl<'a> Rd<'a> {
    fn need(&self, n: usize) -> io::Result<()> {
        if self.0.len() < n {
            Err(bad("short frame"))
        } else {
            Ok(())
        }
    }
    pub fn u8(&mut self) -> io::Result<u8> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    pub fn u16(&mut self) -> io::Result<u16> {
        self.need(2)?;
        Ok(self.0.get_u16_le())
    }
    pub fn u32(&mut self) -> io::Result<u32> {
        self.need(4)?;
        Ok(self.0.get_u32_le())
    }
    pub fn u64(&mut self) -> io::Result<u64> {
        self.need(8)?;
        Ok(self.0.get_u64_le())
    }
    pub fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        self.need(n)?;
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub fn bytes(&mut self) -> io::Result<Bytes> {
        let n = self.u32()? as usize;
        self.need(n)?;
        let b = Bytes::copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(b)
    }
}

pub fn put_leader(b: &mut Vec<u8>, l: &LeaderId) {
    b.put_u64_le(l.term);
    b.put_u64_le(l.node_id);
}
pub fn get_leader(r: &mut Rd) -> io::Result<LeaderId> {
    Ok(LeaderId {
        term: r.u64()?,
        node_id: r.u64()?,
    })
}

pub fn put_vote(b: &mut Vec<u8>, v: &Vote) {
    put_leader(b, &v.leader_id);
    b.put_u8(v.committed as u8);
}
pub fn get_vote(r: &mut Rd) -> io::Result<Vote> {
    let leader_id = get_leader(r)?;
    let committed = r.u8()? != 0;
    Ok(Vote {
        leader_id,
        committed,
    })
}

pub fn put_log_id(b: &mut Vec<u8>, l: &LogId) {
    put_leader(b, &l.leader_id);
    b.put_u64_le(l.index);
}
pub fn get_log_id(r: &mut Rd) -> io::Result<LogId> {
    let leader_id = get_leader(r)?;
    Ok(LogId::new(leader_id, r.u64()?))
}
pub fn put_olog_id(b: &mut Vec<u8>, l: &Option<LogId>) {
    match l {
        None => b.put_u8(0),
        Some(l) => {
            b.put_u8(1);
            put_log_id(b, l)
        }
    }
}
pub fn get_olog_id(r: &mut Rd) -> io::Result<Option<LogId>> {
    Ok(if r.u8()? == 0 {
        None
    } else {
        Some(get_log_id(r)?)
    })
}

pub fn put_membership(b: &mut Vec<u8>, m: &Membership) {
    let cfgs = m.get_joint_config();
    b.put_u8(cfgs.len() as u8);
    for c in cfgs {
        b.put_u16_le(c.len() as u16);
        for id in c {
            b.put_u64_le(*id);
        }
    }
    let nodes: Vec<u64> = m.nodes().map(|(id, _)| *id).collect();
    b.put_u16_le(nodes.len() as u16);
    for id in nodes {
        b.put_u64_le(id);
    }
}
pub fn get_membership(r: &mut Rd) -> io::Result<Membership> {
    let n = r.u8()?;
    let mut cfgs = Vec::with_capacity((n as usize).min(r.0.len()));
    for _ in 0..n {
        let k = r.u16()?;
        let mut s = BTreeSet::new();
        for _ in 0..k {
            s.insert(r.u64()?);
        }
        cfgs.push(s);
    }
    let k = r.u16()?;
    let mut nodes = BTreeMap::new();
    for _ in 0..k {
        nodes.insert(r.u64()?, EmptyNode {});
    }
    Membership::new(cfgs, nodes).map_err(|e| bad(&e.to_string()))
}
pub fn put_stored_membership(b: &mut Vec<u8>, m: &StoredMembership) {
    put_olog_id(b, m.log_id());
    put_membership(b, m.membership());
}
pub fn get_stored_membership(r: &mut Rd) -> io::Result<StoredMembership> {
    let l = get_olog_id(r)?;
    Ok(StoredMembership::new(l, get_membership(r)?))
}

pub fn put_entry(b: &mut Vec<u8>, e: &Entry) {
    put_log_id(b, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => b.put_u8(0),
        EntryPayload::Normal(c) => {
            b.put_u8(1);
            b.put_u32_le(c.0.len() as u32);
            b.put_slice(&c.0);
        }
        EntryPayload::Membership(m) => {
            b.put_u8(2);
            put_membership(b, m);
        }
    }
}
pub fn get_entry(r: &mut Rd) -> io::Result<Entry> {
    let log_id = get_log_id(r)?;
    let payload = match r.u8()? {
        0 => EntryPayload::Blank,
        1 => EntryPayload::Normal(Cmd(r.bytes()?)),
        2 => EntryPayload::Membership(get_membership(r)?),
        _ => return Err(bad("payload tag")),
    };
    Ok(Entry { log_id, payload })
}

pub fn put_append_req(b: &mut Vec<u8>, q: &AppendEntriesRequest<TC>) {
    put_vote(b, &q.vote);
    put_olog_id(b, &q.prev_log_id);
    put_olog_id(b, &q.leader_commit);
    b.put_u32_le(q.entries.len() as u32);
    for e in &q.entries {
        put_entry(b, e);
    }
}
pub fn get_append_req(r: &mut Rd) -> io::Result<AppendEntriesRequest<TC>> {
    let vote = get_vote(r)?;
    let prev_log_id = get_olog_id(r)?;
    let leader_commit = get_olog_id(r)?;
    let n = r.u32()?;
    // A peer's count is not trusted for the allocation: an entry takes at least 33 bytes.
    let mut entries = Vec::with_capacity((n as usize).min(r.0.len() / 33));
    for _ in 0..n {
        entries.push(get_entry(r)?);
    }
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        leader_commit,
        entries,
    })
}

pub fn put_append_resp(b: &mut Vec<u8>, p: &AppendEntriesResponse<TC>) {
    match p {
        AppendEntriesResponse::Success => b.put_u8(0),
        AppendEntriesResponse::PartialSuccess(l) => {
            b.put_u8(1);
            put_olog_id(b, l)
        }
        AppendEntriesResponse::Conflict => b.put_u8(2),
        AppendEntriesResponse::HigherVote(v) => {
            b.put_u8(3);
            put_vote(b, v)
        }
    }
}
pub fn get_append_resp(r: &mut Rd) -> io::Result<AppendEntriesResponse<TC>> {
    Ok(match r.u8()? {
        0 => AppendEntriesResponse::Success,
        1 => AppendEntriesResponse::PartialSuccess(get_olog_id(r)?),
        2 => AppendEntriesResponse::Conflict,
        3 => AppendEntriesResponse::HigherVote(get_vote(r)?),
        _ => return Err(bad("append resp tag")),
    })
}

pub fn put_vote_req(b: &mut Vec<u8>, q: &VoteRequest<TC>) {
    put_vote(b, &q.vote);
    put_olog_id(b, &q.last_log_id);
    b.put_u8(q.leadership_transfer as u8);
}
pub fn get_vote_req(r: &mut Rd) -> io::Result<VoteRequest<TC>> {
    let vote = get_vote(r)?;
    let last_log_id = get_olog_id(r)?;
    let mut q = VoteRequest::new(vote, last_log_id);
    q.leadership_transfer = r.u8()? != 0;
    Ok(q)
}
pub fn put_vote_resp(b: &mut Vec<u8>, p: &VoteResponse<TC>) {
    put_vote(b, &p.vote);
    b.put_u8(p.vote_granted as u8);
    put_olog_id(b, &p.last_log_id);
}
pub fn get_vote_resp(r: &mut Rd) -> io::Result<VoteResponse<TC>> {
    let vote = get_vote(r)?;
    let granted = r.u8()? != 0;
    let last = get_olog_id(r)?;
    Ok(VoteResponse::new(vote, last, granted))
}

pub fn put_snapshot(b: &mut Vec<u8>, vote: &Vote, s: &Snapshot) {
    put_vote(b, vote);
    put_olog_id(b, &s.meta.last_log_id);
    put_stored_membership(b, &s.meta.last_membership);
    b.put_u32_le(s.snapshot.len() as u32);
    b.put_slice(&s.snapshot);
}
pub fn get_snapshot(r: &mut Rd) -> io::Result<(Vote, Snapshot)> {
    let vote = get_vote(r)?;
    let last_log_id = get_olog_id(r)?;
    let last_membership = get_stored_membership(r)?;
    let data = r.bytes()?;
    Ok((
        vote,
        Snapshot {
            meta: SnapshotMeta {
                last_log_id,
                last_membership,
            },
            snapshot: data,
        },
    ))
}
pub fn put_snapshot_resp(b: &mut Vec<u8>, p: &SnapshotResponse<TC>) {
    put_vote(b, &p.vote);
}
pub fn get_snapshot_resp(r: &mut Rd) -> io::Result<SnapshotResponse<TC>> {
    Ok(SnapshotResponse::new(get_vote(r)?))
}
