//! The benchmark payload: a fixed header (magic, run id, sender, sequence number, send
//! timestamp) padded to `--size`. Timestamps are nanoseconds since the process-wide epoch, so
//! sender and receiver (same process) share the clock.

/// Header bytes: magic (4) + run id (4) + sender (4) + seq (8) + timestamp (8).
pub const HEADER_LEN: usize = 28;
const MAGIC: [u8; 4] = *b"JDB1";

/// The decoded header of one benchmark message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Run id (messages of other runs are ignored).
    pub run: u32,
    /// Global index of the sending connection.
    pub sender: u32,
    /// Per-sender sequence number, from 1.
    pub seq: u64,
    /// Send time (intended time in open-loop mode), ns since the epoch.
    pub ts_ns: u64,
}

/// Writes a payload of exactly `size` bytes (≥ [`HEADER_LEN`]) into `out`.
pub fn write(out: &mut Vec<u8>, h: &Header, size: usize) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&h.run.to_be_bytes());
    out.extend_from_slice(&h.sender.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.ts_ns.to_be_bytes());
    out.resize(size.max(HEADER_LEN), b'x');
}

/// Parses a payload; `None` if it is not one of ours.
pub fn parse(p: &[u8]) -> Option<Header> {
    if p.len() < HEADER_LEN || p[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(p[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_be_bytes(p[i..i + 8].try_into().unwrap_or_default());
    Some(Header {
        run: u32_at(4),
        sender: u32_at(8),
        seq: u64_at(12),
        ts_ns: u64_at(20),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_padding() {
        let h = Header {
            run: 7,
            sender: 42,
            seq: 1 << 40,
            ts_ns: 123_456_789,
        };
        let mut v = Vec::new();
        write(&mut v, &h, 64);
        assert_eq!(v.len(), 64);
        assert_eq!(parse(&v), Some(h));
        write(&mut v, &h, 3);
        assert_eq!(v.len(), HEADER_LEN);
        assert_eq!(parse(&v), Some(h));
        assert_eq!(parse(b"hello"), None);
        assert_eq!(parse(&[0u8; 40]), None);
    }
}
