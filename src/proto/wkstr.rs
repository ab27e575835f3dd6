//! [`WkStr`]: a wire string that shares the receive buffer instead of copying it.

use bytes::Bytes;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// UTF-8 text backed by [`Bytes`], so decoded strings (uid, channel id, …) are zero-copy slices
/// of the frame they came from. The UTF-8 check happens once, at construction.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WkStr(Bytes);

impl WkStr {
    /// The empty string (no allocation).
    pub const EMPTY: Self = Self(Bytes::from_static(b""));

    /// Validates `bytes` as UTF-8 and wraps them without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps a static string (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// Copies a borrowed string into a new buffer.
    pub fn copy_from_str(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The first `len` bytes, sharing the buffer (no copy). `len` must fall on a character
    /// boundary.
    pub fn prefix(&self, len: usize) -> Self {
        assert!(
            self.as_str().is_char_boundary(len),
            "a prefix ends on a character boundary"
        );
        Self(self.0.slice(..len))
    }

    /// `part`, a substring borrowed from this string, sharing the buffer (no copy). Panics if
    /// `part` does not lie within it.
    pub fn part(&self, part: &str) -> Self {
        Self(self.0.slice_ref(part.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either validated the bytes as UTF-8 (`from_utf8`) or took
        // them from a `str`/`String`; the bytes are immutable afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The raw UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared buffer, e.g. to store it without copying.
    pub fn as_raw(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps the shared buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for WkStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for WkStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for WkStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for WkStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Hash like `str` so that `Borrow<str>` lookups in hash maps are consistent.
impl Hash for WkStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<&'static str> for WkStr {
    fn from(s: &'static str) -> Self {
        Self::from_static(s)
    }
}

impl From<String> for WkStr {
    fn from(s: String) -> Self {
        Self(Bytes::from(s.into_bytes()))
    }
}

impl From<WkStr> for Bytes {
    fn from(s: WkStr) -> Bytes {
        s.0
    }
}

impl PartialEq<str> for WkStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for WkStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<WkStr> for str {
    fn eq(&self, other: &WkStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<WkStr> for &str {
    fn eq(&self, other: &WkStr) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Display for WkStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for WkStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn validates_and_borrows() {
        assert!(WkStr::from_utf8(Bytes::from_static(b"\xff")).is_err());
        let s = WkStr::from_utf8(Bytes::from_static("héllo".as_bytes())).unwrap();
        assert_eq!(s, "héllo");
        let mut m = HashMap::new();
        m.insert(WkStr::from(String::from("k")), 1);
        assert_eq!(m.get("k"), Some(&1));
        assert_eq!(WkStr::EMPTY.len(), 0);
        assert_eq!(format!("{s} {s:?}"), "héllo \"héllo\"");
    }
}
