//! The REST API over real HTTP against the real binary: success shapes, validation errors,
//! authentication, and the cross-checks the spec implies.

mod common;
use common::*;
use serde_json::{json, Value};

fn send(http: std::net::SocketAddr, from: &str, to: &str, ty: u8, text: &str) -> Value {
    let r = post(
        http,
        "/message/send",
        &json!({"header": {"red_dot": 1}, "from_uid": from, "channel_id": to, "channel_type": ty, "payload": b64(text)})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[test]
fn openapi_document_matches_the_router() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml")).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).expect("openapi.yaml parses");
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().unwrap() {
            let access = op["x-jindou-access"].as_str().unwrap_or("?").to_string();
            documented.push((method.to_uppercase(), path.clone(), access));
        }
    }
    let mut routed: Vec<_> = jindou::api::router::ROUTES
        .iter()
        .map(|r| {
            (
                format!("{:?}", r.method).to_uppercase(),
                r.path.to_string(),
                format!("{:?}", r.access).to_lowercase(),
            )
        })
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(
        documented, routed,
        "docs/openapi.yaml and ROUTES (the dispatch table) differ"
    );
    // Every POST documents a real request schema: properties (through its $ref, allOf) or
    // an array, never a bare {type: object}.
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                doc["components"]["schemas"][name].clone()
            }
            None => s.clone(),
        }
    };
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(op) = ops.get("post") else { continue };
        let schema = resolve(&op["requestBody"]["content"]["application/json"]["schema"]);
        let real = schema["properties"]
            .as_object()
            .is_some_and(|p| !p.is_empty())
            || schema["type"] == "array"
            || schema["allOf"]
                .as_array()
                .is_some_and(|all| all.iter().all(|s| resolve(s)["properties"].is_object()));
        assert!(real, "POST {path}: request schema {schema}");
    }
}

