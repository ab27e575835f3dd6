//! How event state reads over the REST API: the projected events of `/message/eventsync`
//! (spec wukongim-2.2.5 §1.5) and the per-message summary `/channel/messagesync` adds to
//! stream anchors (§1.6). Pure functions of the stored state and the memory lanes.

use super::lanes::Content;
use super::state::{AnchorEvents, KeyState, FINISH_KEY};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `/message/eventsync`'s `limit` when 0.
pub const DEFAULT_SYNC_LIMIT: usize = 200;
/// The largest `/message/eventsync` `limit` (more is capped).
pub const MAX_SYNC_LIMIT: usize = 2000;

/// What `/message/eventsync` asks for.
#[derive(Clone, Debug, Default)]
pub struct SyncQuery {
    /// Only this (normalized) key, if given.
    pub event_key: Option<String>,
    /// Only keys whose last seq is above this.
    pub from_seq: u64,
    /// Most events.
    pub limit: usize,
    /// Include `private` and `restricted` keys.
    pub include_private: bool,
}

/// One page of projected events: the events (ascending by seq) and whether more follow.
pub fn sync_page(anchor: Option<&AnchorEvents>, q: &SyncQuery) -> (Vec<Value>, bool) {
    let Some(anchor) = anchor else {
        return (Vec::new(), false);
    };
    let mut keys: Vec<(&String, &KeyState)> = anchor
        .keys
        .iter()
        .filter(|(k, _)| q.event_key.as_deref().is_none_or(|want| want == k.as_str()))
        .filter(|(_, s)| s.last_seq > q.from_seq)
        .filter(|(_, s)| {
            q.include_private || !matches!(s.visibility.as_str(), "private" | "restricted")
        })
        .collect();
    keys.sort_by_key(|(_, s)| s.last_seq);
    let more = keys.len() > q.limit;
    let events = keys
        .into_iter()
        .take(q.limit)
        .map(|(k, s)| projected(k, s))
        .collect();
    (events, more)
}

/// One key as a projected event.
fn projected(key: &str, s: &KeyState) -> Value {
    let mut v = json!({
        "msg_event_seq": s.last_seq,
        "event_id": s.event_id,
        "event_type": if s.event_type.is_empty() { "stream.snapshot" } else { s.event_type.as_str() },
        "event_key": key,
        "visibility": s.visibility,
        "occurred_at": s.occurred_at,
    });
    let payload = if s.snapshot.is_empty() {
        let mut p = json!({"status": s.status, "end_reason": s.end_reason});
        if !s.error.is_empty() {
            p["error"] = json!(s.error);
        }
        p
    } else {
        json_or_string(&s.snapshot)
    };
    v["payload"] = payload;
    v
}

/// JSON text as a value, or as a string when it is not JSON.
fn json_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The fields `/channel/messagesync` adds to a stream anchor with event state (`event_meta`,
/// `event_sync_hint`, and from key `main` `stream_data`, `end`, `end_reason`, `error`);
/// `None` when it has none. `full` includes each key's snapshot.
pub fn summary(
    client_msg_no: &str,
    stored: Option<&AnchorEvents>,
    lanes: Option<&BTreeMap<String, Content>>,
    full: bool,
) -> Option<Map<String, Value>> {
    let (no_keys, no_lanes) = (BTreeMap::new(), BTreeMap::new());
    let stored_keys = stored.map_or(&no_keys, |a| &a.keys);
    let lanes = lanes.unwrap_or(&no_lanes);
    if stored_keys.is_empty() && lanes.is_empty() {
        return None;
    }
    let keys: BTreeSet<&String> = stored_keys
        .keys()
        .chain(lanes.keys())
        .filter(|k| k.as_str() != FINISH_KEY)
        .collect();
    let mut events = Vec::new();
    let (mut last, mut open) = (0u64, 0usize);
    let mut main: Option<(String, Option<String>, &KeyState)> = None;
    let none = KeyState::default();
    for key in &keys {
        let s = stored_keys.get(*key).unwrap_or(&none);
        let lane = lanes.get(*key);
        // A memory lane exists only while its key is open: it wins.
        let status = if lane.is_some() {
            "open".to_string()
        } else {
            s.status.clone()
        };
        let snapshot = lane
            .and_then(Content::snapshot)
            .or_else(|| (!s.snapshot.is_empty()).then(|| s.snapshot.clone()));
        last = last.max(s.last_seq);
        if status == "open" {
            open += 1;
        }
        let mut e = Map::new();
        e.insert("event_key".into(), json!(key));
        e.insert("status".into(), json!(status));
        if s.last_seq > 0 {
            e.insert("last_msg_event_seq".into(), json!(s.last_seq));
        }
        if full {
            if let Some(snap) = &snapshot {
                e.insert("snapshot".into(), json_or_string(snap));
            }
        }
        if s.end_reason > 0 {
            e.insert("end_reason".into(), json!(s.end_reason));
        }
        if !s.error.is_empty() {
            e.insert("error".into(), json!(s.error));
        }
        events.push(Value::Object(e));
        if key.as_str() == super::state::DEFAULT_KEY {
            main = Some((status, snapshot, s));
        }
    }
    let mut meta = Map::new();
    meta.insert("has_events".into(), json!(true));
    meta.insert(
        "completed".into(),
        json!(stored_keys.contains_key(FINISH_KEY)),
    );
    if last > 0 {
        meta.insert("event_version".into(), json!(last));
        meta.insert("last_msg_event_seq".into(), json!(last));
    }
    if !events.is_empty() {
        meta.insert("event_count".into(), json!(events.len()));
        if open > 0 {
            meta.insert("open_event_count".into(), json!(open));
        }
        meta.insert("events".into(), Value::Array(events));
    }
    let mut out = Map::new();
    out.insert("event_meta".into(), Value::Object(meta));
    out.insert(
        "event_sync_hint".into(),
        json!({"client_msg_no": client_msg_no, "from_msg_event_seq": 0}),
    );
    if let Some((status, snapshot, s)) = main {
        if let Some(data) = snapshot
            .as_deref()
            .map(stream_data)
            .filter(|d| !d.is_empty())
        {
            out.insert(
                "stream_data".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(data)),
            );
        }
        if super::state::is_terminal_status(&status) {
            out.insert("end".into(), json!(1));
        }
        if s.end_reason > 0 {
            out.insert("end_reason".into(), json!(s.end_reason));
        }
        if !s.error.is_empty() {
            out.insert("error".into(), json!(s.error));
        }
    }
    Some(out)
}

