//! The merge rules of message events (spec wukongim-2.2.5 §1.3), as pure functions: how a
//! type and key are normalized, what a delta contributes to its memory lane, and the state a
//! stored event leaves its key in.

use super::lanes::Content;
use super::state::{KeyState, DEFAULT_KEY, FINISH_KEY};
use serde_json::Value;

/// What an event does, by its (normalized) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `stream.delta`: memory only.
    Delta,
    /// `stream.snapshot`: replaces the snapshot.
    Snapshot,
    /// `stream.close`: terminal, `closed`.
    Close,
    /// `stream.error`: terminal, `error`.
    Error,
    /// `stream.cancel`: terminal, `cancelled`.
    Cancel,
    /// `stream.finish`: the whole message is finished.
    Finish,
    /// Any other type: stored, the state only advances its seq.
    Other,
}

impl Kind {
    /// The kind of a type as sent (trimmed, case-insensitive).
    pub fn of(event_type: &str) -> Kind {
        match normalize_type(event_type).as_str() {
            "stream.delta" => Kind::Delta,
            "stream.snapshot" => Kind::Snapshot,
            "stream.close" => Kind::Close,
            "stream.error" => Kind::Error,
            "stream.cancel" => Kind::Cancel,
            "stream.finish" => Kind::Finish,
            _ => Kind::Other,
        }
    }

    /// Whether the event ends its key.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Kind::Close | Kind::Error | Kind::Cancel | Kind::Finish
        )
    }

    /// Whether the event folds the key's memory lane into the stored snapshot.
    pub fn folds_lane(self) -> bool {
        matches!(self, Kind::Close | Kind::Error | Kind::Cancel)
    }
}

/// A type as stored: trimmed, lower case.
pub fn normalize_type(event_type: &str) -> String {
    event_type.trim().to_lowercase()
}

/// The key an event goes to: `__finish__` for `stream.finish`, else the trimmed key or `main`.
pub fn effective_key(kind: Kind, event_key: &str) -> String {
    if kind == Kind::Finish {
        return FINISH_KEY.to_string();
    }
    match event_key.trim() {
        "" => DEFAULT_KEY.to_string(),
        k => k.to_string(),
    }
}

/// What a delta's payload (JSON text) adds to its lane: the text of `{"kind":"text",
/// "delta":…}` (`None` for an empty one), or the payload itself for any other kind.
pub enum DeltaContent {
    /// Text to append.
    Text(String),
    /// A payload replacing the lane.
    Replace,
    /// Nothing (empty text delta, no payload).
    Nothing,
}

/// Classifies a delta's payload.
pub fn delta_content(payload: Option<&str>) -> DeltaContent {
    let Some(text) = payload else {
        return DeltaContent::Nothing;
    };
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if v.get("kind").and_then(Value::as_str) == Some("text") {
        return match v.get("delta").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => DeltaContent::Text(d.to_string()),
            _ => DeltaContent::Nothing,
        };
    }
    if v.is_null() {
        return DeltaContent::Nothing;
    }
    DeltaContent::Replace
}

/// The payload of a terminal event with the lane's content as its `snapshot` (replacing the
/// caller's; a payload that is not an object is kept as `raw_payload`); the caller's payload
/// as it is when the lane holds nothing.
pub fn fold_lane(payload: Option<&str>, lane: Option<&Content>) -> Option<String> {
    let Some(snapshot) = lane.and_then(Content::snapshot) else {
        return payload.map(str::to_string);
    };
    let snapshot: Value = serde_json::from_str(&snapshot).unwrap_or(Value::String(snapshot));
    let mut obj = match payload.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(m))) => m,
        Some(_) => {
            let mut m = serde_json::Map::new();
            m.insert(
                "raw_payload".into(),
                Value::String(payload.unwrap_or("").into()),
            );
            m
        }
        None => serde_json::Map::new(),
    };
    obj.insert("snapshot".into(), snapshot);
    Some(Value::Object(obj).to_string())
}

/// The fields of a stored event that go into its key's state.
pub struct Stored<'a> {
    /// Its kind.
    pub kind: Kind,
    /// Its type, normalized.
    pub event_type: &'a str,
    /// Its id.
    pub event_id: &'a str,
    /// Its visibility.
    pub visibility: &'a str,
    /// Its time (never 0: the server's time when the producer gave none).
    pub occurred_at: i64,
    /// Its payload (JSON text), with the lane folded in for terminal events.
    pub payload: Option<&'a str>,
}