#[test]
fn send_and_sync_person_messages_with_conversations() {
    let server = Server::start("");
    let http = server.addr("http");
    let first = send(http, "alice", "bob", 1, "one");
    assert_eq!(first["status"], 200);
    assert_eq!(first["data"]["message_seq"], 1);
    assert!(first["data"]["message_id"].as_i64().unwrap() > 0);
    assert_eq!(first["data"]["client_msg_no"].as_str().unwrap().len(), 33);
    send(http, "alice", "bob", 1, "two");
    send(http, "bob", "alice", 1, "three");
    let sync = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "bob", "channel_id": "alice", "channel_type": 1, "limit": 10})
            .to_string(),
    )
    .json();
    let msgs = sync["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(sync["more"], 0);
    let seqs: Vec<u64> = msgs
        .iter()
        .map(|m| m["message_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(msgs[0]["payload"], b64("one"));
    assert_eq!(msgs[0]["from_uid"], "alice");
    assert_eq!(
        msgs[0]["channel_id"], "bob",
        "the peer as seen from the sender"
    );
    assert_eq!(msgs[2]["channel_id"], "alice");
    assert_eq!(msgs[0]["header"]["red_dot"], 1);
    // Down from seq 3, two messages: seqs 2 and 3, more=1.
    let page = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "bob", "channel_id": "alice", "channel_type": 1, "start_message_seq": 3, "limit": 2, "pull_mode": 0}).to_string(),
    )
    .json();
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    assert_eq!(page["more"], 1);

    // Conversations: alice sees bob's newest message (unread 1), bob sent the newest (unread 0).
    let conv = |uid: &str| {
        post(
            http,
            "/conversation/sync",
            &json!({"uid": uid, "msg_count": 5}).to_string(),
        )
        .json()
    };
    let a = conv("alice");
    assert_eq!(a.as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a[0]["channel_id"], "bob");
    assert_eq!(a[0]["channel_type"], 1);
    assert_eq!(a[0]["last_msg_seq"], 3);
    assert_eq!(a[0]["recents"][0]["message_seq"], 3, "recents newest first");
    let b = conv("bob");
    assert_eq!(b[0]["channel_id"], "alice");
    assert_eq!(b[0]["unread"], 0, "bob sent the newest");
    assert_eq!(b[0]["last_msg_seq"], 3);
    assert_eq!(
        b[0]["readed_to_msg_seq"], 3,
        "a sender has read up to their message"
    );
    // alice has not read bob's message; she has read her own (seqs 1, 2).
    assert_eq!(a[0]["unread"], 1, "{a}");
    assert_eq!(a[0]["readed_to_msg_seq"], 2, "{a}");
    let r = post(
        http,
        "/conversations/clearUnread",
        &json!({"uid": "alice", "channel_id": "bob", "channel_type": 1}).to_string(),
    );
    assert_eq!(r.json(), json!({"status": 200}));
    assert_eq!(conv("alice")[0]["unread"], 0);
    let r = post(
        http,
        "/conversations/setUnread",
        &json!({"uid": "alice", "channel_id": "bob", "channel_type": 1, "unread": 2}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(conv("alice")[0]["unread"], 2);
    assert_eq!(conv("alice")[0]["readed_to_msg_seq"], 1);
    let ch = post(
        http,
        "/conversation/channels",
        &json!({"uid": "alice"}).to_string(),
    )
    .json();
    let fake = if crc32fast::hash(b"alice") > crc32fast::hash(b"bob") {
        "alice@bob"
    } else {
        "bob@alice"
    };
    assert_eq!(ch, json!([{"channel_id": fake, "channel_type": 1}]));
    let r = post(
        http,
        "/conversations/delete",
        &json!({"uid": "alice", "channel_id": "bob", "channel_type": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        conv("alice"),
        json!([]),
        "deleted until newer messages arrive"
    );
    send(http, "bob", "alice", 1, "four");
    assert_eq!(conv("alice")[0]["last_msg_seq"], 4);

    let fetched = post(
        http,
        "/messages",
        &json!({"login_uid": "alice", "channel_id": "bob", "channel_type": 1, "message_seqs": [2, 99], "message_ids": [first["data"]["message_id"]]}).to_string(),
    )
    .json();
    let seqs: Vec<u64> = fetched["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 1]);
    let max = get(
        http,
        &format!("/channel/max_message_seq?channel_id={fake}&channel_type=1"),
    )
    .json();
    assert_eq!(max, json!({"message_seq": 4}));
}

#[test]
fn groups_members_lists_and_refusals() {
    let server = Server::start("");
    let http = server.addr("http");
    let ok = json!({"status": 200});
    let r = post(
        http,
        "/channel",
        &json!({"channel_id": "g1", "channel_type": 2, "subscribers": ["a", "b"]}).to_string(),
    );
    assert_eq!(r.json(), ok);
    assert_eq!(send(http, "a", "g1", 2, "hi")["data"]["message_seq"], 1);
    // A REST send comes from the system device: membership is not checked (spec §4.1)...
    assert_eq!(send(http, "zed", "g1", 2, "x")["status"], 200);
    // ...but a banned channel refuses with the reason code.
    assert_eq!(
        post(
            http,
            "/channel/info",
            &json!({"channel_id": "g1", "channel_type": 2, "ban": 1}).to_string()
        )
        .json(),
        ok
    );
    let r = post(
        http,
        "/message/send",
        &json!({"from_uid": "a", "channel_id": "g1", "channel_type": 2, "payload": b64("x")})
            .to_string(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason_code"], 19);
    post(
        http,
        "/channel/info",
        &json!({"channel_id": "g1", "channel_type": 2}).to_string(),
    );
    for (path, body) in [
        (
            "/channel/subscriber_add",
            json!({"channel_id": "g1", "channel_type": 2, "subscribers": ["c"]}),
        ),
        (
            "/channel/subscriber_remove",
            json!({"channel_id": "g1", "channel_type": 2, "subscribers": ["b"]}),
        ),
        (
            "/channel/blacklist_add",
            json!({"channel_id": "g1", "channel_type": 2, "uids": ["c"]}),
        ),
        (
            "/channel/blacklist_remove",
            json!({"channel_id": "g1", "channel_type": 2, "uids": ["c"]}),
        ),
        (
            "/channel/blacklist_set",
            json!({"channel_id": "g1", "channel_type": 2, "uids": []}),
        ),
        (
            "/channel/whitelist_add",
            json!({"channel_id": "g1", "channel_type": 2, "uids": ["a", "c"]}),
        ),
        (
            "/channel/whitelist_remove",
            json!({"channel_id": "g1", "channel_type": 2, "uids": ["c"]}),
        ),
    ] {
        let r = post(http, path, &body.to_string());
        assert_eq!(r.json(), ok, "{path}");
    }
    let wl = get(http, "/channel/whitelist?channel_id=g1&channel_type=2").json();
    assert_eq!(wl, json!([{"id": 1, "uid": "a"}]));
    assert_eq!(
        post(
            http,
            "/channel/whitelist_set",
            &json!({"channel_id": "g1", "channel_type": 2, "uids": []}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(
        get(http, "/channel/whitelist?channel_id=g1&channel_type=2").json(),
        json!([])
    );
    assert_eq!(
        post(
            http,
            "/channel/delete",
            &json!({"channel_id": "g1", "channel_type": 2}).to_string()
        )
        .json(),
        ok
    );
    // Validation errors: 400 with the envelope.
    for (path, body) in [
        ("/channel", json!({"channel_id": "", "channel_type": 2})),
        ("/channel", json!({"channel_id": "a@b", "channel_type": 2})),
        ("/channel", json!({"channel_id": "g", "channel_type": 0})),
        (
            "/channel",
            json!({"channel_id": "u", "channel_type": 1, "subscribers": ["x"]}),
        ),
        (
            "/channel/subscriber_add",
            json!({"channel_id": "g", "channel_type": 2, "subscribers": []}),
        ),
        (
            "/channel/subscriber_add",
            json!({"channel_id": "g", "channel_type": 2, "subscribers": ["x"], "temp_subscriber": 1}),
        ),
        (
            "/channel/blacklist_add",
            json!({"channel_id": "g", "channel_type": 2, "uids": []}),
        ),
        (
            "/channel/delete",
            json!({"channel_id": "u", "channel_type": 1}),
        ),
        (
            "/message/send",
            json!({"channel_id": "g", "channel_type": 2, "payload": ""}),
        ),
        (
            "/message/send",
            json!({"channel_id": "g", "channel_type": 2, "payload": "%%%"}),
        ),
        (
            "/message/send",
            json!({"channel_type": 2, "payload": b64("x")}),
        ),
        (
            "/message/send",
            json!({"subscribers": ["a"], "payload": b64("x")}),
        ),
        (
            "/message/send",
            json!({"channel_id": "g", "subscribers": ["a"], "payload": b64("x"), "header": {"sync_once": 1}}),
        ),
        (
            "/message/send",
            json!({"channel_id": "g", "channel_type": "2", "payload": b64("x")}),
        ),
        ("/user/token", json!({"uid": "", "token": "t"})),
        ("/user/token", json!({"uid": "a#b", "token": "t"})),
        ("/channel/messagesync", json!({"channel_id": "x"})),
        ("/messages", json!({"channel_id": ""})),
        ("/conversations/clearUnread", json!({"uid": "a"})),
        ("/message/sync", json!({"uid": "a", "limit": -1})),
        ("/message/syncack", json!({"uid": "a"})),
        ("/manager/login", json!({"username": "", "password": ""})),
    ] {
        let r = post(http, path, &body.to_string());
        assert_eq!(r.status, 400, "{path} {body}");
        assert_eq!(r.json()["status"], 400, "{path}");
        assert!(r.json()["msg"].is_string(), "{path}");
    }
    let r = post(http, "/channel", "{not json");
    assert_eq!(r.status, 400);
    let r = post(http, "/channel", "");
    assert_eq!(r.status, 400);
}

#[test]
fn person_blacklist_system_uids_tokens_and_routes() {
    let server = Server::start("external: {ip: 203.0.113.7}\n");
    let http = server.addr("http");
    let ok = json!({"status": 200});
    // bob blacklists carol: carol's client sends would be refused (checked over wkproto in the
    // gateway tests); the list is readable and system uids are listed.
    assert_eq!(
        post(
            http,
            "/channel/blacklist_add",
            &json!({"channel_id": "bob", "channel_type": 1, "uids": ["carol"]}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(
        post(
            http,
            "/user/systemuids_add",
            &json!({"uids": ["notice"]}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(get(http, "/user/systemuids").json(), json!(["notice"]));
    assert_eq!(
        post(
            http,
            "/user/systemuids_remove",
            &json!({"uids": ["notice"]}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(get(http, "/user/systemuids").json(), json!([]));
    assert_eq!(
        post(
            http,
            "/user/token",
            &json!({"uid": "bob", "token": "t1", "device_flag": 1, "device_level": 1}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(
        post(http, "/user/onlinestatus", "[\"bob\"]").json(),
        json!([])
    );
    assert_eq!(
        post(
            http,
            "/user/device_quit",
            &json!({"uid": "bob", "device_flag": -1}).to_string()
        )
        .json(),
        ok
    );
    // A banned person channel refuses token registration with reason 19.
    assert_eq!(
        post(
            http,
            "/channel",
            &json!({"channel_id": "mallory", "channel_type": 1, "ban": 1}).to_string()
        )
        .json(),
        ok
    );
    assert_eq!(
        post(
            http,
            "/user/token",
            &json!({"uid": "mallory", "token": "t"}).to_string()
        )
        .json(),
        json!({"status": 19})
    );
    let route = get(http, "/route").json();
    // The ports the listeners got (the config asked for port 0).
    assert_eq!(
        route["tcp_addr"],
        format!("203.0.113.7:{}", server.addr("tcp").port())
    );
    assert_eq!(
        route["ws_addr"],
        format!("ws://203.0.113.7:{}", server.addr("ws").port())
    );
    assert_eq!(get(http, "/route?intranet=1").json()["ws_addr"], "");
    let batch = post(http, "/route/batch", "[\"a\",\"b\"]").json();
    assert_eq!(batch[0]["uids"], json!(["a", "b"]));
    let r = post(
        http,
        "/message/sendbatch",
        &json!({"from_uid": "ops", "subscribers": ["u1", "u2", "x@y"], "payload": b64("hey")})
            .to_string(),
    );
    assert_eq!(
        r.json(),
        json!({"fail_uids": ["x@y"], "reason": ["uid has a reserved character"]})
    );
}

#[test]
fn cmd_messages_sync_once_and_ack() {
    let server = Server::start("");
    let http = server.addr("http");
    for i in 0..3 {
        let r = post(
            http,
            "/message/send",
            &json!({"header": {"sync_once": 1}, "from_uid": "sys", "channel_id": "dave", "channel_type": 1, "payload": b64(format!("cmd{i}"))}).to_string(),
        );
        assert_eq!(r.status, 200);
    }
    let synced = post(
        http,
        "/message/sync",
        &json!({"uid": "dave", "limit": 10}).to_string(),
    )
    .json();
    let payloads: Vec<&str> = synced
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"].as_str().unwrap())
        .collect();
    assert_eq!(payloads, vec![b64("cmd0"), b64("cmd1"), b64("cmd2")]);
    assert_eq!(synced[0]["header"]["sync_once"], 1);
    // CMD messages never show up as conversations.
    assert_eq!(
        post(
            http,
            "/conversation/sync",
            &json!({"uid": "dave", "msg_count": 5}).to_string()
        )
        .json(),
        json!([])
    );
    assert_eq!(
        post(
            http,
            "/message/syncack",
            &json!({"uid": "dave", "last_message_seq": 3}).to_string()
        )
        .json(),
        json!({"status": 200})
    );
    assert_eq!(
        post(
            http,
            "/message/sync",
            &json!({"uid": "dave", "limit": 10}).to_string()
        )
        .json(),
        json!([])
    );
}

#[test]
fn streams_open_chunk_close_and_sync_returns_them() {
    let server = Server::start("");
    let http = server.addr("http");
    let open = post(http, "/stream/open", &json!({"from_uid": "bot", "channel_id": "eve", "channel_type": 1, "payload": b64("start")}).to_string());
    assert_eq!(open.status, 200);
    let stream_no = open.json()["stream_no"].as_str().unwrap().to_string();
    assert_eq!(stream_no.len(), 32);
    for part in ["Hel", "lo"] {
        let r = post(http, "/message/send", &json!({"from_uid": "bot", "channel_id": "eve", "channel_type": 1, "stream_no": stream_no, "payload": b64(part)}).to_string());
        assert_eq!(r.status, 200);
    }
    let r = post(http, "/stream/chunk", &json!({"from_uid": "bot", "channel_id": "eve", "channel_type": 1, "stream_no": stream_no, "payload": b64("!"), "end": 1}).to_string());
    assert_eq!(r.status, 200);
    assert_eq!(post(http, "/stream/close", &json!({"from_uid": "bot", "channel_id": "eve", "channel_type": 1, "stream_no": stream_no}).to_string()).status, 200);
    let sync = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "eve", "channel_id": "bot", "channel_type": 1, "limit": 10})
            .to_string(),
    )
    .json();
    let msgs = sync["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "chunks take no seq in the channel: {sync}");
    assert_eq!(msgs[0]["stream_no"], stream_no);
    let chunks: Vec<&str> = msgs[0]["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["payload"].as_str().unwrap())
        .collect();
    assert_eq!(
        chunks,
        vec![
            b64("Hel").as_str(),
            b64("lo").as_str(),
            b64("!").as_str(),
            ""
        ]
    );
}

#[test]
fn manager_token_and_jwt_permissions_are_enforced() {
    let server = Server::start(
        "managerToken: s3cr3t\njwt: {secret: testsecret}\nauth: {users: [\"admin:pw:*\", \"viewer:pw:[*:r]\"]}\n",
    );
    let http = server.addr("http");
    let token_send = |headers: &str| {
        post_with(
            http,
            "/user/systemuids_add",
            &json!({"uids": ["x"]}).to_string(),
            headers,
        )
        .status
    };
    assert_eq!(get(http, "/health").status, 200, "health is open");
    assert_eq!(token_send(""), 401, "no token");
    assert_eq!(token_send("token: wrong\r\n"), 401);
    assert_eq!(token_send("token: s3cr3t\r\n"), 200);
    assert_eq!(
        token_send("Authorization: Bearer s3cr3t\r\n"),
        401,
        "the API port takes the token in the token header only"
    );
    assert_eq!(
        post(http, "/user/systemuids_remove", "{\"uids\":[]}").status,
        401
    );
    let login = |user: &str, pw: &str, headers: &str| {
        post_with(
            http,
            "/manager/login",
            &json!({"username": user, "password": pw}).to_string(),
            headers,
        )
    };
    let tok = "token: s3cr3t\r\n";
    assert_eq!(
        login("viewer", "pw", "").status,
        401,
        "login needs the token"
    );
    assert_eq!(login("viewer", "nope", tok).status, 400);
    let viewer = login("viewer", "pw", tok).json();
    assert_eq!(viewer["username"], "viewer");
    assert_eq!(viewer["permissions"], "*:r");
    assert!(viewer["exp"].as_u64().unwrap() > 0);
    let vjwt = format!(
        "Authorization: Bearer {}\r\n",
        viewer["token"].as_str().unwrap()
    );
    let read = |headers: &str| {
        http_raw(
            http,
            format!(
                "GET /user/systemuids HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n"
            )
            .as_bytes(),
        )
        .status
    };
    assert_eq!(read(&vjwt), 401, "a JWT never replaces the token");
    assert_eq!(
        read(&format!("{tok}{vjwt}")),
        200,
        "a read-only user may read"
    );
    assert_eq!(token_send(&vjwt), 401);
    assert_eq!(
        token_send(&format!("{tok}{vjwt}")),
        403,
        "a read-only user may not write: a JWT narrows the token"
    );
    let admin = login("admin", "pw", tok).json();
    let ajwt = format!(
        "Authorization: Bearer {}\r\n",
        admin["token"].as_str().unwrap()
    );
    assert_eq!(token_send(&ajwt), 401);
    assert_eq!(token_send(&format!("{tok}{ajwt}")), 200);
    assert_eq!(
        token_send(&format!("{tok}Authorization: Bearer a.b.c\r\n")),
        401,
        "forged"
    );
    let mut forged = admin["token"].as_str().unwrap().to_string();
    forged.pop();
    forged.push('x');
    assert_eq!(
        token_send(&format!("{tok}Authorization: Bearer {forged}\r\n")),
        401,
        "bad signature"
    );
}

/// A user's conversations as `(channel, last_msg_seq, unread, readed_to_msg_seq)`, sorted.
fn conversation_rows(http: std::net::SocketAddr, uid: &str) -> Vec<(String, u64, u64, u64)> {
    let v = post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    )
    .json();
    let mut rows: Vec<(String, u64, u64, u64)> = v
        .as_array()
        .unwrap_or_else(|| panic!("{uid}: {v}"))
        .iter()
        .map(|c| {
            (
                c["channel_id"].as_str().unwrap().to_string(),
                c["last_msg_seq"].as_u64().unwrap(),
                c["unread"].as_u64().unwrap(),
                c["readed_to_msg_seq"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn conversations_and_lists_survive_kill9() {
    let server = Server::start("");
    let http = server.addr("http");
    post(
        http,
        "/channel",
        &json!({"channel_id": "team", "channel_type": 2, "subscribers": ["ann", "ben", "cat"]})
            .to_string(),
    );
    for i in 0..3 {
        send(http, "ann", "team", 2, &format!("g{i}"));
    }
    send(http, "ann", "ben", 1, "dm");
    // ben reads the team up to seq 3.
    post(
        http,
        "/conversations/clearUnread",
        &json!({"uid": "ben", "channel_id": "team", "channel_type": 2}).to_string(),
    );
    send(http, "ann", "team", 2, "after-read");
    // cat both sends and receives: a sender has read up to their own message.
    send(http, "cat", "team", 2, "cat speaks");
    send(http, "ann", "team", 2, "g5");
    // So does ben in the person chat.
    send(http, "ben", "ann", 1, "re");
    send(http, "ann", "ben", 1, "dm2");
    post(
        http,
        "/channel/blacklist_add",
        &json!({"channel_id": "ben", "channel_type": 1, "uids": ["troll"]}).to_string(),
    );
    // (channel, last_msg_seq, unread, readed_to_msg_seq): exact, for the pure sender (ann: she
    // sent the newest everywhere), a reader (ben: read position 3 in team, his own message
    // at 2 in the chat) and a member who wrote once (cat: own message at 5).
    let want = |uid: &str| -> Vec<(String, u64, u64, u64)> {
        let rows: &[(&str, u64, u64, u64)] = match uid {
            "ann" => &[("ben", 3, 0, 3), ("team", 6, 0, 6)],
            "ben" => &[("ann", 3, 1, 2), ("team", 6, 3, 3)],
            "cat" => &[("team", 6, 1, 5)],
            _ => unreachable!(),
        };
        rows.iter()
            .map(|(c, l, u, r)| (c.to_string(), *l, *u, *r))
            .collect()
    };
    for uid in ["ann", "ben", "cat"] {
        assert_eq!(
            conversation_rows(http, uid),
            want(uid),
            "{uid} before the kill"
        );
    }
    let dir = server.kill9();
    let server = Server::start_in(dir, "");
    let http = server.addr("http");
    for uid in ["ann", "ben", "cat"] {
        assert_eq!(
            conversation_rows(http, uid),
            want(uid),
            "{uid} after kill -9"
        );
    }
    let wl = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "ben", "channel_id": "team", "channel_type": 2, "limit": 10})
            .to_string(),
    )
    .json();
    assert_eq!(wl["messages"].as_array().unwrap().len(), 6);
    // New sends continue the sequence.
    assert_eq!(
        send(http, "ann", "team", 2, "next")["data"]["message_seq"],
        7
    );
}
