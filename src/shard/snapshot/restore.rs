//! Loading a shard's metadata at start-up: the latest snapshot, then the ops logged after it.

use super::Counts;
use crate::shard::meta::{MetaRecord, OwnedMeta, KIND_JSON};
use jindou_storage::MetaLog;

/// What [`restore`] loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Restored {
    /// Size of the snapshot loaded (0: none).
    pub snapshot_bytes: usize,
    /// Ops below this LSN came from the snapshot.
    pub snapshot_lsn: u64,
    /// What the snapshot held.
    pub counts: Counts,
    /// Ops replayed after it.
    pub replayed: usize,
}

/// Rebuilds the state the meta log holds into empty state: loads the snapshot (freeing its
/// bytes) and applies every op after it. An unreadable snapshot or op stops start-up.
pub fn restore(meta: &mut MetaLog, into: &mut OwnedMeta<'_>) -> Result<Restored, String> {
    let mut out = Restored::default();
    if let Some(snap) = meta.take_snapshot() {
        out.snapshot_bytes = snap.bytes.len();
        out.snapshot_lsn = snap.lsn;
        out.counts = super::decode(&snap.bytes, into)
            .map_err(|e| format!("the meta snapshot (LSN {}) is unreadable: {e}", snap.lsn))?;
    }
    for op in meta.replay() {
        let op = op.map_err(|e| e.to_string())?;
        if op.kind != KIND_JSON {
            continue;
        }
        let rec: MetaRecord = serde_json::from_slice(op.bytes)
            .map_err(|e| format!("meta record at {} is unreadable: {e}", op.lsn))?;
        rec.apply_owned(into);
        out.replayed += 1;
    }
    Ok(out)
}
