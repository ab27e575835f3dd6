//! Record framing: `[u32 len][u32 crc32c][u8 kind][7 × pad][payload][pad to 16]`.
//!
//! `len` is the header plus payload length (never below [`HEADER`]), so a zero length word marks
//! the end of the written part of a preallocated (zeroed) segment. The CRC covers the length
//! word, the kind/pad bytes and the payload. Record starts and payloads are 16-byte aligned so a
//! reader can `rkyv::access` the payload in place.

/// Size of the record header; payloads start this far after the record start.
pub const HEADER: usize = 16;
/// Alignment of record starts and payloads.
pub const ALIGN: usize = 16;

/// Rounds `n` up to the record alignment.
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Bytes a record with `payload_len` bytes of payload occupies, padding included.
#[inline]
pub const fn framed_len(payload_len: usize) -> usize {
    align_up(HEADER + payload_len)
}

/// CRC of a record: its length word, its kind/pad bytes and its payload.
#[inline]
pub fn record_crc(len_word: [u8; 4], kind_pad: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&len_word);
    let c = crc32c::crc32c_append(c, kind_pad);
    crc32c::crc32c_append(c, payload)
}

/// Writes a record at the start of `dst` (which must hold `framed_len(payload.len())` bytes):
/// payload first, header last, so a process killed mid-copy leaves a zero length word.
pub fn encode(dst: &mut [u8], kind: u8, payload: &[u8]) -> usize {
    assert!(kind != 0, "record kind 0 is reserved");
    let total = framed_len(payload.len());
    assert!(dst.len() >= total, "record does not fit its destination");
    debug_assert_eq!(dst.as_ptr() as usize % ALIGN, 0, "record start misaligned");
    let len = (HEADER + payload.len()) as u32;
    dst[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    dst[HEADER + payload.len()..total].fill(0);
    let mut kind_pad = [0u8; 8];
    kind_pad[0] = kind;
    let crc = record_crc(len.to_le_bytes(), &kind_pad, payload);
    dst[4..8].copy_from_slice(&crc.to_le_bytes());
    dst[8..16].copy_from_slice(&kind_pad);
    // The length word goes last: until it is there, readers see the end of the log.
    dst[0..4].copy_from_slice(&len.to_le_bytes());
    total
}

/// What lies at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid record.
    Record {
        /// Kind byte (never 0).
        kind: u8,
        /// Payload (16-byte aligned if `src` was).
        payload: &'a [u8],
        /// Bytes to the next record start.
        framed: usize,
    },
    /// A zero length word: nothing written here yet.
    End,
    /// A length or CRC that does not check out.
    Bad(&'static str),
}

/// Decodes the record at the start of `src` (the rest of the segment).
pub fn decode(src: &[u8]) -> Decoded<'_> {
    if src.len() < HEADER {
        // Too little room left for a header: only zeros may be here.
        return if src.iter().all(|&b| b == 0) {
            Decoded::End
        } else {
            Decoded::Bad("garbage after the last record")
        };
    }
    let len_word = [src[0], src[1], src[2], src[3]];
    let len = u32::from_le_bytes(len_word) as usize;
    if len == 0 {
        return Decoded::End;
    }
    if len < HEADER {
        return Decoded::Bad("length shorter than a header");
    }
    let framed = align_up(len);
    if framed > src.len() {
        return Decoded::Bad("length runs past the end of the segment");
    }
    let kind = src[8];
    if kind == 0 {
        return Decoded::Bad("reserved kind 0");
    }
    let stored_crc = u32::from_le_bytes([src[4], src[5], src[6], src[7]]);
    let payload = &src[HEADER..len];
    if record_crc(len_word, &src[8..16], payload) != stored_crc {
        return Decoded::Bad("CRC mismatch");
    }
    Decoded::Record {
        kind,
        payload,
        framed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[repr(align(16))]
    struct Buf([u8; 4096]);

    proptest! {
        #[test]
        fn round_trip(kind in 1u8.., payload in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let mut b = Buf([0; 4096]);
            let n = encode(&mut b.0, kind, &payload);
            prop_assert_eq!(n % ALIGN, 0);
            prop_assert_eq!(n, framed_len(payload.len()));
            match decode(&b.0) {
                Decoded::Record { kind: k, payload: p, framed } => {
                    prop_assert_eq!(k, kind);
                    prop_assert_eq!(p, &payload[..]);
                    prop_assert_eq!(framed, n);
                    prop_assert_eq!(p.as_ptr() as usize % ALIGN, 0);
                }
                other => prop_assert!(false, "decoded {:?}", other),
            }
            prop_assert_eq!(decode(&b.0[n..]), Decoded::End);
        }

        #[test]
        fn any_flipped_bit_is_detected(payload in proptest::collection::vec(any::<u8>(), 1..300), bit in any::<usize>()) {
            let mut b = Buf([0; 4096]);
            let n = encode(&mut b.0, 7, &payload);
            let len = HEADER + payload.len();
            let bit = bit % (len * 8);
            b.0[bit / 8] ^= 1 << (bit % 8);
            match decode(&b.0[..n + 64]) {
                Decoded::Record { .. } => prop_assert!(false, "flip at bit {} undetected", bit),
                Decoded::End | Decoded::Bad(_) => {}
            }
        }
    }

    #[test]
    fn short_tail() {
        assert_eq!(decode(&[0u8; 8]), Decoded::End);
        assert!(matches!(decode(&[1u8; 8]), Decoded::Bad(_)));
    }
}
