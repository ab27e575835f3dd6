//! MQTT-style "remaining length" variable-length integer (spec §3.3).
//!
//! Seven value bits per byte, least-significant group first, bit 7 set on every byte except the
//! last, at most four bytes (so at most 268 435 455).

use bytes::BufMut;

/// Largest value four varint bytes can carry; the encoder refuses bodies above it.
pub const MAX_VARINT: usize = 0x0FFF_FFFF;

/// Longest legal encoding, in bytes.
pub const MAX_VARINT_BYTES: usize = 4;

/// Outcome of reading a remaining length from the start of a (possibly partial) buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintRead {
    /// A complete value and the number of bytes it occupied.
    Done {
        /// Decoded value.
        value: usize,
        /// Bytes consumed (1–4).
        len: usize,
    },
    /// The buffer ends inside the varint; `so_far` is the value of the groups seen (a lower bound).
    Incomplete {
        /// Value accumulated from the bytes present.
        so_far: usize,
    },
    /// A fourth byte still had its continuation bit set; `so_far` is the value of the four groups.
    Malformed {
        /// Value accumulated from the four bytes.
        so_far: usize,
    },
}

/// Reads a remaining length from the start of `buf` without consuming anything.
pub fn read_varint(buf: &[u8]) -> VarintRead {
    let mut value = 0usize;
    for (i, &b) in buf.iter().take(MAX_VARINT_BYTES).enumerate() {
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return VarintRead::Done { value, len: i + 1 };
        }
    }
    if buf.len() >= MAX_VARINT_BYTES {
        VarintRead::Malformed { so_far: value }
    } else {
        VarintRead::Incomplete { so_far: value }
    }
}

/// Number of bytes `value` takes when encoded (1 for zero: we write `00`, spec §3.3).
pub const fn varint_len(value: usize) -> usize {
    if value < 0x80 {
        1
    } else if value < 0x4000 {
        2
    } else if value < 0x20_0000 {
        3
    } else {
        4
    }
}

/// Appends the encoding of `value`; callers guarantee `value <= MAX_VARINT`.
pub fn write_varint<B: BufMut>(out: &mut B, value: usize) {
    debug_assert!(value <= MAX_VARINT);
    let mut v = value;
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_spec() {
        for (v, hex) in [
            (0usize, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16383, &[0xFF, 0x7F]),
            (16384, &[0x80, 0x80, 0x01]),
            (1_048_576, &[0x80, 0x80, 0x40]),
            (MAX_VARINT, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out, hex, "encode {v}");
            assert_eq!(varint_len(v), hex.len());
            assert_eq!(
                read_varint(hex),
                VarintRead::Done {
                    value: v,
                    len: hex.len()
                }
            );
        }
    }

    #[test]
    fn partial_and_malformed() {
        assert_eq!(read_varint(&[]), VarintRead::Incomplete { so_far: 0 });
        assert_eq!(
            read_varint(&[0x80, 0x80]),
            VarintRead::Incomplete { so_far: 0 }
        );
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF]),
            VarintRead::Malformed { so_far: MAX_VARINT }
        );
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            VarintRead::Malformed { so_far: 0 }
        );
    }
}
