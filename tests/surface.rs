//! WuKongIM 2.2.5's surface as a backend written against WuKongIM uses it (issue 18): message
//! ids on Twitter's snowflake epoch, `/channel/delete` deleting history, conversations
//! removed with members, `/user/onlinestatus` with no uids, and the routes 2.2.x added. Real
//! binary, real HTTP.

mod common;
use common::wk;
use common::*;
use jindou::proto::{Packet, ReasonCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// A 400 with the error envelope.
fn bad(r: HttpResponse, what: &str) {
    assert_eq!(
        r.status,
        400,
        "{what}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["status"], 400, "{what}");
}

#[test]
fn single_message_lookups() {
    let server = Server::start("");
    let http = server.addr("http");
    let cmn = |n: &str| {
        json!({"from_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1,
                               "client_msg_no": n, "payload": b64(n)})
    };
    let first = ok(post(http, "/message/send", &cmn("cmn-1").to_string()))["data"].clone();
    let second = ok(post(http, "/message/send", &cmn("cmn-2").to_string()))["data"].clone();
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "lk-g", "channel_type": 2, "subscribers": ["lk-a"]}).to_string(),
    ));
    let in_group = send(http, "lk-a", "lk-g", 2, "g1");

    // POST /message: by id (from either side of the chat), by client_msg_no, id wins.
    let by = |body: Value| ok(post(http, "/message", &body.to_string()));
    let m = by(
        json!({"login_uid": "lk-b", "channel_id": "lk-a", "channel_type": 1,
                      "message_id": first["message_id"]}),
    );
    assert_eq!(m["message_id"], first["message_id"], "{m}");
    assert_eq!(m["payload"], b64("cmn-1"));
    assert_eq!(m["message_seq"], 1);
    let m = by(
        json!({"login_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1,
                      "client_msg_no": "cmn-2"}),
    );
    assert_eq!(m["message_id"], second["message_id"], "{m}");
    let m = by(
        json!({"login_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1,
                      "message_id": first["message_id"], "client_msg_no": "cmn-2"}),
    );
    assert_eq!(m["message_id"], first["message_id"], "message_id wins");
    // Misses: an id of another channel, an unknown client number, nothing asked.
    let not_found = json!({"status": 404});
    assert_eq!(
        by(
            json!({"login_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1,
                  "message_id": in_group["message_id"]})
        ),
        not_found,
        "an id of another channel"
    );
    assert_eq!(
        by(
            json!({"login_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1,
                  "client_msg_no": "nope"})
        ),
        not_found
    );
    assert_eq!(
        by(json!({"login_uid": "lk-a", "channel_id": "lk-b", "channel_type": 1})),
        not_found
    );
    bad(
        post(
            http,
            "/message",
            &json!({"channel_type": 2, "message_id": 1}).to_string(),
        ),
        "no channel_id",
    );
    bad(
        post(
            http,
            "/message",
            &json!({"channel_id": "lk-g", "message_id": 1}).to_string(),
        ),
        "channel_type 0",
    );
    bad(
        post(
            http,
            "/message",
            &json!({"channel_id": "lk-b", "channel_type": 1, "message_id": 1}).to_string(),
        ),
        "person without login_uid",
    );
    bad(post(http, "/message", "{"), "bad JSON");

    // GET /message/byclientmsgno: the storage id, or the peer with login_uid.
    let fake = wk::person_fake_id("lk-a", "lk-b");
    let m = ok(get(
        http,
        &format!("/message/byclientmsgno?channel_id={fake}&channel_type=1&client_msg_no=cmn-1"),
    ));
    assert_eq!(m["message_id"], first["message_id"], "{m}");
    let m = ok(get(
        http,
        "/message/byclientmsgno?channel_id=lk-a&channel_type=1&client_msg_no=cmn-2&login_uid=lk-b",
    ));
    assert_eq!(m["message_id"], second["message_id"], "{m}");
    assert_eq!(
        ok(get(
            http,
            "/message/byclientmsgno?channel_id=lk-g&channel_type=2&client_msg_no=cmn-1"
        )),
        not_found
    );
    bad(
        get(
            http,
            "/message/byclientmsgno?channel_type=2&client_msg_no=x",
        ),
        "no channel_id",
    );
    bad(
        get(
            http,
            "/message/byclientmsgno?channel_id=lk-g&channel_type=x&client_msg_no=x",
        ),
        "bad type",
    );
    bad(
        get(
            http,
            "/message/byclientmsgno?channel_id=lk-g&channel_type=2",
        ),
        "no client_msg_no",
    );

    // GET /channel/last_message.
    let m = ok(get(
        http,
        "/channel/last_message?channel_id=lk-b&channel_type=1&login_uid=lk-a",
    ));
    assert_eq!(m["message_id"], second["message_id"], "{m}");
    assert_eq!(m["message_seq"], 2);
    let m = ok(get(
        http,
        "/channel/last_message?channel_id=lk-g&channel_type=2",
    ));
    assert_eq!(m["message_id"], in_group["message_id"], "{m}");
    assert_eq!(
        ok(get(
            http,
            "/channel/last_message?channel_id=lk-none&channel_type=2"
        )),
        not_found
    );
    bad(
        get(http, "/channel/last_message?channel_type=2"),
        "no channel_id",
    );
    bad(
        get(http, "/channel/last_message?channel_id=lk-b&channel_type=1"),
        "person without login_uid",
    );
}

