//! Index checkpoint files: one `<base>.idx` per segment, so start-up loads compact index
//! entries instead of rescanning the segment.
//!
//! A checkpoint covers the first `covered` bytes of its segment and is written only once those
//! bytes are durable; it is written to a temp file, fsynced, renamed and its directory fsynced
//! (unless the sync policy is `None`), so after a power cut a sealed segment still has its
//! checkpoint and a restart still rescans at most the active segment. A lost or torn
//! checkpoint would not lose data: it fails its CRC and the segment is rescanned.
//!
//! Layout (little endian): magic `JDIX`, u32 version, u64 base, u64 covered, i64 newest_ts,
//! u32 channel count, channels (`u8 type, u16 len, id bytes`), u32 entry count, entries
//! (`u32 channel, u64 seq, u32 offset, i64 message_id`), u32 crc32c of all before.

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

const MAGIC: &[u8; 4] = b"JDIX";
const VERSION: u32 = 1;

/// One indexed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Index into the checkpoint's channel table.
    pub channel: u32,
    /// message_seq.
    pub seq: u64,
    /// Offset of the record in the segment.
    pub offset: u32,
    /// message_id.
    pub message_id: i64,
}

/// The content of one checkpoint file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Base LSN of the segment.
    pub base: u64,
    /// Bytes of the segment covered.
    pub covered: u64,
    /// Newest record time in the covered part.
    pub newest_ts: i64,
    /// Channel table: (channel_id, channel_type).
    pub channels: Vec<(String, u8)>,
    /// Records in LSN order.
    pub entries: Vec<Entry>,
}

/// Path of the checkpoint of the segment at `base`.
pub fn path_for(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.idx"))
}

