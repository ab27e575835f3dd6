//! The message record as stored in the message log (rkyv-archived, read in place).

use rkyv::{Archive, Deserialize, Serialize};

/// Record kind of a message in the message log.
pub const KIND_MESSAGE: u8 = 1;

/// `header` bit: the message is not persisted for offline sync (still stored here if asked).
pub const HEADER_NO_PERSIST: u8 = 0b001;
/// `header` bit: the message raises a red dot (unread).
pub const HEADER_RED_DOT: u8 = 0b010;
/// `header` bit: synced once only.
pub const HEADER_SYNC_ONCE: u8 = 0b100;

/// One stored message: everything needed to answer sync and history queries.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRecord {
    /// Server-assigned id (snowflake-style, unique per node).
    pub message_id: i64,
    /// Position in the channel: dense from 1.
    pub message_seq: u64,
    /// Client-chosen id, used to de-duplicate retried sends.
    pub client_msg_no: String,
    /// Sender uid.
    pub from_uid: String,
    /// Storage channel id (the fake id for person chats).
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// wkproto setting byte.
    pub setting: u8,
    /// Header flags ([`HEADER_NO_PERSIST`], [`HEADER_RED_DOT`], [`HEADER_SYNC_ONCE`]).
    pub header: u8,
    /// Server time of the send, unix seconds.
    pub timestamp: i32,
    /// Expiry in seconds (0 = never).
    pub expire: u32,
    /// Topic.
    pub topic: String,
    /// Stream number (stream messages).
    pub stream_no: String,
    /// Stream id.
    pub stream_id: u64,
    /// Stream flag.
    pub stream_flag: u8,
    /// The message body.
    pub payload: Vec<u8>,
}

/// A message to append; the store assigns `message_seq`, the caller the rest.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// Server-assigned id (snowflake-style).
    pub message_id: i64,
    /// Client id for de-duplication (empty = no de-duplication).
    pub client_msg_no: String,
    /// Sender uid.
    pub from_uid: String,
    /// wkproto setting byte.
    pub setting: u8,
    /// Header flags.
    pub header: u8,
    /// Unix seconds.
    pub timestamp: i32,
    /// Expiry in seconds.
    pub expire: u32,
    /// Topic.
    pub topic: String,
    /// Stream number.
    pub stream_no: String,
    /// Stream id.
    pub stream_id: u64,
    /// Stream flag.
    pub stream_flag: u8,
    /// Body.
    pub payload: Vec<u8>,
}

/// A message to append, borrowed from wherever its fields already live (the send request):
/// the store copies them straight into its reused record, so an append allocates nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageFields<'a> {
    /// Server-assigned id (snowflake-style).
    pub message_id: i64,
    /// Client id for de-duplication (empty = no de-duplication).
    pub client_msg_no: &'a str,
    /// Sender uid.
    pub from_uid: &'a str,
    /// wkproto setting byte.
    pub setting: u8,
    /// Header flags.
    pub header: u8,
    /// Unix seconds.
    pub timestamp: i32,
    /// Expiry in seconds.
    pub expire: u32,
    /// Topic.
    pub topic: &'a str,
    /// Stream number.
    pub stream_no: &'a str,
    /// Stream id.
    pub stream_id: u64,
    /// Stream flag.
    pub stream_flag: u8,
    /// Body.
    pub payload: &'a [u8],
}