#[test]
fn sync_by_channels_answers_every_channel_in_request_order() {
    let server = Server::start("");
    let http = server.addr("http");
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "sb-g", "channel_type": 2, "subscribers": ["sb-u", "sb-x"]})
            .to_string(),
    ));
    for i in 0..17 {
        send(http, "sb-x", "sb-g", 2, &format!("g{i}"));
    }
    send(http, "sb-p", "sb-u", 1, "hi");
    send(http, "sb-u", "sb-p", 1, "hello back");
    let items = ok(post(
        http,
        "/conversation/syncByChannels",
        &json!({"uid": "sb-u", "msg_count": 0, "channels": [
            {"channel_id": "sb-empty", "channel_type": 2},
            {"channel_id": "sb-p", "channel_type": 1},
            {"channel_id": "sb-g", "channel_type": 2}]})
        .to_string(),
    ));
    let items = items.as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["channel_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["sb-empty", "sb-p", "sb-g"],
        "request order, every channel"
    );
    assert_eq!(items[0]["recents"], json!([]));
    assert_eq!(items[0]["last_msg_seq"], 0);
    assert_eq!(items[0]["unread"], 0);
    assert_eq!(items[1]["last_msg_seq"], 2);
    assert_eq!(items[1]["unread"], 0, "sb-u sent the newest");
    assert_eq!(
        items[1]["recents"][0]["payload"],
        b64("hello back"),
        "newest first"
    );
    assert_eq!(items[2]["last_msg_seq"], 17);
    assert_eq!(items[2]["unread"], 17);
    assert_eq!(
        items[2]["recents"].as_array().unwrap().len(),
        15,
        "msg_count 0 means 15"
    );
    assert_eq!(items[2]["recents"][0]["message_seq"], 17);
    ok(post(
        http,
        "/conversations/clearUnread",
        &json!({"uid": "sb-u", "channel_id": "sb-g", "channel_type": 2}).to_string(),
    ));
    let items = ok(post(
        http,
        "/conversation/syncByChannels",
        &json!({"uid": "sb-u", "msg_count": 2, "channels": [{"channel_id": "sb-g", "channel_type": 2}]})
            .to_string(),
    ));
    assert_eq!(items[0]["unread"], 0);
    assert_eq!(items[0]["readed_to_msg_seq"], 17);
    assert_eq!(items[0]["recents"].as_array().unwrap().len(), 2);
    // Unread counts only what followed the user's own last message.
    send(http, "sb-x", "sb-g", 2, "after-1");
    send(http, "sb-u", "sb-g", 2, "mine");
    send(http, "sb-x", "sb-g", 2, "after-2");
    send(http, "sb-x", "sb-g", 2, "after-3");
    let items = ok(post(
        http,
        "/conversation/syncByChannels",
        &json!({"uid": "sb-u", "msg_count": 5, "channels": [{"channel_id": "sb-g", "channel_type": 2}]})
            .to_string(),
    ));
    assert_eq!(items[0]["last_msg_seq"], 21);
    assert_eq!(items[0]["unread"], 2, "{}", items[0]);
    assert_eq!(items[0]["readed_to_msg_seq"], 19);
    bad(
        post(
            http,
            "/conversation/syncByChannels",
            &json!({"channels": [{"channel_id": "g", "channel_type": 2}]}).to_string(),
        ),
        "no uid",
    );
    bad(
        post(
            http,
            "/conversation/syncByChannels",
            &json!({"uid": "u", "channels": []}).to_string(),
        ),
        "no channels",
    );
    bad(
        post(http, "/conversation/syncByChannels", "nope"),
        "bad JSON",
    );
}

