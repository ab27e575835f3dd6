//! The JSON of spec wukongim-2.2.5 §2.2–2.6: the envelope and params read from clients, and
//! the responses and notifications written to them. Nothing here trusts its input: every
//! failure is a [`Refusal`] or a parameter error, never a panic.

use crate::proto::{Event, HeaderFlags, Setting};
use crate::shard::msg::{Delivered, SendOutcome};
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Valid JSON that is not a request (no method, bad `jsonrpc` or `id`).
pub const INVALID_REQUEST: i64 = -32600;
/// Unknown or unsupported method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Params of the wrong shape.
pub const INVALID_PARAMS: i64 = -32602;
/// Too many sends awaiting their result on one connection.
pub const SERVER_BUSY: i64 = -32000;

/// A request as read: its method, params (`null` when absent) and id (`None` for a
/// notification). An id is a string (EasySDK) or a number, echoed unchanged.
#[derive(Debug)]
pub struct Request {
    /// The method name.
    pub method: String,
    /// The params member.
    pub params: Value,
    /// The id, if the message is a request rather than a notification.
    pub id: Option<Value>,
}

/// Why a message is not a request, with the id to answer (when one could be read).
#[derive(Debug)]
pub struct Refusal {
    /// The request's id, if it had a usable one.
    pub id: Option<Value>,
    /// JSON-RPC error code.
    pub code: i64,
    /// Error text.
    pub message: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    jsonrpc: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
}

/// Reads one message (a whole JSON object).
pub fn parse(text: &[u8]) -> Result<Request, Refusal> {
    let env: Envelope = serde_json::from_slice(text).map_err(|e| Refusal {
        id: None,
        code: PARSE_ERROR,
        message: format!("parse error: {e}"),
    })?;
    let invalid = |id: Option<Value>, message: &str| Refusal {
        id,
        code: INVALID_REQUEST,
        message: message.into(),
    };
    let id = match env.id {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => return Err(invalid(None, "id must be a string")),
    };
    match env.jsonrpc {
        None => {}
        Some(Value::String(v)) if v == "2.0" => {}
        Some(_) => return Err(invalid(id, "jsonrpc must be \"2.0\"")),
    }
    let method = match env.method {
        Some(Value::String(m)) => m,
        _ => return Err(invalid(id, "method must be a string")),
    };
    Ok(Request {
        method,
        params: env.params.unwrap_or(Value::Null),
        id,
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The `header` object: wkproto's header flags by name (`end` is read and has no bit).
#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct HeaderJson {
    /// NoPersist.
    #[serde(skip_serializing_if = "is_false")]
    pub no_persist: bool,
    /// RedDot.
    #[serde(skip_serializing_if = "is_false")]
    pub red_dot: bool,
    /// SyncOnce.
    #[serde(skip_serializing_if = "is_false")]
    pub sync_once: bool,
    /// Dup.
    #[serde(skip_serializing_if = "is_false")]
    pub dup: bool,
    /// Accepted for compatibility; never written.
    #[serde(skip_serializing)]
    pub end: bool,
}

impl HeaderJson {
    /// The flags as wkproto bits.
    pub fn flags(&self) -> HeaderFlags {
        HeaderFlags::EMPTY
            .with(HeaderFlags::NO_PERSIST, self.no_persist)
            .with(HeaderFlags::RED_DOT, self.red_dot)
            .with(HeaderFlags::SYNC_ONCE, self.sync_once)
            .with(HeaderFlags::DUP, self.dup)
    }

    /// The object for wkproto bits.
    pub fn from_flags(f: HeaderFlags) -> Self {
        Self {
            no_persist: f.no_persist(),
            red_dot: f.red_dot(),
            sync_once: f.sync_once(),
            dup: f.dup(),
            end: false,
        }
    }
}

/// The `setting` object: the setting bits JSON-RPC can express.
#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SettingJson {
    /// Receipt (0x80).
    #[serde(skip_serializing_if = "is_false")]
    pub receipt: bool,
    /// Signal (0x20).
    #[serde(skip_serializing_if = "is_false")]
    pub signal: bool,
    /// Stream (0x02).
    #[serde(skip_serializing_if = "is_false")]
    pub stream: bool,
    /// Topic (0x08).
    #[serde(skip_serializing_if = "is_false")]
    pub topic: bool,
}

impl SettingJson {
    /// The setting byte.
    pub fn setting(&self) -> Setting {
        Setting::EMPTY
            .with(Setting::RECEIPT, self.receipt)
            .with(Setting::SIGNAL, self.signal)
            .with(Setting::STREAM, self.stream)
            .with(Setting::TOPIC, self.topic)
    }

    /// The object for a setting byte (`None` when no expressible bit is set).
    pub fn from_setting(s: Setting) -> Option<Self> {
        let j = Self {
            receipt: s.contains(Setting::RECEIPT),
            signal: s.contains(Setting::SIGNAL),
            stream: s.contains(Setting::STREAM),
            topic: s.contains(Setting::TOPIC),
        };
        (j != Self::default()).then_some(j)
    }
}

/// `connect` params (`clientKey` and `header` are ignored: JSON-RPC is never encrypted).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConnectParams {
    /// User id.
    pub uid: String,
    /// Token.
    pub token: String,
    /// 0 app, 1 web, 2 pc.
    pub device_flag: u8,
    /// Device id.
    pub device_id: String,
    /// Protocol version (0 → 5).
    pub version: u8,
    /// Client clock, ms.
    pub client_timestamp: i64,
}

