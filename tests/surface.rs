//! WuKongIM 2.2.5's surface as a backend written against WuKongIM uses it (issue 18): message
//! ids on Twitter's snowflake epoch, `/channel/delete` deleting history, conversations
//! removed with members, `/user/onlinestatus` with no uids, and the routes 2.2.x added. Real
//! binary, real HTTP.

mod common;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn ok(r: HttpResponse) -> Value {
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn send(http: SocketAddr, from: &str, to: &str, ty: u8, text: &str) -> Value {
    ok(post(
        http,
        "/message/send",
        &json!({"header": {"red_dot": 1}, "from_uid": from, "channel_id": to,
                "channel_type": ty, "payload": b64(text)})
        .to_string(),
    ))["data"]
        .clone()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Twitter's snowflake epoch, which WuKongIM's message ids use.
const TWITTER_EPOCH_MS: u64 = 1_288_834_974_657;

fn history(http: SocketAddr, login: &str, channel: &str, ty: u8) -> Vec<Value> {
    ok(post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": login, "channel_id": channel, "channel_type": ty, "limit": 100})
            .to_string(),
    ))["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn conversation_ids(http: SocketAddr, uid: &str) -> Vec<String> {
    ok(post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    ))
    .as_array()
    .unwrap()
    .iter()
    .map(|c| c["channel_id"].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn message_ids_are_snowflakes_on_the_twitter_epoch_and_grow_across_restarts() {
    let server = Server::start("cluster: {nodeId: 77}\n");
    let http = server.addr("http");
    let before = now_ms();
    let first = send(http, "id-a", "id-b", 1, "one")["message_id"]
        .as_i64()
        .unwrap();
    let after = now_ms();
    let t = ((first as u64) >> 22) + TWITTER_EPOCH_MS;
    assert!(
        (before..=after).contains(&t),
        "id {first} decodes to {t}, sent between {before} and {after}"
    );
    assert_eq!((first >> 12) & 0x3ff, 77, "cluster.nodeId in the id");
    let dir = server.kill9();
    let server = Server::start_in(dir, "cluster: {nodeId: 77}\n");
    let http = server.addr("http");
    let second = send(http, "id-a", "id-b", 1, "two")["message_id"]
        .as_i64()
        .unwrap();
    assert!(second > first, "{second} > {first} after a restart");
}

#[test]
fn channel_delete_deletes_history_and_a_recreated_channel_starts_empty() {
    let extra = "storage: {metaSnapshotOps: 5}\n";
    let server = Server::start(extra);
    let http = server.addr("http");
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "doomed", "channel_type": 2, "subscribers": ["d1", "d2"]})
            .to_string(),
    ));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(send(http, "d1", "doomed", 2, &format!("old{i}"))["message_id"].clone());
    }
    let cmd = ok(post(
        http,
        "/message/send",
        &json!({"header": {"sync_once": 1}, "from_uid": "d1", "channel_id": "doomed",
                "channel_type": 2, "payload": b64("cmd")})
        .to_string(),
    ));
    assert_eq!(cmd["status"], 200);
    assert_eq!(history(http, "d2", "doomed", 2).len(), 3);
    ok(post(
        http,
        "/channel/delete",
        &json!({"channel_id": "doomed", "channel_type": 2}).to_string(),
    ));
    let check_gone = |http: SocketAddr| {
        assert!(history(http, "d2", "doomed", 2).is_empty(), "messagesync");
        let fetched = ok(post(
            http,
            "/messages",
            &json!({"login_uid": "d2", "channel_id": "doomed", "channel_type": 2,
                    "message_seqs": [1, 2, 3], "message_ids": ids})
            .to_string(),
        ));
        assert_eq!(fetched["messages"], json!([]), "/messages");
        assert!(
            !conversation_ids(http, "d2").contains(&"doomed".to_string()),
            "no recents, no conversation"
        );
        let cmds = ok(post(
            http,
            "/message/sync",
            &json!({"uid": "d2", "limit": 10}).to_string(),
        ));
        assert_eq!(cmds, json!([]), "the CMD twin is deleted too");
    };
    check_gone(http);
    // A channel created again under the same id starts empty; its seqs go on.
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "doomed", "channel_type": 2, "subscribers": ["d1", "d2"]})
            .to_string(),
    ));
    assert_eq!(
        send(http, "d1", "doomed", 2, "new")["message_seq"],
        4,
        "seqs continue above the deleted ones"
    );
    let h = history(http, "d2", "doomed", 2);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["payload"], b64("new"));
    assert_unread_is_only_the_new_message(http);
    // Both survive kill -9 (through meta snapshots: metaSnapshotOps 5).
    let dir = server.kill9();
    let server = Server::start_in(dir, extra);
    let http = server.addr("http");
    let h = history(http, "d2", "doomed", 2);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["message_seq"], 4);
    let fetched = ok(post(
        http,
        "/messages",
        &json!({"login_uid": "d2", "channel_id": "doomed", "channel_type": 2,
                "message_seqs": [1, 2, 3, 4]})
        .to_string(),
    ));
    assert_eq!(fetched["messages"].as_array().unwrap().len(), 1);
    assert_unread_is_only_the_new_message(http);
}

/// d2's conversation of the re-created `doomed`: the deleted messages do not count as unread.
fn assert_unread_is_only_the_new_message(http: SocketAddr) {
    let convs = ok(post(
        http,
        "/conversation/sync",
        &json!({"uid": "d2", "msg_count": 5}).to_string(),
    ));
    let conv = convs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_id"] == "doomed")
        .unwrap_or_else(|| panic!("no conversation of doomed in {convs}"))
        .clone();
    assert_eq!(conv["last_msg_seq"], 4, "{conv}");
    assert_eq!(conv["unread"], 1, "{conv}");
    assert_eq!(conv["recents"].as_array().unwrap().len(), 1, "{conv}");
}

#[test]
fn subscriber_remove_deletes_the_removed_members_conversation() {
    let server = Server::start("");
    let http = server.addr("http");
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "club", "channel_type": 2, "subscribers": ["c1", "c2", "c3"]})
            .to_string(),
    ));
    send(http, "c1", "club", 2, "hello");
    // c2 has a recorded read position too (a stored conversation, not only a derived one).
    ok(post(
        http,
        "/conversations/clearUnread",
        &json!({"uid": "c2", "channel_id": "club", "channel_type": 2}).to_string(),
    ));
    assert!(conversation_ids(http, "c2").contains(&"club".to_string()));
    ok(post(
        http,
        "/channel/subscriber_remove",
        &json!({"channel_id": "club", "channel_type": 2, "subscribers": ["c2"]}).to_string(),
    ));
    assert!(!conversation_ids(http, "c2").contains(&"club".to_string()));
    assert!(
        conversation_ids(http, "c3").contains(&"club".to_string()),
        "others keep theirs"
    );
    let dir = server.kill9();
    let server = Server::start_in(dir, "");
    let http = server.addr("http");
    assert!(
        !conversation_ids(http, "c2").contains(&"club".to_string()),
        "still gone after a restart"
    );
    assert!(conversation_ids(http, "c3").contains(&"club".to_string()));
}

#[test]
fn onlinestatus_with_no_uids_is_plain_ok() {
    let server = Server::start("");
    let http = server.addr("http");
    assert_eq!(
        ok(post(http, "/user/onlinestatus", "[]")),
        json!({"status": 200})
    );
    assert_eq!(
        ok(post(http, "/user/onlinestatus", "[\"nobody\"]")),
        json!([])
    );
}