impl MessageFields<'_> {
    /// Overwrites `rec` with these fields for channel `(channel_id, channel_type)` at
    /// `message_seq`, reusing its buffers.
    pub fn fill(
        &self,
        rec: &mut MessageRecord,
        channel_id: &str,
        channel_type: u8,
        message_seq: u64,
    ) {
        fn set(dst: &mut String, src: &str) {
            dst.clear();
            dst.push_str(src);
        }
        rec.message_id = self.message_id;
        rec.message_seq = message_seq;
        set(&mut rec.client_msg_no, self.client_msg_no);
        set(&mut rec.from_uid, self.from_uid);
        set(&mut rec.channel_id, channel_id);
        rec.channel_type = channel_type;
        rec.setting = self.setting;
        rec.header = self.header;
        rec.timestamp = self.timestamp;
        rec.expire = self.expire;
        set(&mut rec.topic, self.topic);
        set(&mut rec.stream_no, self.stream_no);
        rec.stream_id = self.stream_id;
        rec.stream_flag = self.stream_flag;
        rec.payload.clear();
        rec.payload.extend_from_slice(self.payload);
    }

    /// An owned copy (for a path that must keep the message, e.g. a replicated proposal).
    pub fn to_owned(&self) -> NewMessage {
        NewMessage {
            message_id: self.message_id,
            client_msg_no: self.client_msg_no.to_string(),
            from_uid: self.from_uid.to_string(),
            setting: self.setting,
            header: self.header,
            timestamp: self.timestamp,
            expire: self.expire,
            topic: self.topic.to_string(),
            stream_no: self.stream_no.to_string(),
            stream_id: self.stream_id,
            stream_flag: self.stream_flag,
            payload: self.payload.to_vec(),
        }
    }
}

impl NewMessage {
    /// The fields, borrowed.
    pub fn fields(&self) -> MessageFields<'_> {
        MessageFields {
            message_id: self.message_id,
            client_msg_no: &self.client_msg_no,
            from_uid: &self.from_uid,
            setting: self.setting,
            header: self.header,
            timestamp: self.timestamp,
            expire: self.expire,
            topic: &self.topic,
            stream_no: &self.stream_no,
            stream_id: self.stream_id,
            stream_flag: self.stream_flag,
            payload: &self.payload,
        }
    }

    /// Builds the stored record for channel `(channel_id, channel_type)` at `message_seq`.
    pub fn into_record(
        self,
        channel_id: &str,
        channel_type: u8,
        message_seq: u64,
    ) -> MessageRecord {
        MessageRecord {
            message_id: self.message_id,
            message_seq,
            client_msg_no: self.client_msg_no,
            from_uid: self.from_uid,
            channel_id: channel_id.to_string(),
            channel_type,
            setting: self.setting,
            header: self.header,
            timestamp: self.timestamp,
            expire: self.expire,
            topic: self.topic,
            stream_no: self.stream_no,
            stream_id: self.stream_id,
            stream_flag: self.stream_flag,
            payload: self.payload,
        }
    }
}

/// Validates and accesses an archived message in place (no copy).
pub fn access(payload: &[u8]) -> Result<&ArchivedMessageRecord, rkyv::rancor::Error> {
    rkyv::access::<ArchivedMessageRecord, rkyv::rancor::Error>(payload)
}

/// Serializes `rec` into `buf` (reused between appends).
pub fn encode(rec: &MessageRecord, buf: rkyv::util::AlignedVec) -> rkyv::util::AlignedVec {
    let mut buf = buf;
    buf.clear();
    // Serializing plain owned data into a growable buffer cannot fail.
    rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(rec, buf)
        .expect("serializing a MessageRecord into memory")
}

/// A stored message read back in place.
#[derive(Clone, Copy)]
pub struct MessageView<'a> {
    /// Where it lives in the log.
    pub lsn: u64,
    /// The archived record, borrowed from the mapping.
    pub record: &'a ArchivedMessageRecord,
}

impl MessageView<'_> {
    /// Deserializes into an owned record.
    pub fn to_owned_record(&self) -> MessageRecord {
        rkyv::deserialize::<MessageRecord, rkyv::rancor::Error>(self.record)
            .expect("deserializing a validated archive")
    }
}

impl std::fmt::Debug for MessageView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageView")
            .field("lsn", &self.lsn)
            .field("message_seq", &self.record.message_seq.to_native())
            .field("message_id", &self.record.message_id.to_native())
            .finish()
    }
}
