//! The business datasource (issue 7, spec http-api §12) against the real binary and a local
//! datasource HTTP server: v2's `{"cmd":…}` protocol, the seed's GET protocol, caching, and
//! degradation when the datasource is down or hangs.

mod common;
use common::http::Request;
use common::wk::WkClient;
use common::*;
use jindou::proto::ReasonCode;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A datasource: the shared fake HTTP server answering JSON through `handler` (the method and
/// target, e.g. `POST /ds`, and the JSON body).
fn datasource(
    handler: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static,
) -> FakeReceiver {
    FakeReceiver::start_json(move |req: &Request| {
        handler(&format!("{} {}", req.method, req.target), &req.json())
    })
}

fn ds_url(ds: &FakeReceiver) -> String {
    ds.url_of("/ds")
}

/// The `data` of every call of `cmd` (v2's `{"cmd":…,"data":…}` protocol), in order.
fn calls(ds: &FakeReceiver, cmd: &str) -> Vec<Value> {
    ds.hits()
        .iter()
        .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap_or(Value::Null))
        .filter(|b| b["cmd"] == cmd)
        .map(|b| b["data"].clone())
        .collect()
}

/// `METHOD target` of every request, in order.
fn targets(ds: &FakeReceiver) -> Vec<String> {
    ds.hits()
        .iter()
        .map(|h| format!("{} {}", h.method, h.target))
        .collect()
}

/// REST send to a group; returns the HTTP status.
fn send_group(http: SocketAddr, from: &str, channel: &str) -> u16 {
    post(
        http,
        "/message/send",
        &json!({"from_uid": from, "channel_id": channel, "channel_type": 2, "payload": "aGk="})
            .to_string(),
    )
    .status
}

/// The channels in `uid`'s conversation list.
fn conversations(http: SocketAddr, uid: &str) -> Vec<String> {
    let r = post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    r.json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["channel_id"].as_str().map(str::to_string))
        .collect()
}

fn v2_datasource() -> FakeReceiver {
    datasource(|_, body| {
        let channel = body["data"]["channel_id"].as_str().unwrap_or("");
        match body["cmd"].as_str().unwrap_or("") {
            "getSystemUIDs" => (200, json!(["ds-admin", "ds-notice"])),
            "getSubscribers" if channel == "g-ds" || channel == "g-ban" => {
                (200, json!(["ds-u1", "ds-u2", "ds-u3"]))
            }
            "getSubscribers" => (200, json!([])),
            "getBlacklist" if channel == "g-ds" => (200, json!(["ds-u3"])),
            "getBlacklist" | "getWhitelist" => (200, json!([])),
            "getChannelInfo" if channel == "g-ban" => {
                (200, json!({"large": 0, "ban": 1, "disband": 0}))
            }
            "getChannelInfo" => (200, json!({"large": 0, "ban": 0, "disband": 0})),
            _ => (404, json!({})),
        }
    })
}

#[test]
fn v2_cmd_protocol_supplies_subscribers_info_lists_and_system_uids() {
    let ds = v2_datasource();
    let server = Server::start(&format!(
        "datasource:\n  addr: \"{}\"\n  channelInfoOn: true\n  cacheTtl: 5m\n",
        ds_url(&ds)
    ));
    let http = server.addr("http");

    // getSystemUIDs at start-up, merged into the global tables of every shard.
    wait_secs("system uids from the datasource", 10, || {
        (0..4).all(|_| {
            let v = get(http, "/user/systemuids").json();
            let uids: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            uids.contains(&"ds-admin") && uids.contains(&"ds-notice")
        })
    });
    assert_eq!(calls(&ds, "getSystemUIDs"), vec![json!({})]);

    // A group known only to the datasource: its subscribers receive the message.
    assert_eq!(send_group(http, "ds-u1", "g-ds"), 200);
    wait_secs("the receivers' conversations", 10, || {
        conversations(http, "ds-u2").contains(&"g-ds".to_string())
    });
    let want = json!({"channel_id": "g-ds", "channel_type": 2});
    assert_eq!(calls(&ds, "getSubscribers"), vec![want.clone()]);
    assert_eq!(calls(&ds, "getChannelInfo"), vec![want.clone()]);
    assert_eq!(calls(&ds, "getBlacklist"), vec![want.clone()]);
    assert_eq!(calls(&ds, "getWhitelist"), vec![want]);

    // Cached: the next sends ask nothing.
    for _ in 0..3 {
        assert_eq!(send_group(http, "ds-u1", "g-ds"), 200);
    }
    assert_eq!(calls(&ds, "getSubscribers").len(), 1, "answers are cached");

    // Channel info from the datasource is enforced: a banned channel refuses sends.
    assert_ne!(
        send_group(http, "ds-u1", "g-ban"),
        200,
        "ban=1 from getChannelInfo"
    );
    assert!(!conversations(http, "ds-u2").contains(&"g-ban".to_string()));
}

/// Connects a plaintext wkproto client, sends one message to group `channel`, returns the
/// SENDACK reason.
fn client_send(tcp: SocketAddr, uid: &str, channel: &str) -> ReasonCode {
    let mut c = WkClient::login_plain(tcp, uid, "d");
    c.send(channel, 2, 7, &format!("{uid}-{channel}"), b"hi", 0);
    c.expect_sendack(7).reason_code
}