/// `send` params (`msgKey` is ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SendParams {
    /// Target channel (the peer's uid for a person chat).
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Base64 string, or any other JSON value taken as its JSON text (§2.6).
    pub payload: Option<Value>,
    /// De-duplication key; generated when empty.
    pub client_msg_no: String,
    /// Header flags.
    pub header: Option<HeaderJson>,
    /// Setting bits.
    pub setting: Option<SettingJson>,
    /// Expiry, seconds.
    pub expire: u32,
    /// Topic.
    pub topic: String,
    /// Stream number (carried, unused).
    pub stream_no: String,
}

/// `recvack` params.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RecvackParams {
    /// The message id, a string of the i64 (a number is accepted).
    pub message_id: Value,
    /// The message seq (not needed to find the message).
    pub message_seq: u64,
}

impl RecvackParams {
    /// The acknowledged message id, if it is one.
    pub fn id(&self) -> Option<i64> {
        match &self.message_id {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

/// A `send` payload's bytes: a string is standard base64; any other value is its JSON text;
/// absent or `null` is empty.
pub fn payload_bytes(v: Option<Value>) -> Result<Bytes, String> {
    match v {
        None | Some(Value::Null) => Ok(Bytes::new()),
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(|e| format!("payload is not base64: {e}")),
        Some(other) => serde_json::to_vec(&other)
            .map(Bytes::from)
            .map_err(|e| e.to_string()),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct Response<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a T,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i64,
    message: &'a str,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct Notification<'a, T: Serialize> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a T,
}

/// Serializes `v` (the types here cannot fail; an empty frame is never written).
fn to_json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A response carrying `result` (`&Value::Null` writes the required `"result":null`).
pub fn result(id: &Value, result: &impl Serialize) -> Vec<u8> {
    to_json(&Response {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// An error response (`id` null when the request's id could not be read).
pub fn error(id: Option<&Value>, code: i64, message: &str) -> Vec<u8> {
    to_json(&ErrorResponse {
        jsonrpc: "2.0",
        id: id.unwrap_or(&Value::Null),
        error: ErrorBody { code, message },
    })
}

/// A server notification (no `id` member at all).
pub fn notification(method: &str, params: &impl Serialize) -> Vec<u8> {
    to_json(&Notification {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// The `connect` result (§2.5).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResult {
    /// Negotiated version.
    pub server_version: u8,
    /// Server ms − client ms.
    #[serde(skip_serializing_if = "is_zero")]
    pub time_diff: i64,
    /// 1 = connected.
    pub reason_code: u8,
    /// This node.
    pub node_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<HeaderJson>,
    message_id: String,
    message_seq: u64,
    reason_code: u8,
}

/// The `send` result: the outcome, with the request's header echoed.
pub fn send_result(id: &Value, header: HeaderFlags, o: SendOutcome) -> Vec<u8> {
    result(
        id,
        &SendResult {
            header: (header != HeaderFlags::EMPTY).then(|| HeaderJson::from_flags(header)),
            message_id: o.message_id.to_string(),
            message_seq: o.message_seq,
            reason_code: o.reason,
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecvParams<'a> {
    header: HeaderJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    setting: Option<SettingJson>,
    message_id: String,
    message_seq: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_msg_no: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    stream_no: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    stream_flag: u8,
    timestamp: i32,
    channel_id: &'a str,
    channel_type: u8,
    #[serde(skip_serializing_if = "is_zero")]
    expire: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    topic: &'a str,
    from_uid: &'a str,
    payload: String,
}

/// The `recv` notification of `msg` for one receiver, who sees it in `channel_id` with
/// `flags` (see `conn::recv_view`). `header` is always present (EasySDK requires it).
pub fn recv(msg: &Delivered, channel_id: &str, flags: HeaderFlags) -> Vec<u8> {
    notification(
        "recv",
        &RecvParams {
            header: HeaderJson::from_flags(flags),
            setting: SettingJson::from_setting(Setting::from_bits(msg.setting)),
            message_id: msg.message_id.to_string(),
            message_seq: msg.message_seq,
            client_msg_no: msg.client_msg_no.as_str(),
            stream_no: msg.stream_no().as_str(),
            stream_flag: msg.stream_flag(),
            timestamp: msg.timestamp,
            channel_id,
            channel_type: msg.channel_type,
            expire: msg.expire(),
            topic: msg.topic().as_str(),
            from_uid: msg.from_uid.as_str(),
            payload: b64(&msg.payload),
        },
    )
}

#[derive(Serialize)]
struct EventParams<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: i64,
    data: std::borrow::Cow<'a, str>,
}

/// The `event` notification of an EVENT packet (`data` as a string).
pub fn event(ev: &Event) -> Vec<u8> {
    notification(
        "event",
        &EventParams {
            id: ev.id.as_str(),
            kind: ev.event_type.as_str(),
            timestamp: ev.timestamp,
            data: String::from_utf8_lossy(&ev.data),
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DisconnectParams<'a> {
    reason_code: u8,
    reason: &'a str,
}

/// The `disconnect` notification.
pub fn disconnect(reason_code: u8, reason: &str) -> Vec<u8> {
    notification(
        "disconnect",
        &DisconnectParams {
            reason_code,
            reason,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::WkStr;
    use serde_json::json;

    fn val(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn parses_requests_and_refuses_bad_envelopes() {
        let r = parse(br#"{"id":"c1","method":"connect","params":{"uid":"a"}}"#).unwrap();
        assert_eq!((r.method.as_str(), r.id), ("connect", Some(json!("c1"))));
        let n = parse(br#"{"method":"recvack","params":{}}"#).unwrap();
        assert!(n.id.is_none());
        let e = parse(b"{nope}").unwrap_err();
        assert_eq!((e.code, e.id), (PARSE_ERROR, None));
        let e = parse(br#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_REQUEST, Some(json!("x"))));
        let e = parse(br#"{"id":{"a":1},"method":"ping"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_REQUEST, None));
        let e = parse(br#"{"id":"y","method":7}"#).unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_REQUEST, Some(json!("y"))));
    }

    #[test]
    fn payloads_are_base64_or_json_text() {
        assert_eq!(&payload_bytes(Some(json!("aGk="))).unwrap()[..], b"hi");
        assert_eq!(
            &payload_bytes(Some(json!({"a":1}))).unwrap()[..],
            br#"{"a":1}"#
        );
        assert!(payload_bytes(Some(json!("not base64!"))).is_err());
        assert!(payload_bytes(None).unwrap().is_empty());
    }

    #[test]
    fn responses_and_notifications_have_the_spec_shape() {
        let pong = val(&result(&json!("p1"), &Value::Null));
        assert_eq!(pong, json!({"jsonrpc":"2.0","id":"p1","result":null}));
        let err = val(&error(None, PARSE_ERROR, "x"));
        assert_eq!(err["id"], Value::Null);
        assert_eq!(err["error"]["code"], -32700);
        let d = val(&disconnect(12, "server kick"));
        assert_eq!(
            d,
            json!({"jsonrpc":"2.0","method":"disconnect","params":{"reasonCode":12,"reason":"server kick"}})
        );
        let ev = val(&event(&Event {
            id: WkStr::from_static("d1"),
            event_type: WkStr::from_static("stream.delta"),
            timestamp: 0,
            data: Bytes::from_static(br#"{"k":1}"#),
        }));
        assert!(ev.get("id").is_none());
        assert_eq!(
            ev["params"],
            json!({"id":"d1","type":"stream.delta","timestamp":0,"data":"{\"k\":1}"})
        );
        let ok = SendOutcome {
            reason: 1,
            message_id: 42,
            message_seq: 3,
        };
        let s = val(&send_result(&json!("s1"), HeaderFlags::RED_DOT, ok));
        assert_eq!(
            s["result"],
            json!({"header":{"redDot":true},"messageId":"42","messageSeq":3,"reasonCode":1})
        );
    }

    #[test]
    fn recv_always_carries_a_header() {
        let msg = Delivered {
            message_id: 7,
            message_seq: 1,
            client_msg_no: WkStr::from_static("m"),
            from_uid: WkStr::from_static("a"),
            channel_id: WkStr::from_static("a@b"),
            channel_type: 1,
            flags: 0,
            setting: 0,
            timestamp: 5,
            rare: None,
            payload: Bytes::from_static(b"hi"),
            sender: Default::default(),
        };
        let r = val(&recv(&msg, "a", HeaderFlags::EMPTY));
        assert_eq!(
            r,
            json!({"jsonrpc":"2.0","method":"recv","params":{"header":{},"messageId":"7",
                "messageSeq":1,"clientMsgNo":"m","timestamp":5,"channelId":"a","channelType":1,
                "fromUid":"a","payload":"aGk="}})
        );
    }
}
