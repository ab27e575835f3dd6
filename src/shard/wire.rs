//! The shard's messages between nodes: the mesh messages that may cross to another node
//! (forwarded CONNECTs and sends, deliveries, pushes, message events, acknowledgements,
//! kicks, session announcements) as bytes for a cluster link, and back. Little-endian, length-prefixed; every
//! read is checked, so a bad frame from a peer is an error, never a panic.

use super::msg::{
    Answer, AuthReq, AuthResult, ConnMsg, ConnRef, Delivered, OwnerMsg, RareFields, SendOrigin,
    SendOutcome, SendReq, ShardMsg,
};
use super::receivers::Receivers;
use super::users::Session;
use crate::proto::{Event, WkStr};
use bytes::{BufMut, Bytes};
use std::sync::Arc;

/// Why bytes from a peer are not a message.
#[derive(Debug)]
pub struct WireError(pub &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad node message: {}", self.0)
    }
}

const AUTH: u8 = 1;
const UNREGISTER: u8 = 2;
const SEND: u8 = 3;
const DELIVER: u8 = 4;
const REREGISTER: u8 = 5;
const DELIVER_EVENT: u8 = 6;
const RELAYED: u8 = 7;
const SESSIONS_SENT: u8 = 8;
const KICK: u8 = 10;
const SENDACK: u8 = 11;
const PUSH: u8 = 12;
const PUSH_EVENT: u8 = 13;
const ANSWER_AUTH: u8 = 20;
const ANSWER_SEND: u8 = 21;

/// Most items (uids, targets) one message may carry.
const MAX_ITEMS: usize = 1 << 20;

struct W(Vec<u8>);