#[test]
fn remove_all_empties_members_denylist_and_allowlist() {
    let server = Server::start("");
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    let body = |id: &str| json!({"channel_id": id, "channel_type": 2}).to_string();
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "ra-g", "channel_type": 2, "subscribers": ["ra-a", "ra-b"]})
            .to_string(),
    ));
    ok(post(
        http,
        "/channel/blacklist_add",
        &json!({"channel_id": "ra-g", "channel_type": 2, "uids": ["ra-b"]}).to_string(),
    ));
    let mut a = wk::WkClient::login(tcp, "ra-a", 4);
    let mut b = wk::WkClient::login(tcp, "ra-b", 4);
    assert_eq!(b.send_ok_reason("ra-g", 2, 1), ReasonCode::IN_BLACKLIST);
    ok(post(http, "/channel/blacklist_remove_all", &body("ra-g")));
    assert_eq!(
        b.send_ok_reason("ra-g", 2, 2),
        ReasonCode::SUCCESS,
        "denylist cleared"
    );
    // A muted group (allowlist of ra-b only) is unmuted.
    ok(post(
        http,
        "/channel/whitelist_add",
        &json!({"channel_id": "ra-g", "channel_type": 2, "uids": ["ra-b"]}).to_string(),
    ));
    assert_eq!(a.send_ok_reason("ra-g", 2, 3), ReasonCode::NOT_IN_WHITELIST);
    ok(post(http, "/channel/whitelist_remove_all", &body("ra-g")));
    assert_eq!(
        a.send_ok_reason("ra-g", 2, 4),
        ReasonCode::SUCCESS,
        "allowlist cleared"
    );
    // Every member goes; their conversations stay.
    assert!(conversation_ids(http, "ra-a").contains(&"ra-g".to_string()));
    ok(post(http, "/channel/subscriber_remove_all", &body("ra-g")));
    assert_eq!(
        a.send_ok_reason("ra-g", 2, 5),
        ReasonCode::SUBSCRIBER_NOT_EXIST
    );
    assert!(
        conversation_ids(http, "ra-a").contains(&"ra-g".to_string()),
        "conversations are kept"
    );
    for path in [
        "/channel/subscriber_remove_all",
        "/channel/blacklist_remove_all",
        "/channel/whitelist_remove_all",
    ] {
        bad(
            post(http, path, &json!({"channel_type": 2}).to_string()),
            path,
        );
        bad(
            post(http, path, &json!({"channel_id": "ra-g"}).to_string()),
            path,
        );
        bad(post(http, path, "{"), path);
    }
    bad(
        post(
            http,
            "/channel/subscriber_remove_all",
            &json!({"channel_id": "ra-a", "channel_type": 1}).to_string(),
        ),
        "person channel",
    );
}

