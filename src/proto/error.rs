//! Typed errors of the codec. Any [`DecodeError`] means the peer violated the protocol and the
//! connection should be closed; [`EncodeError`] means we tried to build an unrepresentable packet.

use super::types::{PacketType, ReasonCode};
use std::fmt;

/// Why bytes from a peer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The header's type nibble is 0 (reserved) or 13–15.
    UnknownPacketType(u8),
    /// The remaining-length varint continues past four bytes.
    MalformedLength,
    /// The announced remaining length exceeds the decoder's `max_frame`
    /// (detected from the header alone, before the body is buffered).
    FrameTooLarge {
        /// Announced body length (or a lower bound of it).
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The body ended before a fixed-size field.
    Truncated {
        /// Packet being decoded.
        packet: PacketType,
        /// Field that did not fit.
        field: &'static str,
    },
    /// A string's u16 length prefix points past the end of the body.
    StringOverflow {
        /// Packet being decoded.
        packet: PacketType,
        /// Field whose length was bad.
        field: &'static str,
        /// Announced string length.
        len: usize,
    },
    /// A text field is not valid UTF-8.
    InvalidUtf8 {
        /// Packet being decoded.
        packet: PacketType,
        /// Offending field.
        field: &'static str,
    },
    /// [`Decoder::decode_connect`](super::Decoder::decode_connect) saw another packet first.
    ExpectedConnect(PacketType),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPacketType(t) => write!(f, "unknown or reserved packet type {t}"),
            Self::MalformedLength => f.write_str("remaining length varint longer than 4 bytes"),
            Self::FrameTooLarge { len, max } => {
                write!(f, "remaining length {len} exceeds maximum {max}")
            }
            Self::Truncated { packet, field } => {
                write!(f, "{packet} body too short for field {field}")
            }
            Self::StringOverflow { packet, field, len } => {
                write!(
                    f,
                    "{packet} string {field} of length {len} runs past the body"
                )
            }
            Self::InvalidUtf8 { packet, field } => write!(f, "{packet} field {field} is not UTF-8"),
            Self::ExpectedConnect(t) => write!(f, "first packet must be CONNECT, got {t}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded (a bug or unvalidated input on our side, never peer data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string is longer than the u16 length prefix allows (65 535 bytes).
    StringTooLong {
        /// Field name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The body is longer than a 4-byte remaining length can express (268 435 455).
    BodyTooLarge(usize),
    /// `message_seq` does not fit the u32 used by protocol versions ≤ 5.
    SeqTooLarge(u64),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StringTooLong { field, len } => {
                write!(f, "string {field} of {len} bytes exceeds 65535")
            }
            Self::BodyTooLarge(n) => write!(f, "body of {n} bytes exceeds the varint maximum"),
            Self::SeqTooLarge(s) => write!(f, "message_seq {s} does not fit u32 (version <= 5)"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why the encryption handshake or a payload operation failed (spec §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// CONNECT carried an empty client_key (answer with reason 21).
    ClientKeyEmpty,
    /// client_key / server_key is not base64 or decodes to fewer than 32 bytes (reason 2).
    BadPublicKey,
    /// Salt (IV) shorter than 16 bytes.
    BadSalt,
    /// Payload is not valid base64.
    BadBase64,
    /// Ciphertext length is not a positive multiple of 16, or PKCS#7 padding is wrong.
    BadPadding,
    /// msg_key did not match (SENDACK reason 8).
    MsgKeyMismatch,
}

impl CryptoError {
    /// The reason code a server reports for this failure (CONNACK or SENDACK).
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            Self::ClientKeyEmpty => ReasonCode::CLIENT_KEY_IS_EMPTY,
            Self::BadPublicKey | Self::BadSalt => ReasonCode::AUTH_FAIL,
            Self::BadBase64 | Self::BadPadding => ReasonCode::PAYLOAD_DECODE_ERROR,
            Self::MsgKeyMismatch => ReasonCode::MSG_KEY_ERROR,
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientKeyEmpty => "client_key is empty",
            Self::BadPublicKey => "public key is not base64 of at least 32 bytes",
            Self::BadSalt => "salt shorter than 16 bytes",
            Self::BadBase64 => "payload is not valid base64",
            Self::BadPadding => "ciphertext length or PKCS#7 padding invalid",
            Self::MsgKeyMismatch => "msg_key mismatch",
        })
    }
}

impl std::error::Error for CryptoError {}