#[test]
fn client_sends_obey_the_datasource_members_and_blacklist() {
    let ds = v2_datasource();
    let server = Server::start(&format!(
        "encryption: false\ndatasource:\n  addr: \"{}\"\n",
        ds_url(&ds)
    ));
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    assert_eq!(client_send(tcp, "ds-u1", "g-ds"), ReasonCode::SUCCESS);
    assert_eq!(
        client_send(tcp, "ds-u3", "g-ds"),
        ReasonCode::IN_BLACKLIST,
        "getBlacklist"
    );
    assert_eq!(
        client_send(tcp, "stranger", "g-ds"),
        ReasonCode::SUBSCRIBER_NOT_EXIST,
        "not in getSubscribers"
    );
    wait_secs("a member's conversation", 10, || {
        conversations(http, "ds-u2").contains(&"g-ds".to_string())
    });
    assert_eq!(
        calls(&ds, "getChannelInfo").len(),
        0,
        "channelInfoOn is off"
    );
    assert_eq!(calls(&ds, "getSubscribers").len(), 1, "cached");
}

#[test]
fn a_down_or_hung_datasource_degrades_to_local_data() {
    // Down: nothing listens on the address.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = Server::start(&format!("datasource:\n  addr: \"http://{port}/ds\"\n"));
    let http = server.addr("http");
    let t0 = Instant::now();
    assert_eq!(
        send_group(http, "x", "g-down"),
        200,
        "local data: the send goes on"
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    drop(server);

    // Hung: the datasource accepts and never answers; the send still completes in time.
    let ds = v2_datasource();
    ds.hang(true);
    let server = Server::start(&format!("datasource:\n  addr: \"{}\"\n", ds_url(&ds)));
    let http = server.addr("http");
    let t0 = Instant::now();
    assert_eq!(send_group(http, "x", "g-hung"), 200);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "send waited {took:?}");
    // The failure is remembered briefly: the next send does not wait again.
    let t1 = Instant::now();
    assert_eq!(send_group(http, "x", "g-hung"), 200);
    assert!(t1.elapsed() < Duration::from_secs(1), "{:?}", t1.elapsed());
    ds.hang(false);
}

#[test]
fn seed_rest_protocol_gets_channel_info() {
    let ds = datasource(|target, _| {
        if target.starts_with("GET /ds/channel/info?") {
            (
                200,
                json!({"subscribers": ["rest-u1", "rest-u2"], "ban": 0}),
            )
        } else {
            (404, json!({}))
        }
    });
    let server = Server::start(&format!(
        "datasource:\n  addr: \"{}\"\n  protocol: rest\n  channelInfoOn: true\n",
        ds_url(&ds)
    ));
    let http = server.addr("http");
    assert_eq!(send_group(http, "rest-u1", "g-rest"), 200);
    wait_secs("the member's conversation", 10, || {
        conversations(http, "rest-u2").contains(&"g-rest".to_string())
    });
    let targets = targets(&ds);
    assert!(
        targets.contains(&"GET /ds/channel/info?channel_id=g-rest&channel_type=2".to_string()),
        "{targets:?}"
    );
}

#[test]
fn user_info_on_logs_users_in_with_the_backends_token_and_refuses_banned_ones() {
    let ds = datasource(|_, body| match body["cmd"].as_str().unwrap_or("") {
        "getSystemUIDs" => (200, json!([])),
        "getUserInfo" => match body["data"]["uid"].as_str().unwrap_or("") {
            "ui-alice" => (200, json!({"token": "backend-secret", "device_level": 1})),
            "ui-mallory" => (200, json!({"token": "t", "ban": 1})),
            _ => (200, json!({})),
        },
        _ => (404, json!({})),
    });
    let server = Server::start(&format!(
        "tokenAuthOn: true\ndatasource:\n  addr: \"{}\"\n  userInfoOn: true\n  cacheTtl: 5m\n  timeout: 1500ms\n",
        ds_url(&ds)
    ));
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    // The backend's token logs alice in without any /user/token registration.
    let (_alice, ack) = WkClient::connect(tcp, "ui-alice", "backend-secret", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(
        calls(&ds, "getUserInfo"),
        vec![json!({"uid": "ui-alice"})],
        "asked once"
    );
    // A wrong token still fails; cached, so the backend is not asked again.
    let (_c, ack) = WkClient::connect(tcp, "ui-alice", "guess", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::AUTH_FAIL);
    assert_eq!(calls(&ds, "getUserInfo").len(), 1, "cached");
    // A registered token works as before.
    let r = post(
        http,
        "/user/token",
        &json!({"uid": "ui-bob", "token": "local", "device_flag": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    let (_bob, ack) = WkClient::connect(tcp, "ui-bob", "local", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    // A user the backend bans is refused with reason 19, whatever the token.
    let (_m, ack) = WkClient::connect(tcp, "ui-mallory", "t", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::BAN);
}

#[test]
fn user_info_waits_at_most_the_configured_timeout() {
    let ds = datasource(|_, body| match body["cmd"].as_str().unwrap_or("") {
        "getUserInfo" => (200, json!({"token": "late"})),
        _ => (200, json!([])),
    });
    ds.hang(true);
    let server = Server::start(&format!(
        "tokenAuthOn: false\ndatasource:\n  addr: \"{}\"\n  userInfoOn: true\n  timeout: 300ms\n",
        ds_url(&ds)
    ));
    let tcp = server.addr("tcp");
    let t0 = Instant::now();
    let (_c, ack) = WkClient::connect(tcp, "ui-slow", "", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "local data decides");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2000),
        "CONNECT waited {took:?} with datasource.timeout 300ms"
    );
    ds.hang(false);
}
