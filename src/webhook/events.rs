//! Event bodies (spec http-api §11.2–11.4), built on the webhook thread.

use super::{NotifyBatch, OfflineEvent};
use crate::proto::HeaderFlags;
use crate::shard::ids::{person_peer, STREAM_SUFFIX};
use base64::Engine;
use serde::Serialize;
use std::io::Write;

/// The `msg.notify` body of a batch: a JSON array of §3 message objects, and how many it holds.
/// Stream chunks (the `____stream` side channels) and stream anchors are not notified.
pub(crate) fn notify_body(batch: &NotifyBatch) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(batch.records.len() * 320 + 2);
    out.push(b'[');
    let mut n = 0u64;
    for &(off, len) in &batch.records {
        let bytes = &batch.buf[off as usize..(off + len) as usize];
        let rec = match jindou_storage::message::access(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "unreadable message record skipped by msg.notify");
                continue;
            }
        };
        if rec.channel_id.as_str().ends_with(STREAM_SUFFIX) || !rec.stream_no.is_empty() {
            continue;
        }
        if n > 0 {
            out.push(b',');
        }
        let v = crate::json::message_json(rec, "");
        // Writing a JSON value into memory cannot fail.
        let _ = serde_json::to_writer(&mut out, &v);
        n += 1;
    }
    out.push(b']');
    (out, n)
}

#[derive(Serialize)]
struct Header {
    no_persist: u8,
    red_dot: u8,
    sync_once: u8,
}

/// The `msg.offline` object (spec §11.3), fields in the spec's order.
#[derive(Serialize)]
struct Offline<'a> {
    header: Header,
    setting: u8,
    message_id: i64,
    message_idstr: String,
    client_msg_no: &'a str,
    message_seq: u64,
    from_uid: &'a str,
    channel_id: &'a str,
    channel_type: u8,
    #[serde(skip_serializing_if = "str::is_empty")]
    topic: &'a str,
    expire: u32,
    timestamp: i64,
    payload: String,
    to_uids: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compress: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compress_to_uids: Option<String>,
    source_id: u64,
}

/// Gzip of the JSON array of `uids` (a complete stream, unlike v2.2.1's truncated one).
pub(crate) fn gzip_uids(uids: &[&str]) -> Vec<u8> {
    let json = serde_json::to_vec(uids).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

/// The `msg.offline` body of one event.
pub(crate) fn offline_body(ev: &OfflineEvent, compress_of_count: usize, node_id: u64) -> Vec<u8> {
    let m = &ev.msg;
    let flags = HeaderFlags::from_header(m.flags);
    let from_uid = m.from_uid.as_str();
    // The id the sender addressed: the recipient for a person chat, the channel otherwise.
    let channel_id = if m.channel_type == crate::proto::ChannelType::PERSON.0 {
        person_peer(m.channel_id.as_str(), from_uid)
    } else {
        m.channel_id.as_str()
    };
    let uids: Vec<&str> = ev.to_uids.iter().map(|u| &**u).collect();
    let compressed = compress_of_count > 0 && uids.len() > compress_of_count;
    let (to_uids, compress, compress_to_uids) = if compressed {
        let gz = gzip_uids(&uids);
        (
            Vec::new(),
            Some("gzip"),
            Some(base64::engine::general_purpose::STANDARD.encode(gz)),
        )
    } else {
        (uids, None, None)
    };
    let body = Offline {
        header: Header {
            no_persist: u8::from(flags.no_persist()),
            red_dot: u8::from(flags.red_dot()),
            sync_once: u8::from(flags.sync_once()),
        },
        setting: m.setting,
        message_id: m.message_id,
        message_idstr: m.message_id.to_string(),
        client_msg_no: m.client_msg_no.as_str(),
        message_seq: m.message_seq,
        from_uid,
        channel_id,
        channel_type: m.channel_type,
        topic: m.topic().as_str(),
        expire: m.expire(),
        timestamp: (crate::shard::ids::now_millis() / 1000) as i64,
        payload: base64::engine::general_purpose::STANDARD.encode(&m.payload),
        to_uids,
        compress,
        compress_to_uids,
        source_id: node_id,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}
