//! Recovery at open: find the end of each segment, truncate a torn tail, refuse corruption.
//!
//! Scanning starts at the checkpointed offset of each segment (records before it are trusted).
//! The first record with a bad length or CRC in the LAST segment, with no valid record after
//! it, is a torn tail: it is zeroed and reported with `tracing::warn!`. A bad record followed
//! by valid ones, or any bad record in a sealed segment, is corruption: `open` fails with
//! [`StoreError::Corrupt`] unless `repair` is set, in which case the log is truncated there
//! (later segments deleted) and the loss is reported.

use std::path::PathBuf;

use crate::error::{Result, StoreError};
use crate::record::{self, Decoded, ALIGN, HEADER};
use crate::segment::Segment;

/// What recovery dropped, for logs and tests.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Bytes of records scanned (after checkpoints).
    pub scanned_bytes: u64,
    /// Records scanned.
    pub scanned_records: u64,
    /// A torn tail that was truncated: (segment, offset, bytes zeroed).
    pub torn_tail: Option<(PathBuf, u64, u64)>,
    /// A corruption truncated because `repair` was set: (segment, offset, reason).
    pub repaired: Option<(PathBuf, u64, String)>,
    /// Segment files deleted by a repair.
    pub dropped_segments: Vec<PathBuf>,
}

enum Scan {
    Clean(usize),
    Bad(usize, &'static str),
}

fn scan(seg: &Segment, from: usize, report: &mut RecoveryReport) -> Scan {
    let mut pos = from;
    loop {
        match seg.decode_at(pos) {
            Decoded::Record { framed, .. } => {
                report.scanned_records += 1;
                report.scanned_bytes += framed as u64;
                pos += framed;
            }
            Decoded::End => return Scan::Clean(pos),
            Decoded::Bad(reason) => return Scan::Bad(pos, reason),
        }
    }
}

/// Whether any valid record starts after `pos` in this segment.
fn valid_record_after(seg: &Segment, pos: usize) -> Option<usize> {
    let bytes = seg.bytes();
    let mut q = pos + ALIGN;
    while q + HEADER <= bytes.len() {
        if bytes[q..q + 4] != [0, 0, 0, 0] {
            if let Decoded::Record { .. } = record::decode(&bytes[q..]) {
                return Some(q);
            }
        }
        q += ALIGN;
    }
    None
}

/// Recovers `segments` (sorted by base) in place.
pub fn recover(
    segments: &mut Vec<Segment>,
    checkpoint: &dyn Fn(u64) -> Option<usize>,
    repair: bool,
) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let n = segments.len();
    let mut cut_after: Option<usize> = None;
    for i in 0..n {
        let last = i + 1 == n;
        let seg = &segments[i];
        let start = checkpoint(seg.base())
            .filter(|&o| o % ALIGN == 0 && o <= seg.capacity())
            .unwrap_or(0);
        let outcome = scan(seg, start, &mut report);
        let path = seg.path().to_path_buf();
        match outcome {
            Scan::Clean(end) => {
                if !last {
                    let next = segments[i + 1].base();
                    if seg.base() + end as u64 != next {
                        let reason = format!(
                            "segment ends at LSN {} but the next one starts at {next}",
                            seg.base() + end as u64
                        );
                        if !repair {
                            return Err(StoreError::Corrupt {
                                segment: path,
                                offset: end as u64,
                                reason,
                            });
                        }
                        truncate_for_repair(&mut segments[i], end, reason, &mut report);
                        cut_after = Some(i);
                        break;
                    }
                }
                let seg = &mut segments[i];
                seg.set_write_pos(end);
                if last {
                    // Scrub leftovers of an append interrupted before its header was written.
                    let scrubbed = seg.zero_from(end);
                    if scrubbed > 0 {
                        tracing::warn!(segment = %path.display(), offset = end, bytes = scrubbed,
                            "scrubbed an unfinished append after the last record");
                    }
                }
            }
            Scan::Bad(at, reason) => {
                let after = valid_record_after(seg, at);
                if last && after.is_none() {
                    let seg = &mut segments[i];
                    let zeroed = seg.zero_from(at);
                    seg.set_write_pos(at);
                    tracing::warn!(segment = %path.display(), offset = at, bytes = zeroed, reason,
                        "truncated a torn tail");
                    report.torn_tail = Some((path, at as u64, zeroed as u64));
                } else {
                    let reason = match after {
                        Some(q) => format!("{reason}; valid records follow at offset {q}"),
                        None => format!("{reason} in a sealed segment"),
                    };
                    if !repair {
                        return Err(StoreError::Corrupt {
                            segment: path,
                            offset: at as u64,
                            reason,
                        });
                    }
                    truncate_for_repair(&mut segments[i], at, reason, &mut report);
                    cut_after = Some(i);
                    break;
                }
            }
        }
    }
    if let Some(i) = cut_after {
        for seg in segments.drain(i + 1..) {
            tracing::warn!(segment = %seg.path().display(), "repair: deleting a segment after the corruption");
            std::fs::remove_file(seg.path())?;
            report.dropped_segments.push(seg.path().to_path_buf());
        }
    }
    Ok(report)
}

fn truncate_for_repair(seg: &mut Segment, at: usize, reason: String, report: &mut RecoveryReport) {
    let zeroed = seg.zero_from(at);
    seg.set_write_pos(at);
    tracing::warn!(segment = %seg.path().display(), offset = at, bytes = zeroed, %reason,
        "repair: truncated the log at a corrupt record");
    report.repaired = Some((seg.path().to_path_buf(), at as u64, reason));
}