/// The state key `prev` is in after event `ev`, stored as seq `seq`.
pub fn reduce(prev: Option<&KeyState>, ev: &Stored<'_>, seq: u64) -> KeyState {
    let mut s = prev.cloned().unwrap_or_default();
    s.last_seq = seq;
    s.event_id = ev.event_id.to_string();
    s.event_type = ev.event_type.to_string();
    s.visibility = ev.visibility.to_string();
    s.occurred_at = ev.occurred_at;
    let payload: Value = ev
        .payload
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let inner_snapshot = || payload.get("snapshot").map(Value::to_string);
    match ev.kind {
        Kind::Snapshot => {
            s.snapshot = ev.payload.unwrap_or_default().to_string();
        }
        Kind::Close => {
            s.status = "closed".into();
            s.end_reason = end_reason(payload.get("end_reason"));
            if let Some(snap) = inner_snapshot() {
                s.snapshot = snap;
            }
        }
        Kind::Error => {
            s.status = "error".into();
            s.error = payload
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(snap) = inner_snapshot() {
                s.snapshot = snap;
            }
        }
        Kind::Cancel => {
            s.status = "cancelled".into();
            if let Some(snap) = inner_snapshot() {
                s.snapshot = snap;
            }
        }
        Kind::Finish => s.status = "closed".into(),
        Kind::Delta | Kind::Other => {}
    }
    s
}

/// `end_reason` as a number or a numeric string (0 otherwise; capped at 255).
fn end_reason(v: Option<&Value>) -> u8 {
    let n = match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    n.min(u8::MAX as u64) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored<'a>(kind: Kind, ty: &'a str, payload: Option<&'a str>) -> Stored<'a> {
        Stored {
            kind,
            event_type: ty,
            event_id: "e",
            visibility: "",
            occurred_at: 5,
            payload,
        }
    }

    #[test]
    fn types_and_keys_are_normalized() {
        assert_eq!(Kind::of("  Stream.DELTA "), Kind::Delta);
        assert_eq!(Kind::of("tool.call"), Kind::Other);
        assert_eq!(effective_key(Kind::Close, "  "), "main");
        assert_eq!(effective_key(Kind::Close, " tool "), "tool");
        assert_eq!(effective_key(Kind::Finish, "tool"), FINISH_KEY);
    }

    #[test]
    fn deltas_then_close_fold_the_text() {
        let lane = Content::Text("Hello, world!".into());
        let folded = fold_lane(
            Some(r#"{"end_reason":"2","snapshot":{"x":1}}"#),
            Some(&lane),
        );
        let s = reduce(
            None,
            &stored(Kind::Close, "stream.close", folded.as_deref()),
            3,
        );
        assert_eq!(s.status, "closed");
        assert_eq!(s.end_reason, 2);
        assert_eq!(s.last_seq, 3);
        assert_eq!(s.snapshot, r#"{"kind":"text","text":"Hello, world!"}"#);
        let raw = fold_lane(Some("7"), Some(&lane)).unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["raw_payload"], "7");
        assert_eq!(fold_lane(Some("{}"), None).as_deref(), Some("{}"));
    }

    #[test]
    fn each_type_reduces_as_the_table_says() {
        let snap = reduce(
            None,
            &stored(Kind::Snapshot, "stream.snapshot", Some(r#"{"a":1}"#)),
            1,
        );
        assert_eq!(
            (snap.status.as_str(), snap.snapshot.as_str()),
            ("", r#"{"a":1}"#)
        );
        let err = reduce(
            Some(&snap),
            &stored(Kind::Error, "stream.error", Some(r#"{"error":"boom"}"#)),
            2,
        );
        assert_eq!((err.status.as_str(), err.error.as_str()), ("error", "boom"));
        assert_eq!(err.snapshot, r#"{"a":1}"#, "kept without a snapshot field");
        let other = reduce(Some(&snap), &stored(Kind::Other, "tool.call", None), 4);
        assert_eq!((other.status.as_str(), other.last_seq), ("", 4));
        let fin = reduce(None, &stored(Kind::Finish, "stream.finish", Some("[1]")), 5);
        assert_eq!((fin.status.as_str(), fin.snapshot.as_str()), ("closed", ""));
        assert!(matches!(
            delta_content(Some(r#"{"kind":"text","delta":""}"#)),
            DeltaContent::Nothing
        ));
        assert!(matches!(
            delta_content(Some(r#"{"kind":"json"}"#)),
            DeltaContent::Replace
        ));
    }
}
