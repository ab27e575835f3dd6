//! Small typed values of the wire format: packet types, header flags, the setting byte and the
//! enumerations of spec §8. Open enumerations are `u8` newtypes with named constants so that
//! values unknown to us pass through unchanged.

use std::fmt;

/// Highest protocol version this codec speaks (Go-v3's latest, spec §4).
pub const LATEST_VERSION: u8 = 6;

/// Version the server uses for a connection whose CONNECT announced `client_version`
/// (spec §4: `min(client, latest)`, with 0 meaning "latest" as in Go-v3).
pub const fn negotiate_version(client_version: u8) -> u8 {
    if client_version == 0 || client_version > LATEST_VERSION {
        LATEST_VERSION
    } else {
        client_version
    }
}

/// Whether the CONNACK for a client announcing `client_version` carries the HasServerVersion
/// flag and version byte (spec §4: iff the client's version is above 3).
pub const fn connack_has_server_version(client_version: u8) -> bool {
    client_version > 3
}

/// The packet type in the high nibble of the first header byte (spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client → server, first packet of every connection.
    Connect = 1,
    /// Server → client answer to CONNECT.
    Connack = 2,
    /// Client → server message.
    Send = 3,
    /// Server → client acknowledgement of SEND.
    Sendack = 4,
    /// Server → client delivered message.
    Recv = 5,
    /// Client → server acknowledgement of RECV.
    Recvack = 6,
    /// Client heartbeat (one byte).
    Ping = 7,
    /// Server heartbeat answer (one byte).
    Pong = 8,
    /// Server → client notice before closing.
    Disconnect = 9,
    /// Legacy channel subscription request.
    Sub = 10,
    /// Legacy subscription answer.
    Suback = 11,
    /// Server-pushed event.
    Event = 12,
}