/// Parses a checkpoint file name.
pub fn parse_name(name: &str) -> Option<u64> {
    let d = name.strip_suffix(".idx")?;
    if d.len() != 20 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// Bytes a checkpoint is encoded and written in at a time.
const ENCODE_CHUNK: usize = 64 * 1024;

/// Bytes of one encoded entry: channel u32, seq u64, offset u32, message id i64.
const ENTRY_BYTES: usize = 24;

impl Checkpoint {
    /// Serializes into memory (tests and small checkpoints; files are streamed by
    /// [`Checkpoint::write`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40 + self.entries.len() * ENTRY_BYTES);
        self.encode_to(&mut b)
            .expect("writing into a Vec cannot fail");
        b
    }

    /// Serializes into `out` in chunks of [`ENCODE_CHUNK`] bytes, the CRC computed as they
    /// go: a sealed segment's checkpoint (megabytes under load) is never built whole, which
    /// faulted in fresh pages for every byte of it.
    pub fn encode_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut crc = 0u32;
        let mut b = Vec::with_capacity(ENCODE_CHUNK + 512);
        let mut emit = |b: &mut Vec<u8>, force: bool| -> std::io::Result<()> {
            if force || b.len() >= ENCODE_CHUNK {
                crc = crc32c::crc32c_append(crc, b);
                out.write_all(b)?;
                b.clear();
            }
            Ok(())
        };
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.base.to_le_bytes());
        b.extend_from_slice(&self.covered.to_le_bytes());
        b.extend_from_slice(&self.newest_ts.to_le_bytes());
        b.extend_from_slice(&(self.channels.len() as u32).to_le_bytes());
        for (id, ty) in &self.channels {
            b.push(*ty);
            b.extend_from_slice(&(id.len() as u16).to_le_bytes());
            b.extend_from_slice(id.as_bytes());
            emit(&mut b, false)?;
        }
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            b.extend_from_slice(&e.channel.to_le_bytes());
            b.extend_from_slice(&e.seq.to_le_bytes());
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.message_id.to_le_bytes());
            emit(&mut b, false)?;
        }
        emit(&mut b, true)?;
        out.write_all(&crc.to_le_bytes())
    }

    /// Parses, checking the CRC and every bound.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Checkpoint, &'static str> {
        if bytes.len() < 4 {
            return Err("too short");
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| "too short")?);
        if crc32c::crc32c(body) != crc {
            return Err("CRC mismatch");
        }
        let mut r = Reader { b: body };
        if r.take(4)? != MAGIC {
            return Err("bad magic");
        }
        if r.u32()? != VERSION {
            return Err("unknown version");
        }
        let base = r.u64()?;
        let covered = r.u64()?;
        let newest_ts = r.u64()? as i64;
        let nch = r.u32()? as usize;
        let mut channels = Vec::with_capacity(nch.min(1 << 20));
        for _ in 0..nch {
            let ty = r.take(1)?[0];
            let len = u16::from_le_bytes(r.take(2)?.try_into().map_err(|_| "short")?) as usize;
            let id = std::str::from_utf8(r.take(len)?).map_err(|_| "channel id not UTF-8")?;
            channels.push((id.to_string(), ty));
        }
        let n = r.u32()? as usize;
        let mut entries = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            let channel = r.u32()?;
            if channel as usize >= channels.len() {
                return Err("entry names an unknown channel");
            }
            let seq = r.u64()?;
            let offset = r.u32()?;
            if offset as u64 >= covered {
                return Err("entry beyond the covered range");
            }
            let message_id = r.u64()? as i64;
            entries.push(Entry {
                channel,
                seq,
                offset,
                message_id,
            });
        }
        if !r.b.is_empty() {
            return Err("trailing bytes");
        }
        Ok(Checkpoint {
            base,
            covered,
            newest_ts,
            channels,
            entries,
        })
    }

    /// Writes atomically-by-rename into `dir`; when `durable`, the temp file and then the
    /// directory are fsynced (see the module doc).
    pub fn write(&self, dir: &Path, durable: bool) -> Result<()> {
        let path = path_for(dir, self.base);
        let tmp = path.with_extension("idx.tmp");
        crate::dirs::replace_file_with(&tmp, &path, durable, |f| self.encode_to(f))?;
        Ok(())
    }

    /// Reads and validates a checkpoint file.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path)?;
        Checkpoint::decode(&bytes).map_err(|reason| StoreError::BadFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], &'static str> {
        if self.b.len() < n {
            return Err("truncated");
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> std::result::Result<u32, &'static str> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "short")?,
        ))
    }
    fn u64(&mut self) -> std::result::Result<u64, &'static str> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "short")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(n in 0usize..50, ts in any::<i64>()) {
            let cp = Checkpoint {
                base: 4096,
                covered: 1 << 20,
                newest_ts: ts,
                channels: vec![("a".into(), 1), ("grp".into(), 2)],
                entries: (0..n).map(|i| Entry { channel: (i % 2) as u32, seq: i as u64 + 1, offset: (i * 32) as u32, message_id: i as i64 * 7 }).collect(),
            };
            let b = cp.encode();
            prop_assert_eq!(Checkpoint::decode(&b).unwrap(), cp);
            for cut in [0, 1, b.len() / 2, b.len() - 1] {
                prop_assert!(Checkpoint::decode(&b[..cut]).is_err());
            }
        }
    }

    #[test]
    fn a_file_written_in_many_chunks_reads_back() {
        let n = 3 * ENCODE_CHUNK / ENTRY_BYTES + 17;
        let cp = Checkpoint {
            base: 1 << 26,
            covered: 1 << 25,
            newest_ts: 1_700_000_000,
            channels: (0..300).map(|i| (format!("channel-{i}"), 2)).collect(),
            entries: (0..n)
                .map(|i| Entry {
                    channel: (i % 300) as u32,
                    seq: i as u64 / 300 + 1,
                    offset: (i * 48) as u32,
                    message_id: i as i64,
                })
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        cp.write(dir.path(), true).unwrap();
        let path = path_for(dir.path(), cp.base);
        let written = std::fs::read(&path).unwrap();
        assert!(
            written.len() > 3 * ENCODE_CHUNK,
            "the file spans several chunks"
        );
        assert_eq!(written, cp.encode());
        assert_eq!(Checkpoint::read(&path).unwrap(), cp);
    }
}