impl W {
    fn str(&mut self, s: &str) {
        self.0.put_u32_le(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.put_u32_le(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn conn(&mut self, c: ConnRef) {
        self.0.put_u16_le(c.node);
        self.0.put_u16_le(c.shard);
        self.0.put_u64_le(c.id);
    }
    fn outcome(&mut self, o: SendOutcome) {
        self.0.put_u8(o.reason);
        self.0.put_i64_le(o.message_id);
        self.0.put_u64_le(o.message_seq);
    }
    fn origin(&mut self, o: SendOrigin) {
        match o {
            SendOrigin::Conn { conn, client_seq } => {
                self.0.put_u8(1);
                self.conn(conn);
                self.0.put_u32_le(client_seq);
            }
            SendOrigin::Api { node, shard, id } => {
                self.0.put_u8(2);
                self.0.put_u16_le(node);
                self.0.put_u16_le(shard);
                self.0.put_u64_le(id);
            }
            SendOrigin::Relay {
                node,
                shard,
                id,
                conn,
                api,
            } => {
                self.0.put_u8(3);
                self.0.put_u16_le(node);
                self.0.put_u16_le(shard);
                self.0.put_u64_le(id);
                self.0.put_u8(u8::from(api));
                match conn {
                    Some(c) => {
                        self.0.put_u8(1);
                        self.conn(c);
                    }
                    None => self.0.put_u8(0),
                }
            }
            SendOrigin::None => self.0.put_u8(0),
        }
    }
    fn event(&mut self, e: &Event) {
        self.str(&e.id);
        self.str(&e.event_type);
        self.0.put_i64_le(e.timestamp);
        self.bytes(&e.data);
    }
    /// A counted list of connection ids.
    fn ids(&mut self, ids: &[u64]) {
        self.0.put_u32_le(ids.len() as u32);
        for id in ids {
            self.0.put_u64_le(*id);
        }
    }
    fn delivered(&mut self, d: &Delivered) {
        self.0.put_i64_le(d.message_id);
        self.0.put_u64_le(d.message_seq);
        self.str(&d.client_msg_no);
        self.str(&d.from_uid);
        self.str(&d.channel_id);
        self.0.put_u8(d.channel_type);
        self.0.put_u8(d.flags);
        self.0.put_u8(d.setting);
        self.0.put_i32_le(d.timestamp);
        self.0.put_u32_le(d.expire());
        self.str(d.topic());
        self.str(d.stream_no());
        self.0.put_u8(d.stream_flag());
        self.bytes(&d.payload);
        match d.sender_conn() {
            Some(c) => {
                self.0.put_u8(1);
                self.conn(c);
            }
            None => self.0.put_u8(0),
        }
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        if self.0.len() < n {
            return Err(WireError("short"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(self.u64()? as i64)
    }
    fn bytes(&mut self) -> Result<Bytes, WireError> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn string(&mut self) -> Result<String, WireError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| WireError("invalid UTF-8"))
    }
    fn wk(&mut self) -> Result<WkStr, WireError> {
        WkStr::from_utf8(self.bytes()?).map_err(|_| WireError("invalid UTF-8"))
    }
    /// A counted list of connection ids.
    fn ids(&mut self) -> Result<Vec<u64>, WireError> {
        let n = self.count()?;
        let mut ids = Vec::with_capacity(n.min(self.0.len() / 8));
        for _ in 0..n {
            ids.push(self.u64()?);
        }
        Ok(ids)
    }
    fn count(&mut self) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > MAX_ITEMS {
            return Err(WireError("too many items"));
        }
        Ok(n)
    }
    fn conn(&mut self) -> Result<ConnRef, WireError> {
        Ok(ConnRef {
            node: self.u16()?,
            shard: self.u16()?,
            id: self.u64()?,
        })
    }
    fn outcome(&mut self) -> Result<SendOutcome, WireError> {
        Ok(SendOutcome {
            reason: self.u8()?,
            message_id: self.i64()?,
            message_seq: self.u64()?,
        })
    }
    fn origin(&mut self) -> Result<SendOrigin, WireError> {
        Ok(match self.u8()? {
            1 => SendOrigin::Conn {
                conn: self.conn()?,
                client_seq: self.u32()?,
            },
            2 => SendOrigin::Api {
                node: self.u16()?,
                shard: self.u16()?,
                id: self.u64()?,
            },
            3 => SendOrigin::Relay {
                node: self.u16()?,
                shard: self.u16()?,
                id: self.u64()?,
                api: self.u8()? != 0,
                conn: match self.u8()? {
                    0 => None,
                    _ => Some(self.conn()?),
                },
            },
            0 => SendOrigin::None,
            _ => return Err(WireError("send origin")),
        })
    }
    fn event(&mut self) -> Result<Event, WireError> {
        Ok(Event {
            id: self.wk()?,
            event_type: self.wk()?,
            timestamp: self.i64()?,
            data: self.bytes()?,
        })
    }
    fn delivered(&mut self) -> Result<Delivered, WireError> {
        let (message_id, message_seq) = (self.i64()?, self.u64()?);
        let (client_msg_no, from_uid, channel_id) = (self.wk()?, self.wk()?, self.wk()?);
        let (channel_type, flags, setting) = (self.u8()?, self.u8()?, self.u8()?);
        let (timestamp, expire) = (self.u32()? as i32, self.u32()?);
        let (topic, stream_no, stream_flag) = (self.wk()?, self.wk()?, self.u8()?);
        Ok(Delivered {
            message_id,
            message_seq,
            client_msg_no,
            from_uid,
            channel_id,
            channel_type,
            flags,
            setting,
            timestamp,
            rare: RareFields::boxed(topic, stream_no, stream_flag, expire),
            payload: self.bytes()?,
            sender: match self.u8()? {
                1 => self.conn()?,
                _ => ConnRef::NONE,
            },
        })
    }
    fn uids(&mut self) -> Result<Vec<Arc<str>>, WireError> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n.min(self.0.len() / 4));
        for _ in 0..n {
            out.push(Arc::from(self.string()?));
        }
        Ok(out)
    }
}

/// Encodes a mesh message for another node; `None` for messages that never cross nodes.
pub fn encode(msg: &ShardMsg) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    encode_into(msg, &mut out).then_some(out)
}