impl PacketType {
    /// Maps a high-nibble code to a type; `None` for 0 (reserved) and 13–15.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Connect,
            2 => Self::Connack,
            3 => Self::Send,
            4 => Self::Sendack,
            5 => Self::Recv,
            6 => Self::Recvack,
            7 => Self::Ping,
            8 => Self::Pong,
            9 => Self::Disconnect,
            10 => Self::Sub,
            11 => Self::Suback,
            12 => Self::Event,
            _ => return None,
        })
    }

    /// The 4-bit wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Upper-case protocol name, for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Connack => "CONNACK",
            Self::Send => "SEND",
            Self::Sendack => "SENDACK",
            Self::Recv => "RECV",
            Self::Recvack => "RECVACK",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Disconnect => "DISCONNECT",
            Self::Sub => "SUB",
            Self::Suback => "SUBACK",
            Self::Event => "EVENT",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! bitset_common {
    ($t:ident) => {
        impl $t {
            /// The empty set.
            pub const EMPTY: Self = Self(0);

            /// Wraps raw bits unchanged (unknown bits are kept).
            pub const fn from_bits(bits: u8) -> Self {
                Self(bits)
            }

            /// The raw bits as they go on the wire.
            pub const fn bits(self) -> u8 {
                self.0
            }

            /// True if every bit of `other` is set.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Returns a copy with the bits of `other` set (`on`) or cleared.
            #[must_use]
            pub const fn with(self, other: Self, on: bool) -> Self {
                if on {
                    Self(self.0 | other.0)
                } else {
                    Self(self.0 & !other.0)
                }
            }
        }

        impl std::ops::BitOr for $t {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl std::ops::BitOrAssign for $t {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl From<u8> for $t {
            fn from(bits: u8) -> Self {
                Self(bits)
            }
        }

        impl From<$t> for u8 {
            fn from(v: $t) -> u8 {
                v.0
            }
        }
    };
}

/// Low-nibble header flags of SEND, SENDACK, RECV and RECVACK (spec §3.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HeaderFlags(u8);

bitset_common!(HeaderFlags);

impl HeaderFlags {
    /// Retransmission marker (parsed, never set by reference implementations).
    pub const DUP: Self = Self(0x08);
    /// "Command" message consumed once only.
    pub const SYNC_ONCE: Self = Self(0x04);
    /// Message raises an unread badge.
    pub const RED_DOT: Self = Self(0x02);
    /// Message is not stored.
    pub const NO_PERSIST: Self = Self(0x01);

    /// Builds flags from the header byte, keeping only the low nibble.
    pub const fn from_header(byte: u8) -> Self {
        Self(byte & 0x0F)
    }
    /// DUP bit.
    pub const fn dup(self) -> bool {
        self.contains(Self::DUP)
    }
    /// SyncOnce bit.
    pub const fn sync_once(self) -> bool {
        self.contains(Self::SYNC_ONCE)
    }
    /// RedDot bit.
    pub const fn red_dot(self) -> bool {
        self.contains(Self::RED_DOT)
    }
    /// NoPersist bit.
    pub const fn no_persist(self) -> bool {
        self.contains(Self::NO_PERSIST)
    }
}

impl fmt::Debug for HeaderFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderFlags({:#x}", self.0)?;
        for (set, name) in [
            (self.dup(), " DUP"),
            (self.sync_once(), " SYNC_ONCE"),
            (self.red_dot(), " RED_DOT"),
            (self.no_persist(), " NO_PERSIST"),
        ] {
            if set {
                f.write_str(name)?;
            }
        }
        f.write_str(")")
    }
}

/// Which RECV stream-block layout a setting byte selects (spec §6.5, §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamLayout {
    /// Bit 0x02 (Go since Feb 2025, JS-1.3.5): `stream_flag u8, stream_no string, stream_id u64`.
    Current,
    /// Bit 0x04 (JS-1.0.4): `stream_no string, stream_seq u32, stream_flag u8`.
    Legacy,
}

/// The setting byte of SEND, RECV and SUB (spec §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Setting(u8);

bitset_common!(Setting);

impl Setting {
    /// Sender wants read receipts.
    pub const RECEIPT: Self = Self(0x80);
    /// Signal end-to-end encryption (reserved, no wire effect).
    pub const SIGNAL: Self = Self(0x20);
    /// Payload is plaintext and msg_key is not checked.
    pub const NO_ENCRYPT: Self = Self(0x10);
    /// A `topic` string is present.
    pub const TOPIC: Self = Self(0x08);
    /// Stream fields present (legacy bit, JS-1.0.4).
    pub const STREAM_LEGACY: Self = Self(0x04);
    /// Stream fields present (current bit).
    pub const STREAM: Self = Self(0x02);

    /// Receipt bit.
    pub const fn receipt(self) -> bool {
        self.contains(Self::RECEIPT)
    }
    /// NoEncrypt bit.
    pub const fn no_encrypt(self) -> bool {
        self.contains(Self::NO_ENCRYPT)
    }
    /// Topic bit: the packet carries a topic string.
    pub const fn has_topic(self) -> bool {
        self.contains(Self::TOPIC)
    }
    /// Either stream bit is set.
    pub const fn is_stream(self) -> bool {
        self.0 & (Self::STREAM.0 | Self::STREAM_LEGACY.0) != 0
    }
    /// The RECV stream layout the bits select; the current bit wins if both are set.
    pub const fn stream_layout(self) -> Option<StreamLayout> {
        if self.contains(Self::STREAM) {
            Some(StreamLayout::Current)
        } else if self.contains(Self::STREAM_LEGACY) {
            Some(StreamLayout::Legacy)
        } else {
            None
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Setting({:#04x})", self.0)
    }
}

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $t:ident { $( $(#[$cmeta:meta])* $name:ident = $val:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $t(pub u8);

        impl $t {
            $( $(#[$cmeta])* pub const $name: Self = Self($val); )*

            /// Constant name of a known value, `None` for values we do not know.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }

        impl From<u8> for $t {
            fn from(v: u8) -> Self {
                Self(v)
            }
        }

        impl From<$t> for u8 {
            fn from(v: $t) -> u8 {
                v.0
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($t), self.0),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

open_enum! {
    /// Reason code of CONNACK, SENDACK, SUBACK and DISCONNECT (spec §8.2); success is 1.
    ReasonCode {
        /// Unspecified.
        UNKNOWN = 0,
        /// Operation succeeded.
        SUCCESS = 1,
        /// Authentication failed (also bad client_key).
        AUTH_FAIL = 2,
        /// Sender is not a subscriber of the channel.
        SUBSCRIBER_NOT_EXIST = 3,
        /// Sender is blacklisted.
        IN_BLACKLIST = 4,
        /// Channel does not exist.
        CHANNEL_NOT_EXIST = 5,
        /// User not on this node.
        USER_NOT_ON_NODE = 6,
        /// Sender offline.
        SENDER_OFFLINE = 7,
        /// msg_key verification failed.
        MSG_KEY_ERROR = 8,
        /// Payload could not be decrypted.
        PAYLOAD_DECODE_ERROR = 9,
        /// Forwarding failed.
        FORWARD_SEND_PACKET_ERROR = 10,
        /// Sending not allowed.
        NOT_ALLOW_SEND = 11,
        /// Replaced by a login on another device.
        CONNECT_KICK = 12,
        /// Not in the whitelist.
        NOT_IN_WHITELIST = 13,
        /// Token lookup failed.
        QUERY_TOKEN_ERROR = 14,
        /// Internal error.
        SYSTEM_ERROR = 15,
        /// Bad channel id.
        CHANNEL_ID_ERROR = 16,
        /// Node match error.
        NODE_MATCH_ERROR = 17,
        /// Wrong node.
        NODE_NOT_MATCH = 18,
        /// User banned.
        BAN = 19,
        /// Header not supported.
        NOT_SUPPORT_HEADER = 20,
        /// CONNECT without client_key.
        CLIENT_KEY_IS_EMPTY = 21,
        /// Rate limited.
        RATE_LIMIT = 22,
        /// Channel type not supported.
        NOT_SUPPORT_CHANNEL_TYPE = 23,
        /// Channel dissolved.
        DISBAND = 24,
        /// Sender may not send.
        SEND_BAN = 25,
        /// Channel being deleted (Go-v3).
        CHANNEL_DELETING = 26,
        /// Client must upgrade (Go-v3).
        PROTOCOL_UPGRADE_REQUIRED = 27,
        /// Idempotency conflict (Go-v3).
        IDEMPOTENCY_CONFLICT = 28,
        /// Channel sequence exhausted (Go-v3).
        MESSAGE_SEQ_EXHAUSTED = 29,
    }
}

open_enum! {
    /// Channel type (spec §8.1); unknown values pass through.
    ChannelType {
        /// 1:1 chat.
        PERSON = 1,
        /// Group chat.
        GROUP = 2,
        /// Customer service (deprecated).
        CUSTOMER_SERVICE = 3,
        /// Community.
        COMMUNITY = 4,
        /// Community topic.
        COMMUNITY_TOPIC = 5,
        /// Info channel (temporary subscribers).
        INFO = 6,
        /// Data channel (SUB).
        DATA = 7,
        /// Temporary channel.
        TEMP = 8,
        /// Live channel (no conversation list).
        LIVE = 9,
        /// Visitors (replaces 3).
        VISITORS = 10,
        /// Agent (person-like AI channel).
        AGENT = 11,
        /// Agent group.
        AGENT_GROUP = 12,
    }
}

open_enum! {
    /// Device flag of CONNECT (spec §8); unknown values pass through.
    DeviceFlag {
        /// Mobile app.
        APP = 0,
        /// Web browser.
        WEB = 1,
        /// Desktop.
        PC = 2,
        /// Server-internal.
        SYSTEM = 99,
    }
}

open_enum! {
    /// Stream position flag of a RECV stream block (spec §6.5).
    StreamFlag {
        /// First chunk.
        START = 0,
        /// Middle chunk.
        ING = 1,
        /// Last chunk.
        END = 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_type_codes() {
        for c in 0u8..16 {
            match PacketType::from_code(c) {
                Some(t) => assert_eq!(t.code(), c),
                None => assert!(c == 0 || c >= 13),
            }
        }
    }

    #[test]
    fn open_enums_keep_unknown() {
        assert_eq!(ReasonCode::from(200).0, 200);
        assert_eq!(ReasonCode::SUCCESS.name(), Some("SUCCESS"));
        assert_eq!(format!("{:?}", ReasonCode(77)), "ReasonCode(77)");
        assert_eq!(ChannelType::DATA.0, 7);
    }

    #[test]
    fn setting_layouts() {
        assert_eq!(Setting::STREAM.stream_layout(), Some(StreamLayout::Current));
        assert_eq!(
            Setting::STREAM_LEGACY.stream_layout(),
            Some(StreamLayout::Legacy)
        );
        assert_eq!(
            Setting::from_bits(0x06).stream_layout(),
            Some(StreamLayout::Current)
        );
        assert_eq!(Setting::RECEIPT.stream_layout(), None);
        assert!(Setting::from_bits(0x88).has_topic());
        assert_eq!(negotiate_version(0), LATEST_VERSION);
        assert_eq!(negotiate_version(2), 2);
        assert_eq!(negotiate_version(9), LATEST_VERSION);
        assert!(!connack_has_server_version(3));
        assert!(connack_has_server_version(4));
    }

    #[test]
    fn header_flags() {
        let f = HeaderFlags::RED_DOT | HeaderFlags::NO_PERSIST;
        assert!(f.red_dot() && f.no_persist() && !f.dup() && !f.sync_once());
        assert_eq!(f.with(HeaderFlags::RED_DOT, false), HeaderFlags::NO_PERSIST);
        assert_eq!(HeaderFlags::from_header(0x3F).bits(), 0x0F);
    }
}
