//! The `msg.notify` dead-letter file of a shard: batches the receiver refused with a 4xx
//! (sending them again would be refused again) are parked here so the stream can go on.
//!
//! `<rootDir>/shard-K/webhook.deadletter`, JSON Lines, one line per refused batch:
//!
//! ```text
//! {"time":1700000000000,"shard":0,"reason":"HTTP 400 Bad Request","events":3,"end_lsn":4096,"batch":[…]}
//! ```
//!
//! `batch` is the exact body the receiver refused (the JSON array of `msg.notify`). Each line is
//! appended and fdatasynced before the shard's cursor may move past the batch, so a parked batch
//! survives a power cut (unless `storage.syncPolicy` is `none`). The file is capped at
//! `webhook.deadLetterMaxSize` (default 64 MiB): a line that would cross the cap is not written,
//! its events are counted (`webhook_deadletter_lost`) and logged, and the stream goes on.
//! Nothing is ever rotated away or deleted by the server: an operator replays the file and then
//! removes or truncates it, which makes room again (the size is read at each append). A crash
//! in the middle of an append can leave a last line without its newline; the next append starts
//! on a fresh line, and readers skip a line that does not parse.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the dead-letter file in the shard's directory.
pub const FILE_NAME: &str = "webhook.deadletter";

/// Where a shard parks refused batches.
#[derive(Clone, Debug)]
pub(crate) struct DeadLetter {
    /// The file.
    pub path: PathBuf,
    /// Size cap in bytes.
    pub max: u64,
    /// fdatasync each line (and the directory when the file is created).
    pub durable: bool,
}

/// What became of a refused batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Written (and synced).
    Yes,
    /// Not written: the file would pass its cap (its size now).
    Full(u64),
}

/// One line of the file: metadata, then the refused body verbatim.
pub(crate) fn line(
    shard: usize,
    reason: &str,
    events: u64,
    end_lsn: u64,
    body: &[u8],
    now_ms: u64,
) -> Vec<u8> {
    let head = serde_json::json!({
        "time": now_ms,
        "shard": shard,
        "reason": reason,
        "events": events,
        "end_lsn": end_lsn,
    })
    .to_string();
    let mut out = Vec::with_capacity(head.len() + body.len() + 12);
    // `head` is a JSON object: reopen it to add the batch as its last field.
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"batch\":");
    out.extend_from_slice(body);
    out.extend_from_slice(b"}\n");
    out
}

impl DeadLetter {
    /// Appends `line` (which ends with a newline) unless the file would pass its cap.
    pub fn park(&self, line: &[u8]) -> std::io::Result<Parked> {
        let existed = self.path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        let len = f.metadata()?.len();
        // A torn last line (crash mid-append): start on a fresh line.
        let mut torn = false;
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            torn = last[0] != b'\n';
        }
        let need = line.len() as u64 + u64::from(torn);
        if len + need > self.max {
            return Ok(Parked::Full(len));
        }
        if torn {
            f.write_all(b"\n")?;
        }
        f.write_all(line)?;
        if self.durable {
            f.sync_data()?;
            if !existed {
                if let Some(dir) = self.path.parent() {
                    jindou_storage::dirs::sync_dir(dir)?;
                }
            }
        }
        Ok(Parked::Yes)
    }
}

/// The dead-letter file of the shard whose directory is `shard_dir`.
pub(crate) fn path_in(shard_dir: &Path) -> PathBuf {
    shard_dir.join(FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dl(dir: &Path, max: u64) -> DeadLetter {
        DeadLetter {
            path: path_in(dir),
            max,
            durable: true,
        }
    }

    #[test]
    fn lines_are_json_with_the_batch_verbatim() {
        let l = line(
            1,
            "HTTP 400 Bad Request",
            2,
            99,
            br#"[{"a":1},{"b":"x"}]"#,
            7,
        );
        assert_eq!(l.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!(v["shard"], 1);
        assert_eq!(v["reason"], "HTTP 400 Bad Request");
        assert_eq!(v["events"], 2);
        assert_eq!(v["end_lsn"], 99);
        assert_eq!(v["time"], 7);
        assert_eq!(v["batch"], serde_json::json!([{"a": 1}, {"b": "x"}]));
    }

    #[test]
    fn parks_until_the_cap_then_refuses() {
        let t = tempfile::tempdir().unwrap();
        let d = dl(t.path(), 100);
        let l = line(0, "r", 1, 1, b"[1]", 0);
        let mut parked = 0;
        loop {
            match d.park(&l).unwrap() {
                Parked::Yes => parked += 1,
                Parked::Full(len) => {
                    assert_eq!(len, parked * l.len() as u64);
                    break;
                }
            }
        }
        assert_eq!(parked, 100 / l.len() as u64);
        let text = std::fs::read_to_string(&d.path).unwrap();
        assert_eq!(text.lines().count() as u64, parked);
        // An operator empties the file: there is room again.
        std::fs::write(&d.path, b"").unwrap();
        assert_eq!(d.park(&l).unwrap(), Parked::Yes);
    }

    #[test]
    fn a_torn_last_line_does_not_swallow_the_next() {
        let t = tempfile::tempdir().unwrap();
        let d = dl(t.path(), 1 << 20);
        std::fs::write(&d.path, b"{\"time\":1,\"sha").unwrap();
        let l = line(0, "r", 1, 1, b"[1]", 0);
        assert_eq!(d.park(&l).unwrap(), Parked::Yes);
        let text = std::fs::read_to_string(&d.path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(serde_json::from_str::<serde_json::Value>(lines[0]).is_err());
        assert!(serde_json::from_str::<serde_json::Value>(lines[1]).is_ok());
    }
}
