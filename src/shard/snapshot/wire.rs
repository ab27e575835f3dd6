//! The primitive encodings of a meta snapshot: LEB128 varints, length-prefixed UTF-8 strings,
//! and `u32` counts written as placeholders and patched once the entries are written. The
//! reader checks every length against the bytes left, so a malformed snapshot is an error,
//! never a panic or a huge allocation.

/// Appends snapshot primitives to a byte buffer.
#[derive(Default)]
pub struct Writer {
    /// The encoded bytes.
    pub buf: Vec<u8>,
}

impl Writer {
    /// A writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// An unsigned LEB128 varint.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A string: varint length, then its bytes.
    pub fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A `u32` count to be filled in by [`Writer::patch_count`]; returns its position.
    pub fn count_placeholder(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Fills in a count written by [`Writer::count_placeholder`].
    pub fn patch_count(&mut self, at: usize, n: u32) {
        self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    /// A `u32` count known up front.
    pub fn known_count(&mut self, n: u32) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Drops everything written after `len` (an entry that turned out empty).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }
}

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads snapshot primitives from a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn err(&self, what: &str) -> WireError {
        WireError(format!("{what} at byte {}", self.pos))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err("truncated byte"))?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    /// A string written by [`Writer::str`].
    pub fn str(&mut self) -> Result<&'a str, WireError> {
        let len = self.varint()?;
        if len > self.remaining() as u64 {
            return Err(self.err("string longer than the snapshot"));
        }
        let len = len as usize;
        let bytes = &self.buf[self.pos..self.pos + len];
        let s = std::str::from_utf8(bytes).map_err(|_| self.err("string is not UTF-8"))?;
        self.pos += len;
        Ok(s)
    }

    /// A count written by [`Writer::count_placeholder`]. Every counted entry takes at least
    /// `min_entry` bytes, so a count the remaining bytes cannot hold is refused here (no
    /// allocation is ever sized by an unchecked count).
    pub fn count(&mut self, min_entry: usize) -> Result<usize, WireError> {
        if self.remaining() < 4 {
            return Err(self.err("truncated count"));
        }
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.buf[self.pos..self.pos + 4]);
        self.pos += 4;
        let n = u32::from_le_bytes(b) as usize;
        if n.saturating_mul(min_entry.max(1)) > self.remaining() {
            return Err(self.err("count larger than the snapshot"));
        }
        Ok(n)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn primitives_round_trip(vs in proptest::collection::vec(any::<u64>(), 0..50), s in ".*") {
            let mut w = Writer::default();
            let at = w.count_placeholder();
            for v in &vs {
                w.varint(*v);
            }
            w.str(&s);
            w.patch_count(at, vs.len() as u32);
            let mut r = Reader::new(&w.buf);
            let n = r.count(1).unwrap();
            prop_assert_eq!(n, vs.len());
            for v in &vs {
                prop_assert_eq!(r.varint().unwrap(), *v);
            }
            prop_assert_eq!(r.str().unwrap(), s.as_str());
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            for _ in 0..16 {
                let _ = r.count(1);
                let _ = r.str();
                let _ = r.varint();
            }
        }
    }

    #[test]
    fn oversized_counts_and_lengths_are_refused() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x7f, 1]);
        assert!(r.count(1).is_err());
        let mut r = Reader::new(&[0x80, 0x80, 0x04, b'a']);
        assert!(r.str().is_err());
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().is_err());
    }
}