/// Appends the encoding of `msg` to `out` (a link's output buffer: no copy in between);
/// false, with `out` as it was, for messages that never cross nodes.
pub fn encode_into(msg: &ShardMsg, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut w = W(std::mem::take(out));
    let encoded = write(msg, &mut w);
    if !encoded {
        w.0.truncate(start);
    }
    *out = w.0;
    encoded
}

fn write(msg: &ShardMsg, w: &mut W) -> bool {
    match msg {
        ShardMsg::Owner(OwnerMsg::Auth { id, req }) => {
            w.0.put_u8(AUTH);
            w.0.put_u64_le(*id);
            w.conn(req.conn);
            w.str(&req.uid);
            w.str(&req.token);
            w.0.put_u8(req.device_flag);
            w.str(&req.device_id);
        }
        ShardMsg::Owner(OwnerMsg::Unregister { uid, conn }) => {
            w.0.put_u8(UNREGISTER);
            w.str(uid);
            w.conn(*conn);
        }
        ShardMsg::Owner(OwnerMsg::Reregister { uid, session }) => {
            w.0.put_u8(REREGISTER);
            w.str(uid);
            w.conn(session.conn);
            w.0.put_u8(session.device_flag);
            w.str(&session.device_id);
            w.0.put_u8(session.device_level);
        }
        ShardMsg::Owner(OwnerMsg::Send(r)) => {
            w.0.put_u8(SEND);
            w.origin(r.origin);
            w.str(&r.from_uid);
            w.str(&r.channel_id);
            w.0.put_u8(r.channel_type);
            w.0.put_u8(r.flags);
            w.0.put_u8(r.setting);
            w.str(&r.client_msg_no);
            w.str(&r.stream_no);
            w.0.put_u8(r.stream_flag);
            w.0.put_u32_le(r.expire);
            w.str(&r.topic);
            w.bytes(&r.payload);
            w.0.put_u32_le(r.receivers.len() as u32);
            for u in &r.receivers {
                w.str(u);
            }
        }
        ShardMsg::Owner(OwnerMsg::SessionsSent { slot, node, shard }) => {
            w.0.put_u8(SESSIONS_SENT);
            w.0.put_u16_le(*slot);
            w.0.put_u16_le(*node);
            w.0.put_u16_le(*shard);
        }
        ShardMsg::Owner(OwnerMsg::Relayed { id, outcome }) => {
            w.0.put_u8(RELAYED);
            w.0.put_u64_le(*id);
            w.outcome(*outcome);
        }
        ShardMsg::Owner(OwnerMsg::Deliver { msg, to }) => {
            w.0.put_u8(DELIVER);
            w.delivered(msg);
            w.0.put_u32_le(to.len(msg) as u32);
            for u in to.iter(msg) {
                w.str(u);
            }
        }
        ShardMsg::Owner(OwnerMsg::DeliverEvent { event, uids }) => {
            w.0.put_u8(DELIVER_EVENT);
            w.event(event);
            w.0.put_u32_le(uids.len() as u32);
            for u in uids {
                w.str(u);
            }
        }
        ShardMsg::Conn(ConnMsg::PushEvent { event, conn_ids }) => {
            w.0.put_u8(PUSH_EVENT);
            w.event(event);
            w.ids(conn_ids);
        }
        ShardMsg::Conn(ConnMsg::Kick {
            conn_id,
            reason,
            by_server,
        }) => {
            w.0.put_u8(KICK);
            w.0.put_u64_le(*conn_id);
            w.0.put_u8(*reason);
            w.0.put_u8(u8::from(*by_server));
        }
        ShardMsg::Conn(ConnMsg::SendAck {
            conn_id,
            client_seq,
            outcome,
        }) => {
            w.0.put_u8(SENDACK);
            w.0.put_u64_le(*conn_id);
            w.0.put_u32_le(*client_seq);
            w.outcome(*outcome);
        }
        ShardMsg::Conn(ConnMsg::Push { msg, conn_ids }) => {
            w.0.put_u8(PUSH);
            w.delivered(msg);
            w.ids(conn_ids);
        }
        ShardMsg::Answer(Answer::Auth { id, result }) => {
            w.0.put_u8(ANSWER_AUTH);
            w.0.put_u64_le(*id);
            w.0.put_u8(result.reason);
            w.0.put_u8(result.device_level);
        }
        ShardMsg::Answer(Answer::Send { id, outcome }) => {
            w.0.put_u8(ANSWER_SEND);
            w.0.put_u64_le(*id);
            w.outcome(*outcome);
        }
        _ => return false,
    }
    true
}

