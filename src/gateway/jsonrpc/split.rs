//! Cuts a byte stream into JSON objects written back to back (spec wukongim-2.2.5 §2.1: TCP
//! carries them with no delimiter; a WebSocket message is parsed the same way). The scan is
//! incremental: bytes already looked at are not scanned again when more arrive, and an object
//! that grows past the size limit is an error before more of it is buffered.

use bytes::{Bytes, BytesMut};

/// Why the stream cannot be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// The next value does not start with `{` (no object boundary can be found after it).
    NotObject(u8),
    /// An object is longer than the limit.
    TooLarge(usize),
    /// More `}`/`]` than openers, or nesting deeper than [`MAX_DEPTH`].
    Unbalanced,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotObject(b) => {
                write!(f, "a JSON-RPC message must be an object, got byte {b:#04x}")
            }
            Self::TooLarge(max) => write!(f, "a JSON-RPC message is longer than {max} bytes"),
            Self::Unbalanced => f.write_str("unbalanced or too deeply nested JSON"),
        }
    }
}

/// Deepest nesting accepted (serde_json refuses beyond 128 anyway).
pub const MAX_DEPTH: u32 = 128;

/// Whitespace JSON allows between values.
pub fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The scan state of the object being cut (reset after each one).
#[derive(Debug, Default)]
pub struct Splitter {
    /// Bytes of the current object already scanned.
    /// (u32: a session's buffer never holds 4 GiB; `max` ends an object long before.)
    pos: u32,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Splitter {
    /// Takes the next complete object off the front of `buf` (leading whitespace is dropped);
    /// `None` if it is not complete yet. `max` bounds one object's length.
    pub fn next(&mut self, buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, SplitError> {
        if self.pos == 0 {
            let skip = buf.iter().take_while(|b| is_json_space(**b)).count();
            let _ = buf.split_to(skip);
            match buf.first() {
                None => return Ok(None),
                Some(b'{') => {}
                Some(other) => return Err(SplitError::NotObject(*other)),
            }
        }
        while (self.pos as usize) < buf.len() {
            let b = buf[self.pos as usize];
            self.pos += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(SplitError::Unbalanced);
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or(SplitError::Unbalanced)?;
                    if self.depth == 0 {
                        let len = self.pos as usize;
                        *self = Splitter::default();
                        if len > max {
                            return Err(SplitError::TooLarge(max));
                        }
                        return Ok(Some(buf.split_to(len).freeze()));
                    }
                }
                _ => {}
            }
        }
        if self.pos as usize > max {
            return Err(SplitError::TooLarge(max));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> (Vec<String>, Result<(), SplitError>) {
        let mut s = Splitter::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match s.next(&mut buf, max) {
                Ok(Some(v)) => out.push(String::from_utf8(v.to_vec()).unwrap()),
                Ok(None) => return (out, Ok(())),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    #[test]
    fn cuts_back_to_back_objects_with_braces_in_strings() {
        let (v, r) = all(br#" {"a":"}{\"x"} {"b":[1,{"c":"]"}]}{}"#, 1024);
        assert_eq!(r, Ok(()));
        assert_eq!(v, [r#"{"a":"}{\"x"}"#, r#"{"b":[1,{"c":"]"}]}"#, "{}"]);
    }

    #[test]
    fn incomplete_objects_wait_and_resume_byte_by_byte() {
        let input = br#"{"id":"1","params":{"s":"a\\"}}{"id":"2"}"#;
        let mut s = Splitter::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in input {
            buf.extend_from_slice(&[*b]);
            while let Some(v) = s.next(&mut buf, 1024).unwrap() {
                out.push(v);
            }
        }
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0][..], br#"{"id":"1","params":{"s":"a\\"}}"#);
        assert_eq!(&out[1][..], br#"{"id":"2"}"#);
    }

    #[test]
    fn refuses_non_objects_oversize_and_unbalanced() {
        assert_eq!(all(b"[1]", 100).1, Err(SplitError::NotObject(b'[')));
        assert_eq!(
            all(b"{} x", 100),
            (vec!["{}".into()], Err(SplitError::NotObject(b'x')))
        );
        // An unfinished object is refused as soon as it passes the limit.
        assert_eq!(
            all(br#"{"aaaaaaaaaaaaa"#, 8).1,
            Err(SplitError::TooLarge(8))
        );
        assert_eq!(
            all(br#"{"a":"bbbbbbbbbbbb"}"#, 8).1,
            Err(SplitError::TooLarge(8))
        );
        assert_eq!(
            all(&b"{".repeat(200), 10_000).1,
            Err(SplitError::Unbalanced)
        );
        // Brackets are only counted: `{]` is cut as a value (and refused by the JSON parser).
        assert_eq!(
            all(b"{]]", 100),
            (vec!["{]".into()], Err(SplitError::NotObject(b']')))
        );
    }
}