#[test]
fn system_uids_cache_changes_this_node_only_until_restart() {
    let server = Server::start("");
    let http = server.addr("http");
    let listed = |http| ok(get(http, "/user/systemuids"));
    ok(post(
        http,
        "/user/systemuids_add",
        &json!({"uids": ["sc-stored"]}).to_string(),
    ));
    ok(post(
        http,
        "/user/systemuids_add_to_cache",
        &json!({"uids": ["sc-cached", "sc-other"]}).to_string(),
    ));
    // Every shard has it when the call returns (connections land on either shard).
    for _ in 0..6 {
        let l = listed(http);
        assert!(l.as_array().unwrap().contains(&json!("sc-cached")), "{l}");
    }
    ok(post(
        http,
        "/user/systemuids_remove_from_cache",
        &json!({"uids": ["sc-other"]}).to_string(),
    ));
    for _ in 0..6 {
        let l = listed(http);
        assert!(!l.as_array().unwrap().contains(&json!("sc-other")), "{l}");
    }
    assert_eq!(
        ok(post(
            http,
            "/user/systemuids_add_to_cache",
            &json!({"uids": []}).to_string()
        )),
        json!({"status": 200})
    );
    bad(post(http, "/user/systemuids_add_to_cache", "["), "bad JSON");
    // Nothing was stored: a restart brings back the stored list only.
    let dir = server.kill9();
    let server = Server::start_in(dir, "");
    let l = listed(server.addr("http"));
    assert_eq!(l, json!(["sc-stored"]));
}

/// The `/connz` id of `uid`'s connection.
fn conn_id_of(api: SocketAddr, uid: &str) -> i64 {
    let connz = ok(get(api, &format!("/connz?uid={uid}")));
    let rows = connz["connections"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{connz}");
    rows[0]["id"].as_i64().unwrap()
}

#[test]
fn conn_kick_and_remove() {
    let server = Server::start("");
    let (http, tcp, manager) = (
        server.addr("http"),
        server.addr("tcp"),
        server.addr("manager"),
    );
    let mut kicked = wk::WkClient::login(tcp, "ck-kicked", 4);
    let mut removed = wk::WkClient::login(tcp, "ck-removed", 4);
    let mut other = wk::WkClient::login(tcp, "ck-other", 4);
    let id = conn_id_of(http, "ck-kicked");
    // Another uid's connection id is not kicked.
    ok(post(
        http,
        "/conn/kick",
        &json!({"uid": "ck-other", "conn_id": id}).to_string(),
    ));
    ok(post(
        http,
        "/conn/kick",
        &json!({"uid": "ck-kicked", "conn_id": id + 256 * 1000}).to_string(),
    ));
    ok(post(
        http,
        "/conn/kick",
        &json!({"uid": "ck-kicked", "conn_id": id}).to_string(),
    ));
    match kicked.expect(|p| matches!(p, Packet::Disconnect(_))) {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::CONNECT_KICK);
            assert_eq!(d.reason.as_str(), "server kick", "the API kicked it");
        }
        p => panic!("{p:?}"),
    }
    assert!(
        kicked.is_closed(Duration::from_secs(10)),
        "closed after the DISCONNECT"
    );
    // remove, on the manager port: closed without a DISCONNECT.
    let id = conn_id_of(http, "ck-removed");
    ok(post(
        manager,
        "/conn/remove",
        &json!({"uid": "ck-removed", "conn_id": id}).to_string(),
    ));
    assert!(removed.is_closed(Duration::from_secs(10)));
    assert!(
        !removed
            .queued()
            .iter()
            .any(|p| matches!(p, Packet::Disconnect(_))),
        "{:?}",
        removed.queued()
    );
    // The others are untouched.
    other.ping();
    bad(
        post(
            http,
            "/conn/kick",
            &json!({"uid": "ck-other", "conn_id": 0}).to_string(),
        ),
        "conn_id 0",
    );
    bad(post(http, "/conn/remove", "x"), "bad JSON");
    bad(
        post(
            http,
            "/conn/kick",
            &json!({"uid": "ck-other", "conn_id": 5, "op_node_id": 999}).to_string(),
        ),
        "unknown node",
    );
}