/// The bytes `stream_data` carries for a snapshot: the text of a text snapshot, the `data` of
/// a binary one (base64-decoded when it is base64), else the snapshot's JSON text.
fn stream_data(snapshot: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(snapshot).unwrap_or(Value::Null);
    match v.get("kind").and_then(Value::as_str) {
        Some("text") => v
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
        Some("binary") => {
            let data = v.get("data").and_then(Value::as_str).unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_else(|_| data.as_bytes().to_vec())
        }
        _ => snapshot.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(status: &str, seq: u64, snapshot: &str, visibility: &str) -> KeyState {
        KeyState {
            status: status.into(),
            last_seq: seq,
            snapshot: snapshot.into(),
            event_id: format!("e{seq}"),
            event_type: "stream.close".into(),
            visibility: visibility.into(),
            ..Default::default()
        }
    }

    fn anchor() -> AnchorEvents {
        let mut a = AnchorEvents::default();
        a.keys.insert(
            "main".into(),
            key("closed", 1, r#"{"kind":"text","text":"Hello"}"#, ""),
        );
        a.keys.insert("secret".into(), key("", 3, "", "private"));
        a.keys.insert(FINISH_KEY.into(), key("closed", 2, "", ""));
        a.seq = 3;
        a
    }

    #[test]
    fn sync_pages_by_seq_and_hides_private_keys() {
        let a = anchor();
        let q = SyncQuery {
            limit: 1,
            ..Default::default()
        };
        let (page, more) = sync_page(Some(&a), &q);
        assert_eq!(page.len(), 1);
        assert!(more);
        assert_eq!(page[0]["event_key"], "main");
        assert_eq!(page[0]["payload"]["text"], "Hello");
        let q = SyncQuery {
            from_seq: 1,
            limit: 10,
            ..Default::default()
        };
        let (page, more) = sync_page(Some(&a), &q);
        assert!(!more);
        assert_eq!(page.len(), 1, "private skipped: {page:?}");
        assert_eq!(
            page[0]["payload"],
            json!({"status": "closed", "end_reason": 0})
        );
        let q = SyncQuery {
            limit: 10,
            include_private: true,
            event_key: Some("secret".into()),
            ..Default::default()
        };
        assert_eq!(sync_page(Some(&a), &q).0.len(), 1);
    }

    #[test]
    fn the_summary_merges_memory_and_stored_state() {
        let a = anchor();
        let s = summary("m", Some(&a), None, true).unwrap();
        let meta = &s["event_meta"];
        assert_eq!(meta["completed"], true);
        assert_eq!(meta["last_msg_event_seq"], 3);
        assert_eq!(meta["event_count"], 2);
        assert!(meta.get("open_event_count").is_none());
        assert_eq!(s["end"], 1);
        assert_eq!(s["stream_data"], "SGVsbG8=");
        let mut lanes = BTreeMap::new();
        lanes.insert("tool".to_string(), Content::Text("hi".into()));
        let s = summary("m", None, Some(&lanes), false).unwrap();
        let meta = &s["event_meta"];
        assert_eq!(meta["completed"], false);
        assert_eq!(meta["open_event_count"], 1);
        assert_eq!(
            meta["events"][0],
            json!({"event_key": "tool", "status": "open"})
        );
        assert!(summary("m", None, None, true).is_none());
    }
}