/// Decodes a message from another node.
pub fn decode(bytes: &[u8]) -> Result<ShardMsg, WireError> {
    let mut r = R(bytes);
    let msg: ShardMsg = match r.u8()? {
        AUTH => OwnerMsg::Auth {
            id: r.u64()?,
            req: Box::new(AuthReq {
                conn: r.conn()?,
                uid: Arc::from(r.string()?),
                token: r.string()?,
                device_flag: r.u8()?,
                device_id: r.string()?.into(),
            }),
        }
        .into(),
        UNREGISTER => OwnerMsg::Unregister {
            uid: Arc::from(r.string()?),
            conn: r.conn()?,
        }
        .into(),
        REREGISTER => OwnerMsg::Reregister {
            uid: Arc::from(r.string()?),
            session: Box::new(Session {
                conn: r.conn()?,
                device_flag: r.u8()?,
                device_id: r.string()?.into(),
                device_level: r.u8()?,
            }),
        }
        .into(),
        SEND => {
            let origin = r.origin()?;
            let from_uid = Arc::from(r.string()?);
            let channel_id = r.string()?;
            let channel_type = r.u8()?;
            let flags = r.u8()?;
            let setting = r.u8()?;
            let client_msg_no = r.string()?;
            let stream_no = r.string()?;
            let stream_flag = r.u8()?;
            let expire = r.u32()?;
            let topic = r.string()?;
            let payload = r.bytes()?;
            let receivers = r.uids()?;
            OwnerMsg::Send(Box::new(SendReq {
                origin,
                from_uid,
                channel_id: channel_id.into(),
                channel_type,
                flags,
                setting,
                client_msg_no: client_msg_no.into(),
                stream_no: stream_no.into(),
                stream_flag,
                expire,
                topic: topic.into(),
                payload,
                receivers,
            }))
            .into()
        }
        SESSIONS_SENT => OwnerMsg::SessionsSent {
            slot: r.u16()?,
            node: r.u16()?,
            shard: r.u16()?,
        }
        .into(),
        RELAYED => OwnerMsg::Relayed {
            id: r.u64()?,
            outcome: r.outcome()?,
        }
        .into(),
        DELIVER => OwnerMsg::Deliver {
            msg: Arc::new(r.delivered()?),
            to: Receivers::Uids(r.uids()?),
        }
        .into(),
        DELIVER_EVENT => OwnerMsg::DeliverEvent {
            event: Arc::new(r.event()?),
            uids: r.uids()?,
        }
        .into(),
        PUSH_EVENT => {
            let event = Arc::new(r.event()?);
            ConnMsg::PushEvent {
                event,
                conn_ids: r.ids()?,
            }
            .into()
        }
        KICK => ConnMsg::Kick {
            conn_id: r.u64()?,
            reason: r.u8()?,
            by_server: r.u8()? != 0,
        }
        .into(),
        SENDACK => ConnMsg::SendAck {
            conn_id: r.u64()?,
            client_seq: r.u32()?,
            outcome: r.outcome()?,
        }
        .into(),
        PUSH => {
            let msg = Arc::new(r.delivered()?);
            ConnMsg::Push {
                msg,
                conn_ids: r.ids()?.into(),
            }
            .into()
        }
        ANSWER_AUTH => Answer::Auth {
            id: r.u64()?,
            result: AuthResult {
                reason: r.u8()?,
                device_level: r.u8()?,
            },
        }
        .into(),
        ANSWER_SEND => Answer::Send {
            id: r.u64()?,
            outcome: r.outcome()?,
        }
        .into(),
        _ => return Err(WireError("unknown message")),
    };
    if !r.0.is_empty() {
        return Err(WireError("trailing bytes"));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(m: ShardMsg) -> ShardMsg {
        decode(&encode(&m).expect("crosses nodes")).expect("decodes")
    }

    #[test]
    fn messages_round_trip() {
        let conn = ConnRef {
            node: 1002,
            shard: 1,
            id: 77,
        };
        let d = Delivered {
            message_id: 9,
            message_seq: 3,
            client_msg_no: WkStr::copy_from_str("c"),
            from_uid: WkStr::copy_from_str("a"),
            channel_id: WkStr::copy_from_str("a@b"),
            channel_type: 1,
            flags: 2,
            setting: 0,
            timestamp: -5,
            rare: RareFields::boxed(WkStr::EMPTY, WkStr::copy_from_str("s1"), 1, 6),
            payload: Bytes::from_static(b"hi"),
            sender: conn,
        };
        // A person chat's side travels as its uid (the receiving node lists it).
        let deliver = OwnerMsg::Deliver {
            msg: Arc::new(Delivered {
                channel_id: WkStr::copy_from_str("a@b"),
                channel_type: 1,
                ..Default::default()
            }),
            to: Receivers::Person(Receivers::SECOND),
        };
        match round(deliver.into()) {
            ShardMsg::Owner(OwnerMsg::Deliver {
                msg,
                to: Receivers::Uids(uids),
            }) => {
                assert_eq!(msg.channel_id.as_str(), "a@b");
                assert_eq!(uids, vec![Arc::<str>::from("b")]);
            }
            other => panic!("{other:?}"),
        }
        match round(
            ConnMsg::Push {
                msg: Arc::new(d),
                conn_ids: [5, 9].into(),
            }
            .into(),
        ) {
            ShardMsg::Conn(ConnMsg::Push { msg, conn_ids }) => {
                assert_eq!(msg.channel_id.as_str(), "a@b");
                assert_eq!(msg.timestamp, -5);
                assert_eq!(msg.sender_conn(), Some(conn));
                assert_eq!((msg.expire(), msg.stream_no().as_str()), (6, "s1"));
                assert_eq!((msg.stream_flag(), msg.topic().as_str()), (1, ""));
                assert_eq!(conn_ids[..], [5, 9]);
            }
            other => panic!("{other:?}"),
        }
        let req = SendReq {
            origin: SendOrigin::Api {
                node: 3,
                shard: 1,
                id: 8,
            },
            from_uid: Arc::from("u"),
            channel_id: "g".into(),
            channel_type: 2,
            flags: 0,
            setting: 0,
            client_msg_no: "n".into(),
            stream_no: WkStr::EMPTY,
            stream_flag: 0,
            expire: 0,
            topic: WkStr::EMPTY,
            payload: Bytes::from_static(b"x"),
            receivers: vec![Arc::from("r")],
        };
        match round(OwnerMsg::Send(Box::new(req)).into()) {
            ShardMsg::Owner(OwnerMsg::Send(r)) => {
                assert!(matches!(
                    r.origin,
                    SendOrigin::Api {
                        node: 3,
                        shard: 1,
                        id: 8
                    }
                ));
                assert_eq!(&*r.receivers[0], "r");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encoding_appends_in_place_or_leaves_the_buffer_alone() {
        let kick = ShardMsg::from(ConnMsg::Kick {
            conn_id: 7,
            reason: 12,
            by_server: false,
        });
        let mut out = b"head".to_vec();
        assert!(encode_into(&kick, &mut out));
        assert_eq!(&out[..4], b"head");
        assert!(matches!(
            decode(&out[4..]),
            Ok(ShardMsg::Conn(ConnMsg::Kick { conn_id: 7, .. }))
        ));
        // A message that never crosses nodes leaves the buffer as it was.
        let local = ShardMsg::from(OwnerMsg::ConvHintsDone);
        let before = out.clone();
        assert!(!encode_into(&local, &mut out));
        assert_eq!(out, before);
    }

    #[test]
    fn relays_round_trip() {
        let conn = ConnRef {
            node: 2,
            shard: 1,
            id: 77,
        };
        let mut w = W(Vec::new());
        w.origin(SendOrigin::Relay {
            node: 4,
            shard: 1,
            id: 9,
            conn: Some(conn),
            api: false,
        });
        let o = R(&w.0).origin().expect("decodes");
        assert_eq!(o.sender_conn(), Some(conn));
        assert!(!o.is_api());
        assert!(matches!(
            o,
            SendOrigin::Relay {
                node: 4,
                shard: 1,
                id: 9,
                ..
            }
        ));
        let mut w = W(Vec::new());
        w.origin(SendOrigin::Relay {
            node: 4,
            shard: 0,
            id: 1,
            conn: None,
            api: true,
        });
        let o = R(&w.0).origin().expect("decodes");
        assert!(o.is_api() && o.sender_conn().is_none());
        let outcome = SendOutcome {
            reason: 0,
            message_id: 5,
            message_seq: 6,
        };
        match round(
            OwnerMsg::SessionsSent {
                slot: 7,
                node: 2,
                shard: 1,
            }
            .into(),
        ) {
            ShardMsg::Owner(OwnerMsg::SessionsSent {
                slot: 7,
                node: 2,
                shard: 1,
            }) => {}
            other => panic!("{other:?}"),
        }
        match round(OwnerMsg::Relayed { id: 3, outcome }.into()) {
            ShardMsg::Owner(OwnerMsg::Relayed { id: 3, outcome: o }) => {
                assert_eq!((o.message_id, o.message_seq), (5, 6));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_round_trip() {
        let event = Arc::new(Event {
            id: WkStr::copy_from_str("d1"),
            event_type: WkStr::copy_from_str("stream.delta"),
            timestamp: -3,
            data: Bytes::from_static(br#"{"k":1}"#),
        });
        match round(
            OwnerMsg::DeliverEvent {
                event: event.clone(),
                uids: vec![Arc::from("u2")],
            }
            .into(),
        ) {
            ShardMsg::Owner(OwnerMsg::DeliverEvent { event: e, uids }) => {
                assert_eq!(*e, *event);
                assert_eq!(&*uids[0], "u2");
            }
            other => panic!("{other:?}"),
        }
        match round(
            ConnMsg::PushEvent {
                event: event.clone(),
                conn_ids: vec![4, 9],
            }
            .into(),
        ) {
            ShardMsg::Conn(ConnMsg::PushEvent { event: e, conn_ids }) => {
                assert_eq!(*e, *event);
                assert_eq!(conn_ids, vec![4, 9]);
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(&[PUSH_EVENT, 0, 0]).is_err());
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[99]).is_err());
        assert!(decode(&[DELIVER, 1, 2]).is_err());
        let mut huge = vec![PUSH];
        huge.extend_from_slice(&[0u8; 64]);
        assert!(decode(&huge).is_err());
        let mut good = encode(
            &ConnMsg::Kick {
                conn_id: 1,
                reason: 0,
                by_server: true,
            }
            .into(),
        )
        .unwrap();
        good.push(0);
        assert!(decode(&good).is_err(), "trailing byte");
    }
}