#[test]
fn every_listed_route_is_dispatched_and_nothing_else() {
    let server = Server::start("");
    let http = server.addr("http");
    for route in jindou::api::router::ROUTES {
        let path = route
            .path
            .replace("{id}", "0")
            .replace("{channel_id}", "g")
            .replace("{channel_type}", "2");
        let r = match format!("{:?}", route.method).as_str() {
            "Get" => get(http, &path),
            _ => post(http, &path, "{}"),
        };
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            !(r.status == 404 && text.contains("no route")),
            "{:?} {path}: {} {text}",
            route.method,
            r.status
        );
    }
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/health"),
        ("GET", "/message/send"),
        ("GET", "/cluster/slots/1"),
    ] {
        let r = http_raw(
            http,
            format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").as_bytes(),
        );
        assert_eq!(r.status, 404, "{method} {path}");
    }
}

#[test]
fn tmpchannel_subscriber_set_names_who_a_temp_channel_reaches() {
    let server = Server::start("");
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    let mut t1 = wk::WkClient::login(tcp, "tc-1", 4);
    let mut t2 = wk::WkClient::login(tcp, "tc-2", 4);
    let send_tmp = |text: &str| {
        ok(post(
            http,
            "/message/send",
            &json!({"header": {"sync_once": 1}, "channel_id": "tc-room", "channel_type": 8,
                    "payload": b64(text)})
            .to_string(),
        ))
    };
    ok(post(
        http,
        "/tmpchannel/subscriber_set",
        &json!({"channel_id": "tc-room", "uids": ["tc-1"]}).to_string(),
    ));
    send_tmp("first");
    let got = t1.expect_recv();
    assert_eq!(got.payload, b"first");
    assert_eq!(got.recv.channel_type.0, 8);
    // Set again: the list is replaced.
    ok(post(
        http,
        "/tmpchannel/subscriber_set",
        &json!({"channel_id": "tc-room", "uids": ["tc-2"]}).to_string(),
    ));
    send_tmp("second");
    assert_eq!(t2.expect_recv().payload, b"second");
    for body in [
        json!({"uids": ["tc-1"]}),
        json!({"channel_id": "a@b", "uids": ["tc-1"]}),
        json!({"channel_id": "tc-room", "uids": []}),
        json!({"channel_id": "tc-room", "uids": [" "]}),
    ] {
        bad(
            post(http, "/tmpchannel/subscriber_set", &body.to_string()),
            &body.to_string(),
        );
    }
    bad(post(http, "/tmpchannel/subscriber_set", "{"), "bad JSON");
}

#[test]
fn tags_describe_a_channels_members_by_node() {
    let server = Server::start("cluster: {nodeId: 42}\n");
    let (http, manager) = (server.addr("http"), server.addr("manager"));
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "tg-g", "channel_type": 2, "subscribers": ["tg-a", "tg-b"]})
            .to_string(),
    ));
    ok(post(
        http,
        "/channel",
        &json!({"channel_id": "tg-h", "channel_type": 2, "subscribers": ["tg-c"]}).to_string(),
    ));
    let t = ok(get(http, "/tag?channel_id=tg-g&channel_type=2"));
    assert_eq!(t["key"], "2:tg-g", "{t}");
    assert_eq!(t["channel_id"], "tg-g");
    assert_eq!(t["nodes"].as_array().unwrap().len(), 1, "one node: {t}");
    assert_eq!(t["nodes"][0]["leader_id"], 42);
    let mut uids: Vec<&str> = t["nodes"][0]["uids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    uids.sort();
    assert_eq!(uids, ["tg-a", "tg-b"]);
    assert!(!t["nodes"][0]["slot_ids"].as_array().unwrap().is_empty());
    // By key, on the manager port too.
    assert_eq!(ok(get(manager, "/tag?tag_key=2:tg-g"))["nodes"], t["nodes"]);
    bad(
        get(http, "/tag?channel_id=tg-none&channel_type=2"),
        "unknown channel",
    );
    bad(get(http, "/tag?tag_key=nonsense"), "bad key");
    bad(get(http, "/tag"), "nothing named");
    // /tags: every channel with members, or one.
    let all = ok(get(http, "/tags"));
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"2:tg-g") && keys.contains(&"2:tg-h"),
        "{all}"
    );
    let one = ok(get(http, "/tags?channel_id=tg-h&channel_type=2"));
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["nodes"][0]["uid_count"], 1);
    assert_eq!(one[0]["nodes"][0]["uids"], json!(["tg-c"]));
    assert_eq!(
        ok(get(http, "/tags?node_id=7")),
        json!([]),
        "no members on node 7"
    );
    assert_eq!(
        ok(get(http, "/tags?node_id=42")).as_array().unwrap().len(),
        keys.len()
    );
    // Nothing cached to remove.
    assert_eq!(
        ok(post(
            http,
            "/tag/remove",
            &json!({"tag_key": "2:tg-g"}).to_string()
        )),
        json!({"status": 200})
    );
    bad(post(http, "/tag/remove", "["), "bad JSON");
}

#[test]
fn update_plugin_no_is_stored_and_survives_a_kill() {
    let server = Server::start("");
    let http = server.addr("http");
    let r = post(
        http,
        "/user/update_plugin_no",
        &json!({"uid": "pl-u", "plugin_no": "ai.bot"}).to_string(),
    );
    assert_eq!(ok(r), json!({"status": 200}));
    let bound = |http| ok(get(http, "/user/plugin_no?uid=pl-u"));
    assert_eq!(bound(http), json!({"uid": "pl-u", "plugin_no": "ai.bot"}));
    assert_eq!(
        ok(get(http, "/user/plugin_no?uid=pl-nobody")),
        json!({"uid": "pl-nobody", "plugin_no": ""})
    );
    bad(get(http, "/user/plugin_no"), "no uid");
    // No validation (as in WuKongIM), but the body must be that object.
    assert_eq!(
        ok(post(http, "/user/update_plugin_no", "{}")),
        json!({"status": 200})
    );
    bad(post(http, "/user/update_plugin_no", "[1]"), "not an object");
    bad(
        post(
            http,
            "/user/update_plugin_no",
            &json!({"uid": 5}).to_string(),
        ),
        "uid not a string",
    );
    // Acknowledged means durable: the binding is back after kill -9.
    let server = Server::start_in(server.kill9(), "");
    assert_eq!(
        bound(server.addr("http")),
        json!({"uid": "pl-u", "plugin_no": "ai.bot"})
    );
}

/// `storage.retentionSize` is applied by the running server: once the log holds more than
/// the limit in sealed segments, the oldest go and their messages are no longer readable
/// (the history starts later), while the newest stay.
#[test]
fn retention_deletes_the_oldest_segments() {
    let server = Server::start("shards: 1\nstorage: {segmentSize: 1MiB, retentionSize: 2MiB}\n");
    let http = server.addr("http");
    let text = "x".repeat(1000);
    let mut last = 0;
    for _ in 0..3500 {
        last = send(http, "ret-u", "ret-g", 2, &text)["message_seq"]
            .as_u64()
            .unwrap();
    }
    let first_seq = || {
        let page = ok(post(
            http,
            "/channel/messagesync",
            &json!({"login_uid": "ret-u", "channel_id": "ret-g", "channel_type": 2,
                    "start_message_seq": 1, "limit": 1, "pull_mode": 1})
            .to_string(),
        ));
        page["messages"][0]["message_seq"].as_u64().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_seq() <= 1 {
        assert!(
            Instant::now() < deadline,
            "nothing was deleted by retention"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let first = first_seq();
    assert!(
        first > 1 && first <= last,
        "history starts at {first} of {last}"
    );
}
